"""The grading tests' shared inputs: the recorded cases, and a verdict as the grader
reaches it (the harness writes a function's results, the trusted side decides)."""

import pytest

from autograder.grading import verdicts
from bnlab import harness
from bnlab._grading.contract import CASES_ENV, RESULTS_ENV


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    """The cases every hidden test records (verdicts.write_cases), made once per module."""
    return verdicts.write_cases(tmp_path_factory.mktemp("grading") / "cases")


@pytest.fixture()
def grade(cases, tmp_path, monkeypatch):
    """grade(name, function) -> the verdict: the harness writes the results, then the
    trusted side decides."""
    monkeypatch.setenv(CASES_ENV, str(cases))
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))

    def run(name, function):
        (tmp_path / f"{name}.npz").unlink(missing_ok=True)
        harness.run(name, function)
        return verdicts.decide(name, verdicts.load_calls(cases, name), tmp_path / f"{name}.npz")

    return run
