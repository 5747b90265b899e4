"""Step 3, grade: autograde every submission (or one), in parallel, resumably.

Design (why it is safe to kill, to rerun, and to run with many workers):

- Submissions are never touched: each student is graded from a copy, in a
  scratch nbgrader course of its own (.work/grade-<pid>/<student>/) with its
  own SQLite gradebook, copied from a template that holds the assignment.
- Workers (processes) grade one student at a time, notebook by notebook, so a
  notebook that cannot be graded (the kernel dies, nbgrader fails) costs only
  that notebook; it is retried once, then scored 0 and reported.
- The parent is the only writer of the course's gradebook: it merges each
  finished student (scores, comments, review flag), moves the graded notebooks
  into autograded/, and last writes reports/grade/<student>.json -- the
  marker that the student is done. A run killed at any point leaves no
  marker for unfinished students; the next run grades them again and skips the
  finished ones (unless --force or the submission changed).
- Kernels use Unix sockets (no TCP port races between workers) and a memory
  limit; a cell that runs too long is interrupted and the next cells run.
  Without prlimit, which applies the memory limit, grading does not start
  (unless --memory-limit 0: no limit, as each report and the summary say).

Before grading, each notebook of a submission is read: a missing notebook, or
one that is not a valid notebook, is not run; its functions score 0 and the
report says why in plain words. Only the expected notebooks are copied: any
other file a student hands in (e.g. a module named like ours) is ignored and
listed. Code cells the student wrote or changed are scanned for code that could
fake a pass (see review.py).
"""

import atexit
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
import traceback
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime
from multiprocessing import get_context
from pathlib import Path

import nbformat

from autograder import autograde, review, runner, sandbox, verdicts
from autograder.workspace import COURSE_ID, MANUAL_ANSWERS, MemoryLimitError, write_atomic
from bnlab.course import ASSIGNMENT, NOTEBOOKS

GRADER_VERSION = 2  # bump when a change of grading logic must regrade everyone


class GradeError(RuntimeError):
    """Grading could not start (no release, another grading run, ...)."""


# ------------------------------------------------------------------ helpers


def submission_digest(folder):
    """sha256 over the names and bytes of every file of a submission folder."""
    digest = hashlib.sha256()
    folder = Path(folder)
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def source_digest(course):
    digest = hashlib.sha256(
        f"v{GRADER_VERSION} timeout={course.timeout} all={course.run_all_cells}".encode()
    )
    for stem in NOTEBOOKS:
        path = course.source / f"{stem}.ipynb"
        digest.update(path.read_bytes() if path.exists() else b"")
    return digest.hexdigest()


def report_path(course, student):
    return course.reports / "grade" / f"{student}.json"


def read_report(course, student):
    path = report_path(course, student)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def release_notebooks(course):
    """{stem: release notebook (nbformat node) or None}."""
    found = {}
    for stem in NOTEBOOKS:
        path = course.release / f"{stem}.ipynb"
        found[stem] = nbformat.read(path, as_version=4) if path.exists() else None
    return found


def _grade_id(cell):
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def restore_test_cells(notebook, release):
    """Put back the graded test cells a student deleted, where the release has them.

    (nbgrader's own add_missing_cells fails when the cell before a deleted test
    is a locked cell that is not graded, such as a visible check.) nbgrader then
    overwrites every locked cell with the source version, as for any test cell.
    Returns the grade_ids restored.
    """
    if release is None:
        return []
    present = {_grade_id(cell) for cell in notebook.cells}
    restored = []
    for index, cell in enumerate(release.cells):
        meta = cell.metadata.get("nbgrader", {})
        grade_id = meta.get("grade_id")
        if not (meta.get("grade") and cell.cell_type == "code") or grade_id in present:
            continue
        position = len(notebook.cells)
        for earlier in reversed(release.cells[:index]):
            anchor = _grade_id(earlier)
            if anchor in present:
                position = 1 + max(
                    i for i, c in enumerate(notebook.cells) if _grade_id(c) == anchor
                )
                break
        notebook.cells.insert(position, nbformat.from_dict(json.loads(json.dumps(cell))))
        present.add(grade_id)
        restored.append(grade_id)
    return restored


def changed_test_cells(notebook, release):
    """grade_ids of graded test cells whose source differs from the release (nbgrader restores them)."""
    if release is None:
        return []
    released = {
        _grade_id(c): c.source for c in release.cells if c.metadata.get("nbgrader", {}).get("grade")
    }
    return [
        _grade_id(cell)
        for cell in notebook.cells
        if cell.get("cell_type") == "code"
        and _grade_id(cell) in released
        and cell.get("source") != released[_grade_id(cell)]
    ]


def inspect_notebook(path):
    """(status, message, notebook or None) for one submitted notebook file."""
    if not path.exists():
        return "missing", f"{path.name} was not submitted", None
    raw = path.read_bytes()
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        return "invalid", f"{path.name} is not a valid notebook (invalid JSON: {error})", None
    try:
        if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
            raise ValueError("it has no list of cells")
        notebook = nbformat.reads(raw.decode("utf-8"), as_version=4)
        nbformat.validate(notebook)
    except Exception as error:  # nbformat raises several kinds
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return "invalid", f"{path.name} is not a valid notebook ({first[:200]})", None
    return "ok", "", notebook


# ------------------------------------------------------------------ the assignment


def template_gradebook(course):
    """An SQLite gradebook holding only the assignment (no students): the start of every
    scratch course. Built once per version of the source notebooks, with generate_assignment."""
    key = source_digest(course)[:16]
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
    """{stem: autograde.SourceNotebook}: what nbgrader's gradebook holds of the source
    notebooks (from the template gradebook), read once per grading run."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{template_gradebook(course)}", COURSE_ID) as gradebook:
        return autograde.read_assignment(gradebook, ASSIGNMENT)


# ------------------------------------------------------------------ the worker


_IPC = {}


def _ipc_prefix():
    """This process's Unix-socket prefix for the kernels it starts itself (the release's
    validation; grading runs no kernel): short, socket paths max ~100 bytes."""
    if os.getpid() not in _IPC:
        folder = tempfile.mkdtemp(prefix="bnlab-kernels-")
        atexit.register(shutil.rmtree, folder, True)
        _IPC[os.getpid()] = Path(folder) / "kernel"
    return _IPC[os.getpid()]


_SERVER = {}  # this worker's notebook server (autograder.runner), started at first use


def _worker_init(course):
    course.apply_environ()
    warnings.filterwarnings("ignore")
    with contextlib.suppress(Exception):  # die with the parent (Linux): no orphan graders
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _server(course, task):
    """This worker's notebook server, started (again) if it is not running."""
    server = _SERVER.get(os.getpid())
    if server is None:
        server = runner.NotebookServer(
            course.student_python,
            task.scratch_root / f"server-{os.getpid()}",
            limits=course.limits,
            sandboxed=course.sandbox,
            hide=[course.root],
            cases=task.cases,
        )
        _SERVER[os.getpid()] = server
        atexit.register(server.close)
    if not server.alive:
        server.start()
    return server


@dataclass(frozen=True)
class Task:
    """What every worker needs to grade any student (sent once with each student)."""

    scratch_root: Path
    assignment: dict  # {stem: autograde.SourceNotebook}
    releases: dict  # {stem: release notebook node or None}
    cases: Path


def _cell_outcomes(notebook):
    """{grade_id: (status, detail)} of the graded test cells of an autograded notebook."""
    outcomes = {}
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("grade"):
            continue
        status, detail = "passed", ""
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                ename, evalue = output.get("ename", ""), str(output.get("evalue", ""))
                # a cell over its time limit is interrupted: it ends in KeyboardInterrupt
                if ename == "KeyboardInterrupt":
                    status, detail = "timeout", "stopped: the cell ran longer than the time limit"
                elif ename == "MemoryError":
                    status, detail = "memory", "stopped: the code ran out of memory (MemoryError)"
                else:
                    status = "failed"
                    detail = f"{ename}: {evalue.strip().splitlines()[0] if evalue.strip() else ''}"
                break
        outcomes[meta["grade_id"]] = (status, detail[:300])
    return outcomes


def grade_student(course, student, task):
    """Grade one student; returns a plain dict (see merge()).

    Each notebook is put in the state nbgrader grades (autograder.autograde) and its
    code runs in a fresh child of this worker's notebook server (autograder.runner);
    its hidden test cells only record what the student's functions return
    (bnlab.harness). The verdicts are decided here, from those records
    (autograder.verdicts), and are the hidden test cells' scores and outputs."""
    started = time.monotonic()
    submission = course.submission(student)
    graded = Path(task.scratch_root) / student / "autograded"
    shutil.rmtree(graded.parent, ignore_errors=True)
    graded.mkdir(parents=True)
    expected = {f"{stem}.ipynb" for stem in NOTEBOOKS}
    extra = sorted(
        path.relative_to(submission).as_posix()
        for path in submission.rglob("*")
        if path.is_file() and path.name not in expected and path.name != "timestamp.txt"
    )
    timestamp_file = submission / "timestamp.txt"
    timestamp = None
    if timestamp_file.is_file():
        timestamp = timestamp_file.read_text(encoding="utf-8").strip()
    own = {  # the student's notebooks, as handed in: the home folder of their code
        name: (submission / name).read_bytes()
        for name in sorted(expected)
        if (submission / name).is_file() and not (submission / name).is_symlink()
    }

    notebooks, flags, grades = {}, [], []
    for stem in NOTEBOOKS:
        status, message, notebook = inspect_notebook(submission / f"{stem}.ipynb")
        info = notebooks[stem] = {"status": status, "message": message, "cells": {}}
        if status != "ok":
            continue
        release = task.releases.get(stem)
        sources = {_grade_id(c): c.source for c in release.cells} if release else {}
        flags += [f.as_dict() for f in review.scan_notebook(notebook, stem, sources)]
        info["changed_tests"] = changed_test_cells(notebook, release)
        info["restored_tests"] = restore_test_cells(notebook, release)
        try:
            autograde.sanitize(notebook, task.assignment[stem])
        except autograde.SanitizeError as error:
            info.update(status="error", message=f"{stem}.ipynb could not be graded ({error})")
            continue
        ran, decided = _run_notebook(course, task, stem, notebook, release, own)
        if ran.status != "ok":
            info.update(status="error", message=f"{stem}.ipynb could not be graded ({ran.why})")
            if ran.log:
                info["log"] = "--- the kernel's own output (last lines)\n" + ran.log[-4000:]
            continue
        info["cells"] = _decided_outcomes(notebook, decided)
        nbformat.write(notebook, graded / f"{stem}.ipynb")
        grades += autograde.scores(notebook, task.assignment[stem])
    _replace_scores(grades, notebooks)
    return {
        "student": student,
        "digest": submission_digest(submission),
        "timestamp": timestamp,
        "notebooks": notebooks,
        "grades": grades,
        "flags": flags,
        "extra_files": extra,
        "autograded": str(graded),
        "scratch": str(graded.parent),
        "seconds": round(time.monotonic() - started, 2),
    }


RAN_WHY = {
    "died": "the kernel died while running it: the code crashed or ended the process",
    "unresponsive": "the kernel stopped responding after a cell ran past its time limit",
}


def _run_notebook(course, task, stem, notebook, release, own):
    """(runner.Ran with a `why`, decided verdicts) of running one sanitized notebook; the
    outputs go into `notebook`. A notebook whose code ends its process, or stops
    answering, is run once more; a server that refuses to go on (its state was changed
    from outside) is replaced without counting."""
    cells, skipped = autograde.to_run(notebook, release, not course.run_all_cells)
    attempts, restarts = 0, 0
    while True:
        server = _server(course, task)
        server.reset(own)
        try:
            ran = server.run(cells, course.timeout)
        except runner.ServerRefused:
            restarts += 1
            if restarts > 3:
                raise
            continue
        except runner.ServerFailed as error:
            ran = runner.Ran(status="died", log=str(error))
        attempts += 1
        if ran.status == "ok" or attempts == 2:
            break
    ran.why = RAN_WHY.get(ran.status, "")
    decided = verdicts.decide_notebook(stem, task.cases, server.results)
    autograde.attach(notebook, ran.outputs, skipped)
    return ran, decided


def _decided_outcomes(notebook, decided):
    """{grade_id: (status, detail)} of the notebook's graded cells, the hidden tests' from
    `decided` (autograder.verdicts); each hidden test cell's outputs are replaced by its
    verdict, which is what the feedback shows."""
    from_cells = _cell_outcomes(notebook)
    outcomes = {}
    for cell in notebook.cells:
        grade_id = _grade_id(cell)
        if grade_id not in from_cells:
            continue
        verdict = decided.get(grade_id)  # every graded code cell is a hidden test
        if verdict is None:  # the kernel left no results: the cell's own error says why
            status, detail = from_cells[grade_id]
            if status == "passed":
                status, detail = "failed", "the test did not run to the end"
        else:
            status, detail = verdict
        outcomes[grade_id] = (status, detail)
        streams = [o for o in cell.get("outputs", []) if o.get("output_type") == "stream"]
        if status != "passed":
            ename, _, evalue = detail.partition(": ")
            streams.append(
                nbformat.v4.new_output(
                    "error", ename=ename or "Failed", evalue=evalue, traceback=[detail]
                )
            )
        cell.outputs = streams
    return outcomes


def _replace_scores(grades, notebooks):
    """The hidden test cells' scores are the decided verdicts, not nbgrader's."""
    for grade in grades:
        outcome = notebooks.get(grade["notebook"], {}).get("cells", {}).get(grade["name"])
        if outcome is not None and grade["cell_type"] == "code":
            passed = outcome[0] == "passed"
            grade["auto_score"] = float(grade["max_score"]) if passed else 0.0
            grade["needs_manual_grade"] = False


def _grade_in_worker(course, student, task):
    try:
        return grade_student(course, student, task)
    except Exception:
        return {"student": student, "crash": traceback.format_exc()}


# ------------------------------------------------------------------ merging (parent only)


def _replace_dir(new, dest):
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    trash = dest.with_name(f".{dest.name}.old-{os.getpid()}")
    if dest.exists():
        os.rename(dest, trash)
    if Path(new).exists():
        shutil.move(str(new), str(dest))
    else:
        dest.mkdir(parents=True)
    shutil.rmtree(trash, ignore_errors=True)


def merge(course, gradebook, result, previous):
    """Write one graded student into the course: autograded notebooks, gradebook, report."""
    student = result["student"]
    _replace_dir(result["autograded"], course.autograded / student / ASSIGNMENT)

    keep_manual = previous is not None and previous.get("digest") == result["digest"]
    gradebook.update_or_create_student(student)
    kwargs = {}
    if result.get("timestamp"):
        kwargs["timestamp"] = result["timestamp"]
    submission = gradebook.update_or_create_submission(ASSIGNMENT, student, **kwargs)
    by_key = {(g["notebook"], g["name"]): g for g in result["grades"]}
    flagged = {flag["notebook"] for flag in result["flags"]}
    for notebook in submission.notebooks:
        status = result["notebooks"].get(notebook.name, {}).get("status", "ok")
        notebook.flagged = notebook.name in flagged
        comments = {c.name: c for c in notebook.comments}
        for grade in notebook.grades:
            graded = by_key.get((notebook.name, grade.name))
            if status != "ok" or graded is None:
                grade.auto_score, grade.needs_manual_grade = 0.0, False
                if not keep_manual:
                    grade.manual_score = None
                continue
            grade.auto_score = graded["auto_score"]
            if not keep_manual:
                grade.manual_score = None
            grade.needs_manual_grade = grade.manual_score is None and (graded["needs_manual_grade"])
            comment = comments.get(grade.name)
            if comment is not None and graded.get("comment") is not None:
                comment.auto_comment = graded["comment"]
    gradebook.db.commit()

    report = {key: value for key, value in result.items() if key not in ("autograded", "scratch")}
    report["source"] = source_digest(course)
    report["graded_at"] = datetime.now().isoformat(timespec="seconds")
    report["messages"] = messages(result)
    report["memory_limit"] = course.memory_limit  # bytes per kernel; 0: graded without one
    report["sandbox"] = course.sandbox  # False: graded with --no-sandbox
    write_atomic(report_path(course, student), json.dumps(report, indent=1, sort_keys=True) + "\n")
    shutil.rmtree(result["scratch"], ignore_errors=True)
    return report


def messages(result):
    """Plain-words notes about one graded submission."""
    notes = []
    problems = [
        (stem, info) for stem, info in result["notebooks"].items() if info["status"] != "ok"
    ]
    for stem, info in problems:
        count = len(NOTEBOOKS[stem])
        manual = [name for name, where in MANUAL_ANSWERS.items() if where == stem]
        what = f"{count} function{'s' if count != 1 else ''}" + (
            f" and the written answer {', '.join(manual)}" if manual else ""
        )
        notes.append(f"{info['message']}: graded 0 for its {what}")
    if problems:
        others = len(NOTEBOOKS) - len(problems)
        notes.append(f"the other {others} notebook{'s' if others != 1 else ''} were graded")
    for stem, info in result["notebooks"].items():
        for grade_id in info.get("restored_tests", []):
            notes.append(
                f"{stem}: the test cell {grade_id} was deleted; it was put back and graded"
            )
        for grade_id in info.get("changed_tests", []):
            notes.append(f"{stem}: the test cell {grade_id} was changed; the original was graded")
        for grade_id, (status, detail) in sorted(info.get("cells", {}).items()):
            if status in ("timeout", "memory"):
                notes.append(f"{stem} {grade_id}: {detail}")
    if result.get("extra_files"):
        notes.append(
            "ignored files that are not part of the assignment: " + ", ".join(result["extra_files"])
        )
    for flag in result["flags"]:
        notes.append(
            f"REVIEW {flag['notebook']} {flag['cell']} line {flag['line']}: "
            f"{flag['reason']}: {flag['code']}"
        )
    return notes


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


def _complete_in_gradebook(gradebook):
    """Students whose submission in this gradebook has a score (or a pending manual grade) for every cell."""
    complete = set()
    for submission in gradebook.assignment_submissions(ASSIGNMENT):
        grades = [g for notebook in submission.notebooks for g in notebook.grades]
        if grades and all(g.auto_score is not None or g.needs_manual_grade for g in grades):
            complete.add(submission.student.id)
    return complete


def _cleanup_stale(course):
    """Scratch left by a run that was killed (called under the grading lock)."""
    for folder in [*course.work.glob("grade-*"), *course.work.glob(".template-*")]:
        shutil.rmtree(folder, ignore_errors=True)
    if course.autograded.exists():
        for student_dir in course.autograded.iterdir():
            for trash in student_dir.glob(f".{ASSIGNMENT}.old-*"):
                shutil.rmtree(trash, ignore_errors=True)


def grade(course, students=None, workers=1, force=False, progress=True, log=print):
    """Grade `students` (default: every submission). Returns the list of reports written."""
    from nbgrader.api import Gradebook, MissingEntry

    warnings.filterwarnings("ignore", module="sqlalchemy")
    warnings.filterwarnings("ignore", module="nbgrader")
    try:
        course.check_memory_limit()
        if course.sandbox:
            sandbox.check()
    except (MemoryLimitError, sandbox.SandboxUnavailable) as error:
        raise GradeError(str(error)) from None
    course.prepare()
    course.apply_environ()
    if not all((course.source / f"{stem}.ipynb").exists() for stem in NOTEBOOKS):
        raise GradeError("no release yet: run `python -m autograder release` first")
    _ensure_student_venv(course)
    course.write_kernelspec()
    if course.sandbox:  # each sandboxed kernel starts with a copy of matplotlib's font cache
        fonts = course.work / "mpl-cache"
        if not list(fonts.glob("fontlist-*.json")):
            sandbox.prepare_matplotlib_cache(fonts, course.student_python)
        os.environ["BNLAB_MPL_CACHE"] = str(fonts)
    known = course.students()
    if students:
        unknown = [s for s in students if s not in known]
        if unknown:
            raise GradeError(
                f"no submission for {', '.join(unknown)} in {course.submitted} "
                "(run `python -m autograder collect` first)"
            )
    chosen = list(students) if students else known

    with grading_lock(course):
        _cleanup_stale(course)
        with Gradebook(course.db_url, COURSE_ID) as gradebook:
            try:
                gradebook.find_assignment(ASSIGNMENT)
            except MissingEntry:
                raise GradeError(
                    "the gradebook has no assignment 'batchnorm': run `python -m autograder release`"
                    + ("" if course.uses_sqlite else " with the same --db-url")
                ) from None
            complete = _complete_in_gradebook(gradebook)
            source = source_digest(course)
            todo, previous = [], {}
            for student in chosen:
                report = read_report(course, student)
                previous[student] = report
                up_to_date = (
                    report is not None
                    and not report.get("crashed")
                    and student in complete
                    and report.get("digest") == submission_digest(course.submission(student))
                    and report.get("source") == source
                    and (course.autograded / student / ASSIGNMENT).is_dir()
                )
                if force or students or not up_to_date:
                    todo.append(student)
            skipped = len(chosen) - len(todo)
            log(
                f"grade: {len(todo)} submission(s) to grade"
                + (
                    f", {skipped} already graded and unchanged (--force regrades them)"
                    if skipped
                    else ""
                )
                + f", {workers} worker(s), {course.memory_limit_text}, "
                + (sandbox.describe() if course.sandbox else "UNSANDBOXED (--no-sandbox)")
            )
            if not todo:
                return []
            scratch_root = course.work / f"grade-{os.getpid()}"
            scratch_root.mkdir(parents=True, exist_ok=True)
            task = Task(
                scratch_root,
                source_notebooks(course),
                release_notebooks(course),
                grading_cases(course),
            )
            reports = []
            bar = _progress(len(todo), progress)
            try:
                for student, result in _run_workers(course, todo, workers, task):
                    if "crash" in result:
                        log(f"grade: {student}: could not be graded:\n{result['crash']}")
                        result = could_not_grade(course, student, result["crash"])
                    reports.append(merge(course, gradebook, result, previous.get(student)))
                    bar.set_postfix_str(student[-24:])
                    bar.update(1)
            finally:
                bar.close()
                shutil.rmtree(scratch_root, ignore_errors=True)
    crashed = [report["student"] for report in reports if report.get("crashed")]
    if crashed:
        log(
            f"grade: {len(crashed)} submission(s) could not be graded and scored 0 "
            f"(see their reports): {', '.join(crashed)}"
        )
    return reports


def _pool(course, workers):
    return ProcessPoolExecutor(
        max_workers=max(1, workers),
        mp_context=get_context("spawn"),
        initializer=_worker_init,
        initargs=(course,),
    )


def _run_workers(course, todo, workers, task):
    """Yield (student, result) for every student of `todo`, graded `workers` at a time.

    At most `workers` students are in flight, so when a worker process dies (and
    takes the pool with it) the students in flight are the only suspects: the
    others go on in a fresh pool, and each suspect is graded again alone. A
    student whose grading kills a worker even alone is yielded as a crash.
    """
    queue, suspects = list(todo), []
    while queue:
        with _pool(course, workers) as pool:
            running = {}
            while queue or running:
                try:
                    while queue and len(running) < max(1, workers):
                        future = pool.submit(_grade_in_worker, course, queue[0], task)
                        running[future] = queue.pop(0)
                except BrokenProcessPool:  # it broke before a result said so
                    suspects += list(running.values())
                    break
                done = next(as_completed(running))
                student = running.pop(done)
                try:
                    result = done.result()
                except BrokenProcessPool:
                    suspects += [student, *running.values()]
                    break
                yield student, result
        for student in suspects:
            with _pool(course, 1) as alone:
                try:
                    result = alone.submit(_grade_in_worker, course, student, task).result()
                except BrokenProcessPool as error:
                    reason = "the grading process died while grading it (it was retried alone)"
                    result = {"student": student, "crash": f"{reason}: {error}"}
            yield student, result
        suspects = []


def could_not_grade(course, student, why):
    """The result of a student whose grading failed as a whole: every notebook scores 0,
    with the reason, so the student is still in every report and export."""
    first = [line for line in str(why).strip().splitlines() if line.strip()]
    reason = first[0][:200] if first else "unknown reason"
    submission = course.submission(student)
    return {
        "student": student,
        "digest": submission_digest(submission),
        "timestamp": None,
        "notebooks": {
            stem: {"status": "error", "message": f"{stem}.ipynb could not be graded ({reason})"}
            for stem in NOTEBOOKS
        },
        "grades": [],
        "flags": [],
        "extra_files": [],
        "crashed": True,
        "crash": str(why)[-4000:],
        "autograded": str(course.work / "nonexistent"),
        "scratch": str(course.work / "nonexistent"),
        "seconds": 0,
    }


def _ensure_student_venv(course):
    """The grading kernels run the student venv's Python; rebuild it if .work was cleared."""
    if course.student_python.exists():
        return
    from autograder.release import student_venv

    wheels = sorted(course.dist.glob("bnlab-*.whl"))
    if not wheels:
        raise GradeError("no student wheel: run `python -m autograder release` first")
    student_venv(course, wheels[-1])


def grading_cases(course):
    """The folder of recorded inputs the grading kernels read (autograder.verdicts), one per
    version of the source notebooks and of the grader."""
    key = source_digest(course)[:16]
    folder = course.work / f"cases-{key}"
    if not folder.is_dir():
        for stale in course.work.glob("cases-*"):
            shutil.rmtree(stale, ignore_errors=True)
        verdicts.write_cases(folder)
    return folder


def _progress(total, enabled):
    from tqdm import tqdm

    return tqdm(
        total=total, desc="grading", unit="student", disable=not enabled, dynamic_ncols=True
    )
