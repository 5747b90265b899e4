"""Grading a written answer by hand in nbgrader's formgrader, in a real (headless) Chromium,
then reading the student's feedback page offline.

A small course (the solution hands in 03_removing_b, the one notebook the tests open; the
roster also names a student who handed nothing in) is released, given a roster, graded,
fed back and exported. The formgrader (`jupyter server` with nbgrader's server extension,
in the course folder, on 127.0.0.1; one for the module) lists the students by the
roster's names.

First the instructor presses formgrader's Generate Feedback for the solution: the page it
writes is the course's own (nbgrader reads the course's nbgrader_config.json, which
names our exporter, template and preprocessors), not nbgrader's default: a
Content-Security-Policy, formulas as MathML, no script, and the written answer nobody has
graded yet reads "pending manual grading". Its bytes are those the feedback step writes:
`feedback` then finds every page up to date.

Then the test types a score and a comment for the solution's written answer `why_no_b`
into the formgrader's page, and runs `export`, the one step the instructor's guide names
for after grading by hand. Then it opens that student's feedback page from disk with the
browser offline: the page shows the score and the comment, and its formulas are MathML
elements that take up room on the page, with no TeX left in the text and no request for
anything.

The browser reaches nothing but the local server and local files: every other request
is refused and noted (nbgrader's own formgrader page asks for MathJax from a CDN, and
still saves grades without it); the feedback page must make no request at all.
Screenshots go to artifacts/browser/ (browser_support).

The same course holds an attacker, mallory (tests/inert_support.py), who hands in the
solution's 03_removing_b with a written answer and extra cells full of script, and code
whose outputs are HTML, JavaScript, SVG and the like. Each payload that runs marks the
page's title, calls a listener on 127.0.0.1 and gives every grade of a formgrader page
its maximum, as the attack of issue 17 did. Opening that answer in formgrader runs none
of them: the title is unmarked, the listener hears nothing, and the attacker's grades in
the gradebook and in grades.csv are unchanged; the test then runs the same script itself
in that page and sees the grades go to their maximum, so the check could fail. The
attacker's feedback page, opened offline, runs nothing either, carries its
Content-Security-Policy, still shows its formulas, and refuses a script put into the
page afterwards.
"""

import csv
import json
import re
import sys

import pytest
from autograder_support import SOURCE, gradebook_scores, pipeline_env, run, sqlite_url
from browser_support import browser_page, chromium_executable, jupyter_server, screenshot
from inert_support import MARK, attack_notebooks, listener, script

from bnlab.course import ASSIGNMENT

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.e2e]

STUDENTS = ["solution"]  # "release" is on the roster only: it handed nothing in
ANSWER, NOTEBOOK = "why_no_b", "03_removing_b"  # the one notebook each student hands in
SCORE = "3"
COMMENT = "Right idea: the mean subtraction cancels $b^{[l]}$; now say what $\\beta^{[l]}$ does."
ROSTER = (
    "id,first_name,last_name,email\nsolution,Ada,Lovelace,ada@example.org\nrelease,Bob,Ng,\n"
    "mallory,Eve,Mallory,\n"
)
ATTACKER = "mallory"


@pytest.fixture(scope="module")
def chromium():
    """Chromium's path; asked for before the course so that a skip costs no grading."""
    return chromium_executable()


@pytest.fixture(scope="module")
def server(course):
    """The formgrader: `jupyter server` in the course folder, on 127.0.0.1, for the module."""
    argv = [sys.executable, "-m", "jupyter", "server"]
    with jupyter_server(argv, cwd=course, env=pipeline_env()) as running:
        yield running


@pytest.fixture(scope="module")
def listening():
    """The listener the attacker's payloads call (inert_support.listener)."""
    with listener() as server:
        yield server


@pytest.fixture(scope="module")
def course(chromium, listening, released_course, course_copy, tmp_path_factory):
    """The course (STUDENTS and the attacker, each with NOTEBOOK only) after roster, grade,
    feedback and export."""
    from autograder.content.samples import generate

    inbox = tmp_path_factory.mktemp("formgrader-inbox")
    generate(inbox, SOURCE, released_course / "release" / ASSIGNMENT, STUDENTS)
    attack_notebooks(inbox, ATTACKER, listening.server_address[1])
    for notebook in inbox.glob(f"*/{ASSIGNMENT}/*.ipynb"):
        if notebook.stem != NOTEBOOK:
            notebook.unlink()
    path = course_copy("formgrader", [*STUDENTS, ATTACKER], inbox)
    roster = path.parent / "roster.csv"
    roster.write_text(ROSTER, encoding="utf-8")
    run("roster", path, "--from", roster)
    run("grade", path, "--workers", 2)
    run("feedback", path)
    run("export", path)
    return path


def _only_local(requests):
    """A route handler: the local server and local files are reached; anything else is
    refused and noted in `requests`."""

    def handle(route):
        url = route.request.url
        if url.startswith(("http://127.0.0.1:", "file://")):
            route.continue_()
        else:
            requests.append(url)
            route.abort()

    return handle


def _log_in(page, server):
    page.goto(f"{server.url}login")
    page.fill("input#password_input", server.token)
    page.click("#login_submit")
    page.wait_for_load_state()


def _saved(page, kind, action):
    """Run `action` and wait for the formgrader to save a grade or comment (its PUT)."""
    with page.expect_response(
        lambda r: f"/formgrader/api/{kind}/" in r.url and r.request.method == "PUT"
    ) as response:
        action()
    assert response.value.status == 200, response.value.text()


def _grade_in_formgrader(page, server, notebook_id):
    page.goto(f"{server.url}formgrader/submissions/{notebook_id}/")
    score = page.locator(f"input#{ANSWER}")
    score.wait_for()
    page.wait_for_function("window.formgrader && formgrader.grades && formgrader.grades.loaded")
    page.wait_for_function("formgrader.comments && formgrader.comments.loaded")
    _saved(page, "grade", lambda: (score.fill(SCORE), score.press("Tab")))
    comment = page.locator(f"textarea#{ANSWER}-comment")
    _saved(page, "comment", lambda: (comment.fill(COMMENT), comment.press("Tab")))
    screenshot(page, "formgrader-graded-by-hand")


def _submission_notebook_id(course, student="solution"):
    from nbgrader.api import Gradebook

    with Gradebook(sqlite_url(course)) as gradebook:
        return gradebook.find_submission_notebook(NOTEBOOK, ASSIGNMENT, student).id


def _generate_feedback_in_formgrader(page, server, student):
    """Press Generate Feedback on `student`'s row of the assignment's submissions; the
    formgrader's answer (success, log)."""
    page.goto(f"{server.url}formgrader/manage_submissions/{ASSIGNMENT}/")
    row = page.locator("tr", has=page.locator("td.student-id", has_text=student))
    button = row.locator("td.generate-feedback a")
    button.wait_for()
    address = f"/formgrader/api/assignment/{ASSIGNMENT}/{student}/generate_feedback"
    with page.expect_response(lambda r: r.url.endswith(address), timeout=120_000) as response:
        button.click()
    assert response.value.status == 200, response.value.text()
    page.locator("#success-modal").wait_for()
    screenshot(page, "formgrader-generate-feedback")
    return json.loads(response.value.text())


def _open_offline(page, path, seen):
    """Open the file `path` in `page` offline, appending every URL it requests to `seen`
    (only local ones are let through)."""
    page.context.route("**/*", _only_local(seen))
    page.on("request", lambda request: seen.append(request.url))
    page.context.set_offline(True)
    page.goto(path.as_uri())
    page.wait_for_load_state("load")


def test_generate_feedback_in_formgrader_writes_the_courses_pages(course, chromium, server):
    """First in the module: the solution's written answer is not graded by hand yet."""
    feedback = course / "feedback" / "solution" / ASSIGNMENT / f"{NOTEBOOK}.html"
    feedback.write_text("<p>a page formgrader must replace</p>", encoding="utf-8")
    requests = []
    with browser_page(chromium) as page:
        page.context.route("**/*", _only_local(requests))
        _log_in(page, server)
        answer = _generate_feedback_in_formgrader(page, server, "solution")
    assert answer["success"], answer
    assert "Writing" in answer["log"] and f"{NOTEBOOK}.html" in answer["log"], answer["log"]

    text = feedback.read_text(encoding="utf-8")
    assert "formgrader must replace" not in text
    assert "<script" not in text and "cdn" not in text.lower()  # nbgrader's loads MathJax
    seen = []
    with browser_page(chromium) as page:
        _open_offline(page, feedback, seen)
        policy = page.locator("meta[http-equiv='Content-Security-Policy']")
        content = policy.get_attribute("content")
        assert "default-src 'none'" in content and "script" not in content, content
        assert page.locator("script").count() == 0
        assert page.locator("math").count() > 20
        box = page.locator("math").first.bounding_box()
        assert box and box["width"] > 3 and box["height"] > 3, box
        heading = page.locator(f"a[name='{ANSWER}'] + div.panel-heading")
        assert "pending manual grading" in heading.inner_text(), heading.inner_text()
        screenshot(page, "feedback-from-formgrader")
    assert [url for url in seen if not url.startswith("file://")] == []

    output = run("feedback", course, "--no-progress").stdout
    assert "wrote 0 page(s) for 0 student(s)" in output, output
    assert "had been changed" not in output, output


def test_grade_in_formgrader_export_and_read_the_feedback_offline(course, chromium, server):
    notebook_id = _submission_notebook_id(course)
    requests = []
    with browser_page(chromium) as page:
        page.context.route("**/*", _only_local(requests))
        _log_in(page, server)
        page.goto(f"{server.url}formgrader/manage_students")
        page.locator("td.name", has_text="Lovelace").wait_for()
        names = sorted(" ".join(t.split()) for t in page.locator("td.name").all_inner_texts())
        assert names == ["Lovelace, Ada", "Mallory, Eve", "Ng, Bob"]  # not "None, None"
        screenshot(page, "formgrader-students")
        _grade_in_formgrader(page, server, notebook_id)

    output = run("export", course).stdout
    assert (
        "feedback: refreshed 1 page(s) of 1 student(s) whose grades or comments changed: solution"
    ) in output

    feedback = course / "feedback" / "solution" / ASSIGNMENT / f"{NOTEBOOK}.html"
    seen = []
    with browser_page(chromium) as page:
        _open_offline(page, feedback, seen)
        heading = page.locator(f"a[name='{ANSWER}'] + div.panel-heading")
        assert re.search(r"Score:\s*3\.0\s*/\s*4\.0", heading.inner_text()), heading.inner_text()
        panel = page.locator("div.nbgrader_cell", has=page.locator(f"a[name='{ANSWER}']"))
        footer = panel.locator(".panel-footer")
        text = " ".join(footer.inner_text().split())
        assert "Right idea: the mean subtraction cancels" in text and "now say what" in text
        assert "$" not in text
        formulas = footer.locator("math")
        assert formulas.count() == 2
        for index in range(2):
            box = formulas.nth(index).bounding_box()
            assert box and box["width"] > 3 and box["height"] > 3, box
        assert page.locator("math").count() > 20
        prose = "\n".join(page.locator(".text_cell_render").all_inner_texts())  # not code
        assert len(prose) > 1000
        assert not re.findall(r"\$[^$\n]*[\\^_{][^$\n]*\$", prose)
        screenshot(footer, "feedback-offline-comment")
        screenshot(page, "feedback-offline-page")
    assert [url for url in seen if not url.startswith("file://")] == []


# ------------------------------------------------------------------ the attacker


def _watch(page, dialogs):
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))


def test_the_attackers_feedback_pages_run_nothing(course, chromium, listening):
    pages = sorted((course / "feedback" / ATTACKER / ASSIGNMENT).glob("*.html"))
    assert [path.stem for path in pages] == [NOTEBOOK]
    seen, dialogs = [], []
    with browser_page(chromium) as page:
        page.context.route("**/*", _only_local(seen))
        page.on("request", lambda request: seen.append(request.url))
        _watch(page, dialogs)
        page.context.set_offline(True)
        for path in pages:
            page.goto(path.as_uri())
            page.wait_for_load_state("load")
            page.wait_for_timeout(300)  # a payload's timer or onload would have fired
            assert MARK not in page.title(), (path.name, page.title())
            policy = page.locator("meta[http-equiv='Content-Security-Policy']")
            content = policy.get_attribute("content")
            assert "default-src 'none'" in content and "script" not in content, content
            if path.stem == NOTEBOOK:
                text = page.locator("body").inner_text()
                assert "<script>document.title=" in text  # the answer, readable as text
                assert "[bnlab: output of type" in text
                assert page.locator("math").count() > 5
                box = page.locator("math").first.bounding_box()
                assert box and box["width"] > 3 and box["height"] > 3, box
                screenshot(page, "feedback-attacker")
                # The second wall: a script added to the page now is refused by its policy.
                page.evaluate(
                    "() => { const s = document.createElement('script');"
                    f" s.textContent = \"document.title = '{MARK}control'\";"
                    " document.head.appendChild(s); }"
                )
                page.wait_for_timeout(200)
                assert MARK not in page.title()
    assert dialogs == []
    assert [url for url in seen if not url.startswith("file://")] == []
    assert listening.seen == []


def _grades_row(course, student):
    with open(course / "reports" / "grades.csv", newline="", encoding="utf-8") as handle:
        return next(row for row in csv.DictReader(handle) if row["student_id"] == student)


def _open_answer(page, server, notebook_id):
    page.goto(f"{server.url}formgrader/submissions/{notebook_id}/")
    page.locator(f"input#{ANSWER}").wait_for()
    page.wait_for_function("window.formgrader && formgrader.grades && formgrader.grades.loaded")


def test_the_attackers_answer_runs_nothing_in_formgrader(course, chromium, listening, server):
    """Last in this module: its control changes the attacker's grades."""
    from playwright.sync_api import TimeoutError as PageTimeout

    notebook_id = _submission_notebook_id(course, ATTACKER)
    before = gradebook_scores(sqlite_url(course), [ATTACKER])[ATTACKER]
    row = _grades_row(course, ATTACKER)
    assert before[ANSWER] is None and float(row["score"]) < float(row["max_score"])
    requests, dialogs = [], []
    with browser_page(chromium) as page:
        page.context.route("**/*", _only_local(requests))
        _watch(page, dialogs)
        _log_in(page, server)
        try:
            _open_answer(page, server, notebook_id)
            page.wait_for_timeout(2000)  # the payloads' timers poll every 100 ms
        except PageTimeout:  # e.g. a payload took the page elsewhere: said below
            pass
        title, url = page.title(), page.url
        screenshot(page, "formgrader-attacker")
        assert MARK not in title and "/formgrader/submissions/" in url, (title, url)
        assert listening.seen == [] and dialogs == []
        text = page.locator("body").inner_text()
        assert "<script>document.title=" in text  # the answer, readable as text
        assert "The mean subtraction cancels" in text
        assert gradebook_scores(sqlite_url(course), [ATTACKER])[ATTACKER] == before
        run("export", course)
        assert _grades_row(course, ATTACKER) == row

        # Control: the payload's script, run by the test in the same page, does set
        # the title, reach the listener and give every grade its maximum.
        page.evaluate(script("control", listening.server_address[1]))
        page.wait_for_function("formgrader.grades.every(g => !g.hasChanged())")
        page.wait_for_timeout(1000)
        assert page.title() == f"{MARK}control"
    assert "/control" in listening.seen
    after = gradebook_scores(sqlite_url(course), [ATTACKER])[ATTACKER]
    assert after[ANSWER] == 4.0 and after != before
