"""Grading the written answers by hand, and what students and instructors then read.

One small course (the solution, a partial submission and the untouched release, each
handing in some notebooks: the solution those with a written answer, and the three
together every notebook) is released, given a roster, graded, fed back and exported once
per module. Then a written answer of the solution is graded by hand, as formgrader does
it (a manual score and a comment in the gradebook), and `export` runs again: it must
rewrite that student's feedback pages and no one else's, and every export must follow.

Expected values come from the source notebooks' grade cells (autograder_support.points)
and the numbers written here, never from the code under test. The roster's own
checks run on a fresh SQLite gradebook, without a course (fast).
"""

import html
import re
import shutil
import sqlite3
from html.parser import HTMLParser

import pytest
from autograder_support import (
    SOURCE,
    new_gradebook,
    points,
    read_csv,
    run,
    sqlite_url,
    tree_digest,
    written_answers,
)

from autograder import __main__ as cli
from autograder.pipeline import roster
from autograder.workspace import COURSE_ID
from bnlab.course import ASSIGNMENT, NOTEBOOKS

STUDENTS = ["partial", "release", "solution"]
ANSWER, ANSWER_NOTEBOOK = "why_no_b", "03_removing_b"
# The notebooks each student hands in (a missing notebook is not run: its functions and
# written answers score 0). The solution: every notebook with a written answer, so that
# answers stay pending once one is graded; the release: one with an answer left as
# released; between them, every notebook has a feedback page.
HANDED_IN = {
    "solution": tuple(sorted(set(written_answers().values()))),
    "release": ("03_removing_b", "04_deep_network", "05_optimizers"),
    "partial": ("01_forward_bn", "02_backward_bn"),
}
PAGES = sum(len(stems) for stems in HANDED_IN.values())  # feedback pages in all
SCORE = 3.0  # the manual score the test gives (out of the answer's points)
COMMENT = "Right idea: the mean subtraction cancels $b^{[l]}$; now say what $\\beta^{[l]}$ does."
ROSTER = (
    "\ufeffid,email,first_name,last_name,section\n"  # any column order, extra column ignored
    'solution,ada@example.org,Ada,"Lovelace, Jr.",A\n'
    "partial,,Chloé,Müller,B\n"
)


# ------------------------------------------------------------------ the course


@pytest.fixture(scope="module")
def course(released_course, course_copy, tmp_path_factory):
    """The course after roster, grade, feedback and export: (path, {step: output})."""
    from autograder.content.samples import generate

    inbox = tmp_path_factory.mktemp("manual-inbox")
    generate(inbox, SOURCE, released_course / "release" / ASSIGNMENT, STUDENTS)
    for student, stems in HANDED_IN.items():
        for notebook in (inbox / student / ASSIGNMENT).glob("*.ipynb"):
            if notebook.stem not in stems:
                notebook.unlink()
    path = course_copy("manual", STUDENTS, inbox)
    roster_file = path.parent / "roster.csv"
    roster_file.write_text(ROSTER, encoding="utf-8")
    outputs = {"roster": run("roster", path, "--from", roster_file).stdout}
    run("grade", path, "--workers", 2)
    outputs["feedback"] = run("feedback", path).stdout
    outputs["export"] = run("export", path).stdout
    return path, outputs


@pytest.fixture(scope="module")
def before(course):
    """What the instructor and the students read before any grading by hand."""
    path, _ = course
    return _snapshot(path)


@pytest.fixture(scope="module")
def after(course, before):
    """Grade the solution's answer by hand as formgrader does, then `export`; returns
    (snapshot, export's output, a second export's output)."""
    from nbgrader.api import Gradebook

    path, _ = course
    with Gradebook(sqlite_url(path)) as gradebook:
        grade = gradebook.find_grade(ANSWER, ANSWER_NOTEBOOK, ASSIGNMENT, "solution")
        grade.manual_score = SCORE
        grade.needs_manual_grade = False  # what formgrader's grade handler sets
        comment = gradebook.find_comment(ANSWER, ANSWER_NOTEBOOK, ASSIGNMENT, "solution")
        comment.manual_comment = COMMENT
        gradebook.db.commit()
    first = run("export", path).stdout
    snapshot = _snapshot(path)
    second = run("export", path).stdout
    return snapshot, first, second


def _snapshot(path):
    reports = path / "reports"
    return {
        "pages": tree_digest(path / "feedback"),
        "mtimes": {p: p.stat().st_mtime_ns for p in sorted((path / "feedback").rglob("*.html"))},
        "grades": {row["student_id"]: row for row in read_csv(reports / "grades.csv")},
        "breakdown": {
            (row["student_id"], row["item"]): row for row in read_csv(reports / "breakdown.csv")
        },
        "summary": (reports / "summary.txt").read_text(encoding="utf-8"),
        "page": _page(path, "solution", ANSWER_NOTEBOOK),
    }


def _page(path, student, stem):
    return (path / "feedback" / student / ASSIGNMENT / f"{stem}.html").read_text(encoding="utf-8")


def _heading(page, grade_id):
    """The visible text of the heading of the cell `grade_id` on a feedback page."""
    start = page.index(f'<a name="{grade_id}"></a>')
    end = page.index("</div>", start)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page[start:end])).split())


def _summary_cells(summary, student):
    """(manual, total) cells of the summary table's row of `student`."""
    for line in summary.splitlines():
        cells = line.split()
        if cells and cells[0] == student:
            return cells[len(NOTEBOOKS) + 2], cells[len(NOTEBOOKS) + 3]
    raise AssertionError(f"no row for {student}")


WORTH = points()  # {function or answer: points}, from the source notebooks
MANUAL = written_answers()  # {answer: notebook}
AUTO_TOTAL = sum(  # the solution's autograded points: those of the notebooks handed in
    WORTH[name] for stem in HANDED_IN["solution"] for name in NOTEBOOKS[stem]
)
MANUAL_TOTAL = sum(WORTH[name] for name in MANUAL)


# ------------------------------------------------------------------ before grading by hand


@pytest.mark.slow
@pytest.mark.e2e
def test_an_ungraded_answer_is_pending_on_the_page_not_zero(before):
    page = before["page"]
    assert _heading(page, ANSWER) == (
        f"Student's answer Score: pending manual grading / {WORTH[ANSWER]:.1f} (Top)"
    )
    notebook_auto = sum(WORTH[name] for name in NOTEBOOKS[ANSWER_NOTEBOOK])
    notebook_max = notebook_auto + WORTH[ANSWER]
    assert (
        f"(Score: {notebook_auto:.1f} / {notebook_max:.1f}; {WORTH[ANSWER]:.1f} point(s) "
        "pending manual grading, not counted yet)"
    ) in page
    assert f"Written response</a> (Score: pending manual grading / {WORTH[ANSWER]:.1f})" in page


@pytest.mark.slow
@pytest.mark.e2e
def test_an_ungraded_answer_is_pending_in_the_exports(before):
    row = before["grades"]["solution"]
    assert float(row["score"]) == AUTO_TOTAL
    assert float(row["pending_points"]) == MANUAL_TOTAL
    assert row["status"] == "pending manual grading"
    released = before["grades"]["release"]  # nothing written: nothing to grade by hand
    assert (released["pending_points"], released["status"]) == ("0", "complete")
    cell = before["breakdown"][("solution", ANSWER)]
    assert (cell["score"], cell["status"]) == ("", "needs manual grading")
    assert _summary_cells(before["summary"], "solution") == ("pending", f"{AUTO_TOTAL:g}+?")


@pytest.mark.slow
@pytest.mark.e2e
def test_the_roster_names_survive_grading(course, before):
    path, outputs = course
    assert "roster: 2 added (solution, partial), 0 updated, 0 unchanged" in outputs["roster"]
    solution, partial = before["grades"]["solution"], before["grades"]["partial"]
    assert (solution["first_name"], solution["last_name"], solution["email"]) == (
        "Ada",
        "Lovelace, Jr.",
        "ada@example.org",
    )
    assert (partial["first_name"], partial["last_name"], partial["email"]) == (
        "Chloé",
        "Müller",
        "",
    )
    with sqlite3.connect(path / "gradebook.db") as db:
        names = dict(db.execute("select id, last_name from student").fetchall())
    assert names == {"solution": "Lovelace, Jr.", "partial": "Müller", "release": None}


# ------------------------------------------------------------------ after grading by hand


@pytest.mark.slow
@pytest.mark.e2e
def test_export_refreshes_the_pages_of_the_student_graded_by_hand_only(before, after):
    snapshot, output, again = after
    pages = len(HANDED_IN["solution"])
    assert (
        f"feedback: refreshed {pages} page(s) of 1 student(s) whose grades or comments "
        "changed: solution"
    ) in output
    changed = {
        name.split("/")[0]
        for name in before["pages"]
        if before["pages"][name] != snapshot["pages"][name]
    }
    assert changed == {"solution"}
    untouched = [p for p in before["mtimes"] if "/solution/" not in str(p)]
    assert untouched and all(before["mtimes"][p] == snapshot["mtimes"][p] for p in untouched)
    assert f"the pages of all {len(STUDENTS)} student(s) are up to date" in again
    assert "refreshed" not in again


@pytest.mark.slow
@pytest.mark.e2e
def test_the_page_then_shows_the_score_and_the_comment(after):
    page = after[0]["page"]
    assert (
        _heading(page, ANSWER) == f"Student's answer Score: {SCORE:.1f} / {WORTH[ANSWER]:.1f} (Top)"
    )
    footer = page[page.index(f'<a name="{ANSWER}"></a>') :]
    footer = footer[: footer.index("What to remember")]
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", footer)).split())
    assert "Comments: Right idea: the mean subtraction cancels" in text
    assert "now say what" in text
    assert "$" not in text  # the comment's formulas are MathML too
    assert footer.count("<math") == 2
    assert "pending" not in _heading(page, ANSWER)


@pytest.mark.slow
@pytest.mark.e2e
def test_the_exports_then_show_the_manual_score(after):
    snapshot = after[0]
    row = snapshot["grades"]["solution"]
    assert float(row["score"]) == AUTO_TOTAL + SCORE
    assert float(row["pending_points"]) == MANUAL_TOTAL - WORTH[ANSWER]
    assert row["status"] == "pending manual grading"  # two answers are still waiting
    cell = snapshot["breakdown"][("solution", ANSWER)]
    assert (float(cell["score"]), cell["status"]) == (SCORE, "manually graded")
    assert cell["detail"] == COMMENT
    manual, total = _summary_cells(snapshot["summary"], "solution")
    assert (manual, total) == (f"{SCORE:g}+?", f"{AUTO_TOTAL + SCORE:g}+?")


# ------------------------------------------------------------------ counting, formulas


@pytest.mark.slow
@pytest.mark.e2e
def test_feedback_for_one_student_counts_that_students_pages(course, after):
    path, outputs = course
    assert f"wrote {PAGES} page(s) for {len(STUDENTS)} student(s)" in outputs["feedback"]
    output = run("feedback", path, "--student", "partial").stdout
    assert f"feedback: wrote {len(HANDED_IN['partial'])} page(s) for 1 student(s)" in output
    output = run("feedback", path).stdout
    assert "wrote 0 page(s) for 0 student(s)" in output
    assert f"{len(STUDENTS)} student(s) already up to date" in output


class _Visible(HTMLParser):
    """The text a reader sees outside code, styles, scripts and MathML; and the
    addresses of the scripts, stylesheets and images a page loads."""

    HIDDEN = {"pre", "code", "style", "script", "math"}

    def __init__(self):
        super().__init__()
        self.depth, self.text, self.loads = 0, [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("src", "href"):
            if attrs.get(key) and (tag in ("script", "img", "iframe") or attrs.get("rel")):
                self.loads.append(attrs[key])
        self.depth += tag in self.HIDDEN

    def handle_endtag(self, tag):
        self.depth -= tag in self.HIDDEN

    def handle_data(self, data):
        if not self.depth:
            self.text.append(data)


@pytest.mark.slow
@pytest.mark.e2e
def test_pages_render_formulas_without_the_network(course, after):
    path, _ = course
    pages = sorted((path / "feedback").rglob("*.html"))
    assert len(pages) == PAGES
    assert {page.stem for page in pages} == set(NOTEBOOKS)  # every notebook's prose
    tex = re.compile(r"\$[^$]*[\\^_{][^$]*\$")
    for page in pages:
        source = page.read_text(encoding="utf-8")
        parser = _Visible()
        parser.feed(source)
        remote = [url for url in parser.loads if re.match(r"(https?:)?//", url)]
        assert not remote, f"{page}: loads {remote}"
        assert not re.search(r"<script[^>]+src=", source), page
        assert not re.search(r"<script[^>]*>[^<]*mathjax", source, re.IGNORECASE), page
        assert "cdn" not in source.lower(), page
        assert source.count("<math") >= 10, page  # every notebook explains with formulas
        left = tex.findall(" ".join(parser.text))
        assert not left, f"{page}: raw TeX {left[:3]}"


# ------------------------------------------------------------------ the roster (fast)


@pytest.fixture(scope="module")
def empty_gradebook(tmp_path_factory):
    """An empty gradebook of the course, made once and copied by each roster test."""
    return new_gradebook(tmp_path_factory.mktemp("gradebook") / "gradebook.db", COURSE_ID)


@pytest.fixture
def gradebook_course(tmp_path, restore_environ, empty_gradebook):
    """A course folder with only an empty gradebook: (run roster -> exit status, names)."""
    path = tmp_path / "course"
    path.mkdir()
    shutil.copyfile(empty_gradebook, path / "gradebook.db")

    def load(text, name="roster.csv"):
        file = tmp_path / name
        file.write_bytes(text.encode("utf-8"))
        status = cli.main(["roster", "--course", str(path), "--from", str(file)])
        return status

    def names():
        with sqlite3.connect(path / "gradebook.db") as db:
            rows = db.execute("select id, first_name, last_name, email from student")
            return {row[0]: row[1:] for row in rows.fetchall()}

    return load, names


def test_a_roster_adds_then_updates_students(gradebook_course, capsys):
    load, names = gradebook_course
    assert load("id,first_name,last_name,email\nada,Ada,Lovelace,ada@example.org\nbob,Bob,,\n") == 0
    assert "roster: 2 added (ada, bob), 0 updated, 0 unchanged" in capsys.readouterr().out
    assert names() == {
        "ada": ("Ada", "Lovelace", "ada@example.org"),
        "bob": ("Bob", None, None),
    }
    text = "\ufefflast_name,id,first_name,email\r\nLovelace,ada,Ada,ada@example.org\r\nO'Brien,bob,Bob,\r\n\r\nNg,zoë,Zoë,z@x.org\r\n"
    assert load(text) == 0
    assert "roster: 1 added (zoë), 1 updated (bob), 1 unchanged" in capsys.readouterr().out
    assert names()["bob"] == ("Bob", "O'Brien", None)
    assert names()["zoë"] == ("Zoë", "Ng", "z@x.org")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id,first_name,last_name\nada,Ada,L\n", "line 1: the header has no column email"),
        ("ada,Ada,Lovelace,a@x.org\n", "line 1: the header has no column id, first_name"),
        ("", "empty file"),
        (
            "id,first_name,last_name,email\nada,A,L,\nbob,B,,\nada,C,,\n",
            "line 4: id 'ada' is already on line 2",
        ),
        ("id,first_name,last_name,email\nada,A,L,\n,B,O,\n", "line 3: empty id"),
        (
            "id,first_name,last_name,email\nada,A,L,a@x.org,extra\n",
            "line 2: more fields than the header",
        ),
    ],
)
def test_a_malformed_roster_is_an_error_and_changes_nothing(
    gradebook_course, capsys, text, message
):
    load, names = gradebook_course
    assert load("id,first_name,last_name,email\nada,Ada,Lovelace,ada@example.org\n") == 0
    capsys.readouterr()
    before = names()
    assert load(text, "bad.csv") == 1
    error = capsys.readouterr().err
    assert error.startswith("roster: ") and message in error and "bad.csv" in error, error
    assert names() == before


def test_read_roster_reads_a_bom_and_ignores_other_columns(tmp_path):
    path = tmp_path / "r.csv"
    path.write_bytes(
        "\ufeffemail,id,first_name,last_name,group\r\n,ada,Ada,Lovelace,3\r\n".encode()
    )
    assert roster.read_roster(path) == [
        {"id": "ada", "first_name": "Ada", "last_name": "Lovelace", "email": ""}
    ]


def test_roster_needs_a_file(tmp_path, capsys):
    assert cli.parse_args(["roster", "--course", "c", "--from", "r.csv"]).source == "r.csv"
    assert cli.main(["roster", "--course", str(tmp_path / "course")]) == 1
    assert "roster needs --from FILE" in capsys.readouterr().err
    assert not (tmp_path / "course").exists()
