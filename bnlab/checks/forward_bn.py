"""Visible checks of notebook 01 (forward BN)."""

from bnlab.checks._core import CheckFailed, call_or_fail, run_check
from bnlab.checks._named import names_mistakes

__all__ = ["check_batchnorm_forward", "check_linear_bn_activation_forward"]

BN_CACHE = ["Z", "Z_norm", "mu", "var", "gamma", "beta", "eps"]


def _returns_pair(name, output, what):
    if not isinstance(output, (tuple, list)) or len(output) != 2:
        raise CheckFailed(
            f"{name} should return a tuple {what}; got {type(output).__name__}.", name
        )


@names_mistakes("batchnorm_forward")
def check_batchnorm_forward(batchnorm_forward):
    """Check batchnorm_forward(Z, gamma, beta, eps) -> (Z_tilde, cache)."""
    labels = {"output[0]": "Z_tilde", "output[1]": "cache"}
    labels.update({f"output[1][{i}]": f"cache[{i}] ({n})" for i, n in enumerate(BN_CACHE)})
    run_check("batchnorm_forward", batchnorm_forward, labels)


@names_mistakes("linear_bn_activation_forward")
def check_linear_bn_activation_forward(linear_bn_activation_forward):
    """Check linear_bn_activation_forward(A_prev, W, gamma, beta, activation) -> (A, cache)."""
    import numpy as np

    rng = np.random.default_rng(0)
    A_prev, W = rng.standard_normal((3, 4)), rng.standard_normal((2, 3))
    gamma, beta = np.ones((2, 1)), np.zeros((2, 1))
    output = call_or_fail(
        "linear_bn_activation_forward",
        linear_bn_activation_forward,
        (A_prev, W, gamma, beta, "relu"),
        "a first small one: A_prev (3, 4), W (2, 3), relu",
    )
    _returns_pair("linear_bn_activation_forward", output, "(A, cache)")
    cache = output[1]
    if not isinstance(cache, (tuple, list)) or len(cache) != 3:
        raise CheckFailed(
            "The cache should be a tuple (linear_cache, bn_cache, activation_cache): "
            "((A_prev, W), batchnorm_forward's cache, (Z_tilde, activation)).",
            "linear_bn_activation_forward",
        )
    labels = {
        "output[0]": "A",
        "output[1][0][0]": "linear cache A_prev",
        "output[1][0][1]": "linear cache W",
        "output[1][2][0]": "activation cache Z_tilde",
        "output[1][2][1]": "activation cache activation",
    }
    labels.update({f"output[1][1][{i}]": f"bn cache {n}" for i, n in enumerate(BN_CACHE)})
    run_check("linear_bn_activation_forward", linear_bn_activation_forward, labels)
