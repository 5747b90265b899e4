"""Copy the reference solutions into the source notebooks, or check that they match.

Instructor-only. Each graded function's solution cell is generated from
``bnlab/reference.py``: the signature and docstring stay visible to students;
the body goes between nbgrader's solution markers, which ``nbgrader
generate_assignment`` replaces with a stub. So there is one implementation,
and ``nbgrader generate_solution`` shows real code.

    python -m bnlab.sync            # rewrite the solution cells (and check fixtures)
    python -m bnlab.sync --check    # exit 1, naming each cell that differs
"""

import argparse
import ast
import inspect
import sys
from pathlib import Path

import nbformat

from bnlab import reference
from bnlab.course import NOTEBOOKS

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


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
                    problems.append(f"{path.name}: the cell of {name} differs from bnlab.reference")
                else:
                    cells[name].source = wanted
                    changed = True
        if changed:
            nbformat.write(notebook, path)
    return problems


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 on drift")
    parser.add_argument(
        "stems", nargs="*", help="notebooks to sync, e.g. 01_forward_bn (default: all)"
    )
    args = parser.parse_args(argv)
    problems = sync(check=args.check, stems=args.stems)
    for problem in problems:
        print(problem, file=sys.stderr)
    if not args.check:
        from bnlab.fixtures import write_fixtures

        names = [n for stem in (args.stems or NOTEBOOKS) for n in NOTEBOOKS[stem]]
        write_fixtures(names)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
