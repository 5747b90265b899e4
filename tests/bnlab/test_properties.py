"""Property-based tests: Batch Norm's and Layer Norm's invariants over random shapes, dtypes
and scales, and Layer Norm's gradients against numeric ones.

Each example draws n_l, m >= 2, a dtype, a scale and an offset; the data come
from a seeded generator, so a failing example replays exactly. Tolerances are
relative to the scale of what is compared, looser for float32.
"""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder.content import reference
from bnlab.gradcheck import bn_numeric_gradients, relative_error

EPS = 1e-5
FAST = settings(max_examples=50, deadline=None)


@st.composite
def bn_batches(draw):
    """(Z, gamma, beta, dZ_tilde, dtype) with Z = scale * noise + offset (per row)."""
    n = draw(st.integers(1, 8))
    m = draw(st.integers(2, 16))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    scale = 10.0 ** draw(st.integers(-2, 3))
    # float32 keeps ~7 digits: an offset far above the spread leaves nothing to normalize
    max_offset_ratio = 100.0 if dtype == np.float32 else 1e5
    offset_ratio = draw(st.sampled_from([0.0, 1.0, 10.0, 100.0, 1e5]))
    offset_ratio = min(offset_ratio, max_offset_ratio)
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, m)) * scale + offset_ratio * scale * rng.standard_normal((n, 1))
    gamma = rng.uniform(-2, 2, (n, 1))
    beta = rng.standard_normal((n, 1)) * 3
    dZ_tilde = rng.standard_normal((n, m))
    return tuple(a.astype(dtype) for a in (Z, gamma, beta, dZ_tilde)) + (dtype,)


@FAST
@given(bn_batches())
def test_shapes_and_dtypes(batch):
    Z, gamma, beta, dZ_tilde, dtype = batch
    n, m = Z.shape
    Z_tilde, cache = reference.batchnorm_forward(Z, gamma, beta)
    assert Z_tilde.shape == (n, m) and Z_tilde.dtype == dtype
    _, Z_norm, mu, var, *_ = cache
    assert Z_norm.shape == (n, m) and mu.shape == (n, 1) and var.shape == (n, 1)
    for backward in (reference.batchnorm_backward, reference.batchnorm_backward_staged):
        dZ, dgamma, dbeta = backward(dZ_tilde, cache)
        assert dZ.shape == (n, m) and dgamma.shape == (n, 1) and dbeta.shape == (n, 1)
        assert dZ.dtype == dtype and dgamma.dtype == dtype and dbeta.dtype == dtype


def roundoff(Z):
    """Per-row (n, 1) bound on the relative rounding error of anything computed from
    Z - mu: machine epsilon times how far Z sits from its mean, in units of its spread."""
    Z64 = Z.astype(np.float64)
    spread = Z64.std(axis=1, keepdims=True)
    return 100 * np.finfo(Z.dtype).eps * (1 + np.abs(Z64).max(axis=1, keepdims=True) / spread)


def backward_scale(Z, gamma, dZ_tilde):
    """(n, 1) size of the terms that make up dZ: |gamma| / sqrt(var + eps) * max |dZ_tilde|."""
    var = Z.astype(np.float64).var(axis=1, keepdims=True)
    return np.abs(gamma) / np.sqrt(var + EPS) * np.abs(dZ_tilde).max(axis=1, keepdims=True)


@FAST
@given(bn_batches())
def test_output_rows_have_mean_beta_and_variance_gamma2_var_over_var_eps(batch):
    Z, gamma, beta, _, dtype = batch
    Z_tilde, cache = reference.batchnorm_forward(Z, gamma, beta)
    Z64 = Z.astype(np.float64)
    mu, var = Z64.mean(axis=1, keepdims=True), Z64.var(axis=1, keepdims=True)
    error = roundoff(Z)
    Z_tilde64 = Z_tilde.astype(np.float64)
    row_mean = Z_tilde64.mean(axis=1, keepdims=True)
    row_var = Z_tilde64.var(axis=1, keepdims=True)
    g2 = gamma.astype(np.float64) ** 2
    size = np.abs(gamma) + np.abs(beta)  # of the entries of Z_tilde
    assert np.all(np.abs(row_mean - beta) <= error * size)
    assert np.all(np.abs(row_var - g2 * var / (var + EPS)) <= error * size**2)
    # the cached statistics are the batch's mean and biased variance
    assert np.all(np.abs(cache[2] - mu) <= error * np.sqrt(var))
    assert np.all(np.abs(cache[3] - var) <= error * var)


@FAST
@given(bn_batches())
def test_staged_equals_compact_and_dz_sums_to_zero(batch):
    Z, gamma, beta, dZ_tilde, dtype = batch
    m = Z.shape[1]
    _, cache = reference.batchnorm_forward(Z, gamma, beta)
    staged = reference.batchnorm_backward_staged(dZ_tilde, cache)
    compact = reference.batchnorm_backward(dZ_tilde, cache)
    error = roundoff(Z)
    atol_dZ = m * error * backward_scale(Z, gamma, dZ_tilde)
    assert np.all(np.abs(staged[0] - compact[0]) <= atol_dZ)
    for s, c in zip(staged[1:], compact[1:]):  # dgamma, dbeta: sums of m terms
        atol = m * error * np.abs(dZ_tilde).max(axis=1, keepdims=True)
        assert np.all(np.abs(s - c) <= atol)
    dZ_sum = compact[0].astype(np.float64).sum(axis=1, keepdims=True)
    assert np.all(np.abs(dZ_sum) <= atol_dZ)


@FAST
@given(bn_batches(), st.floats(-1e3, 1e3))
def test_adding_a_constant_per_row_changes_nothing(batch, shift):
    Z, gamma, beta, dZ_tilde, dtype = batch
    if dtype == np.float32:  # keep the shift within float32's digits of the spread
        shift = float(np.clip(shift, -10, 10))
    spread = Z.astype(np.float64).std(axis=1, keepdims=True)
    rng = np.random.default_rng(abs(int(shift * 1000)))
    b = (shift * rng.uniform(1, 2, spread.shape) * spread).astype(dtype)
    Z_tilde, cache = reference.batchnorm_forward(Z, gamma, beta)
    Z_tilde_b, cache_b = reference.batchnorm_forward(Z + b, gamma, beta)
    error = np.maximum(roundoff(Z), roundoff(Z + b))
    assert np.all(np.abs(Z_tilde_b - Z_tilde) <= error * (np.abs(gamma) + 1))
    dZ, _, _ = reference.batchnorm_backward(dZ_tilde, cache)
    dZ_b, _, _ = reference.batchnorm_backward(dZ_tilde, cache_b)
    assert np.all(np.abs(dZ_b - dZ) <= Z.shape[1] * error * backward_scale(Z, gamma, dZ_tilde))


@FAST
@given(st.integers(1, 200), st.integers(1, 70), st.integers(0, 2**32 - 1))
def test_mini_batches_partition_the_examples(m, size, seed):
    X = np.vstack([np.arange(m, dtype=float), np.full(m, 2.0)])
    Y = np.eye(3)[:, np.arange(m) % 3]
    batches = reference.random_mini_batches(X, Y, size, seed)
    assert len(batches) == -(-m // size)
    assert all(X_t.shape[1] == size for X_t, _ in batches[:-1])
    assert 1 <= batches[-1][0].shape[1] <= size
    index = np.concatenate([X_t[0] for X_t, _ in batches]).astype(int)
    np.testing.assert_array_equal(np.sort(index), np.arange(m))
    for X_t, Y_t in batches:
        np.testing.assert_array_equal(Y_t, Y[:, X_t[0].astype(int)])


# ------------------------------------------------------------------ Layer Norm


def column_roundoff(Z):
    """roundoff() of Layer Norm: per example (1, m), over the units of each column."""
    return roundoff(Z.T).T


@FAST
@given(bn_batches())
def test_layer_norm_shapes_and_dtypes(batch):
    Z, gamma, beta, dZ_tilde, dtype = batch
    n, m = Z.shape
    Z_tilde, cache = reference.layernorm_forward(Z, gamma, beta)
    assert Z_tilde.shape == (n, m) and Z_tilde.dtype == dtype
    _, Z_norm, mu, var, *_ = cache
    assert Z_norm.shape == (n, m) and mu.shape == (1, m) and var.shape == (1, m)
    dZ, dgamma, dbeta = reference.layernorm_backward(dZ_tilde, cache)
    assert dZ.shape == (n, m) and dgamma.shape == (n, 1) and dbeta.shape == (n, 1)
    assert dZ.dtype == dtype and dgamma.dtype == dtype and dbeta.dtype == dtype


@FAST
@given(bn_batches())
def test_layer_norm_is_batch_norm_along_the_other_axis(batch):
    """Layer Norm of Z: Batch Norm of Z.T (gamma 1, beta 0), transposed back, then gamma and
    beta per unit; its backward pass likewise, with gamma moved into the upstream gradient."""
    Z, gamma, beta, dZ_tilde, dtype = batch
    n, m = Z.shape
    if n < 2:
        return  # one unit: every example normalizes to 0 (Batch Norm's m = 1)
    ones, zeros = np.ones((m, 1), dtype), np.zeros((m, 1), dtype)
    _, cache_t = reference.batchnorm_forward(Z.T, ones, zeros)
    Z_tilde, cache = reference.layernorm_forward(Z, gamma, beta)
    error = column_roundoff(Z)
    size = np.abs(gamma) + np.abs(beta)
    assert np.all(np.abs(Z_tilde - (gamma * cache_t[1].T + beta)) <= error * size)
    dZ_t, _, _ = reference.batchnorm_backward((gamma * dZ_tilde).T, cache_t)
    dZ, dgamma, dbeta = reference.layernorm_backward(dZ_tilde, cache)
    var = Z.astype(np.float64).var(axis=0, keepdims=True)
    scale = np.abs(gamma * dZ_tilde).max(axis=0, keepdims=True) / np.sqrt(var + EPS)
    assert np.all(np.abs(dZ - dZ_t.T) <= n * error * scale)
    # gamma and beta are per unit: sums over the examples, as in Batch Norm
    Z_norm = cache[1].astype(np.float64)
    atol = m * 10 * np.finfo(dtype).eps * np.abs(dZ_tilde).max(axis=1, keepdims=True)
    assert np.all(np.abs(dbeta - dZ_tilde.astype(np.float64).sum(axis=1, keepdims=True)) <= atol)
    assert np.all(np.abs(dgamma - (dZ_tilde * Z_norm).sum(axis=1, keepdims=True)) <= atol)


@FAST
@given(bn_batches(), st.floats(-1e3, 1e3))
def test_layer_norm_ignores_a_constant_added_to_an_example(batch, shift):
    Z, gamma, beta, dZ_tilde, dtype = batch
    if Z.shape[0] < 2:
        return
    if dtype == np.float32:
        shift = float(np.clip(shift, -10, 10))
    spread = Z.astype(np.float64).std(axis=0, keepdims=True)
    rng = np.random.default_rng(abs(int(shift * 1000)))
    c = (shift * rng.uniform(1, 2, spread.shape) * spread).astype(dtype)
    Z_tilde, cache = reference.layernorm_forward(Z, gamma, beta)
    Z_tilde_c, _ = reference.layernorm_forward(Z + c, gamma, beta)
    error = np.maximum(column_roundoff(Z), column_roundoff(Z + c))
    assert np.all(np.abs(Z_tilde_c - Z_tilde) <= error * (np.abs(gamma) + 1))
    dZ, _, _ = reference.layernorm_backward(dZ_tilde, cache)
    var = Z.astype(np.float64).var(axis=0, keepdims=True)
    scale = np.abs(gamma * dZ_tilde).max(axis=0, keepdims=True) / np.sqrt(var + EPS)
    assert np.all(np.abs(dZ.astype(np.float64).sum(axis=0)) <= Z.shape[0] * error * scale)


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 6), st.integers(1, 5), st.integers(0, 2**32 - 1))
def test_layer_norm_backward_matches_numeric_gradients(n, m, seed):
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, m)) * 2 + rng.standard_normal((1, m)) * 3
    gamma, beta = rng.uniform(-2, 2, (n, 1)), rng.standard_normal((n, 1))
    dZ_tilde = rng.standard_normal((n, m))
    _, cache = reference.layernorm_forward(Z, gamma, beta)
    analytic = reference.layernorm_backward(dZ_tilde, cache)
    numeric = bn_numeric_gradients(reference.layernorm_forward, Z, gamma, beta, dZ_tilde)
    for name, got, want in zip(("dZ", "dgamma", "dbeta"), analytic, numeric):
        # an entry whose true gradient is 0 leaves only the numeric error: compare absolutely
        assert relative_error(got, want) < 1e-6 or np.abs(got - want).max() < 1e-8, name
