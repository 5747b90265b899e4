"""Visible checks of notebook 05 (optimizers)."""

from bnlab.checks._core import run_check
from bnlab.checks._named import names_mistakes

__all__ = [
    "check_update_parameters_with_gd",
    "check_update_parameters_with_momentum",
    "check_update_parameters_with_rmsprop",
    "check_update_parameters_with_adam",
]


@names_mistakes("update_parameters_with_gd")
def check_update_parameters_with_gd(update_parameters_with_gd):
    """Check update_parameters_with_gd(parameters, grads, learning_rate) -> parameters."""
    run_check("update_parameters_with_gd", update_parameters_with_gd, {"output": "parameters"})


@names_mistakes("update_parameters_with_momentum")
def check_update_parameters_with_momentum(update_parameters_with_momentum):
    """Check update_parameters_with_momentum(...) -> (parameters, v)."""
    labels = {"output[0]": "parameters", "output[1]": "v"}
    run_check("update_parameters_with_momentum", update_parameters_with_momentum, labels)


@names_mistakes("update_parameters_with_rmsprop")
def check_update_parameters_with_rmsprop(update_parameters_with_rmsprop):
    """Check update_parameters_with_rmsprop(...) -> (parameters, s)."""
    labels = {"output[0]": "parameters", "output[1]": "s"}
    run_check("update_parameters_with_rmsprop", update_parameters_with_rmsprop, labels)


@names_mistakes("update_parameters_with_adam")
def check_update_parameters_with_adam(update_parameters_with_adam):
    """Check update_parameters_with_adam(...) -> (parameters, v, s)."""
    labels = {"output[0]": "parameters", "output[1]": "v", "output[2]": "s"}
    run_check("update_parameters_with_adam", update_parameters_with_adam, labels)
