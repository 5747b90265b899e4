"""Hidden tests of notebook 03 (removing b)."""

import numpy as np

from autograder.content import reference
from autograder.content.hidden_tests.forward_bn import _close

__all__ = ["test_initialize_parameters"]


def test_initialize_parameters(initialize_parameters):
    from autograder.content.hidden_tests.isolation import isolated

    for layer_dims, seed in [([6, 5, 4, 3], 11), ([3, 9, 2], 12), ([4, 2], 0), ([7, 7, 7, 5], 3)]:
        expected = reference.initialize_parameters(layer_dims, seed)
        with isolated(initialize_parameters) as f:
            got = f(list(layer_dims), seed)
        assert isinstance(got, dict), "Return a dict of parameters."
        L = len(layer_dims) - 1
        hidden_b = sorted(
            k for k in got if k.startswith("b") and not k.startswith("beta") and k != f"b{L}"
        )
        assert not hidden_b, f"Batch Norm layers have no b (found {hidden_b})."
        assert set(got) == set(expected), (
            f"Keys for layer_dims={layer_dims}: expected {sorted(expected)}, got {sorted(got)}."
        )
        for key in expected:
            _close(
                np.asarray(got[key]), expected[key], f"{key} (layer_dims={layer_dims}, seed={seed})"
            )
