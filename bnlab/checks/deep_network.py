"""Visible checks of notebook 04 (deep network)."""

import numpy as np

from bnlab.checks._core import CheckFailed, call_or_fail, run_check
from bnlab.checks._named import names_mistakes

__all__ = ["check_random_mini_batches", "check_model_forward", "check_model_backward"]


@names_mistakes("random_mini_batches")
def check_random_mini_batches(random_mini_batches):
    """Check random_mini_batches(X, Y, mini_batch_size, seed) -> [(X_t, Y_t), ...]."""
    name = "random_mini_batches"
    X, Y = np.arange(12.0).reshape(2, 6), np.eye(3)[:, [0, 1, 2, 0, 1, 2]]
    batches = call_or_fail(
        name, random_mini_batches, (X, Y, 4, 0), "a first small one: m=6, mini_batch_size=4"
    )
    if not isinstance(batches, (list, tuple)) or not all(
        isinstance(b, (tuple, list)) and len(b) == 2 for b in batches
    ):
        raise CheckFailed(f"{name} should return a list of (X_t, Y_t) pairs.", name)
    for X_t, Y_t in batches:
        if np.shape(X_t)[1:] != np.shape(Y_t)[1:]:
            raise CheckFailed(f"{name}: X_t and Y_t should hold the same examples (columns).", name)
    labels = {}
    for t in range(12):
        labels[f"output[{t}][0]"] = f"mini_batches[{t}][0] (X_t)"
        labels[f"output[{t}][1]"] = f"mini_batches[{t}][1] (Y_t)"
    labels["output"] = "mini_batches"
    run_check(name, random_mini_batches, labels)


BN_CACHE = ["Z", "Z_norm", "mu", "var", "gamma", "beta", "eps"]


def _hidden_layer_labels(layers=10):
    """{path: words} for the parts of the hidden layers' caches, up to `layers` of them:
    caches[l-1] = ((A_prev, W), bn_cache, (Z_tilde, activation)) for hidden layer l."""
    labels = {}
    for i in range(layers):
        layer = f"layer {i + 1}'s cache (caches[{i}])"
        for j, part in enumerate(["A_prev", "W"]):
            labels[f"output[1][{i}][0][{j}]"] = f"{part} in the linear cache of {layer}"
        for k, part in enumerate(BN_CACHE):
            labels[f"output[1][{i}][1][{k}]"] = f"{part} in the Batch Norm cache of {layer}"
        for j, part in enumerate(["Z_tilde", "activation"]):
            labels[f"output[1][{i}][2][{j}]"] = f"{part} in the activation cache of {layer}"
    return labels


@names_mistakes("model_forward")
def check_model_forward(model_forward):
    """Check model_forward(X, parameters, activation) -> (AL, caches)."""
    labels = {"output[0]": "AL", "output[1]": "caches", **_hidden_layer_labels()}
    run_check("model_forward", model_forward, labels)


@names_mistakes("model_backward")
def check_model_backward(model_backward):
    """Check model_backward(AL, Y, caches) -> grads."""
    labels = {"output": "grads"}
    run_check("model_backward", model_backward, labels)
