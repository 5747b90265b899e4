"""Shared test inputs for the library tests: seeded Batch Norm batches and small networks.

Inputs are awkward on purpose where it helps (n_l != m, non-default gamma and
beta); each test that needs m = 1, a constant row or gamma = 0 builds it from
these. Examples are columns, as in the lecture.
"""

import numpy as np
import pytest

from autograder import reference
from bnlab.data import one_hot


def make_bn_inputs(n, m, seed=0, offset=0.0, scale=2.0, dtype=np.float64):
    """Z (n, m), gamma (n, 1) in [0.5, 2], beta (n, 1), and an upstream dZ_tilde (n, m)."""
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, m)) * scale + offset
    gamma = rng.uniform(0.5, 2.0, (n, 1))
    beta = rng.standard_normal((n, 1))
    dZ_tilde = rng.standard_normal((n, m))
    return tuple(a.astype(dtype) for a in (Z, gamma, beta, dZ_tilde))


def make_network(layer_dims, m, seed=0):
    """X (n_x, m), one-hot Y (C, m) with every class used when m >= C, and parameters
    whose gamma, beta and b are not the defaults (so a mix-up cannot hide)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((layer_dims[0], m))
    C = layer_dims[-1]
    Y = one_hot(rng.permutation(np.arange(m) % C), C)
    parameters = reference.initialize_parameters(layer_dims, seed=seed)
    for key, value in parameters.items():
        if key.startswith("gamma"):
            parameters[key] = rng.uniform(0.5, 1.5, value.shape)
        elif key.startswith(("beta", "b")):
            parameters[key] = 0.3 * rng.standard_normal(value.shape)
    return X, Y, parameters


@pytest.fixture
def bn_inputs():
    """Factory: bn_inputs(n, m, seed=0, offset=0.0, scale=2.0, dtype=np.float64)."""
    return make_bn_inputs


@pytest.fixture
def network():
    """Factory: network(layer_dims, m, seed=0) -> (X, Y, parameters)."""
    return make_network
