"""Hidden tests of notebook 04 (deep network)."""

import copy

import numpy as np

from autograder.content import reference
from autograder.content.fixtures.deep_network import network
from bnlab.checks._core import first_difference
from bnlab.data import one_hot

__all__ = ["test_random_mini_batches", "test_model_forward", "test_model_backward"]


def _same(got, expected, what, rtol=1e-6, atol=1e-9):
    found = first_difference(got, expected, what, rtol, atol)
    assert found is None, found[2] if found else ""


def _unchanged(before, after, name):
    assert first_difference(after, before, name, 0, 0) is None, f"{name} was changed in place."


def _data(n_x, m, C, rng):
    X = rng.standard_normal((n_x, m)) * 3 + rng.standard_normal((n_x, 1))
    return X, one_hot(rng.integers(0, C, m), C)


def test_random_mini_batches(random_mini_batches):
    from autograder.content.hidden_tests.isolation import isolated

    rng = np.random.default_rng(401)
    for m, size, seed in [(23, 5, 3), (16, 8, 0), (7, 64, 11), (1, 4, 2), (130, 32, 5)]:
        n_x, C = 3, 4
        X = rng.standard_normal((n_x, m))
        Y = one_hot(np.arange(m) % C, C)
        X[0] = np.arange(m)  # row 0 numbers the examples
        expected = reference.random_mini_batches(X, Y, size, seed)
        with isolated(random_mini_batches) as f:
            batches = f(X.copy(), Y.copy(), size, seed)
        assert isinstance(batches, (list, tuple)), "Return a list of (X_t, Y_t)."
        assert len(batches) == len(expected), (
            f"m={m}, mini_batch_size={size}: expected {len(expected)} mini-batches, "
            f"got {len(batches)}."
        )
        seen = []
        for X_t, Y_t in batches:
            X_t, Y_t = np.asarray(X_t), np.asarray(Y_t)
            assert X_t.shape[0] == n_x and Y_t.shape[0] == C, "Keep the rows: X_t (n_x, m_t)."
            assert X_t.shape[1] == Y_t.shape[1], "X_t and Y_t should hold the same examples."
            index = X_t[0].astype(int)
            assert np.array_equal(Y_t, Y[:, index]), "Each example should keep its label."
            seen.extend(index.tolist())
        assert sorted(seen) == list(range(m)), "Every example should appear exactly once."
        _same(batches, expected, "mini_batches", 0, 0)


def test_model_forward(model_forward):
    from autograder.content.hidden_tests.isolation import isolated

    rng = np.random.default_rng(402)
    for dims, m, activation in [
        ([5, 4, 6, 3], 8, "relu"),
        ([4, 7, 5, 5, 2], 3, "tanh"),
        ([6, 3, 4], 11, "sigmoid"),
        ([3, 5, 5, 5, 5, 4], 2, "relu"),
    ]:
        X, _ = _data(dims[0], m, dims[-1], rng)
        parameters = network(dims, rng)
        AL_expected, caches_expected = reference.model_forward(X, parameters, activation)
        before = copy.deepcopy(parameters)
        with isolated(model_forward) as f:
            out = f(X.copy(), parameters, activation)
        _unchanged(before, parameters, "parameters")
        assert isinstance(out, (tuple, list)) and len(out) == 2, "Return (AL, caches)."
        AL, caches = out
        what = f"layer_dims={dims}, activation={activation!r}"
        _same(AL, AL_expected, f"AL ({what})")
        assert len(caches) == len(dims) - 1, f"caches should hold one entry per layer ({what})."
        _same(caches, caches_expected, f"caches ({what})")


def test_model_backward(model_backward):
    from autograder.content.hidden_tests.isolation import isolated

    rng = np.random.default_rng(403)
    for dims, m, activation in [
        ([5, 4, 6, 3], 8, "relu"),
        ([4, 7, 5, 5, 2], 3, "tanh"),
        ([6, 3, 4], 11, "sigmoid"),
        ([3, 5, 5, 5, 4], 6, "tanh"),
    ]:
        X, Y = _data(dims[0], m, dims[-1], rng)
        AL, caches = reference.model_forward(X, network(dims, rng), activation)
        expected = reference.model_backward(AL, Y, caches)
        with isolated(model_backward) as f:
            grads = f(AL.copy(), Y.copy(), copy.deepcopy(caches))
        what = f"layer_dims={dims}, activation={activation!r}"
        assert isinstance(grads, dict), "Return a dict of gradients."
        assert sorted(grads) == sorted(expected), (
            f"grads should have the keys {sorted(expected)} ({what})."
        )
        for key in expected:
            _same(grads[key], expected[key], f"{key} ({what})")
