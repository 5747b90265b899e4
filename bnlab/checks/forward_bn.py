"""Visible checks of notebook 01 (forward BN)."""

from bnlab.checks._core import run_check

BN_CACHE = ["Z", "Z_norm", "mu", "var", "gamma", "beta", "eps"]


def check_batchnorm_forward(batchnorm_forward):
    """Check batchnorm_forward(Z, gamma, beta, eps) -> (Z_tilde, cache)."""
    labels = {"output[0]": "Z_tilde", "output[1]": "cache"}
    labels.update({f"output[1][{i}]": f"cache[{i}] ({n})" for i, n in enumerate(BN_CACHE)})
    return run_check("batchnorm_forward", batchnorm_forward, labels)
