"""Grades into Canvas or Moodle: the files export writes with --lms-map FILE.

FILE is a CSV file mapping LMS ids to nbgrader ids (read_lms_map). Written into reports/:
canvas.csv    Canvas's gradebook import file (Grades > Import): Student, ID, SIS User ID,
              SIS Login ID, Section and one assignment column, a "Points Possible" row,
              one row per mapped graded student.
moodle.csv    Moodle's grade import file (Grades > Import > CSV file): an identifier
              column (Email address, or ID number) and the grade.
A student whose written answer still needs manual grading gets an empty cell in
canvas.csv and no row in moodle.csv (no provisional number reaches the LMS). Such
students, students of the map who were not graded and graded students missing from the
map are named in the report lines (export prints them and adds them to summary.txt).
No CSV cell is a formula (autograder.grading.inert.csv_row); each file is written whole.
"""

import csv
import io
from pathlib import Path

from autograder.grading.inert import csv_row
from autograder.pipeline.csvfile import read_rows
from autograder.workspace import COURSE_ID, write_atomic
from bnlab.course import ASSIGNMENT

LMS_MAP_COLUMNS = ["lms_id", "nbgrader_id"]  # required; "name" and "email" are optional
LMS_MAP_OPTIONAL = ["name", "email"]
LMS_ITEM = f"{COURSE_ID} {ASSIGNMENT}"  # the grade item's name in Canvas and Moodle
CANVAS_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", LMS_ITEM]


def read_lms_map(path):
    """The rows of the LMS map at `path`: a CSV file with a header row and the columns
    lms_id and nbgrader_id (required), name and email (optional; other columns are
    ignored). Returns a list of dicts with the four keys ("" where absent), in file order.
    Raises csvfile.CsvFileError naming the line for a missing column, an empty id, or an
    lms_id, nbgrader_id or email used twice."""
    return read_rows(
        path,
        LMS_MAP_COLUMNS,
        optional=LMS_MAP_OPTIONAL,
        filled=LMS_MAP_COLUMNS,
        unique=[*LMS_MAP_COLUMNS, "email"],
        needs="the map needs lms_id and nbgrader_id, name and email are optional",
    )


def _student_name(mapped, grade):
    """The name Canvas shows, "Last, First" as in its own export: the map's, else nbgrader's."""
    if mapped["name"]:
        return mapped["name"]
    parts = [grade["last_name"], grade["first_name"]]
    return ", ".join(part for part in parts if part) or grade["student_id"]


def lms_files(grades, summary, lms_map, out_of):
    """(canvas rows, moodle header, moodle rows, report lines) for the graded `grades` rows,
    the `summary` rows and the LMS map's rows (read_lms_map); `out_of`: the maximum score,
    as grades.csv writes it. A student's score is the `score` of grades.csv; empty while a
    written answer is pending."""
    pending = {row["student"] for row in summary if row["pending"]}
    by_student = {grade["student_id"]: grade for grade in grades}
    use_email = bool(lms_map) and all(row["email"] for row in lms_map)
    moodle_id = "Email address" if use_email else "ID number"
    canvas = [{"Student": "Points Possible", LMS_ITEM: out_of}]
    moodle = []
    for mapped in lms_map:
        grade = by_student.get(mapped["nbgrader_id"])
        if grade is None:
            continue
        score = "" if grade["student_id"] in pending else grade["score"]
        canvas.append(
            {"Student": _student_name(mapped, grade), "ID": mapped["lms_id"], LMS_ITEM: score}
        )
        if score:  # Moodle reads an empty cell as "no grade" and would clear one: leave it out
            moodle.append(
                {moodle_id: mapped["email"] if use_email else mapped["lms_id"], LMS_ITEM: score}
            )
    mapped_ids = {row["nbgrader_id"] for row in lms_map}
    not_graded = [row for row in lms_map if row["nbgrader_id"] not in by_student]
    unmapped = [grade["student_id"] for grade in grades if grade["student_id"] not in mapped_ids]
    waiting = [row for row in lms_map if row["nbgrader_id"] in pending]
    lines = [
        f"LMS files: {len(canvas) - 1} student(s) in canvas.csv, {len(moodle)} in moodle.csv "
        f"(grade item '{LMS_ITEM}', out of {out_of}; moodle.csv "
        f"identifies students by {moodle_id})."
    ]
    if waiting:
        lines.append(
            f"NO GRADE YET, MANUAL GRADING PENDING: {len(waiting)} student(s) have a written "
            "answer not yet graded by hand: their cell in canvas.csv is empty and they are "
            "left out of moodle.csv, so neither LMS records a provisional grade; grade the "
            "answer in formgrader and run export again: "
            + ", ".join(f"{row['nbgrader_id']} ({row['lms_id']})" for row in waiting)
            + "."
        )
    if not_graded:
        lines.append(
            f"IN THE MAP BUT NOT GRADED: {len(not_graded)} student(s) of the LMS map have no "
            "graded submission and are not in the LMS files: "
            + ", ".join(f"{row['nbgrader_id']} ({row['lms_id']})" for row in not_graded)
            + "."
        )
    if unmapped:
        lines.append(
            f"GRADED BUT NOT IN THE MAP: {len(unmapped)} graded student(s) have no line in "
            "the LMS map, so their grade is not in the LMS files (add them to the map): "
            + ", ".join(unmapped)
            + "."
        )
    return canvas, moodle_id, moodle, lines


def _csv_text(columns, rows):
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=columns)
    writer.writeheader()
    writer.writerows(csv_row(row) for row in rows)  # no cell a spreadsheet runs as a formula
    return text.getvalue()


def write_lms_files(reports, grades, summary, lms_map, out_of):
    """Write reports/canvas.csv and reports/moodle.csv into the folder `reports` (lms_files);
    returns the report lines."""
    canvas, moodle_id, moodle, lines = lms_files(grades, summary, lms_map, out_of)
    # Canvas: UTF-8 with a BOM, as its own gradebook export, so a spreadsheet opened on
    # the way shows accents right. Moodle: plain UTF-8, comma-separated (its defaults).
    write_atomic(Path(reports) / "canvas.csv", "\ufeff" + _csv_text(CANVAS_COLUMNS, canvas))
    write_atomic(Path(reports) / "moodle.csv", _csv_text([moodle_id, LMS_ITEM], moodle))
    return lines
