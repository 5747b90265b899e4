"""Classic mistakes of notebook 06 (BN at test time)."""

from autograder.content.mistakes import Mistake

_MEAN = "running_mean = (1 - momentum) * running_mean + momentum * mu"
_VAR = "running_var = (1 - momentum) * running_var + momentum * var"
_NORM = "Z_norm = (Z - running_mean) / np.sqrt(running_var + eps)"

MISTAKES = [
    # ------------------------------------------------------ update_running_averages
    Mistake(
        "update_running_averages",
        "momentum_on_old_value",
        "momentum weighs the old average instead of the new value; in PyTorch's convention "
        "running = (1 - momentum) * running + momentum * new.",
        (
            (_MEAN, "running_mean = momentum * running_mean + (1 - momentum) * mu"),
            (_VAR, "running_var = momentum * running_var + (1 - momentum) * var"),
        ),
    ),
    Mistake(
        "update_running_averages",
        "no_one_minus_momentum",
        "the old average keeps its full weight; it is scaled by (1 - momentum) so that the "
        "two weights add up to 1.",
        (
            (_MEAN, "running_mean = running_mean + momentum * mu"),
            (_VAR, "running_var = running_var + momentum * var"),
        ),
    ),
    Mistake(
        "update_running_averages",
        "replaced_not_averaged",
        "the running averages are replaced by this mini-batch's statistics; fold them in: "
        "(1 - momentum) * running + momentum * new.",
        ((_MEAN, "running_mean = mu"), (_VAR, "running_var = var")),
    ),
    Mistake(
        "update_running_averages",
        "var_folds_in_mu",
        "running_var folds in the batch mean mu; it averages the batch variance var.",
        (("momentum * var", "momentum * mu"),),
    ),
    Mistake(
        "update_running_averages",
        "std_instead_of_var",
        "running_var folds in the standard deviation sqrt(var); it averages the variance itself.",
        (("momentum * var", "momentum * np.sqrt(var)"),),
    ),
    # --------------------------------------------------- batchnorm_forward_inference
    Mistake(
        "batchnorm_forward_inference",
        "batch_statistics",
        "Z is normalized with the mean and variance of this batch; at test time use "
        "running_mean and running_var, so each example is normalized on its own.",
        (
            (
                _NORM,
                "Z_norm = (Z - Z.mean(axis=1, keepdims=True)) / np.sqrt(Z.var(axis=1, keepdims=True) + eps)",
            ),
        ),
    ),
    Mistake(
        "batchnorm_forward_inference",
        "eps_outside_sqrt",
        "eps is added outside the square root; as in training it goes inside: "
        "sqrt(running_var + eps).",
        (("np.sqrt(running_var + eps)", "(np.sqrt(running_var) + eps)"),),
    ),
    Mistake(
        "batchnorm_forward_inference",
        "no_sqrt",
        "Z - running_mean is divided by the variance; divide by the standard deviation, "
        "sqrt(running_var + eps).",
        (("np.sqrt(running_var + eps)", "(running_var + eps)"),),
    ),
    Mistake(
        "batchnorm_forward_inference",
        "gamma_beta_left_out",
        "gamma and beta are left out: Z_tilde = gamma * Z_norm + beta at test time too.",
        (("Z_tilde = gamma * Z_norm + beta", "Z_tilde = Z_norm"),),
    ),
    Mistake(
        "batchnorm_forward_inference",
        "gamma_beta_swapped",
        "gamma and beta are swapped: Z_tilde = gamma * Z_norm + beta (gamma scales, beta shifts).",
        (("Z_tilde = gamma * Z_norm + beta", "Z_tilde = beta * Z_norm + gamma"),),
    ),
]

# ----------------------------------------------------- model_forward_inference

_BN_CALL = "Z_tilde = batchnorm_forward_inference("
_RUNNING_ARGS = '            running[f"mean{l}"],\n            running[f"var{l}"],\n'
_OUTPUT = 'ZL = parameters[f"W{L}"] @ A + parameters[f"b{L}"]'

MISTAKES += [
    Mistake(
        "model_forward_inference",
        "batch_statistics",
        "the hidden layers normalize with the statistics of this batch (batchnorm_forward, "
        'training mode); at test time call batchnorm_forward_inference with running[f"mean{l}"] '
        'and running[f"var{l}"], so each example is processed on its own.',
        ((_BN_CALL, "Z_tilde, _ = batchnorm_forward("), (_RUNNING_ARGS, "")),
    ),
    Mistake(
        "model_forward_inference",
        "mean_var_swapped",
        'running[f"var{l}"] is passed as the mean and running[f"mean{l}"] as the variance: '
        "batchnorm_forward_inference takes (Z, gamma, beta, running_mean, running_var).",
        (
            (
                _RUNNING_ARGS,
                '            running[f"var{l}"],\n            running[f"mean{l}"],\n',
            ),
        ),
    ),
    Mistake(
        "model_forward_inference",
        "gamma_beta_swapped",
        "gamma and beta are passed in the wrong order: batchnorm_forward_inference takes "
        "(Z, gamma, beta, running_mean, running_var).",
        (
            (
                '            parameters[f"gamma{l}"],\n            parameters[f"beta{l}"],\n',
                '            parameters[f"beta{l}"],\n            parameters[f"gamma{l}"],\n',
            ),
        ),
    ),
    Mistake(
        "model_forward_inference",
        "activation_ignored",
        'the hidden layers always use relu; use the activation passed in (activation="tanh" '
        'or "sigmoid" too), as model_forward does.',
        (
            (
                "A = activation_forward(Z_tilde, activation)",
                'A = activation_forward(Z_tilde, "relu")',
            ),
        ),
    ),
    Mistake(
        "model_forward_inference",
        "output_bias_missing",
        "the output layer has no bias: the output layer has no Batch Norm, so it keeps bL: "
        "ZL = WL A[L-1] + bL.",
        ((_OUTPUT, 'ZL = parameters[f"W{L}"] @ A'),),
    ),
    Mistake(
        "model_forward_inference",
        "no_softmax",
        "AL is the output layer's ZL; the network's output is softmax(ZL), the class "
        "probabilities (each column sums to 1).",
        (("AL = softmax(ZL)", "AL = ZL"),),
    ),
]

# ------------------------------------------------------------------- fold_batchnorm

_SCALE = "scale = gamma / np.sqrt(running_var + eps)"
_W_FOLDED = "W_folded = scale * W"
_B_FOLDED = "b_folded = beta - scale * running_mean"

MISTAKES += [
    Mistake(
        "fold_batchnorm",
        "eps_left_out",
        "eps is left out of the scale; the folded layer must compute what Batch Norm "
        "computed at test time: scale = gamma / sqrt(running_var + eps).",
        ((_SCALE, "scale = gamma / np.sqrt(running_var)"),),
    ),
    Mistake(
        "fold_batchnorm",
        "no_sqrt",
        "the scale divides gamma by the variance; divide by the standard deviation, "
        "sqrt(running_var + eps).",
        ((_SCALE, "scale = gamma / (running_var + eps)"),),
    ),
    Mistake(
        "fold_batchnorm",
        "W_not_scaled",
        "W is returned as it was; every row of W is scaled too: W_folded = scale * W, "
        "with scale = gamma / sqrt(running_var + eps) one number per unit (row).",
        ((_W_FOLDED, "W_folded = W"),),
    ),
    Mistake(
        "fold_batchnorm",
        "mean_not_scaled",
        "the running mean is subtracted without the scale: Batch Norm subtracts it before "
        "scaling, so b_folded = beta - scale * running_mean.",
        ((_B_FOLDED, "b_folded = beta - running_mean"),),
    ),
    Mistake(
        "fold_batchnorm",
        "mean_sign",
        "the running mean is added instead of subtracted: b_folded = beta - scale * running_mean.",
        ((_B_FOLDED, "b_folded = beta + scale * running_mean"),),
    ),
    Mistake(
        "fold_batchnorm",
        "beta_left_out",
        "beta is left out of the bias; Batch Norm adds it after the scale: "
        "b_folded = beta - scale * running_mean.",
        ((_B_FOLDED, "b_folded = -scale * running_mean"),),
    ),
]
