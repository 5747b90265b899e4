"""Hidden tests of notebook 06 (BN at test time)."""

import copy

import numpy as np

from autograder import reference
from bnlab.checks._core import first_difference

__all__ = ["test_update_running_averages", "test_batchnorm_forward_inference"]


def _same(got, expected, what, rtol=1e-6, atol=1e-9):
    found = first_difference(got, expected, what, rtol, atol)
    assert found is None, found[2] if found else ""


def _call(function, args, kwargs):
    from autograder.hidden_tests import isolated

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
