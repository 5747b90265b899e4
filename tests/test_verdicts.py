"""Verdicts decided outside the student's process (autograder.verdicts, bnlab.harness).

The path of a grade, without a kernel: the harness calls a function on the
recorded inputs and saves what it returned (what the grading kernel does), and
the trusted side replays those values into the hidden test. Held against every
classic mistake, every correct variant, the reference and the isolation cases,
the verdict is the one the hidden test gives when it calls the function itself:
honest work gets exactly the grade it got when the tests ran in the kernel.
And the files the kernel can read never hold a graded function's own answers.
"""

import inspect
import os

import numpy as np
import pytest

from autograder import hidden_tests, reference, verdicts
from autograder.mistakes import all_correct_variants, all_mistakes, mistakes_of
from bnlab import exchange, harness
from bnlab.course import GRADED_FUNCTIONS, NOTEBOOKS


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    return verdicts.write_cases(tmp_path_factory.mktemp("grading") / "cases")


@pytest.fixture()
def grade(cases, tmp_path, monkeypatch):
    """grade(name, function) -> (status, detail): the harness, then the trusted verdict."""
    monkeypatch.setenv(harness.CASES, str(cases))
    monkeypatch.setenv(harness.RESULTS, str(tmp_path))

    def run(name, function):
        (tmp_path / f"{name}.npz").unlink(missing_ok=True)
        harness.run(name, function)
        return verdicts.decide(name, verdicts.load_calls(cases, name), tmp_path / f"{name}.npz")

    return run


def _in_kernel_verdict(name, function):
    """What the hidden test said when it ran beside the student's code."""
    try:
        getattr(hidden_tests, f"test_{name}")(function)
    except AssertionError:
        return "failed"
    return "passed"


# ------------------------------------------------------------------ same grades as before


@pytest.mark.parametrize("name", GRADED_FUNCTIONS)
def test_the_reference_passes(grade, name):
    assert grade(name, getattr(reference, name)) == ("passed", "")


CANDIDATES = [*all_mistakes(), *all_correct_variants()]


@pytest.mark.parametrize("candidate", CANDIDATES, ids=[f"{c.function}-{c.id}" for c in CANDIDATES])
def test_every_mistake_and_variant_gets_the_verdict_it_got_in_the_kernel(grade, candidate):
    status, detail = grade(candidate.function, candidate.build())
    expected = _in_kernel_verdict(candidate.function, candidate.build())
    assert status == expected, detail
    if status == "failed":
        assert detail.startswith("AssertionError: ") and len(detail) > 20, detail


def _callees(name):
    code = getattr(reference, name).__code__
    return [other for other in GRADED_FUNCTIONS if other != name and other in code.co_names]


ISOLATION = [(n, m) for n in GRADED_FUNCTIONS for c in _callees(n) for m in mistakes_of(c)]


@pytest.mark.parametrize(
    ("name", "mistake"), ISOLATION, ids=[f"{n}-with-{m.function}-{m.id}" for n, m in ISOLATION]
)
def test_a_mistaken_callee_does_not_cost_its_caller(grade, name, mistake):
    namespace = dict(vars(reference))
    namespace[mistake.function] = wrong = mistake.build()
    exec(compile(inspect.getsource(getattr(reference, name)), f"<{name}>", "exec"), namespace)
    assert grade(name, namespace[name]) == ("passed", "")
    assert namespace[mistake.function] is wrong, "the stand-ins were left in place"


def test_a_caller_that_skips_a_level_is_answered_too(grade):
    """A model_forward that calls batchnorm_forward itself, around a wrong one, still passes."""
    namespace = dict(vars(reference))
    namespace["batchnorm_forward"] = mistakes_of("batchnorm_forward")[0].build()
    source = inspect.getsource(reference.model_forward).replace(
        "linear_bn_activation_forward(",
        "(lambda A_prev, W, gamma, beta, activation: _layer(A_prev, W, gamma, beta, activation))(",
    )
    exec(compile(source, "<model_forward>", "exec"), namespace)
    exec(
        "def _layer(A_prev, W, gamma, beta, activation):\n"
        "    Z = W @ A_prev\n"
        "    Z_tilde, bn_cache = batchnorm_forward(Z, gamma, beta)\n"
        "    return activation_forward(Z_tilde, activation), ((A_prev, W), bn_cache, (Z_tilde, activation))\n",
        namespace,
    )
    assert grade("model_forward", namespace["model_forward"]) == ("passed", "")


# ------------------------------------------------------------------ failures, in plain words


def test_an_exception_is_reported_by_name(grade):
    def batchnorm_forward(Z, gamma, beta, eps=1e-5):
        raise ValueError("not today")

    assert grade("batchnorm_forward", batchnorm_forward) == ("failed", "ValueError: not today")


def test_running_out_of_memory_is_its_own_status(grade):
    def batchnorm_forward(Z, gamma, beta, eps=1e-5):
        raise MemoryError()

    assert grade("batchnorm_forward", batchnorm_forward)[0] == "memory"


def test_changing_an_input_in_place_is_still_seen(grade):
    def update_parameters_with_gd(parameters, grads, learning_rate):
        for key in parameters:
            parameters[key] -= learning_rate * grads["d" + key]
        return parameters

    status, detail = grade("update_parameters_with_gd", update_parameters_with_gd)
    assert status == "failed" and "changed in place" in detail, detail


def test_a_value_of_an_unknown_type_fails_with_its_name(grade):
    class Tensor:
        pass

    def batchnorm_forward_inference(Z, gamma, beta, running_mean, running_var, eps=1e-5):
        return Tensor()

    status, detail = grade("batchnorm_forward_inference", batchnorm_forward_inference)
    assert status == "failed", detail


def test_no_results_and_broken_results_are_failures(cases, tmp_path):
    calls = verdicts.load_calls(cases, "batchnorm_forward")
    path = tmp_path / "batchnorm_forward.npz"
    assert verdicts.decide("batchnorm_forward", calls, path) is None  # the cell's error decides
    path.write_bytes(b"PK\x03\x04 not a zip")
    assert verdicts.decide("batchnorm_forward", calls, path)[0] == "failed"
    exchange.save(path, {"function": "model_forward", "results": []})
    assert verdicts.decide("batchnorm_forward", calls, path)[0] == "failed"
    exchange.save(path, {"function": "batchnorm_forward", "results": []})
    assert verdicts.decide("batchnorm_forward", calls, path) == (
        "failed",
        "AssertionError: The test did not run to the end.",
    )


def test_a_results_file_that_is_a_link_is_not_followed(cases, tmp_path):
    """The grader may read files the kernel may not: a link planted by the kernel fails."""
    calls = verdicts.load_calls(cases, "batchnorm_forward")
    good = tmp_path / "good.npz"
    exchange.save(good, {"function": "batchnorm_forward", "results": []})
    link = tmp_path / "batchnorm_forward.npz"
    link.symlink_to(good)
    status, detail = verdicts.decide("batchnorm_forward", calls, link)
    assert status == "failed" and "could not be read" in detail, detail


def test_forged_results_of_the_wrong_values_fail(cases, tmp_path):
    """Results written by anything in the kernel are only values: wrong ones fail."""
    calls = verdicts.load_calls(cases, "batchnorm_forward")
    forged = [
        {"returned": (np.zeros_like(c["args"][0]), (None,) * 7), "args": c["args"], "kwargs": {}}
        for c in calls
    ]
    path = tmp_path / "batchnorm_forward.npz"
    exchange.save(path, {"function": "batchnorm_forward", "results": forged})
    assert verdicts.decide("batchnorm_forward", calls, path)[0] == "failed"


# ------------------------------------------------------------------ the kernel's files


def _arrays(value):
    if isinstance(value, np.ndarray):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _arrays(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _arrays(item)


# The tests of these functions run several steps in a row and feed the reference's
# result of each step into the next: an answer of step k is an input of step k + 1.
# A pass needs every step right, and the last step's answers are nowhere.
FED_BACK = {
    "update_parameters_with_gd",
    "update_parameters_with_momentum",
    "update_parameters_with_rmsprop",
    "update_parameters_with_adam",
    "update_running_averages",
}


def _found(array, arrays):
    return any(b.shape == array.shape and np.allclose(array, b) for b in arrays)


@pytest.mark.parametrize("name", GRADED_FUNCTIONS)
def test_the_kernels_files_never_hold_a_functions_own_answers(cases, name):
    """What `name` computes itself -- its answers that are neither among its inputs nor
    answers of the graded functions it calls (the stand-ins' table), constant arrays
    aside -- appears in no file the grading kernel can read (for FED_BACK: only as an
    input of its own next step)."""
    calls = verdicts.load_calls(cases, name)
    elsewhere = [
        a
        for path in sorted(cases.glob("*.npz"))
        if path.stem != name
        for a in _arrays(exchange.load(path))
    ]
    tables = [a for call in calls for a in _arrays([e[2] for e in call["callees"]])]
    checked = 0
    for index, call in enumerate(calls):
        given = list(_arrays([call["args"], call["kwargs"], [e[2] for e in call["callees"]]]))
        answer = getattr(reference, name)(*call["args"], **call["kwargs"])
        later = [a for c in calls[index + 1 :] for a in _arrays([c["args"], c["kwargs"]])]
        for a in _arrays(answer):
            if a.size < 2 or np.ptp(a) == 0 or _found(a, given):
                continue
            checked += 1
            assert not _found(a, elsewhere + tables), f"an answer of {name} is readable"
            if name not in FED_BACK or index == len(calls) - 1:
                assert not _found(a, later), f"an answer of {name} is an input of a later call"
    assert checked >= len(calls), f"{name}: too few answers to check ({checked})"


def test_every_graded_function_has_recorded_calls(cases):
    for stem, names in NOTEBOOKS.items():
        for name in names:
            assert len(verdicts.load_calls(cases, name)) >= 3, (stem, name)


def test_recording_is_deterministic(tmp_path):
    first = verdicts.write_cases(tmp_path / "a")
    second = verdicts.write_cases(tmp_path / "b")
    for path in sorted(first.glob("*.npz")):
        assert path.read_bytes() == (second / path.name).read_bytes(), path.name


def test_outside_grading_the_harness_does_nothing(monkeypatch, tmp_path):
    monkeypatch.delenv(harness.CASES, raising=False)
    monkeypatch.delenv(harness.RESULTS, raising=False)
    monkeypatch.chdir(tmp_path)
    assert harness.run("batchnorm_forward", reference.batchnorm_forward) is None
    assert os.listdir(tmp_path) == []
