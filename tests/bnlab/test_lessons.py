"""The helpers behind the lessons' look inside a training run (notebook 04, section 10):
the update-to-data ratio, each hidden layer's A[l] and dA[l], the `on_step` hook of
`train` with its recorder, and the two figures drawn from them.
"""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from autograder.content import reference
from bnlab import data, gradcheck, plain, plots, training
from bnlab.activations import activation_forward, compute_cost, softmax

LAYER_DIMS = [5, 4, 3, 3]


def gd_step(parameters, grads, learning_rate):
    return {key: value - learning_rate * grads["d" + key] for key, value in parameters.items()}


GD = {"update_parameters_with_gd": gd_step}


def small_problem(m=24, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((LAYER_DIMS[0], m))
    Y = data.one_hot(rng.permutation(np.arange(m) % LAYER_DIMS[-1]), LAYER_DIMS[-1])
    return X, Y


@pytest.fixture(autouse=True)
def headless_figures():
    plt.switch_backend("Agg")
    yield
    plt.close("all")


# ------------------------------------------------------- update-to-data ratio


def test_update_to_data_ratio_on_a_hand_computed_case():
    W = np.array([[1.0, -1.0], [1.0, -1.0]])  # mean 0, std 1
    dW = np.array([[2.0, -2.0], [-2.0, 2.0]])  # std 2
    # std(0.005 * dW) = 0.01, std(W) = 1: log10(0.01) = -2
    assert training.update_to_data_ratio(W, dW, 0.005) == pytest.approx(-2.0, abs=1e-12)
    # the step itself, learning rate 1: std 0.02 / std 2 -> log10(0.01)
    assert training.update_to_data_ratio(2 * W, 0.01 * dW) == pytest.approx(-2.0, abs=1e-12)
    # the mean of W does not count, only its spread
    assert training.update_to_data_ratio(W + 5, dW, 0.005) == pytest.approx(-2.0, abs=1e-12)
    assert training.update_to_data_ratio(W, np.zeros_like(W), 0.1) == -np.inf


# ------------------------------------------------- A[l] and dA[l], both networks


def _hidden_forward_bn(X, parameters):
    """A[1..L-1] of the Batch Norm network, and a function: A[l] -> cost, through the layers above."""
    L = len(LAYER_DIMS) - 1
    A, As = X, []
    for l in range(1, L):
        A, _ = reference.linear_bn_activation_forward(
            A, parameters[f"W{l}"], parameters[f"gamma{l}"], parameters[f"beta{l}"], "tanh"
        )
        As.append(A)

    def cost_from(l, A_l, Y):
        A = A_l
        for k in range(l + 1, L):
            A, _ = reference.linear_bn_activation_forward(
                A, parameters[f"W{k}"], parameters[f"gamma{k}"], parameters[f"beta{k}"], "tanh"
            )
        return compute_cost(softmax(parameters[f"W{L}"] @ A + parameters[f"b{L}"]), Y)

    return As, cost_from


def test_activations_and_gradients_of_the_bn_network_match_numeric_gradients(network):
    X, Y, parameters = network(LAYER_DIMS, 7, seed=1)
    AL, caches = reference.model_forward(X, parameters, "tanh")
    pairs = training.activations_and_gradients(AL, Y, parameters, caches, reference, "tanh")
    As, cost_from = _hidden_forward_bn(X, parameters)
    assert len(pairs) == len(LAYER_DIMS) - 2
    for l, ((A, dA), A_expected) in enumerate(zip(pairs, As), start=1):
        assert A.shape == dA.shape == (LAYER_DIMS[l], 7)
        np.testing.assert_allclose(A, A_expected, rtol=1e-12)
        A_l = A_expected.copy()
        numeric = gradcheck.numeric_gradient(lambda l=l, A_l=A_l: cost_from(l, A_l, Y), A_l)
        error = gradcheck.relative_error(dA, numeric)
        assert error < 1e-7, f"dA[{l}]: relative error {error:.1e}"


def test_activations_and_gradients_of_the_plain_network_match_numeric_gradients():
    X, Y = small_problem(m=6, seed=2)
    parameters = plain.initialize_parameters(LAYER_DIMS, seed=2)
    AL, caches = plain.model_forward(X, parameters, "tanh")
    pairs = training.activations_and_gradients(AL, Y, parameters, caches, plain, "tanh")
    L = len(LAYER_DIMS) - 1

    def cost_from(l, A_l):
        A = A_l
        for k in range(l + 1, L):
            A = activation_forward(parameters[f"W{k}"] @ A + parameters[f"b{k}"], "tanh")
        return compute_cost(softmax(parameters[f"W{L}"] @ A + parameters[f"b{L}"]), Y)

    A = X
    for l, (A_got, dA) in enumerate(pairs, start=1):
        A = activation_forward(parameters[f"W{l}"] @ A + parameters[f"b{l}"], "tanh")
        np.testing.assert_allclose(A_got, A, rtol=1e-12)
        A_l = A.copy()
        numeric = gradcheck.numeric_gradient(lambda l=l, A_l=A_l: cost_from(l, A_l), A_l)
        error = gradcheck.relative_error(dA, numeric)
        assert error < 1e-7, f"dA[{l}]: relative error {error:.1e}"


def test_activations_and_gradients_runs_the_networks_own_passes():
    """The gradients come from the model_forward and model_backward found in `using`."""
    X, Y = small_problem(m=6)
    parameters = reference.initialize_parameters(LAYER_DIMS, seed=0)
    AL, caches = reference.model_forward(X, parameters)
    with pytest.raises(NameError, match="model_forward"):
        training.activations_and_gradients(AL, Y, parameters, caches, {})
    calls = []

    def model_backward(AL, Y, caches):
        calls.append(AL.shape)
        return reference.model_backward(AL, Y, caches)

    spy = [{"model_backward": model_backward}, reference]
    pairs = training.activations_and_gradients(AL, Y, parameters, caches, spy)
    # dA[2] comes from W[3] directly; dA[1] from layers 2..3 run on the 6 x 6 identity
    assert calls == [(LAYER_DIMS[-1], 6)]
    expected = training.activations_and_gradients(AL, Y, parameters, caches, reference)
    for (_, dA), (_, dA_expected) in zip(pairs, expected):
        np.testing.assert_array_equal(dA, dA_expected)


# ------------------------------------------------------- train's on_step hook


def test_on_step_sees_each_step_and_leaves_training_unchanged():
    X, Y = small_problem(m=24)
    start = reference.initialize_parameters(LAYER_DIMS, seed=0)
    seen, called_back = [], []

    def on_step(step, record):
        seen.append((step, record))

    def callback(step, parameters, caches):
        called_back.append(step)

    common = dict(learning_rate=0.1, num_epochs=2, mini_batch_size=10)
    using = [reference, GD]
    _, plain_history = training.train(X, Y, start, using, **common)
    end, history = training.train(X, Y, start, using, on_step=on_step, callback=callback, **common)
    np.testing.assert_array_equal(history["cost"], plain_history["cost"])

    assert [step for step, _ in seen] == called_back == list(range(1, 7))  # 3 batches x 2 epochs
    keys = {"X", "Y", "AL", "caches", "grads", "parameters_before", "parameters"}
    for _, record in seen:
        assert set(record) == keys | {"learning_rate", "activation"}
        assert record["learning_rate"] == 0.1 and record["activation"] == "relu"
        assert record["X"].shape[1] == record["Y"].shape[1] == record["AL"].shape[1]
        for key, value in record["parameters"].items():  # the step is the GD step
            expected = record["parameters_before"][key] - 0.1 * record["grads"]["d" + key]
            np.testing.assert_allclose(value, expected, rtol=1e-12)
    for (_, before), (_, after) in zip(seen, seen[1:]):
        assert after["parameters_before"] is before["parameters"]
    assert seen[0][1]["parameters_before"] is start
    assert seen[-1][1]["parameters"] is end


def test_layer_recorder_ratios_and_snapshots():
    X, Y = small_problem(m=24)
    start = reference.initialize_parameters(LAYER_DIMS, seed=0)
    on_step, record = training.layer_recorder([reference, GD], snapshot_steps=[1, 4])
    training.train(X, Y, start, [reference, GD], learning_rate=0.1, num_epochs=2,
                   mini_batch_size=10, activation="tanh", on_step=on_step)  # fmt: skip

    L = len(LAYER_DIMS) - 1
    assert record["steps"] == list(range(1, 7))
    assert sorted(record["ratio"]) == list(range(1, L + 1))
    assert all(len(values) == 6 for values in record["ratio"].values())
    assert sorted(record["snapshots"]) == [1, 4]

    # step 1 by hand: the first mini-batch, the gradients at the start
    X_1, Y_1 = reference.random_mini_batches(X, Y, 10, 0)[0]
    AL, caches = reference.model_forward(X_1, start, "tanh")
    grads = reference.model_backward(AL, Y_1, caches)
    for l in range(1, L + 1):
        expected = np.log10(np.std(0.1 * grads[f"dW{l}"]) / np.std(start[f"W{l}"]))
        assert record["ratio"][l][0] == pytest.approx(expected, abs=1e-9)
    snapshot = record["snapshots"][1]
    assert len(snapshot) == L - 1
    for l, (A, dA) in enumerate(snapshot, start=1):
        assert A.shape == dA.shape == (LAYER_DIMS[l], 10)
    np.testing.assert_allclose(snapshot[-1][0], caches[-1][0], rtol=1e-12)  # A[L-1]


def test_the_ratio_follows_the_scale_of_W_in_a_bn_layer():
    """Section 9 in one number: W[l] -> c W[l] moves the ratio by -2 log10(c) in a BN layer,
    and leaves the output layer's alone."""
    X, Y = small_problem(m=24)
    ratios = {}
    for c in (1.0, 10.0):
        start = reference.initialize_parameters(LAYER_DIMS, seed=0)
        for l in range(1, len(LAYER_DIMS) - 1):
            start[f"W{l}"] = c * start[f"W{l}"]
        on_step, record = training.layer_recorder([reference, GD])
        training.train(X, Y, start, [reference, GD], learning_rate=0.1, num_epochs=1,
                       mini_batch_size=24, on_step=on_step)  # fmt: skip
        ratios[c] = {l: values[0] for l, values in record["ratio"].items()}
    L = len(LAYER_DIMS) - 1
    for l in range(1, L):
        assert ratios[10.0][l] - ratios[1.0][l] == pytest.approx(-2.0, abs=1e-3)
    assert ratios[10.0][L] == pytest.approx(ratios[1.0][L], abs=1e-3)


# ------------------------------------------------------------------- figures


def test_layer_histograms_draws_one_panel_per_run_and_layer():
    rng = np.random.default_rng(0)
    runs = {
        name: {step: [rng.standard_normal((4, 10)) * s for _ in range(3)] for step in (1, 5)}
        for name, s in [("with BN", 1.0), ("without BN", 3.0)]
    }
    runs["without BN"][5][2] = np.zeros((0,))  # an empty selection is skipped, not an error
    fig = plots.layer_histograms(runs, symbol="dA[{l}]")
    axes = np.array(fig.axes).reshape(2, 3)
    assert axes[0, 0].get_title() == "with BN: dA[1]"
    assert axes[1, 2].get_title() == "without BN: dA[3]"
    assert len(axes[0, 0].lines) == 2 and len(axes[1, 2].lines) == 1  # one line per step
    assert len({ax.get_xlim() for ax in axes.ravel()}) == 1  # one shared x-range


def test_update_ratios_draws_one_line_per_layer_and_the_guide():
    ratios = {1: [-1.0, -1.5, -2.0], 2: [-2.0, -2.5, -3.0]}
    fig = plots.update_ratios(ratios, steps=[1, 2, 3], guide=-3, title="with BN")
    (ax,) = fig.axes
    assert ax.get_title() == "with BN"
    assert [line.get_label() for line in ax.lines] == ["W[1]", "W[2]", "-3"]
    np.testing.assert_array_equal(ax.lines[1].get_ydata(), ratios[2])
    np.testing.assert_array_equal(ax.lines[2].get_ydata(), [-3, -3])
