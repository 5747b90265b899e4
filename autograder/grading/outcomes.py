"""Each hidden test's pass or fail in a graded notebook, decided once.

Every graded code cell of the course is a hidden test cell (it calls bnlab.harness).
Its outcome is (status, detail): status "passed", "failed", "timeout" or "memory",
detail what failed, in plain words or as "ExceptionName: message"; a test failed on
the values the function returned carries a third item, the classic mistake those
values match (see `mistake`). It is the verdict
autograder.grading.verdicts decided from what the student's function returned;
only where the notebook's process left no results for the test does the cell's own
error say why (a cell stopped at its time limit, out of memory, or one that did
not finish).

`decide` makes that decision, and everything that shows a test's pass or fail
reads it: the report's outcomes per cell, the test cell's outputs in the
autograded notebook -- what the feedback page shows (`show`) -- and the cell's
score (autograder.grading.nbgrader_steps.scores).
"""

import nbformat

from autograder.grading import diagnosis
from autograder.grading.verdicts import MEMORY, graded_function
from bnlab._grading import valuefile

TIMEOUT = "stopped: the cell ran longer than the time limit"
NOT_RUN = "not run: the notebook used up its time budget"
UNFINISHED = "the test did not run to the end"
MAX_DETAIL = 300  # characters of a detail taken from a cell's error


def decide(notebook, decided, stopped=False):
    """{grade_id: (status, detail)} of the hidden test cells of a run notebook.

    decided -- {grade_id: verdict or None} (verdicts.decide_notebook; None: the
    process left no results for that test); stopped -- the notebook was stopped at
    its time budget (a test that left no results was not run)."""
    outcomes = {}
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("grade"):
            continue
        verdict = decided.get(meta["grade_id"])
        if verdict is None:
            verdict = _from_error(cell) or ("failed", NOT_RUN if stopped else UNFINISHED)
        outcomes[meta["grade_id"]] = verdict
    return outcomes


def _from_error(cell):
    """(status, detail) of the first error a cell's outputs show, or None if none."""
    for output in cell.get("outputs", []):
        if output.get("output_type") != "error":
            continue
        ename = valuefile.plain_name(output.get("ename"))
        evalue = str(output.get("evalue", ""))
        # a cell over its time limit is interrupted: it ends in KeyboardInterrupt
        if ename == "KeyboardInterrupt":
            return "timeout", TIMEOUT
        if ename == "MemoryError":
            return "memory", MEMORY
        first = evalue.strip().splitlines()[0] if evalue.strip() else ""
        return "failed", f"{ename}: {first}"[:MAX_DETAIL]
    return None


def mistake(outcome):
    """The id of the classic mistake (autograder.content.mistakes) that outcome `outcome`
    names, "unknown" when the values it failed on match none, or "" when it names none
    (it passed, or failed for another reason than its values)."""
    if isinstance(outcome, (list, tuple)) and len(outcome) > 2 and isinstance(outcome[2], str):
        return outcome[2]
    return ""


def show(notebook, outcomes):
    """Replace each hidden test cell's outputs by its outcome: what it printed, and for
    a test that did not pass an error that says why (the feedback shows these): its
    detail, then for a test failed on its values the classic mistake they match, in the
    visible checks' words (diagnosis.explain)."""
    for cell in notebook.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id not in outcomes:
            continue
        status, detail = outcomes[grade_id][:2]
        streams = [o for o in cell.get("outputs", []) if o.get("output_type") == "stream"]
        if status != "passed":
            ename, _, evalue = detail.partition(": ")
            if valuefile.plain_name(ename, None) is None:  # a sentence, not an exception
                ename, evalue = "Failed", detail
            named = mistake(outcomes[grade_id])
            line = diagnosis.explain(graded_function(grade_id), named) if named else ""
            traceback = [detail, f"  {line}"] if line else [detail]
            streams.append(
                nbformat.v4.new_output("error", ename=ename, evalue=evalue, traceback=traceback)
            )
        cell.outputs = streams
