"""The CSV files an instructor supplies (a roster, an LMS map), read one way.

UTF-8 with or without the byte-order mark a spreadsheet adds, a header row naming the
columns in any order, blank lines skipped, other columns ignored. A file that cannot be
read or used raises CsvFileError (a GraderError and a ValueError) naming the file and the
line, before anything is written anywhere. No value may hold < or >: formgrader writes the
students' names into its pages as HTML, unescaped, and the names often come from what
students typed into an LMS.
"""

import csv
import io
from pathlib import Path

from autograder.errors import GraderError

MARKUP_CHARACTERS = frozenset("<>")


class CsvFileError(GraderError, ValueError):
    """The file cannot be used; the message names the file and the line."""


def read_rows(path, columns, optional=(), filled=(), unique=(), needs=""):
    """The rows of the CSV file at `path`: dicts with the keys `columns` + `optional`
    (values stripped; "" for an empty or absent cell), in file order.

    columns -- the header must name them all
    optional -- columns that may be absent from the header
    filled -- columns that may not be empty in any row
    unique -- columns whose non-empty values may appear once (an "email" column is
              compared without case)
    needs -- what the file needs, said when the header falls short
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise CsvFileError(f"{path}: not UTF-8 text ({error.reason})") from None
    except OSError as error:  # missing, a folder, not readable
        raise CsvFileError(f"{path}: cannot be read ({error.strerror or error})") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [name.strip() for name in reader.fieldnames or []]
    if not header:
        raise CsvFileError(f"{path}: empty file; line 1 must be the header {','.join(columns)}")
    missing = [name for name in columns if name not in header]
    if missing:
        raise CsvFileError(
            f"{path}, line 1: the header has no column {', '.join(missing)} (it has "
            f"{', '.join(header)}); {needs}"
        )
    reader.fieldnames = header
    rows, seen = [], {}
    for record in reader:
        line = reader.line_num
        if None in record:
            raise CsvFileError(f"{path}, line {line}: more fields than the header has columns")
        row = {key: (record.get(key) or "").strip() for key in [*columns, *optional]}
        if not any(row.values()):
            continue  # a blank line
        for key, value in row.items():
            if MARKUP_CHARACTERS & set(value):
                raise CsvFileError(
                    f"{path}, line {line}: {key} {value[:40]!r} holds < or >, which formgrader "
                    "would show as HTML; remove them"
                )
        for key in filled:
            if not row[key]:
                raise CsvFileError(f"{path}, line {line}: empty {key}")
        for key in unique:
            value = row[key].lower() if key == "email" else row[key]
            if value and (key, value) in seen:
                raise CsvFileError(
                    f"{path}, line {line}: {key} {row[key]!r} is already on line "
                    f"{seen[key, value]}; each student must appear once"
                )
            seen.setdefault((key, value), line)
        rows.append(row)
    return rows
