"""`pip install .` from a copy of the checkout (not editable) into a fresh venv, with the
copy deleted afterwards, gives a `bnlab-grade` that runs the whole pipeline on sample
submissions in another folder: the package needs nothing of the checkout, and declares
every package it needs.

The shared courses are made with that installation (conftest: installed_grader): its
release step made released_course, and its collect, grade, feedback and export steps
graded graded_course, whose grades the end-to-end tests compare with what each sample
should score. Here: that they were, and that the installed package did the work.
"""

import csv
import subprocess

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def test_the_installed_package_released_and_graded_the_shared_courses(
    installed_grader, released_course, graded_course
):
    assert not installed_grader.source.exists()  # deleted before any step ran
    assert installed_grader.tool.is_file()
    release_output = released_course.with_name("release-output.txt").read_text()
    assert "the release checks passed" in release_output, release_output[-3000:]
    assert graded_course.tool == str(installed_grader.tool)
    with open(graded_course.course / "reports" / "grades.csv", newline="") as file:
        scores = {row["student_id"]: float(row["raw_score"]) for row in csv.DictReader(file)}
    assert sorted(scores) == sorted(graded_course.students)
    # The untouched release scores nothing; the solution, 90 of 100 (the three written
    # answers, 10 points, wait for a person).
    assert scores["release"] == 0, scores
    assert scores["solution"] == 90, scores


def test_the_installed_package_is_what_runs(installed_grader):
    """Its Python imports both packages from the venv, wherever it starts."""
    probe = subprocess.run(
        [
            str(installed_grader.venv / "bin" / "python"),
            "-c",
            "import autograder, bnlab; print(autograder.__file__, bnlab.__file__)",
        ],
        cwd=installed_grader.elsewhere,
        env=installed_grader.env(),
        capture_output=True,
        text=True,
    )
    assert probe.stdout.count(str(installed_grader.venv)) == 2, probe.stdout + probe.stderr
