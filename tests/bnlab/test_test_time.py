"""Batch Norm at test time: running averages, inference-mode forward, and how train feeds them."""

import numpy as np
import pytest

from autograder.content import reference
from bnlab import training
from bnlab.data import one_hot

EPS = 1e-5


# ------------------------------------------------------ update_running_averages


def test_running_averages_follow_the_pytorch_convention():
    rng = np.random.default_rng(1)
    running_mean, running_var = rng.standard_normal((4, 1)), rng.uniform(0.5, 2, (4, 1))
    batches = [(rng.standard_normal((4, 1)), rng.uniform(0.5, 2, (4, 1))) for _ in range(2)]
    mean, var = running_mean, running_var
    expected_mean, expected_var = running_mean.copy(), running_var.copy()
    for mu, batch_var in batches:
        mean, var = reference.update_running_averages(mean, var, mu, batch_var, momentum=0.3)
        for i in range(4):  # the new value weighs 0.3
            expected_mean[i, 0] = 0.7 * expected_mean[i, 0] + 0.3 * mu[i, 0]
            expected_var[i, 0] = 0.7 * expected_var[i, 0] + 0.3 * batch_var[i, 0]
        np.testing.assert_allclose(mean, expected_mean, rtol=1e-14)
        np.testing.assert_allclose(var, expected_var, rtol=1e-14)
    assert mean.shape == (4, 1) and var.shape == (4, 1)


def test_running_averages_momentum_extremes_and_default():
    old_mean, old_var = np.full((3, 1), 2.0), np.full((3, 1), 5.0)
    mu, var = np.array([[1.0], [-1.0], [0.5]]), np.array([[0.1], [0.2], [0.3]])
    mean, new_var = reference.update_running_averages(old_mean, old_var, mu, var, momentum=1.0)
    np.testing.assert_array_equal(mean, mu)
    np.testing.assert_array_equal(new_var, var)
    mean, new_var = reference.update_running_averages(old_mean, old_var, mu, var, momentum=0.0)
    np.testing.assert_array_equal(mean, old_mean)
    np.testing.assert_array_equal(new_var, old_var)
    mean, new_var = reference.update_running_averages(old_mean, old_var, mu, var)
    np.testing.assert_allclose(mean, 0.9 * old_mean + 0.1 * mu, rtol=1e-15)
    np.testing.assert_allclose(new_var, 0.9 * old_var + 0.1 * var, rtol=1e-15)


def test_running_averages_converge_to_a_constant_input():
    mean, var = np.zeros((2, 1)), np.ones((2, 1))
    mu, batch_var = np.array([[3.0], [-2.0]]), np.array([[0.25], [4.0]])
    for _ in range(300):
        mean, var = reference.update_running_averages(mean, var, mu, batch_var)
    np.testing.assert_allclose(mean, mu, rtol=1e-12)
    np.testing.assert_allclose(var, batch_var, rtol=1e-12)


# -------------------------------------------------- batchnorm_forward_inference


def inference_inputs(n=4, m=6, seed=2):
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, m)) * 3 + 1
    gamma, beta = rng.uniform(0.5, 2, (n, 1)), rng.standard_normal((n, 1))
    running_mean, running_var = rng.standard_normal((n, 1)), rng.uniform(0.5, 4, (n, 1))
    return Z, gamma, beta, running_mean, running_var


def test_inference_matches_the_formula():
    Z, gamma, beta, running_mean, running_var = inference_inputs()
    Z_tilde = reference.batchnorm_forward_inference(Z, gamma, beta, running_mean, running_var)
    assert Z_tilde.shape == Z.shape
    for i, j in np.ndindex(Z.shape):
        z_norm = (Z[i, j] - running_mean[i, 0]) / np.sqrt(running_var[i, 0] + EPS)
        assert Z_tilde[i, j] == pytest.approx(gamma[i, 0] * z_norm + beta[i, 0], rel=1e-12)
    with_eps = reference.batchnorm_forward_inference(
        Z, gamma, beta, running_mean, running_var, eps=0.5
    )
    np.testing.assert_allclose(
        with_eps, gamma * (Z - running_mean) / np.sqrt(running_var + 0.5) + beta, rtol=1e-12
    )


def test_inference_output_of_one_example_ignores_the_others():
    Z, gamma, beta, running_mean, running_var = inference_inputs(m=7)
    batch = reference.batchnorm_forward_inference(Z, gamma, beta, running_mean, running_var)
    for j in range(Z.shape[1]):
        alone = reference.batchnorm_forward_inference(
            Z[:, j : j + 1], gamma, beta, running_mean, running_var
        )
        assert alone.shape == (Z.shape[0], 1)
        np.testing.assert_allclose(alone[:, 0], batch[:, j], rtol=1e-15)
    # change every other example: example 0's output stays
    Z_other = Z.copy()
    Z_other[:, 1:] = 100.0
    other = reference.batchnorm_forward_inference(Z_other, gamma, beta, running_mean, running_var)
    np.testing.assert_array_equal(other[:, 0], batch[:, 0])


def test_inference_equals_training_mode_with_the_batch_statistics():
    Z, gamma, beta, _, _ = inference_inputs(n=5, m=9, seed=3)
    Z_tilde_train, cache = reference.batchnorm_forward(Z, gamma, beta)
    mu, var = Z.mean(axis=1, keepdims=True), Z.var(axis=1, keepdims=True)
    Z_tilde_test = reference.batchnorm_forward_inference(Z, gamma, beta, mu, var)
    np.testing.assert_allclose(Z_tilde_test, Z_tilde_train, rtol=1e-12, atol=1e-12)
    # and with the cached statistics too
    Z_tilde_cached = reference.batchnorm_forward_inference(Z, gamma, beta, cache[2], cache[3])
    np.testing.assert_allclose(Z_tilde_cached, Z_tilde_train, rtol=1e-12, atol=1e-12)


def test_inference_keeps_float32():
    Z, gamma, beta, running_mean, running_var = (
        a.astype(np.float32) for a in inference_inputs(seed=4)
    )
    Z_tilde = reference.batchnorm_forward_inference(Z, gamma, beta, running_mean, running_var)
    assert Z_tilde.dtype == np.float32
    Z, gamma, beta, running_mean, running_var = (
        a.astype(np.float64) for a in (Z, gamma, beta, running_mean, running_var)
    )
    expected = gamma * (Z - running_mean) / np.sqrt(running_var + EPS) + beta
    np.testing.assert_allclose(Z_tilde, expected, rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------- training.train


def small_problem(m=50, seed=5):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((4, m)) * 2 + 1
    Y = one_hot(rng.integers(0, 3, m), 3)
    return X, Y


def test_train_feeds_the_unbiased_batch_variance():
    X, Y = small_problem(m=50)
    parameters = reference.initialize_parameters([4, 5, 3, 3], seed=5)
    fed, steps = [], []

    def spy(running_mean, running_var, mu, var, momentum=0.1):
        fed.append((mu.copy(), var.copy(), momentum))
        return reference.update_running_averages(running_mean, running_var, mu, var, momentum)

    def callback(step, parameters, caches):
        steps.append([cache[1][0].copy() for cache in caches[:-1]])  # Z of each BN layer

    _, history = training.train(
        X,
        Y,
        parameters,
        [{"update_running_averages": spy}, reference],
        optimizer="adam",
        learning_rate=0.01,
        num_epochs=2,
        mini_batch_size=16,
        momentum=0.2,
        callback=callback,
    )
    assert len(steps) == 2 * 4 and len(fed) == 2 * len(steps)  # 4 batches per epoch, 2 layers
    expected = {"mean1": np.zeros((5, 1)), "var1": np.ones((5, 1))}
    expected.update({"mean2": np.zeros((3, 1)), "var2": np.ones((3, 1))})
    fed_iter = iter(fed)
    for Zs in steps:
        for l, Z in enumerate(Zs, start=1):
            mu, var, momentum = next(fed_iter)
            assert momentum == 0.2
            np.testing.assert_allclose(mu, Z.mean(axis=1, keepdims=True), rtol=1e-12)
            np.testing.assert_allclose(var, Z.var(axis=1, ddof=1, keepdims=True), rtol=1e-12)
            expected[f"mean{l}"] = 0.8 * expected[f"mean{l}"] + 0.2 * mu
            expected[f"var{l}"] = 0.8 * expected[f"var{l}"] + 0.2 * var
    assert set(history["running"]) == set(expected)
    for key in expected:
        np.testing.assert_allclose(history["running"][key], expected[key], rtol=1e-12)


def test_train_survives_a_last_batch_of_one_example():
    X, Y = small_problem(m=17)
    parameters = reference.initialize_parameters([4, 3, 3], seed=6)
    _, history = training.train(X, Y, parameters, reference, num_epochs=1, mini_batch_size=8)
    assert len(history["cost"]) == 3
    assert all(np.all(np.isfinite(v)) for v in history["running"].values())


def test_predict_with_running_averages_is_per_example():
    X, Y = small_problem(m=40)
    parameters = reference.initialize_parameters([4, 6, 3], seed=7)
    parameters, history = training.train(
        X, Y, parameters, reference, optimizer="momentum", learning_rate=0.1, num_epochs=3
    )
    running = history["running"]
    AL = training.forward_inference(X, parameters, running, reference)
    np.testing.assert_allclose(AL.sum(axis=0), 1, rtol=1e-12)
    AL_first = training.forward_inference(X[:, :1], parameters, running, reference)
    np.testing.assert_allclose(AL_first[:, 0], AL[:, 0], rtol=1e-12)
    # the inference path uses the running averages, the same as BN by hand
    Z1 = parameters["W1"] @ X
    Z_tilde = reference.batchnorm_forward_inference(
        Z1, parameters["gamma1"], parameters["beta1"], running["mean1"], running["var1"]
    )
    A1 = np.maximum(Z_tilde, 0)
    ZL = parameters["W2"] @ A1 + parameters["b2"]
    E = np.exp(ZL - ZL.max(axis=0))
    np.testing.assert_allclose(AL, E / E.sum(axis=0), rtol=1e-10)
    predictions = training.predict(X, parameters, reference, running)
    np.testing.assert_array_equal(predictions, np.argmax(AL, axis=0))


# ---------------------------------------------------------- model_forward_inference


def trained_network(layer_dims, m, seed):
    """X, parameters with non-default gamma, beta and b, and running averages."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((layer_dims[0], m))
    parameters = reference.initialize_parameters(layer_dims, seed=seed)
    running = {}
    for l, n_l in enumerate(layer_dims[1:-1], start=1):
        parameters[f"gamma{l}"] = rng.uniform(0.5, 1.5, (n_l, 1))
        parameters[f"beta{l}"] = rng.standard_normal((n_l, 1))
        running[f"mean{l}"] = rng.standard_normal((n_l, 1))
        running[f"var{l}"] = rng.uniform(0.5, 2.0, (n_l, 1))
    parameters[f"b{len(layer_dims) - 1}"] = rng.standard_normal((layer_dims[-1], 1))
    return X, parameters, running


def by_hand(X, parameters, running, activation):
    """The network at test time, written out from the lecture's formulas."""
    g = {
        "relu": lambda z: np.maximum(z, 0),
        "tanh": np.tanh,
        "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
    }
    L = len([k for k in parameters if k.startswith("W")])
    A = X
    for l in range(1, L):
        Z = parameters[f"W{l}"] @ A
        Z_norm = (Z - running[f"mean{l}"]) / np.sqrt(running[f"var{l}"] + EPS)
        A = g[activation](parameters[f"gamma{l}"] * Z_norm + parameters[f"beta{l}"])
    ZL = parameters[f"W{L}"] @ A + parameters[f"b{L}"]
    E = np.exp(ZL - ZL.max(axis=0))
    return E / E.sum(axis=0)


@pytest.mark.parametrize(
    "layer_dims, activation",
    [([4, 5, 3], "relu"), ([6, 5, 4, 3], "tanh"), ([3, 4, 4, 4, 2], "sigmoid")],
)
def test_model_forward_inference_matches_the_formulas(layer_dims, activation):
    X, parameters, running = trained_network(layer_dims, 7, seed=len(layer_dims))
    AL = reference.model_forward_inference(X, parameters, running, activation)
    assert AL.shape == (layer_dims[-1], 7)
    np.testing.assert_allclose(AL, by_hand(X, parameters, running, activation), rtol=1e-12)
    np.testing.assert_allclose(AL.sum(axis=0), 1, rtol=1e-12)


def test_model_forward_inference_is_per_example():
    X, parameters, running = trained_network([5, 6, 4, 3], 9, seed=21)
    AL = reference.model_forward_inference(X, parameters, running)
    for j in range(X.shape[1]):
        alone = reference.model_forward_inference(X[:, j : j + 1], parameters, running)
        np.testing.assert_allclose(alone[:, 0], AL[:, j], rtol=1e-12)


def test_model_forward_inference_with_the_batch_statistics_is_model_forward():
    """Running averages that happen to equal this batch's mean and biased variance, layer
    by layer, give training mode's output."""
    X, parameters, _ = trained_network([5, 6, 4, 3], 12, seed=22)
    AL_train, caches = reference.model_forward(X, parameters)
    batch = {}
    for l, (mu, var) in enumerate(training.bn_statistics(caches), start=1):
        batch[f"mean{l}"], batch[f"var{l}"] = mu, var
    AL_test = reference.model_forward_inference(X, parameters, batch)
    np.testing.assert_allclose(AL_test, AL_train, rtol=1e-10, atol=1e-12)


def test_predict_needs_model_forward_inference_for_running_averages():
    X, parameters, running = trained_network([4, 5, 3], 6, seed=23)
    namespace = {"model_forward": reference.model_forward}
    with pytest.raises(NameError, match="model_forward_inference"):
        training.predict(X, parameters, namespace, running)
    # without running averages, model_forward is enough
    assert training.predict(X, parameters, namespace).shape == (6,)
