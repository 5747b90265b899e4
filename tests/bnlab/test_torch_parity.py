"""Parity with PyTorch, in float64: training-mode Batch Norm and its gradients,
the running statistics and inference output of torch.nn.BatchNorm1d, the
gradients of a whole network and its output at test time, and Layer Norm (one
layer and a network) against torch.nn.functional.layer_norm and nn.LayerNorm.
torch stores examples as rows: we transpose.

Skipped where torch is not installed.
"""

import numpy as np
import pytest

from autograder.content import reference
from bnlab import training
from bnlab.activations import compute_cost
from bnlab.data import one_hot

torch = pytest.importorskip("torch")
F = torch.nn.functional

TOL = 1e-10
EPS = 1e-5


def t(array, grad=False):
    """A float64 torch tensor of `array` (copied), optionally tracking gradients."""
    return torch.tensor(np.array(array, dtype=np.float64), requires_grad=grad)


def n(tensor):
    return tensor.detach().numpy()


def max_diff(a, b):
    return float(np.max(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))))


BN_CASES = {
    "n_l=4, m=6": (4, 6, 0.0, EPS),
    "n_l=7, m=3": (7, 3, 0.0, EPS),
    "m=2": (3, 2, 0.0, EPS),
    "offset 1e3": (5, 16, 1e3, EPS),
    "eps=1e-3": (3, 8, 0.0, 1e-3),
}


@pytest.mark.parametrize("case", BN_CASES, ids=str)
def test_batchnorm_training_forward_and_gradients(case):
    n_l, m, offset, eps = BN_CASES[case]
    Z, gamma, beta, dZ_tilde = _layer_inputs(n_l, m, offset, seed=list(BN_CASES).index(case))
    _assert_layer_matches_torch(
        lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True, eps=eps),
        reference.batchnorm_forward,
        [reference.batchnorm_backward, reference.batchnorm_backward_staged],
        (Z, gamma, beta, dZ_tilde, eps),
    )


def _layer_inputs(n_l, m, offset, seed, column_shifts=False):
    """Z (n_l, m) of spread 2 around `offset` (plus a shift per example when
    `column_shifts`), gamma (n_l, 1) of either sign with unit 0 switched off when n_l > 3,
    beta (n_l, 1) and an upstream dZ_tilde (n_l, m)."""
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n_l, m)) * 2 + offset
    if column_shifts:
        Z = Z + rng.standard_normal((1, m))
    gamma, beta = rng.uniform(-2, 2, (n_l, 1)), rng.standard_normal((n_l, 1))
    if n_l > 3:
        gamma[0] = 0.0  # a unit switched off
    return Z, gamma, beta, rng.standard_normal((n_l, m))


def _assert_layer_matches_torch(torch_layer, forward, backwards, inputs):
    """`forward` and each of `backwards` against `torch_layer(x, weight, bias)` on our Z
    transposed, (m, n_l), with weight and bias of shape (n_l,): values and gradients."""
    Z, gamma, beta, dZ_tilde, eps = inputs
    x, weight, bias = t(Z.T, True), t(gamma.ravel(), True), t(beta.ravel(), True)
    out = torch_layer(x, weight, bias)
    (out * t(dZ_tilde.T)).sum().backward()

    Z_tilde, cache = forward(Z, gamma, beta, eps)
    assert max_diff(Z_tilde, n(out).T) < TOL
    for backward in backwards:
        dZ, dgamma, dbeta = backward(dZ_tilde, cache)
        assert max_diff(dZ, n(x.grad).T) < TOL, backward.__name__
        assert max_diff(dgamma.ravel(), n(weight.grad)) < TOL, backward.__name__
        assert max_diff(dbeta.ravel(), n(bias.grad)) < TOL, backward.__name__


def test_running_statistics_and_inference_match_batchnorm1d():
    rng = np.random.default_rng(7)
    n_l = 5
    layer = torch.nn.BatchNorm1d(n_l, eps=EPS, momentum=0.1, dtype=torch.float64)
    gamma, beta = rng.uniform(0.5, 2, (n_l, 1)), rng.standard_normal((n_l, 1))
    with torch.no_grad():
        layer.weight.copy_(t(gamma.ravel()))
        layer.bias.copy_(t(beta.ravel()))
    running = training.initialize_running_averages({"gamma1": gamma})
    running_mean, running_var = running["mean1"], running["var1"]
    np.testing.assert_array_equal(running_mean.ravel(), n(layer.running_mean))
    np.testing.assert_array_equal(running_var.ravel(), n(layer.running_var))

    layer.train()
    for step, m in enumerate([8, 8, 5, 16, 2, 9]):
        Z = rng.standard_normal((n_l, m)) * (1 + step) + rng.standard_normal((n_l, 1)) * 3
        out = layer(t(Z.T))
        Z_tilde, cache = reference.batchnorm_forward(Z, gamma, beta)
        assert max_diff(Z_tilde, n(out).T) < TOL
        mu, var = cache[2], cache[3]
        running_mean, running_var = reference.update_running_averages(
            running_mean, running_var, mu, var * m / (m - 1), momentum=0.1
        )
        assert max_diff(running_mean.ravel(), n(layer.running_mean)) < TOL, f"step {step}"
        assert max_diff(running_var.ravel(), n(layer.running_var)) < TOL, f"step {step}"

    layer.eval()
    Z_test = rng.standard_normal((n_l, 11)) * 2
    out = layer(t(Z_test.T))
    Z_tilde = reference.batchnorm_forward_inference(Z_test, gamma, beta, running_mean, running_var)
    assert max_diff(Z_tilde, n(out).T) < TOL


def test_train_running_averages_match_batchnorm1d():
    """The running averages training.train collects, against BatchNorm1d layers fed the
    same pre-activations Z, mini-batch after mini-batch."""
    rng = np.random.default_rng(8)
    X, Y = rng.standard_normal((6, 70)), one_hot(rng.integers(0, 3, 70), 3)
    parameters = reference.initialize_parameters([6, 5, 4, 3], seed=8)
    layers = [torch.nn.BatchNorm1d(k, eps=EPS, momentum=0.1, dtype=torch.float64) for k in (5, 4)]

    def feed(step, parameters, caches):
        for layer, cache in zip(layers, caches[:-1]):
            layer(t(cache[1][0].T))  # training mode: updates running_mean and running_var

    _, history = training.train(
        X,
        Y,
        parameters,
        reference,
        optimizer="adam",
        learning_rate=0.01,
        num_epochs=2,
        mini_batch_size=16,
        callback=feed,
    )
    for l, layer in enumerate(layers, start=1):
        assert max_diff(history["running"][f"mean{l}"].ravel(), n(layer.running_mean)) < TOL
        assert max_diff(history["running"][f"var{l}"].ravel(), n(layer.running_var)) < TOL


TORCH_ACTIVATION = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_network_gradients_match_torch(activation):
    dims, m = [6, 5, 4, 3], 10
    rng = np.random.default_rng(9)
    X = rng.standard_normal((dims[0], m))
    labels = rng.integers(0, dims[-1], m)
    Y = one_hot(labels, dims[-1])
    parameters = reference.initialize_parameters(dims, seed=9)
    for key, value in parameters.items():
        if key.startswith("gamma"):
            parameters[key] = rng.uniform(0.5, 1.5, value.shape)
        elif key.startswith(("beta", "b")):
            parameters[key] = rng.standard_normal(value.shape) * 0.3
    L = len(dims) - 1

    hidden = []
    for l in range(1, L):
        linear = torch.nn.Linear(dims[l - 1], dims[l], bias=False, dtype=torch.float64)
        bn = torch.nn.BatchNorm1d(dims[l], eps=EPS, momentum=0.1, dtype=torch.float64)
        with torch.no_grad():
            linear.weight.copy_(t(parameters[f"W{l}"]))
            bn.weight.copy_(t(parameters[f"gamma{l}"].ravel()))
            bn.bias.copy_(t(parameters[f"beta{l}"].ravel()))
        hidden.append((linear, bn))
    output = torch.nn.Linear(dims[L - 1], dims[L], bias=True, dtype=torch.float64)
    with torch.no_grad():
        output.weight.copy_(t(parameters[f"W{L}"]))
        output.bias.copy_(t(parameters[f"b{L}"].ravel()))

    a = t(X.T)
    for linear, bn in hidden:
        a = TORCH_ACTIVATION[activation](bn(linear(a)))
    logits = output(a)
    loss = F.cross_entropy(logits, torch.tensor(labels))
    loss.backward()

    AL, caches = reference.model_forward(X, parameters, activation)
    grads = reference.model_backward(AL, Y, caches)
    assert abs(compute_cost(AL, Y) - loss.item()) < TOL
    assert max_diff(AL, n(torch.softmax(logits, dim=1)).T) < TOL
    assert set(grads) == {"d" + key for key in parameters}
    for l, (linear, bn) in enumerate(hidden, start=1):
        assert max_diff(grads[f"dW{l}"], n(linear.weight.grad)) < TOL, f"dW{l}"
        assert max_diff(grads[f"dgamma{l}"].ravel(), n(bn.weight.grad)) < TOL, f"dgamma{l}"
        assert max_diff(grads[f"dbeta{l}"].ravel(), n(bn.bias.grad)) < TOL, f"dbeta{l}"
    assert max_diff(grads[f"dW{L}"], n(output.weight.grad)) < TOL, f"dW{L}"
    assert max_diff(grads[f"db{L}"].ravel(), n(output.bias.grad)) < TOL, f"db{L}"


# ------------------------------------------------------------------ test time and Layer Norm


def test_model_forward_inference_matches_a_torch_network_in_eval_mode():
    """The whole network at test time: Linear(bias=False) + BatchNorm1d (eval, with its running
    statistics) + activation per hidden layer, Linear + softmax at the output."""
    dims, m = [6, 5, 4, 3], 9
    rng = np.random.default_rng(10)
    X = rng.standard_normal((dims[0], m))
    parameters = reference.initialize_parameters(dims, seed=10)
    running = {}
    L = len(dims) - 1
    layers = []
    for l in range(1, L):
        parameters[f"gamma{l}"] = rng.uniform(0.5, 1.5, (dims[l], 1))
        parameters[f"beta{l}"] = rng.standard_normal((dims[l], 1))
        running[f"mean{l}"] = rng.standard_normal((dims[l], 1))
        running[f"var{l}"] = rng.uniform(0.3, 3.0, (dims[l], 1))
        linear = torch.nn.Linear(dims[l - 1], dims[l], bias=False, dtype=torch.float64)
        bn = torch.nn.BatchNorm1d(dims[l], eps=EPS, dtype=torch.float64)
        with torch.no_grad():
            linear.weight.copy_(t(parameters[f"W{l}"]))
            bn.weight.copy_(t(parameters[f"gamma{l}"].ravel()))
            bn.bias.copy_(t(parameters[f"beta{l}"].ravel()))
            bn.running_mean.copy_(t(running[f"mean{l}"].ravel()))
            bn.running_var.copy_(t(running[f"var{l}"].ravel()))
        layers += [linear, bn, torch.nn.Tanh()]
    parameters[f"b{L}"] = rng.standard_normal((dims[L], 1))
    output = torch.nn.Linear(dims[L - 1], dims[L], dtype=torch.float64)
    with torch.no_grad():
        output.weight.copy_(t(parameters[f"W{L}"]))
        output.bias.copy_(t(parameters[f"b{L}"].ravel()))
    net = torch.nn.Sequential(*layers, output).eval()
    expected = n(torch.softmax(net(t(X.T)), dim=1)).T
    AL = reference.model_forward_inference(X, parameters, running, "tanh")
    assert max_diff(AL, expected) < TOL


LN_CASES = {
    "n_l=4, m=6": (4, 6, 0.0, EPS),
    "n_l=7, m=3": (7, 3, 0.0, EPS),
    "m=1": (5, 1, 0.0, EPS),
    "n_l=2": (2, 5, 0.0, EPS),
    "offset 1e3": (6, 4, 1e3, EPS),
    "eps=1e-3": (3, 8, 0.0, 1e-3),
}


@pytest.mark.parametrize("case", LN_CASES, ids=str)
def test_layer_norm_forward_and_gradients(case):
    """torch.nn.functional.layer_norm normalizes the last axis: our Z transposed, (m, n_l),
    with normalized_shape (n_l,) and weight and bias of shape (n_l,)."""
    n_l, m, offset, eps = LN_CASES[case]
    seed = 20 + list(LN_CASES).index(case)
    _assert_layer_matches_torch(
        lambda x, w, b: F.layer_norm(x, (n_l,), w, b, eps=eps),
        reference.layernorm_forward,
        [reference.layernorm_backward],
        (*_layer_inputs(n_l, m, offset, seed, column_shifts=True), eps),
    )


def test_layer_norm_network_gradients_match_torch(layer_norm_network):
    """The reference network with Layer Norm in place of Batch Norm (notebook 07's network)
    against Linear(bias=False) + nn.LayerNorm + ReLU layers."""
    dims, m = [6, 5, 4, 3], 8
    rng = np.random.default_rng(30)
    X = rng.standard_normal((dims[0], m))
    labels = rng.integers(0, dims[-1], m)
    Y = one_hot(labels, dims[-1])
    parameters = reference.initialize_parameters(dims, seed=30)
    L = len(dims) - 1
    hidden = []
    for l in range(1, L):
        parameters[f"gamma{l}"] = rng.uniform(0.5, 1.5, (dims[l], 1))
        parameters[f"beta{l}"] = rng.standard_normal((dims[l], 1)) * 0.3
        linear = torch.nn.Linear(dims[l - 1], dims[l], bias=False, dtype=torch.float64)
        ln = torch.nn.LayerNorm(dims[l], eps=EPS, dtype=torch.float64)
        with torch.no_grad():
            linear.weight.copy_(t(parameters[f"W{l}"]))
            ln.weight.copy_(t(parameters[f"gamma{l}"].ravel()))
            ln.bias.copy_(t(parameters[f"beta{l}"].ravel()))
        hidden.append((linear, ln))
    output = torch.nn.Linear(dims[L - 1], dims[L], dtype=torch.float64)
    with torch.no_grad():
        output.weight.copy_(t(parameters[f"W{L}"]))
        output.bias.copy_(t(parameters[f"b{L}"].ravel()))
    a = t(X.T)
    for linear, ln in hidden:
        a = torch.relu(ln(linear(a)))
    loss = F.cross_entropy(output(a), torch.tensor(labels))
    loss.backward()

    model_forward, model_backward = layer_norm_network
    AL, caches = model_forward(X, parameters, "relu")
    grads = model_backward(AL, Y, caches)
    assert abs(compute_cost(AL, Y) - loss.item()) < TOL
    for l, (linear, ln) in enumerate(hidden, start=1):
        assert max_diff(grads[f"dW{l}"], n(linear.weight.grad)) < TOL, f"dW{l}"
        assert max_diff(grads[f"dgamma{l}"].ravel(), n(ln.weight.grad)) < TOL, f"dgamma{l}"
        assert max_diff(grads[f"dbeta{l}"].ravel(), n(ln.bias.grad)) < TOL, f"dbeta{l}"
    assert max_diff(grads[f"dW{L}"], n(output.weight.grad)) < TOL, f"dW{L}"
    assert max_diff(grads[f"db{L}"].ravel(), n(output.bias.grad)) < TOL, f"db{L}"
