"""Numeric gradients by central differences, and the relative error between gradients.

Public: students use these to check their backward passes.
"""

import numpy as np


def numeric_gradient(f, x, h=1e-5):
    """Gradient of the scalar function f at the array x, by central differences.

        df/dx[i] ~ (f(x + h e_i) - f(x - h e_i)) / (2 h)

    Arguments:
    f -- function of no argument that returns a float; it must read x
    x -- array, changed in place one entry at a time and restored
    h -- step

    Returns:
    grad -- array of x's shape
    """
    grad = np.zeros_like(x, dtype=np.float64)
    flat_x, flat_grad = x.reshape(-1), grad.reshape(-1)
    if not np.shares_memory(flat_x, x):
        raise ValueError("numeric_gradient needs a contiguous array it can change in place.")
    for i in range(flat_x.size):
        old = flat_x[i]
        flat_x[i] = old + h
        f_plus = f()
        flat_x[i] = old - h
        f_minus = f()
        flat_x[i] = old
        flat_grad[i] = (f_plus - f_minus) / (2 * h)
    return grad


def relative_error(a, b):
    """||a - b|| / max(||a|| + ||b||, tiny): 0 when both are 0.

    Below about 1e-7 in float64, two gradients agree.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    denominator = np.linalg.norm(a) + np.linalg.norm(b)
    if denominator == 0:
        return 0.0
    return float(np.linalg.norm(a - b) / denominator)


def bn_numeric_gradients(forward, Z, gamma, beta, dZ_tilde, h=1e-5):
    """Numeric dZ, dgamma, dbeta of the scalar sum(forward(Z, gamma, beta)[0] * dZ_tilde).

    That scalar's gradient is exactly what a Batch Norm backward pass returns
    for the upstream gradient dZ_tilde. Works on copies; the inputs are kept.
    """
    Z, gamma, beta = (np.array(a, dtype=np.float64) for a in (Z, gamma, beta))

    def loss():
        return float(np.sum(forward(Z, gamma, beta)[0] * dZ_tilde))

    return (
        numeric_gradient(loss, Z, h),
        numeric_gradient(loss, gamma, h),
        numeric_gradient(loss, beta, h),
    )
