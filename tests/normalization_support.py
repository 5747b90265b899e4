"""The normalization formulas written out with numpy, for Batch Norm and Layer Norm alike.

Batch Norm takes each unit's statistics over the mini-batch (axis 1: mu, var of shape
(n_l, 1)); Layer Norm takes each example's over its units (axis 0: shape (1, m)). The
expected values come from numpy's own mean and biased var, never from the code under
test.
"""

import numpy as np

EPS = 1e-5
BATCH, LAYER = 1, 0  # the axis the statistics are taken over


def expected(Z, gamma, beta, axis, eps=EPS):
    """(Z_tilde, Z_norm, mu, var) of Z (n_l, m) normalized along `axis`, then scaled by
    gamma (n_l, 1) and shifted by beta (n_l, 1)."""
    mu = Z.mean(axis=axis, keepdims=True)
    var = Z.var(axis=axis, keepdims=True)
    Z_norm = (Z - mu) / np.sqrt(var + eps)
    return gamma * Z_norm + beta, Z_norm, mu, var


def assert_forward_matches_the_formulas(forward, axis, Z, gamma, beta):
    """`forward(Z, gamma, beta)` returns the formulas' Z_tilde and the 7-item cache
    (Z, Z_norm, mu, var, gamma, beta, eps), with mu and var of the shape `axis` leaves."""
    n, m = Z.shape
    Z_tilde, cache = forward(Z, gamma, beta)
    want, Z_norm, mu, var = expected(Z, gamma, beta, axis)
    assert Z_tilde.shape == (n, m)
    np.testing.assert_allclose(Z_tilde, want, rtol=1e-12, atol=1e-12)
    assert len(cache) == 7
    c_Z, c_Z_norm, c_mu, c_var, c_gamma, c_beta, c_eps = cache
    np.testing.assert_array_equal(c_Z, Z)
    np.testing.assert_allclose(c_Z_norm, Z_norm, rtol=1e-12, atol=1e-12)
    shape = (n, 1) if axis == BATCH else (1, m)
    assert c_mu.shape == shape and c_var.shape == shape
    np.testing.assert_allclose(c_mu, mu, rtol=1e-12)
    np.testing.assert_allclose(c_var, var, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(c_gamma, gamma)
    np.testing.assert_array_equal(c_beta, beta)
    assert c_eps == EPS
