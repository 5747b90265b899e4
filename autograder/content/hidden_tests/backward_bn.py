"""Hidden tests of notebook 02 (backward BN)."""

import numpy as np

from autograder.content import reference
from autograder.content.hidden_tests.forward_bn import _close

__all__ = [
    "test_batchnorm_backward_staged",
    "test_batchnorm_backward",
    "test_linear_bn_activation_backward",
]


def _bn_cases(seed):
    """Fresh (dZ_tilde, cache) pairs: n_l != m, m = 1 and 2, a constant unit, gamma with a 0."""
    rng = np.random.default_rng(seed)
    for n, m, eps in [(5, 9, 1e-5), (3, 1, 1e-5), (4, 2, 1e-3), (6, 32, 1e-5)]:
        Z = rng.standard_normal((n, m)) * 3 + rng.standard_normal((n, 1)) * 5
        gamma, beta = rng.uniform(-2, 2, (n, 1)), rng.standard_normal((n, 1))
        if m > 2:
            Z[0] = 4.0
            gamma[-1] = 0.0
        _, cache = reference.batchnorm_forward(Z, gamma, beta, eps)
        yield f"n_l={n}, m={m}", rng.standard_normal((n, m)), cache


def _copy(value):
    if isinstance(value, tuple):
        return tuple(_copy(v) for v in value)
    return value.copy() if isinstance(value, np.ndarray) else value


def _test_bn_backward(student_fn, seed):
    from autograder.content.hidden_tests.isolation import isolated

    for where, dZ_tilde, cache in _bn_cases(seed):
        expected = reference.batchnorm_backward(dZ_tilde, cache)
        with isolated(student_fn) as f:
            out = f(dZ_tilde.copy(), _copy(cache))
        assert isinstance(out, (tuple, list)) and len(out) == 3, "Return (dZ, dgamma, dbeta)."
        for got, want, what in zip(out, expected, ["dZ", "dgamma", "dbeta"]):
            _close(got, want, f"{what} ({where})", rtol=1e-5, atol=1e-9)


def test_batchnorm_backward_staged(batchnorm_backward_staged):
    _test_bn_backward(batchnorm_backward_staged, 201)


def test_batchnorm_backward(batchnorm_backward):
    _test_bn_backward(batchnorm_backward, 202)


def test_linear_bn_activation_backward(linear_bn_activation_backward):
    from autograder.content.hidden_tests.isolation import isolated

    rng = np.random.default_rng(203)
    shapes = [(4, 3, 7), (6, 5, 2), (3, 8, 11)]
    for activation, (n_prev, n_l, m) in zip(("relu", "tanh", "sigmoid"), shapes):
        A_prev, W = rng.standard_normal((n_prev, m)) + 0.3, rng.standard_normal((n_l, n_prev))
        gamma, beta = rng.uniform(0.5, 2, (n_l, 1)), rng.standard_normal((n_l, 1))
        _, cache = reference.linear_bn_activation_forward(A_prev, W, gamma, beta, activation)
        dA = rng.standard_normal((n_l, m))
        expected = reference.linear_bn_activation_backward(dA, cache, activation)
        with isolated(linear_bn_activation_backward) as f:
            out = f(dA.copy(), _copy(cache), activation)
        assert isinstance(out, (tuple, list)) and len(out) == 4, (
            "Return (dA_prev, dW, dgamma, dbeta)."
        )
        for got, want, what in zip(out, expected, ["dA_prev", "dW", "dgamma", "dbeta"]):
            _close(got, want, f"{what} with activation={activation!r}", rtol=1e-5, atol=1e-9)
