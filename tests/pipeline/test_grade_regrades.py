"""Whom `grade` grades again, and what it says: grades given by hand regrade nobody, every
student graded again is named with the reason, and a run ends with one summary line, with
the progress bar or without it.

Each test takes its own copy of the shared graded course (the end-to-end samples, graded,
fed back and exported once per test run). Grades are given by hand as formgrader's grade
handler gives them (nbgrader's formgrader apihandlers.GradeHandler.put: the manual score,
and needs_manual_grade only while neither a manual nor an automatic score is there). What
each test expects comes from what it changed, never from the code under test.
"""

import re
import shutil

import pytest
from autograder_support import COPY_IGNORE, run, sqlite_url

from autograder.grading import executors
from autograder.pipeline import grade
from autograder.workspace import COURSE_ID, Course
from bnlab.course import ASSIGNMENT

pytestmark = pytest.mark.slow  # the shared graded course

# (student, notebook, grade cell, manual score): a written answer scored by hand, an
# automatic score overridden by hand, and a written answer scored then cleared again.
BY_HAND = [
    ("solution", "03_removing_b", "why_no_b", 3.0),
    ("mistake-batchnorm_forward-wrong_axis", "01_forward_bn", "test_batchnorm_forward", 1.5),
    ("partial", "03_removing_b", "why_no_b", None),
]


@pytest.fixture
def course(graded_course, tmp_path):
    root = tmp_path / "course"
    shutil.copytree(graded_course.course, root, symlinks=True, ignore=COPY_IGNORE)
    return root


def grade_by_hand(root, rows, first=2.0):
    """Give the grades of `rows` by hand as formgrader does; a row whose score is None is
    first given `first`, then cleared (formgrader's field emptied)."""
    from nbgrader.api import Gradebook

    with Gradebook(sqlite_url(root), COURSE_ID) as gradebook:
        for student, notebook, cell, score in rows:
            grade_row = gradebook.find_grade(cell, notebook, ASSIGNMENT, student)
            for manual in (first, score) if score is None else (score,):
                grade_row.manual_score = manual
                grade_row.needs_manual_grade = manual is None and grade_row.auto_score is None
                gradebook.db.commit()


def manual_scores(root, rows):
    from nbgrader.api import Gradebook

    with Gradebook(sqlite_url(root), COURSE_ID) as gradebook:
        return [
            gradebook.find_grade(cell, notebook, ASSIGNMENT, student).manual_score
            for student, notebook, cell, _ in rows
        ]


def test_grades_given_by_hand_regrade_nobody(course, graded_course):
    grade_by_hand(course, BY_HAND)
    output = run("grade", course, "--no-progress").stdout
    everyone = len(graded_course.students)
    assert f"grade: 0 submission(s) to grade, {everyone} already graded and unchanged" in output
    assert "grading again" not in output
    assert manual_scores(course, BY_HAND) == [3.0, 1.5, None]


def test_whoever_is_graded_again_is_named_with_the_reason(course, graded_course):
    """Three students are made out of date, each in one way, beside the grades by hand;
    which students grade would take, and the lines it prints, are read without grading."""
    from nbgrader.api import Gradebook

    grade_by_hand(course, BY_HAND)
    changed, unpacked, crashed = "release", "loop", "stderr"
    notebook = next((course / "submitted" / changed / ASSIGNMENT).glob("*.ipynb"))
    notebook.write_bytes(notebook.read_bytes() + b"\n")
    shutil.rmtree(course / "autograded" / unpacked / ASSIGNMENT)
    report = course / "reports" / "grade" / f"{crashed}.json"
    report.write_text(report.read_text(encoding="utf-8").replace("{", '{"crashed": true, ', 1))
    workspace = Course(course)
    with Gradebook(workspace.db_url, COURSE_ID) as gradebook:
        todo, _, regraded = grade._todo(
            workspace, gradebook, graded_course.students, grade.source_digest(workspace)
        )
    assert sorted(todo) == sorted([changed, unpacked, crashed])
    assert regraded == {
        changed: "the submission changed since it was graded",
        unpacked: f"its autograded notebooks are missing from autograded/{unpacked}",
        crashed: "could not be graded last time",
    }
    assert sorted(grade._regraded_lines(regraded)) == sorted(
        [
            "grade: grading again 1 student(s) graded before (the submission changed since "
            f"it was graded): {changed}",
            "grade: grading again 1 student(s) graded before (its autograded notebooks are "
            f"missing from autograded/{unpacked}): {unpacked}",
            "grade: grading again 1 student(s) graded before (could not be graded last time): "
            f"{crashed}",
        ]
    )


def test_many_students_graded_again_for_one_reason_are_counted(course):
    regraded = {f"s{number:02d}": "--force" for number in range(12)}
    (line,) = grade._regraded_lines(regraded)
    assert line == (
        "grade: grading again 12 student(s) graded before (--force): "
        "s00, s01, s02, s03, s04, s05, s06, s07, s08, s09 and 2 more"
    )


@pytest.mark.parametrize("progress", [True, False], ids=["bar", "no-progress"])
def test_a_run_ends_with_one_summary_line_with_or_without_the_bar(
    course, monkeypatch, restore_environ, progress
):
    """Two students named with --student, whose grading fails at once (a worker's crash,
    stood in for here): the run names them, and its last line sums it up."""
    students = ["solution", "partial"]

    def crashing(todo, read, context, workers):
        for student in todo:
            yield student, {"crash": "the worker was lost"}

    monkeypatch.setattr(grade, "_context", lambda *args, **kwargs: None)
    monkeypatch.setattr(executors, "local", crashing)
    lines = []
    grade.grade(Course(course), students=students, progress=progress, log=lines.append)
    assert re.fullmatch(
        r"grade: 2 of 2 submission\(s\) graded in \d+:\d\d, [\d.]+ s per student; "
        r"2 could not be graded",
        lines[-1],
    ), lines[-1]
    assert lines[1] == (
        "grade: grading again 2 student(s) graded before (named with --student): solution, partial"
    )
