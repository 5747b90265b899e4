"""Autograding steps of ours, run by nbgrader around the execution of a notebook.

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

SkipExperiments / RestoreSkipped -- the notebooks' own experiments (training
    runs, plots) that no graded code depends on are not run (see below).

Execute -- nbgrader's execution, except that a kernel that no longer answers
    once a cell was stopped at its time limit ends the notebook at once, instead
    of costing the time limit once more for each remaining cell.
"""

import os
import re
import symtable
from functools import lru_cache
from queue import Empty
from time import monotonic

import nbformat
from nbgrader import utils
from nbgrader.preprocessors import Execute as NbgraderExecute
from nbgrader.preprocessors import NbGraderPreprocessor
from nbgrader.preprocessors.execute import UnresponsiveKernelError
from traitlets import Bool, Float, Unicode

from autograder import boundary
from bnlab.cells import python_source

# A frame in the instructor-only package: its file lies there, or its name is dotted there.
GRADER_ONLY_RE = re.compile(
    rf"{boundary.INSTRUCTOR_PATH_RE.pattern}|\b{boundary.INSTRUCTOR_PACKAGE}\."
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


# ------------------------------------------------------------------ experiments no grade needs


@lru_cache(maxsize=4096)  # the same released cells, student after student
def names_of(source):
    """(names the code reads from the notebook's globals, names it binds there), or None when
    the code cannot be analysed (syntax error, star import): then it must be run."""
    code = python_source(source)
    try:
        table = symtable.symtable(code, "<cell>", "exec")
    except (SyntaxError, ValueError):
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


class SkipExperiments(NbGraderPreprocessor):
    """Don't run the notebook's own experiment cells that no graded code depends on.

    The course notebooks train networks and draw plots between the graded
    functions; under autograding they only cost time. A code cell is skipped when
    (1) it is not an nbgrader cell and its source is exactly that of a code cell
    of the release notebook (the student did not write or change it), and
    (2) nothing that runs needs it: no name it binds is read by a cell that runs
    -- the student's cells, the graded and check cells, the imports, and every
    experiment kept for that reason (to a fixed point). Names are read with
    Python's symtable, inside functions too; a cell that cannot be analysed runs.
    Skipped cells are turned into raw cells for execution and back afterwards
    (RestoreSkipped), with a note in place of their output.
    """

    enabled = Bool(True, help="Skip experiments no graded code needs").tag(config=True)
    release_dir = Unicode("", help="Folder of the release notebooks").tag(config=True)

    def preprocess(self, nb, resources):
        if not self.enabled or not self.release_dir:
            return nb, resources
        notebook_id = resources.get("nbgrader", {}).get("notebook", "")
        path = os.path.join(self.release_dir, f"{notebook_id}.ipynb")
        if not os.path.exists(path):
            return nb, resources
        for index in experiments(nb, nbformat.read(path, as_version=4)):
            cell = nb.cells[index]
            cell.metadata["bnlab_skipped"] = True
            cell.cell_type = "raw"
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
        return nb, resources


def experiments(nb, release):
    """Indices of the code cells of `nb` that SkipExperiments skips: unchanged code cells
    of the `release` notebook that nothing that runs needs (see SkipExperiments)."""
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


class RestoreSkipped(NbGraderPreprocessor):
    """Turn the cells SkipExperiments set aside back into code cells, with a note as output."""

    def preprocess_cell(self, cell, resources, index):
        if cell.metadata.get("bnlab_skipped"):
            cell.cell_type = "code"
            cell.execution_count = None
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=SKIPPED_NOTE)]
        return cell, resources


class Execute(NbgraderExecute):
    """nbgrader's Execute; after a cell is interrupted at its time limit, the kernel must
    answer a kernel_info request within `answer_within` seconds, or the notebook ends
    with UnresponsiveKernelError (a kernel stuck in code that ignores the interrupt, or
    one whose student code broke its message loop, would time out at every cell)."""

    answer_within = Float(10.0, help="seconds an interrupted kernel has to answer").tag(config=True)

    async def _async_handle_timeout(self, timeout, cell=None):
        reply = await super()._async_handle_timeout(timeout, cell)
        if not await self._answers(self.answer_within):
            raise UnresponsiveKernelError(
                "the kernel stopped responding: a cell ran past its time limit and the "
                "kernel did not answer after it was interrupted"
            )
        return reply

    async def _answers(self, seconds):
        """Whether the kernel answers a kernel_info request within `seconds`."""
        msg_id = self.kc.kernel_info()
        deadline = monotonic() + seconds
        while (left := deadline - monotonic()) > 0:
            try:
                message = await self.kc.shell_channel.get_msg(timeout=left)
            except Empty:
                return False
            if message.get("parent_header", {}).get("msg_id") == msg_id:
                return True
        return False
