"""Build the stored cases of the visible checks from the reference and the mistakes.

Instructor-only; run by ``python -m bnlab.sync``. The output,
``bnlab/data/checks/<function>.npz``, holds inputs and outputs (numbers only)
and ships with the student wheel; a test fails when it is out of date.

Each function has a case builder that returns a list of
(label, args, kwargs, rtol, atol). Inputs are seeded and awkward on purpose:
n_l != m, m = 1 and 2, a constant row, gamma containing 0, non-default
gamma and beta, float32, large offsets.
"""

import warnings

import numpy as np

from bnlab import reference
from bnlab.checks._core import FIXTURE_DIR, first_difference, save_cases
from bnlab.course import GRADED_FUNCTIONS
from bnlab.mistakes import mistakes_of


def _bn_inputs(n, m, seed, offset=0.0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    Z = (rng.standard_normal((n, m)) * 2 + offset).astype(dtype)
    gamma = rng.uniform(0.5, 2.0, (n, 1)).astype(dtype)
    beta = rng.standard_normal((n, 1)).astype(dtype)
    return Z, gamma, beta


def cases_batchnorm_forward():
    Z, gamma, beta = _bn_inputs(4, 6, 1)
    Z_const, g2, b2 = _bn_inputs(3, 5, 2)
    Z_const[1] = 7.0
    g2[0] = 0.0
    Z32, g32, b32 = _bn_inputs(3, 8, 3, dtype=np.float32)
    return [
        ("n_l=4, m=6, non-default gamma and beta", (Z, gamma, beta), {}, 1e-6, 1e-8),
        ("m=1 (a single example)", _bn_inputs(3, 1, 4), {}, 1e-6, 1e-8),
        ("m=2", _bn_inputs(2, 2, 5), {}, 1e-6, 1e-8),
        ("a constant row and gamma containing 0", (Z_const, g2, b2), {}, 1e-6, 1e-8),
        (
            "large offset (Z around 1e4), eps=1e-3",
            _bn_inputs(3, 7, 6, offset=1e4),
            {"eps": 1e-3},
            1e-6,
            1e-6,
        ),
        ("float32", (Z32, g32, b32), {}, 1e-4, 1e-5),
    ]


CASE_BUILDERS = {
    name[len("cases_") :]: f for name, f in globals().items() if name.startswith("cases_")
}


def build_cases(name):
    """The stored cases of graded function `name`, outputs computed by the reference."""
    function = getattr(reference, name)
    mistakes = [(m, m.build()) for m in mistakes_of(name)]
    cases = []
    for label, args, kwargs, rtol, atol in CASE_BUILDERS[name]():
        expected = function(*args, **kwargs)
        case = {
            "label": label,
            "args": args,
            "kwargs": kwargs,
            "expected": expected,
            "rtol": rtol,
            "atol": atol,
            "mistakes": {},
            "hints": {},
        }
        for mistake, wrong in mistakes:
            try:
                with warnings.catch_warnings(), np.errstate(all="ignore"):
                    warnings.simplefilter("ignore")
                    output = wrong(*args, **kwargs)
            except Exception:
                continue
            if first_difference(output, expected, "output", rtol, atol) is not None:
                case["mistakes"][mistake.id] = output
                case["hints"][mistake.id] = mistake.hint
        cases.append(case)
    return cases


def write_fixtures(names=None):
    """Write bnlab/data/checks/<name>.npz for every graded function that has a case builder."""
    FIXTURE_DIR.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names or GRADED_FUNCTIONS:
        if name in CASE_BUILDERS:
            save_cases(FIXTURE_DIR / f"{name}.npz", build_cases(name))
            written.append(name)
    return written
