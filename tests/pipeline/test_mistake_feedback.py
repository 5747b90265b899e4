"""On the shared graded course: a failed function names the classic mistake behind it.

The course of the session fixture graded_course grades one classic-mistake sample per
notebook (e2e_samples). Each one's failed function names its own mistake: the report's
cell carries its id, breakdown.csv's `mistake` column holds it, and the feedback page
shows its hint under the failure, in the visible checks' words. The ids and hints
expected are the catalogue's (autograder.content.mistakes).
"""

import html
import re

import pytest
from autograder_support import e2e_samples, read_csv

from autograder.content.mistakes import all_mistakes
from autograder.content.samples import PATCH_FUNCTION as PATCHED
from bnlab.course import ASSIGNMENT, NOTEBOOKS, notebook_of

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

GRADED = {sample.student for sample in e2e_samples()}
MISTAKES = [m for m in all_mistakes() if f"mistake-{m.function}-{m.id}" in GRADED]


def _student(mistake):
    return f"mistake-{mistake.function}-{mistake.id}"


def test_the_course_grades_a_mistake_of_every_notebook():
    assert len({notebook_of(m.function) for m in MISTAKES}) == 7, MISTAKES


@pytest.mark.parametrize("mistake", MISTAKES, ids=[_student(m) for m in MISTAKES])
def test_the_report_and_breakdown_name_the_mistake(graded_course, mistake):
    report = graded_course.report(_student(mistake))
    cell = report["notebooks"][notebook_of(mistake.function)]["cells"][f"test_{mistake.function}"]
    assert cell[0] == "failed" and cell[2] == mistake.id, cell
    rows = read_csv(graded_course.course / "reports" / "breakdown.csv")
    mine = [row for row in rows if row["student_id"] == _student(mistake)]
    named = {row["item"]: row["mistake"] for row in mine if row["mistake"]}
    assert named == {mistake.function: mistake.id}, named


def _test_cells(graded_course, student, stem):
    """{function: the text its hidden test cell shows on the student's page of `stem`}."""
    page = graded_course.course / "feedback" / student / ASSIGNMENT / f"{stem}.html"
    source = page.read_text(encoding="utf-8")
    shown = {}
    for function in NOTEBOOKS[stem]:
        start = source.index(f'<a name="test_{function}"></a>')
        end = source.find('<div id="cell-id=', start)
        cell = source[start : end if end >= 0 else len(source)]
        shown[function] = html.unescape(re.sub(r"<[^>]+>", "", cell))
    return shown


@pytest.mark.parametrize("mistake", MISTAKES, ids=[_student(m) for m in MISTAKES])
def test_the_feedback_page_shows_the_hint_under_the_failure(graded_course, mistake):
    cells = _test_cells(graded_course, _student(mistake), notebook_of(mistake.function))
    failed = cells.pop(mistake.function)
    found = re.search(r"\nAssertionError: .*\n  Likely mistake: (.*)", failed)
    assert found and found.group(1) == mistake.hint, failed
    for function, shown in cells.items():  # the other functions passed
        assert "Likely mistake:" not in shown and "Error" not in shown, (function, shown)


def test_no_other_row_names_a_mistake(graded_course):
    """Only a function failed on its values names one: not a passed function, a written
    answer, a stub that raised, a timeout or a memory hog."""
    rows = read_csv(graded_course.course / "reports" / "breakdown.csv")
    for row in rows:
        if row["status"] != "failed" or row["kind"] != "autograded":
            assert row["mistake"] == "", row
    for student in ("release", "loop", "memhog", "solution"):
        named = [row for row in rows if row["student_id"] == student and row["mistake"]]
        assert not named, named


def test_wrong_values_of_no_known_mistake_say_so(graded_course):
    """patches-numpy's batchnorm_forward returns Z itself: no classic mistake does."""
    rows = read_csv(graded_course.course / "reports" / "breakdown.csv")
    (row,) = [r for r in rows if (r["student_id"], r["item"]) == ("patches-numpy", PATCHED)]
    assert (row["status"], row["mistake"]) == ("failed", "unknown"), row
    shown = _test_cells(graded_course, "patches-numpy", notebook_of(PATCHED))[PATCHED]
    assert "\n  These values match none of the classic mistakes this course knows" in shown
