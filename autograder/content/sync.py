"""Copy the reference solutions into the source notebooks, or check that they match.

Instructor-only. Each graded function's solution cell is generated from
``autograder/content/reference.py``: the signature and docstring stay visible to students;
the body goes between nbgrader's solution markers, which ``nbgrader
generate_assignment`` replaces with a stub. So there is one implementation,
and ``nbgrader generate_solution`` shows real code.

    python -m autograder.content.sync            # rewrite the solution cells (and check fixtures)
    python -m autograder.content.sync --check    # exit 1, naming each cell that differs
    python -m autograder.content.sync --outputs  # also run the notebooks and store the expected
                                    # output of the cells nbval compares

Notebooks are stored without outputs and execution counts, except the cells
tagged ``nbval-check-output``: they keep their text output (and the execution
count nbval needs to compare a cell), which nbval compares on every run; an
empty stored output would compare nothing.
"""

import argparse
import ast
import inspect
import os
import sys
from pathlib import Path

import nbformat

from autograder import boundary
from autograder.content import reference
from bnlab.course import NOTEBOOKS

NOTEBOOK_DIR = boundary.source_notebooks()
BEGIN, END = boundary.SOLUTION_DELIMITERS


def solution_cell_source(name):
    """The source of the solution cell of graded function `name`."""
    source = inspect.getsource(getattr(reference, name))
    function = ast.parse(source).body[0]
    lines = source.splitlines()
    docstring = function.body[0]
    split = docstring.end_lineno  # header: from "def" to the end of the docstring
    body = lines[split:]
    indent = " " * function.body[0].col_offset
    return "\n".join(
        [f"# GRADED FUNCTION: {name}", *lines[:split], indent + BEGIN, *body, indent + END]
    )


def solution_cells(notebook):
    """{grade_id: cell} of the graded-function solution cells of a notebook node."""
    cells = {}
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and meta.get("grade_id") in reference.__dict__:
            cells[meta["grade_id"]] = cell
    return cells


def sync(check=False, notebook_dir=NOTEBOOK_DIR, stems=None):
    """Rewrite (or, with check=True, compare) the solution cells of the notebooks `stems`
    (default: all). Returns a list of problems."""
    problems = []
    for stem, names in NOTEBOOKS.items():
        if stems and stem not in stems:
            continue
        path = Path(notebook_dir) / f"{stem}.ipynb"
        if not path.exists():
            problems.append(f"{path.name}: missing")
            continue
        notebook = nbformat.read(path, as_version=4)
        cells = solution_cells(notebook)
        changed = False
        for name in names:
            if name not in cells:
                problems.append(f"{path.name}: no solution cell with grade_id {name!r}")
                continue
            wanted = solution_cell_source(name)
            if cells[name].source != wanted:
                if check:
                    problems.append(
                        f"{path.name}: the cell of {name} differs from autograder.content.reference"
                    )
                else:
                    cells[name].source = wanted
                    changed = True
        if changed:
            nbformat.write(notebook, path)
    return problems


CHECK_OUTPUT_TAG = "nbval-check-output"


def is_checked(cell):
    """True for a code cell whose output nbval compares."""
    return cell.cell_type == "code" and (
        CHECK_OUTPUT_TAG in cell.metadata.get("tags", []) or "# NBVAL_CHECK_OUTPUT" in cell.source
    )


def _text_only(output):
    if output.output_type == "stream":
        return output
    if output.output_type in ("execute_result", "display_data") and "text/plain" in output.data:
        output.data = {"text/plain": output.data["text/plain"]}
        output.metadata = {}
        return output
    return None


def store_checked_outputs(notebook_dir=NOTEBOOK_DIR, stems=None, timeout=600):
    """Execute each notebook; keep the text outputs of its checked cells, clear all others."""
    from nbclient import NotebookClient

    from autograder.workspace import headless_environ

    env = headless_environ(PYTHONWARNINGS="ignore::DeprecationWarning")  # as nbval runs them
    for stem in stems or NOTEBOOKS:
        path = Path(notebook_dir) / f"{stem}.ipynb"
        notebook = nbformat.read(path, as_version=4)
        executed = nbformat.read(path, as_version=4)
        client = NotebookClient(
            executed,
            timeout=timeout,
            kernel_name="python3",
            resources={"metadata": {"path": str(path.parent)}},
        )
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(env)
        try:
            client.execute()
        finally:
            os.environ.clear()
            os.environ.update(saved)
        for cell, ran in zip(notebook.cells, executed.cells, strict=True):
            if cell.cell_type != "code":
                continue
            # nbval only compares a cell that has an execution count.
            checked = is_checked(cell)
            cell.execution_count = ran.execution_count if checked else None
            kept = [_text_only(o) for o in ran.outputs] if checked else []
            cell.outputs = [o for o in kept if o is not None]
        nbformat.write(notebook, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 on drift")
    parser.add_argument(
        "--outputs", action="store_true", help="run the notebooks and store the checked outputs"
    )
    parser.add_argument(
        "stems", nargs="*", help="notebooks to sync, e.g. 01_forward_bn (default: all)"
    )
    args = parser.parse_args(argv)
    problems = sync(check=args.check, stems=args.stems)
    for problem in problems:
        print(problem, file=sys.stderr)
    if not args.check:
        from autograder.content.fixtures import write_fixtures

        names = [n for stem in (args.stems or NOTEBOOKS) for n in NOTEBOOKS[stem]]
        write_fixtures(names)
        if args.outputs and not problems:
            store_checked_outputs(stems=args.stems)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
