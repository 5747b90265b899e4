"""Tracebacks without the grader's frames.

A failing cell shows a traceback, and IPython prints the source lines of every
frame: frames inside the grader-only modules (hidden tests, reference solutions)
would show their code in the feedback. `hide_grader_frames` replaces those
frames by one line; the student's own frames and the exception's message stay.
"""

import re

from autograder import boundary

# A frame in the instructor-only package: its file lies there, or its name is dotted there.
GRADER_ONLY_RE = re.compile(
    rf"{boundary.INSTRUCTOR_PATH_RE.pattern}|\b{boundary.INSTRUCTOR_PACKAGE}\."
)
HIDDEN_FRAME = "(code of the hidden test: not shown)"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def hide_grader_frames(traceback):
    """A traceback (list of IPython's formatted frames) without the grader-only frames."""
    kept, hidden = [], False
    for frame in traceback:
        plain = ANSI.sub("", frame)
        if GRADER_ONLY_RE.search(plain.split("\n", 1)[0]) or _frame_file_is_grader(plain):
            if not hidden:
                kept.append(HIDDEN_FRAME)
            hidden = True
            continue
        hidden = False
        kept.append(frame)
    return kept


def _frame_file_is_grader(plain):
    # IPython frames start with "File <path>:<line>, in <function>" (older: "<path> in <function>")
    first = plain.lstrip().split("\n", 1)[0]
    return first.startswith("File ") and GRADER_ONLY_RE.search(first) is not None
