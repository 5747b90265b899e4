"""Step 5, export: grades.csv, breakdown.csv, flags.csv and a summary table.

reports/grades.csv    nbgrader's columns (assignment, duedate, timestamp,
                      student_id, last_name, first_name, email, raw_score,
                      late_submission_penalty, score, max_score), one row per
                      student, written with the csv module (names with commas
                      stay in their column). A written answer that still needs
                      manual grading counts 0 here until it is graded.
reports/breakdown.csv one row per student and graded item: the points, and
                      the status (passed, failed, timeout, memory, not
                      submitted, invalid notebook, could not be graded, needs
                      manual grading, manually graded, not answered).
reports/flags.csv     one row per review flag: code that could fake a pass.
reports/summary.txt   the table printed on the terminal: per-notebook
                      autograded scores, the autograded total, the manual
                      answer (pending, or its score), the total, and notes;
                      below it, how many students were graded without a
                      memory limit (--memory-limit 0), if any.
Every file is written whole (workspace.write_atomic): a reader never sees half of one.
"""

import csv
import io
import json

from autograder.reports import read_report
from autograder.workspace import COURSE_ID, MANUAL_ANSWERS, write_atomic
from bnlab.course import ASSIGNMENT, NOTEBOOKS

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
]
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
    from nbgrader.api import Gradebook

    grades, breakdown, flags, summary = [], [], [], []
    with Gradebook(course.db_url, COURSE_ID) as gradebook:
        assignment = gradebook.find_assignment(ASSIGNMENT)
        duedate = assignment.duedate.isoformat() if assignment.duedate else ""
        submissions = sorted(
            gradebook.assignment_submissions(ASSIGNMENT), key=lambda s: s.student.id
        )
        for submission in submissions:
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
            for notebook in sorted(submission.notebooks, key=lambda n: n.name):
                info = report.get("notebooks", {}).get(notebook.name, {})
                cells = info.get("cells", {})
                nb_score = nb_max = 0.0
                for grade in sorted(notebook.grades, key=lambda g: _order(notebook.name, g.name)):
                    manual = grade.name in MANUAL_ANSWERS
                    status, detail = _status(grade, info, cells, manual)
                    score = None if grade.needs_manual_grade else float(grade.score)
                    breakdown.append(
                        {
                            "student_id": student.id,
                            "notebook": notebook.name,
                            "item": _item(grade.name),
                            "grade_id": grade.name,
                            "kind": "manual" if manual else "autograded",
                            "score": _number(score),
                            "max_score": _number(grade.max_score),
                            "status": status,
                            "detail": detail,
                        }
                    )
                    if manual:
                        row["manual_max"] += grade.max_score
                        if score is None:
                            row["pending"] += grade.max_score
                        else:
                            row["manual"] += score
                    else:
                        nb_score += score or 0.0
                        nb_max += grade.max_score
                row["notebooks"][notebook.name] = (nb_score, nb_max)
                row["auto"] += nb_score
                row["auto_max"] += nb_max
            row["max"] = submission.max_score
            row["notes"] = _notes(report)
            row["memory_limit"] = report.get("memory_limit")  # None: not recorded
            row["sandbox"] = report.get("sandbox")  # False: graded with --no-sandbox
            summary.append(row)
            for flag in report.get("flags", []):
                flags.append({"student_id": student.id, **{k: flag[k] for k in FLAG_COLUMNS[1:]}})
    return grades, breakdown, flags, summary


def _order(stem, grade_id):
    names = NOTEBOOKS.get(stem, [])
    item = _item(grade_id)
    return names.index(item) if item in names else len(names)


def _status(grade, info, cells, manual):
    notebook_status = info.get("status", "ok")
    if notebook_status != "ok":
        return STATUS_OF_NOTEBOOK.get(notebook_status, notebook_status), info.get("message", "")
    if manual:
        if grade.needs_manual_grade:
            return "needs manual grading", "a written answer: grade it in formgrader"
        if grade.manual_score is not None:
            return "manually graded", ""
        return "not answered", "left as released"
    status, detail = cells.get(grade.name, (None, ""))
    if status is None:
        status = "passed" if grade.score >= grade.max_score else "failed"
    return status, detail


def _notes(report):
    if report.get("crashed"):  # every notebook scored 0 for the same reason
        first = next(iter(report.get("notebooks", {}).values()), {}).get("message", "")
        return ["NOT GRADED: " + first.partition(" could not be graded ")[2].strip("()")]
    notes = []
    for stem, info in report.get("notebooks", {}).items():
        if info.get("status") != "ok":
            notes.append(f"{stem}.ipynb {STATUS_OF_NOTEBOOK.get(info['status'], info['status'])}")
        touched = info.get("restored_tests", []) + info.get("changed_tests", [])
        if touched:
            notes.append(f"{stem[:2]}: test cell(s) {', '.join(sorted(touched))} restored")
        for grade_id, (status, _detail) in sorted(info.get("cells", {}).items()):
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
    writer.writerows(rows)
    write_atomic(path, text.getvalue())


def table(summary):
    """The summary table, as text."""
    stems = list(NOTEBOOKS)
    maxima = {}
    for row in summary:
        for stem, (_, top) in row["notebooks"].items():
            maxima[stem] = top
    manual_names = ", ".join(MANUAL_ANSWERS)
    auto_max = summary[0]["auto_max"] if summary else 0
    manual_max = summary[0]["manual_max"] if summary else 0
    total_max = summary[0]["max"] if summary else 0
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
        if row["pending"]:
            cells.append("pending")
            cells.append(f"{_number(row['auto'] + row['manual'])}+?")
        else:
            cells.append(_number(row["manual"]))
            cells.append(_number(row["auto"] + row["manual"]))
        cells.append("; ".join(row["notes"]))
        lines.append(cells)
    widths = [max(len(str(c)) for c in column) for column in zip(header, *lines)] if lines else []
    widths = widths[:-1] + [0]

    def fmt(cells):
        first = str(cells[0]).ljust(widths[0])
        middle = [str(c).rjust(w) for c, w in zip(cells[1:-1], widths[1:-1])]
        return "  ".join([first, *middle, str(cells[-1])]).rstrip()

    out = [fmt(header), fmt(["-" * widths[0], *["-" * w for w in widths[1:-1]], "-----"])]
    out += [fmt(cells) for cells in lines]
    pending = sum(1 for row in summary if row["pending"])
    out.append("")
    answers = (
        f"the written answer {manual_names} ({_number(manual_max)} points) is"
        if len(MANUAL_ANSWERS) == 1
        else f"the written answers {manual_names} ({_number(manual_max)} points in all) are"
    )
    out.append(
        f"{len(summary)} student(s). 'auto' is the autograded total out of {_number(auto_max)}; "
        f"{answers} graded by hand: 'pending' means one still needs manual grading "
        f"({pending} student(s)), and 'total' then shows the points so far followed by +?."
    )
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
    return "\n".join(out) + "\n"


def export(course, log=print):
    """Run step 5; returns the summary table's text."""
    course.prepare()
    grades, breakdown, flags, summary = collect_rows(course)
    _write_csv(course.reports / "grades.csv", GRADES_COLUMNS, grades)
    _write_csv(course.reports / "breakdown.csv", BREAKDOWN_COLUMNS, breakdown)
    _write_csv(course.reports / "flags.csv", FLAG_COLUMNS, flags)
    text = table(summary)
    write_atomic(course.reports / "summary.txt", text)
    write_atomic(course.reports / "summary.json", json.dumps(summary, indent=1) + "\n")
    log(text)
    log(f"export: {course.reports / 'grades.csv'}, breakdown.csv, flags.csv, summary.txt")
    return text
