"""The feedback pages.

- the exporter against nbconvert's own page: the same page without nbconvert's last
  pass over it, with alt text on every image, and its kept renderings never mixed up
  between pages;
- pages the feedback step did not write (changed, replaced, added or deleted since it
  wrote them, e.g. by nbgrader with another configuration) are stale: `feedback` and
  `export` write them again and name the students.
"""

import base64
import hashlib
import json

import nbformat
import pytest
from autograder_support import copy_course, run
from bs4 import BeautifulSoup
from nbconvert.exporters import HTMLExporter

from autograder.pipeline import feedback
from autograder.pipeline.feedback import IMAGE_ALT, FeedbackExporter
from autograder.workspace import Course
from bnlab.course import ASSIGNMENT

# A 1x1 PNG, and another (a different colour) for a second page's attachment.
PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360f8cf00000301010018dd8db00000000049454e44ae426082"
    )
).decode()
OTHER_PNG = PNG[:-8] + "AAAAAA=="


class NbconvertPage(FeedbackExporter):
    """Our exporter with nbconvert's own last step (the page through BeautifulSoup)."""

    from_notebook_node = HTMLExporter.from_notebook_node


def notebook(attachment):
    shared_markdown = "Look: ![a plot](attachment:plot.png) and $Z^{[l]} = W^{[l]} A^{[l-1]}$"
    code = "import numpy as np\nprint('<img src=x>')  # text, not a tag"
    cells = [
        nbformat.v4.new_markdown_cell(
            shared_markdown, attachments={"plot.png": {"image/png": attachment}}
        ),
        nbformat.v4.new_markdown_cell('Raw markup: <img src="data:image/png;base64,AAAA">'),
        nbformat.v4.new_code_cell(
            code,
            outputs=[
                nbformat.v4.new_output("stream", name="stdout", text="<img src=x>\n"),
                nbformat.v4.new_output("display_data", data={"image/png": PNG}),
            ],
        ),
        nbformat.v4.new_code_cell("%%time\nx = 1", metadata={"tags": ["t"]}),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["language_info"] = {"name": "python", "pygments_lexer": "ipython3"}
    return nb


def page(exporter_class, nb):
    html, _ = exporter_class(template_name="classic").from_notebook_node(nb)
    return BeautifulSoup(html, "html.parser")


def without_alt(soup):
    for img in soup.find_all("img"):
        img.attrs.pop("alt", None)
    return str(soup)


def test_the_page_is_nbconverts_page_with_alt_text_on_every_image():
    nb = notebook(PNG)
    ours, theirs = page(FeedbackExporter, nb), page(NbconvertPage, nb)
    images = ours.find_all("img")
    assert len(images) == 3  # the attachment, the raw tag and the plot; the printed one is text
    assert all(img.get("alt") for img in images), images
    assert [img["alt"] for img in images].count(IMAGE_ALT) == 2  # the attachment keeps its own
    assert "&lt;img src=x&gt;" in str(ours)
    assert without_alt(ours) == without_alt(theirs)


def test_a_kept_rendering_is_never_shown_on_a_page_it_was_not_made_for():
    # The same Markdown and code on two pages, with different attachments: each page shows
    # its own image, as nbconvert shows it.
    first, second = notebook(PNG), notebook(OTHER_PNG)
    for nb, attachment in ((first, PNG), (second, OTHER_PNG), (first, PNG)):
        ours = page(FeedbackExporter, nb)
        assert without_alt(ours) == without_alt(page(NbconvertPage, nb))
        assert f"data:image/png;base64,{attachment}" in str(ours)


# ------------------------------------------------------------------ pages not written here


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def _written(course, student, pages, state="now"):
    """`student`'s `pages` ({name: bytes}) on disk, recorded as the feedback step records
    the pages it writes: the state they were made from and each page's digest."""
    folder = course.feedback / student / ASSIGNMENT
    folder.mkdir(parents=True)
    for name, data in pages.items():
        (folder / name).write_bytes(data)
    record = {"state": state, "pages": {name: _sha256(data) for name, data in pages.items()}}
    path = course.reports / "feedback" / f"{student}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record), encoding="utf-8")
    return folder


def test_pages_other_than_those_written_are_stale(tmp_path):
    course = Course(tmp_path)
    pages = {"01_forward_bn.html": b"<p>one</p>", "02_backward_bn.html": b"<p>two</p>"}
    folders = {s: _written(course, s, pages) for s in ("same", "edited", "extra", "gone")}
    _written(course, "regraded", pages, state="before")
    (folders["edited"] / "01_forward_bn.html").write_bytes(b"<script src=mathjax></script>")
    (folders["extra"] / "03_removing_b.html").write_bytes(b"<p>three</p>")
    (folders["gone"] / "02_backward_bn.html").unlink()
    students = ["edited", "extra", "gone", "never", "regraded", "same"]
    reasons = feedback.stale_reasons(course, students, dict.fromkeys(students, "now"))
    assert reasons == {
        "edited": "foreign",
        "extra": "foreign",
        "gone": "foreign",
        "never": "missing",
        "regraded": "changed",
    }
    assert feedback.stale(course, students, dict.fromkeys(students, "now")) == sorted(reasons)


def test_a_record_without_the_pages_digests_is_stale(tmp_path):
    course = Course(tmp_path)
    folder = _written(course, "ada", {"01_forward_bn.html": b"<p>one</p>"})
    record = course.reports / "feedback" / "ada.json"
    record.write_text(json.dumps({"state": "now", "pages": ["01_forward_bn.html"]}))
    assert feedback.stale_reasons(course, ["ada"], {"ada": "now"}) == {"ada": "foreign"}
    assert (folder / "01_forward_bn.html").exists()


def _pages(course, student):
    return {
        page.name: page.read_bytes()
        for page in sorted((course / "feedback" / student / ASSIGNMENT).glob("*.html"))
    }


@pytest.mark.slow
def test_feedback_rewrites_a_page_it_did_not_write_and_names_the_student(graded_course, tmp_path):
    """A page overwritten with the head of nbgrader's own page: `feedback` writes the
    student's pages again, says so and names them, with its progress bar."""
    course = copy_course(graded_course.course, tmp_path / "course")
    _, student = min(
        (len(_pages(course, student)), student)
        for student in graded_course.students
        if _pages(course, student)
    )
    before = _pages(course, student)
    page = course / "feedback" / student / ASSIGNMENT / sorted(before)[0]
    page.write_text(NBGRADERS_OWN_HEAD, encoding="utf-8")

    result = run("feedback", course)
    assert f"feedback: wrote {len(before)} page(s) for 1 student(s)" in result.stdout, result.stdout
    assert (
        "feedback: the pages of 1 student(s) had been changed, replaced or deleted since this "
        "step wrote them (e.g. by formgrader's Generate Feedback or `nbgrader "
        f"generate_feedback` with another configuration); rewritten: {student}\n"
    ) in result.stdout, result.stdout
    assert "feedback: 100%" in result.stderr and "1/1" in result.stderr, result.stderr
    assert _pages(course, student) == before


def test_export_rewrites_pages_it_did_not_write_and_names_the_students(tmp_path, monkeypatch):
    """refresh (run by `export`): the students whose pages were made from other grades
    and those whose pages it did not write are written again, each named apart."""
    course = Course(tmp_path)
    pages = {"01_forward_bn.html": b"<p>one</p>"}
    for student in ("ada", "bob", "cy"):
        (course.autograded / student / ASSIGNMENT).mkdir(parents=True)
        (course.autograded / student / ASSIGNMENT / "01_forward_bn.ipynb").write_text("{}")
        folder = _written(course, student, pages)
    (folder / "01_forward_bn.html").write_bytes(b"<p>replaced</p>")  # cy's
    asked = []
    monkeypatch.setattr(Course, "apply_environ", lambda self: None)  # this process's stays
    monkeypatch.setattr(
        feedback,
        "state_digests",
        lambda course, students: {"ada": "now", "bob": "new", "cy": "now"},
    )
    monkeypatch.setattr(
        feedback,
        "write_pages",
        lambda course, students, digests, workers, progress: (
            asked.extend(students) or {s: [f"{s}.html"] for s in students},
            [],
        ),
    )
    lines = []
    assert feedback.refresh(course, log=lines.append) == ["bob", "cy"]
    assert asked == ["bob", "cy"]
    assert lines == [
        "feedback: refreshed 1 page(s) of 1 student(s) whose grades or comments changed: bob",
        "feedback: the pages of 1 student(s) had been changed, replaced or deleted since this "
        "step wrote them (e.g. by formgrader's Generate Feedback or `nbgrader "
        "generate_feedback` with another configuration); rewritten: cy",
    ]


# The start of the page nbgrader writes with its own settings (MathJax from a CDN).
NBGRADERS_OWN_HEAD = """<!DOCTYPE html>
<html>
<head><meta charset="utf-8" />
<title>03_removing_b</title>
<script src="https://cdnjs.cloudflare.com/ajax/libs/mathjax/2.7.7/latest.js?config=TeX-AMS_CHTML-full,Safe"> </script>
</head>
"""
