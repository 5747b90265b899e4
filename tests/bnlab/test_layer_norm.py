"""One Layer Norm layer: forward values, the cache, the backward pass, awkward inputs.

Layer Norm is Batch Norm along the other axis: statistics per example (column), over
the n_l units. Expected values are written out from the formulas (numpy's own mean
and var, along axis 0), the backward pass is held against central differences
(bnlab.gradcheck) with a relative error below 1e-7, and the Layer Norm network
(the reference network with Layer Norm in place of Batch Norm) is held against its
numeric gradients too.
"""

import numpy as np
import pytest
from normalization_support import EPS, LAYER, assert_forward_matches_the_formulas, expected

from autograder.content import reference
from bnlab import training
from bnlab.gradcheck import bn_numeric_gradients, numeric_gradient, relative_error

TOL = 1e-7


def expected_ln(Z, gamma, beta, eps=EPS):
    """The formulas with statistics per example, over its n_l units."""
    return expected(Z, gamma, beta, LAYER, eps)


# ------------------------------------------------------------------ forward


@pytest.mark.parametrize("n, m", [(4, 6), (6, 4), (3, 1), (2, 2), (5, 5)])
def test_forward_matches_the_formulas(bn_inputs, n, m):
    Z, gamma, beta, _ = bn_inputs(n, m, seed=n * 10 + m, offset=3.0)
    assert_forward_matches_the_formulas(reference.layernorm_forward, LAYER, Z, gamma, beta)


def test_forward_entry_by_entry():
    """Each entry from its own column's mean and variance over the n_l units."""
    rng = np.random.default_rng(3)
    Z = rng.standard_normal((4, 3)) * 2 + 5
    gamma, beta = rng.uniform(0.5, 2, (4, 1)), rng.standard_normal((4, 1))
    Z_tilde, _ = reference.layernorm_forward(Z, gamma, beta, eps=0.1)
    n = Z.shape[0]
    for i in range(Z.shape[1]):
        mu = sum(Z[j, i] for j in range(n)) / n
        var = sum((Z[j, i] - mu) ** 2 for j in range(n)) / n
        for j in range(n):
            want = gamma[j, 0] * (Z[j, i] - mu) / np.sqrt(var + 0.1) + beta[j, 0]
            assert Z_tilde[j, i] == pytest.approx(want, rel=1e-12)


def test_layer_norm_is_batch_norm_of_the_transpose_with_per_unit_gamma_and_beta(bn_inputs):
    Z, gamma, beta, _ = bn_inputs(5, 7, seed=4)
    m = Z.shape[1]
    _, (_, Z_norm_t, mu_t, var_t, *_) = reference.batchnorm_forward(
        Z.T, np.ones((m, 1)), np.zeros((m, 1))
    )
    Z_tilde, (_, Z_norm, mu, var, *_) = reference.layernorm_forward(Z, gamma, beta)
    np.testing.assert_allclose(Z_norm, Z_norm_t.T, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(mu, mu_t.T, rtol=1e-12)
    np.testing.assert_allclose(var, var_t.T, rtol=1e-12)
    np.testing.assert_allclose(Z_tilde, gamma * Z_norm_t.T + beta, rtol=1e-12, atol=1e-12)


def test_each_example_on_its_own(bn_inputs):
    Z, gamma, beta, _ = bn_inputs(4, 6, seed=5)
    Z_tilde, _ = reference.layernorm_forward(Z, gamma, beta)
    for i in range(Z.shape[1]):
        alone, _ = reference.layernorm_forward(Z[:, i : i + 1], gamma, beta)
        np.testing.assert_allclose(alone[:, 0], Z_tilde[:, i], rtol=1e-14)
    Z_other = Z.copy()
    Z_other[:, 1:] *= 100.0
    other, _ = reference.layernorm_forward(Z_other, gamma, beta)
    np.testing.assert_array_equal(other[:, 0], Z_tilde[:, 0])


def test_a_shift_or_a_positive_scale_of_one_example_changes_nothing(bn_inputs):
    Z, gamma, beta, _ = bn_inputs(6, 4, seed=6)
    Z_tilde, _ = reference.layernorm_forward(Z, gamma, beta, eps=0.0)
    shifted = Z + np.array([[3.0, -40.0, 0.5, 7.0]])
    scaled = Z * np.array([[2.0, 0.1, 10.0, 1.0]])
    for changed in (shifted, scaled):
        np.testing.assert_allclose(
            reference.layernorm_forward(changed, gamma, beta, eps=0.0)[0], Z_tilde, rtol=1e-10
        )


def test_a_bias_per_unit_is_not_cancelled(bn_inputs):
    """Unlike Batch Norm: a b[l] with different entries changes Layer Norm's output;
    only its average over the units is cancelled (the written answer of notebook 07)."""
    Z, gamma, beta, _ = bn_inputs(5, 6, seed=7)
    b = np.array([[1.0], [-2.0], [0.5], [3.0], [0.0]])
    Z_tilde, _ = reference.layernorm_forward(Z, gamma, beta)
    assert not np.allclose(reference.layernorm_forward(Z + b, gamma, beta)[0], Z_tilde)
    constant = np.full((5, 1), 2.5)
    np.testing.assert_allclose(
        reference.layernorm_forward(Z + constant, gamma, beta)[0], Z_tilde, rtol=1e-12
    )


def test_columns_have_mean_0_and_variance_var_over_var_plus_eps(bn_inputs):
    Z, gamma, beta, _ = bn_inputs(6, 5, seed=8, scale=0.01)  # small var: eps shows
    _, (_, Z_norm, _, var, *_) = reference.layernorm_forward(Z, gamma, beta)
    np.testing.assert_allclose(Z_norm.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(Z_norm.var(axis=0, keepdims=True), var / (var + EPS), rtol=1e-10)


def test_a_constant_example_gives_beta():
    Z = np.array([[2.0, 1.0], [2.0, -1.0], [2.0, 4.0]])
    gamma, beta = np.array([[1.5], [0.5], [2.0]]), np.array([[0.1], [-0.2], [0.3]])
    Z_tilde, (_, Z_norm, _, var, *_) = reference.layernorm_forward(Z, gamma, beta)
    assert var[0, 0] == 0
    np.testing.assert_array_equal(Z_norm[:, 0], 0)
    np.testing.assert_allclose(Z_tilde[:, 0], beta[:, 0])


def test_forward_keeps_float32(bn_inputs):
    Z, gamma, beta, _ = bn_inputs(4, 6, seed=9, dtype=np.float32)
    Z_tilde, cache = reference.layernorm_forward(Z, gamma, beta)
    assert Z_tilde.dtype == np.float32 and cache[1].dtype == np.float32
    want = expected_ln(*(a.astype(np.float64) for a in (Z, gamma, beta)))[0]
    np.testing.assert_allclose(Z_tilde, want, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------ backward

BACKWARD_CASES = {
    "n_l=4, m=6": (dict(n=4, m=6, seed=11), EPS),
    "n_l=6, m=3": (dict(n=6, m=3, seed=12), EPS),
    "m=1": (dict(n=5, m=1, seed=13), EPS),
    "n_l=2": (dict(n=2, m=5, seed=14), 0.5),
    "offset 50": (dict(n=3, m=8, seed=15, offset=50.0), EPS),
    "eps=1e-2, small var": (dict(n=4, m=5, seed=16, scale=0.1), 1e-2),
}


@pytest.mark.parametrize("case", BACKWARD_CASES, ids=str)
def test_backward_matches_numeric_gradients(bn_inputs, case):
    inputs, eps = BACKWARD_CASES[case]
    Z, gamma, beta, dZ_tilde = bn_inputs(**inputs)

    def forward(Z, gamma, beta):
        return reference.layernorm_forward(Z, gamma, beta, eps)

    _, cache = forward(Z, gamma, beta)
    dZ, dgamma, dbeta = reference.layernorm_backward(dZ_tilde, cache)
    assert dZ.shape == Z.shape and dgamma.shape == gamma.shape and dbeta.shape == beta.shape
    numeric = bn_numeric_gradients(forward, Z, gamma, beta, dZ_tilde)
    for name, got, want in zip(("dZ", "dgamma", "dbeta"), (dZ, dgamma, dbeta), numeric):
        error = relative_error(got, want)
        assert error < TOL, f"{name}: relative error {error:.2e}"


def test_backward_with_a_constant_example_and_gamma_zero(bn_inputs):
    Z, gamma, beta, dZ_tilde = bn_inputs(5, 4, seed=17)
    Z[:, 1] = -3.0
    gamma[2] = 0.0
    _, cache = reference.layernorm_forward(Z, gamma, beta)
    dZ, dgamma, dbeta = reference.layernorm_backward(dZ_tilde, cache)
    np.testing.assert_allclose(dZ.sum(axis=0), 0, atol=1e-9)  # a shift of a column: no effect
    assert abs(dgamma[2, 0]) > 1e-3  # gamma = 0 still learns
    numeric = bn_numeric_gradients(reference.layernorm_forward, Z, gamma, beta, dZ_tilde, h=1e-6)
    for name, got, want in zip(("dZ", "dgamma", "dbeta"), (dZ, dgamma, dbeta), numeric):
        error = relative_error(got, want)
        assert error < TOL, f"{name}: relative error {error:.2e}"


def test_gamma_cannot_be_factored_out_as_in_batch_norm(bn_inputs):
    """Batch Norm's closed form with the axis swapped is right only when all gammas are equal."""
    Z, gamma, beta, dZ_tilde = bn_inputs(5, 4, seed=18)
    _, cache = reference.layernorm_forward(Z, gamma, beta)
    _, Z_norm, _, var, *_ = cache
    n = Z.shape[0]

    def factored(gamma):
        dbeta = dZ_tilde.sum(axis=0, keepdims=True)
        dgamma = (dZ_tilde * Z_norm).sum(axis=0, keepdims=True)
        return gamma / np.sqrt(var + EPS) * (dZ_tilde - (dbeta + Z_norm * dgamma) / n)

    dZ = reference.layernorm_backward(dZ_tilde, cache)[0]
    assert not np.allclose(factored(gamma), dZ)
    same = np.full_like(gamma, 1.7)
    _, cache_same = reference.layernorm_forward(Z, same, beta)
    np.testing.assert_allclose(
        factored(same), reference.layernorm_backward(dZ_tilde, cache_same)[0], rtol=1e-10
    )


# ------------------------------------------------------- the Layer Norm network


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_the_layer_norm_network_has_the_right_gradients(network, layer_norm_network, activation):
    X, Y, parameters = network([4, 5, 3, 3], m=6, seed=31)
    forward, backward = layer_norm_network
    AL, caches = forward(X, parameters, activation)
    grads = backward(AL, Y, caches)

    def cost():
        AL, _ = forward(X, parameters, activation)
        return float(-np.sum(Y * np.log(AL)) / X.shape[1])

    for key, value in parameters.items():
        error = relative_error(grads["d" + key], numeric_gradient(cost, value))
        assert error < TOL, f"d{key}: relative error {error:.2e}"


def test_the_layer_norm_network_trains_on_one_example_per_step(network, layer_norm_network):
    """No batch statistics: mini-batches of 1 train it, and predictions are per example."""
    X, _, parameters = network([4, 6, 3], m=30, seed=32)
    labels = np.argmax(np.random.default_rng(33).standard_normal((3, 4)) @ X, axis=0)
    Y = np.eye(3)[:, labels]  # classes a network can learn from X
    forward, backward = layer_norm_network
    using = {
        "random_mini_batches": reference.random_mini_batches,
        "model_forward": forward,
        "model_backward": backward,
        "update_parameters_with_adam": reference.update_parameters_with_adam,
    }
    trained, history = training.train(
        X, Y, parameters, using, optimizer="adam", num_epochs=20, mini_batch_size=1
    )
    assert "running" not in history
    assert history["epoch_cost"][-1] < 0.5 * history["epoch_cost"][0]
    together = training.predict(X, trained, using)
    alone = [training.predict(X[:, i : i + 1], trained, using)[0] for i in range(X.shape[1])]
    np.testing.assert_array_equal(together, alone)
