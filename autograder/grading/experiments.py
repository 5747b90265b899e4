"""Which code cells grading need not run: the notebook's own experiments.

The course notebooks train networks and draw plots between the graded
functions; while grading they only cost time. `experiments` names the code
cells left as released that no code which runs depends on (read with Python's
symtable, `names_of`); autograder.grading.nbgrader_steps runs the others and
gives each skipped cell SKIPPED_NOTE as its output.
"""

import re
import symtable
from functools import lru_cache

from bnlab.cells import python_source


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
