"""Activations, softmax and the cross-entropy cost, with their backward passes.

These are the building blocks the graded functions lean on. They are public:
students may call them. Shapes follow the lecture: one example per column.
"""

import numpy as np

ACTIVATIONS = ("relu", "tanh", "sigmoid")


def relu(Z):
    """A = max(0, Z), elementwise. Z: any shape; returns A of the same shape."""
    return np.maximum(Z, 0)


def relu_backward(dA, Z):
    """dZ = dA * 1[Z > 0]. dA, Z: same shape; returns dZ of that shape."""
    return dA * (Z > 0)


def tanh(Z):
    """A = tanh(Z), elementwise."""
    return np.tanh(Z)


def tanh_backward(dA, Z):
    """dZ = dA * (1 - tanh(Z)^2)."""
    A = np.tanh(Z)
    return dA * (1 - A * A)


def sigmoid(Z):
    """A = 1 / (1 + exp(-Z)), elementwise, without overflow for large |Z|."""
    E = np.exp(-np.abs(Z))
    return np.where(Z >= 0, 1 / (1 + E), E / (1 + E))


def sigmoid_backward(dA, Z):
    """dZ = dA * s (1 - s), with s = sigmoid(Z)."""
    s = sigmoid(Z)
    return dA * s * (1 - s)


_FORWARD = {"relu": relu, "tanh": tanh, "sigmoid": sigmoid}
_BACKWARD = {"relu": relu_backward, "tanh": tanh_backward, "sigmoid": sigmoid_backward}


def _check_name(activation):
    if activation not in _FORWARD:
        raise ValueError(
            f"Unknown activation {activation!r}: choose one of {', '.join(ACTIVATIONS)}."
        )


def activation_forward(Z, activation):
    """A = g(Z) for g named by `activation` ("relu", "tanh" or "sigmoid").

    Z: (n_l, m). Returns A: (n_l, m).
    """
    _check_name(activation)
    return _FORWARD[activation](Z)


def activation_backward(dA, Z, activation):
    """dZ = dA * g'(Z) for g named by `activation`.

    dA, Z: (n_l, m), Z being the activation's input. Returns dZ: (n_l, m).
    """
    _check_name(activation)
    return _BACKWARD[activation](dA, Z)


def softmax(Z):
    """Column-wise softmax: each column of the result sums to 1.

    Z: (C, m). Returns AL: (C, m). Subtracting the column max keeps exp finite.
    """
    E = np.exp(Z - Z.max(axis=0, keepdims=True))
    return E / E.sum(axis=0, keepdims=True)


def compute_cost(AL, Y):
    """Cross-entropy cost averaged over the m examples of the mini-batch.

    AL: (C, m) softmax output; Y: (C, m) one-hot labels. Returns a float:
    J = -1/m sum_i sum_c Y[c, i] log AL[c, i].
    """
    m = Y.shape[1]
    tiny = np.finfo(AL.dtype).tiny
    return float(-np.sum(Y * np.log(np.maximum(AL, tiny))) / m)


def softmax_cost_backward(AL, Y):
    """dZ[L] of the cost with respect to the softmax input: (AL - Y) / m.

    The 1/m of the averaged cost enters here, once; every gradient further
    back is the true derivative of J. AL, Y: (C, m). Returns dZL: (C, m).
    """
    return (AL - Y) / Y.shape[1]
