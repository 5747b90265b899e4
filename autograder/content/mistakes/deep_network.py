"""Classic mistakes of notebook 04 (deep network)."""

from autograder.content.mistakes import Mistake

MISTAKES = [
    # ---------------------------------------------------------- random_mini_batches
    Mistake(
        "random_mini_batches",
        "different_permutations",
        "X and Y are shuffled with two different permutations, so examples lose their labels: "
        "draw one permutation and index the columns of both X and Y with it.",
        (
            (
                "permutation = np.random.default_rng(seed).permutation(m)",
                "rng = np.random.default_rng(seed)\n    permutation = rng.permutation(m)",
            ),
            ("Y[:, permutation]", "Y[:, rng.permutation(m)]"),
        ),
    ),
    Mistake(
        "random_mini_batches",
        "last_batch_dropped",
        "the last, smaller mini-batch is dropped: when m is not a multiple of "
        "mini_batch_size, the leftover examples form one more, smaller batch.",
        (
            (
                "for start in range(0, m, mini_batch_size):",
                "for start in range(0, m - m % mini_batch_size, mini_batch_size):",
            ),
        ),
    ),
    Mistake(
        "random_mini_batches",
        "not_shuffled",
        "the examples are not shuffled: permute the columns of X and Y (one shared "
        "permutation) before cutting them into mini-batches.",
        (
            (
                "X_shuffled, Y_shuffled = X[:, permutation], Y[:, permutation]",
                "X_shuffled, Y_shuffled = X, Y",
            ),
        ),
    ),
    Mistake(
        "random_mini_batches",
        "global_random_state",
        "the permutation comes from the old global generator (np.random.seed / np.random.permutation "
        "or RandomState); draw it with rng = np.random.default_rng(seed), then rng.permutation(m).",
        (
            (
                "np.random.default_rng(seed).permutation(m)",
                "np.random.RandomState(seed).permutation(m)",
            ),
        ),
    ),
    # ---------------------------------------------------------------- model_forward
    Mistake(
        "model_forward",
        "hidden_activation_at_output",
        "the output layer uses the hidden activation; it takes softmax: "
        "ZL = WL A[L-1] + bL, AL = softmax(ZL).",
        (("AL = softmax(W @ A + b)", "AL = activation_forward(W @ A + b, activation)"),),
    ),
    Mistake(
        "model_forward",
        "bL_left_out",
        "the output layer leaves out its bias: ZL = WL A[L-1] + bL (only the Batch Norm "
        "layers drop b).",
        (("AL = softmax(W @ A + b)", "AL = softmax(W @ A)"),),
    ),
    Mistake(
        "model_forward",
        "gamma_beta_swapped",
        "gamma and beta reach linear_bn_activation_forward in the wrong order: its arguments "
        "are (A_prev, W, gamma, beta, activation).",
        (
            (
                'parameters[f"gamma{l}"], parameters[f"beta{l}"]',
                'parameters[f"beta{l}"], parameters[f"gamma{l}"]',
            ),
        ),
    ),
    Mistake(
        "model_forward",
        "activation_ignored",
        'the hidden layers always use "relu"; pass the activation argument on to '
        "linear_bn_activation_forward.",
        ((", activation\n        )", ', "relu"\n        )'),),
    ),
    Mistake(
        "model_forward",
        "output_cache_missing",
        "caches should hold L entries: after the hidden layers' caches, append the output "
        "layer's (A[L-1], WL, bL).",
        (("    caches.append((A, W, b))\n", ""),),
    ),
    # --------------------------------------------------------------- model_backward
    Mistake(
        "model_backward",
        "no_1_over_m",
        "dZL is missing the 1/m: the cost is the mean over the mini-batch, so "
        "dZL = (AL - Y) / m (softmax_cost_backward does exactly this).",
        (("dZL = softmax_cost_backward(AL, Y)", "dZL = AL - Y"),),
    ),
    Mistake(
        "model_backward",
        "1_over_m_twice",
        "the 1/m is applied twice: dZL = (AL - Y) / m already holds it, so "
        "dWL = dZL A[L-1]^T and dbL = sum of dZL over the examples, with no second 1/m.",
        (
            (
                "dZL = softmax_cost_backward(AL, Y)",
                "dZL = softmax_cost_backward(AL, Y) / Y.shape[1]",
            ),
        ),
    ),
    Mistake(
        "model_backward",
        "dWL_transposed",
        "dWL is transposed (the factors are in the wrong order): dWL = dZL A[L-1]^T, "
        "of shape (C, n_{L-1}), the shape of WL.",
        (('grads[f"dW{L}"] = dZL @ A_prev.T', 'grads[f"dW{L}"] = A_prev @ dZL.T'),),
    ),
    Mistake(
        "model_backward",
        "dbL_wrong_axis",
        "dbL sums over the wrong axis: sum dZL over the examples (the columns, axis=1) "
        "and keep a (C, 1) column.",
        (("np.sum(dZL, axis=1, keepdims=True)", "np.sum(dZL, axis=0, keepdims=True)"),),
    ),
    Mistake(
        "model_backward",
        "activation_fixed",
        'the hidden layers are differentiated as "relu" whatever the forward pass used; '
        "read each layer's activation from its cache (cache[2][1]).",
        (("activation = cache[2][1]", 'activation = "relu"'),),
    ),
    Mistake(
        "model_backward",
        "dgamma_dbeta_swapped",
        "dgamma and dbeta are stored under each other's keys: linear_bn_activation_backward "
        "returns (dA_prev, dW, dgamma, dbeta).",
        (
            (
                'grads[f"dgamma{l}"], grads[f"dbeta{l}"] = dW, dgamma, dbeta',
                'grads[f"dgamma{l}"], grads[f"dbeta{l}"] = dW, dbeta, dgamma',
            ),
        ),
    ),
]
