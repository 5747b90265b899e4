"""Step 3, grade: autograde every submission (or some), in parallel, resumably.

The parts, one module each:
- autograder.grading.submission -- one submission's grading (what a worker does);
- autograder.grading.executors -- where: worker processes here, or a Dask cluster;
- autograder.grading.gradebook_writer -- the parent, the only writer of the gradebook, the
  autograded notebooks and the reports, merges each student as it comes in;
- autograder.grading.reports -- each student's report and its plain words.

Why it is safe to kill, to rerun, and to run with many workers: submissions are
never touched (workers get their bytes); a student's report is written last,
after the gradebook and the notebooks, so a run killed at any point leaves no
report for unfinished students, and the next run grades them and skips the
finished ones (unless --force, --student or a changed submission or source).
Grades given by hand in formgrader never make a student out of date; each student graded
again is named, with the reason, before grading starts, and a run ends with one summary
line, with the progress bar or without it (--no-progress).
The parent keeps no more of a student than the submissions being graded: a
cohort of any size grades in flat memory. One student never stops the run: a
student whose grading or merge fails (an attempt time that is no time, any
error while merging) is merged as "could not be graded" with the reason
(reports.could_not_grade) and graded again by the next run.
"""

import contextlib
import fcntl
import hashlib
import os
import shutil
import time
import traceback
import warnings
import zipfile

import nbformat

from autograder import boundary, sandbox
from autograder.errors import GraderError
from autograder.grading import (
    executors,
    gradebook_writer,
    inert,
    nbgrader_steps,
    reports,
    scratch_folder,
    submission,
    verdicts,
)
from autograder.grading.inert import printable
from autograder.grading.student_venv import student_venv
from autograder.workspace import COURSE_ID, progress_bar
from bnlab.course import ASSIGNMENT, NOTEBOOKS

GRADER_VERSION = 4  # bump when a change of grading logic must regrade everyone


class GradeError(GraderError):
    """Grading could not start (no release, another grading run, ...)."""


# ------------------------------------------------------------------ the assignment


def source_digest(course, settings=True):
    """What the grades depend on besides the submission: the grader's version, the
    settings that change grades (unless `settings` is False: what is made from the
    notebooks alone, the template gradebook and the recorded cases, does not depend on
    them) and the source notebooks."""
    digest = hashlib.sha256(f"v{GRADER_VERSION}".encode())
    if settings:
        digest.update(f" timeout={course.timeout} all={course.run_all_cells}".encode())
    for stem in NOTEBOOKS:
        path = course.source / f"{stem}.ipynb"
        digest.update(path.read_bytes() if path.exists() else b"")
    return digest.hexdigest()


def template_gradebook(course):
    """An SQLite gradebook holding only the assignment (no students), built with
    generate_assignment once per version of the source notebooks: what nbgrader's
    gradebook holds of them (nbgrader_steps.read_assignment)."""
    key = source_digest(course, settings=False)[:16]
    template = course.work / f"template-{key}"
    db = template / "gradebook.db"
    if db.exists():
        return db
    for stale in course.work.glob("template-*"):
        shutil.rmtree(stale, ignore_errors=True)
    building = course.work / f".template-{key}-{os.getpid()}"
    shutil.rmtree(building, ignore_errors=True)
    (building / "source").mkdir(parents=True)
    shutil.copytree(course.source, building / "source" / ASSIGNMENT)
    url = f"sqlite:///{building / 'gradebook.db'}"
    result = course.api(root=building, db_url=url).generate_assignment(
        ASSIGNMENT, force=True, create=True
    )
    if not result.get("success"):
        raise GradeError("could not prepare the grading template:\n" + (result.get("log") or ""))
    shutil.rmtree(building / "release", ignore_errors=True)
    try:
        os.rename(building, template)
    except OSError:  # built by a concurrent run meanwhile
        shutil.rmtree(building, ignore_errors=True)
    return db


def source_notebooks(course):
    """{stem: nbgrader_steps.SourceNotebook}, read from the template gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{template_gradebook(course)}", COURSE_ID) as gradebook:
        return nbgrader_steps.read_assignment(gradebook, ASSIGNMENT)


def release_notebooks(course):
    """{stem: release notebook (nbformat node) or None}."""
    found = {}
    for stem in NOTEBOOKS:
        path = course.release / f"{stem}.ipynb"
        found[stem] = nbformat.read(path, as_version=4) if path.exists() else None
    return found


def grading_cases(course):
    """The folder of recorded inputs the harness reads (autograder.grading.verdicts), one per
    version of the source notebooks and of the grader."""
    key = source_digest(course, settings=False)[:16]
    folder = course.work / f"cases-{key}"
    if not folder.is_dir():
        for stale in course.work.glob("cases-*"):
            shutil.rmtree(stale, ignore_errors=True)
        verdicts.write_cases(folder)
    return folder


def _student_wheel(course):
    """The release's student wheel; GradeError if there is none, or if its grading runtime
    (bnlab/_grading, which runs the notebooks in the sandbox) is not this grader's."""
    wheels = sorted(course.dist.glob("bnlab-*.whl"))
    if not wheels:
        raise GradeError("no student wheel: run `python -m autograder release` first")
    if _runtime_of(wheels[-1]) != _runtime_here():
        raise GradeError(
            f"the student wheel {wheels[-1].name} was built by another version of bnlab "
            "(its grading runtime differs from this grader's): run "
            "`python -m autograder release` again"
        )
    return wheels[-1]


RUNTIME = "bnlab/_grading/"


def _runtime_of(wheel):
    """{member: bytes} of the grading runtime in `wheel`."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            return {
                name: archive.read(name)
                for name in archive.namelist()
                if name.startswith(RUNTIME) and name.endswith(".py")
            }
    except (OSError, zipfile.BadZipFile):
        return None


def _runtime_here():
    """{member: bytes} of this grader's grading runtime, named as in the wheel."""
    folder = boundary.student_project() / "_grading"
    return {f"{RUNTIME}{path.name}": path.read_bytes() for path in folder.glob("*.py")}


def _context(course, scratch, remote):
    """The run's submission.Context: on a cluster, workers make their own venv and cases
    from the student wheel; here, they use the course's."""
    common = dict(
        assignment=source_notebooks(course),
        releases=release_notebooks(course),
        timeout=course.timeout,
        limits=course.limits,
        sandboxed=course.sandbox,
        run_all_cells=course.run_all_cells,
        fingerprint=submission.verdicts_fingerprint(),
    )
    wheel = _student_wheel(course)  # refused here, before any worker, if it is stale
    if remote:
        return submission.Context(**common, wheel=(wheel.name, wheel.read_bytes()))
    if not course.student_python.exists():  # .work was cleared
        student_venv(course, wheel)
    return submission.Context(
        **common,
        python=course.student_python,
        cases=grading_cases(course),
        fonts=_font_cache(course),
        hide=(str(course.root),),
        scratch=scratch,
    )


def _font_cache(course):
    """matplotlib's font cache, built once by the student venv's Python: every notebook
    server starts with a copy instead of building its own."""
    fonts = course.work / "mpl-cache"
    if not list(fonts.glob("fontlist-*.json")):
        sandbox.prepare_matplotlib_cache(fonts, course.student_python)
    return fonts


# ------------------------------------------------------------------ the step


@contextlib.contextmanager
def grading_lock(course):
    course.work.mkdir(parents=True, exist_ok=True)
    handle = open(course.work / "grade.lock", "w")  # noqa: SIM115
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise GradeError(
            "another grading run is using this course; wait for it to finish"
        ) from None
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def grade(course, students=None, workers=1, force=False, progress=True, log=print, scheduler=None):
    """Grade `students` (default: every submission) here with `workers` processes, or on
    the Dask cluster of `scheduler`. Returns the ids of the students graded."""
    from nbgrader.api import Gradebook

    warnings.filterwarnings("ignore", module="sqlalchemy")
    warnings.filterwarnings("ignore", module="nbgrader")
    _can_grade(course, here=scheduler is None)
    course.prepare()
    course.apply_environ()
    chosen = _chosen(course, students)
    with grading_lock(course), Gradebook(course.db_url, COURSE_ID) as gradebook:
        scratch_folder.cleanup_stale(course)
        _require_assignment(course, gradebook)
        source = source_digest(course)
        why = "--force" if force else "named with --student" if students else None
        todo, older, regraded = _todo(course, gradebook, chosen, source, why)
        for report in older:
            gradebook_writer.make_inert(course, report)
        if older:
            log(
                f"grade: made the autograded notebooks of {len(older)} student(s), graded by "
                "an older version, inert (formgrader shows them): grades unchanged"
            )
        where = f"Dask at {scheduler}" if scheduler else f"{workers} worker(s)"
        how = sandbox.describe() if course.sandbox else "UNSANDBOXED (--no-sandbox)"
        skipped = len(chosen) - len(todo)
        log(
            f"grade: {len(todo)} submission(s) to grade"
            + (
                f", {skipped} already graded and unchanged (--force regrades them)"
                if skipped
                else ""
            )
            + f", {where}, {course.memory_limit_text}, {how}"
        )
        for line in _regraded_lines(regraded):
            log(line)
        if not todo:
            return []
        # outside the course: the sandbox's mount table shows where its folders come from
        scratch = scratch_folder.new_scratch(course)
        try:
            context = _context(course, scratch, remote=scheduler is not None)
            return _grade_all(
                course, gradebook, todo, context, source, workers, scheduler, progress, log
            )
        finally:
            scratch_folder.remove_scratch(course, scratch)


def _can_grade(course, here):
    """Refuse to start where the limits or the sandbox cannot be had (on a cluster, the
    workers need them: each refuses a task it cannot grade safely)."""
    if here:  # MemoryLimitError, SandboxUnavailable: plain words, as a GradeError's
        course.check_memory_limit()
        if course.sandbox:
            sandbox.check()
    if not here:
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise GradeError(
                "grading on a Dask cluster (--scheduler) needs the dask extra: "
                "pip install 'bnlab-instructor[dask]' (on the workers too)"
            ) from None
    if not all((course.source / f"{stem}.ipynb").exists() for stem in NOTEBOOKS):
        raise GradeError("no release yet: run `python -m autograder release` first")


def _chosen(course, students):
    known = course.students()
    unknown = [s for s in students or [] if s not in known]
    if unknown:
        raise GradeError(
            f"no submission for {', '.join(unknown)} in {course.submitted} "
            "(run `python -m autograder collect` first)"
        )
    return list(students) if students else known


def _require_assignment(course, gradebook):
    from nbgrader.api import MissingEntry

    try:
        gradebook.find_assignment(ASSIGNMENT)
    except MissingEntry:
        raise GradeError(
            "the gradebook has no assignment 'batchnorm': run `python -m autograder release`"
            + ("" if course.uses_sqlite else " with the same --db-url")
        ) from None


def _todo(course, gradebook, chosen, source, why=None):
    """(The students of `chosen` to grade: all of them when `why` (the reason: --force,
    --student) is given, else those without an up-to-date report (read one at a time:
    nothing else of them is kept); the reports of the others whose autograded notebooks
    were written under older inert rules (gradebook_writer.make_inert); {student graded
    before: why they are graded again}). Grades given by hand never make a student
    out of date: a cell scored by hand, or waiting for it, counts as graded."""
    complete = gradebook_writer.complete_in_gradebook(gradebook)
    todo, older, regraded = [], [], {}
    for student in chosen:
        report = reports.read_report(course, student)
        if report is None:  # never graded, or a run stopped before their report
            todo.append(student)
            continue
        reason = why or _out_of_date(course, gradebook, student, report, source, complete)
        if reason is not None:
            todo.append(student)
            regraded[student] = reason
        elif report.get("inert") != inert.VERSION:
            older.append(report)
    return todo, older, regraded


def _out_of_date(course, gradebook, student, report, source, complete):
    """Why the grades of `student` (whose report is `report`) are out of date, or None."""
    from nbgrader.api import MissingEntry

    if report.get("crashed"):
        return "could not be graded last time"
    digest = submission.Submission.read(student, course.submission(student)).digest
    if report.get("digest") != digest:
        return "the submission changed since it was graded"
    if report.get("source") != source:
        return "the grader, its --timeout or --run-all-cells, or the source notebooks changed"
    if not (course.autograded / student / ASSIGNMENT).is_dir():
        return f"its autograded notebooks are missing from autograded/{student}"
    if student not in complete:
        try:
            gradebook.find_submission(ASSIGNMENT, student)
        except MissingEntry:
            return "the gradebook has none of its grades: another gradebook or --db-url?"
        return "the gradebook lacks some of its grades"
    return None


REGRADED_SHOWN = 10  # students named per reason; the others are counted


def _regraded_lines(regraded):
    """The lines naming the students graded before who are graded again, by reason."""
    by_reason = {}
    for student, reason in regraded.items():
        by_reason.setdefault(reason, []).append(student)
    lines = []
    for reason, students in by_reason.items():
        names = ", ".join(students[:REGRADED_SHOWN])
        if len(students) > REGRADED_SHOWN:
            names += f" and {len(students) - REGRADED_SHOWN} more"
        lines.append(
            f"grade: grading again {len(students)} student(s) graded before ({reason}): {names}"
        )
    return lines


def _grade_all(course, gradebook, todo, context, source, workers, scheduler, progress, log):
    """Send `todo` to the executor and merge each result as it comes in."""

    def read(student):
        return submission.Submission.read(student, course.submission(student))

    if scheduler:
        results = executors.dask(scheduler, todo, read, context, log=log)
    else:
        results = executors.local(todo, read, context, workers)
    graded, crashed, unmerged = [], [], []
    started = time.monotonic()
    bar = progress_bar(len(todo), "grading", progress)
    try:
        for student, result in results:
            if "crash" in result:
                log(f"grade: {student}: could not be graded:\n{printable(result['crash'])}")
                result = reports.could_not_grade(student, read(student).digest, result["crash"])
            if not _merged(course, gradebook, result, source, log):
                unmerged.append(student)
            if student in unmerged or result.get("crashed"):
                crashed.append(student)
            graded.append(student)
            bar.set_postfix_str(student[-24:])
            bar.update(1)
    finally:
        bar.close()
    if crashed:
        log(
            f"grade: {len(crashed)} submission(s) could not be graded and scored 0 "
            f"(see their reports): {', '.join(crashed)}"
        )
    log(_summary(len(graded), len(todo), len(crashed), time.monotonic() - started))
    if len(unmerged) > 1 and len(unmerged) == len(todo):
        raise GradeError(
            "merging failed for every submission (see above): the grader itself, not a "
            "submission, is at fault; they are recorded as not graded and the next run "
            "grades them again"
        )
    return graded


def _merged(course, gradebook, result, source, log):
    """Merge one student's result; if that fails (a value of their submission cannot be
    written, or anything else while merging them), undo what was half written and merge
    them as "could not be graded" with the reason instead, so the run goes on for the
    others. Whether the result itself was merged."""
    student = result["student"]
    previous = (reports.read_report(course, student) or {}).get("digest")
    try:
        gradebook_writer.merge(course, gradebook, result, previous, source)
        return True
    except Exception as error:  # noqa: BLE001 -- one student's merge never stops the run
        gradebook.db.rollback()
        if isinstance(error, gradebook_writer.MergeError):
            reason = str(error)
        else:
            reason = f"merging its results failed ({type(error).__name__}: {error})"[:300]
            log(f"grade: {student}: merging failed:\n{printable(traceback.format_exc())}")
        log(f"grade: {student}: could not be graded: {printable(reason)}")
        failed = reports.could_not_grade(student, result["digest"], reason)
        gradebook_writer.merge(course, gradebook, failed, previous, source)
        return False


def _summary(done, total, crashed, seconds):
    """The closing line of a run, the same with the progress bar and without it."""
    minutes, rest = divmod(round(seconds), 60)
    each = f", {seconds / done:.1f} s per student" if done else ""
    line = f"grade: {done} of {total} submission(s) graded in {minutes}:{rest:02d}{each}"
    if crashed:
        line += f"; {crashed} could not be graded"
    return line
