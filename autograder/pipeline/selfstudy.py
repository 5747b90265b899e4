"""The self-study release: the class release, plus what helps someone who learns alone.

    python -m autograder.pipeline.selfstudy [FOLDER] [--force]     (default FOLDER: selfstudy/)

Built from the source notebooks with nbformat alone -- no nbgrader -- so that
``make lab`` can run it in an environment that has only the student package
and JupyterLab. Each notebook is what ``nbgrader generate_assignment`` would
hand out, made the same way:

- a ``BEGIN SOLUTION`` / ``END SOLUTION`` region of a solution cell, code or
  markdown, is replaced by nbgrader's stub, indented like the line that opened
  it; a solution cell without a region becomes the stub as a whole;
- the test cells (code grade cells that are not solutions: what the autograder
  runs, hidden tests or a second run of the visible check) are dropped, and a
  hidden region anywhere else is removed;
- outputs and execution counts are cleared, and the markers only nbval reads
  (``# NBVAL_...`` comment lines, ``nbval-...`` tags) are removed
  (strip_test_markers); everything else is kept, the nbgrader metadata included
  (``bnlab.loader`` finds cells by ``grade_id``).

Then it adds, and marks with the cell metadata key MARK:

- after each written answer, its model answer (the solution region of that
  markdown cell), collapsed in ``<details>``;
- after each visible check, a cell ``reveal("<function>")``
  (``bnlab.selfstudy``), which shows the function's reference body once its
  check has run on the learner's own attempt.

The reference bodies (the solution regions of the graded functions' cells)
go into ``bnlab.selfstudy.SOLUTIONS_FILE`` beside the notebooks, and only
there. A notebook that is already in FOLDER is kept (it holds the learner's
work) unless ``--force`` is given.
"""

import argparse
import re
import sys
from pathlib import Path

import nbformat

from autograder import boundary
from bnlab.course import NOTEBOOKS
from bnlab.selfstudy import SOLUTIONS_FILE, encode

# nbgrader's stubs (ClearSolutions.code_stub["python"], .text_stub).
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
TEXT_STUB = "YOUR ANSWER HERE"
SOLUTION, HIDDEN_TESTS = boundary.SOLUTION_DELIMITERS, boundary.HIDDEN_TEST_DELIMITERS
# The metadata key of the cells only the self-study release has: {MARK: "model_answer"}
# or {MARK: "reveal"}.
MARK = "bnlab_selfstudy"
DEFAULT_FOLDER = "selfstudy"

MODEL_ANSWER = "<details><summary>Model answer (open it after writing yours)</summary>\n\n{answer}\n\n</details>"
REVEAL = (
    "# Self-study: the reference solution, once the check above has run on your attempt.\n"
    "from bnlab.selfstudy import reveal\n\n"
    'reveal("{name}")'
)


def strip_regions(source, delimiters, stub=None):
    """(source without its delimited regions, [the text of each region]).

    A line holding the opening delimiter starts a region, a line holding the closing one
    ends it; both lines and everything between go. In their place come the lines of
    `stub`, if any, each indented like the opening line. Nested or unclosed regions are
    errors (ValueError), as in nbgrader.
    """
    begin, end = delimiters
    kept, regions, inside = [], [], None
    for line in source.split("\n"):
        if begin in line:
            if inside is not None:
                raise ValueError(f"nested {begin!r} regions in:\n{source}")
            inside = []
            if stub:
                indent = re.match(r"\s*", line).group(0)
                kept += [indent + stub_line for stub_line in stub.split("\n")]
        elif end in line:
            if inside is None:
                raise ValueError(f"{end!r} without {begin!r} in:\n{source}")
            regions.append("\n".join(inside))
            inside = None
        elif inside is not None:
            inside.append(line)
        else:
            kept.append(line)
    if inside is not None:
        raise ValueError(f"{begin!r} without {end!r} in:\n{source}")
    return "\n".join(kept), regions


# A line that is nothing but one of nbval's comment markers (``# NBVAL_CHECK_OUTPUT``,
# ``# NBVAL_SKIP``, ...), as nbval finds them: a whole-line comment; and nbval's cell tags.
NBVAL_MARKER = re.compile(r"#+\s*NBVAL_\w*\s*", re.IGNORECASE)
NBVAL_TAG = "nbval-"


def strip_test_markers(notebook):
    """Remove, in place, the markers of `notebook` (nbformat v4) that only the test runner
    nbval reads: every code-cell line that is nothing but an ``NBVAL_*`` comment, and every
    ``nbval-*`` cell tag. Returns whether anything was removed."""
    changed = False
    for cell in notebook.cells:
        if cell.cell_type == "code":
            lines = cell.source.split("\n")
            kept = [line for line in lines if not NBVAL_MARKER.fullmatch(line.strip())]
            if kept != lines:
                cell.source, changed = "\n".join(kept), True
        tags = cell.get("metadata", {}).get("tags")
        if isinstance(tags, list) and any(str(t).lower().startswith(NBVAL_TAG) for t in tags):
            kept_tags = [t for t in tags if not str(t).lower().startswith(NBVAL_TAG)]
            if kept_tags:
                cell.metadata["tags"] = kept_tags
            else:
                del cell.metadata["tags"]
            changed = True
    return changed


def _nbgrader(cell):
    return cell.get("metadata", {}).get("nbgrader", {})


def _is_test_cell(cell):
    """A test cell: a code cell that the autograder grades and the student does not write
    (nbgrader's grade cell that is not a solution). Nothing runs it in self-study."""
    meta = _nbgrader(cell)
    return cell.cell_type == "code" and meta.get("grade") and not meta.get("solution")


def _added(cell, kind):
    cell.metadata[MARK] = kind
    return cell


def selfstudy_notebook(notebook):
    """(the self-study notebook, {graded function: its reference body}) of one source
    notebook (nbformat v4); `notebook` itself is not changed."""
    notebook = nbformat.from_dict(notebook)
    cells, solutions, answers = [], {}, {}
    for cell in notebook.cells:
        meta = _nbgrader(cell)
        if _is_test_cell(cell):
            continue
        source, _ = strip_regions(cell.source, HIDDEN_TESTS)
        if meta.get("solution"):
            stub = CODE_STUB if cell.cell_type == "code" else TEXT_STUB
            source, regions = strip_regions(source, SOLUTION, stub)
            if not regions:
                source, regions = stub, [cell.source]
            if cell.cell_type == "code":
                solutions[meta["grade_id"]] = "\n".join(regions)
            else:
                answers[meta["grade_id"]] = "\n\n".join(region.strip() for region in regions)
        elif SOLUTION[0] in source:
            raise ValueError(f"a solution region outside a solution cell:\n{cell.source}")
        cell.source = source
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cells.append(cell)
        grade_id = meta.get("grade_id", "")
        if grade_id in answers:
            text = MODEL_ANSWER.format(answer=answers[grade_id])
            cells.append(_added(nbformat.v4.new_markdown_cell(text), "model_answer"))
        if grade_id.startswith("check_") and grade_id[len("check_") :] in solutions:
            text = REVEAL.format(name=grade_id[len("check_") :])
            cells.append(_added(nbformat.v4.new_code_cell(text), "reveal"))
    notebook.cells = cells
    strip_test_markers(notebook)
    notebook.metadata.pop("celltoolbar", None)
    return notebook, solutions


def build(folder=DEFAULT_FOLDER, notebook_dir=None, force=False, log=print):
    """Write the self-study release into `folder`: the seven notebooks and SOLUTIONS_FILE.

    Arguments:
    folder -- where to write it (made if missing)
    notebook_dir -- the source notebooks (default: the instructor's, autograder.boundary)
    force -- overwrite notebooks already in `folder` (default: keep them, they hold work)

    Returns the folder's path. Every graded function of bnlab.course must have a reference
    body and a check cell, or ValueError names the missing ones.
    """
    folder, notebook_dir = Path(folder), Path(notebook_dir or boundary.source_notebooks())
    folder.mkdir(parents=True, exist_ok=True)
    solutions = {}
    for stem, functions in NOTEBOOKS.items():
        source = nbformat.read(notebook_dir / f"{stem}.ipynb", as_version=4)
        notebook, found = selfstudy_notebook(source)
        ids = [_nbgrader(cell).get("grade_id", "") for cell in notebook.cells]
        checked = {grade_id[len("check_") :] for grade_id in ids if grade_id.startswith("check_")}
        missing = sorted(set(functions) - (set(found) & checked))
        if missing:
            raise ValueError(f"{stem}: no reference body or no check cell for {missing}")
        solutions.update(found)
        path = folder / f"{stem}.ipynb"
        if path.exists() and not force:
            log(f"selfstudy: kept your {path.name} (--force writes a fresh copy)")
            continue
        nbformat.write(notebook, path)
    (folder / SOLUTIONS_FILE).write_text(encode(solutions), encoding="utf-8")
    log(f"selfstudy: the self-study release is in {folder}/ (open it with jupyter lab there)")
    return folder


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m autograder.pipeline.selfstudy",
        description="Build the self-study release: the class release with model answers "
        "and reveal cells, without nbgrader.",
    )
    parser.add_argument("folder", nargs="?", default=DEFAULT_FOLDER)
    parser.add_argument("--force", action="store_true", help="overwrite existing notebooks")
    args = parser.parse_args(argv)
    build(args.folder, force=args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
