"""The class report (autograder.pipeline.class_report): its numbers, its safety, its step.

- On rows written out here (a small class with every outcome, a hostile student id and
  hostile messages), the report's CSV holds exactly the counts worked out by hand
  below; the page shows every payload as text and runs none; a class with nobody
  graded, or a notebook nobody handed in, gives a page that says so.
- On the shared graded course (already exported, so its report is written by export):
  the counts per function and per mistake, and the points lost, equal a count made
  here from reports/breakdown.csv; the passes equal what the samples' definitions
  expect; the page is inert and offline, its plots are PNG images, and its tables hold
  the CSV's numbers.
- The step `report`: `--help`, a clear error without a release, and a real attack
  through a copy of the graded course's gradebook and reports.
"""

import base64
import csv
import io
import json
import re
import shutil
import sqlite3
import struct
import subprocess
from collections import Counter, defaultdict

import pytest
from autograder_support import PYTHON, ROOT, e2e_samples, pipeline_env, points, read_csv

from autograder.content.mistakes import all_mistakes
from autograder.pipeline.class_report import CSV_COLUMNS, write_class_report
from autograder.workspace import Course
from bnlab.course import GRADED_FUNCTIONS, NOTEBOOKS, WRITTEN_ANSWERS

HOSTILE_ID = "=cmd|' -C calc'!A0<img src=x onerror=alert(1)>"  # no slash: a file name
SCRIPT_DETAIL = "ValueError: <script>document.title='XSS:detail'</script>"
FORMULA_DETAIL = "=1+1"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# What the page may hold: these elements, these attributes, images as PNG data only.
ELEMENTS = set(
    "html head meta title style body h1 h2 p b code ol ul li table thead tbody tr th td "
    "img details summary".split()
)
ATTRIBUTES = {"lang", "charset", "http-equiv", "content", "id", "class", "src", "alt"}
ATTRIBUTES |= {"data-function", "data-mistake", "data-answer"}


def _row(student, item, status, score, top, detail="", mistake=""):
    stem = next((s for s, names in NOTEBOOKS.items() if item in names), WRITTEN_ANSWERS.get(item))
    return {
        "student_id": student,
        "notebook": stem,
        "item": item,
        "grade_id": item if item in WRITTEN_ANSWERS else f"test_{item}",
        "kind": "manual" if item in WRITTEN_ANSWERS else "autograded",
        "score": score,
        "max_score": top,
        "status": status,
        "detail": detail,
        "mistake": mistake,
    }


def crafted_rows():
    """A class of seven: every outcome of batchnorm_forward (8 points),
    linear_bn_activation_forward (4) and the written answer why_no_b (4); eve's rows
    could not be exported; mal's id and messages are hostile."""
    bf, lf, why = "batchnorm_forward", "linear_bn_activation_forward", "why_no_b"
    return [
        _row("ada", bf, "passed", "8", "8"),
        _row("ada", lf, "timeout", "0", "4", "stopped: the cell ran longer than the time limit"),
        _row("ada", why, "manually graded", "3", "4"),
        _row("bob", bf, "failed", "0", "8", "AssertionError: Wrong values", "wrong_axis"),
        _row("bob", lf, "failed", "2", "4", "TypeError: unsupported operand"),
        _row("bob", why, "manually graded", "3", "4"),
        _row("cy", bf, "failed", "0", "8", "NotImplementedError: "),
        _row("cy", lf, "memory", "0", "4", "MemoryError: out of memory"),
        _row("cy", why, "needs manual grading", "", "4"),
        _row("dee", bf, "not submitted", "0", "8", "01_forward_bn.ipynb was not submitted"),
        _row("dee", lf, "not submitted", "0", "4", "01_forward_bn.ipynb was not submitted"),
        _row("dee", why, "not submitted", "0", "4", "03_removing_b.ipynb was not submitted"),
        {"student_id": "eve", "status": "could not be exported", "detail": "could not be ..."},
        _row("fay", bf, "invalid notebook", "0", "8", "not a valid notebook"),
        _row("fay", lf, "invalid notebook", "0", "4", "not a valid notebook"),
        _row("fay", why, "invalid notebook", "0", "4", "not a valid notebook"),
        _row(HOSTILE_ID, bf, "failed", "0", "8", FORMULA_DETAIL, "unknown"),
        _row(HOSTILE_ID, lf, "failed", "0", "4", SCRIPT_DETAIL),
        _row(HOSTILE_ID, why, "not answered", "0", "4", "left as released"),
    ]


def _written(tmp_path, rows):
    course = Course(tmp_path / "course")
    html_path, csv_path = write_class_report(course, rows, log=lambda line: None)
    return html_path.read_text(encoding="utf-8"), read_csv(csv_path)


def _pick(rows, **where):
    return [r for r in rows if all(r[k] == v for k, v in where.items())]


def _numbers(row, *keys):
    return {key: row[key] for key in keys}


@pytest.fixture(scope="module")
def crafted(tmp_path_factory):
    """(page, CSV rows) of the class of crafted_rows, written once for the module."""
    return _written(tmp_path_factory.mktemp("crafted"), crafted_rows())


def test_the_counts_of_a_crafted_class_are_those_worked_out_by_hand(crafted):
    _, rows = crafted
    assert list(rows[0]) == CSV_COLUMNS
    assert _pick(rows, row="class")[0]["count"] == "7"
    keys = ("count", "passed", "failed", "not_attempted", "not_graded")
    keys += ("points_lost", "points_possible")
    (first,) = _pick(rows, row="function", item="batchnorm_forward")
    assert _numbers(first, *keys) == dict(zip(keys, ["7", "1", "2", "2", "2", "40", "48"]))
    (second,) = _pick(rows, row="function", item="linear_bn_activation_forward")
    assert _numbers(second, *keys) == dict(zip(keys, ["7", "0", "4", "1", "2", "22", "24"]))
    for name in GRADED_FUNCTIONS[2:]:  # no row at all: not graded
        (other,) = _pick(rows, row="function", item=name)
        assert _numbers(other, *keys) == dict(zip(keys, ["7", "0", "0", "0", "7", "0", "0"]))
    assert [r["item"] for r in _pick(rows, row="function")] == GRADED_FUNCTIONS

    hint = next(
        m.hint for m in all_mistakes() if (m.function, m.id) == (GRADED_FUNCTIONS[0], "wrong_axis")
    )
    causes = [
        (r["item"], r["mistake"], r["count"], r["students"]) for r in _pick(rows, row="mistake")
    ]
    assert causes == [
        ("batchnorm_forward", "wrong_axis", "1", "bob"),
        ("batchnorm_forward", "unknown", "1", "'" + HOSTILE_ID),
        ("linear_bn_activation_forward", "error", "2", f"bob {HOSTILE_ID}"),
        ("linear_bn_activation_forward", "time limit", "1", "ada"),
        ("linear_bn_activation_forward", "out of memory", "1", "cy"),
    ]
    assert _pick(rows, row="mistake", mistake="wrong_axis")[0]["text"] == hint
    messages = sorted((r["item"], r["text"], r["count"]) for r in _pick(rows, row="message"))
    assert messages == [
        ("batchnorm_forward", "'" + FORMULA_DETAIL, "1"),
        ("linear_bn_activation_forward", "TypeError: unsupported operand", "1"),
        ("linear_bn_activation_forward", SCRIPT_DETAIL, "1"),
    ]

    answer_keys = ("count", "pending", "not_attempted", "not_graded", "points_possible")
    (why,) = _pick(rows, row="written answer", item="why_no_b")
    assert _numbers(why, *answer_keys) == dict(zip(answer_keys, ["2", "1", "2", "2", "4"]))
    assert [(r["score"], r["count"]) for r in _pick(rows, row="answer score")] == [("3", "2")]
    for name in ("running_or_recomputed", "b_before_layer_norm"):
        (other,) = _pick(rows, row="written answer", item=name)
        assert _numbers(other, "count", "pending", "not_graded") == {
            "count": "0",
            "pending": "0",
            "not_graded": "7",
        }


def _elements(page):
    from bs4 import BeautifulSoup

    return BeautifulSoup(page, "html.parser").find_all(True)


def inert_problems(page):
    """What in `page` could run, load or send anything: elements and attributes outside
    ELEMENTS and ATTRIBUTES, on* attributes, images that are not PNG data, URLs."""
    found = []
    for element in _elements(page):
        if element.name not in ELEMENTS:
            found.append(f"<{element.name}>")
        for name, value in element.attrs.items():
            if name not in ATTRIBUTES or name.startswith("on"):
                found.append(f"<{element.name} {name}>")
            if name == "src" and not str(value).startswith("data:image/png;base64,"):
                found.append(f"<{element.name} src={str(value)[:40]}>")
    policy = [e for e in _elements(page) if e.name == "meta" and e.get("http-equiv")]
    if not policy or "default-src 'none'" not in policy[0].get("content", ""):
        found.append("no Content-Security-Policy default-src 'none'")
    return found


def test_hostile_ids_and_messages_are_text_in_the_page_and_no_formula_in_the_csv(crafted):
    page, rows = crafted
    assert inert_problems(page) == []
    assert "<script" not in page.lower() and "<img src=x" not in page
    from bs4 import BeautifulSoup

    text = BeautifulSoup(page, "html.parser").get_text()
    assert HOSTILE_ID in text and SCRIPT_DETAIL in text and FORMULA_DETAIL in text  # as text
    for row in rows:
        for key, value in row.items():
            assert not value.startswith(FORMULA_START) or re.fullmatch(r"-?[\d.]+", value), (
                key,
                value,
            )


def test_the_inert_check_finds_an_active_page():
    """The check of the test above sees a script, an on* attribute and a remote image."""
    page = (
        "<html><head><meta http-equiv='Content-Security-Policy' content=\"default-src 'none'\">"
        "</head><body><script>x</script><p onclick='x'>a</p><img src='https://e/x.png'>"
        "</body></html>"
    )
    assert inert_problems(page) == ["<script>", "<p onclick>", "<img src=https://e/x.png>"]


def test_a_class_with_nobody_graded_gives_a_page_that_says_so(tmp_path):
    page, rows = _written(tmp_path, [])
    assert "No student has been graded yet" in page
    assert "<img" not in page and inert_problems(page) == []
    assert _pick(rows, row="class")[0]["count"] == "0"
    assert {r["passed"] for r in _pick(rows, row="function")} == {"0"}


def test_a_notebook_nobody_handed_in_is_named(tmp_path):
    rows = []
    for student in ("ada", "bob"):
        for stem, names in NOTEBOOKS.items():
            for name in names:
                if stem == "05_optimizers":
                    rows.append(_row(student, name, "not submitted", "0", "2", "not submitted"))
                else:
                    rows.append(_row(student, name, "passed", "2", "2"))
    page, table = _written(tmp_path, rows)
    named = re.findall(r"Nobody handed in <code>([^<]*)</code>", page)
    assert named == ["05_optimizers.ipynb"]
    for name in NOTEBOOKS["05_optimizers"]:
        (row,) = _pick(table, row="function", item=name)
        assert (row["not_attempted"], row["passed"], row["points_lost"]) == ("2", "0", "4")
    assert inert_problems(page) == [] and page.count('src="data:image/png;base64,') == 3


# ------------------------------------------------------------------ the step


def _step(*args, **kwargs):
    return subprocess.run(
        [PYTHON, "-m", "autograder", *map(str, args)],
        cwd=ROOT,
        env=pipeline_env(),
        capture_output=True,
        text=True,
        timeout=300,
        **kwargs,
    )


def test_report_help_says_what_it_writes():
    result = _step("report", "--help")
    assert result.returncode == 0, result.stderr
    words = " ".join(result.stdout.split())
    assert words.startswith("usage: python -m autograder report [-h] [--course DIR] [--db-url URL]")
    assert "Write the class report (reports/class_report.html and .csv)" in words


def test_report_without_a_release_is_a_clear_error(tmp_path):
    course = tmp_path / "course"
    result = _step("report", "--course", course)
    assert result.returncode == 1
    assert result.stderr == "report: no release yet: run `python -m autograder release` first\n"
    assert not course.exists()  # nothing made: no gradebook, no folder


# ------------------------------------------------------------------ the graded course


def independent_counts(breakdown):
    """From breakdown.csv's rows, by the definitions of the page: per function the
    students of each outcome, per (function, cause) the students, the points lost and
    possible."""
    students = {row["student_id"] for row in breakdown}
    outcomes, causes = defaultdict(Counter), Counter()
    lost, possible, seen = Counter(), Counter(), defaultdict(set)
    for row in breakdown:
        name, status = row["item"], row["status"]
        if name not in GRADED_FUNCTIONS:
            continue
        seen[name].add(row["student_id"])
        stub = status == "failed" and row["detail"].startswith("NotImplementedError")
        if status == "passed":
            outcomes[name]["passed"] += 1
        elif status == "not submitted" or stub:
            outcomes[name]["not_attempted"] += 1
        elif status in ("failed", "timeout", "memory"):
            outcomes[name]["failed"] += 1
            named = {"timeout": "time limit", "memory": "out of memory"}.get(status)
            causes[name, named or row.get("mistake") or "error"] += 1
        else:
            outcomes[name]["not_graded"] += 1
        lost[name] += float(row["max_score"]) - float(row["score"] or 0)
        possible[name] += float(row["max_score"])
    for name in GRADED_FUNCTIONS:
        outcomes[name]["not_graded"] += len(students - seen[name])
    return students, outcomes, causes, lost, possible


@pytest.fixture(scope="module")
def graded_report(graded_course):
    reports = graded_course.course / "reports"
    page = (reports / "class_report.html").read_text(encoding="utf-8")
    return page, read_csv(reports / "class_report.csv"), read_csv(reports / "breakdown.csv")


@pytest.mark.slow
def test_the_graded_course_report_counts_what_breakdown_csv_holds(graded_course, graded_report):
    _, rows, breakdown = graded_report
    assert "mistake" in breakdown[0]  # the column the causes come from
    students, outcomes, causes, lost, possible = independent_counts(breakdown)
    assert (
        _pick(rows, row="class")[0]["count"]
        == str(len(students))
        == str(len(graded_course.students))
    )
    for name in GRADED_FUNCTIONS:
        (row,) = _pick(rows, row="function", item=name)
        for kind in ("passed", "failed", "not_attempted", "not_graded"):
            assert int(row[kind]) == outcomes[name][kind], (name, kind)
        assert float(row["points_lost"]) == pytest.approx(lost[name]), name
        assert float(row["points_possible"]) == pytest.approx(possible[name]), name
    found = {(r["item"], r["mistake"]): int(r["count"]) for r in _pick(rows, row="mistake")}
    assert found == dict(causes)


@pytest.mark.slow
def test_the_graded_course_report_agrees_with_the_samples_definitions(graded_course, graded_report):
    """Independent of the breakdown: the passes are the samples that should earn a
    function's points, the untouched release counts as not attempting every function, and
    each classic mistake's sample is named under its mistake, with its hint."""
    page, rows, _ = graded_report
    samples = [s for s in e2e_samples() if s.student in graded_course.students]
    top = points()
    for name in GRADED_FUNCTIONS:
        (row,) = _pick(rows, row="function", item=name)
        assert int(row["passed"]) == sum(s.expected_fraction(name) == 1.0 for s in samples), name
        assert int(row["not_attempted"]) >= 1  # the release, untouched
        assert float(row["points_possible"]) == top[name] * len(samples)
    for mistake in all_mistakes():
        student = f"mistake-{mistake.function}-{mistake.id}"
        if student in graded_course.students:
            (row,) = _pick(rows, row="mistake", item=mistake.function, mistake=mistake.id)
            assert student in row["students"].split(), row
            assert row["text"] == mistake.hint
            assert _html_text(mistake.hint) in page


def _html_text(text):
    import html

    return html.escape(text, quote=True)


class Tables:
    """The page's tables, read with BeautifulSoup: {table id: [[cell text, ...], ...]}."""

    def __init__(self, page):
        from bs4 import BeautifulSoup

        soup = BeautifulSoup(page, "html.parser")
        self.rows = {
            table["id"]: [
                [" ".join(cell.get_text().split()) for cell in tr.find_all("td", recursive=False)]
                for tr in table.find("tbody").find_all("tr", recursive=False)
            ]
            for table in soup.find_all("table")
        }


@pytest.mark.slow
def test_the_graded_course_page_is_inert_offline_and_shows_the_csvs_numbers(graded_report):
    page, rows, _ = graded_report
    assert inert_problems(page) == []
    assert not re.search(r"https?://|<script|javascript:", page, re.IGNORECASE)
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 3  # outcomes, points lost, written answers
    for data in images:
        png = base64.b64decode(data, validate=True)
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = struct.unpack(">II", png[16:24])
        assert width >= 400 and height >= 150, (width, height)

    tables = Tables(page).rows
    functions = [r for r in rows if r["row"] == "function"]
    keys = ("notebook", "item", "passed", "failed", "not_attempted", "not_graded")
    keys += ("points_lost", "points_possible")
    assert tables["functions"] == [[r[k] for k in keys] for r in functions]
    mistakes = [r for r in rows if r["row"] == "mistake"]
    shown = [cells[:4] for cells in tables["mistakes"]]
    assert shown == [[r["item"], r["mistake"], r["text"], r["count"]] for r in mistakes]
    answers = [r for r in rows if r["row"] == "written answer"]
    assert [[c[1], c[2], c[4], c[5], c[6]] for c in tables["answers"]] == [
        [r["item"], r["points_possible"], r["pending"], r["not_attempted"], r["not_graded"]]
        for r in answers
    ]
    students = _pick(rows, row="class")[0]["count"]
    assert f"<b>{students}</b> student(s) with a submission" in page


@pytest.mark.slow
def test_a_hostile_student_id_and_message_through_the_report_step(graded_course, tmp_path):
    """A copy of the graded course's gradebook and reports, in which one student's id is
    hostile (as an id in a shared or hand-edited gradebook could be) and their report
    holds a hostile message: `report` shows both as text and writes no formula."""
    course, victim = tmp_path / "course", "patches-numpy"
    shutil.copytree(graded_course.course / "source", course / "source")
    shutil.copytree(graded_course.course / "reports" / "grade", course / "reports" / "grade")
    shutil.copy(graded_course.course / "gradebook.db", course / "gradebook.db")
    victims = course / "reports" / "grade" / f"{victim}.json"
    report = json.loads(victims.read_text(encoding="utf-8"))
    report["student"] = HOSTILE_ID
    cells = report["notebooks"]["01_forward_bn"]["cells"]
    cells["test_batchnorm_forward"] = ["failed", SCRIPT_DETAIL]
    victims.with_name(f"{HOSTILE_ID}.json").write_text(json.dumps(report), encoding="utf-8")
    victims.unlink()
    with sqlite3.connect(course / "gradebook.db") as db:
        db.execute("PRAGMA foreign_keys = OFF")
        for table, column in _student_columns(db):
            db.execute(f"UPDATE {table} SET {column} = ? WHERE {column} = ?", (HOSTILE_ID, victim))

    result = _step("report", "--course", course)
    assert result.returncode == 0, result.stderr
    page = (course / "reports/class_report.html").read_text(encoding="utf-8")
    assert inert_problems(page) == []
    from bs4 import BeautifulSoup

    text = BeautifulSoup(page, "html.parser").get_text()
    assert HOSTILE_ID in text and SCRIPT_DETAIL in text
    assert "<script" not in page and "<img src=x" not in page
    raw = (course / "reports/class_report.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(raw, newline="")))
    error = _pick(rows, row="mistake", item="batchnorm_forward", mistake="error")
    assert error and error[0]["students"].startswith("'" + HOSTILE_ID)  # the first, by id
    assert SCRIPT_DETAIL in [r["text"] for r in _pick(rows, row="message")]
    for row in rows:
        for value in row.values():
            assert not value.startswith(FORMULA_START) or re.fullmatch(r"-?[\d.]+", value)


def _student_columns(db):
    """(table, column) of nbgrader's gradebook that hold a student's id."""
    found = []
    for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'"):
        for column in db.execute(f"PRAGMA table_info({table})"):
            name = column[1]
            if (table, name) == ("student", "id") or name == "student_id":
                found.append((table, name))
    return found
