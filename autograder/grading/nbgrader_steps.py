"""nbgrader's autograde of one notebook, as plain functions: no kernel, no gradebook.

nbgrader's ``autograde`` opens the gradebook in almost every step, writes the
notebook twice and starts a kernel per notebook: about 1.5 s per submission
before any code runs. Here its steps are functions over the notebook and a
snapshot of what the gradebook holds of the source notebooks (`Assignment`,
read once per grading run), with nbgrader's own rules -- its helpers
(``compute_checksum``, ``determine_grade``, ``is_locked`` ...), its metadata
validator and its output limits -- and the code runs in autograder.grading.notebook_server:

1. `sanitize` -- ClearOutput, DeduplicateIds, OverwriteKernelspec,
   OverwriteCells (with add_missing_cells) and CheckCellMetadata; before the locked
   cells are put back, text a student wrote outside a written answer's cell (into its
   question, or a cell between the question and the answer: `answers_outside`) is
   copied into the answer cell, which then is graded by hand;
2. `to_run` -- the code cells to run (SkipExperiments: not the notebook's own
   experiments that no graded code needs);
3. `attach` -- the outputs go into the cells: RestoreSkipped, StderrIsNotFailure,
   HideGraderFrames, LimitOutput;
4. `scores` -- SaveAutoGrades: the score of each grade cell and the comment of
   each solution cell, as plain dicts for the parent, the only writer of the
   gradebook; a hidden test cell's score is its decided outcome
   (autograder.grading.outcomes), not what its outputs would give.
"""

import json
from dataclasses import dataclass

import nbformat
from nbgrader import utils
from nbgrader.nbgraderformat import MetadataValidator
from nbgrader.preprocessors import LimitOutput

from autograder.grading import experiments, tracebacks


class SanitizeError(ValueError):
    """The notebook's nbgrader metadata cannot be put right (nbgrader refuses it too)."""


@dataclass(frozen=True)
class SourceCell:
    name: str
    cell_type: str
    source: str
    checksum: str
    locked: bool


@dataclass(frozen=True)
class SourceNotebook:
    """What the gradebook holds of one source notebook."""

    name: str
    kernelspec: dict | None
    cells: tuple  # SourceCell, in the gradebook's order
    grades: dict  # grade_id -> max score
    solutions: frozenset
    tasks: dict  # grade_id -> max score

    def cell(self, name):
        return next((cell for cell in self.cells if cell.name == name), None)


def read_assignment(gradebook, assignment):
    """{notebook name: SourceNotebook} of `assignment` in an open nbgrader Gradebook."""
    notebooks = {}
    for notebook in gradebook.find_assignment(assignment).notebooks:
        notebooks[notebook.name] = SourceNotebook(
            name=notebook.name,
            kernelspec=json.loads(notebook.kernelspec) if notebook.kernelspec else None,
            cells=tuple(
                SourceCell(c.name, c.cell_type, c.source, c.checksum, bool(c.locked))
                for c in notebook.source_cells
            ),
            grades={c.name: float(c.max_score) for c in notebook.grade_cells},
            solutions=frozenset(c.name for c in notebook.solution_cells),
            tasks={c.name: float(c.max_score) for c in notebook.task_cells},
        )
    return notebooks


# ------------------------------------------------------------------ 1. sanitize


def sanitize(nb, source):
    """Put the submitted notebook `nb` (changed in place) in the state nbgrader grades:
    no outputs, unique grade ids, the source's kernelspec, locked cells and metadata as
    in the source, deleted grade and task cells added back."""
    for cell in nb.cells:  # ClearOutput
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            for name in ("collapsed", "scrolled"):
                cell.metadata.pop(name, None)
    seen = set()  # DeduplicateIds: the last cell with an id keeps it
    for cell in reversed(nb.cells):
        if utils.is_grade(cell) or utils.is_solution(cell) or utils.is_locked(cell):
            grade_id = cell.metadata.nbgrader["grade_id"]
            if grade_id in seen:
                cell.metadata.nbgrader = {}
            seen.add(grade_id)
    if source.kernelspec:  # OverwriteKernelspec
        nb.metadata["kernelspec"] = source.kernelspec
    keep_answers_outside(nb, questions(source))
    for cell in nb.cells:
        _overwrite(cell, source)
    _add_missing(nb, source)
    _check_metadata(nb)
    return nb


# ------------------------------------------------------- answers outside their cell

MOVED_NOTE = (
    "*[Written by the student in {where}, outside this answer cell; "
    "copied here by the grader. Grade it by hand.]*"
)


def questions(source):
    """{answer grade_id: (question grade_id, question text)} of the written answers of a
    SourceNotebook: each hand-graded markdown answer and its question, the locked
    markdown cell "<answer>_question" (else the locked markdown cell just before it)."""
    found, before = {}, None
    for cell in source.cells:
        if cell.cell_type == "markdown" and cell.name in source.solutions:
            question = source.cell(f"{cell.name}_question") or before
            if cell.name in source.grades and question is not None:
                found[cell.name] = (question.name, question.source)
        before = cell if cell.locked and cell.cell_type == "markdown" else None
    return found


def release_questions(release):
    """questions() of a release notebook (nbformat), read from its cells' metadata."""
    found, before = {}, None
    for cell in release.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "markdown" and meta.get("solution") and meta.get("grade"):
            if before is not None:
                found[meta["grade_id"]] = (_grade_id(before), before.source)
        locked = meta.get("locked") and not meta.get("solution")
        before = cell if locked and cell.cell_type == "markdown" else None
    return found


def _added_text(text, question):
    """The lines of `text` that are not lines of the `question` text, as one text ('' if
    none). Linear in the length of `text`: a line-by-line diff could be made slow."""
    known = {line.strip() for line in question.splitlines()}
    return "\n".join(line for line in text.splitlines() if line.strip() not in known).strip()


def answers_outside(nb, questions):
    """[(answer grade_id, where, text)]: what a student wrote outside a written answer's
    cell -- added to its question cell, or in text cells of their own between the question
    and the answer. Found from the answer upwards, up to its question (known by its
    grade_id, or by the question's first line when its metadata is gone); nothing is
    found when the question is not above the answer.

    `questions` -- {answer grade_id: (question grade_id, question text)}"""
    cells = nb.get("cells", [])
    ids = [_grade_id(cell) for cell in cells]
    found = []
    for answer, (question_id, question) in questions.items():
        if answer not in ids:
            continue
        first = question.strip().splitlines()[0] if question.strip() else None
        parts, reached = [], False
        for index in range(ids.index(answer) - 1, -1, -1):
            cell, grade_id = cells[index], ids[index]
            if cell.get("cell_type") == "code" or (grade_id and grade_id != question_id):
                break
            text = cell.get("source", "")
            text = "".join(text) if isinstance(text, list) else str(text)
            reached = grade_id == question_id or (first is not None and first in text)
            added = _added_text(text, question)
            if added:
                parts.append(("the question cell" if reached else "a cell above it", added))
            if reached:
                break
        if reached:
            found += [(answer, where, text) for where, text in reversed(parts)]
    return found


def keep_answers_outside(nb, questions):
    """Copy what `answers_outside` finds into the answer cells (changed in place), each part
    after a note saying where it was found; [(answer grade_id, where, text)]."""
    found = answers_outside(nb, questions)
    cells = {_grade_id(cell): cell for cell in nb.cells if _grade_id(cell)}
    for answer, where, text in found:
        cell = cells[answer]
        note = MOVED_NOTE.format(where=where)
        cell.source = f"{cell.source.rstrip()}\n\n{note}\n\n{text}"
    return found


_VALIDATED = {}  # (cell type, nbgrader metadata) -> None (valid) or what is wrong


def _check_metadata(nb):
    """CheckCellMetadata: nbgrader's MetadataValidator on each cell (remembered: the same
    metadata comes back student after student), then no grade id twice."""
    if len(_VALIDATED) > 10_000:
        _VALIDATED.clear()
    ids = set()
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader")
        if meta is None:
            continue
        key = (cell.cell_type, json.dumps(meta, sort_keys=True, default=repr))
        if key not in _VALIDATED:
            try:
                MetadataValidator().validate_cell(cell)
                _VALIDATED[key] = None
            except Exception as error:  # noqa: BLE001 -- nbgrader's ValidationError and others
                _VALIDATED[key] = str(error)[:300] or type(error).__name__
        if _VALIDATED[key]:
            raise SanitizeError(f"its nbgrader metadata is corrupted ({_VALIDATED[key]})")
        if meta.get("grade") or meta.get("solution") or meta.get("locked"):
            if meta["grade_id"] in ids:
                raise SanitizeError(
                    f"its nbgrader metadata is corrupted (duplicate grade id: {meta['grade_id']})"
                )
            ids.add(meta["grade_id"])


def _overwrite(cell, source):
    """OverwriteCells on one cell."""
    grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
    if grade_id is None:
        return
    original = source.cell(grade_id)
    if original is None:
        del cell.metadata.nbgrader["grade_id"]
        return
    if cell.cell_type != original.cell_type:
        cell.cell_type = original.cell_type
        if original.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        else:
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
    if utils.is_locked(cell) != original.locked:
        cell.metadata.nbgrader["locked"] = original.locked
    if utils.is_grade(cell):
        if grade_id not in source.grades:
            raise SanitizeError(f"the cell {grade_id} claims points it does not have")
        cell.metadata.nbgrader["points"] = source.grades[grade_id]
    cell.metadata.nbgrader["checksum"] = original.checksum
    if original.locked and utils.compute_checksum(cell) != original.checksum:
        cell.source = original.source
        if utils.compute_checksum(cell) != original.checksum:
            raise SanitizeError(f"the cell {grade_id} cannot be restored")


def _add_missing(nb, source):
    """OverwriteCells.add_missing_cells: a grade cell the notebook lacks goes back after
    the nearest earlier source cell it has (first if none); a task cell at the end."""
    present = {
        cell.metadata.nbgrader["grade_id"]
        for cell in nb.cells
        if "grade_id" in cell.metadata.get("nbgrader", {})
    }
    order = [cell.name for cell in source.cells]
    for name in [n for n in order if n in source.grades and n not in present]:
        cell = _missing_cell(source.cell(name), source.grades[name], name in source.solutions)
        position = 0
        for earlier in reversed(order[: order.index(name)]):
            at = [i for i, c in enumerate(nb.cells) if _grade_id(c) == earlier]
            if at:
                position = at[-1] + 1
                break
        nb.cells.insert(position, cell)
        present.add(name)
    for name in [n for n in order if n in source.tasks and n not in present]:
        nb.cells.append(_missing_cell(source.cell(name), source.tasks[name], task=True))


def _missing_cell(original, points, solution=False, task=False):
    """The cell nbgrader puts back for a deleted one (OverwriteCells.missing_cell_transform)."""
    note = (
        f"This cell (id:{original.name}) was missing from the submission. "
        "It was added back by nbgrader.\n\n"
    )
    meta = {
        "grade": not task,
        "grade_id": original.name,
        "locked": original.locked,
        "checksum": original.checksum,
        "cell_type": original.cell_type,
        "points": points,
        "solution": solution,
        "schema_version": 3,
    }
    if task:
        meta["task"] = True
    metadata = {"deletable": False, "nbgrader": meta}
    if not solution:
        metadata["editable"] = False
    if original.cell_type == "code":
        return nbformat.v4.new_code_cell("# " + note + original.source, metadata=metadata)
    return nbformat.v4.new_markdown_cell(note + original.source, metadata=metadata)


def _grade_id(cell):
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


# ------------------------------------------------------------------ 2. what runs


def to_run(nb, release, skip_experiments=True):
    """([(index, source)] of the code cells to run, set of the skipped cells' indices)."""
    skipped = set(experiments.experiments(nb, release)) if skip_experiments else set()
    cells = [
        (index, cell.source)
        for index, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and index not in skipped
    ]
    return cells, skipped


# ------------------------------------------------------------------ 3. outputs


_LIMIT = LimitOutput()


def attach(nb, outputs, skipped):
    """Put `outputs` ({index: (outputs, execution count)}: autograder.grading.notebook_server.Ran.outputs)
    into the cells, as nbgrader's steps after execution leave them."""
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if index in skipped:
            cell.outputs = [
                nbformat.v4.new_output("stream", name="stdout", text=experiments.SKIPPED_NOTE)
            ]
            continue
        cell.outputs, cell.execution_count = outputs.get(index, ([], None))
        if utils.is_grade(cell):  # StderrIsNotFailure
            for output in cell.outputs:
                if output.get("output_type") == "stream" and output.get("name") == "stderr":
                    output["name"] = "stdout"
        for output in cell.outputs:  # HideGraderFrames
            if output.get("output_type") == "error":
                output["traceback"] = tracebacks.hide_grader_frames(output.get("traceback", []))
        _LIMIT.preprocess_cell(cell, {}, index)
    return nb


# ------------------------------------------------------------------ 4. scores


def scores(nb, source, outcomes):
    """SaveAutoGrades: [{notebook, name, auto_score, max_score, needs_manual_grade,
    cell_type, comment}] for each grade cell of the source, as nbgrader would store them
    for this (autograded) notebook. A hidden test cell scores what its outcome says
    (`outcomes`: autograder.grading.outcomes.decide): its points if it passed, else 0;
    any other grade cell (a written answer) by nbgrader's rule: 0 if left as released,
    else None (graded by hand); a grade cell the notebook lacks scores None."""
    cells = {_grade_id(cell): cell for cell in nb.cells if _grade_id(cell)}
    grades = []
    for name, max_score in source.grades.items():
        cell = cells.get(name)
        graded = cell is not None and utils.is_grade(cell)
        outcome = outcomes.get(name) if graded and cell.cell_type == "code" else None
        if outcome is not None:
            auto = float(max_score) if outcome[0] == "passed" else 0.0
        else:
            auto = utils.determine_grade(cell)[0] if graded else None
        comment = None
        if cell is not None and (utils.is_solution(cell) or utils.is_task(cell)):
            unchanged = cell.metadata.nbgrader.get("checksum") == utils.compute_checksum(cell)
            comment = "No response." if unchanged and not utils.is_task(cell) else None
        grades.append(
            {
                "notebook": source.name,
                "name": name,
                "auto_score": auto,
                "max_score": max_score,
                "needs_manual_grade": auto is None,
                "cell_type": source.cell(name).cell_type if source.cell(name) else "code",
                "comment": comment,
            }
        )
    return grades
