"""One Batch Norm layer: forward values, the cache, both backward passes, awkward inputs.

Expected values are written out in the tests from the lecture's formulas
(numpy's own mean and var), and every backward pass is held against central
differences (bnlab.gradcheck) with a relative error below 1e-7.
"""

import numpy as np
import pytest
from normalization_support import BATCH, EPS, assert_forward_matches_the_formulas, expected

from autograder.content import reference
from bnlab.activations import ACTIVATIONS
from bnlab.gradcheck import bn_numeric_gradients, numeric_gradient, relative_error

BACKWARDS = [reference.batchnorm_backward_staged, reference.batchnorm_backward]
TOL = 1e-7


def expected_bn(Z, gamma, beta, eps=EPS):
    """The lecture's formulas: statistics per unit, over the mini-batch."""
    return expected(Z, gamma, beta, BATCH, eps)


# ------------------------------------------------------------------ forward


@pytest.mark.parametrize("n, m", [(4, 6), (6, 4), (3, 1), (2, 2), (1, 9)])
def test_forward_matches_the_formulas(bn_inputs, n, m):
    Z, gamma, beta, _ = bn_inputs(n, m, seed=n * 10 + m, offset=3.0)
    assert_forward_matches_the_formulas(reference.batchnorm_forward, BATCH, Z, gamma, beta)


def test_forward_uses_the_given_eps(bn_inputs):
    Z, gamma, beta, _ = bn_inputs(3, 5, seed=1, scale=0.01)
    Z_tilde, cache = reference.batchnorm_forward(Z, gamma, beta, eps=1e-2)
    np.testing.assert_allclose(Z_tilde, expected_bn(Z, gamma, beta, eps=1e-2)[0], rtol=1e-12)
    assert cache[6] == 1e-2


def test_z_norm_rows_have_mean_0_and_variance_var_over_var_plus_eps(bn_inputs):
    Z, gamma, beta, _ = bn_inputs(5, 8, seed=2, scale=0.01)  # small var: eps shows
    _, (_, Z_norm, _, var, *_) = reference.batchnorm_forward(Z, gamma, beta)
    np.testing.assert_allclose(Z_norm.mean(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(Z_norm.var(axis=1), (var / (var + EPS)).ravel(), rtol=1e-10)
    assert np.all(Z_norm.var(axis=1) < 1 - 1e-3)  # eps really sits inside the square root


def test_gamma_sqrt_var_eps_and_beta_mu_give_back_z(bn_inputs):
    Z, *_ = bn_inputs(4, 7, seed=3, offset=-5.0)
    mu, var = Z.mean(axis=1, keepdims=True), Z.var(axis=1, keepdims=True)
    Z_tilde, _ = reference.batchnorm_forward(Z, np.sqrt(var + EPS), mu)
    np.testing.assert_allclose(Z_tilde, Z, rtol=1e-12, atol=1e-12)


def test_single_example_gives_beta(bn_inputs):
    Z, gamma, beta, _ = bn_inputs(4, 1, seed=4)
    Z_tilde, cache = reference.batchnorm_forward(Z, gamma, beta)
    np.testing.assert_array_equal(cache[3], 0)  # var of one value
    np.testing.assert_array_equal(cache[1], 0)
    np.testing.assert_allclose(Z_tilde, beta)


def test_two_examples_normalize_to_plus_minus_one(bn_inputs):
    Z, gamma, beta, _ = bn_inputs(3, 2, seed=5)
    _, cache = reference.batchnorm_forward(Z, gamma, beta, eps=0.0)
    Z_norm = cache[1]
    np.testing.assert_allclose(np.abs(Z_norm), 1, rtol=1e-12)
    np.testing.assert_allclose(Z_norm.sum(axis=1), 0, atol=1e-12)


def test_constant_row_and_gamma_zero(bn_inputs):
    Z, gamma, beta, _ = bn_inputs(4, 6, seed=6)
    Z[1] = 7.0
    gamma[2] = 0.0
    Z_tilde, cache = reference.batchnorm_forward(Z, gamma, beta)
    assert np.all(np.isfinite(Z_tilde))
    assert cache[3][1, 0] == 0.0
    np.testing.assert_array_equal(cache[1][1], 0)  # constant row: Z_norm = 0
    np.testing.assert_allclose(Z_tilde[1], beta[1, 0])
    np.testing.assert_allclose(Z_tilde[2], beta[2, 0])  # gamma = 0: beta only
    want = expected_bn(Z, gamma, beta)[0]
    np.testing.assert_allclose(Z_tilde, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("offset", [1e4, 1e5, 1e6])
def test_large_offsets_still_normalize(bn_inputs, offset):
    Z, gamma, beta, _ = bn_inputs(3, 50, seed=7, offset=offset)
    Z_tilde, (_, Z_norm, mu, var, *_) = reference.batchnorm_forward(Z, gamma, beta)
    np.testing.assert_allclose(Z_norm.mean(axis=1), 0, atol=1e-8)
    np.testing.assert_allclose(Z_norm.var(axis=1), 1, atol=1e-4)
    np.testing.assert_allclose(Z_norm.var(axis=1), (var / (var + EPS)).ravel(), rtol=1e-8)
    np.testing.assert_allclose(mu.ravel(), offset, rtol=1e-3)
    # the same batch without the offset gives the same output
    Z_tilde_0, _ = reference.batchnorm_forward(Z - offset, gamma, beta)
    np.testing.assert_allclose(Z_tilde, Z_tilde_0, atol=1e-7)


def test_float32_keeps_its_dtype_and_is_close_to_float64(bn_inputs):
    args64 = bn_inputs(5, 12, seed=8, offset=1.0)
    args32 = tuple(a.astype(np.float32) for a in args64)
    Z_tilde32, cache32 = reference.batchnorm_forward(*args32[:3])
    assert Z_tilde32.dtype == np.float32
    assert all(c.dtype == np.float32 for c in cache32[:6])
    np.testing.assert_allclose(Z_tilde32, expected_bn(*args64[:3])[0], rtol=1e-4, atol=1e-5)
    for backward in BACKWARDS:
        grads32 = backward(args32[3], cache32)
        grads64 = backward(args64[3], reference.batchnorm_forward(*args64[:3])[1])
        for g32, g64 in zip(grads32, grads64):
            assert g32.dtype == np.float32
            np.testing.assert_allclose(g32, g64, rtol=1e-3, atol=1e-4)


def test_adding_a_bias_to_z_changes_nothing(bn_inputs):
    Z, gamma, beta, dZ_tilde = bn_inputs(4, 6, seed=9)
    b = np.random.default_rng(9).standard_normal((4, 1)) * 10
    Z_tilde, _ = reference.batchnorm_forward(Z, gamma, beta)
    Z_tilde_b, _ = reference.batchnorm_forward(Z + b, gamma, beta)
    np.testing.assert_allclose(Z_tilde_b, Z_tilde, atol=1e-12)

    def loss():
        return float(np.sum(reference.batchnorm_forward(Z + b, gamma, beta)[0] * dZ_tilde))

    db = numeric_gradient(loss, b)
    np.testing.assert_allclose(db, 0, atol=1e-8)


# ----------------------------------------------------------------- backward


# (inputs, eps). With m = 2 and a small eps, Z_norm is +-1 whatever Z is, so dZ is
# of the order of eps and a relative error would measure rounding only: a larger
# eps keeps that case informative.
BACKWARD_CASES = {
    "n_l=4, m=6": (dict(n=4, m=6, seed=11), EPS),
    "n_l=6, m=3": (dict(n=6, m=3, seed=12), EPS),
    "m=2": (dict(n=3, m=2, seed=13), 0.5),
    "offset 50": (dict(n=3, m=8, seed=14, offset=50.0), EPS),
    "eps=1e-2, small var": (dict(n=3, m=5, seed=24, scale=0.1), 1e-2),
}


@pytest.mark.parametrize("backward", BACKWARDS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("case", BACKWARD_CASES, ids=str)
def test_backward_matches_numeric_gradients(bn_inputs, backward, case):
    inputs, eps = BACKWARD_CASES[case]
    Z, gamma, beta, dZ_tilde = bn_inputs(**inputs)

    def forward(Z, gamma, beta):
        return reference.batchnorm_forward(Z, gamma, beta, eps)

    _, cache = forward(Z, gamma, beta)
    dZ, dgamma, dbeta = backward(dZ_tilde, cache)
    assert dZ.shape == Z.shape and dgamma.shape == gamma.shape and dbeta.shape == beta.shape
    numeric = bn_numeric_gradients(forward, Z, gamma, beta, dZ_tilde)
    for name, got, want in zip(("dZ", "dgamma", "dbeta"), (dZ, dgamma, dbeta), numeric):
        error = relative_error(got, want)
        assert error < TOL, f"{name}: relative error {error:.2e}"


@pytest.mark.parametrize("backward", BACKWARDS, ids=lambda f: f.__name__)
def test_backward_with_a_constant_row_and_gamma_zero(bn_inputs, backward):
    Z, gamma, beta, dZ_tilde = bn_inputs(4, 5, seed=15)
    Z[1] = -3.0
    gamma[2] = 0.0
    _, cache = reference.batchnorm_forward(Z, gamma, beta)
    dZ, dgamma, dbeta = backward(dZ_tilde, cache)
    np.testing.assert_array_equal(dZ[2], 0)  # gamma = 0 blocks the way back to Z
    assert abs(dgamma[2, 0]) > 1e-3  # ... but gamma itself still learns
    np.testing.assert_allclose(dgamma[1], 0, atol=1e-12)  # constant row: Z_norm = 0
    # var = 0: a step h puts h^2 next to eps in sqrt(var + eps); h = 1e-6 keeps that small
    numeric = bn_numeric_gradients(reference.batchnorm_forward, Z, gamma, beta, dZ_tilde, h=1e-6)
    for name, got, want in zip(("dZ", "dgamma", "dbeta"), (dZ, dgamma, dbeta), numeric):
        error = relative_error(got, want)
        assert error < TOL, f"{name}: relative error {error:.2e}"


@pytest.mark.parametrize("backward", BACKWARDS, ids=lambda f: f.__name__)
def test_backward_with_one_example(bn_inputs, backward):
    Z, gamma, beta, dZ_tilde = bn_inputs(3, 1, seed=16)
    _, cache = reference.batchnorm_forward(Z, gamma, beta)
    dZ, dgamma, dbeta = backward(dZ_tilde, cache)
    np.testing.assert_allclose(dZ, 0, atol=1e-12)  # the output is beta, whatever Z is
    np.testing.assert_allclose(dgamma, 0, atol=1e-12)
    np.testing.assert_allclose(dbeta, dZ_tilde)


@pytest.mark.parametrize("backward", BACKWARDS, ids=lambda f: f.__name__)
def test_backward_ignores_a_large_offset(bn_inputs, backward):
    Z, gamma, beta, dZ_tilde = bn_inputs(3, 10, seed=17)
    reference_grads = backward(dZ_tilde, reference.batchnorm_forward(Z, gamma, beta)[1])
    for offset in (1e4, 1e6):
        grads = backward(dZ_tilde, reference.batchnorm_forward(Z + offset, gamma, beta)[1])
        for got, want in zip(grads, reference_grads):
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("n, m", [(4, 6), (5, 2), (2, 17)])
def test_staged_equals_compact_and_dz_sums_to_zero(bn_inputs, n, m):
    Z, gamma, beta, dZ_tilde = bn_inputs(n, m, seed=18 + m)
    _, cache = reference.batchnorm_forward(Z, gamma, beta)
    staged = reference.batchnorm_backward_staged(dZ_tilde, cache)
    compact = reference.batchnorm_backward(dZ_tilde, cache)
    for s, c in zip(staged, compact):
        np.testing.assert_allclose(s, c, rtol=1e-10, atol=1e-12)
    dZ = compact[0]
    np.testing.assert_allclose(dZ.sum(axis=1), 0, atol=1e-12 * np.abs(dZ).sum())


def test_dbeta_and_dgamma_are_sums_over_the_examples(bn_inputs):
    Z, gamma, beta, dZ_tilde = bn_inputs(3, 7, seed=20)
    _, cache = reference.batchnorm_forward(Z, gamma, beta)
    _, Z_norm, *_ = expected_bn(Z, gamma, beta)
    for backward in BACKWARDS:
        _, dgamma, dbeta = backward(dZ_tilde, cache)
        for i in range(3):
            assert dbeta[i, 0] == pytest.approx(sum(dZ_tilde[i]), rel=1e-12)
            assert dgamma[i, 0] == pytest.approx(sum(dZ_tilde[i] * Z_norm[i]), rel=1e-10)


# ------------------------------------------------ linear -> BN -> activation


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_linear_bn_activation_forward(activation):
    rng = np.random.default_rng(21)
    A_prev, W = rng.standard_normal((5, 7)), rng.standard_normal((3, 5))
    gamma, beta = rng.uniform(0.5, 2, (3, 1)), rng.standard_normal((3, 1))
    A, cache = reference.linear_bn_activation_forward(A_prev, W, gamma, beta, activation)
    Z = W @ A_prev
    Z_tilde = expected_bn(Z, gamma, beta)[0]
    g = {
        "relu": lambda x: np.maximum(x, 0),
        "tanh": np.tanh,
        "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    }
    np.testing.assert_allclose(A, g[activation](Z_tilde), rtol=1e-12, atol=1e-12)
    (c_A_prev, c_W), bn_cache, (c_Z_tilde, c_activation) = cache
    np.testing.assert_array_equal(c_A_prev, A_prev)
    np.testing.assert_array_equal(c_W, W)
    np.testing.assert_allclose(bn_cache[0], Z, rtol=1e-12)
    np.testing.assert_allclose(c_Z_tilde, Z_tilde, rtol=1e-12, atol=1e-12)
    assert c_activation == activation


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("n_prev, n, m", [(5, 3, 7), (3, 4, 3)])
def test_linear_bn_activation_backward_matches_numeric_gradients(activation, n_prev, n, m):
    rng = np.random.default_rng(22 + m)
    A_prev, W = rng.standard_normal((n_prev, m)), rng.standard_normal((n, n_prev))
    gamma, beta = rng.uniform(0.5, 2, (n, 1)), rng.standard_normal((n, 1))
    dA = rng.standard_normal((n, m))
    _, cache = reference.linear_bn_activation_forward(A_prev, W, gamma, beta, activation)
    if activation == "relu":  # keep central differences away from the kink
        assert np.abs(cache[2][0]).min() > 1e-3
    grads = reference.linear_bn_activation_backward(dA, cache, activation)

    def loss():
        A, _ = reference.linear_bn_activation_forward(A_prev, W, gamma, beta, activation)
        return float(np.sum(A * dA))

    for name, got, x in zip(("dA_prev", "dW", "dgamma", "dbeta"), grads, (A_prev, W, gamma, beta)):
        assert got.shape == x.shape, name
        error = relative_error(got, numeric_gradient(loss, x))
        assert error < TOL, f"{name} ({activation}): relative error {error:.2e}"


def test_linear_bn_activation_has_no_bias_to_learn():
    rng = np.random.default_rng(23)
    A_prev, W = rng.standard_normal((4, 6)), rng.standard_normal((3, 4))
    gamma, beta = rng.uniform(0.5, 2, (3, 1)), rng.standard_normal((3, 1))
    A, _ = reference.linear_bn_activation_forward(A_prev, W, gamma, beta, "tanh")
    # a constant added to every input shifts Z by W @ c, a per-unit constant: no change
    shifted, _ = reference.linear_bn_activation_forward(A_prev + 3.0, W, gamma, beta, "tanh")
    np.testing.assert_allclose(shifted, A, atol=1e-12)
