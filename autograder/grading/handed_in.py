"""A student's notebook as handed in: read from its bytes, and held against its release.

What a student hands in is read by rules that bound it: a notebook too large or with
too many cells is not parsed (MAX_NOTEBOOK_BYTES, MAX_CELLS: the limits collect
applies, autograder.archive, again here for what reached submitted/ otherwise), and
what cannot be read is said in one line (`inspect_notebook`). Its graded test cells
are compared with the release's (`changed_test_cells`) and put back where deleted
(`restore_test_cells`); its code is scanned for what an instructor should look at
(`review_flags`, autograder.grading.code_review), and its written answers for text
typed outside their answer cells (autograder.grading.nbgrader_steps.answers_outside,
which sanitizing copies into the answer cell, graded by hand).
"""

import json
import re

import nbformat

from autograder import archive
from autograder.grading import code_review, nbgrader_steps
from bnlab._grading import valuefile

MAX_NOTEBOOK_BYTES = archive.NOTEBOOK_BYTES
MAX_CELLS = archive.NOTEBOOK_CELLS
GRADE_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")  # nbgrader's rule, and a length
CELL = re.compile(r"cell [0-9]{1,5}")  # how review names a cell without a grade_id


def _grade_id(cell):
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def first_line(error):
    """The first line of an exception's message (at most 200 characters), or its kind."""
    text = str(error).strip()
    kind = valuefile.plain_name(type(error).__name__)
    return text.splitlines()[0][:200] if text else kind


def inspect_notebook(name, data):
    """(status, message, notebook or None) for one submitted notebook's bytes (None: missing)."""
    if data is None:
        return "missing", f"{name} was not submitted", None
    if len(data) > MAX_NOTEBOOK_BYTES:
        size, limit = f"{len(data) / 1024**2:.0f} MiB", f"{MAX_NOTEBOOK_BYTES >> 20} MiB"
        return "invalid", f"{name} is too large to grade ({size}; the limit is {limit})", None
    try:
        parsed = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        why = first_line(error)
        return "invalid", f"{name} is not a valid notebook (invalid JSON: {why})", None
    try:
        if not isinstance(parsed, dict) or not isinstance(parsed.get("cells"), list):
            raise ValueError("it has no list of cells")
        if len(parsed["cells"]) > MAX_CELLS:
            raise ValueError(f"{len(parsed['cells'])} cells, more than {MAX_CELLS}")
        notebook = nbformat.reads(data.decode("utf-8"), as_version=4)
        nbformat.validate(notebook)
    except Exception as error:  # nbformat raises several kinds
        return "invalid", f"{name} is not a valid notebook ({first_line(error)})", None
    return "ok", "", notebook


def restore_test_cells(notebook, release):
    """Put back the graded test cells a student deleted, where the release has them.

    (nbgrader's own add_missing_cells fails when the cell before a deleted test
    is a locked cell that is not graded, such as a visible check.) Sanitizing then
    overwrites every locked cell with the source version, as for any test cell.
    Returns the grade_ids restored.
    """
    if release is None:
        return []
    present = {_grade_id(cell) for cell in notebook.cells}
    restored = []
    for index, cell in enumerate(release.cells):
        meta = cell.metadata.get("nbgrader", {})
        grade_id = meta.get("grade_id")
        if not (meta.get("grade") and cell.cell_type == "code") or grade_id in present:
            continue
        position = len(notebook.cells)
        for earlier in reversed(release.cells[:index]):
            anchor = _grade_id(earlier)
            if anchor in present:
                position = 1 + max(
                    i for i, c in enumerate(notebook.cells) if _grade_id(c) == anchor
                )
                break
        notebook.cells.insert(position, nbformat.from_dict(json.loads(json.dumps(cell))))
        present.add(grade_id)
        restored.append(grade_id)
    return restored


def changed_test_cells(notebook, release):
    """grade_ids of graded test cells whose source differs from the release (restored)."""
    if release is None:
        return []
    released = {
        _grade_id(c): c.source for c in release.cells if c.metadata.get("nbgrader", {}).get("grade")
    }
    return [
        _grade_id(cell)
        for cell in notebook.cells
        if cell.get("cell_type") == "code"
        and _grade_id(cell) in released
        and cell.get("source") != released[_grade_id(cell)]
    ]


def review_flags(notebook, stem, release):
    """autograder.grading.code_review's flags of one notebook, as dicts; a flag names its
    cell by the grade_id in the student's metadata, kept only if it is a plain one."""
    sources = {_grade_id(c): c.source for c in release.cells} if release else {}
    found = [f.as_dict() for f in code_review.scan_notebook(notebook, stem, sources)]
    found += answer_flags(notebook, stem, release)
    for flag in found:
        cell = flag["cell"]
        if not (isinstance(cell, str) and (GRADE_ID.fullmatch(cell) or CELL.fullmatch(cell))):
            flag["cell"] = "a cell with an invalid grade_id"
    return found


def answer_flags(notebook, stem, release):
    """Review flags (as dicts) of the text written outside a written answer's cell: which
    answer, where the text was, and its first line."""
    if release is None:
        return []
    found = nbgrader_steps.answers_outside(notebook, nbgrader_steps.release_questions(release))
    return [
        code_review.Flag(
            stem,
            answer,
            1,
            f"answer written in {where}, outside its answer cell: copied into the answer "
            "cell, to grade by hand",
            text.strip().splitlines()[0][:120],
        ).as_dict()
        for answer, where, text in found
    ]
