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

from autograder.errors import GraderError
from autograder.pipeline.csvfile import read_rows
from autograder.workspace import COURSE_ID

COLUMNS = ["id", "first_name", "last_name", "email"]
FIELDS = COLUMNS[1:]  # what is stored for each student


class RosterError(GraderError):
    """No roster file was named."""


def read_roster(path):
    """The students of the roster at `path`: a list of dicts with the keys of COLUMNS
    (values stripped; "" for an empty cell), in file order. Raises
    csvfile.CsvFileError naming the line: a missing column, an empty or repeated id."""
    return read_rows(
        path,
        COLUMNS,
        filled=["id"],
        unique=["id"],
        needs=f"a roster needs the columns {', '.join(COLUMNS)}",
    )


def load_roster(course, path, log=print):
    """Add or update the students of the roster at `path` in the gradebook of `course`.
    Returns {"added": [ids], "updated": [ids], "unchanged": [ids]}. Raises RosterError
    without a `path`, csvfile.CsvFileError for a file that cannot be used."""
    from nbgrader.api import Gradebook, MissingEntry

    if not path:
        raise RosterError("roster needs --from FILE, a CSV file of the students")
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
