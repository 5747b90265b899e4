"""Your saved notebooks, read as ``python -m bnlab check`` reads them: whether a file is
a notebook Jupyter can read, the written answers still to write, and the graded cells
whose code is not Python at all. bnlab.student builds its table and its reminders on
these."""

import json
import warnings
from dataclasses import dataclass

from bnlab.cells import python_source, text_field
from bnlab.course import NOTEBOOKS, WRITTEN_ANSWERS

WIDTH = 100  # characters of a message shown in check's table

# The written answers, graded by hand (bnlab.course.WRITTEN_ANSWERS), by notebook:
# {notebook: [grade_id of its answer cell]}. An answer cell that a notebook holds beyond
# these is reminded of too.
ANSWERS_OF = {
    stem: [answer for answer, where in WRITTEN_ANSWERS.items() if where == stem]
    for stem in dict.fromkeys(WRITTEN_ANSWERS.values())
}
PLACEHOLDER = "YOUR ANSWER HERE"  # what the release leaves in an answer cell


@dataclass
class Answer:
    """A written answer (graded by hand) that is not written yet."""

    notebook: str
    grade_id: str
    section: str = ""  # the heading above it, e.g. "7. In your own words"
    cell_missing: bool = False  # its answer cell is not in the notebook at all

    def describe(self):
        where = f"{self.notebook}.ipynb, answer {self.grade_id}"
        if self.section:
            where += f' (section "{self.section}")'
        if self.cell_missing:
            return (
                f"{where}: its answer cell is gone from the notebook -- get it back "
                "(Edit > Undo Delete Cells, or copy it from a fresh copy of the notebook)"
            )
        return where


def one_line(text, width=WIDTH):
    """`text` on one line (its spacing collapsed), cut to `width` characters with "..."."""
    line = " ".join(str(text).split())
    return line if len(line) <= width else line[: width - 3].rstrip() + "..."


def read_notebook(path):
    """(notebook dict, None) if `path` is a readable notebook, else (None, what is wrong
    with it, in words)."""
    if not path.exists():
        return None, "missing"
    if not path.is_file():
        return None, "not a file (a folder, or a link to something else)"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        return None, f"a file that cannot be opened ({error.strerror or type(error).__name__})"
    except UnicodeDecodeError:
        return None, "not valid JSON (damaged, or not saved by Jupyter)"
    try:
        notebook = json.loads(text)
    except (ValueError, RecursionError):
        return None, "not valid JSON (damaged, or not saved by Jupyter)"
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        return None, "not a notebook (valid JSON, but no notebook cells)"
    cells_ok = all(
        isinstance(cell, dict)
        and cell.get("cell_type") in ("code", "markdown", "raw")
        and text_field(cell.get("source")) is not None
        for cell in notebook["cells"]
    )
    if notebook.get("nbformat") != 4 or not cells_ok:
        return None, "not a notebook Jupyter can read (its cells are not in the notebook format)"
    import nbformat

    try:
        with warnings.catch_warnings():  # nbformat's notes on what it repairs itself
            warnings.simplefilter("ignore")
            nbformat.validate(nbformat.from_dict(notebook))
    except Exception as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        return None, f"not a notebook Jupyter can read ({one_line(first, 60)})"
    return notebook, None


def notebook_problem(path):
    """None if `path` is a readable notebook, else what is wrong with it, in words."""
    return read_notebook(path)[1]


def nbgrader_metadata(cell):
    """nbgrader's metadata of `cell` (a dict of a saved notebook), {} when it has none."""
    metadata = cell.get("metadata")
    found = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    return found if isinstance(found, dict) else {}


def _heading(cells, index):
    """The last Markdown heading above cell `index` (its text, without the #), or ""."""
    for cell in reversed(cells[:index]):
        if cell.get("cell_type") != "markdown":
            continue
        lines = (text_field(cell.get("source")) or "").splitlines()
        headings = [line.lstrip("#").strip() for line in lines if line.startswith("#")]
        if headings:
            return one_line(headings[-1], 60)
    return ""


def unanswered(stem, notebook):
    """[Answer] of the written answers of notebook `stem` (a notebook dict) that are not
    written: an answer cell (nbgrader solution, Markdown) holding nothing but "YOUR
    ANSWER HERE", or one of ANSWERS_OF[stem] that is not in the notebook at all."""
    cells = notebook["cells"]
    found, seen = [], set()
    for index, cell in enumerate(cells):
        nbgrader = nbgrader_metadata(cell)
        grade_id = nbgrader.get("grade_id")
        expected = grade_id in ANSWERS_OF.get(stem, [])
        is_answer = cell.get("cell_type") == "markdown" and nbgrader.get("solution") is True
        if not isinstance(grade_id, str) or not (expected or is_answer) or grade_id in seen:
            continue
        seen.add(grade_id)
        if not (text_field(cell.get("source")) or "").replace(PLACEHOLDER, "").strip():
            found.append(Answer(stem, grade_id, _heading(cells, index)))
    for grade_id in ANSWERS_OF.get(stem, []):
        if grade_id not in seen:
            found.append(Answer(stem, grade_id, cell_missing=True))
    return found


def cells_that_do_not_compile(stem, notebook):
    """{grade_id: what is wrong} of the graded cells of notebook `stem` (a notebook dict)
    whose code is not Python at all (a SyntaxError, an IndentationError); their sources
    are emptied in `notebook`, so that the other functions still load."""
    found = {}
    for cell in notebook["cells"]:
        grade_id = nbgrader_metadata(cell).get("grade_id")
        if cell.get("cell_type") != "code" or grade_id not in NOTEBOOKS[stem]:
            continue
        try:
            compile(python_source(text_field(cell.get("source")) or ""), "<cell>", "exec")
        except Exception as error:  # SyntaxError, or code the IPython reader rejects
            where = f" (line {error.lineno} of the cell)" if getattr(error, "lineno", None) else ""
            message = getattr(error, "msg", None) or str(error)
            found[grade_id] = one_line(f"{type(error).__name__}: {message}{where}", 70)
            cell["source"] = ""
    return found
