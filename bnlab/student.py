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
line. A notebook that is missing or cannot be read as a notebook is named once,
below the table; its functions show ``notebook missing`` / ``notebook
unreadable``. A graded cell that cannot run (a SyntaxError, or a line that
raises when the cell runs) is its own function's problem. A function that needs one of
those says so, while the others are checked as usual; so does one whose check fails
because a function it calls fails its own check. Below the table, a reminder names
each written answer (graded by hand) still left as "YOUR ANSWER HERE".

``submit`` runs ``check`` and packs the notebooks into one zip named
``<assignment>_<ID>_attempt_<YYYY-MM-DD-HH-MM-SS>_submission.zip``, whose
members are named ``<assignment>_<ID>_attempt_<timestamp>_<notebook>.ipynb``:
the naming of an LMS (Blackboard) download, which the course's grader reads as
it is. The assignment comes first so that an id with ``_`` in it stays whole.
It packs unfinished work (and says so), but writes no zip at all while a
notebook is missing or unreadable: such a zip would lose that notebook's points.
Exit status: 0 when the zip was written, 1 when a notebook stopped it, 2 for a
missing or unusable student id.
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
from dataclasses import dataclass, field
from pathlib import Path

from bnlab._saved import (
    PLACEHOLDER,
    cells_that_do_not_compile,
    nbgrader_metadata,
    notebook_problem,
    one_line,
    read_notebook,
    unanswered,
)
from bnlab.course import ASSIGNMENT, GRADED_FUNCTIONS, NOTEBOOKS, notebook_of

TIME_LIMIT = 20.0  # seconds one function's check may take
SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
SAVE_FIRST = (
    "Checking the notebooks as they are saved on disk: save your notebooks first "
    "(Ctrl+S in each), unsaved edits cannot be seen from here."
)

PASSED, NOT_DONE, TOO_SLOW = "passed", "not done", "too slow"
MISSING, UNREADABLE = "notebook missing", "notebook unreadable"


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
    """What check found: the table's rows, the warnings about the notebooks, the
    notebooks that cannot be read ({stem: what is wrong}) and the written answers not
    written yet."""

    rows: list
    warnings: list
    problems: dict = field(default_factory=dict)
    unanswered: list = field(default_factory=list)

    @property
    def ok(self):
        """Whether every graded function passed and every notebook was readable (the
        written answers do not count here: they are a reminder)."""
        return not self.warnings and all(row.passed for row in self.rows)

    def status(self, function):
        """The status of graded function `function` (str)."""
        return next(row.status for row in self.rows if row.function == function)


class _CellFails(Exception):
    """Loading stopped at the graded cell `grade_id` of another function, whose code
    raised `what` when it ran."""

    def __init__(self, grade_id, what):
        super().__init__(grade_id, what)
        self.grade_id, self.what = grade_id, what


# How bnlab.loader says that a graded cell raised when it ran.
CELL_FAILS = re.compile(r"The cell of (\w+) in \S+\.ipynb does not run: (.*?)\. Fix it there", re.S)


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


def _needs_broken(error, unavailable):
    """If `error` (or the error behind a failed check) is a NameError for a graded
    function in `unavailable` ({name: (stem, why)}), the words for the table."""
    cause = getattr(error, "error", None) or error
    found = re.search(r"name '(\w+)' is not defined", str(cause))
    if not found or found.group(1) not in unavailable:
        return None
    name = found.group(1)
    stem, why = unavailable[name]
    return f"not checked: it needs {name}() of {stem}.ipynb, {why}"


def _status(function, error, unavailable=None):
    """The table's status for the exception `error` of the check of `function`;
    `unavailable` ({name: (stem, why)}): the graded functions that could not be loaded."""
    from bnlab.checks import CheckFailed

    needs = _needs_broken(error, unavailable or {})
    if needs:
        return needs
    message = str(error)
    if isinstance(error, CheckFailed):
        if message.startswith(f"{function} is not implemented yet"):
            return NOT_DONE
        if error.earlier:  # a function it calls, of an earlier notebook, fails its check
            earlier = error.earlier
            return one_line(
                f"fails: it needs {earlier.function}() of {earlier.notebook}, which fails its "
                "own check"
            )
        hint = re.search(r"Likely mistake: (.*)", message)
        if hint:
            return "mistake: " + " ".join(hint.group(1).split())
        first = message.splitlines()[0] if message else type(error).__name__
        return one_line(first.removeprefix(f"{function}: "))
    return one_line(f"{type(error).__name__}: {message}")


def _check_function(function, folder, time_limit, unavailable=None):
    """The status of graded function `function`, loaded from the notebooks in `folder`;
    `unavailable` ({name: (stem, why)}): the graded functions that could not be loaded."""
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
                    fails = CELL_FAILS.search(str(error))
                    if fails and fails.group(1) != function:
                        raise _CellFails(fails.group(1), fails.group(2)) from None
                    if fails:
                        return one_line(f"its cell does not run: {fails.group(2)}")
                    return _needs_broken(error, unavailable or {}) or one_line(error)
                getattr(checks, f"check_{function}")(loaded)
    except _TooSlow:
        return f"{TOO_SLOW} (stopped after {time_limit:g} s: a loop that never ends?)"
    except _CellFails:
        raise
    except Exception as error:
        return _status(function, error, unavailable)
    return PASSED


def _checked(function, folder, time_limit, unavailable, notebooks, cell_errors):
    """_check_function, past the graded cells of other functions that raise when they
    run: each is emptied in its notebook in `folder` (`notebooks`: {stem: notebook dict},
    as there), noted in `unavailable` and `cell_errors`, and the check runs again."""
    for _ in range(len(GRADED_FUNCTIONS) + 1):
        try:
            status = _check_function(function, folder, time_limit, unavailable)
        except _CellFails as fails:
            stem = notebook_of(fails.grade_id)
            if fails.grade_id in unavailable or stem not in notebooks:
                return one_line(f"{fails.grade_id} in {stem}.ipynb does not run: {fails.what}")
            for cell in notebooks[stem]["cells"]:
                if nbgrader_metadata(cell).get("grade_id") == fails.grade_id:
                    cell["source"] = ""
            text = json.dumps(notebooks[stem])
            (Path(folder) / f"{stem}.ipynb").write_text(text, encoding="utf-8")
            unavailable[fails.grade_id] = (stem, "whose cell does not run")
            cell_errors[fails.grade_id] = one_line(fails.what, 70)
            continue
        return status
    return "not checked: too many cells that do not run"


def _fingerprint(path):
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


def _problem_warning(stem, problem, folder):
    """The one warning about notebook `stem`, missing or unreadable (`problem`)."""
    if problem == "missing":
        return (
            f"{stem}.ipynb is missing from {folder.resolve()}: put it back there (a fresh "
            "copy of the notebook if you have not started it)."
        )
    return (
        f"{stem}.ipynb cannot be read: it is {problem}. Open it in Jupyter and save it "
        "again (Ctrl+S); if Jupyter cannot open it either, use File > Revert Notebook to "
        "Checkpoint, or start again from a fresh copy and paste your work in."
    )


def _snapshot(path, saved):
    """(notebook dict, None) or (None, what is wrong) of the notebook at `path`, read from
    the copy of it made in the folder `saved`: what is checked, and handed in, is the file
    as it was then."""
    if path.is_file():  # a regular file (a folder or a device is not copied)
        try:
            shutil.copyfile(path, saved / path.name)
        except OSError:
            pass
    if path.exists() and not (saved / path.name).exists():
        notebook, problem = read_notebook(path)  # says what it is instead
        return notebook, problem or "a file that cannot be opened"
    return read_notebook(saved / path.name)


def _rows(loadable, time_limit, problems, cell_errors, unavailable, notebooks):
    """[Row] of every graded function: MISSING or UNREADABLE with its notebook (`problems`),
    its own cell's error (`cell_errors`), or what its check says, loaded from the notebooks
    in the folder `loadable` (_checked, which may add to `unavailable` and `cell_errors`)."""
    rows = []
    for stem, functions in NOTEBOOKS.items():
        for function in functions:
            if stem in problems:
                status = MISSING if problems[stem] == "missing" else UNREADABLE
            elif function in cell_errors:
                status = f"its cell does not run: {cell_errors[function]}"
            else:
                status = _checked(
                    function, loadable, time_limit, unavailable, notebooks, cell_errors
                )
            rows.append(Row(stem, function, status))
    return rows


def run_checks(folder=".", time_limit=TIME_LIMIT, copies=None):
    """Check every graded function of every notebook in `folder`; returns a Report.

    copies -- optional folder: the readable notebooks that were checked are copied there,
              byte for byte (submit packs these, so it hands in what was checked)

    A notebook that is missing or cannot be read is reported once (a warning and
    Report.problems); its functions show MISSING / UNREADABLE, and every other function
    is checked without it (one that calls a function of it says so).
    """
    folder = Path(folder)
    found_warnings, answers = [], []
    with tempfile.TemporaryDirectory(prefix="bnlab-check-") as scratch:
        saved, loadable = Path(scratch) / "saved", Path(scratch) / "loadable"
        saved.mkdir()
        loadable.mkdir()
        seen, problems, cell_errors, unavailable, notebooks = {}, {}, {}, {}, {}
        for stem in NOTEBOOKS:
            path = folder / f"{stem}.ipynb"
            seen[stem] = _fingerprint(path)
            notebook, problem = _snapshot(path, saved)
            if problem:
                problems[stem] = problem
                found_warnings.append(_problem_warning(stem, problem, folder))
                why = "which is missing" if problem == "missing" else "which is unreadable"
                unavailable.update(dict.fromkeys(NOTEBOOKS[stem], (stem, why)))
                (saved / path.name).unlink(missing_ok=True)
                continue  # the later functions load without it, as without a missing one
            answers += unanswered(stem, notebook)
            errors = cells_that_do_not_compile(stem, notebook)
            cell_errors.update(errors)
            unavailable.update(dict.fromkeys(errors, (stem, "whose cell does not run")))
            notebooks[stem] = notebook
            if errors:  # the loader reads it with those cells emptied
                (loadable / path.name).write_text(json.dumps(notebook), encoding="utf-8")
            else:
                shutil.copyfile(saved / path.name, loadable / path.name)
        rows = _rows(loadable, time_limit, problems, cell_errors, unavailable, notebooks)
        for stem, before in seen.items():
            if _fingerprint(folder / f"{stem}.ipynb") != before:
                found_warnings.append(
                    f"{stem}.ipynb changed while it was being checked: save it, then run "
                    "this again."
                )
        if copies is not None:
            for stem in NOTEBOOKS:
                if (saved / f"{stem}.ipynb").exists():
                    shutil.copyfile(saved / f"{stem}.ipynb", Path(copies) / f"{stem}.ipynb")
    return Report(rows, found_warnings, problems, answers)


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
    if report.unanswered:
        count = len(report.unanswered)
        lines.append(
            f"Reminder: {count} written answer{'s' if count > 1 else ''} (graded by hand) "
            f"{'are' if count > 1 else 'is'} not written yet. Write each in the cell under "
            f'its question, in place of "{PLACEHOLDER}", and save:'
        )
        lines += [f"  {answer.describe()}" for answer in report.unanswered]
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


class BrokenNotebooks(SubmitError):
    """submit wrote no zip: a notebook is missing or cannot be read as a notebook."""


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

    Returns the path of the zip. It packs failing work and unwritten answers too, and
    says so. It writes no zip, and raises BrokenNotebooks, when a notebook is missing
    or cannot be read as a notebook.
    """
    return _submit(student_id, folder, dest, time_limit, out, now)[0]


def _refusal(problems, folder):
    """Why submit writes no zip, for the notebooks `problems` ({stem: problem}) (str)."""
    named = []
    for stem, problem in problems.items():
        if problem == "missing":
            named.append(f"{stem}.ipynb is missing from {Path(folder).resolve()}")
        else:
            named.append(f"{stem}.ipynb cannot be read as a notebook")
    return (
        "Nothing was packed, no zip was written: "
        + "; ".join(named)
        + ". A zip without a notebook, or with a damaged one, loses that notebook's "
        "points. Fix it as the warning above says, then run submit again."
    )


def _submit(student_id, folder, dest, time_limit, out, now):
    """(path of the zip, the check's Report): see submit."""
    student_id = _valid_id(student_id)
    folder = Path(folder)
    stamp = time.strftime("%Y-%m-%d-%H-%M-%S", now or time.localtime())
    out(SAVE_FIRST)
    out("")
    problems = {stem: notebook_problem(folder / f"{stem}.ipynb") for stem in NOTEBOOKS}
    problems = {stem: problem for stem, problem in problems.items() if problem}
    nothing_there = list(problems.values()) == ["missing"] * len(NOTEBOOKS)  # said below
    if problems and not nothing_there:
        for stem, problem in problems.items():
            out(f"Warning: {_problem_warning(stem, problem, folder)}")
        raise BrokenNotebooks(_refusal(problems, folder))
    with tempfile.TemporaryDirectory(prefix="bnlab-submit-") as copies:
        copies = Path(copies)
        report = run_checks(folder, time_limit, copies=copies)
        out(format_report(report))
        out("")
        present = [stem for stem in NOTEBOOKS if (copies / f"{stem}.ipynb").exists()]
        if not present:
            raise SubmitError(f"No course notebook in {folder.resolve()}: nothing to pack.")
        if report.problems:  # a notebook saved (or deleted) meanwhile
            raise BrokenNotebooks(_refusal(report.problems, folder))
        target = Path(dest or folder) / zip_name(student_id, stamp)
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
            for stem in present:
                archive.write(copies / f"{stem}.ipynb", member_name(student_id, stamp, stem))
    if not report.ok:
        out("Not everything passes its check: packed anyway, as it is.")
    if report.unanswered:
        out(
            f"Not every written answer is written ({len(report.unanswered)} listed above): "
            "packed anyway, as it is."
        )
    out(f"Packed {len(present)} notebook(s) into {target}:")
    for stem in present:
        out(f"  {member_name(student_id, stamp, stem)}")
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
        _submit(args.student, args.folder, args.dest, args.time_limit, print, None)
    except BrokenNotebooks as error:
        print(f"submit: {error}", file=sys.stderr)
        return 1
    except SubmitError as error:
        print(f"submit: {error}", file=sys.stderr)
        return 2
    return 0  # the zip is written: that is what to hand in, finished or not
