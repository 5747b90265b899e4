"""Step 4, feedback: nbgrader's HTML feedback per student, checked for grader-only code.

The hidden test cells hold only a call (``grading.test_x(x)``), and the graded
notebooks' tracebacks have their grader-only frames cut (preprocessors.py), so
the feedback shows what failed and the assertion's message, never the hidden
test's code. This step checks that on every page: a page that shows a line of
the grader-only modules fails the step and is deleted.
"""

import ast
import html
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from bnlab.course import ASSIGNMENT

ROOT = Path(__file__).resolve().parent.parent


class FeedbackError(RuntimeError):
    """Feedback could not be generated, or showed grader-only code."""


def _shared_text():
    """Text students may legitimately show: the source notebooks and the reference solutions
    (a student's own solution can read like the reference)."""
    parts = [(ROOT / "bnlab" / "reference.py").read_text(encoding="utf-8")]
    parts += [
        path.read_text(encoding="utf-8") for path in sorted((ROOT / "notebooks").glob("*.ipynb"))
    ]
    return "\n".join(parts)


def grader_only_lines():
    """Distinctive code lines of the hidden tests (bnlab/grading) that no student writes or
    sees in a notebook: none may reach a student."""
    shared = _shared_text()
    lines = set()
    for path in sorted((ROOT / "bnlab" / "grading").glob("*.py")):
        source = path.read_text(encoding="utf-8")
        docstrings = set()
        for node in ast.walk(ast.parse(source)):
            body = getattr(node, "body", None)
            if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
                value = body[0].value
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    docstrings.update(range(body[0].lineno, body[0].end_lineno + 1))
        for number, line in enumerate(source.splitlines(), 1):
            text = line.strip()
            if (
                number not in docstrings
                and len(text) >= 30
                and not text.startswith(("#", "import ", "from ", "def ", "__all__", '"', "'"))
                and text not in shared
            ):
                lines.add(text)
    return sorted(lines)


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
    secret = grader_only_lines()
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
