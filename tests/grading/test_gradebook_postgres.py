"""A PostgreSQL gradebook gives the same grades as the embedded SQLite one.

A real server is started on 127.0.0.1 in a throw-away cluster (Debian's
postgresql package; installed here when it is missing and this is root with
apt-get). The test is skipped, saying why, only where the server can't be had.
A few sample submissions are released, graded with two workers, and exported
against it (--db-url), and compared with the same samples graded with SQLite in
the session's graded course (graded_course, two workers too).
"""

import shutil

import pytest
from autograder_support import (
    PostgresUnavailable,
    expected_scores,
    gradebook_scores,
    points,
    postgres_server,
    read_csv,
    run,
    sqlite_url,
)

from autograder.content import samples as sample_module
from autograder.content.mistakes import all_mistakes

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

# A notebook that cannot be read (notebook 01), and the solution but for a classic mistake
# in notebook 02: zeros, written answers pending, and each graded function's full points
# in one of them at least.
STUDENTS = ["invalid-json"]
MISTAKE_FUNCTION = "linear_bn_activation_backward"


@pytest.fixture(scope="module")
def database():
    try:
        with postgres_server() as new_database:
            yield new_database("gradebook")
    except PostgresUnavailable as error:
        pytest.skip(f"no PostgreSQL server for the gradebook test: {error}")


@pytest.fixture(scope="module")
def students(graded_course):
    """Samples the session's graded course grades too: it grades the first mistake of
    MISTAKE_FUNCTION."""
    mistake = next(m for m in all_mistakes() if m.function == MISTAKE_FUNCTION)
    chosen = [*STUDENTS, f"mistake-{mistake.function}-{mistake.id}"]
    assert set(chosen) <= set(graded_course.students)
    return chosen


def test_postgres_gradebook_gives_the_same_grades_as_sqlite(
    database, students, graded_course, course_copy, tmp_path
):
    inbox = tmp_path / "inbox"
    for student in students:
        shutil.copytree(graded_course.inbox / student, inbox / student)
    sqlite_scores = gradebook_scores(sqlite_url(graded_course.course), students=students)

    course = course_copy("postgres")
    # the release checks are the end-to-end tests' business: here only the gradebook matters
    run("release", course, "--skip-checks", db_url=database)
    run("collect", course, "--from", inbox, db_url=database)
    run("grade", course, "--workers", 2, db_url=database)
    run("export", course, db_url=database)
    postgres_scores = gradebook_scores(database)

    assert set(postgres_scores) == set(students)
    assert postgres_scores == sqlite_scores
    everything = {sample.student: sample for sample in sample_module.samples()}
    found = points()
    for student in students:
        assert postgres_scores[student] == expected_scores(everything[student], found), student
    rows = {row["student_id"]: row for row in read_csv(course / "reports" / "grades.csv")}
    assert set(rows) == set(students)
    # the SQLite gradebook copied from the released course is left untouched
    assert (course / "gradebook.db").exists()
    assert gradebook_scores(sqlite_url(course)) == {}
