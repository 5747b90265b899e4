"""Two planted copies among the sample submissions: what the similarity step must find.

Every other sample is an edit of the reference solution, so the samples are alike
in the code the whole class shares. These two are not: `copy-a` writes a few
functions in a style of their own (sums over an axis divided by the count, a
reciprocal of the standard deviation, their own names), correct throughout; `copy-b`
hands in the same code with the variables renamed, the comments rewritten and the
spacing and line breaks changed -- what a copier does to hide a copy. The
rest of both submissions is the reference solution, like everyone's.

BODIES[student][function]: the body of that function's solution cell (its lines,
indented as in the cell), replacing the reference's between the solution markers.
"""

STUDENTS = ("copy-a", "copy-b")

_OWN = {
    "batchnorm_forward": """
    # statistics of every unit over the mini-batch
    n_units, batch = Z.shape
    mean_per_unit = Z.sum(axis=1).reshape(n_units, 1) / batch
    deviation = Z - mean_per_unit
    variance = (deviation ** 2).sum(axis=1).reshape(n_units, 1) / batch
    inverse_std = np.reciprocal(np.sqrt(variance + eps))
    normalized = deviation * inverse_std
    out = normalized * gamma + beta  # scale, then shift
    return out, (Z, normalized, mean_per_unit, variance, gamma, beta, eps)
""",
    "batchnorm_backward": """
    Z, Z_norm, mu, var, gamma, beta, eps = cache
    batch = Z.shape[1]
    grad_beta = dZ_tilde.sum(axis=1).reshape(-1, 1)
    grad_gamma = (dZ_tilde * Z_norm).sum(axis=1).reshape(-1, 1)
    # one factor in front, the three paths inside
    scale = gamma * np.reciprocal(np.sqrt(var + eps)) / batch
    grad_Z = scale * (batch * dZ_tilde - grad_beta - Z_norm * grad_gamma)
    return grad_Z, grad_gamma, grad_beta
""",
    "update_parameters_with_adam": """
    updated, first, second = {}, {}, {}
    correction_first = 1.0 - beta_momentum ** t
    correction_second = 1.0 - beta_rms ** t
    for name, value in parameters.items():
        grad = grads["d" + name]
        first[name] = beta_momentum * v[name] + (1.0 - beta_momentum) * grad
        second[name] = beta_rms * s[name] + (1.0 - beta_rms) * np.square(grad)
        # bias-corrected step
        step = (first[name] / correction_first) / (np.sqrt(second[name] / correction_second) + epsilon)
        updated[name] = value - learning_rate * step
    return updated, first, second
""",
    "layernorm_forward": """
    n_units = Z.shape[0]
    mean_per_example = Z.sum(axis=0, keepdims=True) / n_units
    deviation = Z - mean_per_example
    variance = (deviation ** 2).sum(axis=0, keepdims=True) / n_units
    normalized = deviation * np.reciprocal(np.sqrt(variance + eps))
    out = normalized * gamma + beta
    return out, (Z, normalized, mean_per_example, variance, gamma, beta, eps)
""",
}

# The same code: names changed, comments rewritten, spacing and line breaks changed.
_COPIED = {
    "batchnorm_forward": """
    rows, cols = Z.shape   # rows = units, cols = examples
    avg = Z.sum(axis = 1).reshape(rows, 1)/cols
    diff = Z-avg

    # variance (biased)
    v = (diff**2).sum(axis = 1).reshape(rows, 1)/cols
    inv = np.reciprocal(np.sqrt(v+eps))
    zn = diff*inv
    result = zn*gamma+beta
    return result, (Z, zn, avg, v,
                    gamma, beta, eps)
""",
    "batchnorm_backward": """
    Z, Z_norm, mu, var, gamma, beta, eps = cache
    cols = Z.shape[1]

    db = dZ_tilde.sum(axis = 1).reshape(-1, 1)
    dg = (dZ_tilde*Z_norm).sum(axis = 1).reshape(-1, 1)
    factor = gamma*np.reciprocal(np.sqrt(var+eps))/cols   # common factor
    dz = factor*(cols*dZ_tilde-db-Z_norm*dg)
    return dz, dg, db
""",
    "update_parameters_with_adam": """
    new_p, m1, m2 = {}, {}, {}
    c1 = 1.0 - beta_momentum**t   # bias correction terms
    c2 = 1.0 - beta_rms**t
    for k, p in parameters.items():
        dp = grads["d" + k]
        m1[k] = beta_momentum*v[k] + (1.0-beta_momentum)*dp
        m2[k] = beta_rms*s[k] + (1.0-beta_rms)*np.square(dp)
        upd = (m1[k]/c1) / (np.sqrt(m2[k]/c2)
                           + epsilon)
        new_p[k] = p - learning_rate*upd
    return new_p, m1, m2
""",
    "layernorm_forward": """
    units = Z.shape[0]
    # mean and variance of each column
    avg = Z.sum(axis = 0, keepdims = True)/units
    diff = Z-avg
    v = (diff**2).sum(axis = 0, keepdims = True)/units
    zn = diff*np.reciprocal(np.sqrt(v+eps))
    result = zn*gamma+beta
    return result, (Z, zn, avg, v, gamma, beta, eps)
""",
}

BODIES = {"copy-a": _OWN, "copy-b": _COPIED}
