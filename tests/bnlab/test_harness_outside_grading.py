"""Outside grading, a test cell's harness.run gives the visible check's verdict.

nbgrader's Validate, without the release's configuration (run from another folder, or a
JupyterLab started elsewhere), only looks at the cells worth points: the test cells. So
outside grading, harness.run runs the function's check quietly and fails as it fails.
"""

import pytest

from autograder.content import reference
from autograder.content.mistakes import all_mistakes
from bnlab import harness
from bnlab._grading.contract import CASES_ENV, RESULTS_ENV
from bnlab.checks import CheckFailed, check_batchnorm_forward


@pytest.fixture(autouse=True)
def outside_grading(monkeypatch):
    monkeypatch.delenv(CASES_ENV, raising=False)
    monkeypatch.delenv(RESULTS_ENV, raising=False)


def mistake(function):
    """A classic mistake's function (autograder.content.mistakes)."""
    found = next(m for m in all_mistakes() if m.function == function)
    return found.build(), found


def test_a_correct_function_passes_quietly(capsys):
    assert harness.run("batchnorm_forward", reference.batchnorm_forward) is None
    assert capsys.readouterr().out == ""


def test_a_wrong_function_fails_with_its_checks_message():
    wrong, found = mistake("batchnorm_forward")
    with pytest.raises(CheckFailed) as failed:
        harness.run("batchnorm_forward", wrong)
    assert failed.value.name == "batchnorm_forward"
    assert "Likely mistake" in str(failed.value)


def test_a_stub_fails():
    def batchnorm_forward(Z, gamma, beta, eps=1e-5):
        raise NotImplementedError()

    with pytest.raises(CheckFailed, match="not implemented yet"):
        harness.run("batchnorm_forward", batchnorm_forward)


def test_a_function_whose_check_just_passed_is_not_run_again(capsys):
    calls = []

    def batchnorm_forward(Z, gamma, beta, eps=1e-5):
        calls.append(1)
        return reference.batchnorm_forward(Z, gamma, beta, eps)

    check_batchnorm_forward(batchnorm_forward)
    assert calls and "checks passed" in capsys.readouterr().out
    before = len(calls)
    harness.run("batchnorm_forward", batchnorm_forward)
    assert len(calls) == before


def test_a_failed_check_is_run_again():
    wrong, _ = mistake("batchnorm_forward")
    with pytest.raises(CheckFailed):
        check_batchnorm_forward(wrong)
    with pytest.raises(CheckFailed):
        harness.run("batchnorm_forward", wrong)


def test_a_name_without_a_check_does_nothing():
    assert harness.run("not_a_graded_function", None) is None
