"""Classic mistakes of notebook 05 (optimizers)."""

from autograder.content.mistakes import CorrectVariant, Mistake


def _only_w(function, step):
    """The mistake of updating the weights only: gamma, beta and b keep their values."""
    return Mistake(
        function,
        "only_W_updated",
        "only the W keys are updated; gamma, beta and bL are parameters too: "
        "loop over every key of parameters.",
        ((step, f'{step} if key.startswith("W") else parameters[key]'),),
    )


def _gamma_beta_skipped(function, step):
    return Mistake(
        function,
        "gamma_beta_skipped",
        "gamma and beta are left untouched; the optimizer updates them like W and b "
        "(every key of parameters).",
        ((step, f'{step} if not key.startswith(("gamma", "beta")) else parameters[key]'),),
    )


_GD_STEP = 'new_parameters[key] = parameters[key] - learning_rate * grads["d" + key]'
_MOMENTUM_STEP = "new_parameters[key] = parameters[key] - learning_rate * new_v[key]"
_RMS_STEP = (
    "new_parameters[key] = parameters[key] - learning_rate * g / (np.sqrt(new_s[key]) + epsilon)"
)
_ADAM_STEP = (
    "new_parameters[key] = parameters[key] - learning_rate * v_hat / (np.sqrt(s_hat) + epsilon)"
)

MISTAKES = [
    # -------------------------------------------------------------------- gradient descent
    _only_w("update_parameters_with_gd", _GD_STEP),
    _gamma_beta_skipped("update_parameters_with_gd", _GD_STEP),
    Mistake(
        "update_parameters_with_gd",
        "uphill",
        "the step goes uphill: subtract learning_rate * gradient from each parameter.",
        (("parameters[key] - learning_rate", "parameters[key] + learning_rate"),),
    ),
    # ------------------------------------------------------------------------- momentum
    _only_w("update_parameters_with_momentum", _MOMENTUM_STEP),
    Mistake(
        "update_parameters_with_momentum",
        "no_one_minus_beta",
        "the new gradient enters the velocity without its weight (1 - beta_momentum): "
        'v = beta_momentum * v + (1 - beta_momentum) * grads["d" + key].',
        (("(1 - beta_momentum) * grads", "grads"),),
    ),
    Mistake(
        "update_parameters_with_momentum",
        "weights_swapped",
        "beta_momentum weighs the new gradient instead of the old velocity: "
        'v = beta_momentum * v + (1 - beta_momentum) * grads["d" + key].',
        (
            (
                'beta_momentum * v[key] + (1 - beta_momentum) * grads["d" + key]',
                '(1 - beta_momentum) * v[key] + beta_momentum * grads["d" + key]',
            ),
        ),
    ),
    Mistake(
        "update_parameters_with_momentum",
        "step_along_gradient",
        "the step follows the raw gradient; momentum steps along the updated velocity: "
        "parameter = parameter - learning_rate * v.",
        ((_MOMENTUM_STEP, _MOMENTUM_STEP.replace("new_v[key]", 'grads["d" + key]')),),
    ),
    Mistake(
        "update_parameters_with_momentum",
        "old_velocity",
        "the step uses the velocity from before this update; update v first, then step "
        "with the new v.",
        ((_MOMENTUM_STEP, _MOMENTUM_STEP.replace("new_v[key]", "v[key]")),),
    ),
    # -------------------------------------------------------------------------- RMSprop
    _only_w("update_parameters_with_rmsprop", _RMS_STEP),
    Mistake(
        "update_parameters_with_rmsprop",
        "no_sqrt",
        'the step divides by s instead of its square root: grads["d" + key] / (sqrt(s) + epsilon).',
        (("np.sqrt(new_s[key]) + epsilon", "new_s[key] + epsilon"),),
    ),
    Mistake(
        "update_parameters_with_rmsprop",
        "epsilon_inside_sqrt",
        "epsilon is inside the square root; it is added after it: sqrt(s) + epsilon.",
        (("(np.sqrt(new_s[key]) + epsilon)", "np.sqrt(new_s[key] + epsilon)"),),
    ),
    Mistake(
        "update_parameters_with_rmsprop",
        "not_squared",
        "s averages the gradients' absolute values, not their squares: "
        's = beta_rms * s + (1 - beta_rms) * grads["d" + key] ** 2, entry by entry.',
        (("(1 - beta_rms) * g**2", "(1 - beta_rms) * np.abs(g)"),),
    ),
    Mistake(
        "update_parameters_with_rmsprop",
        "no_one_minus_beta",
        "the squared gradient enters s without its weight (1 - beta_rms): "
        's = beta_rms * s + (1 - beta_rms) * grads["d" + key] ** 2.',
        (("(1 - beta_rms) * g**2", "g**2"),),
    ),
    # ----------------------------------------------------------------------------- Adam
    _only_w("update_parameters_with_adam", _ADAM_STEP),
    _gamma_beta_skipped("update_parameters_with_adam", _ADAM_STEP),
    Mistake(
        "update_parameters_with_adam",
        "no_bias_correction",
        "the bias correction is missing: divide v by (1 - beta_momentum ** t) and s by "
        "(1 - beta_rms ** t) before the step.",
        (
            ("v_hat = new_v[key] / (1 - beta_momentum**t)", "v_hat = new_v[key]"),
            ("s_hat = new_s[key] / (1 - beta_rms**t)", "s_hat = new_s[key]"),
        ),
    ),
    Mistake(
        "update_parameters_with_adam",
        "correction_with_t_minus_1",
        "the bias correction uses t - 1; t counts from 1 at the first step, and the "
        "correction is 1 - beta ** t.",
        (
            ("beta_momentum**t", "beta_momentum ** (t - 1)"),
            ("beta_rms**t", "beta_rms ** (t - 1)"),
        ),
    ),
    Mistake(
        "update_parameters_with_adam",
        "corrected_state",
        "v and s are returned bias-corrected; keep the uncorrected averages in v and s "
        "(the correction only enters this step).",
        (
            ("v_hat = new_v[key] / (1", "new_v[key] = v_hat = new_v[key] / (1"),
            ("s_hat = new_s[key] / (1", "new_s[key] = s_hat = new_s[key] / (1"),
        ),
    ),
    Mistake(
        "update_parameters_with_adam",
        "no_sqrt",
        "the step divides by s_hat instead of its square root: v_hat / (sqrt(s_hat) + epsilon).",
        (("np.sqrt(s_hat) + epsilon", "s_hat + epsilon"),),
    ),
    Mistake(
        "update_parameters_with_adam",
        "decay_rates_swapped",
        "the decay rates are swapped: beta_momentum belongs to v (the average of gradients), "
        "beta_rms to s (the average of squared gradients).",
        (
            (
                "beta_momentum * v[key] + (1 - beta_momentum) * g",
                "beta_rms * v[key] + (1 - beta_rms) * g",
            ),
            (
                "beta_rms * s[key] + (1 - beta_rms) * g**2",
                "beta_momentum * s[key] + (1 - beta_momentum) * g**2",
            ),
        ),
    ),
    Mistake(
        "update_parameters_with_adam",
        "correction_with_t_plus_1",
        "the bias correction uses t + 1; t is the number of this step (1 at the first), "
        "and the correction is 1 - beta ** t.",
        (
            ("beta_momentum**t", "beta_momentum ** (t + 1)"),
            ("beta_rms**t", "beta_rms ** (t + 1)"),
        ),
    ),
    Mistake(
        "update_parameters_with_adam",
        "t_not_used",
        "the bias correction does not use t: divide by 1 - beta_momentum ** t and "
        "1 - beta_rms ** t, powers of the step number.",
        (
            ("beta_momentum**t", "beta_momentum"),
            ("beta_rms**t", "beta_rms"),
        ),
    ),
    Mistake(
        "update_parameters_with_adam",
        "correction_parenthesized",
        "the bias correction raises (1 - beta) to the power t; only beta is raised: "
        "1 - beta_momentum ** t and 1 - beta_rms ** t.",
        (
            ("(1 - beta_momentum**t)", "(1 - beta_momentum) ** t"),
            ("(1 - beta_rms**t)", "(1 - beta_rms) ** t"),
        ),
    ),
    Mistake(
        "update_parameters_with_adam",
        "epsilon_inside_sqrt",
        "epsilon is inside the square root; it is added after it: sqrt(s_hat) + epsilon.",
        (("(np.sqrt(s_hat) + epsilon)", "np.sqrt(s_hat + epsilon)"),),
    ),
    Mistake(
        "update_parameters_with_adam",
        "step_with_uncorrected_v",
        "the step uses v, not the corrected v_hat = v / (1 - beta_momentum ** t): "
        "parameter - learning_rate * v_hat / (sqrt(s_hat) + epsilon).",
        (("learning_rate * v_hat /", "learning_rate * new_v[key] /"),),
    ),
    Mistake(
        "update_parameters_with_adam",
        "step_with_uncorrected_s",
        "the step divides by sqrt(s), not by the corrected sqrt(s_hat), "
        "s_hat = s / (1 - beta_rms ** t).",
        (("np.sqrt(s_hat) + epsilon", "np.sqrt(new_s[key]) + epsilon"),),
    ),
    Mistake(
        "update_parameters_with_adam",
        "s_from_v",
        "s averages the squared velocity v ** 2; it averages the squared gradient: "
        's = beta_rms * s + (1 - beta_rms) * grads["d" + key] ** 2.',
        (("(1 - beta_rms) * g**2", "(1 - beta_rms) * new_v[key] ** 2"),),
    ),
    Mistake(
        "update_parameters_with_adam",
        "not_squared",
        "s averages the gradients, not their squares (a negative s has no square root): "
        's = beta_rms * s + (1 - beta_rms) * grads["d" + key] ** 2.',
        (("(1 - beta_rms) * g**2", "(1 - beta_rms) * g"),),
    ),
    Mistake(
        "update_parameters_with_adam",
        "no_one_minus_beta",
        "the new gradient enters v and s without its weight: "
        'v = beta_momentum * v + (1 - beta_momentum) * grads["d" + key], and '
        's = beta_rms * s + (1 - beta_rms) * grads["d" + key] ** 2.',
        (
            (
                "new_v[key] = beta_momentum * v[key] + (1 - beta_momentum) * g",
                "new_v[key] = beta_momentum * v[key] + g",
            ),
            (
                "new_s[key] = beta_rms * s[key] + (1 - beta_rms) * g**2",
                "new_s[key] = beta_rms * s[key] + g**2",
            ),
        ),
    ),
]

CORRECT_VARIANTS = [
    CorrectVariant(
        "update_parameters_with_adam",
        "copies_updated_in_place",
        "parameters copied first, then the copies updated with -=: the inputs stay unchanged",
        (
            (
                "new_parameters, new_v, new_s = {}, {}, {}",
                "new_parameters = {key: value.copy() for key, value in parameters.items()}\n"
                "    new_v, new_s = {}, {}",
            ),
            (
                "new_parameters[key] = parameters[key] - learning_rate",
                "new_parameters[key] -= learning_rate",
            ),
        ),
    ),
    CorrectVariant(
        "update_parameters_with_adam",
        "np_power_and_square",
        "np.power(beta, t) and np.square(g) for beta ** t and g ** 2",
        (
            ("beta_momentum**t", "np.power(beta_momentum, t)"),
            ("beta_rms**t", "np.power(beta_rms, t)"),
            ("(1 - beta_rms) * g**2", "(1 - beta_rms) * np.square(g)"),
        ),
    ),
]
