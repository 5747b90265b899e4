"""Classic mistakes of notebook 01 (forward BN)."""

from autograder.content.mistakes import CorrectVariant, Mistake

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
        "gamma and beta are left out (or Z_norm is returned in place of Z_tilde): "
        "Z_tilde is gamma * Z_norm + beta, not Z_norm.",
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
        "batchnorm_forward",
        "no_axis",
        "the mean and the variance are taken over the whole array (no axis): each unit (row) "
        "has its own, over the examples: axis=1, keepdims=True, shape (n_l, 1).",
        (
            ("np.mean(Z, axis=1, keepdims=True)", "np.mean(Z)"),
            (
                "np.mean(Z_centered * Z_centered, axis=1, keepdims=True)",
                "np.mean(Z_centered * Z_centered)",
            ),
        ),
    ),
    Mistake(
        "batchnorm_forward",
        "var_not_centered",
        "the variance is the mean of Z squared; it is the mean of (Z - mu) squared: "
        "var = 1/m sum (Z - mu)^2.",
        (("np.mean(Z_centered * Z_centered,", "np.mean(Z * Z,"),),
    ),
    Mistake(
        "batchnorm_forward",
        "no_eps",
        "eps is left out: divide by sqrt(var + eps), which stays finite when a unit's "
        "variance is 0 (a constant row, or m = 1).",
        (("np.sqrt(var + eps)", "np.sqrt(var)"),),
    ),
    Mistake(
        "batchnorm_forward",
        "beta_multiplied",
        "beta multiplies; it is added: Z_tilde = gamma * Z_norm + beta.",
        (("Z_tilde = gamma * Z_norm + beta", "Z_tilde = gamma * Z_norm * beta"),),
    ),
    Mistake(
        "batchnorm_forward",
        "beta_scaled_by_gamma",
        "beta is added before gamma scales, so gamma scales beta too: "
        "Z_tilde = gamma * Z_norm + beta, not gamma * (Z_norm + beta).",
        (("Z_tilde = gamma * Z_norm + beta", "Z_tilde = gamma * (Z_norm + beta)"),),
    ),
    Mistake(
        "batchnorm_forward",
        "gamma_before_normalizing",
        "gamma scales Z before the normalization, which undoes the scaling: normalize "
        "Z first, then scale and shift: Z_tilde = gamma * Z_norm + beta.",
        (
            (
                "mu = np.mean(Z, axis=1, keepdims=True)",
                "Z_scaled = gamma * Z\n    mu = np.mean(Z_scaled, axis=1, keepdims=True)",
            ),
            ("Z_centered = Z - mu", "Z_centered = Z_scaled - mu"),
            ("Z_tilde = gamma * Z_norm + beta", "Z_tilde = Z_norm + beta"),
        ),
    ),
    Mistake(
        "batchnorm_forward",
        "cache_mu_var_swapped",
        "mu and var are swapped in the cache: it is (Z, Z_norm, mu, var, gamma, beta, eps), "
        "in that order.",
        (("cache = (Z, Z_norm, mu, var,", "cache = (Z, Z_norm, var, mu,"),),
    ),
    Mistake(
        "batchnorm_forward",
        "cache_without_eps",
        "the cache has no eps; the backward pass needs it: "
        "cache = (Z, Z_norm, mu, var, gamma, beta, eps).",
        (
            (
                "cache = (Z, Z_norm, mu, var, gamma, beta, eps)",
                "cache = (Z, Z_norm, mu, var, gamma, beta)",
            ),
        ),
    ),
    Mistake(
        "batchnorm_forward",
        "cache_holds_std",
        "the cache holds the standard deviation where var belongs: "
        "cache = (Z, Z_norm, mu, var, gamma, beta, eps), var without the square root.",
        (
            (
                "cache = (Z, Z_norm, mu, var, gamma, beta, eps)",
                "cache = (Z, Z_norm, mu, np.sqrt(var + eps), gamma, beta, eps)",
            ),
        ),
    ),
    Mistake(
        "linear_bn_activation_forward",
        "bn_after_activation",
        "Batch Norm is applied after the activation. In the lecture's convention it "
        "sits between Z and A: Z_tilde = BN(Z), then A = g(Z_tilde).",
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

CORRECT_VARIANTS = [
    CorrectVariant(
        "batchnorm_forward",
        "np_var",
        "np.var divides by m (ddof=0 by default): the biased variance",
        (
            (
                "var = np.mean(Z_centered * Z_centered, axis=1, keepdims=True)",
                "var = np.var(Z, axis=1, keepdims=True)",
            ),
        ),
    ),
    CorrectVariant(
        "batchnorm_forward",
        "divide_by_std",
        "(Z - mu) / sqrt(var + eps) is the product by the inverse, written as a division",
        (
            (
                "Z_norm = Z_centered * (1 / np.sqrt(var + eps))",
                "std = np.sqrt(var + eps)\n    Z_norm = (Z - mu) / std",
            ),
        ),
    ),
    CorrectVariant(
        "batchnorm_forward",
        "sum_over_m_and_square",
        "the mean written as a sum over m, the square as ** 2",
        (
            (
                "mu = np.mean(Z, axis=1, keepdims=True)",
                "m = Z.shape[1]\n    mu = np.sum(Z, axis=1, keepdims=True) / m",
            ),
            (
                "var = np.mean(Z_centered * Z_centered, axis=1, keepdims=True)",
                "var = np.sum(Z_centered**2, axis=1, keepdims=True) / m",
            ),
        ),
    ),
]
