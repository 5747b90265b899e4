"""Hidden tests of notebook 06 (BN at test time)."""

import copy

import numpy as np

from autograder.content import reference
from bnlab.checks._core import first_difference

__all__ = [
    "test_update_running_averages",
    "test_batchnorm_forward_inference",
    "test_model_forward_inference",
    "test_fold_batchnorm",
]


def _same(got, expected, what, rtol=1e-6, atol=1e-9):
    found = first_difference(got, expected, what, rtol, atol)
    assert found is None, found[2] if found else ""


def _call(function, args, kwargs):
    from autograder.content.hidden_tests.isolation import isolated

    before = copy.deepcopy(args)
    with isolated(function) as f:
        out = f(*args, **kwargs)
    found = first_difference(args, before, "inputs", 0, 0)
    assert found is None, "An input was changed in place; build new arrays."
    return out


def test_update_running_averages(update_running_averages):
    rng = np.random.default_rng(601)
    for n, momentum in [(6, 0.1), (3, 0.25), (4, 0.01)]:
        running_mean, running_var = np.zeros((n, 1)), np.ones((n, 1))
        for step in range(1, 5):
            mu = rng.standard_normal((n, 1)) * 3
            var = rng.uniform(0.05, 5.0, (n, 1))
            want = reference.update_running_averages(running_mean, running_var, mu, var, momentum)
            out = _call(
                update_running_averages,
                (running_mean, running_var, mu, var),
                {"momentum": momentum},
            )
            assert isinstance(out, (tuple, list)) and len(out) == 2, (
                "Return (running_mean, running_var)."
            )
            when = f" (momentum={momentum}, update {step})"
            _same(out[0], want[0], "running_mean" + when)
            _same(out[1], want[1], "running_var" + when)
            running_mean, running_var = want


def test_batchnorm_forward_inference(batchnorm_forward_inference):
    rng = np.random.default_rng(602)
    for n, m, eps in [(5, 9, 1e-5), (3, 1, 1e-5), (4, 2, 1e-3), (6, 20, 1e-5)]:
        running_mean = rng.standard_normal((n, 1)) * 3
        running_var = rng.uniform(0.001, 4.0, (n, 1))
        Z = rng.standard_normal((n, m)) * 2 + running_mean + rng.standard_normal((n, 1))
        gamma, beta = rng.uniform(-2, 2, (n, 1)), rng.standard_normal((n, 1))
        args = (Z, gamma, beta, running_mean, running_var)
        want = reference.batchnorm_forward_inference(*args, eps=eps)
        got = _call(batchnorm_forward_inference, args, {"eps": eps})
        _same(got, want, f"Z_tilde (n_l={n}, m={m}, eps={eps})")
        if m > 1:
            alone = _call(batchnorm_forward_inference, (Z[:, :1], *args[1:]), {"eps": eps})
            _same(alone, want[:, :1], "Z_tilde of an example given on its own")


def _network(layer_dims, m, rng):
    """X, parameters (gamma, beta and b not the defaults) and running averages."""
    X = rng.standard_normal((layer_dims[0], m)) * 1.5 + 0.3
    parameters = reference.initialize_parameters(layer_dims, seed=int(rng.integers(1000)))
    running = {}
    for l in range(1, len(layer_dims) - 1):
        n_l = layer_dims[l]
        parameters[f"gamma{l}"] = rng.uniform(-1.5, 2.0, (n_l, 1))
        parameters[f"beta{l}"] = rng.standard_normal((n_l, 1))
        running[f"mean{l}"] = rng.standard_normal((n_l, 1)) * 2
        running[f"var{l}"] = rng.uniform(0.2, 4.0, (n_l, 1))
    L = len(layer_dims) - 1
    parameters[f"b{L}"] = rng.standard_normal((layer_dims[L], 1))
    return X, parameters, running


def test_model_forward_inference(model_forward_inference):
    rng = np.random.default_rng(603)
    networks = [
        ([6, 5, 4, 3], 8, "relu"),
        ([4, 7, 3], 1, "relu"),
        ([5, 4, 6, 3, 4], 5, "tanh"),
        ([3, 6, 2], 9, "sigmoid"),
    ]
    for layer_dims, m, activation in networks:
        X, parameters, running = _network(layer_dims, m, rng)
        args = (X, parameters, running, activation)
        want = reference.model_forward_inference(*args)
        got = _call(model_forward_inference, args, {})
        where = f"{len(layer_dims) - 1} layers, activation={activation!r}, m={m}"
        _same(got, want, f"AL ({where})")
        if m > 1:
            alone = _call(model_forward_inference, (X[:, -1:], *args[1:]), {})
            _same(alone, want[:, -1:], "AL of an example given on its own")


def test_fold_batchnorm(fold_batchnorm):
    rng = np.random.default_rng(604)
    for n, n_prev, m, eps in [(5, 7, 6, 1e-5), (3, 3, 1, 1e-5), (6, 2, 4, 1e-3)]:
        W = rng.standard_normal((n, n_prev))
        gamma, beta = rng.uniform(-2, 2, (n, 1)), rng.standard_normal((n, 1))
        running_mean = rng.standard_normal((n, 1)) * 3
        running_var = rng.uniform(0.001, 4.0, (n, 1))
        args = (W, gamma, beta, running_mean, running_var)
        out = _call(fold_batchnorm, args, {"eps": eps})
        assert isinstance(out, (tuple, list)) and len(out) == 2, "Return (W_folded, b_folded)."
        want = reference.fold_batchnorm(*args, eps=eps)
        where = f" (n_l={n}, n_(l-1)={n_prev}, eps={eps})"
        _same(out[0], want[0], "W_folded" + where)
        _same(out[1], want[1], "b_folded" + where)
        A_prev = rng.standard_normal((n_prev, m))
        bn = reference.batchnorm_forward_inference(W @ A_prev, *args[1:], eps=eps)
        _same(
            out[0] @ A_prev + out[1], bn, "W_folded A_prev + b_folded, against Batch Norm" + where
        )
