"""A deep network without Batch Norm, for comparisons: Z[l] = W[l] A[l-1] + b[l].

Same layout as the Batch Norm network (examples as columns, softmax output,
cost averaged over the mini-batch), but every layer keeps its bias b[l] and
there is no gamma or beta. To train it, put this module first in ``training.train``'s
`using`, before the namespace that holds random_mini_batches and the optimizers:
``train(X, Y, parameters, using=[plain, globals()])``.
"""

import numpy as np

from bnlab.activations import (
    activation_backward,
    activation_forward,
    softmax,
    softmax_cost_backward,
)


def initialize_parameters(layer_dims, seed=0):
    """He-initialized W1..WL and zero b1..bL; same random draws as the BN network's W."""
    rng = np.random.default_rng(seed)
    params = {}
    for l, (n_prev, n_l) in enumerate(zip(layer_dims[:-1], layer_dims[1:]), start=1):
        params[f"W{l}"] = np.sqrt(2 / n_prev) * rng.standard_normal((n_l, n_prev))
        params[f"b{l}"] = np.zeros((n_l, 1))
    return params


def model_forward(X, parameters, activation="relu"):
    """Returns (AL, caches); caches = (layers, activation), layers[l-1] = (A[l-1], W[l], Z[l])."""
    L = len(parameters) // 2
    layers, A = [], X
    for l in range(1, L + 1):
        W = parameters[f"W{l}"]
        Z = W @ A + parameters[f"b{l}"]
        layers.append((A, W, Z))
        A = softmax(Z) if l == L else activation_forward(Z, activation)
    return A, (layers, activation)


def model_backward(AL, Y, caches):
    """Gradients dW1..dWL and db1..dbL of the averaged cross-entropy cost."""
    layers, activation = caches
    grads = {}
    dZ = softmax_cost_backward(AL, Y)
    for l in range(len(layers), 0, -1):
        A_prev, W, _ = layers[l - 1]
        grads[f"dW{l}"], grads[f"db{l}"] = dZ @ A_prev.T, dZ.sum(axis=1, keepdims=True)
        if l > 1:
            dZ = activation_backward(W.T @ dZ, layers[l - 2][2], activation)
    return grads
