"""The class report: what the class got wrong, and what to reteach, at a glance.

reports/class_report.html  one page, offline and inert, with its plots inside it
                           (autograder.pipeline.class_report_page)
reports/class_report.csv   the same numbers, one row per line of the page (CSV_COLUMNS)

Both are made from the rows of breakdown.csv as export computes them
(autograder.pipeline.export.collect_rows), counted by autograder.pipeline.class_tally
(which says what passed, failed, not attempted and not graded mean). `export` writes
them after breakdown.csv; the step `report` writes them alone.

The CSV's rows, by their first cell `row`:
  class           count: the students with a submission
  function        per graded function, in notebook order: count (students), passed,
                  failed, not_attempted, not_graded, points_lost, points_possible
  mistake         per cause of its failures (after its function's row): mistake (the
                  catalogued mistake's id, unknown, time limit, out of memory, not
                  recorded), count, text (the mistake's hint), students (their ids)
  message         the most common first lines of the failures no mistake names: count, text
  written answer  per written answer: count (graded by hand), pending, not_attempted
                  (not answered), not_graded, points_possible (its points)
  answer score    per score given by hand to that answer: score, count
Every cell goes through autograder.grading.inert's csv_row: a student id or a message
is never a formula, and holds no control character.
"""

import csv
import io

from autograder.errors import GraderError
from autograder.grading.inert import csv_row
from autograder.pipeline import class_report_page
from autograder.pipeline.class_tally import DETAILS_KEPT, OUTCOMES, tally
from autograder.workspace import write_atomic
from bnlab.course import NOTEBOOKS

HTML_NAME, CSV_NAME = "class_report.html", "class_report.csv"
CSV_COLUMNS = [
    "row",
    "notebook",
    "item",
    "mistake",
    "score",
    "count",
    "passed",
    "failed",
    "not_attempted",
    "not_graded",
    "pending",
    "points_lost",
    "points_possible",
    "text",
    "students",
]


class ReportError(GraderError):
    """The class report cannot be made: no release yet."""


def _amount(value):
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def csv_rows(tallied):
    """The rows of class_report.csv: dicts with keys of CSV_COLUMNS (others empty)."""
    rows = [{"row": "class", "item": "students", "count": len(tallied.students)}]
    for t in tallied.functions:
        where = {"notebook": t.notebook, "item": t.function}
        rows.append(
            {
                "row": "function",
                **where,
                "count": sum(t.counts.values()),
                **{kind.replace(" ", "_"): t.counts[kind] for kind in OUTCOMES},
                "points_lost": _amount(t.points_lost),
                "points_possible": _amount(t.possible),
            }
        )
        for cause, students in t.causes.items():
            label, text = tallied.cause_text(t.function, cause)
            rows.append(
                {"row": "mistake", **where, "mistake": label, "count": len(students)}
                | {"text": text, "students": " ".join(students)}
            )
        for message, count in t.details.most_common(DETAILS_KEPT):
            rows.append({"row": "message", **where, "count": count, "text": message})
    for a in tallied.answers:
        rows.append(
            {
                "row": "written answer",
                "notebook": a.notebook,
                "item": a.answer,
                "count": sum(a.scores.values()),
                "pending": a.counts["pending"],
                "not_attempted": a.counts["not answered"],
                "not_graded": a.counts["not graded"],
                "points_possible": _amount(a.max_points),
            }
        )
        for score, count in sorted(a.scores.items()):
            rows.append(
                {"row": "answer score", "notebook": a.notebook, "item": a.answer}
                | {"score": _amount(score), "count": count}
            )
    return rows


def csv_text(tallied):
    """class_report.csv, as text."""
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=CSV_COLUMNS, restval="")
    writer.writeheader()
    writer.writerows(csv_row(row) for row in csv_rows(tallied))
    return text.getvalue()


def require_release(course):
    """Raise ReportError unless the course was released (its source notebooks are there)."""
    if not all((course.source / f"{stem}.ipynb").is_file() for stem in NOTEBOOKS):
        raise ReportError("no release yet: run `python -m autograder release` first")


def write_class_report(course, breakdown, log=print):
    """Write reports/class_report.html and class_report.csv from the breakdown rows (dicts
    of export's BREAKDOWN_COLUMNS, `mistake` optional); returns their paths."""
    tallied = tally(breakdown)
    page, table = course.reports / HTML_NAME, course.reports / CSV_NAME
    write_atomic(table, csv_text(tallied))
    write_atomic(page, class_report_page.page(tallied))
    log(f"report: {page}, {CSV_NAME} ({len(tallied.students)} student(s))")
    return page, table
