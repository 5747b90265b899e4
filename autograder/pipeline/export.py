"""Step 5, export: grades.csv, breakdown.csv, flags.csv and a summary table.

reports/grades.csv    nbgrader's columns (assignment, duedate, timestamp,
                      student_id, last_name, first_name, email, raw_score,
                      late_submission_penalty, score, max_score), one row per
                      student, written with the csv module (names with commas
                      stay in their column); then pending_points and status. A
                      written answer that still needs manual grading is left out
                      of score until it is graded: pending_points holds its points
                      and status says "pending manual grading" (else "complete").
reports/breakdown.csv one row per student and graded item: the points (empty
                      while a written answer waits for manual grading), the
                      status (passed, failed, timeout, memory, not submitted,
                      invalid notebook, could not be graded, needs manual
                      grading, manually graded, not answered), the detail
                      (for a manually graded answer, the grader's comment) and
                      the mistake: for a function failed on its values, the id
                      of the classic mistake they match (autograder.content.mistakes)
                      or "unknown"; empty on every other row.
reports/flags.csv     one row per review flag: code that could fake a pass.
reports/summary.txt   the table printed on the terminal: per-notebook
                      autograded scores, the autograded total, the written
                      answers (pending, the points so far followed by +?, or
                      their score), the total, and notes;
                      below it, how many students were graded without a
                      memory limit (--memory-limit 0), if any.
reports/class_report.html, class_report.csv  the class report: per graded function who
                      passed, failed, did not attempt it, and why (autograder.pipeline.class_report).
With --lms-map FILE, also reports/canvas.csv and reports/moodle.csv, the files Canvas
and Moodle import (autograder.pipeline.lms_export).
Every file is written whole (workspace.write_atomic): a reader never sees half of one.
No CSV cell is a formula: a text starting with = + - @, a tab or a carriage return gets a
leading apostrophe (autograder.grading.inert.csv_cell); numbers stay numbers.
Before writing them, the command line's export rewrites the feedback pages of the
students whose grades or comments changed since their pages were written
(autograder.pipeline.feedback.refresh): grading by hand in formgrader, then `export`, updates both.
Without a release (the gradebook has no assignment) export stops with an ExportError.
"""

import csv
import io
import json

from autograder.errors import GraderError
from autograder.grading import outcomes
from autograder.grading.inert import csv_row, printable
from autograder.grading.reports import read_report
from autograder.pipeline.class_report import write_class_report
from autograder.pipeline.lms_export import read_lms_map, write_lms_files
from autograder.workspace import COURSE_ID, MANUAL_ANSWERS, write_atomic
from bnlab.course import ASSIGNMENT, NOTEBOOKS


class ExportError(GraderError):
    """Nothing to export: the gradebook has no assignment (no release yet)."""


GRADES_COLUMNS = [
    "assignment",
    "duedate",
    "timestamp",
    "student_id",
    "last_name",
    "first_name",
    "email",
    "raw_score",
    "late_submission_penalty",
    "score",
    "max_score",
    "pending_points",
    "status",
]
PENDING = "pending manual grading"  # grades.csv's status while a written answer waits
BREAKDOWN_COLUMNS = [
    "student_id",
    "notebook",
    "item",
    "grade_id",
    "kind",
    "score",
    "max_score",
    "status",
    "detail",
    "mistake",
]
FLAG_COLUMNS = ["student_id", "notebook", "cell", "line", "reason", "code"]
STATUS_OF_NOTEBOOK = {
    "missing": "not submitted",
    "invalid": "invalid notebook",
    "error": "could not be graded",
}


def _number(value):
    if value is None:
        return ""
    value = float(value)
    return str(int(value)) if value.is_integer() else f"{value:g}"


def _item(grade_id):
    return grade_id[len("test_") :] if grade_id.startswith("test_") else grade_id


def collect_rows(course):
    """(grades rows, breakdown rows, flag rows, per-student summary) from the gradebook and reports."""
    from nbgrader.api import Gradebook, MissingEntry

    grades, breakdown, flags, summary = [], [], [], []
    with Gradebook(course.db_url, COURSE_ID) as gradebook:
        try:
            assignment = gradebook.find_assignment(ASSIGNMENT)
        except MissingEntry:
            raise ExportError(
                f"the gradebook has no assignment '{ASSIGNMENT}': run `python -m autograder "
                "release`" + ("" if course.uses_sqlite else " with the same --db-url")
            ) from None
        duedate = assignment.duedate.isoformat() if assignment.duedate else ""
        submissions = sorted(
            gradebook.assignment_submissions(ASSIGNMENT), key=lambda s: s.student.id
        )
        for submission in submissions:
            try:
                rows = _student_rows(course, submission, duedate)
            except Exception as error:  # noqa: BLE001 -- one student never stops the export
                rows = _unexported(submission, error)
            for found, more in zip((grades, breakdown, flags, summary), rows):
                found.extend(more)
    return grades, breakdown, flags, summary


def _student_rows(course, submission, duedate):
    """([grades row], breakdown rows, flag rows, [summary row]) of one submission."""
    grades, breakdown, flags, summary = [], [], [], []
    student = submission.student
    report = read_report(course, student.id) or {}
    grades.append(
        {
            "assignment": ASSIGNMENT,
            "duedate": duedate,
            "timestamp": submission.timestamp.isoformat() if submission.timestamp else "",
            "student_id": student.id,
            "last_name": student.last_name or "",
            "first_name": student.first_name or "",
            "email": student.email or "",
            "raw_score": _number(submission.score),
            "late_submission_penalty": _number(submission.late_submission_penalty or 0),
            "score": _number(submission.score - (submission.late_submission_penalty or 0)),
            "max_score": _number(submission.max_score),
        }
    )
    row = {"student": student.id, "notebooks": {}, "auto": 0.0, "auto_max": 0.0}
    row.update({"manual": 0.0, "manual_max": 0.0, "pending": 0.0, "notes": []})
    row["manual_graded"] = 0  # written answers graded by hand so far
    for notebook in sorted(submission.notebooks, key=lambda n: n.name):
        info = report.get("notebooks", {}).get(notebook.name, {})
        breakdown += _notebook_rows(student.id, notebook, info, row)
    row["max"] = submission.max_score
    grades[-1]["pending_points"] = _number(row["pending"])
    grades[-1]["status"] = PENDING if row["pending"] else "complete"
    row["notes"] = _notes(report)
    row["memory_limit"] = report.get("memory_limit")  # None: not recorded
    row["sandbox"] = report.get("sandbox")  # False: graded with --no-sandbox
    summary.append(row)
    for flag in report.get("flags", []):
        flags.append({"student_id": student.id, **{k: flag[k] for k in FLAG_COLUMNS[1:]}})
    return grades, breakdown, flags, summary


def _unexported(submission, error):
    """The rows of a student whose rows could not be made: named, with the reason, and 0
    in the summary (so the student is in every export all the same)."""
    student, top = submission.student.id, float(submission.max_score or 0)
    reason = f"could not be exported ({type(error).__name__}: {str(error)[:200]})"
    grades = [dict.fromkeys(GRADES_COLUMNS, "")]
    grades[0].update(assignment=ASSIGNMENT, student_id=student, max_score=_number(top))
    grades[0]["status"] = reason  # no score: nothing reaches an LMS file
    breakdown = [{"student_id": student, "status": "could not be exported", "detail": reason}]
    row = {"student": student, "notebooks": {}, "auto": 0.0, "auto_max": 0.0, "max": top}
    row.update({"manual": 0.0, "manual_max": 0.0, "pending": 0.0, "notes": [reason.upper()]})
    return grades, breakdown, [], [row]


def _notebook_rows(student, notebook, info, row):
    """The breakdown rows of one submitted notebook (`info`: its part of the grading
    report); adds its points to the student's summary `row`."""
    cells = info.get("cells", {})
    comments = {c.name: c.manual_comment for c in notebook.comments}
    rows, nb_score, nb_max = [], 0.0, 0.0
    for grade in sorted(notebook.grades, key=lambda g: _order(notebook.name, g.name)):
        manual = grade.name in MANUAL_ANSWERS
        status, detail, mistake = _status(grade, info, cells, manual)
        if status == "manually graded":
            detail = comments.get(grade.name) or ""
        score = None if grade.needs_manual_grade else float(grade.score)
        rows.append(
            {
                "student_id": student,
                "notebook": notebook.name,
                "item": _item(grade.name),
                "grade_id": grade.name,
                "kind": "manual" if manual else "autograded",
                "score": _number(score),
                "max_score": _number(grade.max_score),
                "status": status,
                "detail": detail,
                "mistake": mistake,
            }
        )
        if manual:
            row["manual_max"] += grade.max_score
            if score is None:
                row["pending"] += grade.max_score
            else:
                row["manual"] += score
                row["manual_graded"] += grade.manual_score is not None
        else:
            nb_score += score or 0.0
            nb_max += grade.max_score
    row["notebooks"][notebook.name] = (nb_score, nb_max)
    row["auto"] += nb_score
    row["auto_max"] += nb_max
    return rows


def _order(stem, grade_id):
    names = NOTEBOOKS.get(stem, [])
    item = _item(grade_id)
    return names.index(item) if item in names else len(names)


def _status(grade, info, cells, manual):
    """(status, detail, mistake) of one graded item (mistake: see outcomes.mistake)."""
    notebook_status = info.get("status", "ok")
    if notebook_status != "ok":
        status = STATUS_OF_NOTEBOOK.get(notebook_status, notebook_status)
        return status, info.get("message", ""), ""
    if manual:
        if grade.needs_manual_grade:
            return "needs manual grading", "a written answer: grade it in formgrader", ""
        if grade.manual_score is not None:
            return "manually graded", "", ""
        return "not answered", "left as released", ""
    outcome = cells.get(grade.name, (None, ""))
    status, detail = outcome[:2]
    if status is None:
        status = "passed" if grade.score >= grade.max_score else "failed"
    return status, detail, outcomes.mistake(outcome) if status == "failed" else ""


def _notes(report):
    if report.get("crashed"):  # every notebook scored 0 for the same reason
        first = next(iter(report.get("notebooks", {}).values()), {}).get("message", "")
        return ["NOT GRADED: " + first.partition(" could not be graded ")[2].strip("()")]
    notes = []
    for stem, info in report.get("notebooks", {}).items():
        if info.get("status") != "ok":
            notes.append(f"{stem}.ipynb {STATUS_OF_NOTEBOOK.get(info['status'], info['status'])}")
        if info.get("budget"):
            notes.append(f"{stem[:2]}: stopped at its time budget")
        touched = info.get("restored_tests", []) + info.get("changed_tests", [])
        if touched:
            notes.append(f"{stem[:2]}: test cell(s) {', '.join(sorted(touched))} restored")
        for grade_id, outcome in sorted(info.get("cells", {}).items()):
            status = outcome[0]
            if status in ("timeout", "memory"):
                notes.append(
                    f"{_item(grade_id)}: {'time limit' if status == 'timeout' else 'out of memory'}"
                )
    if report.get("flags"):
        reasons = sorted({flag["reason"] for flag in report["flags"]})
        notes.insert(0, "REVIEW: " + "; ".join(reasons))
    if report.get("extra_files"):
        notes.append(f"{len(report['extra_files'])} extra file(s) ignored")
    return notes


def _write_csv(path, columns, rows):
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=columns)
    writer.writeheader()
    writer.writerows(csv_row(row) for row in rows)  # no cell a spreadsheet runs as a formula
    write_atomic(path, text.getvalue())


def table(summary):
    """The summary table, as text: one row per student, then what the columns mean and
    the warnings that concern the whole class."""
    header, rows = _table_cells(summary)
    manual_max = max((row["manual_max"] for row in summary), default=0)
    auto_max = max((row["auto_max"] for row in summary), default=0)
    out = _aligned(header, rows) + [""] + _legend(summary, auto_max, manual_max)
    return "\n".join(out) + "\n"


def _table_cells(summary):
    """(header, [cells of each student]) of the summary table."""
    stems = list(NOTEBOOKS)
    maxima = {}
    for row in summary:
        for stem, (_, top) in row["notebooks"].items():
            maxima[stem] = max(top, maxima.get(stem, 0))
    # the largest of any row: a student who could not be exported has no maxima
    auto_max = max((row["auto_max"] for row in summary), default=0)
    manual_max = max((row["manual_max"] for row in summary), default=0)
    total_max = max((row["max"] for row in summary), default=0)
    header = ["student", *[f"{stem[:2]}/{_number(maxima.get(stem, 0))}" for stem in stems]]
    header += [
        f"auto/{_number(auto_max)}",
        f"manual/{_number(manual_max)}",
        f"total/{_number(total_max)}",
        "notes",
    ]
    lines = []
    for row in summary:
        cells = [row["student"]]
        cells += [_number(row["notebooks"].get(stem, (0, 0))[0]) for stem in stems]
        cells.append(_number(row["auto"]))
        if row["pending"]:  # "pending" until one answer is graded, then "3+?"
            graded = row.get("manual_graded", 0)
            cells.append(f"{_number(row['manual'])}+?" if graded else "pending")
            cells.append(f"{_number(row['auto'] + row['manual'])}+?")
        else:
            cells.append(_number(row["manual"]))
            cells.append(_number(row["auto"] + row["manual"]))
        cells.append("; ".join(row["notes"]))
        lines.append(cells)
    return header, lines


def _aligned(header, lines):
    """The header, a rule and the rows as aligned text lines (the last column, the notes,
    unpadded)."""
    widths = [max(len(str(c)) for c in column) for column in zip(header, *lines)] if lines else []
    widths = widths[:-1] + [0]

    def fmt(cells):
        first = str(cells[0]).ljust(widths[0])
        middle = [str(c).rjust(w) for c, w in zip(cells[1:-1], widths[1:-1])]
        return "  ".join([first, *middle, str(cells[-1])]).rstrip()

    out = [fmt(header), fmt(["-" * widths[0], *["-" * w for w in widths[1:-1]], "-----"])]
    return out + [fmt(cells) for cells in lines]


def _legend(summary, auto_max, manual_max):
    """The lines below the table: what the columns mean, then the class-wide warnings."""
    manual_names = ", ".join(MANUAL_ANSWERS)
    pending = sum(1 for row in summary if row["pending"])
    answers = (
        f"the written answer {manual_names} ({_number(manual_max)} points) is"
        if len(MANUAL_ANSWERS) == 1
        else f"the written answers {manual_names} ({_number(manual_max)} points in all) are"
    )
    out = [
        f"{len(summary)} student(s). 'auto' is the autograded total out of {_number(auto_max)}; "
        f"{answers} graded by hand: 'pending' (or, once one is graded, the points so far "
        f"followed by +?) means an answer still needs manual grading ({pending} student(s)); "
        "'total' then shows the points so far followed by +?, without the pending points "
        "(grades.csv: pending_points, status)."
    ]
    unlimited = [row["student"] for row in summary if row.get("memory_limit") == 0]
    if unlimited:
        out.append(
            f"NO MEMORY LIMIT: {len(unlimited)} student(s) were graded with --memory-limit 0 "
            "(their kernels could take all the machine's memory; `grade --force` with a limit "
            "grades them again)."
        )
    unsandboxed = [row["student"] for row in summary if row.get("sandbox") is False]
    if unsandboxed:
        out.append(
            f"GRADES PRODUCED UNSANDBOXED: {len(unsandboxed)} student(s) were graded with "
            "--no-sandbox: their code ran as an ordinary process of this user, able to read and "
            "write this user's files and reach the network. `grade --force` without "
            "--no-sandbox grades them again in the sandbox."
        )
    if any(row["notes"] and row["notes"][0].startswith("REVIEW") for row in summary):
        out.append(
            "REVIEW: the code does what an honest solution does not need (imports grader-only "
            "modules, patches numpy, bnlab or builtins, reaches into frames). The points were "
            "decided outside the student's process, so such code cannot fake a pass; read "
            "reports/flags.csv and the notebook to decide whether it is misconduct."
        )
    return out


def _max_score(grades):
    return float(grades[0]["max_score"]) if grades else 100


def export(course, log=print, lms_map=None, refresh_feedback=False):
    """Run step 5; returns the summary table's text. `lms_map`: the path of a CSV mapping
    LMS ids to nbgrader ids, to also write canvas.csv and moodle.csv (lms_export).
    refresh_feedback: first rewrite the feedback pages of the students whose grades or
    comments changed since they were written, or whose pages are not those the feedback
    step wrote (autograder.pipeline.feedback.refresh); if that fails, the exports are still
    written, then its FeedbackError is raised."""
    mapped = read_lms_map(lms_map) if lms_map else None  # a bad map stops before any write
    course.prepare()
    problem = None
    if refresh_feedback:  # a page that fails is reported after the exports are written
        from autograder.pipeline import feedback

        try:
            feedback.refresh(course, log=log)
        except feedback.FeedbackError as error:
            problem = error
    grades, breakdown, flags, summary = collect_rows(course)
    _write_csv(course.reports / "grades.csv", GRADES_COLUMNS, grades)
    _write_csv(course.reports / "breakdown.csv", BREAKDOWN_COLUMNS, breakdown)
    _write_csv(course.reports / "flags.csv", FLAG_COLUMNS, flags)
    write_class_report(course, breakdown, log=lambda line: None)
    text = printable(table(summary))  # the notes quote what students' code said
    if mapped is not None:
        out_of = _number(_max_score(grades))
        lines = write_lms_files(course.reports, grades, summary, mapped, out_of)
        text += "\n" + "\n".join(lines) + "\n"
    write_atomic(course.reports / "summary.txt", text)
    write_atomic(course.reports / "summary.json", json.dumps(summary, indent=1) + "\n")
    log(text)
    written = "breakdown.csv, flags.csv, summary.txt, class_report.html, class_report.csv"
    if mapped is not None:
        written += ", canvas.csv, moodle.csv"
    log(f"export: {course.reports / 'grades.csv'}, {written}")
    if problem is not None:
        raise problem
    return text
