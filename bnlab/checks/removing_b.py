"""Visible checks of notebook 03 (removing b)."""

from bnlab.checks._core import CheckFailed, call_or_fail, run_check
from bnlab.checks._named import names_mistakes

__all__ = ["check_initialize_parameters"]


@names_mistakes("initialize_parameters")
def check_initialize_parameters(initialize_parameters):
    """Check initialize_parameters(layer_dims, seed) -> dict of W, gamma, beta and bL."""
    name = "initialize_parameters"
    output = call_or_fail(name, initialize_parameters, ([3, 2, 2],), "layer_dims=[3, 2, 2]")
    if not isinstance(output, dict):
        raise CheckFailed(
            f"{name} should return a dict of parameters; got {type(output).__name__}.", name
        )
    run_check(name, initialize_parameters, {"output": "parameters"})
