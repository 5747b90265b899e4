"""The classic mistakes are caught: by the visible check, with their hint, and by the hidden test.

For every mistake of autograder.content.mistakes: its source differs from the reference, its
visible check raises CheckFailed naming it, and its hidden test raises
AssertionError. The reference passes every visible check and every hidden test,
silently. Hidden tests grade in isolation: a mistake in one graded function
does not fail the hidden test of another that calls it. The correct variants (other
right ways to write a graded function) pass both, as the reference does.
"""

import inspect

import numpy as np
import pytest

from autograder.content import hidden_tests, reference
from autograder.content.mistakes import all_correct_variants, all_mistakes, mistakes_of
from bnlab import checks
from bnlab.checks import CheckFailed
from bnlab.course import GRADED_FUNCTIONS

MISTAKES = all_mistakes()
VARIANTS = all_correct_variants()


def _id(mistake):
    return f"{mistake.function}-{mistake.id}"


def _check(name):
    check = getattr(checks, f"check_{name}", None)
    assert check is not None, f"bnlab.checks has no check_{name}"
    return check


def _hidden_test(name):
    test = getattr(hidden_tests, f"test_{name}", None)
    assert test is not None, f"autograder.content.hidden_tests has no test_{name}"
    return test


# ------------------------------------------------------------------ the reference


@pytest.mark.parametrize("name", GRADED_FUNCTIONS)
def test_reference_passes_its_visible_check(name, capsys):
    _check(name)(getattr(reference, name))
    verdict = capsys.readouterr().out
    assert f"{name}: all" in verdict and "passed" in verdict, verdict


@pytest.mark.parametrize("name", GRADED_FUNCTIONS)
def test_reference_passes_its_hidden_test_silently(name, capfd):
    result = _hidden_test(name)(getattr(reference, name))
    # nbgrader reads a returned number as partial credit, and any stderr scores 0.
    assert result is None, f"test_{name} returned {result!r}; it must return None"
    captured = capfd.readouterr()
    assert captured.err == "", f"test_{name} wrote to stderr: {captured.err[:300]}"


@pytest.mark.parametrize("name", GRADED_FUNCTIONS)
def test_every_graded_function_has_classic_mistakes(name):
    assert len(mistakes_of(name)) >= 2, f"{name} has {len(mistakes_of(name))} mistake(s); want 2+"


def test_mistakes_refer_to_graded_functions_and_have_hints():
    for mistake in MISTAKES:
        assert mistake.function in GRADED_FUNCTIONS, mistake
        assert len(mistake.hint) > 20 and mistake.edits, mistake


# -------------------------------------------------------------- each mistake


@pytest.mark.parametrize("mistake", MISTAKES, ids=_id)
def test_mistake_changes_the_source(mistake):
    original = inspect.getsource(getattr(reference, mistake.function))
    assert mistake.source() != original


@pytest.mark.parametrize("mistake", MISTAKES, ids=_id)
def test_visible_check_names_the_mistake(mistake):
    wrong = mistake.build()
    # The mistaken code may warn (the square root of a negative s, say): in a notebook
    # that warning shows above the check's message; here it must not become an error.
    with pytest.raises(CheckFailed) as caught, np.errstate(all="ignore"):
        _check(mistake.function)(wrong)
    message = str(caught.value)
    assert mistake.hint in message, (
        f"The check of {mistake.function} failed on mistake {mistake.id!r} without its hint:\n"
        f"{message}"
    )


@pytest.mark.parametrize("mistake", MISTAKES, ids=_id)
def test_hidden_test_fails_the_mistake_silently(mistake, capfd):
    wrong = mistake.build()
    with pytest.raises(AssertionError):
        _hidden_test(mistake.function)(wrong)
    assert capfd.readouterr().err == "", "the hidden test wrote to stderr"


# ----------------------------------------------------------- correct variants


def test_the_functions_with_the_most_mistakes_have_correct_variants():
    """A check that names many mistakes is held against other right answers too."""
    most = sorted(GRADED_FUNCTIONS, key=lambda name: -len(mistakes_of(name)))[:4]
    assert set(most) <= {variant.function for variant in VARIANTS}, most


@pytest.mark.parametrize("variant", VARIANTS, ids=_id)
def test_correct_variant_changes_the_source(variant):
    original = inspect.getsource(getattr(reference, variant.function))
    assert variant.source() != original
    assert variant.function in GRADED_FUNCTIONS and len(variant.why) > 20


@pytest.mark.parametrize("variant", VARIANTS, ids=_id)
def test_correct_variant_passes_its_visible_check(variant, capsys):
    _check(variant.function)(variant.build())
    verdict = capsys.readouterr().out
    assert f"{variant.function}: all" in verdict and "passed" in verdict, verdict


@pytest.mark.parametrize("variant", VARIANTS, ids=_id)
def test_correct_variant_passes_its_hidden_test_silently(variant, capfd):
    assert _hidden_test(variant.function)(variant.build()) is None
    assert capfd.readouterr().err == "", "the hidden test wrote to stderr"


# ------------------------------------------------------------------ isolation


def _callees(name):
    """The other graded functions that reference function `name` calls by name."""
    code = getattr(reference, name).__code__
    return [other for other in GRADED_FUNCTIONS if other != name and other in code.co_names]


ISOLATION_CASES = [
    (name, mistake)
    for name in GRADED_FUNCTIONS
    for callee in _callees(name)
    for mistake in mistakes_of(callee)
]


@pytest.mark.parametrize(
    ("name", "mistake"),
    ISOLATION_CASES,
    ids=[f"{name}-with-{_id(m)}" for name, m in ISOLATION_CASES],
)
def test_hidden_test_grades_in_isolation(name, mistake):
    """A correct function whose namespace holds a mistaken earlier function still passes:
    one early mistake is not punished twice."""
    namespace = dict(vars(reference))
    namespace[mistake.function] = wrong = mistake.build()
    exec(compile(inspect.getsource(getattr(reference, name)), f"<{name}>", "exec"), namespace)
    assert _hidden_test(name)(namespace[name]) is None  # raises AssertionError on a failure
    assert namespace[mistake.function] is wrong, "the hidden test left the reference swapped in"


@pytest.mark.parametrize(
    "name",
    [
        "batchnorm_forward",
        "linear_bn_activation_forward",
        "batchnorm_backward_staged",
        "batchnorm_backward",
        "linear_bn_activation_backward",
        "layernorm_forward",
        "layernorm_backward",
    ],
)
def test_a_list_instead_of_a_tuple_is_accepted_by_check_and_hidden_test(name, capsys):
    """The visible check accepts a list where the contract says tuple; the hidden test agrees."""
    function = getattr(reference, name)

    def as_list(*args, **kwargs):
        return list(function(*args, **kwargs))

    _check(name)(as_list)
    assert "passed" in capsys.readouterr().out
    assert _hidden_test(name)(as_list) is None
