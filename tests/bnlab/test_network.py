"""The deep network with Batch Norm: parameters, mini-batches, forward, backward.

Also the building blocks it stands on: the activations, softmax and the cost.
Every backward pass is held against central differences of the cost J, the
mean over the mini-batch, with a relative error below 1e-7.
"""

import numpy as np
import pytest

from autograder.content import reference
from bnlab import activations
from bnlab.activations import ACTIVATIONS, compute_cost, softmax, softmax_cost_backward
from bnlab.gradcheck import numeric_gradient, relative_error

TOL = 1e-7


# -------------------------------------------------------------- activations


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_activation_backward_matches_numeric_gradient(activation):
    rng = np.random.default_rng(1)
    Z = rng.standard_normal((4, 6)) * 3
    Z[np.abs(Z) < 1e-3] = 0.5  # keep away from relu's kink
    dA = rng.standard_normal((4, 6))

    def loss():
        return float(np.sum(activations.activation_forward(Z, activation) * dA))

    dZ = activations.activation_backward(dA, Z, activation)
    error = relative_error(dZ, numeric_gradient(loss, Z))
    assert error < TOL, f"{activation}: relative error {error:.2e}"


def test_activations_forward_values():
    Z = np.array([[-2.0, -0.5, 0.0, 0.5, 2.0]])
    np.testing.assert_array_equal(activations.relu(Z), [[0, 0, 0, 0.5, 2.0]])
    np.testing.assert_allclose(activations.tanh(Z), np.tanh(Z))
    np.testing.assert_allclose(activations.sigmoid(Z), 1 / (1 + np.exp(-Z)), rtol=1e-15)


def test_sigmoid_does_not_overflow():
    Z = np.array([[-1000.0, -40.0, 40.0, 1000.0]])
    A = activations.sigmoid(Z)  # a RuntimeWarning would fail the test
    assert np.all((A >= 0) & (A <= 1))
    assert A[0, 0] == 0.0 and A[0, -1] == 1.0


def test_unknown_activation_is_refused():
    with pytest.raises(ValueError, match="leaky"):
        activations.activation_forward(np.zeros((2, 2)), "leaky")
    with pytest.raises(ValueError, match="leaky"):
        activations.activation_backward(np.zeros((2, 2)), np.zeros((2, 2)), "leaky")


def test_softmax_columns_sum_to_one_even_for_large_inputs():
    Z = np.array([[1000.0, -5.0, 0.0], [999.0, 5.0, 0.0], [0.0, 0.0, 0.0]])
    AL = softmax(Z)
    np.testing.assert_allclose(AL.sum(axis=0), 1, rtol=1e-15)
    expected = np.exp(Z[:, 1]) / np.exp(Z[:, 1]).sum()
    np.testing.assert_allclose(AL[:, 1], expected, rtol=1e-14)
    np.testing.assert_allclose(AL[:, 2], 1 / 3, rtol=1e-15)


def test_compute_cost_is_the_mean_cross_entropy():
    AL = np.array([[0.7, 0.1], [0.2, 0.3], [0.1, 0.6]])
    Y = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]])
    assert compute_cost(AL, Y) == pytest.approx(-(np.log(0.7) + np.log(0.6)) / 2, rel=1e-14)
    assert isinstance(compute_cost(AL, Y), float)


def test_softmax_cost_backward_matches_numeric_gradient():
    rng = np.random.default_rng(2)
    ZL = rng.standard_normal((4, 7))
    Y = np.eye(4)[:, rng.integers(0, 4, 7)]

    def loss():
        return compute_cost(softmax(ZL), Y)

    dZL = softmax_cost_backward(softmax(ZL), Y)
    error = relative_error(dZL, numeric_gradient(loss, ZL))
    assert error < TOL, f"relative error {error:.2e}"


# ------------------------------------------------------ initialize_parameters


def test_initialize_parameters_keys_and_shapes():
    dims = [7, 5, 4, 3]
    parameters = reference.initialize_parameters(dims, seed=1)
    expected = {"W1": (5, 7), "W2": (4, 5), "W3": (3, 4)}
    expected.update({"gamma1": (5, 1), "beta1": (5, 1), "gamma2": (4, 1), "beta2": (4, 1)})
    expected["b3"] = (3, 1)
    assert {k: v.shape for k, v in parameters.items()} == expected
    assert not any(k in parameters for k in ("b1", "b2", "gamma3", "beta3"))
    for l in (1, 2):
        np.testing.assert_array_equal(parameters[f"gamma{l}"], 1)
        np.testing.assert_array_equal(parameters[f"beta{l}"], 0)
    np.testing.assert_array_equal(parameters["b3"], 0)


def test_initialize_parameters_single_layer_has_no_bn():
    parameters = reference.initialize_parameters([4, 3], seed=0)
    assert set(parameters) == {"W1", "b1"}


def test_initialize_parameters_is_he_scaled():
    n_prev, n = 400, 300
    parameters = reference.initialize_parameters([n_prev, n, 10], seed=3)
    W1 = parameters["W1"]
    # 120,000 draws: the standard deviation is within 1% of sqrt(2 / n_prev)
    assert W1.std() == pytest.approx(np.sqrt(2 / n_prev), rel=0.01)
    assert abs(W1.mean()) < 5 * np.sqrt(2 / n_prev) / np.sqrt(W1.size)
    assert parameters["W2"].std() == pytest.approx(np.sqrt(2 / n), rel=0.05)


def test_initialize_parameters_follows_the_documented_draws():
    dims = [6, 4, 3]
    rng = np.random.default_rng(5)
    W1 = rng.standard_normal((4, 6)) * np.sqrt(2 / 6)
    W2 = rng.standard_normal((3, 4)) * np.sqrt(2 / 4)
    parameters = reference.initialize_parameters(dims, seed=5)
    np.testing.assert_allclose(parameters["W1"], W1, rtol=1e-15)
    np.testing.assert_allclose(parameters["W2"], W2, rtol=1e-15)


def test_initialize_parameters_is_deterministic_per_seed():
    a = reference.initialize_parameters([5, 4, 3], seed=7)
    b = reference.initialize_parameters([5, 4, 3], seed=7)
    c = reference.initialize_parameters([5, 4, 3], seed=8)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["W1"], c["W1"])


# -------------------------------------------------------- random_mini_batches


def labelled_data(m, n_x=3, C=4, seed=0):
    """X whose row 0 is the example's index, and Y whose label is index mod C."""
    rng = np.random.default_rng(seed)
    X = np.vstack([np.arange(m, dtype=float), rng.standard_normal((n_x - 1, m))])
    Y = np.eye(C)[:, np.arange(m) % C]
    return X, Y


@pytest.mark.parametrize("m, size", [(10, 4), (12, 4), (5, 64), (7, 1), (64, 64), (65, 64)])
def test_mini_batches_sizes_and_coverage(m, size):
    X, Y = labelled_data(m)
    batches = reference.random_mini_batches(X, Y, size, seed=1)
    sizes = [X_t.shape[1] for X_t, _ in batches]
    full, rest = divmod(m, size)
    assert sizes == [size] * full + ([rest] if rest else [])
    for X_t, Y_t in batches:
        assert X_t.shape[0] == X.shape[0] and Y_t.shape == (Y.shape[0], X_t.shape[1])
    seen = np.concatenate([X_t[0] for X_t, _ in batches]).astype(int)
    assert sorted(seen) == list(range(m))  # every example exactly once


def test_mini_batches_keep_each_example_with_its_label():
    X, Y = labelled_data(50)
    batches = reference.random_mini_batches(X, Y, 8, seed=2)
    for X_t, Y_t in batches:
        index = X_t[0].astype(int)
        np.testing.assert_array_equal(X_t, X[:, index])
        np.testing.assert_array_equal(Y_t, Y[:, index])


def test_mini_batches_are_shuffled_and_deterministic_per_seed():
    X, Y = labelled_data(40)
    order = [
        np.concatenate([X_t[0] for X_t, _ in batches])
        for batches in (
            reference.random_mini_batches(X, Y, 16, seed=3),
            reference.random_mini_batches(X, Y, 16, seed=3),
            reference.random_mini_batches(X, Y, 16, seed=4),
        )
    ]
    np.testing.assert_array_equal(order[0], order[1])
    assert not np.array_equal(order[0], order[2])
    assert not np.array_equal(order[0], np.arange(40))


def test_mini_batches_follow_the_documented_permutation():
    """rng = np.random.default_rng(seed); rng.permutation(m): the draws the checks expect."""
    X, Y = labelled_data(30)
    batches = reference.random_mini_batches(X, Y, 8, seed=9)
    order = np.concatenate([X_t[0] for X_t, _ in batches]).astype(int)
    np.testing.assert_array_equal(order, np.random.default_rng(9).permutation(30))


def test_mini_batches_default_size_is_64():
    X, Y = labelled_data(100)
    assert [X_t.shape[1] for X_t, _ in reference.random_mini_batches(X, Y)] == [64, 36]


# -------------------------------------------------------------- model_forward


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_model_forward_probabilities_and_caches(network, activation):
    X, Y, parameters = network([5, 4, 3, 6], m=9, seed=1)
    AL, caches = reference.model_forward(X, parameters, activation)
    assert AL.shape == (6, 9)
    assert np.all(AL > 0)
    np.testing.assert_allclose(AL.sum(axis=0), 1, rtol=1e-12)
    assert len(caches) == 3
    # the hidden layers, composed by hand
    A = X
    for l in (1, 2):
        A_expected, cache = reference.linear_bn_activation_forward(
            A, parameters[f"W{l}"], parameters[f"gamma{l}"], parameters[f"beta{l}"], activation
        )
        assert caches[l - 1][2][1] == activation
        np.testing.assert_allclose(caches[l - 1][0][0], A, rtol=1e-12)
        A = A_expected
    ZL = parameters["W3"] @ A + parameters["b3"]
    np.testing.assert_allclose(AL, softmax(ZL), rtol=1e-12)
    A_last, W_last, b_last = caches[-1]
    np.testing.assert_allclose(A_last, A, rtol=1e-12)
    np.testing.assert_array_equal(W_last, parameters["W3"])
    np.testing.assert_array_equal(b_last, parameters["b3"])


def test_model_forward_uses_the_statistics_of_the_batch(network):
    X, _, parameters = network([4, 5, 3], m=8, seed=2)
    AL, caches = reference.model_forward(X, parameters)
    Z1 = parameters["W1"] @ X
    np.testing.assert_allclose(caches[0][1][2], Z1.mean(axis=1, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(caches[0][1][3], Z1.var(axis=1, keepdims=True), rtol=1e-12)
    # so one example's output depends on the others in training mode
    AL_alone, _ = reference.model_forward(X[:, :4], parameters)
    assert not np.allclose(AL_alone, AL[:, :4])


# ------------------------------------------------------------- model_backward


def network_gradient_errors(X, Y, parameters, activation):
    AL, caches = reference.model_forward(X, parameters, activation)
    grads = reference.model_backward(AL, Y, caches)
    assert set(grads) == {"d" + key for key in parameters}

    def cost():
        return compute_cost(reference.model_forward(X, parameters, activation)[0], Y)

    errors = {}
    for key, value in parameters.items():
        assert grads["d" + key].shape == value.shape, key
        errors[key] = relative_error(grads["d" + key], numeric_gradient(cost, value))
    return errors, caches


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_model_backward_matches_numeric_gradients(network, activation):
    X, Y, parameters = network([5, 4, 3, 3], m=7, seed=11)
    errors, caches = network_gradient_errors(X, Y, parameters, activation)
    if activation == "relu":  # keep central differences away from the kinks
        assert min(np.abs(c[2][0]).min() for c in caches[:-1]) > 1e-3
    assert set(errors) == {"W1", "W2", "W3", "gamma1", "gamma2", "beta1", "beta2", "b3"}
    bad = {key: f"{e:.1e}" for key, e in errors.items() if not e < TOL}
    assert not bad, f"relative errors above {TOL}: {bad}"


def test_model_backward_deeper_and_wider_than_the_batch(network):
    X, Y, parameters = network([3, 8, 6, 5, 4], m=5, seed=12)
    errors, _ = network_gradient_errors(X, Y, parameters, "tanh")
    bad = {key: f"{e:.1e}" for key, e in errors.items() if not e < TOL}
    assert not bad, f"relative errors above {TOL}: {bad}"


def test_gradients_are_of_the_mean_cost(network):
    """Two copies of the batch: same statistics, same mean cost, same gradients."""
    X, Y, parameters = network([4, 5, 3], m=6, seed=13)
    AL, caches = reference.model_forward(X, parameters, "tanh")
    grads = reference.model_backward(AL, Y, caches)
    X2, Y2 = np.hstack([X, X]), np.hstack([Y, Y])
    AL2, caches2 = reference.model_forward(X2, parameters, "tanh")
    assert compute_cost(AL2, Y2) == pytest.approx(compute_cost(AL, Y), rel=1e-12)
    grads2 = reference.model_backward(AL2, Y2, caches2)
    for key in grads:
        np.testing.assert_allclose(grads2[key], grads[key], rtol=1e-9, atol=1e-12)


def test_hidden_dz_sums_to_zero_and_output_db_is_the_sum_of_dzl(network):
    X, Y, parameters = network([4, 5, 3], m=6, seed=14)
    AL, caches = reference.model_forward(X, parameters, "sigmoid")
    grads = reference.model_backward(AL, Y, caches)
    np.testing.assert_allclose(grads["db2"], ((AL - Y) / 6).sum(axis=1, keepdims=True), rtol=1e-12)
    # dbeta1 is the sum of dZ_tilde1, so it is not the sum of dZ1, which is 0
    A1 = caches[1][0]
    dA1 = parameters["W2"].T @ ((AL - Y) / 6)
    dZ_tilde = dA1 * A1 * (1 - A1)
    np.testing.assert_allclose(grads["dbeta1"], dZ_tilde.sum(axis=1, keepdims=True), rtol=1e-10)
    dZ1, _, _ = reference.batchnorm_backward(dZ_tilde, caches[0][1])
    np.testing.assert_allclose(dZ1.sum(axis=1), 0, atol=1e-14)
    np.testing.assert_allclose(grads["dW1"], dZ1 @ X.T, rtol=1e-10)


def test_a_bias_in_a_bn_layer_gets_zero_gradient(network):
    """Z[1] = W1 X + b1 before BN: the cost does not depend on b1."""
    X, Y, parameters = network([4, 5, 3], m=6, seed=15)
    b1 = np.random.default_rng(15).standard_normal((5, 1))

    def cost():
        Z1 = parameters["W1"] @ X + b1
        Z_tilde, _ = reference.batchnorm_forward(Z1, parameters["gamma1"], parameters["beta1"])
        A1 = np.maximum(Z_tilde, 0)
        return compute_cost(softmax(parameters["W2"] @ A1 + parameters["b2"]), Y)

    np.testing.assert_allclose(numeric_gradient(cost, b1), 0, atol=1e-9)
    # whereas the output layer's bias does matter
    b2 = parameters["b2"]
    assert np.abs(numeric_gradient(cost, b2)).max() > 1e-3
