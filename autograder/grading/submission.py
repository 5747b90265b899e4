"""One submission's grading: what a worker does, here or on a Dask cluster.

A worker gets a `Submission` (the student's files, as bytes: no shared
filesystem is assumed) and the run's `Context` (what the gradebook holds of the
source notebooks, the release notebooks, the settings), and returns a plain
dict: scores, outcomes, messages' material and the autograded notebooks as
bytes. It writes nothing but its own scratch folder; the parent merges.

Each notebook is read (a missing or invalid one is not run: its functions score
0 and the report says why), scanned for code that could fake a pass
(autograder.grading.code_review), put in the state nbgrader grades (autograder.grading.nbgrader_steps),
and run in a fresh child of this worker's notebook server (autograder.grading.notebook_server).
Its hidden test cells only record what the student's functions return
(bnlab.harness); the verdicts are decided here, from those records
(autograder.grading.verdicts), and are the hidden tests' scores and outputs. A notebook
whose code ends its process or stops answering is run once more, then scored 0.

Time: a cell has the run's time limit (--timeout); a notebook has a budget that
does not grow with the cells a student adds (notebook_budget: from the cells the
release runs), and the submission the sum of its notebooks' budgets, which a rerun
draws on. A notebook over its budget is stopped there: the tests it decided before
stand, the rest score 0, and the report says so.

Everything here reads what the student handed in, so it is bounded and total: a
notebook too large or with too many cells is not parsed (MAX_NOTEBOOK_BYTES,
MAX_CELLS), any failure while one notebook is read, checked or scored is that
notebook's "could not be graded" (the others are graded), and a name a kernel
reports for an exception is kept only if it is a plain Python name.
"""

import atexit
import hashlib
import json
import math
import os
import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat

from autograder import archive
from autograder.grading import code_review, nbgrader_steps, notebook_server, verdicts
from autograder.sandbox import Limits
from bnlab._grading import valuefile
from bnlab.course import NOTEBOOKS

TIMESTAMP = "timestamp.txt"
RAN_WHY = {
    "died": "the kernel died while running it: the code crashed or ended the process",
    "unresponsive": "the kernel stopped responding after a cell ran past its time limit",
    "output": "its code sent more output than the grader keeps (64 MiB)",
}
# A submitted notebook larger than this is not parsed, nor one with more cells: the limits
# collect applies (autograder.archive), again here for what reached submitted/ otherwise.
MAX_NOTEBOOK_BYTES = archive.NOTEBOOK_BYTES
MAX_CELLS = archive.NOTEBOOK_CELLS
MAX_COUNT = 10**9  # an execution count above this (or not an int) is dropped
GRADE_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")  # nbgrader's rule, and a length
CELL = re.compile(r"cell [0-9]{1,5}")  # how review names a cell without a grade_id
# A notebook's budget: the time limits of the cells the release runs, over BUDGET_SHARE
# (the reference runs all seven notebooks in about two seconds), and at least
# BUDGET_CELLS time limits, so any one cell can use its whole limit.
BUDGET_SHARE = 4
BUDGET_CELLS = 2


@dataclass(frozen=True)
class Submission:
    """A student's handed-in folder: {path relative to it: bytes}. A file is read up to one
    byte over MAX_NOTEBOOK_BYTES (enough to tell it is too large to grade), links not at
    all."""

    student: str
    files: dict

    @classmethod
    def read(cls, student, folder):
        folder = Path(folder)
        files = {}
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.is_symlink():
                with open(path, "rb") as handle:
                    files[path.relative_to(folder).as_posix()] = handle.read(MAX_NOTEBOOK_BYTES + 1)
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


# ------------------------------------------------------------------ the notebooks


def _grade_id(cell):
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _first_line(error):
    """The first line of an exception's message (at most 200 characters), or its kind."""
    text = str(error).strip()
    kind = valuefile.plain_name(type(error).__name__)
    return text.splitlines()[0][:200] if text else kind


def inspect_notebook(name, data):
    """(status, message, notebook or None) for one submitted notebook's bytes (None: missing)."""
    if data is None:
        return "missing", f"{name} was not submitted", None
    if len(data) > MAX_NOTEBOOK_BYTES:
        size, limit = f"{len(data) / 1024**2:.0f} MiB", f"{MAX_NOTEBOOK_BYTES >> 20} MiB"
        return "invalid", f"{name} is too large to grade ({size}; the limit is {limit})", None
    try:
        parsed = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        why = _first_line(error)
        return "invalid", f"{name} is not a valid notebook (invalid JSON: {why})", None
    try:
        if not isinstance(parsed, dict) or not isinstance(parsed.get("cells"), list):
            raise ValueError("it has no list of cells")
        if len(parsed["cells"]) > MAX_CELLS:
            raise ValueError(f"{len(parsed['cells'])} cells, more than {MAX_CELLS}")
        notebook = nbformat.reads(data.decode("utf-8"), as_version=4)
        nbformat.validate(notebook)
    except Exception as error:  # nbformat raises several kinds
        return "invalid", f"{name} is not a valid notebook ({_first_line(error)})", None
    return "ok", "", notebook


def restore_test_cells(notebook, release):
    """Put back the graded test cells a student deleted, where the release has them.

    (nbgrader's own add_missing_cells fails when the cell before a deleted test
    is a locked cell that is not graded, such as a visible check.) Sanitizing then
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
    """grade_ids of graded test cells whose source differs from the release (restored)."""
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


# ------------------------------------------------------------------ one submission


def grade_submission(submission, context):
    """Grade one submission; a plain dict (see autograder.grading.gradebook_writer)."""
    started = time.monotonic()
    own = {  # the student's notebooks, as handed in: the home folder of their code
        name: data for name, data in submission.files.items() if name in _NOTEBOOK_FILES
    }
    budgets = {stem: notebook_budget(context, stem) for stem in NOTEBOOKS}
    deadline = started + sum(budgets.values())  # the submission's budget
    notebooks, flags, grades, graded = {}, [], [], {}
    for stem in NOTEBOOKS:
        name = f"{stem}.ipynb"
        status, message, notebook = inspect_notebook(name, own.get(name))
        info = notebooks[stem] = {"status": status, "message": message, "cells": {}}
        if status != "ok":
            continue
        release = context.releases.get(stem)
        try:
            flags += _prepare(notebook, stem, release, context, info)
            plan = nbgrader_steps.to_run(notebook, release, not context.run_all_cells)
        except nbgrader_steps.SanitizeError as error:
            info.update(status="error", message=f"{name} could not be graded ({error})")
            continue
        except Exception as error:  # noqa: BLE001 -- a notebook shaped as no check foresaw
            info.update(
                status="invalid", message=f"{name} is not a valid notebook ({_first_line(error)})"
            )
            continue
        left = deadline - time.monotonic()
        if left <= 0:
            spent = f"the submission used up its time budget ({sum(budgets.values()):g} s)"
            info.update(status="error", message=f"{name} was not run: {spent}")
            continue
        ran, decided = _run_notebook(context, stem, notebook, plan, own, budgets[stem], left)
        if ran.status not in ("ok", "budget"):
            info.update(status="error", message=f"{name} could not be graded ({ran.why})")
            if ran.log:
                info["log"] = "--- the kernel's own output (last lines)\n" + ran.log[-4000:]
            continue
        try:
            if ran.status == "budget":
                info["budget"] = (
                    f"{name} was stopped when it had run for its time budget ({ran.why}): "
                    "the cells after the last one that finished were not run, their tests "
                    "score 0, and the tests decided before stand"
                )
            info["cells"] = _decided_outcomes(notebook, decided, ran.status == "budget")
            _clean_outputs(notebook)
            graded[name] = nbformat.writes(notebook).encode("utf-8")
            grades += nbgrader_steps.scores(notebook, context.assignment[stem])
        except Exception as error:  # noqa: BLE001 -- what its code left could not be scored
            info.update(
                status="error", message=f"{name} could not be graded ({_first_line(error)})"
            )
            info["cells"] = {}
            graded.pop(name, None)
            grades = [g for g in grades if g["notebook"] != stem]
    _replace_scores(grades, notebooks)
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


def _prepare(notebook, stem, release, context, info):
    """Scan one valid notebook, note and restore its test cells, and sanitize it for
    nbgrader; its review flags."""
    flags = review_flags(notebook, stem, release)
    info["changed_tests"] = changed_test_cells(notebook, release)
    info["restored_tests"] = restore_test_cells(notebook, release)
    nbgrader_steps.sanitize(notebook, context.assignment[stem])
    return flags


def review_flags(notebook, stem, release):
    """autograder.grading.code_review's flags of one notebook, as dicts; a flag names its cell by the
    grade_id in the student's metadata, kept only if it is a plain one."""
    sources = {_grade_id(c): c.source for c in release.cells} if release else {}
    found = [f.as_dict() for f in code_review.scan_notebook(notebook, stem, sources)]
    for flag in found:
        cell = flag["cell"]
        if not (isinstance(cell, str) and (GRADE_ID.fullmatch(cell) or CELL.fullmatch(cell))):
            flag["cell"] = "a cell with an invalid grade_id"
    return found


def notebook_budget(context, stem):
    """Seconds notebook `stem` may run, whatever the student added to it: the time limits of
    the cells its release runs, over BUDGET_SHARE, and at least BUDGET_CELLS limits."""
    release = context.releases.get(stem)
    cells = 0
    if release is not None:
        cells = len(nbgrader_steps.to_run(release, release, not context.run_all_cells)[0])
    return context.timeout * max(BUDGET_CELLS, math.ceil(cells / BUDGET_SHARE))


def _clean_outputs(notebook):
    """What the kernel reported, made plain before it is kept: an exception's name is a
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
    """(notebook_server.Ran, decided verdicts) of running one sanitized notebook, whose outputs go
    into `notebook` (`plan`: nbgrader_steps.to_run's cells to run and cells skipped), within
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
                ename = valuefile.plain_name(output.get("ename"))
                evalue = str(output.get("evalue", ""))
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


def _decided_outcomes(notebook, decided, stopped=False):
    """{grade_id: (status, detail)} of the notebook's graded cells, the hidden tests' from
    `decided` (autograder.grading.verdicts); each hidden test cell's outputs are replaced by its
    verdict, which is what the feedback shows. stopped: the notebook was stopped at its
    time budget (a test that left no results was not run)."""
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
                status = "failed"
                detail = (
                    "not run: the notebook used up its time budget"
                    if stopped
                    else "the test did not run to the end"
                )
        else:
            status, detail = verdict
        outcomes[grade_id] = (status, detail)
        streams = [o for o in cell.get("outputs", []) if o.get("output_type") == "stream"]
        if status != "passed":
            ename, _, evalue = detail.partition(": ")
            if valuefile.plain_name(ename, None) is None:  # a sentence, not an exception
                ename, evalue = "Failed", detail
            streams.append(
                nbformat.v4.new_output("error", ename=ename, evalue=evalue, traceback=[detail])
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


# ------------------------------------------------------------------ this worker's server


_WORKER = {}  # per process: the local context (venv, cases); per thread: a notebook server
_PREPARING = threading.Lock()  # a Dask worker may run tasks in several threads


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
    if key not in _WORKER:
        if context.python is not None:
            scratch = Path(context.scratch or tempfile.mkdtemp(prefix="bnlab-grading-"))
            _WORKER[key] = _Local(Path(context.python), Path(context.cases), context.fonts, scratch)
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
