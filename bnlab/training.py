"""Mini-batch training, prediction and accuracy, built on the graded functions.

Public. These functions do not hold a solution: they take the graded functions
from the namespaces you pass as `using` -- a notebook's ``globals()``, a module
such as ``bnlab.plain`` (the network without Batch Norm), or a dict -- searched
in order. So in a notebook the training runs on *your* functions.

Names looked up: ``random_mini_batches``, ``model_forward``, ``model_backward``,
``update_parameters_with_<optimizer>`` and, when present,
``update_running_averages`` and ``batchnorm_forward_inference``.
"""

import numpy as np

from bnlab.activations import activation_forward, compute_cost, softmax

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
            if optimizer == "gd":
                parameters = update(parameters, grads, learning_rate)
            elif optimizer == "momentum":
                parameters, v = update(parameters, grads, v, beta_momentum, learning_rate)
            elif optimizer == "rmsprop":
                parameters, s = update(parameters, grads, s, beta_rms, learning_rate, epsilon)
            else:
                parameters, v, s = update(
                    parameters, grads, v, s, t, learning_rate, beta_momentum, beta_rms, epsilon
                )
            if running is not None:
                m_t = X_t.shape[1]
                for l, (mu, var) in enumerate(bn_statistics(caches), start=1):
                    unbiased = var * m_t / (m_t - 1) if m_t > 1 else var
                    running[f"mean{l}"], running[f"var{l}"] = fold_in(
                        running[f"mean{l}"], running[f"var{l}"], mu, unbiased, momentum
                    )
            history["cost"].append(cost)
            epoch_costs.append(cost)
            if callback is not None:
                callback(t, parameters, caches)
        history["epoch_cost"].append(float(np.mean(epoch_costs)))
        history["train_accuracy"].append(accuracy(X, Y, parameters, using, running, activation))
        if X_test is not None:
            history["test_accuracy"].append(
                accuracy(X_test, Y_test, parameters, using, running, activation)
            )
    if running is not None:
        history["running"] = running
    return parameters, history


def forward_inference(X, parameters, running, using, activation="relu"):
    """Forward pass at test time: every BN layer normalizes with the running averages.

    Needs ``batchnorm_forward_inference`` in `using`. Returns AL: (C, m); each
    column depends on its own example only.
    """
    bn_inference = _require(using, "batchnorm_forward_inference")
    L = sum(1 for key in parameters if key.startswith("W"))
    A = X
    for l in range(1, L):
        Z = parameters[f"W{l}"] @ A
        Z_tilde = bn_inference(
            Z,
            parameters[f"gamma{l}"],
            parameters[f"beta{l}"],
            running[f"mean{l}"],
            running[f"var{l}"],
        )
        A = activation_forward(Z_tilde, activation)
    return softmax(parameters[f"W{L}"] @ A + parameters[f"b{L}"])


def predict(X, parameters, using, running=None, activation="relu"):
    """Predicted class of every column of X, shape (m,).

    With `running` (and a BN network), in inference mode; otherwise with
    ``model_forward``, i.e. with the statistics of X taken as one batch.
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
