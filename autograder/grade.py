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
from datetime import datetime
from multiprocessing import get_context
from pathlib import Path

import nbformat

from autograder import review
from autograder.workspace import COURSE_ID, MANUAL_ANSWERS, MemoryLimitError, write_atomic
from bnlab.course import ASSIGNMENT, NOTEBOOKS

GRADER_VERSION = 1  # bump when a change of grading logic must regrade everyone


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


# ------------------------------------------------------------------ template gradebook


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


# ------------------------------------------------------------------ the worker


_IPC = {}
_IPC_ROOT = None  # set in workers: one short folder per grading run, removed by the parent


def _ipc_prefix():
    """This process's Unix-socket prefix for its kernels (short: socket paths max ~100 bytes)."""
    if os.getpid() not in _IPC:
        folder = tempfile.mkdtemp(prefix="bnlab-kernels-", dir=_IPC_ROOT)
        if _IPC_ROOT is None:  # not a grading worker: nobody else removes it
            atexit.register(shutil.rmtree, folder, True)
        _IPC[os.getpid()] = Path(folder) / "kernel"
    return _IPC[os.getpid()]


def _worker_init(course, ipc_root=None):
    global _IPC_ROOT
    _IPC_ROOT = ipc_root
    course.apply_environ()
    warnings.filterwarnings("ignore")
    with contextlib.suppress(Exception):  # die with the parent (Linux): no orphan graders
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


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
                # on timeout nbgrader interrupts the kernel: the cell ends in KeyboardInterrupt
                if ename in ("CellTimeoutError", "KeyboardInterrupt"):
                    status, detail = "timeout", "stopped: the cell ran longer than the time limit"
                elif ename == "MemoryError":
                    status, detail = "memory", "stopped: the code ran out of memory (MemoryError)"
                else:
                    status = "failed"
                    detail = f"{ename}: {evalue.strip().splitlines()[0] if evalue.strip() else ''}"
                break
        outcomes[meta["grade_id"]] = (status, detail[:300])
    return outcomes


def grade_student(course, student, scratch_root, template_db, releases):
    """Grade one student in a scratch course; returns a plain dict (see merge())."""
    started = time.monotonic()
    submission = course.submission(student)
    scratch = Path(scratch_root) / student
    shutil.rmtree(scratch, ignore_errors=True)
    incoming = scratch / "submitted" / student / ASSIGNMENT
    incoming.mkdir(parents=True)
    os.symlink(course.root / "source", scratch / "source")
    shutil.copy(template_db, scratch / "gradebook.db")
    db_url = f"sqlite:///{scratch / 'gradebook.db'}"

    expected = {f"{stem}.ipynb" for stem in NOTEBOOKS}
    extra = sorted(
        path.relative_to(submission).as_posix()
        for path in submission.rglob("*")
        if path.is_file() and path.name not in expected and path.name != "timestamp.txt"
    )
    timestamp_file = submission / "timestamp.txt"
    timestamp = None
    if timestamp_file.is_file():
        shutil.copy(timestamp_file, incoming / "timestamp.txt")
        timestamp = timestamp_file.read_text(encoding="utf-8").strip()

    notebooks, flags = {}, []
    for stem in NOTEBOOKS:
        status, message, notebook = inspect_notebook(submission / f"{stem}.ipynb")
        notebooks[stem] = {"status": status, "message": message}
        if status == "ok":
            release = releases.get(stem)
            sources = {_grade_id(c): c.source for c in release.cells} if release else {}
            flags += [f.as_dict() for f in review.scan_notebook(notebook, stem, sources)]
            notebooks[stem]["changed_tests"] = changed_test_cells(notebook, release)
            notebooks[stem]["restored_tests"] = restore_test_cells(notebook, release)
            nbformat.write(notebook, incoming / f"{stem}.ipynb")

    api = course.api(root=scratch, db_url=db_url, ipc=_ipc_prefix())
    for stem in NOTEBOOKS:
        if notebooks[stem]["status"] != "ok":
            continue
        log = ""
        for _attempt in (1, 2):
            with _notebook_id(api, stem):
                result = api.autograde(ASSIGNMENT, student, force=True, create=True)
            log = (result.get("log") or "") + (result.get("error") or "")
            done = scratch / "autograded" / student / ASSIGNMENT / f"{stem}.ipynb"
            if result.get("success") and done.exists():
                break
        else:
            notebooks[stem]["status"] = "error"
            notebooks[stem]["message"] = (
                f"{stem}.ipynb could not be graded ({_failure_reason(log)})"
            )
            notebooks[stem]["log"] = log[-4000:]

    # nbgrader zeroes the notebooks it did not find; the scratch gradebook has everything
    grades = _read_scratch_grades(db_url, student)
    graded = scratch / "autograded" / student / ASSIGNMENT
    for stem in NOTEBOOKS:
        path = graded / f"{stem}.ipynb"
        outcomes = {}
        if notebooks[stem]["status"] == "ok" and path.exists():
            outcomes = _cell_outcomes(nbformat.read(path, as_version=4))
        notebooks[stem]["cells"] = outcomes
    return {
        "student": student,
        "digest": submission_digest(submission),
        "timestamp": timestamp,
        "notebooks": notebooks,
        "grades": grades,
        "flags": flags,
        "extra_files": extra,
        "autograded": str(graded),
        "scratch": str(scratch),
        "seconds": round(time.monotonic() - started, 2),
    }


@contextlib.contextmanager
def _notebook_id(api, stem):
    previous = api.coursedir.notebook_id
    api.coursedir.notebook_id = stem
    try:
        yield
    finally:
        api.coursedir.notebook_id = previous


def _failure_reason(log):
    text = log or ""
    if "DeadKernelError" in text or "Kernel died" in text or "kernel died" in text:
        return "the kernel died while running it: the code crashed or ended the process"
    if "UnresponsiveKernel" in text:
        return "the kernel stopped responding and could not be interrupted"
    if "startup" in text.lower() and "timeout" in text.lower():
        return "the kernel did not start"
    last = [line for line in text.strip().splitlines() if line.strip()]
    return last[-1][:200] if last else "nbgrader failed"


def _read_scratch_grades(db_url, student):
    from nbgrader.api import Gradebook, MissingEntry

    grades = []
    with Gradebook(db_url, COURSE_ID) as gradebook:
        try:
            submission = gradebook.find_submission(ASSIGNMENT, student)
        except MissingEntry:  # no notebook could be run at all
            return grades
        for notebook in submission.notebooks:
            comments = {c.name: c.auto_comment for c in notebook.comments}
            for grade in notebook.grades:
                grades.append(
                    {
                        "notebook": notebook.name,
                        "name": grade.name,
                        "auto_score": grade.auto_score,
                        "max_score": grade.max_score,
                        "needs_manual_grade": bool(grade.needs_manual_grade),
                        "cell_type": grade.cell_type,
                        "comment": comments.get(grade.name),
                    }
                )
    return grades


def _grade_in_worker(course, student, scratch_root, template_db, releases):
    try:
        return grade_student(course, student, scratch_root, template_db, releases)
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
    except MemoryLimitError as error:
        raise GradeError(str(error)) from None
    course.prepare()
    course.apply_environ()
    if not all((course.source / f"{stem}.ipynb").exists() for stem in NOTEBOOKS):
        raise GradeError("no release yet: run `python -m autograder release` first")
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
                + f", {workers} worker(s), {course.memory_limit_text}"
            )
            if not todo:
                return []
            template = template_gradebook(course)
            releases = release_notebooks(course)
            scratch_root = course.work / f"grade-{os.getpid()}"
            scratch_root.mkdir(parents=True, exist_ok=True)
            reports = []
            bar = _progress(len(todo), progress)
            context = get_context("spawn")
            ipc_root = tempfile.mkdtemp(prefix="bnlab-kernels-")
            with ProcessPoolExecutor(
                max_workers=max(1, workers),
                mp_context=context,
                initializer=_worker_init,
                initargs=(course, ipc_root),
            ) as pool:
                futures = {}
                for student in todo:
                    futures[
                        pool.submit(
                            _grade_in_worker, course, student, scratch_root, template, releases
                        )
                    ] = student
                for future in as_completed(futures):
                    student = futures[future]
                    try:
                        result = future.result()
                    except Exception as error:  # a worker process died
                        result = {"student": student, "crash": f"{type(error).__name__}: {error}"}
                    if "crash" in result:
                        log(f"grade: {student}: could not be graded:\n{result['crash']}")
                        bar.update(1)
                        continue
                    reports.append(merge(course, gradebook, result, previous.get(student)))
                    bar.set_postfix_str(student[-24:])
                    bar.update(1)
            bar.close()
            shutil.rmtree(scratch_root, ignore_errors=True)
            shutil.rmtree(ipc_root, ignore_errors=True)
    failed = len(todo) - len(reports)
    if failed:
        raise GradeError(f"{failed} submission(s) could not be graded; see the messages above")
    return reports


def _progress(total, enabled):
    from tqdm import tqdm

    return tqdm(
        total=total, desc="grading", unit="student", disable=not enabled, dynamic_ncols=True
    )
