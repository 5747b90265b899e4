"""Visible checks, one per graded function: ``check_<function>(your_function)``.

Each runs your function on stored, awkward cases, prints a one-line verdict
when everything matches, and otherwise raises CheckFailed with what is wrong
(type, shape or values), where, and -- when it recognises one -- the classic
mistake behind it.
"""

from bnlab.checks._core import CheckFailed, run_check

_BN_CACHE = ["Z", "Z_norm", "mu", "var", "gamma", "beta", "eps"]


def check_batchnorm_forward(batchnorm_forward):
    """Check batchnorm_forward(Z, gamma, beta, eps) -> (Z_tilde, cache)."""
    labels = {"output[0]": "Z_tilde"}
    labels.update({f"output[1][{i}]": f"cache[{i}] ({n})" for i, n in enumerate(_BN_CACHE)})
    labels["output[1]"] = "cache"
    return run_check("batchnorm_forward", batchnorm_forward, labels)


__all__ = ["CheckFailed", "check_batchnorm_forward"]
