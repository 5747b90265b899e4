"""The class report's numbers: the breakdown rows of every student, counted per graded item.

The rows are those of breakdown.csv as export computes them
(autograder.pipeline.export.collect_rows); the column `mistake` is optional. For each
graded function, in notebook order (bnlab.course.NOTEBOOKS), every student with a
submission is counted once, in one of OUTCOMES:

- passed: the hidden test passed;
- failed: the function ran and its test failed, with the cause (CAUSES): for wrong
  values, the catalogued mistake the grader matched them with (the breakdown's column
  `mistake`; its hint comes from autograder.content.mistakes), or `unknown` when none
  matched; otherwise an error (it raised, or what it returned could not be read), the
  time limit or the memory limit;
- not attempted: the notebook was not handed in (status "not submitted"), or the
  function still raises NotImplementedError (a failure whose message starts with it):
  the stub as released (nbgrader's ``raise NotImplementedError()``), or code left
  unfinished above it;
- not graded: the notebook could not be read or graded, or the student's rows could
  not be exported (the student has no row for the function).

Points lost are max_score - score (never below 0) over the function's rows, whatever the
outcome; points possible, the sum of max_score over them. Each
written answer (graded by hand in formgrader) is counted by the score given, or as
pending (waiting for manual grading), not answered (left as released, or its notebook
not handed in) or not graded (ANSWER_OUTCOMES).
"""

from collections import Counter
from dataclasses import dataclass, field

from autograder.workspace import MANUAL_ANSWERS
from bnlab.course import NOTEBOOKS

OUTCOMES = ("passed", "failed", "not attempted", "not graded")
ANSWER_OUTCOMES = ("pending", "not answered", "not graded")
FAILED = ("failed", "timeout", "memory")  # the breakdown's statuses of a function that ran
NOT_HANDED_IN = "not submitted"  # the breakdown's status of a notebook not handed in
STUB = "NotImplementedError"  # what a stub as released raises
# The causes of a failure that are not a catalogued mistake; the keys in parentheses
# cannot be a mistake's id. Each: (label, what it means).
TIMEOUT, MEMORY, UNKNOWN, ERROR = "(timeout)", "(memory)", "unknown", "(error)"
CAUSES = {
    UNKNOWN: ("unknown", "wrong values that match no catalogued mistake"),
    ERROR: (
        "error",
        "it raised an error, or what it returned could not be read: no values to compare",
    ),
    TIMEOUT: ("time limit", "it ran longer than the time limit"),
    MEMORY: ("out of memory", "it ran out of memory"),
}
DETAILS_KEPT = 3  # the most common messages of the failures no mistake names, per function
DETAIL_LENGTH = 200  # characters of such a message


@dataclass
class FunctionTally:
    """One graded function across the class."""

    notebook: str
    function: str
    counts: Counter = field(default_factory=Counter)  # outcome -> students
    lost: Counter = field(default_factory=Counter)  # outcome -> points lost
    possible: float = 0.0  # points
    causes: dict = field(default_factory=dict)  # cause -> [students], in _most_students order
    details: Counter = field(default_factory=Counter)  # message -> failures no mistake names

    @property
    def points_lost(self):
        return sum(self.lost.values())


@dataclass
class AnswerTally:
    """One written answer across the class."""

    notebook: str
    answer: str
    scores: Counter = field(default_factory=Counter)  # points given by hand -> students
    counts: Counter = field(default_factory=Counter)  # ANSWER_OUTCOMES -> students
    max_points: float = 0.0


@dataclass
class ClassTally:
    """The whole class: what the report shows."""

    students: list  # every student with a row, sorted
    functions: list  # FunctionTally, in notebook order
    answers: list  # AnswerTally, in notebook order
    hints: dict  # (function, mistake id) -> the catalogue's hint
    nobody_handed_in: list  # the notebooks no student handed in (none without students)

    def cause_text(self, function, cause):
        """(label, what it means) of a failure's cause: a mistake's id and its hint."""
        if cause in CAUSES:
            return CAUSES[cause]
        hint = self.hints.get((function, cause))
        return cause, hint if hint is not None else "(not in the catalogue of mistakes)"


def number(text):
    """A score cell as a finite float, or None (empty, or not a number)."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if abs(value) < float("inf") else None


def outcome(row):
    """(outcome, cause) of one autograded breakdown row; cause: a failure's mistake id or
    a key of CAUSES, else None."""
    status, detail = row.get("status") or "", str(row.get("detail") or "")
    if status == "passed":
        return "passed", None
    if status == NOT_HANDED_IN or (status == "failed" and detail.startswith(STUB)):
        return "not attempted", None
    if status == "timeout":
        return "failed", TIMEOUT
    if status == "memory":
        return "failed", MEMORY
    if status == "failed":
        return "failed", str(row.get("mistake") or "") or ERROR
    return "not graded", None


def tally(breakdown, hints=None):
    """The ClassTally of the breakdown rows (dicts with breakdown.csv's columns).
    `hints`: {(function, mistake id): hint}, by default the catalogue's."""
    students = sorted({str(row.get("student_id") or "") for row in breakdown} - {""})
    functions = {n: FunctionTally(stem, n) for stem, names in NOTEBOOKS.items() for n in names}
    answers = {name: AnswerTally(stem, name) for name, stem in MANUAL_ANSWERS.items()}
    seen = {name: set() for name in [*functions, *answers]}
    handed_in = set()  # the notebooks of a row whose status is not "not submitted"
    for row in breakdown:
        item, student = row.get("item"), str(row.get("student_id") or "")
        if row.get("status") != NOT_HANDED_IN:
            handed_in.add(row.get("notebook"))
        if item not in seen or student in seen[item]:
            continue  # not a graded item, or counted already
        seen[item].add(student)
        if item in functions:
            _count_function(functions[item], row, student)
        else:
            _count_answer(answers[item], row)
    for name, function in functions.items():  # no row: the rows could not be exported
        function.counts["not graded"] += len(set(students) - seen[name])
        function.causes = dict(sorted(function.causes.items(), key=_most_students))
    for name, answer in answers.items():
        answer.counts["not graded"] += len(set(students) - seen[name])
    return ClassTally(
        students,
        list(functions.values()),
        list(answers.values()),
        _catalogue_hints() if hints is None else hints,
        [stem for stem in NOTEBOOKS if students and stem not in handed_in],
    )


def _most_students(cause_students):
    """The order of a function's causes: the most students first; on a tie, a catalogued
    mistake before unknown and error, before the time and memory limits."""
    cause, students = cause_students
    return -len(students), list(CAUSES).index(cause) + 1 if cause in CAUSES else 0


def _count_function(tallied, row, student):
    kind, cause = outcome(row)
    tallied.counts[kind] += 1
    score, top = number(row.get("score")), number(row.get("max_score"))
    if top is not None:
        tallied.possible += top
        tallied.lost[kind] += max(0.0, top - (score or 0.0))
    if cause is not None:
        tallied.causes.setdefault(cause, []).append(student)
    if cause in (UNKNOWN, ERROR):
        lines = str(row.get("detail") or "").strip().splitlines()
        tallied.details[lines[0][:DETAIL_LENGTH] if lines else "(no message)"] += 1


def _count_answer(tallied, row):
    status, score, top = row.get("status"), number(row.get("score")), number(row.get("max_score"))
    tallied.max_points = max(tallied.max_points, top or 0.0)
    if status == "manually graded" and score is not None:
        tallied.scores[score] += 1
    elif status == "needs manual grading":
        tallied.counts["pending"] += 1
    elif status in ("not answered", NOT_HANDED_IN):
        tallied.counts["not answered"] += 1
    else:
        tallied.counts["not graded"] += 1


def _catalogue_hints():
    from autograder.content.mistakes import all_mistakes

    return {(m.function, m.id): m.hint for m in all_mistakes()}
