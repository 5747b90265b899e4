"""Step 4, feedback: nbgrader's HTML feedback per student, checked for grader-only code.

The hidden test cells hold only a call (``harness.run("x", x)``), and their outputs
in the graded notebooks are the verdicts the grader decided (grade.py): what failed
and the hidden test's message, never the hidden test's code. This step checks that
on every page: a page that shows a line of the grader-only modules fails the step
and is deleted.

The pages are nbgrader's, made with a template of our own (feedback_templates/):

- an answer nobody has graded by hand yet reads "pending manual grading", not 0,
  and the page's total says how many points it leaves out (MarkPending);
- every formula is MathML, written when the page is made (FeedbackExporter):
  the pages load no script, so they read the same offline;
- nothing a student wrote runs: the notebook is made inert first (autograder.grading.inert:
  Markdown with active markup shows as text, outputs keep text and raster images), a
  formula whose MathML would hold markup shows as TeX, and the page's
  Content-Security-Policy (in the template) lets it run no script, load nothing but
  inline images and styles, and send no form.

Each student's pages are made from the autograded notebooks and what the gradebook
holds for them (scores, manual scores, comments). reports/feedback/<student>.json
records a digest of both when the pages are written (state_digests); `stale()`
names the students whose pages no longer match, e.g. after grading by hand in
formgrader, and `refresh()` (run by `export`) rewrites just those.
"""

import functools
import hashlib
import html
import json
import os
import re
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from nbconvert.exporters import HTMLExporter, TemplateExporter
from nbconvert.filters.highlight import Highlight2HTML
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath
from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter
from nbgrader.preprocessors import NbGraderPreprocessor

from autograder.errors import GraderError
from autograder.grading import inert
from autograder.pipeline import leaks
from autograder.workspace import COURSE_ID, write_atomic
from bnlab.course import ASSIGNMENT

TEMPLATES = Path(__file__).resolve().parent / "feedback_templates"
TEMPLATE_NAME = "bnlab_feedback"
# Part of every page's recorded state, with the version of the inert rules (the pages
# render the inert notebook): change it when the pages change, and every student's
# feedback is rewritten on the next run.
PAGE_VERSION = "4"


class FeedbackError(GraderError):
    """Feedback could not be generated, or showed grader-only code."""


# ------------------------------------------------------------------ the pages


def tex_to_mathml(tex, display):
    """MathML for the LaTeX `tex` (display: "block" or "inline"); if it cannot be
    converted, or the MathML would hold anything but formula elements (e.g. markup
    from \\text{...}, a link from \\href), the TeX source as code, so nothing is lost."""
    from latex2mathml.converter import convert

    try:
        mathml = convert(tex.strip(), display=display)
    except Exception:  # an unknown command: show the source rather than fail the page
        mathml = ""
    # HTML needs no namespace on <math>: the page then holds no address at all.
    mathml = mathml.replace(' xmlns="http://www.w3.org/1998/Math/MathML"', "", 1)
    if not mathml or not inert.mathml_is_inert(mathml):
        return f'<code class="tex">{html.escape(tex)}</code>'
    return mathml


class MathMLRenderer(IPythonRenderer):
    """nbconvert's Markdown renderer, with formulas as MathML instead of TeX for MathJax."""

    def block_math(self, body):
        return tex_to_mathml(body, "block")

    def inline_math(self, body):
        return tex_to_mathml(body, "inline")

    def latex_environment(self, name, body):
        return tex_to_mathml(f"\\begin{{{name}}}{body}\\end{{{name}}}", "block")


# An <img> tag without alt text. The only tags on a page are the template's: whatever a
# student wrote shows as text (autograder.grading.inert), so "<img" in it is "&lt;img".
_IMG_WITHOUT_ALT = re.compile(r"<img(?![^>]*\balt=)(?=[\s>/])")
IMAGE_ALT = "An image the cell above drew"


@functools.lru_cache(maxsize=4096)
def _markdown_html(source, attachments, path, options):
    """The HTML of the Markdown `source` (attachments and options as JSON): a pure function
    of its arguments, kept for the next page, since most Markdown cells are the lesson's
    own, the same on every student's page."""
    renderer = MathMLRenderer(
        escape=False, attachments=json.loads(attachments), path=path, **json.loads(options)
    )
    return MarkdownWithMath(renderer=renderer).render(source)


@functools.lru_cache(maxsize=4096)
def _highlighted(lexer, source, language, metadata):
    """The highlighted HTML of the code `source` (metadata as JSON), kept for the next
    page like _markdown_html: most code cells are the lesson's."""
    return Highlight2HTML(pygments_lexer=lexer)(source, language, json.loads(metadata))


class FeedbackExporter(HTMLExporter):
    """The exporter of the feedback pages: Markdown (cells, comments) through MathMLRenderer,
    and HTMLExporter's page without its last pass (below)."""

    def from_notebook_node(self, nb, resources=None, **kw):
        """(html, resources) of `nb`, as HTMLExporter makes them, except for its final
        pass: it parses and reprints the whole page with BeautifulSoup (two thirds of
        each page's time, for pages of 200-300 kB) to give images alt text and
        JupyterLab's cells tab stops. The classic template has no JupyterLab cells, and
        the images get their alt text here."""
        language = nb.metadata.get("language_info", {})
        lexer = language.get("pygments_lexer", language.get("name"))
        resources = self._init_resources(resources)
        self.register_filter(
            "highlight_code",
            lambda source, language=None, metadata=None: _highlighted(
                lexer, source, language, json.dumps(metadata or {}, sort_keys=True, default=str)
            ),
        )
        self.register_filter(
            "filter_data_type",
            WidgetsDataTypeFilter(
                notebook_metadata=self._nb_metadata, parent=self, resources=resources
            ),
        )
        page, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
        return _IMG_WITHOUT_ALT.sub(f'<img alt="{IMAGE_ALT}"', page), resources

    def markdown2html(self, context, source):
        cell = context.get("cell", {})
        options = {
            "embed_images": self.embed_images,
            "anchor_link_text": self.anchor_link_text,
            "exclude_anchor_links": self.exclude_anchor_links,
            **self.lexer_options,
        }
        return _markdown_html(
            source,
            json.dumps(cell.get("attachments", {}), sort_keys=True),
            # the folder images are read from, only when they are embedded
            context.get("resources", {}).get("metadata", {}).get("path", "")
            if self.embed_images
            else "",
            json.dumps(options, sort_keys=True),
        )

    # Called with the template's context, like the method it replaces (Jinja's mark).
    markdown2html.jinja_pass_arg = HTMLExporter.markdown2html.jinja_pass_arg


class MarkPending(NbGraderPreprocessor):
    """After nbgrader's GetGrades: mark the grade cells still waiting for manual grading
    (metadata nbgrader.pending) and put their points in resources["nbgrader"]["pending"]."""

    def preprocess(self, nb, resources):
        from nbgrader.api import Gradebook

        info = resources["nbgrader"]
        with Gradebook(info["db_url"]) as gradebook:
            notebook = gradebook.find_submission_notebook(
                info["notebook"], info["assignment"], info["student"]
            )
            waiting = {
                grade.name: grade.max_score for grade in notebook.grades if grade.needs_manual_grade
            }
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade") or meta.get("task"):
                meta["pending"] = meta.get("grade_id") in waiting
        info["pending"] = float(sum(waiting.values()))
        return nb, resources


def feedback_config(course):
    """nbgrader's configuration of `course`, with our exporter, template and MarkPending."""
    import nbgrader

    config = course.nbgrader_config()
    nbgrader_templates = Path(nbgrader.__file__).parent / "server_extensions/formgrader/templates"
    config.GenerateFeedback.exporter_class = f"{__name__}.FeedbackExporter"
    config.GenerateFeedback.preprocessors = [
        "autograder.grading.inert.InertNotebook",
        "nbgrader.preprocessors.GetGrades",
        f"{__name__}.MarkPending",
        "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
    ]
    # nbgrader's API sets HTMLExporter.template_name; the subclass's section wins.
    config.FeedbackExporter.template_name = TEMPLATE_NAME
    config.FeedbackExporter.extra_template_basedirs = [str(TEMPLATES), str(nbgrader_templates)]
    # Our index.html.j2 extends nbgrader's as "feedback/index.html.j2"; its page inlines
    # bootstrap.min.css from nbgrader's static files.
    bootstrap = nbgrader_templates.parent / "static/node_modules/bootstrap/dist/css"
    config.FeedbackExporter.extra_template_paths = [str(nbgrader_templates), str(bootstrap)]
    return config


def _feedback_one(course, student):
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    course.apply_environ()
    config = feedback_config(course)
    api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    try:
        result = api.generate_feedback(ASSIGNMENT, student, force=True)
    except Exception as error:  # noqa: BLE001 -- one student's pages never stop the others'
        return student, False, f"{type(error).__name__}: {error}"
    return (
        student,
        bool(result.get("success")),
        (result.get("log") or "") + (result.get("error") or ""),
    )


def check_pages(course, students):
    """[(page, leaked lines)] of feedback pages that show hidden-test code."""
    secret = [line for _, line in leaks.hidden_test_lines().values()]
    found = []
    for student in students:
        for page in pages_of(course, student):
            text = html.unescape(page.read_text(encoding="utf-8"))
            leaked = [line for line in secret if line in text]
            if leaked:
                found.append((page, leaked))
    return found


def pages_of(course, student):
    """The feedback pages of `student`, sorted."""
    return sorted((course.feedback / student / ASSIGNMENT).glob("*.html"))


# ------------------------------------------------------------------ what the pages show


def _gradebook_state(gradebook, student):
    """What the gradebook holds that a student's pages show, as plain values."""
    submission = gradebook.find_submission(ASSIGNMENT, student)
    state = {"late": submission.late_submission_penalty}
    for notebook in sorted(submission.notebooks, key=lambda n: n.name):
        state[notebook.name] = {
            "grades": sorted(
                (g.name, g.auto_score, g.manual_score, g.extra_credit, g.needs_manual_grade)
                for g in notebook.grades
            ),
            "comments": sorted(
                (c.name, c.auto_comment, c.manual_comment) for c in notebook.comments
            ),
        }
    return state


def state_digests(course, students):
    """{student: digest} of what each student's pages are made from: the autograded
    notebooks, the gradebook's scores and comments, and PAGE_VERSION."""
    from nbgrader.api import Gradebook, MissingEntry

    digests = {}
    with Gradebook(course.db_url, COURSE_ID) as gradebook:
        for student in students:
            try:
                state = _gradebook_state(gradebook, student)
            except MissingEntry:
                state = None
            digest = hashlib.sha256(
                json.dumps([PAGE_VERSION, inert.VERSION, state], default=str).encode()
            )
            for path in sorted((course.autograded / student / ASSIGNMENT).glob("*.ipynb")):
                digest.update(path.name.encode() + b"\0" + path.read_bytes())
            digests[student] = digest.hexdigest()
    return digests


def _record_path(course, student):
    return course.reports / "feedback" / f"{student}.json"


def _recorded(course, student):
    try:
        return json.loads(_record_path(course, student).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def graded_students(course, notebooks=True):
    """The students with autograded notebooks, sorted; notebooks=False: those graded
    without any (they could not be graded: they get no pages)."""
    if not course.autograded.is_dir():
        return []
    return sorted(
        p.name
        for p in course.autograded.iterdir()
        if (p / ASSIGNMENT).is_dir() and any((p / ASSIGNMENT).glob("*.ipynb")) == notebooks
    )


def stale(course, students, digests):
    """The `students` whose pages are missing or were made from other grades than now."""
    return [
        student
        for student in students
        if not pages_of(course, student)
        or _recorded(course, student).get("state") != digests[student]
    ]


# ------------------------------------------------------------------ the steps


def write_pages(course, students, digests, workers):
    """Make the pages of `students`, check them, and record the state of each student
    whose pages came out whole. Returns ({student: pages on disk}, [problems])."""
    problems, failed = [], set()
    if students:
        workers = max(1, min(workers, len(students)))
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            for student, success, text in pool.map(
                _feedback_one, [course] * len(students), students
            ):
                if not success:
                    failed.add(student)
                    last = text.strip().splitlines()[-1] if text.strip() else "failed"
                    problems.append(f"{student}: {last}")
    for page, lines in check_pages(course, students):
        page.unlink()
        failed.add(page.parent.parent.name)
        problems.append(
            f"{page.relative_to(course.root)} showed grader-only code ({lines[0]!r}); deleted"
        )
    written = {student: pages_of(course, student) for student in students}
    for student in students:
        if student not in failed:
            record = {"state": digests[student], "pages": [p.name for p in written[student]]}
            write_atomic(_record_path(course, student), json.dumps(record, indent=1) + "\n")
    return written, problems


def feedback(course, students=None, workers=1, log=print):
    """Run step 4: the pages of `students` (rewritten even if up to date), or by default
    of every graded student whose pages are missing or out of date. Returns the pages
    written."""
    course.prepare()
    course.apply_environ()
    graded = graded_students(course)
    if students:
        missing = sorted(set(students) - set(graded))
        if missing:
            raise FeedbackError(f"not graded yet: {', '.join(missing)} (run grade first)")
    digests = state_digests(course, students or graded)
    chosen = sorted(set(students)) if students else stale(course, graded, digests)
    written, problems = write_pages(course, chosen, digests, workers)
    pages = [page for student in chosen for page in written[student]]
    line = f"feedback: wrote {len(pages)} page(s) for {len(chosen)} student(s) in {course.feedback}"
    if not students:
        line += f"; {len(graded) - len(chosen)} student(s) already up to date"
    log(line)
    ungraded = graded_students(course, notebooks=False)
    for student in ungraded:  # pages of an earlier grading would show grades they no longer have
        for page in pages_of(course, student):
            page.unlink()
        _record_path(course, student).unlink(missing_ok=True)
    if ungraded:
        log(
            f"feedback: no pages for {len(ungraded)} student(s) who could not be graded "
            f"(their grading reports say why): {', '.join(ungraded)}"
        )
    if problems:
        raise FeedbackError("feedback problems:\n  " + "\n  ".join(problems))
    return pages


def refresh(course, workers=None, log=print):
    """Rewrite the pages of the students whose grades or comments changed since their
    feedback was written (the feedback step has run for them: they have pages or a
    record). Run by `export`, so grading by hand then exporting updates the pages too.
    Returns the students refreshed."""
    graded = graded_students(course)
    fed_back = [
        student
        for student in graded
        if pages_of(course, student) or _record_path(course, student).exists()
    ]
    if not fed_back:
        return []
    course.apply_environ()
    digests = state_digests(course, fed_back)
    chosen = stale(course, fed_back, digests)
    workers = workers or os.cpu_count() or 1
    written, problems = write_pages(course, chosen, digests, workers)
    if chosen:
        count = sum(len(pages) for pages in written.values())
        log(
            f"feedback: refreshed {count} page(s) of {len(chosen)} student(s) whose grades "
            f"or comments changed: {', '.join(chosen)}"
        )
    else:
        log(f"feedback: the pages of all {len(fed_back)} student(s) are up to date")
    never = len(graded) - len(fed_back)
    if never:
        log(f"feedback: {never} graded student(s) have no feedback yet (run feedback)")
    if problems:
        raise FeedbackError("feedback problems:\n  " + "\n  ".join(problems))
    return chosen
