"""Reference solutions: the one implementation of every graded function.

Instructor-only. This module is left out of the student wheel, and its function
bodies are copied into the source notebooks' solution cells by
``python -m autograder.content.sync`` (a test fails when the two drift apart). Each
function's signature and docstring are what the student sees; its body is the
solution nbgrader hides.

Notation (the lecture's): examples are columns; for hidden layer l,
Z[l] = W[l] A[l-1] (no b[l]), Z_tilde[l] = gamma[l] * Z_norm[l] + beta[l],
A[l] = g(Z_tilde[l]). Every gradient dX is the derivative of the cost J (the
mean over the mini-batch), so the 1/m enters once, at the softmax output.
"""

import numpy as np

from bnlab.activations import (
    activation_backward,
    activation_forward,
    softmax,
    softmax_cost_backward,
)

# ---------------------------------------------------------------- 01 forward


def batchnorm_forward(Z, gamma, beta, eps=1e-5):
    """Batch Norm of a mini-batch, in training mode.

    Each unit (row) is normalized with the mean and the biased variance of its
    values over the m examples (columns) of this mini-batch, then scaled by
    gamma and shifted by beta.

    Arguments:
    Z -- (n_l, m) pre-activations of layer l, one example per column
    gamma -- (n_l, 1) scale
    beta -- (n_l, 1) shift
    eps -- small constant added to the variance, inside the square root

    Returns:
    Z_tilde -- (n_l, m) gamma * Z_norm + beta
    cache -- (Z, Z_norm, mu, var, gamma, beta, eps), with Z_norm (n_l, m),
             mu and var (n_l, 1)
    """
    mu = np.mean(Z, axis=1, keepdims=True)
    Z_centered = Z - mu
    var = np.mean(Z_centered * Z_centered, axis=1, keepdims=True)
    Z_norm = Z_centered * (1 / np.sqrt(var + eps))
    Z_tilde = gamma * Z_norm + beta
    cache = (Z, Z_norm, mu, var, gamma, beta, eps)
    return Z_tilde, cache


def linear_bn_activation_forward(A_prev, W, gamma, beta, activation):
    """One hidden layer with Batch Norm: Z = W A_prev, Z_tilde = BN(Z), A = g(Z_tilde).

    There is no bias b: the mean subtraction of Batch Norm would cancel it.

    Arguments:
    A_prev -- (n_{l-1}, m) activations of the previous layer (X for l = 1)
    W -- (n_l, n_{l-1}) weights
    gamma, beta -- (n_l, 1) Batch Norm scale and shift
    activation -- "relu", "tanh" or "sigmoid"

    Returns:
    A -- (n_l, m) activations of this layer
    cache -- (linear_cache, bn_cache, activation_cache), where
             linear_cache = (A_prev, W), bn_cache is batchnorm_forward's cache
             and activation_cache = (Z_tilde, activation)
    """
    Z = W @ A_prev
    Z_tilde, bn_cache = batchnorm_forward(Z, gamma, beta)
    A = activation_forward(Z_tilde, activation)
    cache = ((A_prev, W), bn_cache, (Z_tilde, activation))
    return A, cache


# --------------------------------------------------------------- 02 backward


def batchnorm_backward_staged(dZ_tilde, cache):
    """Backward pass of Batch Norm, one node of the computation graph at a time.

    The forward pass, split into nodes:
        mu = mean(Z);  Z_centered = Z - mu;  var = mean(Z_centered^2)
        inv_std = 1 / sqrt(var + eps);  Z_norm = Z_centered * inv_std
        Z_tilde = gamma * Z_norm + beta  (the output)
    Walk it backwards; where a value feeds two nodes, add the two gradients.

    Arguments:
    dZ_tilde -- (n_l, m) gradient of the cost with respect to Z_tilde
    cache -- (Z, Z_norm, mu, var, gamma, beta, eps) from batchnorm_forward

    Returns:
    dZ -- (n_l, m), dgamma -- (n_l, 1), dbeta -- (n_l, 1)
    """
    Z, Z_norm, mu, var, gamma, beta, eps = cache
    m = Z.shape[1]
    Z_centered = Z - mu
    inv_std = 1 / np.sqrt(var + eps)
    # Z_tilde = gamma * Z_norm + beta
    dbeta = np.sum(dZ_tilde, axis=1, keepdims=True)
    dgamma = np.sum(dZ_tilde * Z_norm, axis=1, keepdims=True)
    dZ_norm = dZ_tilde * gamma
    # Z_norm = Z_centered * inv_std
    dinv_std = np.sum(dZ_norm * Z_centered, axis=1, keepdims=True)
    dZ_centered = dZ_norm * inv_std
    # inv_std = (var + eps) ** -1/2
    dvar = dinv_std * -0.5 * (var + eps) ** -1.5
    # var = mean(Z_centered ** 2): the second path into Z_centered
    dZ_centered = dZ_centered + dvar * 2 * Z_centered / m
    # Z_centered = Z - mu
    dmu = -np.sum(dZ_centered, axis=1, keepdims=True)
    dZ = dZ_centered
    # mu = mean(Z): the second path into Z
    dZ = dZ + dmu / m
    return dZ, dgamma, dbeta


def batchnorm_backward(dZ_tilde, cache):
    """Backward pass of Batch Norm in closed form.

    With dbeta = sum_i dZ_tilde and dgamma = sum_i dZ_tilde * Z_norm (sums over
    the examples, per unit):
        dZ = gamma / sqrt(var + eps) * (dZ_tilde - (dbeta + Z_norm * dgamma) / m)

    Arguments:
    dZ_tilde -- (n_l, m) gradient of the cost with respect to Z_tilde
    cache -- (Z, Z_norm, mu, var, gamma, beta, eps) from batchnorm_forward

    Returns:
    dZ -- (n_l, m), dgamma -- (n_l, 1), dbeta -- (n_l, 1)
    """
    Z, Z_norm, mu, var, gamma, beta, eps = cache
    m = Z.shape[1]
    dbeta = np.sum(dZ_tilde, axis=1, keepdims=True)
    dgamma = np.sum(dZ_tilde * Z_norm, axis=1, keepdims=True)
    dZ = (gamma / np.sqrt(var + eps)) * (dZ_tilde - (dbeta + Z_norm * dgamma) / m)
    return dZ, dgamma, dbeta


def linear_bn_activation_backward(dA, cache, activation):
    """Backward pass of one hidden layer with Batch Norm.

    Arguments:
    dA -- (n_l, m) gradient of the cost with respect to this layer's output A
    cache -- (linear_cache, bn_cache, activation_cache) from
             linear_bn_activation_forward
    activation -- "relu", "tanh" or "sigmoid"

    Returns:
    dA_prev -- (n_{l-1}, m), dW -- (n_l, n_{l-1}), dgamma -- (n_l, 1), dbeta -- (n_l, 1)
    """
    (A_prev, W), bn_cache, (Z_tilde, _) = cache
    dZ_tilde = activation_backward(dA, Z_tilde, activation)
    dZ, dgamma, dbeta = batchnorm_backward(dZ_tilde, bn_cache)
    dW = dZ @ A_prev.T
    dA_prev = W.T @ dZ
    return dA_prev, dW, dgamma, dbeta


# ------------------------------------------------------------------- 03 bias


def initialize_parameters(layer_dims, seed=0):
    """Parameters of an L-layer network with Batch Norm in every hidden layer.

    He initialization for W, drawn in the order W1, W2, ..., WL from
    rng = np.random.default_rng(seed) with rng.standard_normal, times
    sqrt(2 / n_{l-1}); gamma = 1 and beta = 0 in hidden layers; no b in a
    Batch Norm layer; the output layer L keeps bL = 0.

    Arguments:
    layer_dims -- [n_x, n_1, ..., n_L]: input size, hidden sizes, number of classes
    seed -- seed of the random generator

    Returns:
    parameters -- dict with W1..WL (n_l, n_{l-1}), gamma1..gamma{L-1} and
                  beta1..beta{L-1} (n_l, 1), and bL (n_L, 1)
    """
    rng = np.random.default_rng(seed)
    L = len(layer_dims) - 1
    parameters = {}
    for l in range(1, L + 1):
        n_l, n_prev = layer_dims[l], layer_dims[l - 1]
        parameters[f"W{l}"] = rng.standard_normal((n_l, n_prev)) * np.sqrt(2 / n_prev)
        if l < L:
            parameters[f"gamma{l}"] = np.ones((n_l, 1))
            parameters[f"beta{l}"] = np.zeros((n_l, 1))
    parameters[f"b{L}"] = np.zeros((layer_dims[L], 1))
    return parameters


# ------------------------------------------------------------- 04 mini-batch


def random_mini_batches(X, Y, mini_batch_size=64, seed=0):
    """Shuffle the examples and cut them into mini-batches.

    One permutation, rng = np.random.default_rng(seed); rng.permutation(m), is
    applied to the columns of X and of Y alike, so each example keeps its label.
    The batches take the shuffled columns in order; the last may be smaller.

    Arguments:
    X -- (n_x, m) inputs; Y -- (C, m) one-hot labels
    mini_batch_size -- number of examples per mini-batch
    seed -- seed of the random generator

    Returns:
    mini_batches -- list of (X_t, Y_t), X_t (n_x, m_t) and Y_t (C, m_t)
    """
    m = X.shape[1]
    permutation = np.random.default_rng(seed).permutation(m)
    X_shuffled, Y_shuffled = X[:, permutation], Y[:, permutation]
    mini_batches = []
    for start in range(0, m, mini_batch_size):
        end = start + mini_batch_size
        mini_batches.append((X_shuffled[:, start:end], Y_shuffled[:, start:end]))
    return mini_batches


def model_forward(X, parameters, activation="relu"):
    """Forward pass of the whole network on one mini-batch.

    Layers 1..L-1: linear_bn_activation_forward (statistics of this mini-batch).
    Layer L: ZL = WL A[L-1] + bL, AL = softmax(ZL).

    Arguments:
    X -- (n_x, m) mini-batch of inputs
    parameters -- dict from initialize_parameters
    activation -- activation of the hidden layers

    Returns:
    AL -- (C, m) class probabilities
    caches -- list of L caches: caches[l-1] is layer l's cache from
              linear_bn_activation_forward for l < L, and (A[L-1], WL, bL) for l = L
    """
    L = sum(1 for key in parameters if key.startswith("W"))
    A = X
    caches = []
    for l in range(1, L):
        A, cache = linear_bn_activation_forward(
            A, parameters[f"W{l}"], parameters[f"gamma{l}"], parameters[f"beta{l}"], activation
        )
        caches.append(cache)
    W, b = parameters[f"W{L}"], parameters[f"b{L}"]
    AL = softmax(W @ A + b)
    caches.append((A, W, b))
    return AL, caches


def model_backward(AL, Y, caches):
    """Backward pass of the whole network, from the cross-entropy cost.

    The cost is averaged over the m examples, so dZL = (AL - Y) / m, and every
    gradient is the derivative of that cost. The hidden layers' activation is
    read from their caches.

    Arguments:
    AL -- (C, m) output of model_forward; Y -- (C, m) one-hot labels
    caches -- list of caches from model_forward

    Returns:
    grads -- dict with dW1..dWL, dgamma1..dgamma{L-1}, dbeta1..dbeta{L-1} and dbL,
             each the shape of its parameter
    """
    L = len(caches)
    grads = {}
    A_prev, W, b = caches[L - 1]
    dZL = softmax_cost_backward(AL, Y)
    grads[f"dW{L}"] = dZL @ A_prev.T
    grads[f"db{L}"] = np.sum(dZL, axis=1, keepdims=True)
    dA = W.T @ dZL
    for l in range(L - 1, 0, -1):
        cache = caches[l - 1]
        activation = cache[2][1]
        dA, dW, dgamma, dbeta = linear_bn_activation_backward(dA, cache, activation)
        grads[f"dW{l}"], grads[f"dgamma{l}"], grads[f"dbeta{l}"] = dW, dgamma, dbeta
    return grads


# ------------------------------------------------------------- 05 optimizers


def update_parameters_with_gd(parameters, grads, learning_rate):
    """One step of gradient descent on every parameter: W, gamma, beta and b alike.

    Arguments:
    parameters -- dict of arrays, e.g. W1, gamma1, beta1, ..., WL, bL
    grads -- dict with "d" + key for every key of parameters, same shapes
    learning_rate -- step size

    Returns:
    parameters -- a new dict: parameters[key] - learning_rate * grads["d" + key]
    """
    new_parameters = {}
    for key in parameters:
        new_parameters[key] = parameters[key] - learning_rate * grads["d" + key]
    return new_parameters


def update_parameters_with_momentum(parameters, grads, v, beta_momentum, learning_rate):
    """One step of gradient descent with momentum on every parameter.

        v[key] = beta_momentum * v[key] + (1 - beta_momentum) * grads["d" + key]
        parameters[key] = parameters[key] - learning_rate * v[key]

    Arguments:
    parameters -- dict of arrays; grads -- dict with "d" + key for every key
    v -- dict with one velocity per parameter key, same shapes (zeros at first)
    beta_momentum -- decay rate of the exponentially weighted average (not the BN beta)
    learning_rate -- step size

    Returns:
    (parameters, v) -- new dicts
    """
    new_parameters, new_v = {}, {}
    for key in parameters:
        new_v[key] = beta_momentum * v[key] + (1 - beta_momentum) * grads["d" + key]
        new_parameters[key] = parameters[key] - learning_rate * new_v[key]
    return new_parameters, new_v


def update_parameters_with_rmsprop(parameters, grads, s, beta_rms, learning_rate, epsilon=1e-8):
    """One step of RMSprop on every parameter.

        s[key] = beta_rms * s[key] + (1 - beta_rms) * grads["d" + key] ** 2
        parameters[key] = parameters[key] - learning_rate * grads["d" + key] / (sqrt(s[key]) + epsilon)

    Arguments:
    parameters -- dict of arrays; grads -- dict with "d" + key for every key
    s -- dict with one running mean of squared gradients per parameter key
    beta_rms -- decay rate of that average (not the BN beta)
    learning_rate -- step size; epsilon -- keeps the division finite

    Returns:
    (parameters, s) -- new dicts
    """
    new_parameters, new_s = {}, {}
    for key in parameters:
        g = grads["d" + key]
        new_s[key] = beta_rms * s[key] + (1 - beta_rms) * g**2
        new_parameters[key] = parameters[key] - learning_rate * g / (np.sqrt(new_s[key]) + epsilon)
    return new_parameters, new_s


def update_parameters_with_adam(
    parameters,
    grads,
    v,
    s,
    t,
    learning_rate=0.01,
    beta_momentum=0.9,
    beta_rms=0.999,
    epsilon=1e-8,
):
    """One step of Adam on every parameter, with bias correction at step t.

        v[key] = beta_momentum * v[key] + (1 - beta_momentum) * g
        s[key] = beta_rms * s[key] + (1 - beta_rms) * g ** 2
        v_hat = v[key] / (1 - beta_momentum ** t);  s_hat = s[key] / (1 - beta_rms ** t)
        parameters[key] = parameters[key] - learning_rate * v_hat / (sqrt(s_hat) + epsilon)

    Arguments:
    parameters -- dict of arrays; grads -- dict with "d" + key for every key
    v, s -- dicts with one entry per parameter key (zeros at first)
    t -- number of this step, counting from 1
    learning_rate, beta_momentum, beta_rms, epsilon -- Adam's hyperparameters
    (beta_momentum and beta_rms are not the BN beta)

    Returns:
    (parameters, v, s) -- new dicts; v and s hold the uncorrected averages
    """
    new_parameters, new_v, new_s = {}, {}, {}
    for key in parameters:
        g = grads["d" + key]
        new_v[key] = beta_momentum * v[key] + (1 - beta_momentum) * g
        new_s[key] = beta_rms * s[key] + (1 - beta_rms) * g**2
        v_hat = new_v[key] / (1 - beta_momentum**t)
        s_hat = new_s[key] / (1 - beta_rms**t)
        new_parameters[key] = parameters[key] - learning_rate * v_hat / (np.sqrt(s_hat) + epsilon)
    return new_parameters, new_v, new_s


# -------------------------------------------------------------- 06 test time


def update_running_averages(running_mean, running_var, mu, var, momentum=0.1):
    """Fold one mini-batch's statistics into exponentially weighted running averages.

    PyTorch's convention: momentum weighs the new value,
        running = (1 - momentum) * running + momentum * new.
    To match torch.nn.BatchNorm1d, pass as var the unbiased variance of the
    mini-batch, var * m / (m - 1).

    Arguments:
    running_mean, running_var -- (n_l, 1) current averages
    mu, var -- (n_l, 1) this mini-batch's mean and variance
    momentum -- weight of the new value

    Returns:
    (running_mean, running_var) -- new (n_l, 1) arrays
    """
    running_mean = (1 - momentum) * running_mean + momentum * mu
    running_var = (1 - momentum) * running_var + momentum * var
    return running_mean, running_var


def batchnorm_forward_inference(Z, gamma, beta, running_mean, running_var, eps=1e-5):
    """Batch Norm at test time: normalize with the running averages, not the batch.

    Each example is normalized on its own, so the output for one example does
    not depend on the others in Z.

    Arguments:
    Z -- (n_l, m) pre-activations (m may be 1)
    gamma, beta -- (n_l, 1) learned scale and shift
    running_mean, running_var -- (n_l, 1) averages collected during training
    eps -- the same eps as in training

    Returns:
    Z_tilde -- (n_l, m)
    """
    Z_norm = (Z - running_mean) / np.sqrt(running_var + eps)
    Z_tilde = gamma * Z_norm + beta
    return Z_tilde


def fold_batchnorm(W, gamma, beta, running_mean, running_var, eps=1e-5):
    """Fold test-time Batch Norm into the linear layer before it.

    At test time Batch Norm is a fixed scale and shift of each unit, so
    batchnorm_forward_inference(W @ A_prev, gamma, beta, running_mean, running_var, eps)
    equals W_folded @ A_prev + b_folded for every A_prev, with
        scale = gamma / sqrt(running_var + eps)
        W_folded = scale * W   (row j of W times scale[j])
        b_folded = beta - scale * running_mean

    Arguments:
    W -- (n_l, n_{l-1}) weights of the layer (no bias: Batch Norm follows it)
    gamma, beta -- (n_l, 1) learned scale and shift
    running_mean, running_var -- (n_l, 1) averages collected during training
    eps -- the same eps as in training

    Returns:
    W_folded -- (n_l, n_{l-1}), b_folded -- (n_l, 1)
    """
    scale = gamma / np.sqrt(running_var + eps)
    W_folded = scale * W
    b_folded = beta - scale * running_mean
    return W_folded, b_folded


def model_forward_inference(X, parameters, running, activation="relu"):
    """Forward pass of the whole network at test time.

    Layers 1..L-1: Z[l] = W[l] A[l-1], then batchnorm_forward_inference with
    that layer's running averages, then the activation. Layer L:
    AL = softmax(WL A[L-1] + bL). Each column of AL depends on its own example
    only, so m may be 1.

    Arguments:
    X -- (n_x, m) inputs, one example per column
    parameters -- dict from initialize_parameters (trained): W1..WL (n_l, n_{l-1}),
                  gamma1..gamma{L-1} and beta1..beta{L-1} (n_l, 1), bL (C, 1)
    running -- dict of running averages, as training.train returns them in
               history["running"]: "mean1", "var1", ..., "mean{L-1}", "var{L-1}",
               each (n_l, 1)
    activation -- activation of the hidden layers: "relu", "tanh" or "sigmoid"

    Returns:
    AL -- (C, m) class probabilities
    """
    L = sum(1 for key in parameters if key.startswith("W"))
    A = X
    for l in range(1, L):
        Z = parameters[f"W{l}"] @ A
        Z_tilde = batchnorm_forward_inference(
            Z,
            parameters[f"gamma{l}"],
            parameters[f"beta{l}"],
            running[f"mean{l}"],
            running[f"var{l}"],
        )
        A = activation_forward(Z_tilde, activation)
    ZL = parameters[f"W{L}"] @ A + parameters[f"b{L}"]
    AL = softmax(ZL)
    return AL


# ------------------------------------------------------------- 07 layer norm


def layernorm_forward(Z, gamma, beta, eps=1e-5):
    """Layer Norm: each example (column) is normalized over the n_l units of the layer.

    The computation of batchnorm_forward along the other axis: mu and var are
    the mean and the biased variance of each column's n_l values, shape (1, m).
    gamma and beta stay per unit, (n_l, 1). No example's output depends on the
    other examples, so training and test time are the same.

    Arguments:
    Z -- (n_l, m) pre-activations of layer l, one example per column
    gamma -- (n_l, 1) scale
    beta -- (n_l, 1) shift
    eps -- small constant added to the variance, inside the square root

    Returns:
    Z_tilde -- (n_l, m) gamma * Z_norm + beta
    cache -- (Z, Z_norm, mu, var, gamma, beta, eps), with Z_norm (n_l, m),
             mu and var (1, m)
    """
    mu = np.mean(Z, axis=0, keepdims=True)
    Z_centered = Z - mu
    var = np.mean(Z_centered * Z_centered, axis=0, keepdims=True)
    Z_norm = Z_centered * (1 / np.sqrt(var + eps))
    Z_tilde = gamma * Z_norm + beta
    cache = (Z, Z_norm, mu, var, gamma, beta, eps)
    return Z_tilde, cache


def layernorm_backward(dZ_tilde, cache):
    """Backward pass of Layer Norm.

    gamma and beta are per unit, so, as in Batch Norm, their gradients sum over
    the examples (axis 1). mu and var are per example, means over the n_l units,
    so the two extra paths of dZ (through mu and through var) are means over the
    units (axis 0). gamma varies along that axis: multiply by it before the means,
    dZ_norm = gamma * dZ_tilde.

    Arguments:
    dZ_tilde -- (n_l, m) gradient of the cost with respect to Z_tilde
    cache -- (Z, Z_norm, mu, var, gamma, beta, eps) from layernorm_forward

    Returns:
    dZ -- (n_l, m), dgamma -- (n_l, 1), dbeta -- (n_l, 1)
    """
    Z, Z_norm, mu, var, gamma, beta, eps = cache
    dbeta = np.sum(dZ_tilde, axis=1, keepdims=True)
    dgamma = np.sum(dZ_tilde * Z_norm, axis=1, keepdims=True)
    dZ_norm = dZ_tilde * gamma
    dZ = (1 / np.sqrt(var + eps)) * (
        dZ_norm
        - np.mean(dZ_norm, axis=0, keepdims=True)
        - Z_norm * np.mean(dZ_norm * Z_norm, axis=0, keepdims=True)
    )
    return dZ, dgamma, dbeta
