"""Visible checks of notebook 07 (Layer Norm)."""

from bnlab.checks._core import run_check
from bnlab.checks._named import names_mistakes
from bnlab.checks.backward_bn import BN_LABELS, _returns_tuple
from bnlab.checks.forward_bn import BN_CACHE

__all__ = ["check_layernorm_forward", "check_layernorm_backward"]


@names_mistakes("layernorm_forward")
def check_layernorm_forward(layernorm_forward):
    """Check layernorm_forward(Z, gamma, beta, eps) -> (Z_tilde, cache)."""
    labels = {"output[0]": "Z_tilde", "output[1]": "cache"}
    labels.update({f"output[1][{i}]": f"cache[{i}] ({n})" for i, n in enumerate(BN_CACHE)})
    run_check("layernorm_forward", layernorm_forward, labels)


@names_mistakes("layernorm_backward")
def check_layernorm_backward(layernorm_backward):
    """Check layernorm_backward(dZ_tilde, cache) -> (dZ, dgamma, dbeta)."""
    name = "layernorm_backward"
    _returns_tuple(name, layernorm_backward, "(dZ, dgamma, dbeta)", 3)
    run_check(name, layernorm_backward, BN_LABELS)
