"""The class roster: students' names and emails into the gradebook.

    python -m autograder roster --from roster.csv

roster.csv is UTF-8 (a byte-order mark, as spreadsheets write, is fine) with a
header row naming the columns id, first_name, last_name and email (in any order;
other columns are ignored), then one line per student. Each student is added to
the gradebook, or updated: the names and email of the file replace the
gradebook's, except that an empty cell leaves what the gradebook has. formgrader
and grades.csv then show the names; `collect` and `grade` never change them.

The whole file is checked before anything is written: a missing column, an empty
or repeated id, or a line with more fields than the header stops the command with
an error naming the file and the line, and the gradebook is left as it was.
"""

import csv
import io
from pathlib import Path

from autograder.workspace import COURSE_ID

COLUMNS = ["id", "first_name", "last_name", "email"]
FIELDS = COLUMNS[1:]  # what is stored for each student


class RosterError(ValueError):
    """The roster file cannot be used; the message names the file and the line."""


def read_roster(path):
    """The students of the roster at `path`: a list of dicts with the keys of COLUMNS
    (values stripped; "" for an empty cell), in file order. Raises RosterError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise RosterError(f"{path}: not UTF-8 text ({error.reason})") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [name.strip() for name in reader.fieldnames or []]
    if not header:
        raise RosterError(f"{path}: empty file; line 1 must be the header {','.join(COLUMNS)}")
    missing = [name for name in COLUMNS if name not in header]
    if missing:
        raise RosterError(
            f"{path}, line 1: the header has no column {', '.join(missing)} (it has "
            f"{', '.join(header)}); a roster needs the columns {', '.join(COLUMNS)}"
        )
    reader.fieldnames = header
    students, seen = [], {}
    for record in reader:
        line = reader.line_num
        if None in record:
            raise RosterError(f"{path}, line {line}: more fields than the header has columns")
        row = {key: (record.get(key) or "").strip() for key in COLUMNS}
        if not any(row.values()):
            continue  # a blank line
        if not row["id"]:
            raise RosterError(f"{path}, line {line}: empty id")
        if row["id"] in seen:
            raise RosterError(
                f"{path}, line {line}: id {row['id']!r} is already on line {seen[row['id']]}"
            )
        seen[row["id"]] = line
        students.append(row)
    return students


def load_roster(course, path, log=print):
    """Add or update the students of the roster at `path` in the gradebook of `course`.
    Returns {"added": [ids], "updated": [ids], "unchanged": [ids]}."""
    from nbgrader.api import Gradebook, MissingEntry

    students = read_roster(path)  # a bad file stops here, before the gradebook is opened
    course.prepare()
    course.apply_environ()  # nbgrader's gradebook runs alembic from this environment
    outcome = {"added": [], "updated": [], "unchanged": []}
    with Gradebook(course.db_url, COURSE_ID) as gradebook:
        for row in students:
            values = {key: row[key] for key in FIELDS if row[key]}
            try:
                known = gradebook.find_student(row["id"])
            except MissingEntry:
                gradebook.update_or_create_student(row["id"], **values)
                outcome["added"].append(row["id"])
                continue
            if all(getattr(known, key) == value for key, value in values.items()):
                outcome["unchanged"].append(row["id"])
            else:
                gradebook.update_or_create_student(row["id"], **values)
                outcome["updated"].append(row["id"])
    log(_summary(path, outcome))
    return outcome


def _summary(path, outcome):
    parts = []
    for what in ("added", "updated"):
        ids = outcome[what]
        parts.append(f"{len(ids)} {what}" + (f" ({', '.join(ids)})" if ids else ""))
    parts.append(f"{len(outcome['unchanged'])} unchanged")
    return f"roster: {', '.join(parts)}, from {path}"
