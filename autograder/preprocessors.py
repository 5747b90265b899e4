"""Two autograding steps of ours, run by nbgrader right after it executes a notebook.

StderrIsNotFailure -- nbgrader scores a test cell 0 as soon as anything reaches
    stderr, even when the test passed (a student's debugging print to
    sys.stderr, a library's warning). A test fails when it raises; so stderr
    output of a graded cell is kept, shown as ordinary output, and no longer
    decides the score.

HideGraderFrames -- a failing hidden test shows a traceback, and IPython prints
    the source lines of every frame: frames inside the grader-only modules
    (hidden tests, reference solutions) would show their code in the feedback.
    Those frames are replaced by one line; the student's own frames and the
    assertion's message stay.
"""

import re

from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor

GRADER_ONLY = (
    "bnlab/grading",
    "bnlab/reference",
    "bnlab/mistakes",
    "bnlab/fixtures",
    "autograder/",
)
GRADER_ONLY_RE = re.compile(
    r"(bnlab[/\\.](grading|reference|mistakes|fixtures|sync)|autograder[/\\.])"
)
HIDDEN_FRAME = "(code of the hidden test: not shown)"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


class StderrIsNotFailure(NbGraderPreprocessor):
    """Turn stderr streams of grade cells into stdout streams, so they don't score 0."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and utils.is_grade(cell):
            for output in cell.get("outputs", []):
                if output.get("output_type") == "stream" and output.get("name") == "stderr":
                    output["name"] = "stdout"
        return cell, resources


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


class HideGraderFrames(NbGraderPreprocessor):
    """Cut traceback frames that belong to grader-only modules out of error outputs."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code":
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = hide_grader_frames(output.get("traceback", []))
        return cell, resources
