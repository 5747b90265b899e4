"""Hidden tests of notebook 01 (forward BN)."""

import numpy as np

from bnlab import reference

__all__ = ["test_batchnorm_forward", "test_linear_bn_activation_forward"]


def _close(got, expected, what, rtol=1e-6, atol=1e-8):
    assert isinstance(got, np.ndarray), f"{what} should be a numpy array, got {type(got).__name__}."
    assert got.shape == expected.shape, f"{what} has shape {got.shape}; expected {expected.shape}."
    assert np.allclose(got, expected, rtol=rtol, atol=atol), f"Wrong values in {what}."


def test_batchnorm_forward(batchnorm_forward):
    from bnlab.grading import isolated

    rng = np.random.default_rng(101)
    for n, m, eps in [(5, 9, 1e-5), (3, 1, 1e-5), (4, 2, 1e-3), (6, 32, 1e-5)]:
        Z = rng.standard_normal((n, m)) * 3 + rng.standard_normal((n, 1)) * 5
        gamma, beta = rng.uniform(-2, 2, (n, 1)), rng.standard_normal((n, 1))
        expected, expected_cache = reference.batchnorm_forward(Z, gamma, beta, eps)
        with isolated(batchnorm_forward) as f:
            out = f(Z.copy(), gamma.copy(), beta.copy(), eps)
        assert isinstance(out, tuple) and len(out) == 2, "Return (Z_tilde, cache)."
        Z_tilde, cache = out
        _close(Z_tilde, expected, f"Z_tilde (n_l={n}, m={m})")
        assert len(cache) == 7, "cache should be (Z, Z_norm, mu, var, gamma, beta, eps)."
        for got, want, what in zip(cache[:4], expected_cache[:4], ["Z", "Z_norm", "mu", "var"]):
            _close(np.asarray(got), want, f"cache {what}")


def test_linear_bn_activation_forward(linear_bn_activation_forward):
    from bnlab.grading import isolated

    rng = np.random.default_rng(102)
    for activation in ("relu", "tanh", "sigmoid"):
        A_prev, W = rng.standard_normal((4, 7)), rng.standard_normal((3, 4))
        gamma, beta = rng.uniform(0.5, 2, (3, 1)), rng.standard_normal((3, 1))
        expected, _ = reference.linear_bn_activation_forward(A_prev, W, gamma, beta, activation)
        with isolated(linear_bn_activation_forward) as f:
            A, cache = f(A_prev.copy(), W.copy(), gamma.copy(), beta.copy(), activation)
        _close(A, expected, f"A with activation={activation!r}")
