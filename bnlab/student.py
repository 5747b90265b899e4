"""Check your notebooks, then hand them in: ``python -m bnlab check`` / ``submit``.

In a terminal, in the folder that holds the course notebooks::

    python -m bnlab check                   # every visible check, on your saved notebooks
    python -m bnlab submit --student ID     # the same, then one zip to hand in

or in a notebook cell::

    from bnlab import student
    student.check()
    student.submit("ID")

``check`` reads each notebook as it is saved on disk (edits you have not saved
cannot be seen from outside Jupyter), loads each graded function from it the
way ``bnlab.loader`` does, runs that function's visible check, and prints one
table: ``passed``, ``not done`` (it still raises NotImplementedError, or it is
missing), ``too slow`` (cut after a time limit), or what is wrong, in one
line. ``submit`` runs ``check`` and packs the notebooks into one zip named
``<assignment>_<ID>_attempt_<YYYY-MM-DD-HH-MM-SS>_submission.zip``, whose
members are named ``<assignment>_<ID>_attempt_<timestamp>_<notebook>.ipynb``:
the naming of an LMS (Blackboard) download, which the course's grader reads as
it is. The assignment comes first so that an id with ``_`` in it stays whole.
"""

import argparse
import contextlib
import io
import json
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

from bnlab.course import ASSIGNMENT, NOTEBOOKS

TIME_LIMIT = 20.0  # seconds one function's check may take
WIDTH = 100  # characters of a failure message shown in the table
SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
SAVE_FIRST = (
    "Checking the notebooks as they are saved on disk: save your notebooks first "
    "(Ctrl+S in each), unsaved edits cannot be seen from here."
)

PASSED, NOT_DONE, TOO_SLOW = "passed", "not done", "too slow"


@dataclass
class Row:
    """One line of the table: a graded function and what its check said."""

    notebook: str
    function: str
    status: str

    @property
    def passed(self):
        return self.status == PASSED


@dataclass
class Report:
    """What check found: the table's rows and the warnings about the notebooks."""

    rows: list
    warnings: list

    @property
    def ok(self):
        return not self.warnings and all(row.passed for row in self.rows)

    def status(self, function):
        """The status of graded function `function` (str)."""
        return next(row.status for row in self.rows if row.function == function)


class _TooSlow(BaseException):
    """Raised in a check that ran over its time limit (a BaseException, so that an
    ``except Exception`` in the checked code does not swallow it)."""


@contextlib.contextmanager
def _time_limit(seconds):
    """Raise _TooSlow in the block after `seconds`, where a timer signal can (POSIX, main
    thread); elsewhere the block runs without a limit."""
    usable = (
        seconds
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield
        return

    def expired(signum, frame):
        raise _TooSlow()

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _one_line(text, width=WIDTH):
    line = " ".join(str(text).split())
    return line if len(line) <= width else line[: width - 3].rstrip() + "..."


def _status(function, error):
    """The table's status for the exception `error` of the check of `function`."""
    from bnlab.checks import CheckFailed

    message = str(error)
    if isinstance(error, CheckFailed):
        if message.startswith(f"{function} is not implemented yet"):
            return NOT_DONE
        hint = re.search(r"Likely mistake: (.*)", message)
        if hint:
            return "mistake: " + " ".join(hint.group(1).split())
        first = message.splitlines()[0] if message else type(error).__name__
        return _one_line(first.removeprefix(f"{function}: "))
    return _one_line(f"{type(error).__name__}: {message}")


def _notebook_problem(path):
    """None if `path` is a readable notebook, else what is wrong with it, in words."""
    if not path.exists():
        return "missing"
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        return "not valid JSON (damaged, or not saved by Jupyter)"
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        return "not a notebook (valid JSON, but no notebook cells)"
    return None


def _check_function(function, folder, time_limit):
    """The status of graded function `function`, loaded from the notebooks in `folder`."""
    import numpy as np

    from bnlab import checks
    from bnlab.loader import LoadError, load_graded

    sink = io.StringIO()
    try:
        with (
            contextlib.redirect_stdout(sink),
            contextlib.redirect_stderr(sink),
            warnings.catch_warnings(),
            np.errstate(all="ignore"),
        ):
            warnings.simplefilter("ignore")
            with _time_limit(time_limit):
                try:
                    loaded = load_graded(function, folder=folder, session={})
                except LoadError as error:
                    if f"does not define {function}()" in str(error):
                        return NOT_DONE
                    return _one_line(error)
                getattr(checks, f"check_{function}")(loaded)
    except _TooSlow:
        return f"{TOO_SLOW} (stopped after {time_limit:g} s: a loop that never ends?)"
    except Exception as error:
        return _status(function, error)
    return PASSED


def _fingerprint(path):
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


def run_checks(folder=".", time_limit=TIME_LIMIT, copies=None):
    """Check every graded function of every notebook in `folder`; returns a Report.

    copies -- optional folder: the notebooks that were checked are copied there, byte
              for byte (submit packs these, so it hands in what was checked)
    """
    folder = Path(folder)
    found_warnings, rows = [], []
    with tempfile.TemporaryDirectory(prefix="bnlab-check-") as scratch:
        scratch = Path(scratch)
        seen = {}
        for stem in NOTEBOOKS:
            path = folder / f"{stem}.ipynb"
            seen[stem] = _fingerprint(path)
            if path.exists():
                shutil.copyfile(path, scratch / path.name)
        problems = {stem: _notebook_problem(scratch / f"{stem}.ipynb") for stem in NOTEBOOKS}
        for stem, problem in problems.items():
            if problem == "missing":
                found_warnings.append(f"{stem}.ipynb is missing from {folder.resolve()}.")
            elif problem:
                found_warnings.append(f"{stem}.ipynb is {problem}: it cannot be checked.")
        for stem, functions in NOTEBOOKS.items():
            for function in functions:
                if problems[stem] == "missing":
                    status = "notebook missing"
                elif problems[stem]:
                    status = "notebook unreadable"
                else:
                    status = _check_function(function, scratch, time_limit)
                rows.append(Row(stem, function, status))
        for stem, before in seen.items():
            if _fingerprint(folder / f"{stem}.ipynb") != before:
                found_warnings.append(
                    f"{stem}.ipynb changed while it was being checked: save it, then run "
                    "this again."
                )
        if copies is not None:
            for stem in NOTEBOOKS:
                if (scratch / f"{stem}.ipynb").exists():
                    shutil.copyfile(scratch / f"{stem}.ipynb", Path(copies) / f"{stem}.ipynb")
    return Report(rows, found_warnings)


def format_report(report):
    """The table and the warnings, as text."""
    head = ("notebook", "function", "status")
    widths = [
        max(len(head[0]), *(len(row.notebook) for row in report.rows)),
        max(len(head[1]), *(len(row.function) for row in report.rows)),
    ]
    lines = [f"{head[0]:<{widths[0]}}  {head[1]:<{widths[1]}}  {head[2]}"]
    lines.append(f"{'-' * widths[0]}  {'-' * widths[1]}  {'-' * 6}")
    for row in report.rows:
        lines.append(f"{row.notebook:<{widths[0]}}  {row.function:<{widths[1]}}  {row.status}")
    passed = sum(row.passed for row in report.rows)
    lines.append("")
    lines.append(f"{passed} of {len(report.rows)} graded functions pass their checks.")
    for warning in report.warnings:
        lines.append(f"Warning: {warning}")
    return "\n".join(lines)


def check(folder=".", time_limit=TIME_LIMIT, out=print):
    """Run every visible check on the notebooks saved in `folder` and print one table.

    Returns True when every graded function passed and every notebook was readable.
    """
    out(SAVE_FIRST)
    out("")
    report = run_checks(folder, time_limit)
    out(format_report(report))
    return report.ok


def member_name(student_id, stamp, stem):
    """The name of notebook `stem` inside the zip:
    <assignment>_<ID>_attempt_<timestamp>_<stem>.ipynb (the assignment first, so that the
    grader reads an id that holds "_" whole)."""
    return f"{ASSIGNMENT}_{student_id}_attempt_{stamp}_{stem}.ipynb"


def zip_name(student_id, stamp):
    """<assignment>_<ID>_attempt_<timestamp>_submission.zip."""
    return f"{ASSIGNMENT}_{student_id}_attempt_{stamp}_submission.zip"


class SubmitError(ValueError):
    """submit cannot pack: no student id, an unsafe one, or no notebook at all."""


def _valid_id(student_id):
    if not student_id or not str(student_id).strip():
        raise SubmitError(
            "Give your student id: python -m bnlab submit --student YOUR_ID "
            '(in a cell: student.submit("YOUR_ID")).'
        )
    student_id = str(student_id).strip()
    if not SAFE_ID.match(student_id) or "_attempt_" in student_id:
        raise SubmitError(
            f"{student_id!r} cannot be a student id here: use only letters, digits, "
            "'-', '.' and '_', starting with a letter or digit."
        )
    return student_id


def submit(student_id, folder=".", dest=None, time_limit=TIME_LIMIT, out=print, now=None):
    """Check the notebooks in `folder`, then pack them into one zip to hand in.

    Arguments:
    student_id -- your student id: letters, digits, '-', '.' and '_' only
    folder -- where the notebooks are (default: the current folder)
    dest -- where the zip goes (default: `folder`)
    now -- the time of the attempt (a time.struct_time; default: now)

    Returns the path of the zip. It packs failing work too, and says so.
    """
    return _submit(student_id, folder, dest, time_limit, out, now)[0]


def _submit(student_id, folder, dest, time_limit, out, now):
    """(path of the zip, the check's Report): see submit."""
    student_id = _valid_id(student_id)
    folder = Path(folder)
    stamp = time.strftime("%Y-%m-%d-%H-%M-%S", now or time.localtime())
    out(SAVE_FIRST)
    out("")
    with tempfile.TemporaryDirectory(prefix="bnlab-submit-") as copies:
        copies = Path(copies)
        report = run_checks(folder, time_limit, copies=copies)
        out(format_report(report))
        out("")
        present = [stem for stem in NOTEBOOKS if (copies / f"{stem}.ipynb").exists()]
        if not present:
            raise SubmitError(f"No course notebook in {folder.resolve()}: nothing to pack.")
        target = Path(dest or folder) / zip_name(student_id, stamp)
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
            for stem in present:
                archive.write(copies / f"{stem}.ipynb", member_name(student_id, stamp, stem))
    if not report.ok:
        out("Not everything passes its check: packed anyway, as it is.")
    out(f"Packed {len(present)} notebook(s) into {target}:")
    for stem in present:
        out(f"  {member_name(student_id, stamp, stem)}")
    missing = [stem for stem in NOTEBOOKS if stem not in present]
    if missing:
        out(f"Not packed (missing): {', '.join(stem + '.ipynb' for stem in missing)}")
    out("Hand in this zip file as your instructor asks.")
    return target, report


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m bnlab", description="Check your notebooks, then hand them in."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("check", "run every visible check on the saved notebooks, print one table"),
        ("submit", "check, then pack the notebooks into one zip to hand in"),
    ):
        command = commands.add_parser(name, help=text, description=text)
        command.add_argument(
            "folder", nargs="?", default=".", help="the notebooks' folder (default: here)"
        )
        command.add_argument(
            "--time-limit",
            type=float,
            default=TIME_LIMIT,
            help=f"seconds one function's check may take (default: {TIME_LIMIT:g})",
        )
        if name == "submit":
            command.add_argument("--student", help="your student id")
            command.add_argument("--dest", help="where the zip goes (default: the folder)")
    args = parser.parse_args(argv)
    if not Path(args.folder).is_dir():
        print(f"{args.folder} is not a folder.", file=sys.stderr)
        return 2
    if args.command == "check":
        return 0 if check(args.folder, args.time_limit) else 1
    try:
        _, report = _submit(args.student, args.folder, args.dest, args.time_limit, print, None)
    except SubmitError as error:
        print(f"submit: {error}", file=sys.stderr)
        return 2
    return 0 if report.ok else 1
