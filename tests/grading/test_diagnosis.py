"""A failed hidden test names the classic mistake behind it (autograder.grading.diagnosis).

Each student here is a function whose results are written the way the notebook's
process writes them (bnlab.harness.run calls it on the recorded inputs and saves what
it returned with bnlab._grading.valuefile), or a results file crafted byte by byte;
the trusted side (verdicts.decide) replays them into the hidden test and, when the
test fails on the values, names the mistake. The ids expected come from the catalogue
(autograder.content.mistakes) and the words from its hints, never from the code under
test.
"""

import collections
import copy
import time

import nbformat
import numpy as np
import pytest

from autograder.content import reference
from autograder.content.mistakes import (
    Mistake,
    _built,
    _edited_source,
    all_mistakes,
    mistakes_of,
)
from autograder.grading import diagnosis, outcomes, verdicts
from bnlab import checks, harness
from bnlab._grading import valuefile
from bnlab.checks import CheckFailed
from bnlab.checks._core import load_cases

MISTAKES = all_mistakes()
NO_MATCH_WORDS = "match none of the classic mistakes this course knows"


def planted(function, *edits):
    """Reference function `function` with the text `edits` ((old, new), ...) made."""
    return _built(function, _edited_source(function, edits, "planted"), "planted")


def hint(function, mistake_id):
    return next(m.hint for m in mistakes_of(function) if m.id == mistake_id)


# ------------------------------------------------------------------ which mistake
#
# Every catalogued mistake, graded this way, is named by its own id: checked beside its
# verdict in tests/grading/test_verdicts.py (one run of each mistake for both).


def test_a_mistake_in_its_natural_variants_is_named(grade):
    """The rest of the code following the mistake: named at the first wrong part, as the
    visible checks do (tests/bnlab/test_natural_mistakes.py)."""
    activation_of_Z = planted(
        "linear_bn_activation_forward",
        ("A = activation_forward(Z_tilde, activation)", "A = activation_forward(Z, activation)"),
        ("(Z_tilde, activation))", "(Z, activation))"),
    )
    verdict = grade("linear_bn_activation_forward", activation_of_Z)
    assert outcomes.mistake(verdict) == "activation_of_Z", verdict
    wrong_axis = planted(
        "batchnorm_forward",
        ("np.mean(Z, axis=1, keepdims=True)", "np.mean(Z, axis=0)"),
        ("np.mean(Z_centered * Z_centered, axis=1, keepdims=True)", "np.var(Z, axis=0)"),
    )
    assert outcomes.mistake(grade("batchnorm_forward", wrong_axis)) == "wrong_axis"


def test_a_mistake_on_some_inputs_only_is_still_named(grade):
    """Right where its code does not go wrong (here: all but the relu layers)."""
    relu_only = planted(
        "linear_bn_activation_forward",
        (
            "A = activation_forward(Z_tilde, activation)",
            "A = activation_forward(Z if activation == 'relu' else Z_tilde, activation)",
        ),
    )
    verdict = grade("linear_bn_activation_forward", relu_only)
    assert outcomes.mistake(verdict) == "activation_of_Z", verdict


def test_wrong_values_of_no_known_mistake_are_unknown(grade):
    def batchnorm_forward(Z, gamma, beta, eps=1e-5):
        Z_tilde, cache = reference.batchnorm_forward(Z, gamma, beta, eps)
        return Z_tilde * 1.5, cache

    verdict = grade("batchnorm_forward", batchnorm_forward)
    assert verdict == ("failed", verdict[1], "unknown") and "Wrong values" in verdict[1]

    def initialize_parameters(layer_dims, seed=0):
        parameters = reference.initialize_parameters(layer_dims, seed)
        return {key: value + 1 for key, value in parameters.items()}

    assert outcomes.mistake(grade("initialize_parameters", initialize_parameters)) == "unknown"


def test_a_mistake_contradicted_by_another_call_is_not_named(grade):
    """A function that gives unbiased_variance's values on one call, and values of no
    mistake on another, is not that mistake."""
    wrong = mistakes_of("batchnorm_forward")
    unbiased = next(m for m in wrong if m.id == "unbiased_variance").build()
    calls = {"n": 0}

    def batchnorm_forward(Z, gamma, beta, eps=1e-5):
        calls["n"] += 1
        if calls["n"] == 1:
            return unbiased(Z, gamma, beta, eps)
        Z_tilde, cache = reference.batchnorm_forward(Z, gamma, beta, eps)
        return Z_tilde + 1, cache

    assert outcomes.mistake(grade("batchnorm_forward", batchnorm_forward)) == "unknown"


def test_of_two_mistakes_with_the_same_values_the_first_of_the_catalogue_is_named(
    cases, grade, monkeypatch
):
    """No two mistakes of the catalogue give the same values on every hidden input (each
    is named by its own id above); were two to, the first one listed is named."""
    unbiased = next(m for m in mistakes_of("batchnorm_forward") if m.id == "unbiased_variance")
    twin = Mistake("batchnorm_forward", "twin", "the same values", unbiased.edits)
    catalogue = mistakes_of("batchnorm_forward")
    for listed, expected in ([*catalogue, twin], "unbiased_variance"), ([twin, *catalogue], "twin"):
        monkeypatch.setattr(diagnosis, "mistakes_of", lambda name, listed=listed: listed)
        monkeypatch.setattr(diagnosis, "_TABLES", {})
        assert outcomes.mistake(grade("batchnorm_forward", unbiased.build())) == expected


# ------------------------------------------------------------------ other failures


def test_failures_that_are_not_about_values_keep_their_message_and_name_nothing(
    grade, cases, tmp_path
):
    def raises(Z, gamma, beta, eps=1e-5):
        raise ValueError("not today")

    def out_of_memory(Z, gamma, beta, eps=1e-5):
        raise MemoryError()

    assert grade("batchnorm_forward", raises) == ("failed", "ValueError: not today")
    assert grade("batchnorm_forward", out_of_memory) == ("memory", verdicts.MEMORY)
    calls = verdicts.load_calls(cases, "batchnorm_forward")
    path = tmp_path / "batchnorm_forward.npz"
    valuefile.save(path, {"function": "batchnorm_forward", "results": []})
    assert verdicts.decide("batchnorm_forward", calls, path) == (
        "failed",
        "AssertionError: The test did not run to the end.",
    )
    valuefile.save(path, {"function": "batchnorm_forward", "unsaved": "OSError: too big"})
    decided = verdicts.decide("batchnorm_forward", calls, path)
    assert decided == ("failed", "what the function returned could not be kept: OSError: too big")
    path.write_bytes(b"PK\x03\x04 not a zip")
    decided = verdicts.decide("batchnorm_forward", calls, path)
    assert len(decided) == 2 and "could not be read" in decided[1], decided


# ------------------------------------------------------------------ hostile values


class Tensor:
    """A type that does not cross the wall: the grader reads it back as an opaque value."""


Cache = collections.namedtuple("Cache", "Z Z_norm mu var gamma beta eps")


def _nested(depth):
    value = [1.0]
    for _ in range(depth):
        value = [value]
    return value


class Tagged(np.ndarray):
    """An array subclass: it crosses the wall as a plain array."""


HOSTILE_VALUES = {
    "strings of the right shape": lambda Z: (np.full(Z.shape, "x"), (np.full(Z.shape, "y"),) * 7),
    "NaN everywhere": lambda Z: (np.full(Z.shape, np.nan), (np.full(Z.shape, np.nan),) * 7),
    "complex values": lambda Z: (Z.astype(complex) * 1j, (Z.astype(complex),) * 7),
    "an opaque object": lambda Z: Tensor(),
    "an opaque object in the cache": lambda Z: (Z, (Tensor(),) * 7),
    "lists nested 34 deep": lambda Z: (_nested(34), _nested(33)),
    "an int of 4000 digits": lambda Z: (int("9" * 4000), (int("9" * 4000),) * 7),
    "a dict for a tuple": lambda Z: {f"k{i}": i for i in range(20_000)},
    "a large array": lambda Z: (np.zeros((1000, 1000)), (Z,) * 7),
    "subclasses read back as plain values": lambda Z: (
        (Z * 2).view(Tagged),
        Cache(*((Z * 2).view(Tagged),) * 7),
    ),
    "None": lambda Z: None,
    "bytes": lambda Z: (np.full(Z.shape, b"\x00"), b"\xff" * 1000),
}
HOSTILE = sorted(HOSTILE_VALUES)


def _hostile(calls, kind):
    """What a crafted results file returns on each recorded call of batchnorm_forward."""
    return [
        {
            "returned": HOSTILE_VALUES[kind](call["args"][0]),
            "args": list(call["args"]),
            "kwargs": {},
        }
        for call in calls
    ]


def _named_in_time(name, calls, path):
    """(verdict, seconds the naming took) of the results file `path`: decide, then the
    naming alone on the values read back (the table of the mistakes is built by then)."""
    decided = verdicts.decide(name, calls, path)
    results = valuefile.load(path)["results"]
    started = time.monotonic()
    again = diagnosis.name_mistake(name, calls, results)
    took = time.monotonic() - started
    assert outcomes.mistake(decided) in (again, ""), decided
    return decided, took


@pytest.mark.parametrize("kind", HOSTILE)
def test_hostile_values_name_no_mistake_and_take_no_time(cases, tmp_path, kind):
    calls = verdicts.load_calls(cases, "batchnorm_forward")
    path = tmp_path / "batchnorm_forward.npz"
    valuefile.save(path, {"function": "batchnorm_forward", "results": _hostile(calls, kind)})
    decided, took = _named_in_time("batchnorm_forward", calls, path)
    assert decided[0] == "failed" and outcomes.mistake(decided) == "unknown", decided
    assert took < 0.5, f"{kind}: {took:.2f} s"


def test_a_hostile_dict_of_many_keys_takes_no_time(cases, tmp_path):
    """An optimizer's parameters with 20000 keys more on each call (as many as the
    reader reads): each mistake's comparison lists them, in a fraction of a second."""
    name = "update_parameters_with_gd"
    calls = verdicts.load_calls(cases, name)
    keys = {f"W{i}": 0 for i in range(20_000)}
    results = [{"returned": keys, "args": list(c["args"]), "kwargs": {}} for c in calls]
    path = tmp_path / f"{name}.npz"
    valuefile.save(path, {"function": name, "results": results})
    decided, took = _named_in_time(name, calls, path)
    assert decided[0] == "failed" and outcomes.mistake(decided) == "unknown", decided
    assert took < 1.0, f"{took:.2f} s"


def test_a_comparison_that_raises_is_no_match(cases, monkeypatch):
    """Whatever goes wrong while comparing, the answer is a verdict: no match."""
    name = "batchnorm_forward"
    calls = verdicts.load_calls(cases, name)
    right = [{"returned": reference.batchnorm_forward(*copy.deepcopy(c["args"]))} for c in calls]

    def broken(*args, **kwargs):
        raise RecursionError("too deep")

    monkeypatch.setattr(diagnosis, "same_output", broken)
    assert diagnosis.name_mistake(name, calls, right) == diagnosis.UNKNOWN
    assert diagnosis.name_mistake(name, calls, "not a list") == diagnosis.UNKNOWN


# ------------------------------------------------------------------ the words, the page


def test_the_line_shown_is_the_hint_the_student_wheel_holds_already():
    """Nothing new reaches the page: each mistake's line is its hint, which the stored
    cases of the visible checks (in the student's wheel) hold already."""
    for mistake in MISTAKES:
        line = diagnosis.explain(mistake.function, mistake.id)
        assert line == f"Likely mistake: {mistake.hint}"
        stored = {h for case in load_cases(mistake.function) for h in case["hints"].values()}
        assert mistake.hint in stored, mistake


FIRST_OF_EACH = list({m.function: m for m in reversed(MISTAKES)}.values())


@pytest.mark.parametrize("mistake", FIRST_OF_EACH, ids=[m.function for m in FIRST_OF_EACH])
def test_the_line_shown_is_the_visible_checks_own(mistake):
    line = diagnosis.explain(mistake.function, mistake.id)
    with pytest.raises(CheckFailed) as caught, np.errstate(all="ignore"):
        getattr(checks, f"check_{mistake.function}")(mistake.build())
    assert f"\n  {line}\n" in str(caught.value)


def _test_cell(grade_id):
    cell = nbformat.v4.new_code_cell(f'harness.run("{grade_id[5:]}", {grade_id[5:]})')
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": grade_id, "points": 4}
    return cell


def test_the_page_shows_the_mistake_under_the_failure():
    notebook = nbformat.v4.new_notebook(
        cells=[
            _test_cell("test_batchnorm_forward"),
            _test_cell("test_linear_bn_activation_forward"),
            _test_cell("test_batchnorm_backward"),
            _test_cell("test_model_forward"),
        ]
    )
    wrong_values = "AssertionError: Wrong values in Z_tilde (n_l=5, m=9)."
    outcomes.show(
        notebook,
        {
            "test_batchnorm_forward": ("failed", wrong_values, "unbiased_variance"),
            "test_linear_bn_activation_forward": ("failed", "AssertionError: Wrong A.", "unknown"),
            "test_batchnorm_backward": ("failed", "ValueError: not today"),
            "test_model_forward": ("passed", ""),
        },
    )
    named, unknown, raised, passed = (cell.outputs for cell in notebook.cells)
    assert named[0].traceback == [
        wrong_values,
        "  Likely mistake: " + hint("batchnorm_forward", "unbiased_variance"),
    ]
    assert (named[0].ename, named[0].evalue) == ("AssertionError", wrong_values[16:])
    assert unknown[0].traceback[0] == "AssertionError: Wrong A."
    assert NO_MATCH_WORDS in unknown[0].traceback[1] and len(unknown[0].traceback) == 2
    assert raised[0].traceback == ["ValueError: not today"]
    assert passed == []


# ------------------------------------------------------------------ once, and the same


def test_mistakes_are_built_once_per_process_and_name_the_same_each_time(grade, monkeypatch):
    unbiased = next(m for m in mistakes_of("batchnorm_forward") if m.id == "unbiased_variance")
    function = unbiased.build()
    built = []
    original = Mistake.build

    def counting(self):
        built.append(self.id)
        return original(self)

    monkeypatch.setattr(Mistake, "build", counting)
    monkeypatch.setattr(diagnosis, "_TABLES", {})
    verdicts_seen = [grade("batchnorm_forward", function) for _ in range(3)]
    assert len(built) == len(mistakes_of("batchnorm_forward"))
    assert verdicts_seen[0][2] == "unbiased_variance"
    assert verdicts_seen == [verdicts_seen[0]] * 3
    monkeypatch.setattr(diagnosis, "_TABLES", {})
    assert grade("batchnorm_forward", function) == verdicts_seen[0]


def test_values_read_back_plain_are_judged_as_plain_values(cases, tmp_path):
    """A mistake's own values, handed back as an array subclass and a named tuple, arrive
    as plain arrays and a tuple: that mistake is named."""
    name = "batchnorm_forward"
    unbiased = next(m for m in mistakes_of(name) if m.id == "unbiased_variance").build()
    calls = verdicts.load_calls(cases, name)
    results = []
    for call in calls:
        with harness.quiet():  # m=1: the unbiased variance warns, as the mistake does
            Z_tilde, cache = unbiased(*copy.deepcopy(call["args"]))
        returned = [Z_tilde.view(Tagged), Cache(*cache)]
        results.append({"returned": returned, "args": list(call["args"]), "kwargs": {}})
    path = tmp_path / f"{name}.npz"
    valuefile.save(path, {"function": name, "results": results})
    assert outcomes.mistake(verdicts.decide(name, calls, path)) == "unbiased_variance"
