"""One submission's grading: what a worker does, here or on a Dask cluster.

A worker gets a `Submission` (the student's files, as bytes: no shared
filesystem is assumed) and the run's `Context` (what the gradebook holds of the
source notebooks, the release notebooks, the settings), and returns a plain
dict: scores, outcomes, messages' material and the autograded notebooks as
bytes. It writes nothing but its own scratch folder; the parent merges.

Each notebook is read (a missing or invalid one is not run: its functions score
0 and the report says why), scanned for code an instructor should look at
(autograder.grading.code_review), put in the state nbgrader grades
(autograder.grading.nbgrader_steps), and run in a fresh child of this worker's
notebook server (autograder.grading.notebook_server). Its hidden test cells only
record what the student's functions return (bnlab.harness); the verdicts are
decided here, from those records (autograder.grading.verdicts), and each hidden
test's pass or fail is decided once from them (autograder.grading.outcomes): the
report's outcomes, the test cells' outputs and the scores all read that decision.
A notebook whose code ends its process or stops answering is run once more, then
scored 0.

Time: a cell has the run's time limit (--timeout); a notebook has a budget that
does not grow with the cells a student adds (notebook_budget: from the cells the
release runs), and the submission the sum of its notebooks' budgets, which a rerun
draws on. A notebook over its budget is stopped there: the tests it decided before
stand, the rest score 0, and the report says so.

Everything here reads what the student handed in, so it is bounded and total: a
notebook too large or with too many cells is not parsed (autograder.grading.handed_in),
any failure while one notebook is read, checked or scored is that
notebook's "could not be graded" (the others are graded), and a name the notebook's
process reports for an exception is kept only if it is a plain Python name.
"""

import atexit
import hashlib
import math
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat

from autograder.grading import handed_in, nbgrader_steps, notebook_server, outcomes, verdicts
from autograder.sandbox import Limits
from bnlab._grading import valuefile
from bnlab.course import NOTEBOOKS

TIMESTAMP = "timestamp.txt"
RAN_WHY = {
    "died": "the kernel died while running it: the code crashed or ended the process",
    "unresponsive": "the kernel stopped responding after a cell ran past its time limit",
    "output": "its code sent more output than the grader keeps (64 MiB)",
}
MAX_COUNT = 10**9  # an execution count above this (or not an int) is dropped
# A notebook's budget: the time limits of the cells the release runs, over BUDGET_SHARE
# (the reference runs all seven notebooks in about two seconds), and at least
# BUDGET_CELLS time limits, so any one cell can use its whole limit.
BUDGET_SHARE = 4
BUDGET_CELLS = 2


@dataclass(frozen=True)
class Submission:
    """A student's handed-in folder: {path relative to it: bytes}. A file is read up to one
    byte over handed_in.MAX_NOTEBOOK_BYTES (enough to tell it is too large to grade),
    links not at all."""

    student: str
    files: dict

    @classmethod
    def read(cls, student, folder):
        folder = Path(folder)
        files = {}
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.is_symlink():
                with open(path, "rb") as handle:
                    data = handle.read(handed_in.MAX_NOTEBOOK_BYTES + 1)
                files[path.relative_to(folder).as_posix()] = data
        return cls(student, files)

    @property
    def digest(self):
        return files_digest(self.files)


def files_digest(files):
    """sha256 over the names and bytes of a folder's files ({relative path: bytes})."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0")
        digest.update(hashlib.sha256(files[name]).digest())
    return digest.hexdigest()


@dataclass(frozen=True)
class Context:
    """What every worker needs to grade any student; made once per run by the parent.

    assignment -- {stem: nbgrader_steps.SourceNotebook}; releases -- {stem: release notebook};
    timeout -- seconds per cell; limits -- sandbox.Limits; sandboxed -- False: --no-sandbox;
    run_all_cells -- also the notebooks' experiments;
    python, cases, fonts, hide -- the student venv's Python, the recorded cases, the font
        cache and the paths the sandbox hides, on this machine (None on a cluster: a
        worker makes its own); scratch -- where this machine's workers work;
    wheel -- the student wheel's name and bytes (for a worker that makes its own venv);
    fingerprint -- of the grader's code that decides verdicts: a worker with other code
        refuses to grade.
    """

    assignment: dict
    releases: dict
    timeout: int
    limits: Limits
    sandboxed: bool
    run_all_cells: bool
    fingerprint: str
    python: Path | None = None
    cases: Path | None = None
    fonts: Path | None = None
    hide: tuple = ()
    wheel: tuple | None = None
    scratch: Path | None = None


# ------------------------------------------------------------------ one submission


def grade_submission(submission, context):
    """Grade one submission; a plain dict (see autograder.grading.gradebook_writer)."""
    started = time.monotonic()
    own = {  # the student's notebooks, as handed in: the home folder of their code
        name: data for name, data in submission.files.items() if name in _NOTEBOOK_FILES
    }
    budgets = {stem: notebook_budget(context, stem) for stem in NOTEBOOKS}
    deadline = started + sum(budgets.values())  # the submission's budget
    run = _Run(context, own, budgets, deadline)
    notebooks, flags, grades, graded = {}, [], [], {}
    for stem in NOTEBOOKS:
        name = f"{stem}.ipynb"
        status, message, notebook = handed_in.inspect_notebook(name, own.get(name))
        info = notebooks[stem] = {"status": status, "message": message, "cells": {}}
        if status == "ok":
            found, scored, data = _grade_notebook(run, stem, notebook, info)
            flags += found
            grades += scored
            if data is not None:
                graded[name] = data
    timestamp = submission.files.get(TIMESTAMP)
    return {
        "student": submission.student,
        "digest": submission.digest,
        "timestamp": timestamp[:200].decode("utf-8", "replace").strip() if timestamp else None,
        "notebooks": notebooks,
        "grades": grades,
        "flags": flags,
        "extra_files": sorted(set(submission.files) - _NOTEBOOK_FILES - {TIMESTAMP}),
        "autograded": graded,
        "seconds": round(time.monotonic() - started, 2),
    }


@dataclass(frozen=True)
class _Run:
    """What grading a submission's notebooks shares: the run's context, the student's
    notebooks as handed in ({file name: bytes}), each notebook's budget ({stem: seconds})
    and the submission's deadline (time.monotonic())."""

    context: Context
    own: dict
    budgets: dict
    deadline: float


def _grade_notebook(run, stem, notebook, info):
    """(review flags, grades, autograded notebook's bytes or None) of one valid notebook;
    what went wrong goes into `info` (its status, message and outcomes per cell)."""
    name, context = f"{stem}.ipynb", run.context
    release = context.releases.get(stem)
    flags = []  # the review's, once the notebook is prepared
    try:
        flags = _prepare(notebook, stem, release, context, info)
        plan = nbgrader_steps.to_run(notebook, release, not context.run_all_cells)
    except nbgrader_steps.SanitizeError as error:
        info.update(status="error", message=f"{name} could not be graded ({error})")
        return flags, [], None
    except Exception as error:  # noqa: BLE001 -- a notebook shaped as no check foresaw
        info.update(
            status="invalid",
            message=f"{name} is not a valid notebook ({handed_in.first_line(error)})",
        )
        return flags, [], None
    left = run.deadline - time.monotonic()
    if left <= 0:
        spent = f"the submission used up its time budget ({sum(run.budgets.values()):g} s)"
        info.update(status="error", message=f"{name} was not run: {spent}")
        return flags, [], None
    ran, decided = _run_notebook(context, stem, notebook, plan, run.own, run.budgets[stem], left)
    if ran.status not in ("ok", "budget"):
        info.update(status="error", message=f"{name} could not be graded ({ran.why})")
        if ran.log:
            info["log"] = "--- the kernel's own output (last lines)\n" + ran.log[-4000:]
        return flags, [], None
    try:
        return (flags, *_score_notebook(notebook, stem, context, ran, decided, info))
    except Exception as error:  # noqa: BLE001 -- what its code left could not be scored
        info.update(
            status="error", message=f"{name} could not be graded ({handed_in.first_line(error)})"
        )
        info["cells"] = {}
        return flags, [], None


def _score_notebook(notebook, stem, context, ran, decided, info):
    """(grades, autograded notebook's bytes) of a notebook that ran: each hidden test's
    outcome decided once (autograder.grading.outcomes) from the `decided` verdicts, and
    read by the report (info["cells"]), the test cells' outputs and the scores."""
    stopped = ran.status == "budget"
    if stopped:
        info["budget"] = (
            f"{stem}.ipynb was stopped when it had run for its time budget ({ran.why}): "
            "the cells after the last one that finished were not run, their tests "
            "score 0, and the tests decided before stand"
        )
    info["cells"] = decided_outcomes = outcomes.decide(notebook, decided, stopped)
    outcomes.show(notebook, decided_outcomes)
    _clean_outputs(notebook)
    data = nbformat.writes(notebook).encode("utf-8")
    return nbgrader_steps.scores(notebook, context.assignment[stem], decided_outcomes), data


def _prepare(notebook, stem, release, context, info):
    """Scan one valid notebook, note and restore its test cells, and sanitize it for
    nbgrader; its review flags."""
    flags = handed_in.review_flags(notebook, stem, release)
    info["changed_tests"] = handed_in.changed_test_cells(notebook, release)
    info["restored_tests"] = handed_in.restore_test_cells(notebook, release)
    nbgrader_steps.sanitize(notebook, context.assignment[stem])
    return flags


def notebook_budget(context, stem):
    """Seconds notebook `stem` may run, whatever the student added to it: the time limits of
    the cells its release runs, over BUDGET_SHARE, and at least BUDGET_CELLS limits."""
    release = context.releases.get(stem)
    cells = 0
    if release is not None:
        cells = len(nbgrader_steps.to_run(release, release, not context.run_all_cells)[0])
    return context.timeout * max(BUDGET_CELLS, math.ceil(cells / BUDGET_SHARE))


def _clean_outputs(notebook):
    """What the notebook's process reported, made plain before it is kept: an exception's name is a
    plain Python name (else valuefile.NEUTRAL_NAME), an execution count an int in range."""
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        if not _count_ok(cell.get("execution_count")):
            cell.execution_count = None
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                output["ename"] = valuefile.plain_name(output.get("ename"))
            if "execution_count" in output and not _count_ok(output["execution_count"]):
                output["execution_count"] = None


def _count_ok(count):
    return count is None or (type(count) is int and 0 <= count <= MAX_COUNT)


_NOTEBOOK_FILES = {f"{stem}.ipynb" for stem in NOTEBOOKS}


def _run_notebook(context, stem, notebook, plan, own, budget, left):
    """(notebook_server.Ran, verdicts.decide_notebook's verdicts) of running one sanitized
    notebook, whose outputs go into `notebook` (`plan`: nbgrader_steps.to_run's cells to
    run and cells skipped), within
    its `budget` (notebook_budget) and the `left` seconds of the submission's. A
    notebook whose code ends its process, or stops answering, is run once more (if
    time is left); a server that refuses to go on (its state was changed from outside)
    or was found dead before the first cell is replaced without counting, up to three
    times (then the notebook counts as died). A notebook over its budget is not run
    again."""
    cells, skipped = plan
    attempts, restarts = 0, 0
    deadline = time.monotonic() + left
    while True:
        server = worker_server(context)
        server.reset(own)
        given = min(budget, max(0.0, deadline - time.monotonic()))
        try:
            ran = server.run(cells, context.timeout, budget=given)
        except notebook_server.ServerRefused as error:
            restarts += 1
            if restarts <= 3:
                continue
            ran = notebook_server.Ran(status="died", log=str(error))
        except notebook_server.ServerFailed as error:
            ran = notebook_server.Ran(status="died", log=str(error))
        attempts += 1
        if ran.status in ("ok", "budget") or attempts == 2 or time.monotonic() >= deadline:
            break
    ran.why = RAN_WHY.get(ran.status, "")
    if ran.status == "budget":
        ran.why = f"{given:g} s"
    decided = verdicts.decide_notebook(stem, _local(context).cases, server.results)
    nbgrader_steps.attach(notebook, ran.outputs, skipped)
    return ran, decided


# ------------------------------------------------------------------ this worker's server


_WORKER = {}  # per process: the local context (venv, cases); per thread: a notebook server
# A Dask worker may run tasks in several threads: one of them prepares the process (the
# others wait for it, not make their own venv), and entries go into _WORKER one at a time.
_PREPARING = threading.Lock()


@dataclass
class _Local:
    python: Path
    cases: Path
    fonts: Path | None
    scratch: Path


def _local(context):
    """The student venv, cases and scratch folder this worker process uses: the parent's
    (same machine), or its own, made once from the context (a cluster worker)."""
    key = ("local", context.fingerprint)
    with _PREPARING:
        if key not in _WORKER:
            if context.python is not None:
                scratch = Path(context.scratch or tempfile.mkdtemp(prefix="bnlab-grading-"))
                local = _Local(Path(context.python), Path(context.cases), context.fonts, scratch)
                _WORKER[key] = local
            else:
                _WORKER[key] = _prepare_remote(context)
        return _WORKER[key]


def _prepare_remote(context):
    """On a worker without the course's files: a student venv from the wheel, the recorded
    cases and the font cache, in a folder of its own (removed when the process exits)."""
    from autograder import sandbox
    from autograder.grading.student_venv import make_student_venv

    if verdicts_fingerprint() != context.fingerprint:
        raise RuntimeError(
            "this worker's bnlab-instructor differs from the grader's (its reference "
            "solutions or hidden tests are not the same): install the same version"
        )
    folder = Path(tempfile.mkdtemp(prefix="bnlab-worker-"))
    atexit.register(shutil.rmtree, folder, True)
    name, data = context.wheel
    wheel = folder / name
    wheel.write_bytes(data)
    python = make_student_venv(folder / "student-venv", wheel)
    cases = folder / "cases"
    verdicts.write_cases(cases)
    fonts = folder / "mpl-cache"
    sandbox.prepare_matplotlib_cache(fonts, python)
    return _Local(python, cases, fonts, folder / "scratch")


def verdicts_fingerprint():
    """sha256 of the grader's code and data that decide verdicts: the reference solutions,
    the hidden tests and the verdicts module."""
    from autograder.content import hidden_tests, reference
    from autograder.grading import verdicts

    hidden = sorted(Path(hidden_tests.__file__).parent.glob("*.py"))
    digest = hashlib.sha256()
    for path in sorted([Path(reference.__file__), Path(verdicts.__file__)]) + hidden:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def worker_server(context):
    """This worker thread's notebook server (started at first use, and again if it
    stopped)."""
    local = _local(context)
    key = ("server", context.fingerprint, threading.get_ident())
    with _PREPARING:  # its folder is named by the entries made so far
        server = _WORKER.get(key)
        if server is None:
            server = notebook_server.NotebookServer(
                local.python,
                local.scratch / f"server-{os.getpid()}-{len(_WORKER)}",
                limits=context.limits,
                sandboxed=context.sandboxed,
                hide=list(context.hide),
                cases=local.cases,
                fonts=local.fonts,
            )
            _WORKER[key] = server
            atexit.register(server.close)
    if not server.alive:
        server.start()
    return server
