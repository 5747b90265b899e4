"""The four optimizers, two steps each, on every entry of every parameter.

The expected values are computed here entry by entry with plain floats and
``math``, from the formulas of the lecture, not by calling bnlab. Hyperparameters
are not the defaults, so a hard-coded default cannot pass. Every parameter
key -- W, gamma, beta and b alike -- must move.
"""

import inspect
import math

import numpy as np
import pytest

from autograder.content import reference

LR = 0.05
BETA_MOMENTUM = 0.8
BETA_RMS = 0.95
EPSILON = 1e-6


def parameters_and_two_grads(seed=0):
    """A network's parameters (W1, gamma1, beta1, W2, gamma2, beta2, W3, b3) and two grads
    dicts; every gradient entry has |g| >= 0.1, so every entry has to move."""
    rng = np.random.default_rng(seed)
    shapes = {"W1": (4, 3), "gamma1": (4, 1), "beta1": (4, 1), "W2": (3, 4)}
    shapes.update({"gamma2": (3, 1), "beta2": (3, 1), "W3": (2, 3), "b3": (2, 1)})
    parameters = {key: rng.standard_normal(shape) for key, shape in shapes.items()}

    def grad(shape):
        return rng.choice([-1, 1], shape) * rng.uniform(0.1, 2.0, shape)

    grads = [{"d" + key: grad(shape) for key, shape in shapes.items()} for _ in range(2)]
    return parameters, grads


def entries(array):
    return [(index, float(array[index])) for index in np.ndindex(array.shape)]


def assert_every_entry(got, expected_of, keys, what):
    """got[key][index] == expected_of(key, index) for every key and entry."""
    assert set(got) == set(keys), f"{what}: keys {sorted(got)}"
    for key in keys:
        for index, value in entries(got[key]):
            want = expected_of(key, index)
            assert value == pytest.approx(want, rel=1e-12, abs=1e-15), f"{what}[{key}]{index}"


def test_gradient_descent_two_steps():
    p0, (g1, g2) = parameters_and_two_grads(1)
    p1 = reference.update_parameters_with_gd(p0, g1, LR)
    p2 = reference.update_parameters_with_gd(p1, g2, LR)
    assert_every_entry(p1, lambda k, i: p0[k][i] - LR * g1["d" + k][i], p0, "parameters")
    assert_every_entry(
        p2, lambda k, i: p0[k][i] - LR * g1["d" + k][i] - LR * g2["d" + k][i], p0, "parameters"
    )


def test_momentum_two_steps():
    p0, (g1, g2) = parameters_and_two_grads(2)
    v0 = {key: np.zeros_like(value) for key, value in p0.items()}
    p1, v1 = reference.update_parameters_with_momentum(p0, g1, v0, BETA_MOMENTUM, LR)
    p2, v2 = reference.update_parameters_with_momentum(p1, g2, v1, BETA_MOMENTUM, LR)

    def velocity(step, k, i):
        v = 0.0
        for g in (g1, g2)[:step]:
            v = BETA_MOMENTUM * v + (1 - BETA_MOMENTUM) * g["d" + k][i]
        return v

    def parameter(step, k, i):
        p = p0[k][i]
        for s in range(1, step + 1):
            p -= LR * velocity(s, k, i)
        return p

    assert_every_entry(v1, lambda k, i: velocity(1, k, i), p0, "v after step 1")
    assert_every_entry(v2, lambda k, i: velocity(2, k, i), p0, "v after step 2")
    assert_every_entry(p1, lambda k, i: parameter(1, k, i), p0, "parameters after step 1")
    assert_every_entry(p2, lambda k, i: parameter(2, k, i), p0, "parameters after step 2")


def test_rmsprop_two_steps():
    p0, (g1, g2) = parameters_and_two_grads(3)
    s0 = {key: np.zeros_like(value) for key, value in p0.items()}
    p1, s1 = reference.update_parameters_with_rmsprop(p0, g1, s0, BETA_RMS, LR, EPSILON)
    p2, s2 = reference.update_parameters_with_rmsprop(p1, g2, s1, BETA_RMS, LR, EPSILON)

    def square_mean(step, k, i):
        s = 0.0
        for g in (g1, g2)[:step]:
            s = BETA_RMS * s + (1 - BETA_RMS) * g["d" + k][i] ** 2
        return s

    def parameter(step, k, i):
        p = p0[k][i]
        for n, g in enumerate((g1, g2)[:step], start=1):
            p -= LR * g["d" + k][i] / (math.sqrt(square_mean(n, k, i)) + EPSILON)
        return p

    assert_every_entry(s1, lambda k, i: square_mean(1, k, i), p0, "s after step 1")
    assert_every_entry(s2, lambda k, i: square_mean(2, k, i), p0, "s after step 2")
    assert_every_entry(p1, lambda k, i: parameter(1, k, i), p0, "parameters after step 1")
    assert_every_entry(p2, lambda k, i: parameter(2, k, i), p0, "parameters after step 2")


def adam_by_hand(p0, grads, lr, b1, b2, epsilon):
    """Adam, entry by entry: returns [(parameters, v, s)] after each step, as nested dicts."""
    history, p = [], {k: dict(entries(v)) for k, v in p0.items()}
    v = {k: dict.fromkeys(p[k], 0.0) for k in p}
    s = {k: dict.fromkeys(p[k], 0.0) for k in p}
    for t, g in enumerate(grads, start=1):
        p, v, s = ({k: dict(d[k]) for k in d} for d in (p, v, s))
        for k in p:
            for i in p[k]:
                gi = float(g["d" + k][i])
                v[k][i] = b1 * v[k][i] + (1 - b1) * gi
                s[k][i] = b2 * s[k][i] + (1 - b2) * gi * gi
                v_hat = v[k][i] / (1 - b1**t)
                s_hat = s[k][i] / (1 - b2**t)
                p[k][i] -= lr * v_hat / (math.sqrt(s_hat) + epsilon)
        history.append((p, v, s))
    return history


def test_adam_two_steps_with_bias_correction():
    p0, grads = parameters_and_two_grads(4)
    zeros = {key: np.zeros_like(value) for key, value in p0.items()}
    got, p, v, s = [], p0, zeros, zeros
    for t, g in enumerate(grads, start=1):
        p, v, s = reference.update_parameters_with_adam(
            p,
            g,
            v,
            s,
            t,
            learning_rate=LR,
            beta_momentum=BETA_MOMENTUM,
            beta_rms=BETA_RMS,
            epsilon=EPSILON,
        )
        got.append((p, v, s))
    expected = adam_by_hand(p0, grads, LR, BETA_MOMENTUM, BETA_RMS, EPSILON)
    for t, ((p, v, s), (p_e, v_e, s_e)) in enumerate(zip(got, expected), start=1):
        assert_every_entry(v, lambda k, i, e=v_e: e[k][i], p0, f"v after step {t}")
        assert_every_entry(s, lambda k, i, e=s_e: e[k][i], p0, f"s after step {t}")
        assert_every_entry(p, lambda k, i, e=p_e: e[k][i], p0, f"parameters after step {t}")


def test_adam_first_step_has_magnitude_learning_rate_on_every_entry():
    """At t = 1 bias correction gives v_hat = g and s_hat = g^2: a step of lr * sign(g)."""
    p0, (g1, _) = parameters_and_two_grads(5)
    zeros = {key: np.zeros_like(value) for key, value in p0.items()}
    p1, _, _ = reference.update_parameters_with_adam(
        p0, g1, zeros, zeros, 1, learning_rate=LR, beta_momentum=BETA_MOMENTUM, beta_rms=BETA_RMS
    )
    for key in p0:
        step = p1[key] - p0[key]
        np.testing.assert_allclose(step, -LR * np.sign(g1["d" + key]), rtol=1e-6, err_msg=key)


def test_adam_bias_correction_depends_on_t():
    p0, (g1, g2) = parameters_and_two_grads(6)
    zeros = {key: np.zeros_like(value) for key, value in p0.items()}
    p1, v1, s1 = reference.update_parameters_with_adam(p0, g1, zeros, zeros, 1, LR, 0.9, 0.999)
    at_t2, _, _ = reference.update_parameters_with_adam(p1, g2, v1, s1, 2, LR, 0.9, 0.999)
    at_t5, _, _ = reference.update_parameters_with_adam(p1, g2, v1, s1, 5, LR, 0.9, 0.999)
    for key in p0:
        assert not np.allclose(at_t2[key], at_t5[key]), key
    # with the same gradient twice, the corrected averages are g and g^2 again at t = 2
    p2, _, _ = reference.update_parameters_with_adam(p1, g1, v1, s1, 2, LR, 0.9, 0.999)
    for key in p0:
        np.testing.assert_allclose(p2[key] - p1[key], -LR * np.sign(g1["d" + key]), rtol=1e-6)


@pytest.mark.parametrize("name", ["gd", "momentum", "rmsprop", "adam"])
def test_every_parameter_moves_and_state_has_one_entry_per_key(name):
    p0, (g1, _) = parameters_and_two_grads(7)
    zeros = {key: np.zeros_like(value) for key, value in p0.items()}
    if name == "gd":
        p1, states = reference.update_parameters_with_gd(p0, g1, LR), []
    elif name == "momentum":
        p1, v = reference.update_parameters_with_momentum(p0, g1, zeros, BETA_MOMENTUM, LR)
        states = [v]
    elif name == "rmsprop":
        p1, s = reference.update_parameters_with_rmsprop(p0, g1, zeros, BETA_RMS, LR)
        states = [s]
    else:
        p1, v, s = reference.update_parameters_with_adam(p0, g1, zeros, zeros, 1)
        states = [v, s]
    assert set(p1) == set(p0)
    for key in p0:
        assert p1[key].shape == p0[key].shape
        assert np.all(p1[key] != p0[key]), f"{key} (some entries) did not move"
        assert np.all(np.sign(p1[key] - p0[key]) == -np.sign(g1["d" + key])), key
    for state in states:
        assert set(state) == set(p0)
        for key in p0:
            assert state[key].shape == p0[key].shape


def test_default_hyperparameters_are_the_documented_ones():
    adam = inspect.signature(reference.update_parameters_with_adam).parameters
    assert adam["learning_rate"].default == 0.01
    assert adam["beta_momentum"].default == 0.9
    assert adam["beta_rms"].default == 0.999
    assert adam["epsilon"].default == 1e-8
    assert (
        inspect.signature(reference.update_parameters_with_rmsprop).parameters["epsilon"].default
        == 1e-8
    )
    # no bare `beta` among an optimizer's arguments: that name is the BN shift
    for name in ("gd", "momentum", "rmsprop", "adam"):
        arguments = inspect.signature(getattr(reference, f"update_parameters_with_{name}"))
        assert not {"beta", "beta1", "beta2"} & set(arguments.parameters), name
