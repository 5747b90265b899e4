"""Classic mistakes of notebook 02 (backward BN)."""

from autograder.mistakes import Mistake

SUMS_NOT_MEANS = (
    "dbeta and dgamma are means over the examples; they are sums: the 1/m of the cost "
    "is already inside dZ_tilde (it entered once, at dZ[L] = (AL - Y) / m)."
)

MISTAKES = [
    # ----------------------------------------------------- the staged backward pass
    Mistake(
        "batchnorm_backward_staged",
        "missing_var_path",
        "the path through var is missing: Z_centered feeds both Z_norm and var, so "
        "dZ_centered is the sum of two gradients (add dvar * 2 * Z_centered / m).",
        (
            (
                "dZ_centered = dZ_centered + dvar * 2 * Z_centered / m",
                "dZ_centered = dZ_centered",
            ),
        ),
    ),
    Mistake(
        "batchnorm_backward_staged",
        "missing_mu_path",
        "the path through mu is missing: Z feeds both Z_centered and mu, so dZ is "
        "dZ_centered plus dmu / m (mu is a mean over the m examples).",
        (("dZ = dZ + dmu / m", "dZ = dZ"),),
    ),
    Mistake(
        "batchnorm_backward_staged",
        "inv_std_not_summed",
        "dinv_std is not summed over the examples: inv_std is one number per unit, "
        "so its gradient adds up the contributions of all m examples (axis=1).",
        (
            (
                "dinv_std = np.sum(dZ_norm * Z_centered, axis=1, keepdims=True)",
                "dinv_std = dZ_norm * Z_centered",
            ),
        ),
    ),
    Mistake(
        "batchnorm_backward_staged",
        "dgamma_uses_Z",
        "dgamma sums dZ_tilde * Z; gamma multiplies Z_norm, so dgamma = sum of dZ_tilde * Z_norm.",
        (("dgamma = np.sum(dZ_tilde * Z_norm,", "dgamma = np.sum(dZ_tilde * Z,"),),
    ),
    Mistake(
        "batchnorm_backward_staged",
        "means_not_sums",
        SUMS_NOT_MEANS,
        (
            ("dbeta = np.sum(dZ_tilde,", "dbeta = np.mean(dZ_tilde,"),
            ("dgamma = np.sum(dZ_tilde * Z_norm,", "dgamma = np.mean(dZ_tilde * Z_norm,"),
        ),
    ),
    Mistake(
        "batchnorm_backward_staged",
        "wrong_axis",
        "dbeta and dgamma are summed over the units (axis=0); sum over the examples "
        "(axis=1), one value per unit, shape (n_l, 1).",
        (
            ("dbeta = np.sum(dZ_tilde, axis=1,", "dbeta = np.sum(dZ_tilde, axis=0,"),
            (
                "dgamma = np.sum(dZ_tilde * Z_norm, axis=1,",
                "dgamma = np.sum(dZ_tilde * Z_norm, axis=0,",
            ),
        ),
    ),
    # ---------------------------------------------------------- the closed form
    Mistake(
        "batchnorm_backward",
        "missing_mu_term",
        "the dbeta / m term is missing (the path through mu): "
        "dZ = gamma / sqrt(var + eps) * (dZ_tilde - (dbeta + Z_norm * dgamma) / m).",
        (("(dZ_tilde - (dbeta + Z_norm * dgamma) / m)", "(dZ_tilde - Z_norm * dgamma / m)"),),
    ),
    Mistake(
        "batchnorm_backward",
        "missing_var_term",
        "the Z_norm * dgamma / m term is missing (the path through var): "
        "dZ = gamma / sqrt(var + eps) * (dZ_tilde - (dbeta + Z_norm * dgamma) / m).",
        (("(dZ_tilde - (dbeta + Z_norm * dgamma) / m)", "(dZ_tilde - dbeta / m)"),),
    ),
    Mistake(
        "batchnorm_backward",
        "no_gamma",
        "gamma is missing in front: Z_tilde = gamma * Z_norm + beta, so dZ_norm = gamma * dZ_tilde "
        "and dZ starts with gamma / sqrt(var + eps).",
        (("(gamma / np.sqrt(var + eps))", "(1 / np.sqrt(var + eps))"),),
    ),
    Mistake(
        "batchnorm_backward",
        "no_1_over_m",
        "the correction term is not divided by m: subtract (dbeta + Z_norm * dgamma) / m.",
        (("(dZ_tilde - (dbeta + Z_norm * dgamma) / m)", "(dZ_tilde - (dbeta + Z_norm * dgamma))"),),
    ),
    Mistake(
        "batchnorm_backward",
        "eps_outside_sqrt",
        "eps is added outside the square root; as in the forward pass it belongs inside: "
        "sqrt(var + eps).",
        (("(gamma / np.sqrt(var + eps))", "(gamma / (np.sqrt(var) + eps))"),),
    ),
    Mistake(
        "batchnorm_backward",
        "means_not_sums",
        SUMS_NOT_MEANS,
        (
            ("dbeta = np.sum(dZ_tilde,", "dbeta = np.mean(dZ_tilde,"),
            ("dgamma = np.sum(dZ_tilde * Z_norm,", "dgamma = np.mean(dZ_tilde * Z_norm,"),
        ),
    ),
    # --------------------------------------------------------------- one layer
    Mistake(
        "linear_bn_activation_backward",
        "bn_backward_skipped",
        "Batch Norm's backward pass is skipped: dW and dA_prev need dZ = batchnorm_backward(...)[0], "
        "not dZ_tilde.",
        (
            ("dW = dZ @ A_prev.T", "dW = dZ_tilde @ A_prev.T"),
            ("dA_prev = W.T @ dZ", "dA_prev = W.T @ dZ_tilde"),
        ),
    ),
    Mistake(
        "linear_bn_activation_backward",
        "activation_derivative_at_Z",
        "g'() is evaluated at Z; the activation's input is Z_tilde, stored in the activation cache.",
        (
            (
                "activation_backward(dA, Z_tilde, activation)",
                "activation_backward(dA, bn_cache[0], activation)",
            ),
        ),
    ),
    Mistake(
        "linear_bn_activation_backward",
        "activation_backward_skipped",
        "the activation's backward pass is skipped: dZ_tilde = dA * g'(Z_tilde), not dA.",
        (("dZ_tilde = activation_backward(dA, Z_tilde, activation)", "dZ_tilde = dA"),),
    ),
    Mistake(
        "linear_bn_activation_backward",
        "dW_over_m",
        "dW is divided by m once more: the 1/m of the cost is already inside dA, so dW = dZ A_prev^T.",
        (("dW = dZ @ A_prev.T", "dW = dZ @ A_prev.T / A_prev.shape[1]"),),
    ),
    Mistake(
        "linear_bn_activation_backward",
        "dW_transposed",
        "dW is transposed: dW = dZ A_prev^T has W's shape (n_l, n_(l-1)).",
        (("dW = dZ @ A_prev.T", "dW = A_prev @ dZ.T"),),
    ),
]
