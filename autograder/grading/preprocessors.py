"""What the grader does to notebooks besides nbgrader's rules (autograder.grading.nbgrader_steps).

hide_grader_frames -- a failing hidden test shows a traceback, and IPython prints
    the source lines of every frame: frames inside the grader-only modules
    (hidden tests, reference solutions) would show their code in the feedback.
    Those frames are replaced by one line; the student's own frames and the
    assertion's message stay.

experiments -- the notebooks' own experiments (training runs, plots) that no
    graded code depends on are not run while grading (see below).

GradeWithTheGrader -- nbgrader's own ``autograde`` (the formgrader's button, the
    ``nbgrader autograde`` command) cannot grade this course: the hidden tests
    only record what the functions return, and their verdicts are decided by
    ``python -m autograder grade``. So the course's configuration puts this step
    first in nbgrader's autograde, and it stops with that advice instead of
    giving every hidden test full points.
"""

import re
import symtable
from functools import lru_cache

from nbgrader.preprocessors import NbGraderPreprocessor

from autograder import boundary
from bnlab.cells import python_source

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


# ------------------------------------------------------------------ experiments no grade needs


@lru_cache(maxsize=4096)  # the same released cells, student after student
def names_of(source):
    """(names the code reads from the notebook's globals, names it binds there), or None when
    the code cannot be analysed (syntax error, star import): then it must be run."""
    code = python_source(source)
    try:
        table = symtable.symtable(code, "<cell>", "exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # nesting past the parser's
        return None
    if re.search(r"^\s*from\s+\S+\s+import\s+\*", code, re.MULTILINE):
        return None
    loads, binds = set(), set()

    def walk(scope, top):
        for symbol in scope.get_symbols():
            name = symbol.get_name()
            if top:
                if symbol.is_referenced():
                    loads.add(name)
                if symbol.is_assigned() or symbol.is_imported() or symbol.is_namespace():
                    binds.add(name)
            elif symbol.is_global():
                if symbol.is_referenced():
                    loads.add(name)
                if symbol.is_assigned():
                    binds.add(name)
        for child in scope.get_children():
            walk(child, False)

    walk(table, True)
    return frozenset(loads), frozenset(binds)


SKIPPED_NOTE = (
    "(Not run by the autograder: an experiment of the notebook that no graded code "
    "depends on. Run the notebook yourself to see its output.)\n"
)


def experiments(nb, release):
    """Indices of the code cells of `nb` not to run while grading: the notebook's own
    experiments that no graded code depends on.

    The course notebooks train networks and draw plots between the graded
    functions; under autograding they only cost time. A code cell is skipped when
    (1) it is not an nbgrader cell and its source is exactly that of a code cell
    of the `release` notebook (the student did not write or change it), and
    (2) nothing that runs needs it: no name it binds is read by a cell that runs
    -- the student's cells, the graded and check cells, the imports, and every
    experiment kept for that reason (to a fixed point). Names are read with
    Python's symtable, inside functions too; a cell that cannot be analysed runs.
    """
    instructor = {
        cell.source
        for cell in release.cells
        if cell.cell_type == "code" and not cell.metadata.get("nbgrader")
    }
    candidates, needed = {}, set()
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        names = names_of(cell.source)
        if not cell.metadata.get("nbgrader") and cell.source in instructor and names:
            candidates[index] = names
        elif names is None:  # unreadable code that runs: it may read anything
            needed.update(re.findall(r"[A-Za-z_]\w*", cell.source))
        else:
            needed.update(names[0])
    changed = True
    while changed:
        changed = False
        for index, (loads, binds) in list(candidates.items()):
            if binds & needed:
                del candidates[index]
                needed.update(loads)
                changed = True
    return sorted(candidates)


class GradeWithTheGrader(NbGraderPreprocessor):
    """Refuse nbgrader's own autograde of this course (see the module docstring)."""

    def preprocess(self, nb, resources):
        raise RuntimeError(
            "this course is graded with `python -m autograder grade`, not nbgrader's "
            "autograde: its hidden tests only record what the functions return, and the "
            "grader decides their points"
        )
