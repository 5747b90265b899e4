"""Student text is inert wherever an instructor reads it (autograder.grading.inert).

Fast tests: every payload of inert_support, as Markdown, is shown as text and renders to
nothing active; the course's own Markdown and formulas are kept exactly; outputs,
attachments, metadata and raw cells keep only what cannot run; CSV cells that a
spreadsheet would run are neutralized and numbers stay numbers.

End to end (one small course, graded once): an attacker (the solution's 01_forward_bn and
03_removing_b only, with the payloads of inert_support, a function raising an exception
named like a formula, a review line starting with "-") and an honest student (the whole
solution), with formula names in the roster and the LMS map, go through roster, collect,
grade, feedback and export --lms-map through the command line. The attacker's autograded
notebook -- what formgrader renders -- and feedback pages hold nothing active (parsed, and
rendered with formgrader's own template), yet show the payloads as text; the honest
notebooks keep every Markdown cell and image; the grades are the solution's (the
attacker's: those of the two notebooks handed in, minus the one function made to raise);
every CSV cell a spreadsheet would run is neutralized, honest values are as written. The
browser tests (test_browser_formgrader.py) open the same kind of attacker in formgrader and
the feedback pages in Chromium.
"""

import csv
import html
import json
import re

import nbformat
import pytest
from autograder_support import (
    SOURCE,
    collect,
    gradebook_scores,
    points,
    run,
    sqlite_url,
    written_answers,
)
from bs4 import BeautifulSoup
from inert_support import (
    NOTEBOOK,
    PNG,
    active_markup,
    attack_notebooks,
    markdown_payloads,
)

from autograder.grading import inert
from autograder.pipeline.feedback import tex_to_mathml
from bnlab.course import ASSIGNMENT, NOTEBOOKS

PORT = 9  # the payloads' listener: unused here (nothing may call it); the browser tests listen
FORMULA = '=HYPERLINK("http://127.0.0.1/steal","click")'
QUOTED = '"' + FORMULA.replace('"', '""') + '"'  # as a CSV field
ROSTER = (
    "id,first_name,last_name,email\n"
    'solution,Ada,"Lovelace, Jr.",ada@example.org\n'
    f"mallory,{QUOTED},+1+cmd|' /C calc'!A0,-mallory@example.org\n"
)
LMS_MAP = (
    "lms_id,nbgrader_id,name,email\n"
    '48213,solution,"Lovelace, Ada",ada@example.org\n'
    "@48214,mallory,-2+3+cmd|' /C calc'!A0,=mallory@example.org\n"
)
MANUAL = 2.0  # the score each written answer gets by hand
RAISES = "batchnorm_forward"
RAISES_NOTEBOOK = next(stem for stem, names in NOTEBOOKS.items() if RAISES in names)
# The attacker hands in only the notebook of RAISES and the one of the payloads: a missing
# notebook is not run, and its functions and written answers score 0.
HANDED_IN = (RAISES_NOTEBOOK, NOTEBOOK)
# What the attacker's exception also says: escape sequences that set a terminal's title and
# clear its screen, were the breakdown or the summary printed there.
TERMINAL = "\x1b]0;owned\x07\x1b[2J"
POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; "
    "base-uri 'none'; form-action 'none'"
)  # the attacker's version raises an exception named FORMULA


def _renderings(markdown):
    """What formgrader (nbconvert's renderer) and the feedback pages make of `markdown`."""
    from nbconvert.filters.markdown_mistune import MarkdownWithMath, markdown2html_mistune

    from autograder.pipeline.feedback import MathMLRenderer

    feedback = MarkdownWithMath(renderer=MathMLRenderer(escape=False)).render(markdown)
    return [markdown2html_mistune(markdown), feedback]


ACTIVE_TAG = re.compile(r"(script|iframe|object|embed|base|form|meta|style|svg)", re.IGNORECASE)
ACTIVE_ATTRIBUTE = re.compile(
    r"\son[a-z]+\s*=|javascript:|data:text/html|data:image/svg|url\(|127\.0\.0\.1", re.IGNORECASE
)


def _active_tags(rendered):
    """The tags of `rendered` that could run or fetch something, read as a browser starts
    a tag (no HTML parser between: a parser's idea of a comment is not a browser's)."""
    return [
        tag.group()
        for tag in re.finditer(r"<([A-Za-z][A-Za-z0-9-]*)([^>]*)>", rendered)
        if ACTIVE_TAG.fullmatch(tag.group(1)) or ACTIVE_ATTRIBUTE.search(tag.group(2))
    ]


# ------------------------------------------------------------------ fast


@pytest.mark.parametrize("name", sorted(markdown_payloads(PORT)))
def test_each_markdown_payload_is_shown_as_text(name):
    payload = markdown_payloads(PORT)[name]
    tex = name.startswith("md-tex")  # active in MathJax (formgrader) or in the MathML
    if not tex:
        assert _active_tags(_renderings(payload)[0]), f"{name} is no attack: nothing to find"
    if name == "md-tex-text":  # the MathML converter writes \\text{...} as markup ...
        from latex2mathml.converter import convert

        assert _active_tags(convert(payload.strip("$"))), f"{name} is no attack"
        for rendered in _renderings(payload):  # ... which the feedback pages show as TeX
            assert _active_tags(rendered) == [] and payload.strip("$") in html.unescape(rendered)
        return  # (MathJax, in formgrader, writes \\text as text)
    assert inert.markdown_problems(payload)
    text, changed = inert.inert_markdown(f"My answer.\n\n{payload}")
    assert changed
    for rendered in _renderings(text):
        assert _active_tags(rendered) == [] and active_markup(rendered) == []
        assert payload in html.unescape(rendered)  # the instructor reads what was typed
        assert "My answer." in html.unescape(rendered)


def test_a_markdown_source_checked_before_is_judged_again_with_its_reserved_ids():
    """markdown_problems remembers what it found per source and reserved ids: the same
    heading is inert, then takes formgrader's id once that id is reserved, then is inert
    again; a caller changing the list it got changes nothing remembered."""
    heading, reserved = "# test_batchnorm_forward", inert.formgrader_ids(["test_batchnorm_forward"])
    assert inert.markdown_problems(heading) == []
    assert inert.markdown_problems(heading, reserved=reserved) == [
        "a heading with formgrader's id test_batchnorm_forward"
    ]
    assert inert.markdown_problems(heading) == []
    found = inert.markdown_problems("<script>alert(1)</script>")
    found.clear()
    assert inert.markdown_problems("<script>alert(1)</script>") == ["<script>"]


def test_the_course_markdown_and_formulas_are_kept_as_written():
    cells = 0
    for path in sorted(SOURCE.glob("*.ipynb")):
        data = path.read_bytes()
        assert inert.inert_notebook_bytes(data) is data, path.name  # kept byte for byte
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "markdown":
                cells += 1
                assert inert.markdown_problems(cell.source) == [], (path.name, cell.source[:80])
    assert cells > 50
    for tex in [
        r"\hat{x}_i^{(k)} = \frac{z - \mu_B}{\sqrt{\sigma_B^2 + \epsilon}}",
        r"\text{mean}",
    ]:
        assert tex_to_mathml(tex, "inline").startswith("<math")


def test_formulas_that_would_hold_markup_show_as_tex():
    for tex in [r"\text{<img src=x onerror=alert(1)>}", r"\href{javascript:alert(1)}{x}"]:
        shown = tex_to_mathml(tex, "inline")
        assert shown.startswith('<code class="tex">') and "<img" not in shown, shown
        assert html.unescape(shown).endswith(tex + "</code>")


def test_outputs_attachments_metadata_and_raw_cells_keep_only_what_cannot_run():
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    display = {
        "output_type": "display_data",
        "data": {"text/html": "<script>x</script>", "image/png": png, "text/plain": "fig"},
        "metadata": {"image/png": {"width": 100, "height": "1 onerror=x"}, "filenames": {}},
    }
    assert inert.inert_output(display) == {
        "output_type": "display_data",
        "data": {"text/plain": "fig", "image/png": png},
        "metadata": {"image/png": {"width": 100}},
    }
    js = {"output_type": "display_data", "data": {"application/javascript": "x"}, "metadata": {}}
    assert inert.inert_output(js)["data"] == {
        "text/plain": "[bnlab: output of type application/javascript not shown]"
    }
    forged = {"output_type": "execute_result", "execution_count": "1", "metadata": {},
              "data": {"image/png": 'x" onerror="y', "text/plain": "p"}}  # fmt: skip
    assert inert.inert_output(forged)["data"] == {"text/plain": "p"}
    assert inert.inert_output(forged)["execution_count"] is None
    cell = {
        "cell_type": "markdown",
        "id": 'a"><b',
        "source": "![a](attachment:a.svg) ![b](attachment:b.png)",
        "metadata": {"jupyter": {"source_hidden": True}, "tags": ["ok", 'x"y'], "nbgrader": {}},
        "attachments": {"a.svg": {"image/svg+xml": "PHN2Zz4="}, "b.png": {"image/png": png}},
    }
    new = inert.inert_cell(cell)
    assert new["attachments"] == {"b.png": {"image/png": png}}
    assert new["metadata"] == {"nbgrader": {}, "tags": ["ok"]} and "id" not in new
    for rendered in _renderings(new["source"]):  # the dropped svg: its Markdown as text
        assert _active_tags(rendered) == [] and "![a](attachment:a.svg)" in rendered
    forged = {"grade_id": 'x"><img src=y onerror=alert(1)>', "grade": True, "points": 4}
    code = inert.inert_cell({"cell_type": "code", "source": "", "metadata": {"nbgrader": forged}})
    assert code["metadata"] == {} and code["outputs"] == []
    raw = inert.inert_cell({"cell_type": "raw", "source": "<script>x</script>", "metadata": {}})
    assert raw["source"] == "&lt;script&gt;x&lt;/script&gt;"


def test_csv_cells_that_a_spreadsheet_runs_are_neutralized():
    for value in [FORMULA, "+1+2", "-2+3", "@SUM(A1)", "\tx", "-", "=-1"]:
        assert inert.csv_cell(value) == "'" + value
    for value in ["ada", "Lovelace, Jr.", "0", "-2", "-2.5", "+3", "1e-3", "", None, 4.0]:
        assert inert.csv_cell(value) == value


def test_a_heading_that_would_take_an_id_of_formgraders_is_shown_as_text():
    """formgrader's script finds a grade's score and comment fields by id, the first element
    with it: a student's heading with such an id (nbconvert makes a heading's id from its
    text) would stand in for the field. Such a cell is shown as text; other headings stay."""
    from nbconvert import HTMLExporter

    grade = {"grade": True, "solution": False, "points": 2, "locked": True}
    answer = {"grade": True, "solution": True, "points": 4, "locked": False}
    cells = [
        nbformat.v4.new_markdown_cell("# A heading of mine\n\nplain"),
        nbformat.v4.new_markdown_cell("## test_batchnorm_forward\n\nmy answer"),
        nbformat.v4.new_markdown_cell("### why_no_b-comment"),
        nbformat.v4.new_markdown_cell("#### test_batchnorm_forward_extra_credit"),
        nbformat.v4.new_markdown_cell("# statusmessage"),
        nbformat.v4.new_code_cell("x = 1"),
    ]
    cells[1].metadata["nbgrader"] = {**answer, "grade_id": "why_no_b"}
    cells[5].metadata["nbgrader"] = {**grade, "grade_id": "test_batchnorm_forward"}
    nb = nbformat.v4.new_notebook(cells=cells)
    taken = {"test_batchnorm_forward", "why_no_b-comment", "statusmessage"}
    taken.add("test_batchnorm_forward_extra_credit")
    page = BeautifulSoup(HTMLExporter().from_notebook_node(nb)[0], "html.parser")
    assert taken <= {element["id"] for element in page.find_all(id=True)}  # the attack works
    made = nbformat.from_dict(inert.inert_notebook(nb))
    page = BeautifulSoup(HTMLExporter().from_notebook_node(made)[0], "html.parser")
    assert not taken & {element["id"] for element in page.find_all(id=True)}
    assert made.cells[0].source == cells[0].source
    assert all(cell.source.startswith("**[bnlab:") for cell in made.cells[1:5])
    assert "## test_batchnorm_forward" in made.cells[1].source  # readable, as text


def test_control_characters_are_written_out_for_terminals_and_spreadsheets():
    title = "\x1b]0;owned\x07"
    assert inert.printable(f"ok {title}\tand\nmore\x9b2J") == (
        "ok \\x1b]0;owned\\x07\tand\nmore\\x9b2J"
    )
    assert inert.csv_cell("\r=1+1") == "\\x0d=1+1"  # a leading CR is written out, not run
    assert inert.csv_cell(f"{title}=1") == "\\x1b]0;owned\\x07=1"
    assert inert.csv_cell("Lovelace, Ada") == "Lovelace, Ada"


def test_a_roster_name_with_markup_is_refused(tmp_path):
    from autograder.pipeline.csvfile import CsvFileError
    from autograder.pipeline.roster import read_roster

    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER + 'eve,"<img src=x onerror=alert(1)>",Eve,\n', encoding="utf-8")
    with pytest.raises(CsvFileError, match=r"line 4: first_name '<img src=x onerror=.*< or >"):
        read_roster(roster)
    roster.write_text(ROSTER, encoding="utf-8")
    assert [row["first_name"] for row in read_roster(roster)] == ["Ada", FORMULA]


# ------------------------------------------------------------------ end to end


def _raise_in(inbox, student):
    """The attacker's RAISES raises an exception whose class name is FORMULA."""
    path = inbox / student / ASSIGNMENT / f"{RAISES_NOTEBOOK}.ipynb"
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == RAISES)
    cell.source += (
        f"\n\ndef {RAISES}(*args, **kwargs):\n"
        f"    raise type({FORMULA!r}, (Exception,), {{}})({FORMULA + TERMINAL!r})\n"
    )
    nbformat.write(nb, path)


@pytest.fixture(scope="module")
def course(released_course, course_copy, tmp_path_factory):
    """solution and mallory (HANDED_IN only), through the command line: roster, collect,
    grade, feedback, the written answers graded by hand (as in formgrader), export --lms-map."""
    from nbgrader.api import Gradebook

    from autograder.content.samples import generate

    inbox = tmp_path_factory.mktemp("inert-inbox")
    generate(inbox, SOURCE, released_course / "release" / ASSIGNMENT, ["solution"])
    attack_notebooks(inbox, "mallory", PORT)
    _raise_in(inbox, "mallory")
    for path in (inbox / "mallory" / ASSIGNMENT).glob("*.ipynb"):
        if path.stem not in HANDED_IN:
            path.unlink()
    path = course_copy("inert")
    collect(path, inbox)
    (path.parent / "roster.csv").write_text(ROSTER, encoding="utf-8")
    (path.parent / "lms.csv").write_text(LMS_MAP, encoding="utf-8")
    run("roster", path, "--from", path.parent / "roster.csv")
    run("grade", path, "--workers", 2)
    run("feedback", path)
    with Gradebook(sqlite_url(path)) as gradebook:  # grade the written answers, as formgrader
        for student in ("solution", "mallory"):
            for answer, stem in written_answers().items():
                if student == "mallory" and stem not in HANDED_IN:
                    continue  # not handed in: nothing to grade
                grade = gradebook.find_grade(answer, stem, ASSIGNMENT, student)
                grade.manual_score, grade.needs_manual_grade = MANUAL, False
        gradebook.db.commit()
    run("export", path, "--lms-map", path.parent / "lms.csv")
    return path


def _formgrader_html(path):
    """The page formgrader serves for the notebook at `path` (its exporter and template)."""
    from nbconvert.exporters import HTMLExporter
    from nbgrader.server_extensions.formgrader import handlers
    from traitlets.config import Config

    config = Config()
    config.HTMLExporter.template_name = "formgrade"
    config.HTMLExporter.extra_template_basedirs = [handlers.template_path]
    resources = {
        "assignment_id": ASSIGNMENT, "notebook_id": path.stem, "submission_id": "x",
        "index": 0, "total": 2, "base_url": "", "student": "mallory", "last_name": "M",
        "first_name": "E", "notebook_path": str(path),
    }  # fmt: skip
    return HTMLExporter(config=config).from_filename(str(path), resources=resources)[0]


def _notebook(course, student, stem=NOTEBOOK, kind="autograded"):
    return nbformat.read(course / kind / student / ASSIGNMENT / f"{stem}.ipynb", as_version=4)


@pytest.mark.slow
@pytest.mark.e2e
def test_the_autograded_notebook_formgrader_renders_is_inert(course):
    nb = _notebook(course, "mallory")
    mimes = {
        kind
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        for kind in output.get("data", {})
    }
    assert mimes and mimes <= {"text/plain", "image/png", "image/jpeg"}, mimes
    notes = [c for c in nb.cells if c.source.startswith("**[bnlab: this cell held markup")]
    assert len(notes) >= len(markdown_payloads(PORT)) + 1  # the answer, the payload cells
    assert "widgets" not in nb.metadata
    assert not any("jupyter" in c.metadata or "attachments" in c and
                   any("image/svg+xml" in a for a in c.attachments.values()) for c in nb.cells)  # fmt: skip
    honest = _formgrader_html(course / "autograded" / "solution" / ASSIGNMENT / f"{NOTEBOOK}.ipynb")
    own_scripts = len(re.findall(r"<script", honest))
    page = _formgrader_html(course / "autograded" / "mallory" / ASSIGNMENT / f"{NOTEBOOK}.ipynb")
    assert active_markup(page, allowed_scripts=own_scripts) == []
    text = html.unescape(page)
    for payload in markdown_payloads(PORT).values():  # readable, as text
        assert payload in text, payload
    assert "The mean subtraction cancels" in text
    assert "[bnlab: output of type" in text  # what the attacker's code displayed, as a note


@pytest.mark.slow
@pytest.mark.e2e
def test_the_feedback_pages_are_inert_and_forbid_scripts(course):
    pages = sorted((course / "feedback" / "mallory" / ASSIGNMENT).glob("*.html"))
    honest = sorted((course / "feedback" / "solution" / ASSIGNMENT).glob("*.html"))
    assert [page.stem for page in pages] == sorted(HANDED_IN)
    assert [page.stem for page in honest] == sorted(NOTEBOOKS)
    for page in pages + honest:
        text = page.read_text(encoding="utf-8")
        head = text[: text.index("</head>")]  # (parsing the whole page takes a while)
        first = BeautifulSoup(head, "html.parser").head.find(True)  # the first element
        assert (first.name, first.get("http-equiv")) == ("meta", "Content-Security-Policy")
        assert first["content"] == POLICY, first
        assert active_markup(text) == [], page.name
        assert "<script" not in text.lower(), page.name
        assert not re.search(r"<[A-Za-z][^>]*\son[a-z]+\s*=", text.replace("\n", " ")), page.name
    attacked = (course / "feedback" / "mallory" / ASSIGNMENT / f"{NOTEBOOK}.html").read_text()
    for payload in markdown_payloads(PORT).values():
        assert payload in html.unescape(attacked), payload


@pytest.mark.slow
@pytest.mark.e2e
def test_honest_notebooks_are_kept_and_the_grades_are_the_solutions(course):
    for stem in NOTEBOOKS:
        for student in ("solution", "mallory"):
            if student == "mallory" and (stem == NOTEBOOK or stem not in HANDED_IN):
                continue
            graded, submitted = (
                _notebook(course, student, stem, kind) for kind in ("autograded", "submitted")
            )
            assert [c.source for c in graded.cells if c.cell_type == "markdown"] == [
                c.source for c in submitted.cells if c.cell_type == "markdown"
            ], (student, stem)
            assert "[bnlab:" not in json.dumps(graded)
            data = (course / "autograded" / student / ASSIGNMENT / f"{stem}.ipynb").read_bytes()
            assert inert.inert_notebook_bytes(data) is data, (student, stem)  # nothing to change
    images = [
        o["data"]["image/png"] for c in _notebook(course, "mallory").cells
        if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})
    ]  # fmt: skip
    assert images == [PNG]  # a raster image is kept (the forged one is not)
    scores = gradebook_scores(sqlite_url(course))
    expected = {name: value for name, value in points().items()}
    expected.update({answer: MANUAL for answer in written_answers()})
    assert scores["solution"] == expected
    assert scores["mallory"] == {**_handed_in(expected), RAISES: 0.0}


def _handed_in(scores):
    """`scores` of the solution as the attacker earns them: 0 in the notebooks not handed in."""
    notebook = {name: stem for stem, names in NOTEBOOKS.items() for name in names}
    notebook.update(written_answers())
    return {name: value if notebook[name] in HANDED_IN else 0.0 for name, value in scores.items()}


def _rows(path):
    with open(path, newline="", encoding="utf-8-sig") as handle:
        return list(csv.reader(handle))


@pytest.mark.slow
@pytest.mark.e2e
def test_every_csv_cell_a_spreadsheet_would_run_is_neutralized(course):
    reports = course / "reports"
    files = ["grades.csv", "breakdown.csv", "flags.csv", "canvas.csv", "moodle.csv"]
    for name in files:
        for row in _rows(reports / name):
            for cell in row:
                if cell.startswith(inert.FORMULA_START):
                    assert re.fullmatch(r"[+-]?[0-9.eE+-]+", cell), (name, cell)
    grades = {row["student_id"]: row for row in csv.DictReader(open(reports / "grades.csv"))}
    assert grades["mallory"]["first_name"] == "'" + FORMULA
    assert grades["mallory"]["last_name"] == "'+1+cmd|' /C calc'!A0"
    assert grades["mallory"]["email"] == "'-mallory@example.org"
    honest = grades["solution"]
    assert (honest["first_name"], honest["last_name"], honest["email"]) == (
        "Ada", "Lovelace, Jr.", "ada@example.org",
    )  # fmt: skip
    auto = sum(v for name, v in points().items() if name not in written_answers())
    total = auto + MANUAL * len(written_answers())
    assert float(honest["score"]) == total and float(honest["max_score"]) == 100  # numbers
    earned = _handed_in({**points(), **{answer: MANUAL for answer in written_answers()}})
    assert float(grades["mallory"]["score"]) == sum(earned.values()) - points()[RAISES]
    breakdown = [r for r in csv.DictReader(open(reports / "breakdown.csv"))]
    raised = next(r for r in breakdown if r["student_id"] == "mallory" and r["item"] == RAISES)
    assert raised["status"] == "failed" and raised["detail"], raised
    assert not raised["detail"].startswith(inert.FORMULA_START), raised
    assert "\\x1b]0;owned\\x07\\x1b[2J" in raised["detail"], raised  # written out, inert
    for name in [*files, "summary.txt"]:
        assert "\x1b" not in (reports / name).read_text(encoding="utf-8-sig"), name
    flags = [r for r in csv.DictReader(open(reports / "flags.csv")) if r["student_id"] == "mallory"]
    assert "'-len([setattr(np, 'bnlab_flag', 1)])" in [r["code"] for r in flags], flags
    canvas = [row[:2] for row in _rows(reports / "canvas.csv")]
    assert ["'-2+3+cmd|' /C calc'!A0", "'@48214"] in canvas, canvas
    assert ["Lovelace, Ada", "48213"] in canvas, canvas
    moodle = [row[0] for row in _rows(reports / "moodle.csv")]
    assert "'=mallory@example.org" in moodle and "ada@example.org" in moodle, moodle


@pytest.mark.slow
@pytest.mark.e2e
def test_grade_makes_notebooks_an_older_version_autograded_inert(course):
    """An autograded notebook written before the grader made them inert (simulated: the
    attacker's submitted notebook in its place, and a report without the rules' version)
    is made inert by the next `grade`, which regrades nobody and changes no grade. (Last in
    this module: it leaves the course as the tests above found it.)"""
    from autograder.grading import reports
    from autograder.workspace import Course

    workspace = Course(course)
    autograded = course / "autograded" / "mallory" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    inert_bytes = autograded.read_bytes()
    before = gradebook_scores(sqlite_url(course))
    submitted = course / "submitted" / "mallory" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    autograded.write_bytes(submitted.read_bytes())
    assert active_markup(_formgrader_html(autograded), allowed_scripts=99) != []
    report = reports.read_report(workspace, "mallory")
    del report["inert"]
    reports.rewrite_report(workspace, report)
    result = run("grade", course)
    assert "0 submission(s) to grade" in result.stdout
    assert "notebooks of 1 student(s), graded by an older version, inert" in result.stdout
    honest = _formgrader_html(course / "autograded" / "solution" / ASSIGNMENT / f"{NOTEBOOK}.ipynb")
    page = _formgrader_html(autograded)
    assert active_markup(page, allowed_scripts=len(re.findall(r"<script", honest))) == []
    assert gradebook_scores(sqlite_url(course)) == before
    assert reports.read_report(workspace, "mallory")["inert"] == inert.VERSION
    text = html.unescape(page)
    assert all(payload in text for payload in markdown_payloads(PORT).values())  # as text
    autograded.write_bytes(inert_bytes)  # as the tests above found it
