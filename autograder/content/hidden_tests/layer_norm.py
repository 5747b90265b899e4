"""Hidden tests of notebook 07 (Layer Norm)."""

import numpy as np

from autograder.content import reference
from autograder.content.hidden_tests.backward_bn import _copy
from autograder.content.hidden_tests.forward_bn import _close

__all__ = ["test_layernorm_forward", "test_layernorm_backward"]


def _ln_inputs(seed):
    """Fresh (where, Z, gamma, beta, eps): n_l = m first (so that gamma and beta applied per
    example give wrong values, not a broadcasting error), m = 1, n_l = 2, a constant example,
    gamma with a 0, an offset of its own per example."""
    rng = np.random.default_rng(seed)
    for n, m, eps in [(5, 5, 1e-5), (6, 9, 1e-5), (4, 1, 1e-5), (2, 7, 1e-3), (8, 32, 1e-5)]:
        Z = rng.standard_normal((n, m)) * 3 + rng.standard_normal((1, m)) * 5
        gamma, beta = rng.uniform(-2, 2, (n, 1)), rng.standard_normal((n, 1))
        if m > 2:
            Z[:, 0] = -3.0
            gamma[-1] = 0.0
        yield f"n_l={n}, m={m}", Z, gamma, beta, eps


def test_layernorm_forward(layernorm_forward):
    from autograder.content.hidden_tests.isolation import isolated

    for where, Z, gamma, beta, eps in _ln_inputs(701):
        expected, expected_cache = reference.layernorm_forward(Z, gamma, beta, eps)
        with isolated(layernorm_forward) as f:
            out = f(Z.copy(), gamma.copy(), beta.copy(), eps)
        assert isinstance(out, (tuple, list)) and len(out) == 2, "Return (Z_tilde, cache)."
        Z_tilde, cache = out
        _close(Z_tilde, expected, f"Z_tilde ({where})")
        assert isinstance(cache, (tuple, list)) and len(cache) == 7, (
            "cache should be (Z, Z_norm, mu, var, gamma, beta, eps)."
        )
        for got, want, what in zip(cache[:4], expected_cache[:4], ["Z", "Z_norm", "mu", "var"]):
            _close(np.asarray(got), want, f"cache {what} ({where})")


def test_layernorm_backward(layernorm_backward):
    from autograder.content.hidden_tests.isolation import isolated

    rng = np.random.default_rng(702)
    for where, Z, gamma, beta, eps in _ln_inputs(703):
        _, cache = reference.layernorm_forward(Z, gamma, beta, eps)
        dZ_tilde = rng.standard_normal(Z.shape)
        expected = reference.layernorm_backward(dZ_tilde, cache)
        with isolated(layernorm_backward) as f:
            out = f(dZ_tilde.copy(), _copy(cache))
        assert isinstance(out, (tuple, list)) and len(out) == 3, "Return (dZ, dgamma, dbeta)."
        for got, want, what in zip(out, expected, ["dZ", "dgamma", "dbeta"]):
            _close(got, want, f"{what} ({where})", rtol=1e-5, atol=1e-9)
