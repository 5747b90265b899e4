"""Step 4, feedback: nbgrader's HTML feedback per student, checked for grader-only code.

The hidden test cells hold only a call (``harness.run("x", x)``), and their outputs
in the graded notebooks are the verdicts the grader decided (grade.py): what failed
and the hidden test's message, never the hidden test's code. This step checks that on every page: a page that shows a line of
the grader-only modules fails the step and is deleted.
"""

import html
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

from autograder import leaks
from bnlab.course import ASSIGNMENT


class FeedbackError(RuntimeError):
    """Feedback could not be generated, or showed grader-only code."""


def _feedback_one(course, student):
    course.apply_environ()
    result = course.api().generate_feedback(ASSIGNMENT, student, force=True)
    return (
        student,
        bool(result.get("success")),
        (result.get("log") or "") + (result.get("error") or ""),
    )


def check_pages(course, students):
    """[(page, leaked lines)] of feedback pages that show hidden-test code."""
    secret = [line for _, line in leaks.hidden_test_lines().values()]
    found = []
    for student in students:
        for page in sorted((course.feedback / student / ASSIGNMENT).glob("*.html")):
            text = html.unescape(page.read_text(encoding="utf-8"))
            leaked = [line for line in secret if line in text]
            if leaked:
                found.append((page, leaked))
    return found


def feedback(course, students=None, workers=1, log=print):
    """Run step 4 for `students` (default: every graded student). Returns the pages written."""
    course.prepare()
    course.apply_environ()
    graded = (
        sorted(path.name for path in course.autograded.iterdir() if (path / ASSIGNMENT).is_dir())
        if course.autograded.is_dir()
        else []
    )
    chosen = [s for s in (students or graded) if s in graded]
    if students:
        missing = sorted(set(students) - set(graded))
        if missing:
            raise FeedbackError(f"not graded yet: {', '.join(missing)} (run grade first)")
    failures = []
    with ProcessPoolExecutor(max(1, workers), mp_context=get_context("spawn")) as pool:
        for student, success, text in pool.map(_feedback_one, [course] * len(chosen), chosen):
            if not success:
                failures.append(
                    f"{student}: {text.strip().splitlines()[-1] if text.strip() else 'failed'}"
                )
    leaked = check_pages(course, chosen)
    for page, _ in leaked:
        page.unlink()
    pages = (
        sorted(course.feedback.glob(f"*/{ASSIGNMENT}/*.html")) if course.feedback.is_dir() else []
    )
    log(f"feedback: {len(pages)} page(s) for {len(chosen)} student(s) in {course.feedback}")
    problems = failures + [
        f"{page.relative_to(course.root)} showed grader-only code ({lines[0]!r}); deleted"
        for page, lines in leaked
    ]
    if problems:
        raise FeedbackError("feedback problems:\n  " + "\n  ".join(problems))
    return pages
