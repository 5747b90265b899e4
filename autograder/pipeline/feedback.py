"""Step 4, feedback: nbgrader's HTML feedback per student, checked for grader-only code.

The hidden test cells hold only a call (``harness.run("x", x)``), and their outputs
in the graded notebooks are the verdicts the grader decided (grade.py): what failed
and the hidden test's message, never the hidden test's code, and under a failure on
wrong values the classic mistake they match, in the visible checks' words
(autograder.grading.diagnosis). This step checks that
on every page: a page that shows a line of the grader-only modules fails the step
and is deleted.

The pages are nbgrader's, made with a template of our own (feedback_templates/), and the
course's nbgrader configuration (Course.nbgrader_config) names this exporter, template and
these preprocessors, so formgrader's Generate Feedback and `nbgrader generate_feedback`
run in the course folder make the same pages:

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
records a digest of both when the pages are written (state_digests), and a digest of
each page's bytes; `stale()` names the students whose pages no longer match: made from
other grades (e.g. after grading by hand in formgrader), or pages this step did not
write (a page changed or replaced since, e.g. by another nbgrader configuration, an
extra page, a page gone). The feedback step rewrites those, and so does `refresh()`
(run by `export`).
"""

import functools
import hashlib
import html
import json
import os
import re
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context

from nbconvert.exporters import HTMLExporter, TemplateExporter
from nbconvert.filters.highlight import Highlight2HTML
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath
from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter
from nbgrader.preprocessors import NbGraderPreprocessor

from autograder.errors import GraderError
from autograder.grading import inert
from autograder.pipeline import leaks
from autograder.workspace import COURSE_ID, progress_bar, write_atomic
from bnlab.course import ASSIGNMENT

# Part of every page's recorded state, with the version of the inert rules (the pages
# render the inert notebook): change it when the pages change or what is recorded of
# them (5: each page's digest; 6: a failure on wrong values names the classic mistake they
# match), and every student's feedback is rewritten on the next run.
PAGE_VERSION = "6"


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


def _feedback_one(course, student):
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    course.apply_environ()
    config = course.nbgrader_config()  # names our exporter, template and preprocessors
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


def page_digest(page):
    """The digest of a page's bytes, as recorded when the feedback step writes it."""
    return hashlib.sha256(page.read_bytes()).hexdigest()


# Why a student's pages must be written again (stale_reasons).
MISSING = "missing"  # none yet
CHANGED = "changed"  # made from other grades, comments or notebooks, or by an older version
FOREIGN = "foreign"  # not as this step wrote them: changed, replaced, added or deleted since


def stale_reasons(course, students, digests):
    """{student: MISSING, CHANGED or FOREIGN} for the `students` whose pages must be written
    again; `digests` from state_digests. FOREIGN: the pages on disk are not those this
    step wrote (a page whose bytes differ from the recorded ones, e.g. rewritten by
    nbgrader with another template; a page it did not write; one of its pages gone)."""
    reasons = {}
    for student in students:
        pages = pages_of(course, student)
        record = _recorded(course, student)
        if not pages and not record:
            reasons[student] = MISSING
        elif record.get("state") != digests[student]:
            reasons[student] = CHANGED
        elif record.get("pages") != {page.name: page_digest(page) for page in pages}:
            reasons[student] = FOREIGN
    return reasons


def stale(course, students, digests):
    """The `students` whose pages are missing, were made from other grades than now, or
    are not those this step wrote (stale_reasons)."""
    return sorted(stale_reasons(course, students, digests))


def _foreign_line(students):
    return (
        f"feedback: the pages of {len(students)} student(s) had been changed, replaced or "
        "deleted since this step wrote them (e.g. by formgrader's Generate Feedback or "
        f"`nbgrader generate_feedback` with another configuration); rewritten: {', '.join(students)}"
    )


# ------------------------------------------------------------------ the steps


def write_pages(course, students, digests, workers, progress=False):
    """Make the pages of `students` (progress: with a progress bar), check them, and record
    the state of each student whose pages came out whole, with a digest of each page.
    Returns ({student: pages on disk}, [problems])."""
    problems, failed = [], set()
    if students:
        workers = max(1, min(workers, len(students)))
        results = {}
        bar = progress_bar(len(students), "feedback", progress)
        try:
            with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
                futures = [pool.submit(_feedback_one, course, student) for student in students]
                for future in as_completed(futures):
                    student, success, text = future.result()
                    results[student] = success, text
                    bar.set_postfix_str(student[-24:])
                    bar.update(1)
        finally:
            bar.close()
        for student in students:
            success, text = results[student]
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
        if student in failed:  # written again on the next run
            _record_path(course, student).unlink(missing_ok=True)
            continue
        pages = {page.name: page_digest(page) for page in written[student]}
        record = {"state": digests[student], "pages": pages}
        write_atomic(_record_path(course, student), json.dumps(record, indent=1) + "\n")
    return written, problems


def feedback(course, students=None, workers=1, log=print, progress=True):
    """Run step 4: the pages of `students` (rewritten even if up to date), or by default
    of every graded student whose pages are missing, out of date or not those this step
    wrote; progress: with a progress bar. Returns the pages written."""
    course.prepare()
    course.apply_environ()
    graded = graded_students(course)
    if students:
        missing = sorted(set(students) - set(graded))
        if missing:
            raise FeedbackError(f"not graded yet: {', '.join(missing)} (run grade first)")
    digests = state_digests(course, students or graded)
    reasons = stale_reasons(course, students or graded, digests)
    chosen = sorted(set(students)) if students else sorted(reasons)
    written, problems = write_pages(course, chosen, digests, workers, progress)
    pages = [page for student in chosen for page in written[student]]
    line = f"feedback: wrote {len(pages)} page(s) for {len(chosen)} student(s) in {course.feedback}"
    if not students:
        line += f"; {len(graded) - len(chosen)} student(s) already up to date"
    log(line)
    foreign = [student for student in chosen if reasons.get(student) == FOREIGN]
    if foreign:
        log(_foreign_line(foreign))
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


def refresh(course, workers=None, log=print, progress=False):
    """Rewrite the pages of the students whose grades or comments changed since their
    feedback was written (the feedback step has run for them: they have pages or a
    record), or whose pages are not those it wrote. Run by `export`, so grading by hand
    then exporting updates the pages too. Returns the students refreshed."""
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
    reasons = stale_reasons(course, fed_back, digests)
    chosen = sorted(reasons)
    workers = workers or os.cpu_count() or 1
    written, problems = write_pages(course, chosen, digests, workers, progress)
    changed = [student for student in chosen if reasons[student] != FOREIGN]
    foreign = [student for student in chosen if reasons[student] == FOREIGN]
    if changed:
        count = sum(len(written[student]) for student in changed)
        log(
            f"feedback: refreshed {count} page(s) of {len(changed)} student(s) whose grades "
            f"or comments changed: {', '.join(changed)}"
        )
    if foreign:
        log(_foreign_line(foreign))
    if not chosen:
        log(f"feedback: the pages of all {len(fed_back)} student(s) are up to date")
    never = len(graded) - len(fed_back)
    if never:
        log(f"feedback: {never} graded student(s) have no feedback yet (run feedback)")
    if problems:
        raise FeedbackError("feedback problems:\n  " + "\n  ".join(problems))
    return chosen
