"""Hidden tests of notebook 05 (optimizers).

Each optimizer runs a few steps in a row on a small network's parameters
(W, gamma, beta and b), its state fed back from step to step, and is compared
with the reference at every step.
"""

import copy

import numpy as np

from autograder.content import reference
from autograder.content.fixtures.optimizers import gradient_scale
from bnlab.checks._core import first_difference

__all__ = [
    "test_update_parameters_with_gd",
    "test_update_parameters_with_momentum",
    "test_update_parameters_with_rmsprop",
    "test_update_parameters_with_adam",
]

_SHAPES = {
    "W1": (5, 3),
    "gamma1": (5, 1),
    "beta1": (5, 1),
    "W2": (4, 5),
    "gamma2": (4, 1),
    "beta2": (4, 1),
    "W3": (2, 4),
    "b3": (2, 1),
}
_STEPS = 4


def _parameters(rng):
    return {key: rng.standard_normal(shape) for key, shape in _SHAPES.items()}


def _grads(rng):
    return {
        "d" + key: rng.standard_normal(shape) * gradient_scale(key)
        for key, shape in _SHAPES.items()
    }


def _zeros():
    return {key: np.zeros(shape) for key, shape in _SHAPES.items()}


def _same(got, expected, name, when):
    assert isinstance(got, dict), f"{name} should be a dict, got {type(got).__name__} ({when})."
    found = first_difference(got, expected, name, 1e-6, 1e-12)
    assert found is None, f"{found[2]} ({when})" if found else ""


def _call(function, args, kwargs, size, what):
    before = copy.deepcopy(args)
    with _isolated(function) as f:
        out = f(*args, **kwargs)
    found = first_difference(args, before, "inputs", 0, 0)
    assert found is None, f"{what}: an input was changed in place; return new dicts."
    if size > 1:
        assert isinstance(out, (tuple, list)) and len(out) == size, (
            f"{what}: return a tuple of {size}."
        )
    return out


def _isolated(function):
    from autograder.content.hidden_tests.isolation import isolated

    return isolated(function)


def test_update_parameters_with_gd(update_parameters_with_gd):
    rng = np.random.default_rng(501)
    parameters, expected = _parameters(rng), None
    for step, lr in enumerate([0.1, 0.5, 1.0, 0.01], start=1):
        grads = _grads(rng)
        expected = reference.update_parameters_with_gd(parameters, grads, lr)
        got = _call(update_parameters_with_gd, (parameters, grads, lr), {}, 1, f"step {step}")
        _same(got, expected, "parameters", f"after step {step}")
        parameters = expected


def test_update_parameters_with_momentum(update_parameters_with_momentum):
    rng = np.random.default_rng(502)
    parameters, v = _parameters(rng), _zeros()
    for step in range(1, _STEPS + 1):
        grads, beta_momentum, lr = _grads(rng), [0.9, 0.8][step % 2], 0.1
        want_p, want_v = reference.update_parameters_with_momentum(
            parameters, grads, v, beta_momentum, lr
        )
        got_p, got_v = _call(
            update_parameters_with_momentum,
            (parameters, grads, v, beta_momentum, lr),
            {},
            2,
            f"step {step}",
        )
        _same(got_v, want_v, "v", f"after step {step}")
        _same(got_p, want_p, "parameters", f"after step {step}")
        parameters, v = want_p, want_v


def test_update_parameters_with_rmsprop(update_parameters_with_rmsprop):
    rng = np.random.default_rng(503)
    parameters, s = _parameters(rng), _zeros()
    for step in range(1, _STEPS + 1):
        grads, beta_rms, lr = _grads(rng), 0.9, 0.01
        epsilon = 1e-8 if step < _STEPS else 1e-5
        want_p, want_s = reference.update_parameters_with_rmsprop(
            parameters, grads, s, beta_rms, lr, epsilon
        )
        got_p, got_s = _call(
            update_parameters_with_rmsprop,
            (parameters, grads, s, beta_rms, lr),
            {"epsilon": epsilon},
            2,
            f"step {step}",
        )
        _same(got_s, want_s, "s", f"after step {step}")
        _same(got_p, want_p, "parameters", f"after step {step}")
        parameters, s = want_p, want_s


def test_update_parameters_with_adam(update_parameters_with_adam):
    rng = np.random.default_rng(504)
    for hyper in [{}, {"learning_rate": 0.005, "beta_momentum": 0.7, "beta_rms": 0.95}]:
        parameters, v, s = _parameters(rng), _zeros(), _zeros()
        for t in range(1, _STEPS + 1):
            grads = _grads(rng)
            want_p, want_v, want_s = reference.update_parameters_with_adam(
                parameters, grads, v, s, t, **hyper
            )
            got_p, got_v, got_s = _call(
                update_parameters_with_adam,
                (parameters, grads, v, s, t),
                hyper,
                3,
                f"step t={t}",
            )
            _same(got_v, want_v, "v", f"after step t={t}")
            _same(got_s, want_s, "s", f"after step t={t}")
            _same(got_p, want_p, "parameters", f"after step t={t}")
            parameters, v, s = want_p, want_v, want_s
