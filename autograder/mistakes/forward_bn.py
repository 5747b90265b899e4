"""Classic mistakes of notebook 01 (forward BN)."""

from autograder.mistakes import Mistake

MISTAKES = [
    Mistake(
        "batchnorm_forward",
        "wrong_axis",
        "the statistics are taken over the units (axis=0) instead of over the examples "
        "of the mini-batch (axis=1): each row is one unit, each column one example.",
        (("np.mean(Z, axis=1", "np.mean(Z, axis=0"), ("Z_centered, axis=1", "Z_centered, axis=0")),
    ),
    Mistake(
        "batchnorm_forward",
        "unbiased_variance",
        "the variance divides by m - 1; Batch Norm uses the biased variance, 1/m sum (Z - mu)^2.",
        (
            (
                "var = np.mean(Z_centered * Z_centered, axis=1, keepdims=True)",
                "var = np.var(Z, axis=1, keepdims=True, ddof=1)",
            ),
        ),
    ),
    Mistake(
        "batchnorm_forward",
        "eps_outside_sqrt",
        "eps is added outside the square root; it belongs inside: sqrt(var + eps).",
        (("np.sqrt(var + eps)", "(np.sqrt(var) + eps)"),),
    ),
    Mistake(
        "batchnorm_forward",
        "gamma_beta_swapped",
        "gamma and beta are swapped: Z_tilde = gamma * Z_norm + beta (gamma scales, beta shifts).",
        (("Z_tilde = gamma * Z_norm + beta", "Z_tilde = beta * Z_norm + gamma"),),
    ),
    Mistake(
        "batchnorm_forward",
        "gamma_beta_left_out",
        "gamma and beta are left out: Z_tilde is gamma * Z_norm + beta, not Z_norm.",
        (("Z_tilde = gamma * Z_norm + beta", "Z_tilde = Z_norm"),),
    ),
]
MISTAKES += [
    Mistake(
        "batchnorm_forward",
        "not_centered",
        "Z is divided by the standard deviation without subtracting the mean first: "
        "Z_norm = (Z - mu) / sqrt(var + eps).",
        (
            (
                "Z_norm = Z_centered * (1 / np.sqrt(var + eps))",
                "Z_norm = Z * (1 / np.sqrt(var + eps))",
            ),
        ),
    ),
    Mistake(
        "batchnorm_forward",
        "no_sqrt",
        "Z - mu is divided by the variance; divide by the standard deviation, sqrt(var + eps).",
        (("(1 / np.sqrt(var + eps))", "(1 / (var + eps))"),),
    ),
    Mistake(
        "linear_bn_activation_forward",
        "bn_after_activation",
        "Batch Norm is applied after the activation; it sits between Z and A: "
        "Z_tilde = BN(Z), then A = g(Z_tilde).",
        (
            (
                "Z_tilde, bn_cache = batchnorm_forward(Z, gamma, beta)",
                "Z_tilde, bn_cache = batchnorm_forward(activation_forward(Z, activation), gamma, beta)",
            ),
            ("A = activation_forward(Z_tilde, activation)", "A = Z_tilde"),
        ),
    ),
    Mistake(
        "linear_bn_activation_forward",
        "activation_of_Z",
        "the activation is applied to Z, skipping Batch Norm: A = g(Z_tilde), not g(Z).",
        (("A = activation_forward(Z_tilde, activation)", "A = activation_forward(Z, activation)"),),
    ),
    Mistake(
        "linear_bn_activation_forward",
        "activation_ignored",
        "the `activation` argument is ignored (relu every time): pass it on to activation_forward.",
        (
            (
                "A = activation_forward(Z_tilde, activation)",
                'A = activation_forward(Z_tilde, "relu")',
            ),
        ),
    ),
    Mistake(
        "linear_bn_activation_forward",
        "cache_holds_Z",
        "the activation cache holds Z; it must hold the activation's input, Z_tilde "
        "(the backward pass evaluates g'(Z_tilde)).",
        (("(Z_tilde, activation))", "(Z, activation))"),),
    ),
]
