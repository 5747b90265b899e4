"""Visible checks of notebook 02 (backward BN)."""

from bnlab.checks._core import CheckFailed, call_or_fail, load_cases, run_check
from bnlab.checks._named import names_mistakes

__all__ = [
    "check_batchnorm_backward_staged",
    "check_batchnorm_backward",
    "check_linear_bn_activation_backward",
]

BN_LABELS = {"output[0]": "dZ", "output[1]": "dgamma", "output[2]": "dbeta"}
LAYER_LABELS = {
    "output[0]": "dA_prev",
    "output[1]": "dW",
    "output[2]": "dgamma",
    "output[3]": "dbeta",
}


def _returns_tuple(name, function, what, size):
    """Fail early, and plainly, unless `function` returns a tuple of `size` items."""
    case = load_cases(name)[0]
    output = call_or_fail(name, function, case["args"], case["label"], case.get("kwargs"))
    if not isinstance(output, (tuple, list)) or len(output) != size:
        raise CheckFailed(
            f"{name} should return a tuple {what}; got {type(output).__name__}.", name
        )


@names_mistakes("batchnorm_backward_staged")
def check_batchnorm_backward_staged(batchnorm_backward_staged):
    """Check batchnorm_backward_staged(dZ_tilde, cache) -> (dZ, dgamma, dbeta)."""
    name = "batchnorm_backward_staged"
    _returns_tuple(name, batchnorm_backward_staged, "(dZ, dgamma, dbeta)", 3)
    run_check(name, batchnorm_backward_staged, BN_LABELS)


@names_mistakes("batchnorm_backward")
def check_batchnorm_backward(batchnorm_backward):
    """Check batchnorm_backward(dZ_tilde, cache) -> (dZ, dgamma, dbeta)."""
    name = "batchnorm_backward"
    _returns_tuple(name, batchnorm_backward, "(dZ, dgamma, dbeta)", 3)
    run_check(name, batchnorm_backward, BN_LABELS)


@names_mistakes("linear_bn_activation_backward")
def check_linear_bn_activation_backward(linear_bn_activation_backward):
    """Check linear_bn_activation_backward(dA, cache, activation) -> (dA_prev, dW, dgamma, dbeta)."""
    name = "linear_bn_activation_backward"
    _returns_tuple(name, linear_bn_activation_backward, "(dA_prev, dW, dgamma, dbeta)", 4)
    run_check(name, linear_bn_activation_backward, LAYER_LABELS)
