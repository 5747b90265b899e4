"""The parent's half of grading: it alone writes the gradebook, autograded/ and reports.

Each finished student is merged in one go: the autograded notebooks (written
to a new folder, then swapped in), the scores, comments and review flags in
the gradebook, and last the report -- the marker that the student is done. A
run killed between two students leaves every merged student whole.

What a result carries from the submission is checked before anything is written:
an attempt time that is not a date and time (attempt_time) is a MergeError, which
autograder.pipeline.grade turns into that student's "could not be graded".
"""

import os
import re
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

from autograder.grading import inert, reports
from autograder.workspace import write_atomic
from bnlab.course import ASSIGNMENT


class MergeError(ValueError):
    """A result that cannot be written as it is (a value of the submission's is unreadable)."""


# The attempt times nbgrader and collect write: 2024-03-01 12:30:00[.123456][ UTC|Z|+01:00]
_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[ T]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,6}))?"
    r"(?: ?(?:(UTC|GMT|Z)|([+-])([0-9]{2}):?([0-9]{2})))?"
)


def attempt_time(text):
    """The attempt time `text` (timestamp.txt: what the student's upload was named) as a
    naive UTC datetime, as nbgrader stores it; MergeError for anything but a date and
    time in the forms above. Checked here, strictly, and never handed to a general date
    parser: the text comes from the student's side of collect."""
    match = _TIME.fullmatch(text.strip()) if isinstance(text, str) and len(text) < 64 else None
    if match is None:
        raise MergeError(f"its attempt time {str(text)[:40]!r} is not a date and time")
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    micro = int((match.group(7) or "0").ljust(6, "0"))
    offset = timedelta(0)
    if match.group(9):
        offset = timedelta(hours=int(match.group(10)), minutes=int(match.group(11)))
        offset = -offset if match.group(9) == "-" else offset
    try:
        when = datetime(year, month, day, hour, minute, second, micro, timezone(offset))
        return when.astimezone(timezone.utc).replace(tzinfo=None)
    except (ValueError, OverflowError):
        raise MergeError(f"its attempt time {text.strip()[:40]!r} is not a valid date") from None


def merge(course, gradebook, result, previous_digest, source):
    """Write one graded student (a result of autograder.grading.submission) into the course;
    returns the report. Manual grades are kept when the submission is unchanged
    (previous_digest: the digest of the submission the last report graded). Raises
    MergeError, before writing anything, for a result it cannot write."""
    student = result["student"]
    kwargs = {"timestamp": attempt_time(result["timestamp"])} if result.get("timestamp") else {}
    _write_autograded(course.autograded / student / ASSIGNMENT, result["autograded"])
    keep_manual = previous_digest is not None and previous_digest == result["digest"]
    gradebook.update_or_create_student(student)
    submission = gradebook.update_or_create_submission(ASSIGNMENT, student, **kwargs)
    by_key = {(g["notebook"], g["name"]): g for g in result["grades"]}
    flagged = {flag["notebook"] for flag in result["flags"]}
    for notebook in submission.notebooks:
        status = result["notebooks"].get(notebook.name, {}).get("status", "ok")
        notebook.flagged = notebook.name in flagged
        comments = {c.name: c for c in notebook.comments}
        for grade in notebook.grades:
            graded = by_key.get((notebook.name, grade.name)) if status == "ok" else None
            if not keep_manual:
                grade.manual_score = None
            if graded is None:
                grade.auto_score, grade.needs_manual_grade = 0.0, False
                continue
            grade.auto_score = graded["auto_score"]
            grade.needs_manual_grade = grade.manual_score is None and graded["needs_manual_grade"]
            comment = comments.get(grade.name)
            if comment is not None and graded.get("comment") is not None:
                comment.auto_comment = graded["comment"]
    gradebook.db.commit()
    return reports.write_report(course, result, source)


def _write_autograded(dest, files):
    """Replace the folder `dest` by one holding `files` ({name: bytes}); the notebooks
    made inert (autograder.grading.inert): formgrader renders them in the instructor's browser."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    new = dest.with_name(f".{dest.name}.new-{os.getpid()}")
    trash = dest.with_name(f".{dest.name}.old-{os.getpid()}")
    shutil.rmtree(new, ignore_errors=True)
    new.mkdir()
    for name, data in files.items():
        if name.endswith(".ipynb"):
            data = inert.inert_notebook_bytes(data)
        write_atomic(new / Path(name).name, data)
    if dest.exists():
        os.rename(dest, trash)
    os.rename(new, dest)
    shutil.rmtree(trash, ignore_errors=True)


def make_inert(course, report):
    """Make inert, in place, the autograded notebooks of the student of `report` (their
    report, which records another inert.VERSION: graded under older rules), as formgrader
    renders them, and record the version. Their grades and all else stay as they are."""
    folder = course.autograded / report["student"] / ASSIGNMENT
    for path in sorted(folder.glob("*.ipynb")) if folder.is_dir() else []:
        data = path.read_bytes()
        made = inert.inert_notebook_bytes(data)
        if made != data:
            write_atomic(path, made)
    report["inert"] = inert.VERSION
    reports.rewrite_report(course, report)


def complete_in_gradebook(gradebook):
    """Students whose submission has a score (automatic or by hand) or a pending manual
    grade for every cell."""
    complete = set()
    for submission in gradebook.assignment_submissions(ASSIGNMENT):
        grades = [g for notebook in submission.notebooks for g in notebook.grades]
        scored = (g.auto_score is not None or g.manual_score is not None for g in grades)
        if grades and all(done or g.needs_manual_grade for done, g in zip(scored, grades)):
            complete.add(submission.student.id)
    return complete


def remove_half_swapped(course):
    """Remove the folders `_write_autograded` leaves beside a student's autograded folder when
    the run is killed while it swaps them (the new one not yet in place, or the old one
    not yet removed)."""
    if not course.autograded.exists():
        return
    for student_dir in course.autograded.iterdir():
        for trash in [
            *student_dir.glob(f".{ASSIGNMENT}.old-*"),
            *student_dir.glob(f".{ASSIGNMENT}.new-*"),
        ]:
            shutil.rmtree(trash, ignore_errors=True)
