"""Mini-batch training, prediction and accuracy, built on the graded functions.

Public. These functions do not hold a solution: they take the graded functions
from the namespaces you pass as `using` -- a notebook's ``globals()``, a module
such as ``bnlab.plain`` (the network without Batch Norm), or a dict -- searched
in order. So in a notebook the training runs on *your* functions.

Names looked up: ``random_mini_batches``, ``model_forward``, ``model_backward``,
``update_parameters_with_<optimizer>`` and, when present,
``update_running_averages`` and ``model_forward_inference``.
"""

import numpy as np

from bnlab.activations import compute_cost, softmax_cost_backward

OPTIMIZERS = ("gd", "momentum", "rmsprop", "adam")


def lookup(using, name):
    """The function called `name` in the first namespace of `using` that has it, else None."""
    spaces = using if isinstance(using, (list, tuple)) else [using]
    for space in spaces:
        found = space.get(name) if isinstance(space, dict) else getattr(space, name, None)
        if found is not None:
            return found
    return None


def _require(using, name):
    found = lookup(using, name)
    if found is None:
        raise NameError(f"train() needs a function called {name}; define it or pass it in `using`.")
    return found


def initialize_optimizer_state(parameters):
    """A dict of zeros with one entry per parameter key, for v (momentum) or s (RMSprop)."""
    return {key: np.zeros_like(value) for key, value in parameters.items()}


def initialize_running_averages(parameters):
    """running_mean = 0 and running_var = 1 for every BN layer (PyTorch's start values).

    Returns a dict with keys "mean1", "var1", ..., one (n_l, 1) array each.
    """
    running = {}
    for key, gamma in parameters.items():
        if key.startswith("gamma"):
            l = key[len("gamma") :]
            running["mean" + l], running["var" + l] = np.zeros_like(gamma), np.ones_like(gamma)
    return running


def bn_statistics(caches):
    """(mu, var) of every BN layer, read from model_forward's caches, as a list by layer."""
    stats = []
    for cache in caches[:-1]:
        _, bn_cache, _ = cache
        stats.append((bn_cache[2], bn_cache[3]))
    return stats


def train(
    X,
    Y,
    parameters,
    using,
    optimizer="gd",
    learning_rate=0.01,
    num_epochs=10,
    mini_batch_size=64,
    activation="relu",
    seed=0,
    beta_momentum=0.9,
    beta_rms=0.999,
    epsilon=1e-8,
    momentum=0.1,
    X_test=None,
    Y_test=None,
    callback=None,
    on_step=None,
):
    """Train on mini-batches, reshuffled every epoch (seed + epoch).

    Arguments:
    X -- (n_x, m) inputs; Y -- (C, m) one-hot labels
    parameters -- initial parameters (left unchanged)
    using -- namespace(s) providing the graded functions (see the module docstring)
    optimizer -- "gd", "momentum", "rmsprop" or "adam"
    learning_rate, beta_momentum, beta_rms, epsilon -- optimizer hyperparameters
    momentum -- weight of the new batch in the BN running averages
    X_test, Y_test -- optional held-out set, scored after every epoch
    callback -- optional f(step, parameters, caches), called after every step
    on_step -- optional f(step, record), called after every step (after `callback`);
               record is a dict: "X", "Y" (the mini-batch), "AL", "caches" (its forward
               pass), "grads", "parameters_before" (where the gradients were taken),
               "parameters" (after the update), "learning_rate" and "activation".
               See `layer_recorder`.

    Returns:
    parameters -- the trained parameters
    history -- dict: "cost" per step, "epoch_cost" (mean over each epoch),
               "train_accuracy" and "test_accuracy" per epoch, and "running" (the
               BN running averages, if update_running_averages was found)
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"Unknown optimizer {optimizer!r}: choose one of {', '.join(OPTIMIZERS)}.")
    mini_batches_of = _require(using, "random_mini_batches")
    forward, backward = _require(using, "model_forward"), _require(using, "model_backward")
    update = _require(using, f"update_parameters_with_{optimizer}")
    fold_in = lookup(using, "update_running_averages")

    v, s = initialize_optimizer_state(parameters), initialize_optimizer_state(parameters)
    hyper = (learning_rate, beta_momentum, beta_rms, epsilon)
    running = initialize_running_averages(parameters) if fold_in else None
    running = running or None  # a network without Batch Norm has none
    history = {"cost": [], "epoch_cost": [], "train_accuracy": [], "test_accuracy": []}
    t = 0
    for epoch in range(num_epochs):
        epoch_costs = []
        for X_t, Y_t in mini_batches_of(X, Y, mini_batch_size, seed + epoch):
            AL, caches = forward(X_t, parameters, activation)
            cost = compute_cost(AL, Y_t)
            grads = backward(AL, Y_t, caches)
            t += 1
            parameters_before = parameters
            parameters, v, s = _update(optimizer, update, parameters, grads, v, s, t, hyper)
            if running is not None:
                _fold_in_batch(running, caches, X_t.shape[1], fold_in, momentum)
            history["cost"].append(cost)
            epoch_costs.append(cost)
            if callback is not None:
                callback(t, parameters, caches)
            if on_step is not None:
                batch, passes = {"X": X_t, "Y": Y_t}, {"AL": AL, "caches": caches, "grads": grads}
                on_step(
                    t,
                    {
                        **batch,
                        **passes,
                        "parameters_before": parameters_before,
                        "parameters": parameters,
                        "learning_rate": learning_rate,
                        "activation": activation,
                    },
                )
        history["epoch_cost"].append(float(np.mean(epoch_costs)))
        history["train_accuracy"].append(accuracy(X, Y, parameters, using, running, activation))
        if X_test is not None:
            history["test_accuracy"].append(
                accuracy(X_test, Y_test, parameters, using, running, activation)
            )
    if running is not None:
        history["running"] = running
    return parameters, history


def _update(optimizer, update, parameters, grads, v, s, t, hyper):
    """One step of `optimizer` (the student's `update`): (parameters, v, s) after it.

    hyper -- (learning_rate, beta_momentum, beta_rms, epsilon); t -- the step, from 1
    """
    learning_rate, beta_momentum, beta_rms, epsilon = hyper
    if optimizer == "gd":
        return update(parameters, grads, learning_rate), v, s
    if optimizer == "momentum":
        parameters, v = update(parameters, grads, v, beta_momentum, learning_rate)
        return parameters, v, s
    if optimizer == "rmsprop":
        parameters, s = update(parameters, grads, s, beta_rms, learning_rate, epsilon)
        return parameters, v, s
    return update(parameters, grads, v, s, t, learning_rate, beta_momentum, beta_rms, epsilon)


def _fold_in_batch(running, caches, m_t, fold_in, momentum):
    """Fold one mini-batch's BN statistics into the running averages, in place: the mean as
    it is, the variance made unbiased (m_t / (m_t - 1)), as frameworks keep it for test time."""
    for l, (mu, var) in enumerate(bn_statistics(caches), start=1):
        unbiased = var * m_t / (m_t - 1) if m_t > 1 else var
        running[f"mean{l}"], running[f"var{l}"] = fold_in(
            running[f"mean{l}"], running[f"var{l}"], mu, unbiased, momentum
        )


def forward_inference(X, parameters, running, using, activation="relu"):
    """Forward pass at test time: ``model_forward_inference`` from `using`.

    Every BN layer normalizes with the running averages `running` (the dict of
    history["running"]). Returns AL: (C, m); each column depends on its own
    example only.
    """
    return _require(using, "model_forward_inference")(X, parameters, running, activation)


def predict(X, parameters, using, running=None, activation="relu"):
    """Predicted class of every column of X, shape (m,).

    With `running` (and a BN network), in inference mode (``model_forward_inference``);
    otherwise with ``model_forward``, i.e. with the statistics of X taken as one batch.
    """
    if running and any(key.startswith("gamma") for key in parameters):
        AL = forward_inference(X, parameters, running, using, activation)
    else:
        AL, _ = _require(using, "model_forward")(X, parameters, activation)
    return np.argmax(AL, axis=0)


def accuracy(X, Y, parameters, using, running=None, activation="relu"):
    """Fraction of the columns of X whose predicted class is the one in Y."""
    return float(
        np.mean(predict(X, parameters, using, running, activation) == np.argmax(Y, axis=0))
    )


# ------------------------------------------------ looking inside a training run


def update_to_data_ratio(W, dW, learning_rate=1.0):
    """How large a step is next to the weights it changes, as a power of 10.

        log10( std(learning_rate * dW) / std(W) ),  std over all entries

    With gradient descent, learning_rate * dW is the step W takes. With another
    optimizer, pass the step itself as dW and learning_rate=1. A ratio of -3
    means a typical entry of the step is a thousandth of a typical entry of W.

    Arguments:
    W -- (n_l, n_{l-1}) weights (any shape)
    dW -- gradient of W, same shape
    learning_rate -- float

    Returns:
    ratio -- float; -inf for a zero step
    """
    step = learning_rate * np.asarray(dW, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.log10(np.std(step) / np.std(np.asarray(W, dtype=np.float64))))


def _hidden_outputs(caches):
    """[A[1], ..., A[L-1]]: each hidden layer's output, read where the next layer keeps its input.

    The Batch Norm network's caches are one per layer: ((A_prev, W), bn_cache,
    (Z_tilde, activation)) for a hidden layer, (A[L-1], W[L], b[L]) for the output;
    bnlab.plain's are (layers, activation) with layers[l-1] = (A[l-1], W[l], Z[l]).
    """
    if isinstance(caches, tuple) and len(caches) == 2 and isinstance(caches[1], str):
        return [A_prev for A_prev, _, _ in caches[0][1:]]
    return [cache[0][0] for cache in caches[1:-1]] + [caches[-1][0]]


def _layer_of(key):
    """("gamma", 2) for the parameter key "gamma2"."""
    name = key.rstrip("0123456789")
    return name, int(key[len(name) :])


def activations_and_gradients(AL, Y, parameters, caches, using, activation="relu"):
    """A[l] and dA[l] of every hidden layer l = 1, ..., L-1 on one mini-batch.

    dA[l] is the gradient of the cost J (averaged over the mini-batch) with
    respect to A[l]. Next to the output, dA[L-1] = W[L]^T dZ[L] with
    dZ[L] = (AL - Y) / m. Further down, dA[l] = W[l+1]^T dZ[l+1], where dZ[l+1]
    comes from the network's own model_forward and model_backward (looked up in
    `using`, so in a notebook they are yours), run on layers l+1, ..., L as a
    network of their own: its input is the m x m identity matrix and its first
    weights are W[l+1] A[l], so its Z is exactly Z[l+1] and its dW is dZ[l+1].
    Works for the Batch Norm network and for bnlab.plain's.

    Arguments:
    AL -- (C, m) output of model_forward on the mini-batch
    Y -- (C, m) one-hot labels of the mini-batch
    parameters -- the parameters of that forward pass
    caches -- its caches (the hidden layers' outputs are read from them)
    using -- namespace(s), as for `train`
    activation -- the hidden layers' activation

    Returns:
    layers -- list of (A, dA), one pair per hidden layer, each (n_l, m)
    """
    forward, backward = _require(using, "model_forward"), _require(using, "model_backward")
    outputs = _hidden_outputs(caches)
    L = len(outputs) + 1
    m = AL.shape[1]
    pairs = [(outputs[-1], parameters[f"W{L}"].T @ softmax_cost_backward(AL, Y))]
    for l in range(L - 2, 0, -1):
        upper = {}
        for key, value in parameters.items():
            name, k = _layer_of(key)
            if k > l:
                upper[f"{name}{k - l}"] = value
        upper["W1"] = parameters[f"W{l + 1}"] @ outputs[l - 1]
        AL_upper, caches_upper = forward(np.eye(m), upper, activation)
        dZ_next = backward(AL_upper, Y, caches_upper)["dW1"]  # dZ[l+1], times the identity
        pairs.append((outputs[l - 1], parameters[f"W{l + 1}"].T @ dZ_next))
    return pairs[::-1]


def layer_recorder(using, snapshot_steps=()):
    """An `on_step` hook for `train` that follows every layer through training.

    Arguments:
    using -- namespace(s), as for `train` (for activations_and_gradients)
    snapshot_steps -- the steps (from 1) at which to keep A[l] and dA[l]

    Returns:
    on_step -- pass it to train(..., on_step=on_step)
    record -- a dict, filled during training:
              "steps" -- the step numbers, 1, 2, ...
              "ratio" -- {l: list}, for every layer l = 1, ..., L, the
                         update_to_data_ratio of W[l] at each step: the step
                         W[l] took, next to W[l] before it
              "snapshots" -- {step: list of (A[l], dA[l]) for l = 1, ..., L-1},
                             each (n_l, m), at the steps of snapshot_steps
    """
    wanted = set(snapshot_steps)
    record = {"steps": [], "ratio": {}, "snapshots": {}}

    def on_step(step, state):
        before, after = state["parameters_before"], state["parameters"]
        record["steps"].append(step)
        for key in before:
            if key.startswith("W"):
                ratio = update_to_data_ratio(before[key], after[key] - before[key])
                record["ratio"].setdefault(int(key[1:]), []).append(ratio)
        if step in wanted:
            record["snapshots"][step] = activations_and_gradients(
                state["AL"], state["Y"], before, state["caches"], using, state["activation"]
            )

    return on_step, record
