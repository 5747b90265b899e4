"""Grades into the LMS: `export --lms-map FILE` writes reports/canvas.csv and
reports/moodle.csv. Fast: the export runs on hand-made gradebook rows (collect_rows is
replaced), the files are read back with the csv module and every expected value is
written out here, never computed by the code under test.
"""

import csv

import pytest
from autograder_support import run

from autograder import cli
from autograder.pipeline import export, lms_export
from autograder.pipeline.csvfile import CsvFileError

ITEM = "bnlab batchnorm"  # the grade item's column, in both files


def _grade(student, last, first, score, max_score="100"):
    return {
        "assignment": "batchnorm",
        "duedate": "",
        "timestamp": "",
        "student_id": student,
        "last_name": last,
        "first_name": first,
        "email": "",
        "raw_score": score,
        "late_submission_penalty": "0",
        "score": score,
        "max_score": max_score,
    }


def _summary(student, pending=0.0):
    return {
        "student": student,
        "notebooks": {},
        "auto": 0.0,
        "auto_max": 90.0,
        "manual": 0.0,
        "manual_max": 10.0,
        "pending": pending,
        "notes": [],
        "max": 100.0,
    }


# the graded students: ids, nbgrader names, grades.csv score, manual points still pending
GRADED = [
    ("ada", "Lovelace", "Ada", "97.5", 0.0),
    ("bob", "O'Brien, Jr.", 'Bob "B"', "88", 0.0),
    ("chloé", "Müller", "Chloé", "90", 4.0),  # a written answer still to grade by hand
    ("stray", "Nomap", "Stray", "55", 0.0),  # graded, but not in the map
]
GRADES = [_grade(s, last, first, score) for s, last, first, score, _ in GRADED]
SUMMARY = [_summary(s, pending) for s, _, _, _, pending in GRADED]

MAP_WITH_EMAIL = (
    "lms_id,nbgrader_id,name,email\n"
    '1001,ada,"Lovelace, Ada",ada@example.org\n'
    '1002,bob,"O\'Brien, Jr., Bob ""B""",bob@example.org\n'
    '1003,chloé,"Müller, Chloé",chloe@example.org\n'
    '1004,zoe,"Ng, Zoë",zoe@example.org\n'  # in the map, never graded
)


class FakeCourse:
    def __init__(self, root):
        self.reports = root / "reports"

    def prepare(self):
        self.reports.mkdir(parents=True, exist_ok=True)


@pytest.fixture
def run_export(tmp_path, monkeypatch):
    """run_export(map_text or None) -> (course, printed text): export() on GRADES."""
    monkeypatch.setattr(
        export, "collect_rows", lambda course: ([dict(g) for g in GRADES], [], [], SUMMARY)
    )

    def run(map_text, name="map.csv"):
        course = FakeCourse(tmp_path)
        lms_map = None
        if map_text is not None:
            lms_map = tmp_path / name
            lms_map.write_text(map_text, encoding="utf-8")
        printed = []
        export.export(course, log=printed.append, lms_map=lms_map)
        return course, "\n".join(printed)

    return run


def _read(path, encoding):
    with open(path, newline="", encoding=encoding) as handle:
        return list(csv.reader(handle))


# ------------------------------------------------------------------ canvas.csv


def test_canvas_file_has_canvas_columns_points_possible_and_every_mapped_score(run_export):
    course, _ = run_export(MAP_WITH_EMAIL)
    raw = (course.reports / "canvas.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with a BOM
    rows = _read(course.reports / "canvas.csv", "utf-8-sig")
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", ITEM]
    assert rows[1] == ["Points Possible", "", "", "", "", "100"]
    assert rows[2:] == [
        ["Lovelace, Ada", "1001", "", "", "", "97.5"],
        ['O\'Brien, Jr., Bob "B"', "1002", "", "", "", "88"],
        ["Müller, Chloé", "1003", "", "", "", ""],  # pending manual grade: empty
    ]


def test_every_canvas_and_moodle_score_is_the_grades_csv_score(run_export):
    course, _ = run_export(MAP_WITH_EMAIL)
    grades = {
        row["student_id"]: row["score"]
        for row in csv.DictReader(open(course.reports / "grades.csv", newline="", encoding="utf-8"))
    }
    lms_to_student = {"1001": "ada", "1002": "bob", "1003": "chloé"}
    email_to_student = {"ada@example.org": "ada", "bob@example.org": "bob"}
    with open(course.reports / "canvas.csv", newline="", encoding="utf-8-sig") as handle:
        canvas = [row for row in csv.DictReader(handle) if row["Student"] != "Points Possible"]
    assert len(canvas) == 3
    for row in canvas:
        student = lms_to_student[row["ID"]]
        expected = "" if student == "chloé" else grades[student]
        assert row[ITEM] == expected, row
    with open(course.reports / "moodle.csv", newline="", encoding="utf-8") as handle:
        moodle = list(csv.DictReader(handle))
    assert len(moodle) == 2
    for row in moodle:
        assert row[ITEM] == grades[email_to_student[row["Email address"]]], row


def test_canvas_names_come_from_nbgrader_when_the_map_has_none(run_export):
    course, _ = run_export("lms_id,nbgrader_id\nu-1,bob\nu-2,ada\n")
    rows = _read(course.reports / "canvas.csv", "utf-8-sig")
    assert rows[2:] == [
        ['O\'Brien, Jr., Bob "B"', "u-1", "", "", "", "88"],
        ["Lovelace, Ada", "u-2", "", "", "", "97.5"],
    ]


# ------------------------------------------------------------------ moodle.csv


def test_moodle_file_uses_email_when_the_map_gives_one(run_export):
    course, _ = run_export(MAP_WITH_EMAIL)
    raw = (course.reports / "moodle.csv").read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    raw.decode("utf-8")
    assert _read(course.reports / "moodle.csv", "utf-8") == [
        ["Email address", ITEM],
        ["ada@example.org", "97.5"],
        ["bob@example.org", "88"],
    ]


def test_moodle_file_uses_id_number_without_emails(run_export):
    course, _ = run_export('lms_id,nbgrader_id,name\n"S,01",ada,Ada\nS02,bob,Bob\nS03,stray,S\n')
    assert _read(course.reports / "moodle.csv", "utf-8") == [
        ["ID number", ITEM],
        ["S,01", "97.5"],
        ["S02", "88"],
        ["S03", "55"],
    ]


# ------------------------------------------------------------------ nothing lost silently


def test_unmapped_ungraded_and_pending_students_are_named(run_export):
    course, printed = run_export(MAP_WITH_EMAIL)
    summary = (course.reports / "summary.txt").read_text(encoding="utf-8")
    for text in (printed, summary):
        assert "IN THE MAP BUT NOT GRADED: 1 student(s)" in text
        assert "zoe (1004)" in text
        assert "GRADED BUT NOT IN THE MAP: 1 graded student(s)" in text
        assert ": stray." in text
        assert "MANUAL GRADING PENDING: 1 student(s)" in text
        assert "chloé (1003)" in text
        assert "3 student(s) in canvas.csv, 2 in moodle.csv" in text
    assert "canvas.csv, moodle.csv" in printed


def test_without_a_map_nothing_changes(run_export):
    course, printed = run_export(None)
    assert not (course.reports / "canvas.csv").exists()
    assert not (course.reports / "moodle.csv").exists()
    summary = (course.reports / "summary.txt").read_text(encoding="utf-8")
    assert "LMS" not in summary and "NOT IN THE MAP" not in summary
    assert summary == export.table(SUMMARY)


def test_a_map_saved_with_a_bom_and_blank_lines_reads(tmp_path):
    path = tmp_path / "map.csv"
    path.write_bytes("\ufefflms_id,nbgrader_id,email\r\n\r\n7,ada,\r\n".encode())
    assert lms_export.read_lms_map(path) == [
        {"lms_id": "7", "nbgrader_id": "ada", "name": "", "email": ""}
    ]


# ------------------------------------------------------------------ malformed maps


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("lms_id,name\n1,Ada\n", "line 1: the header has no column nbgrader_id"),
        ("id,student\n1,ada\n", "line 1: the header has no column lms_id, nbgrader_id"),
        ("", "empty file"),
        ("lms_id,nbgrader_id\n1,ada\n2,bob\n1,chloé\n", "line 4: lms_id '1' is already on line 2"),
        ("lms_id,nbgrader_id\n1,ada\n2,ada\n", "line 3: nbgrader_id 'ada' is already on line 2"),
        (
            "lms_id,nbgrader_id,email\n1,ada,a@x.org\n2,bob,A@X.org\n",
            "line 3: email 'A@X.org' is already on line 2",
        ),
        ("lms_id,nbgrader_id\n1,ada\n,bob\n", "line 3: empty lms_id"),
        ("lms_id,nbgrader_id\n1,ada\n2,\n", "line 3: empty nbgrader_id"),
        ("lms_id,nbgrader_id\n1,ada,extra\n", "line 2: more fields than the header"),
    ],
)
def test_a_malformed_map_is_an_error_naming_the_line(tmp_path, text, message):
    path = tmp_path / "map.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CsvFileError) as error:
        lms_export.read_lms_map(path)
    assert message in str(error.value)
    assert str(path) in str(error.value)


def test_a_malformed_map_stops_export_before_writing(tmp_path, capsys):
    path = tmp_path / "map.csv"
    path.write_text("lms_id,nbgrader_id\n1,ada\n1,bob\n", encoding="utf-8")
    course = tmp_path / "course"
    assert cli.main(["export", "--course", str(course), "--lms-map", str(path)]) == 1
    error = capsys.readouterr().err
    assert error.startswith("export: ")
    assert "line 3: lms_id '1' is already on line 2" in error
    assert not course.exists()


def test_a_missing_map_file_is_an_error(tmp_path, capsys):
    course = tmp_path / "course"
    missing = tmp_path / "nope.csv"
    assert cli.main(["export", "--course", str(course), "--lms-map", str(missing)]) == 1
    assert "nope.csv" in capsys.readouterr().err


def test_export_takes_lms_map():
    args = cli.parse_args(["export", "--course", "c", "--lms-map", "ids.csv"])
    assert args.lms_map == "ids.csv"


@pytest.mark.slow
def test_export_without_a_release_is_one_line_and_exit_1(tmp_path):
    result = run("export", tmp_path / "course", check=False, timeout=300)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr == (
        "export: the gradebook has no assignment 'batchnorm': run `python -m autograder release`\n"
    )
