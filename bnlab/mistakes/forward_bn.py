"""Classic mistakes of notebook 01 (forward BN)."""

from bnlab.mistakes import Mistake

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
