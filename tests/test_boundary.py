"""The line between what students get and what instructors keep, and what derives from it.

Every instructor-only module is listed here from the checkout's files (the
package autograder/), not from autograder.boundary, and each consumer of the
boundary -- the review rules, the traceback filter, the leak scan -- is shown
to treat every one of them as instructor-only, not just the ones an issue
happened to name.
"""

import ast
from pathlib import Path

import pytest
from autograder_support import ROOT

from autograder import boundary
from autograder.grading import code_review, tracebacks
from autograder.pipeline import leaks

INSTRUCTOR_DIR = ROOT / "autograder"
STUDENT_DIR = ROOT / "bnlab"


def _modules(folder, package):
    names = []
    for path in sorted(folder.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        parts = list(path.relative_to(folder).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names.append(".".join([package, *parts]))
    return names


INSTRUCTOR_MODULES = _modules(INSTRUCTOR_DIR, "autograder")
STUDENT_MODULES = _modules(STUDENT_DIR, "bnlab")


def test_the_checkout_splits_into_the_two_packages():
    assert {
        "autograder.content.reference",
        "autograder.content.hidden_tests",
        "autograder.content.mistakes",
    } <= set(INSTRUCTOR_MODULES)
    assert {
        "autograder.content.fixtures",
        "autograder.content.sync",
        "autograder.content.demo",
    } <= set(INSTRUCTOR_MODULES)
    for name in ("reference", "grading", "hidden_tests", "mistakes", "fixtures", "sync", "demo"):
        assert f"bnlab.{name}" not in STUDENT_MODULES
    assert boundary.instructor_modules() == sorted(INSTRUCTOR_MODULES)


def test_the_student_package_never_imports_the_instructor_package():
    for path in sorted(STUDENT_DIR.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not [n for n in names if n.split(".")[0] == "autograder"], (path, names)


@pytest.mark.parametrize("module", INSTRUCTOR_MODULES)
def test_every_instructor_module_import_is_flagged(module):
    parent, _, leaf = module.rpartition(".")
    for source in (
        f"import {module}",
        f"import {module} as m",
        f"from {module} import *",
        f'import importlib\nm = importlib.import_module("{module}")',
        f'm = __import__("{module}")',
    ):
        assert code_review.scan_source(source), source
    if parent:
        assert code_review.scan_source(f"from {parent} import {leaf}")


@pytest.mark.parametrize("module", STUDENT_MODULES)
def test_student_module_imports_are_not_flagged(module):
    assert code_review.scan_source(f"import {module}") == []


@pytest.mark.parametrize("module", INSTRUCTOR_MODULES)
def test_frames_of_every_instructor_module_are_hidden(module):
    path = Path("/srv/env/lib/python3.11/site-packages", *module.split(".")).with_suffix(".py")
    frame = f"File \x1b[0;32m{path}:12\x1b[0m, in check\n    secret = compute()"
    student = "Cell \x1b[0;32mIn[3], line 2\x1b[0m\n----> 2 check(f)"
    assert tracebacks.hide_grader_frames([student, frame]) == [
        student,
        tracebacks.HIDDEN_FRAME,
    ]


@pytest.mark.parametrize("module", STUDENT_MODULES)
def test_frames_of_student_modules_are_kept(module):
    path = Path("/srv/env/lib/python3.11/site-packages", *module.split(".")).with_suffix(".py")
    frame = f"File \x1b[0;32m{path}:12\x1b[0m, in helper\n    x = 1"
    assert tracebacks.hide_grader_frames([frame]) == [frame]


def test_no_student_file_is_taken_for_an_instructor_file():
    # The reverse of the leak scan's copy check: the student's own files pass.
    lines = leaks.solution_lines()
    for path in sorted(STUDENT_DIR.rglob("*.py")):
        relative = f"bnlab/{path.relative_to(STUDENT_DIR).as_posix()}"
        assert leaks.scan_file(relative, path.read_bytes(), lines) == [], relative
