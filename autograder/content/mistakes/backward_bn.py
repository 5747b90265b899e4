"""Classic mistakes of notebook 02 (backward BN)."""

from autograder.content.mistakes import CorrectVariant, Mistake

SUMS_NOT_MEANS = (
    "dbeta and dgamma are means over the examples; they are sums: the 1/m of the cost "
    "is already inside dZ_tilde (it entered once, at dZ[L] = (AL - Y) / m)."
)

RETURNS_SWAPPED = "dgamma and dbeta are returned in the wrong order: return (dZ, dgamma, dbeta)."
MU_VAR_AS_CONSTANTS = (
    "mu and var are treated as constants: both depend on Z, so dZ has two more terms "
    "than gamma / sqrt(var + eps) * dZ_tilde (the paths through mu and through var)."
)

# The same lines in the staged and the closed-form backward pass.
WRONG_AXIS = (
    "dbeta and dgamma are summed over the units (axis=0); sum over the examples "
    "(axis=1), one value per unit, shape (n_l, 1)."
)
WRONG_AXIS_EDITS = (
    ("dbeta = np.sum(dZ_tilde, axis=1,", "dbeta = np.sum(dZ_tilde, axis=0,"),
    ("dgamma = np.sum(dZ_tilde * Z_norm, axis=1,", "dgamma = np.sum(dZ_tilde * Z_norm, axis=0,"),
)

MISTAKES = [
    # ----------------------------------------------------- the staged backward pass
    Mistake(
        "batchnorm_backward_staged",
        "missing_var_path",
        "the path through var is missing: Z_centered feeds both Z_norm and var, so "
        "dZ_centered is the sum of two gradients. The row of section 3's table for the "
        "node var = mean(Z_c^2) gives the second one.",
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
        "the sum of two gradients. The row of section 3's table for the node "
        "mu = mean(Z) gives the second one.",
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
        WRONG_AXIS,
        WRONG_AXIS_EDITS,
    ),
    Mistake(
        "batchnorm_backward_staged",
        "no_keepdims",
        "dbeta and dgamma lost their second axis: sum with keepdims=True so that they "
        "have gamma's and beta's shape (n_l, 1).",
        (
            (
                "dbeta = np.sum(dZ_tilde, axis=1, keepdims=True)",
                "dbeta = np.sum(dZ_tilde, axis=1)",
            ),
            (
                "dgamma = np.sum(dZ_tilde * Z_norm, axis=1, keepdims=True)",
                "dgamma = np.sum(dZ_tilde * Z_norm, axis=1)",
            ),
        ),
    ),
    Mistake(
        "batchnorm_backward_staged",
        "no_gamma",
        "gamma is missing from dZ_norm: Z_tilde = gamma * Z_norm + beta, so "
        "dZ_norm = dZ_tilde * gamma.",
        (("dZ_norm = dZ_tilde * gamma", "dZ_norm = dZ_tilde"),),
    ),
    Mistake(
        "batchnorm_backward_staged",
        "dvar_sign",
        "dvar has the wrong sign: the derivative of (var + eps) ** -1/2 is "
        "-1/2 (var + eps) ** -3/2 (minus).",
        (("dvar = dinv_std * -0.5 *", "dvar = dinv_std * 0.5 *"),),
    ),
    Mistake(
        "batchnorm_backward_staged",
        "dvar_power",
        "dvar has the wrong power: the derivative of (var + eps) ** -1/2 is "
        "-1/2 (var + eps) ** -3/2.",
        (("(var + eps) ** -1.5", "(var + eps) ** -0.5"),),
    ),
    Mistake(
        "batchnorm_backward_staged",
        "dvar_over_m_minus_1",
        "the path through var divides by m - 1: var = 1/m sum (Z - mu)^2 (biased), so its "
        "gradient to Z_centered is dvar * 2 * Z_centered / m.",
        (("dvar * 2 * Z_centered / m", "dvar * 2 * Z_centered / (m - 1)"),),
    ),
    Mistake(
        "batchnorm_backward_staged",
        "dvar_not_over_m",
        "the path through var misses its 1/m: var is a mean over the m examples, so its "
        "gradient to Z_centered is dvar * 2 * Z_centered / m.",
        (("dvar * 2 * Z_centered / m", "dvar * 2 * Z_centered"),),
    ),
    Mistake(
        "batchnorm_backward_staged",
        "dmu_sign",
        "dmu has the wrong sign: Z_centered = Z - mu, so dmu = -sum of dZ_centered over the examples.",
        (("dmu = -np.sum(dZ_centered", "dmu = np.sum(dZ_centered"),),
    ),
    Mistake(
        "batchnorm_backward_staged",
        "dmu_not_over_m",
        "the path through mu misses its 1/m: mu is a mean over the m examples, so dZ gets dmu / m.",
        (("dZ = dZ + dmu / m", "dZ = dZ + dmu"),),
    ),
    Mistake(
        "batchnorm_backward_staged",
        "mu_var_as_constants",
        MU_VAR_AS_CONSTANTS,
        (
            (
                "dZ_centered = dZ_centered + dvar * 2 * Z_centered / m",
                "dZ_centered = dZ_centered",
            ),
            ("dZ = dZ + dmu / m", "dZ = dZ"),
        ),
    ),
    Mistake(
        "batchnorm_backward_staged",
        "returns_swapped",
        RETURNS_SWAPPED,
        (("return dZ, dgamma, dbeta", "return dZ, dbeta, dgamma"),),
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
    Mistake(
        "batchnorm_backward",
        "mu_var_as_constants",
        MU_VAR_AS_CONSTANTS,
        (("(dZ_tilde - (dbeta + Z_norm * dgamma) / m)", "dZ_tilde"),),
    ),
    Mistake(
        "batchnorm_backward",
        "dgamma_uses_Z",
        "dgamma sums dZ_tilde * Z; gamma multiplies Z_norm, so dgamma = sum of dZ_tilde * Z_norm "
        "(and dZ uses that dgamma).",
        (("dgamma = np.sum(dZ_tilde * Z_norm,", "dgamma = np.sum(dZ_tilde * Z,"),),
    ),
    Mistake(
        "batchnorm_backward",
        "wrong_axis",
        WRONG_AXIS,
        WRONG_AXIS_EDITS,
    ),
    Mistake(
        "batchnorm_backward",
        "correction_added",
        "the correction term is added; it is subtracted: "
        "dZ = gamma / sqrt(var + eps) * (dZ_tilde - (dbeta + Z_norm * dgamma) / m).",
        (("(dZ_tilde - (dbeta", "(dZ_tilde + (dbeta"),),
    ),
    Mistake(
        "batchnorm_backward",
        "over_m_minus_1",
        "the correction term divides by m - 1; the biased variance of the forward pass "
        "makes it m: (dbeta + Z_norm * dgamma) / m.",
        (("Z_norm * dgamma) / m)", "Z_norm * dgamma) / (m - 1))"),),
    ),
    Mistake(
        "batchnorm_backward",
        "whole_over_m",
        "all of dZ_tilde - dbeta - Z_norm * dgamma is divided by m; only the correction is: "
        "dZ_tilde - (dbeta + Z_norm * dgamma) / m.",
        (
            (
                "(dZ_tilde - (dbeta + Z_norm * dgamma) / m)",
                "(dZ_tilde - dbeta - Z_norm * dgamma) / m",
            ),
        ),
    ),
    Mistake(
        "batchnorm_backward",
        "no_sqrt",
        "dZ is scaled by gamma / (var + eps); the forward pass divided by the standard "
        "deviation, so it is gamma / sqrt(var + eps).",
        (("(gamma / np.sqrt(var + eps))", "(gamma / (var + eps))"),),
    ),
    Mistake(
        "batchnorm_backward",
        "returns_swapped",
        RETURNS_SWAPPED,
        (("return dZ, dgamma, dbeta", "return dZ, dbeta, dgamma"),),
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

CORRECT_VARIANTS = [
    CorrectVariant(
        "batchnorm_backward_staged",
        "dmu_with_zero_term",
        "CS231n's dmu: the direct path plus dvar * mean(-2 (Z - mu)), a term that is 0",
        (
            (
                "dmu = -np.sum(dZ_centered, axis=1, keepdims=True)",
                "dmu = -np.sum(dZ_norm * inv_std, axis=1, keepdims=True) + dvar * np.mean(\n"
                "        -2 * Z_centered, axis=1, keepdims=True\n    )",
            ),
        ),
    ),
    CorrectVariant(
        "batchnorm_backward_staged",
        "dmu_without_zero_term",
        "dmu without dvar * mean(-2 (Z - mu)): that term is 0 in exact arithmetic",
        (
            (
                "dmu = -np.sum(dZ_centered, axis=1, keepdims=True)",
                "dmu = -np.sum(dZ_norm * inv_std, axis=1, keepdims=True)",
            ),
        ),
    ),
    CorrectVariant(
        "batchnorm_backward_staged",
        "through_std",
        "the chain through std = sqrt(var + eps), one node more",
        (
            (
                "dvar = dinv_std * -0.5 * (var + eps) ** -1.5",
                "std = np.sqrt(var + eps)\n    dstd = -dinv_std / std**2\n    dvar = dstd * 0.5 / std",
            ),
        ),
    ),
    CorrectVariant(
        "batchnorm_backward",
        "times_m_inside",
        "CS231n's form: gamma / sqrt(var + eps) / m * (m dZ_tilde - dbeta - Z_norm dgamma)",
        (
            (
                "dZ = (gamma / np.sqrt(var + eps)) * (dZ_tilde - (dbeta + Z_norm * dgamma) / m)",
                "dZ = gamma / np.sqrt(var + eps) / m * (m * dZ_tilde - dbeta - Z_norm * dgamma)",
            ),
        ),
    ),
    CorrectVariant(
        "batchnorm_backward",
        "means_and_Z_centered",
        "the correction as means, with Z_norm recomputed from Z - mu",
        (
            (
                "dZ = (gamma / np.sqrt(var + eps)) * (dZ_tilde - (dbeta + Z_norm * dgamma) / m)",
                "inv_std = 1 / np.sqrt(var + eps)\n"
                "    Z_hat = (Z - mu) * inv_std\n"
                "    dZ = gamma * inv_std * (\n"
                "        dZ_tilde\n"
                "        - np.mean(dZ_tilde, axis=1, keepdims=True)\n"
                "        - Z_hat * np.mean(dZ_tilde * Z_hat, axis=1, keepdims=True)\n"
                "    )",
            ),
        ),
    ),
]
