"""Visible checks of notebook 03 (removing b)."""

from bnlab.checks._core import CheckFailed, run_check

__all__ = ["check_initialize_parameters"]


def check_initialize_parameters(initialize_parameters):
    """Check initialize_parameters(layer_dims, seed) -> dict of W, gamma, beta and bL."""
    name = "initialize_parameters"
    try:
        output = initialize_parameters([3, 2, 2], seed=0)
    except NotImplementedError:
        raise CheckFailed(
            f"{name} is not implemented yet: replace `raise NotImplementedError()`."
        ) from None
    except Exception as error:
        raise CheckFailed(
            f"{name} raised {type(error).__name__}: {error}\n  on layer_dims=[3, 2, 2]."
        ) from error
    if not isinstance(output, dict):
        raise CheckFailed(
            f"{name} should return a dict of parameters; got {type(output).__name__}."
        )
    run_check(name, initialize_parameters, {"output": "parameters"})
