"""What students get and what instructors keep: the boundary, defined once.

Students get one distribution, ``bnlab``: the import package ``bnlab``, built
from its own project folder (``bnlab/pyproject.toml``) by the standard tools.
Nothing in that folder is instructor-only, so no build of it can hold a
solution, whoever makes it.

Instructors keep everything else, in the distribution ``bnlab-instructor``:
the import package ``autograder`` -- reference solutions, hidden tests, classic
mistakes, fixtures, sync, demo and the release / collect / grade / feedback /
export pipeline -- and the source notebooks, whose solution cells hold the
reference code (shipped as ``autograder/notebooks``).

Everything that must know on which side code lies asks this module instead of
keeping a list:

- the release builds the student wheel from :func:`student_project`;
- the leak scans (``pipeline/leaks.py``) reject any file of :func:`instructor_files`, by
  path or by content, and any import of :data:`INSTRUCTOR_PACKAGE`;
- the review rules (``grading/code_review.py``) flag any import of an instructor module;
- the traceback filter (``grading/tracebacks.hide_grader_frames``) hides every frame
  whose file is in :func:`instructor_root`.
"""

import re
from functools import cache
from pathlib import Path

import autograder
import bnlab

STUDENT_PACKAGE = "bnlab"
STUDENT_DISTRIBUTION = "bnlab"
INSTRUCTOR_PACKAGE = "autograder"
INSTRUCTOR_DISTRIBUTION = "bnlab-instructor"
# nbgrader's delimiters, as the source notebooks write them: what lies between a pair
# is kept from students (the solution region of a graded cell, the hidden tests).
SOLUTION_DELIMITERS = ("### BEGIN SOLUTION", "### END SOLUTION")
HIDDEN_TEST_DELIMITERS = ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")


def student_project():
    """The folder of the student distribution: the package bnlab with its pyproject.toml."""
    return Path(bnlab.__file__).resolve().parent


def instructor_root():
    """The folder of the instructor-only package (autograder)."""
    return Path(autograder.__file__).resolve().parent


def source_notebooks():
    """The instructor's notebooks, with their solutions: package data of an installation,
    or notebooks/ beside the packages in a checkout."""
    packaged = instructor_root() / "notebooks"
    return packaged if packaged.is_dir() else instructor_root().parent / "notebooks"


@cache
def student_files():
    """Paths, relative to the package folder, of the student package's modules."""
    root = student_project()
    return {
        path.relative_to(root).as_posix()
        for path in root.rglob("*.py")
        if "__pycache__" not in path.parts
    }


@cache
def instructor_files():
    """{path relative to the package folder: bytes} of every instructor-only source file
    (the package's modules; the notebooks are scanned for their solution lines instead)."""
    root = instructor_root()
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*.py"))
        if "__pycache__" not in path.parts
    }


@cache
def instructor_modules():
    """Dotted names of every instructor-only module: autograder, autograder.content.reference, ..."""
    names = set()
    for relative in instructor_files():
        parts = relative[: -len(".py")].split("/")
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.add(".".join([INSTRUCTOR_PACKAGE, *parts]))
    return sorted(names)


def is_instructor_module(name):
    """Whether a dotted module name is instructor-only (autograder or one of its modules)."""
    return name == INSTRUCTOR_PACKAGE or name.startswith(INSTRUCTOR_PACKAGE + ".")


# A file path that lies inside the instructor package: ".../autograder/x.py" (any separator).
INSTRUCTOR_PATH_RE = re.compile(rf"(^|[/\\]){INSTRUCTOR_PACKAGE}[/\\]")
# Code that imports from the instructor package, or reaches it as an attribute chain.
INSTRUCTOR_IMPORT_RE = re.compile(
    rf"^\s*(from|import)\s+{INSTRUCTOR_PACKAGE}\b|\b{INSTRUCTOR_PACKAGE}\.[A-Za-z_]",
    re.MULTILINE,
)
