"""Hidden tests of notebook 01 (forward BN)."""

import numpy as np

from autograder.content import reference

__all__ = ["test_batchnorm_forward", "test_linear_bn_activation_forward"]


def _close(got, expected, what, rtol=1e-6, atol=1e-8):
    assert isinstance(got, np.ndarray), f"{what} should be a numpy array, got {type(got).__name__}."
    assert got.shape == expected.shape, f"{what} has shape {got.shape}; expected {expected.shape}."
    assert np.allclose(got, expected, rtol=rtol, atol=atol), f"Wrong values in {what}."


def test_batchnorm_forward(batchnorm_forward):
    from autograder.content.hidden_tests.isolation import isolated

    rng = np.random.default_rng(101)
    for n, m, eps in [(5, 9, 1e-5), (3, 1, 1e-5), (4, 2, 1e-3), (6, 32, 1e-5)]:
        Z = rng.standard_normal((n, m)) * 3 + rng.standard_normal((n, 1)) * 5
        gamma, beta = rng.uniform(-2, 2, (n, 1)), rng.standard_normal((n, 1))
        expected, expected_cache = reference.batchnorm_forward(Z, gamma, beta, eps)
        with isolated(batchnorm_forward) as f:
            out = f(Z.copy(), gamma.copy(), beta.copy(), eps)
        assert isinstance(out, (tuple, list)) and len(out) == 2, "Return (Z_tilde, cache)."
        Z_tilde, cache = out
        _close(Z_tilde, expected, f"Z_tilde (n_l={n}, m={m})")
        assert len(cache) == 7, "cache should be (Z, Z_norm, mu, var, gamma, beta, eps)."
        for got, want, what in zip(cache[:4], expected_cache[:4], ["Z", "Z_norm", "mu", "var"]):
            _close(np.asarray(got), want, f"cache {what}")


def test_linear_bn_activation_forward(linear_bn_activation_forward):
    from autograder.content.hidden_tests.isolation import isolated

    rng = np.random.default_rng(102)
    for activation, (n_prev, n_l, m) in zip(
        ("relu", "tanh", "sigmoid"), [(4, 3, 7), (6, 5, 2), (3, 8, 11)]
    ):
        A_prev, W = rng.standard_normal((n_prev, m)) + 0.3, rng.standard_normal((n_l, n_prev))
        gamma, beta = rng.uniform(0.5, 2, (n_l, 1)), rng.standard_normal((n_l, 1))
        expected, expected_cache = reference.linear_bn_activation_forward(
            A_prev, W, gamma, beta, activation
        )
        with isolated(linear_bn_activation_forward) as f:
            out = f(A_prev.copy(), W.copy(), gamma.copy(), beta.copy(), activation)
        assert isinstance(out, (tuple, list)) and len(out) == 2, "Return (A, cache)."
        A, cache = out
        _close(A, expected, f"A with activation={activation!r}")
        assert isinstance(cache, (tuple, list)) and len(cache) == 3, (
            "cache should be (linear_cache, bn_cache, activation_cache)."
        )
        (got_A_prev, got_W), bn_cache, activation_cache = cache
        _close(np.asarray(got_A_prev), A_prev, "linear cache A_prev")
        _close(np.asarray(got_W), W, "linear cache W")
        for got, want, what in zip(
            bn_cache[:4], expected_cache[1][:4], ["Z", "Z_norm", "mu", "var"]
        ):
            _close(np.asarray(got), want, f"bn cache {what}")
        _close(np.asarray(activation_cache[0]), expected_cache[2][0], "activation cache Z_tilde")
        assert activation_cache[1] == activation, (
            "activation cache should hold the activation name."
        )
