"""Classic mistakes of notebook 07 (Layer Norm)."""

from autograder.content.mistakes import CorrectVariant, Mistake

_MU = "mu = np.mean(Z, axis=0, keepdims=True)"
_VAR = "var = np.mean(Z_centered * Z_centered, axis=0, keepdims=True)"
_OUT = "Z_tilde = gamma * Z_norm + beta"

_DBETA = "dbeta = np.sum(dZ_tilde, axis=1, keepdims=True)"
_DGAMMA = "dgamma = np.sum(dZ_tilde * Z_norm, axis=1, keepdims=True)"
_MU_TERM = "np.mean(dZ_norm, axis=0, keepdims=True)"
_VAR_TERM = "np.mean(dZ_norm * Z_norm, axis=0, keepdims=True)"
_DZ = (
    "dZ = (1 / np.sqrt(var + eps)) * (\n"
    "        dZ_norm\n"
    "        - np.mean(dZ_norm, axis=0, keepdims=True)\n"
    "        - Z_norm * np.mean(dZ_norm * Z_norm, axis=0, keepdims=True)\n"
    "    )"
)

MISTAKES = [
    # ------------------------------------------------------------ layernorm_forward
    Mistake(
        "layernorm_forward",
        "batch_axis",
        "mu and var are taken over the examples (axis=1): that is Batch Norm. Layer Norm "
        "normalizes each example (column) over its n_l units: axis=0, shape (1, m).",
        ((_MU, _MU.replace("axis=0", "axis=1")), (_VAR, _VAR.replace("axis=0", "axis=1"))),
    ),
    Mistake(
        "layernorm_forward",
        "no_axis",
        "mu and var are taken over the whole array (no axis): each example (column) has its "
        "own, over its n_l units: axis=0, keepdims=True, shape (1, m).",
        ((_MU, "mu = np.mean(Z)"), (_VAR, "var = np.mean(Z_centered * Z_centered)")),
    ),
    Mistake(
        "layernorm_forward",
        "no_keepdims",
        "mu and var lost their first axis: their shape is (m,), not (1, m). Z - mu still "
        "broadcasts by luck (along the last axis), but the cache is wrong: use keepdims=True.",
        (
            (_MU, "mu = np.mean(Z, axis=0)"),
            (_VAR, "var = np.mean(Z_centered * Z_centered, axis=0)"),
        ),
    ),
    Mistake(
        "layernorm_forward",
        "unbiased_variance",
        "the variance divides by n_l - 1; Layer Norm uses the biased variance, "
        "1/n_l sum over the units of (Z - mu)^2.",
        ((_VAR, "var = np.var(Z, axis=0, keepdims=True, ddof=1)"),),
    ),
    Mistake(
        "layernorm_forward",
        "eps_outside_sqrt",
        "eps is added outside the square root; it belongs inside: sqrt(var + eps).",
        (("np.sqrt(var + eps)", "(np.sqrt(var) + eps)"),),
    ),
    Mistake(
        "layernorm_forward",
        "no_sqrt",
        "Z - mu is divided by the variance; divide by the standard deviation, sqrt(var + eps).",
        (("(1 / np.sqrt(var + eps))", "(1 / (var + eps))"),),
    ),
    Mistake(
        "layernorm_forward",
        "gamma_beta_per_example",
        "gamma and beta are applied per example, as (1, n_l) rows; the statistics are per "
        "example, but gamma and beta stay per unit, (n_l, 1): Z_tilde = gamma * Z_norm + beta.",
        ((_OUT, "Z_tilde = gamma.T * Z_norm + beta.T"),),
    ),
    Mistake(
        "layernorm_forward",
        "gamma_beta_swapped",
        "gamma and beta are swapped: Z_tilde = gamma * Z_norm + beta (gamma scales, beta shifts).",
        ((_OUT, "Z_tilde = beta * Z_norm + gamma"),),
    ),
    Mistake(
        "layernorm_forward",
        "gamma_beta_left_out",
        "gamma and beta are left out (or Z_norm is returned in place of Z_tilde): "
        "Z_tilde is gamma * Z_norm + beta, not Z_norm.",
        ((_OUT, "Z_tilde = Z_norm"),),
    ),
    # ----------------------------------------------------------- layernorm_backward
    Mistake(
        "layernorm_backward",
        "gamma_factored_out",
        "gamma is factored out in front, as in Batch Norm's closed form; in Layer Norm the means "
        "run over the units, along which gamma changes: multiply first, dZ_norm = gamma * "
        "dZ_tilde, then take the means of dZ_norm.",
        (
            ("dZ_norm = dZ_tilde * gamma", "dZ_norm = dZ_tilde"),
            ("dZ = (1 / np.sqrt(var + eps))", "dZ = (gamma / np.sqrt(var + eps))"),
        ),
    ),
    Mistake(
        "layernorm_backward",
        "no_gamma",
        "gamma is missing: Z_tilde = gamma * Z_norm + beta, so dZ_norm = gamma * dZ_tilde.",
        (("dZ_norm = dZ_tilde * gamma", "dZ_norm = dZ_tilde"),),
    ),
    Mistake(
        "layernorm_backward",
        "batch_axis_for_dZ",
        "the terms of dZ through mu and var average over the examples (axis=1), as in Batch "
        "Norm; Layer Norm's mu and var are per example, means over its units: axis=0.",
        (
            (_MU_TERM, _MU_TERM.replace("axis=0", "axis=1")),
            (_VAR_TERM, _VAR_TERM.replace("axis=0", "axis=1")),
        ),
    ),
    Mistake(
        "layernorm_backward",
        "dgamma_dbeta_over_units",
        "dgamma and dbeta are summed over the units (axis=0); gamma and beta are per unit, so, "
        "as in Batch Norm, sum over the examples: axis=1, shape (n_l, 1).",
        (
            (_DBETA, _DBETA.replace("axis=1", "axis=0")),
            (_DGAMMA, _DGAMMA.replace("axis=1", "axis=0")),
        ),
    ),
    Mistake(
        "layernorm_backward",
        "dgamma_dbeta_means",
        "dgamma and dbeta are means over the examples; they are sums: the 1/m of the cost "
        "is already inside dZ_tilde.",
        (
            (_DBETA, _DBETA.replace("np.sum", "np.mean")),
            (_DGAMMA, _DGAMMA.replace("np.sum", "np.mean")),
        ),
    ),
    Mistake(
        "layernorm_backward",
        "missing_mu_term",
        "the term through mu is missing: subtract the mean of dZ_norm over the units, "
        "dZ = (dZ_norm - mean(dZ_norm) - Z_norm * mean(dZ_norm * Z_norm)) / sqrt(var + eps).",
        ((f"        - {_MU_TERM}\n", ""),),
    ),
    Mistake(
        "layernorm_backward",
        "missing_var_term",
        "the term through var is missing: subtract Z_norm * mean(dZ_norm * Z_norm) too, "
        "dZ = (dZ_norm - mean(dZ_norm) - Z_norm * mean(dZ_norm * Z_norm)) / sqrt(var + eps).",
        ((f"        - Z_norm * {_VAR_TERM}\n", ""),),
    ),
    Mistake(
        "layernorm_backward",
        "mu_var_as_constants",
        "mu and var are treated as constants: both depend on Z, so dZ has two more terms "
        "than dZ_norm / sqrt(var + eps) (the paths through mu and through var).",
        ((_DZ, "dZ = dZ_norm / np.sqrt(var + eps)"),),
    ),
    Mistake(
        "layernorm_backward",
        "over_m_not_n",
        "the terms through mu and var divide by m, the number of examples; Layer Norm's "
        "statistics are over the n_l units, so they are means over n_l = Z.shape[0] values.",
        (
            (_MU_TERM, "np.sum(dZ_norm, axis=0, keepdims=True) / Z.shape[1]"),
            (_VAR_TERM, "np.sum(dZ_norm * Z_norm, axis=0, keepdims=True) / Z.shape[1]"),
        ),
    ),
    Mistake(
        "layernorm_backward",
        "sums_not_means",
        "the terms through mu and var are sums over the units; they are means, "
        "1/n_l times the sums (mu and var are means over the n_l units).",
        (
            (_MU_TERM, _MU_TERM.replace("np.mean", "np.sum")),
            (_VAR_TERM, _VAR_TERM.replace("np.mean", "np.sum")),
        ),
    ),
    Mistake(
        "layernorm_backward",
        "eps_outside_sqrt",
        "eps is added outside the square root; as in the forward pass it belongs inside: "
        "sqrt(var + eps).",
        (("(1 / np.sqrt(var + eps))", "(1 / (np.sqrt(var) + eps))"),),
    ),
    Mistake(
        "layernorm_backward",
        "returns_swapped",
        "dgamma and dbeta are returned in the wrong order: return (dZ, dgamma, dbeta).",
        (("return dZ, dgamma, dbeta", "return dZ, dbeta, dgamma"),),
    ),
]

CORRECT_VARIANTS = [
    CorrectVariant(
        "layernorm_forward",
        "np_var",
        "np.var divides by n_l (ddof=0 by default): the biased variance",
        ((_VAR, "var = np.var(Z, axis=0, keepdims=True)"),),
    ),
    CorrectVariant(
        "layernorm_forward",
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
        "layernorm_forward",
        "transposed_batch_norm",
        "Batch Norm's statistics of Z transposed (examples as rows), transposed back",
        (
            (_MU, "mu = np.mean(Z.T, axis=1, keepdims=True).T"),
            (_VAR, "var = np.var(Z.T, axis=1, keepdims=True).T"),
        ),
    ),
    CorrectVariant(
        "layernorm_backward",
        "staged",
        "the staged backward pass of Batch Norm, with axis=0 and n_l in place of m",
        (
            (
                _DZ,
                "n = Z.shape[0]\n"
                "    Z_centered = Z - mu\n"
                "    inv_std = 1 / np.sqrt(var + eps)\n"
                "    dinv_std = np.sum(dZ_norm * Z_centered, axis=0, keepdims=True)\n"
                "    dZ_centered = dZ_norm * inv_std\n"
                "    dvar = dinv_std * -0.5 * (var + eps) ** -1.5\n"
                "    dZ_centered = dZ_centered + dvar * 2 * Z_centered / n\n"
                "    dmu = -np.sum(dZ_centered, axis=0, keepdims=True)\n"
                "    dZ = dZ_centered + dmu / n",
            ),
        ),
    ),
    CorrectVariant(
        "layernorm_backward",
        "times_n_inside",
        "CS231n's form: (n_l dZ_norm - sum(dZ_norm) - Z_norm sum(dZ_norm Z_norm)) / (n_l std)",
        (
            (
                _DZ,
                "n = Z.shape[0]\n"
                "    dZ = (\n"
                "        n * dZ_norm\n"
                "        - np.sum(dZ_norm, axis=0, keepdims=True)\n"
                "        - Z_norm * np.sum(dZ_norm * Z_norm, axis=0, keepdims=True)\n"
                "    ) / (n * np.sqrt(var + eps))",
            ),
        ),
    ),
    CorrectVariant(
        "layernorm_backward",
        "Z_norm_recomputed",
        "Z_norm recomputed from Z, mu and var instead of read from the cache",
        (
            (
                "dZ_norm = dZ_tilde * gamma",
                "Z_hat = (Z - mu) / np.sqrt(var + eps)\n    dZ_norm = gamma * dZ_tilde",
            ),
            (
                "- Z_norm * np.mean(dZ_norm * Z_norm, axis=0, keepdims=True)",
                "- Z_hat * np.mean(dZ_norm * Z_hat, axis=0, keepdims=True)",
            ),
        ),
    ),
]
