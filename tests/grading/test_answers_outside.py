"""A written answer typed outside its answer cell is not lost.

Notebook 03's question cell is locked (read-only in the release). A student who types the
answer into it all the same (another editor, or the metadata edited), or into a cell of
their own between the question and the answer, leaves the answer cell as released. Before
sanitizing puts the locked question back, that text is copied into the answer cell, so the
answer needs a manual grade (not 0), and the review names the answer cell. The question
is the real one of notebook 03; the cells around it are built here as the release has them.
"""

import copy

import nbformat
from autograder_support import SOURCE
from nbgrader import utils

from autograder.grading import handed_in, nbgrader_steps, reports

STEM, ANSWER, QUESTION = "03_removing_b", "why_no_b", "why_no_b_question"
STUB = "YOUR ANSWER HERE"
TYPED = "BN subtracts the mean over the batch, so b cancels; beta takes its role."


def _meta(grade_id, *, grade=False, solution=False, locked=False, points=None):
    meta = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": locked,
        "schema_version": 3,
        "solution": solution,
        "task": False,
    }
    if points is not None:
        meta["points"] = points
    return meta


def release():
    """The written-answer part of notebook 03 as released: text, question, answer, text."""
    source = nbformat.read(SOURCE / f"{STEM}.ipynb", as_version=4)
    (question,) = [
        c for c in source.cells if c.metadata.get("nbgrader", {}).get("grade_id") == QUESTION
    ]
    assert question.metadata["nbgrader"]["locked"] and question.cell_type == "markdown"
    cells = [
        nbformat.v4.new_markdown_cell("Some lesson text before the question."),
        nbformat.v4.new_markdown_cell(question.source),
        nbformat.v4.new_markdown_cell(STUB),
        nbformat.v4.new_markdown_cell("Some lesson text after it."),
    ]
    cells[1].metadata["nbgrader"] = _meta(QUESTION, locked=True)
    cells[2].metadata["nbgrader"] = _meta(ANSWER, grade=True, solution=True, points=4.0)
    for cell in cells[1:3]:
        cell.metadata["nbgrader"]["checksum"] = utils.compute_checksum(cell)
    return nbformat.v4.new_notebook(cells=cells)


def source_of(notebook):
    """What the gradebook holds of the release `notebook` (nbgrader_steps.SourceNotebook)."""
    cells = tuple(
        nbgrader_steps.SourceCell(
            c.metadata["nbgrader"]["grade_id"],
            c.cell_type,
            c.source,
            c.metadata["nbgrader"]["checksum"],
            c.metadata["nbgrader"]["locked"],
        )
        for c in notebook.cells
        if "nbgrader" in c.metadata
    )
    return nbgrader_steps.SourceNotebook(
        name=STEM,
        kernelspec=None,
        cells=cells,
        grades={ANSWER: 4.0},
        solutions=frozenset({ANSWER}),
        tasks={},
    )


def grade(notebook):
    """(the answer's grade, the report's notes, the sanitized notebook) of a submission."""
    released = release()
    flags = handed_in.review_flags(notebook, STEM, released)
    nbgrader_steps.sanitize(notebook, source_of(released))
    (answer,) = nbgrader_steps.scores(notebook, source_of(released), {})
    result = {"notebooks": {STEM: {"status": "ok"}}, "flags": flags}
    return answer, reports.messages(result), notebook


def answer_cell(notebook):
    (cell,) = [
        c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == ANSWER
    ]
    return cell


def question_cell(notebook):
    return notebook.cells[1]


def test_untouched_answer_scores_zero_and_is_not_flagged():
    answer, notes, _ = grade(release())
    assert (answer["auto_score"], answer["needs_manual_grade"]) == (0.0, False)
    assert notes == []


def test_answer_in_its_cell_is_graded_by_hand_and_not_flagged():
    notebook = release()
    answer_cell(notebook).source = TYPED
    answer, notes, _ = grade(notebook)
    assert (answer["auto_score"], answer["needs_manual_grade"]) == (None, True)
    assert notes == []


def test_answer_typed_into_the_question_cell_is_kept_and_graded_by_hand():
    notebook = release()
    question = question_cell(notebook).source
    question_cell(notebook).source = question + "\n\n" + TYPED
    answer, notes, graded = grade(notebook)
    assert (answer["auto_score"], answer["needs_manual_grade"]) == (None, True)
    assert question_cell(graded).source == question  # the locked question is put back
    assert TYPED in answer_cell(graded).source and "question cell" in answer_cell(graded).source
    assert len(notes) == 1 and notes[0].startswith(f"REVIEW {STEM} {ANSWER} line 1:"), notes
    assert "question cell" in notes[0] and TYPED in notes[0], notes


def test_answer_in_a_cell_of_its_own_above_the_answer_is_kept():
    notebook = release()
    notebook.cells.insert(2, nbformat.v4.new_markdown_cell(TYPED))
    answer, notes, graded = grade(notebook)
    assert (answer["auto_score"], answer["needs_manual_grade"]) == (None, True)
    assert TYPED in answer_cell(graded).source
    assert len(notes) == 1 and ANSWER in notes[0] and TYPED in notes[0], notes


def test_question_without_its_metadata_is_still_recognised():
    notebook = release()
    question = question_cell(notebook)
    question.metadata = {}
    question.source = question.source + "\n" + TYPED
    answer, notes, graded = grade(notebook)
    assert (answer["auto_score"], answer["needs_manual_grade"]) == (None, True)
    assert TYPED in answer_cell(graded).source
    assert len(notes) == 1, notes


def test_lesson_text_elsewhere_is_not_taken_for_an_answer():
    notebook = release()
    notebook.cells.insert(0, nbformat.v4.new_markdown_cell("My own notes at the top."))
    notebook.cells.append(nbformat.v4.new_markdown_cell("More notes at the end."))
    untouched = copy.deepcopy(answer_cell(notebook).source)
    answer, notes, graded = grade(notebook)
    assert (answer["auto_score"], answer["needs_manual_grade"]) == (0.0, False)
    assert answer_cell(graded).source == untouched and notes == []
