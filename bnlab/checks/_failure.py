"""What a failed check shows: its message, first and in plain words.

A check that fails raises CheckFailed, an AssertionError (so nbgrader and pytest
see a failure). In Jupyter it shows itself without a traceback: IPython prints
the lines of its ``_render_traceback_`` instead, a header naming the function
and the message. When your function raised an error, the lines end with your
code's part of that error's traceback; the frames of the checks are left out.

The last failure is kept, so that ``show_case()`` can print its case.
"""

import contextlib
import io
import sys
import traceback
import types
from pathlib import Path
from typing import NamedTuple

CHECKS_DIR = Path(__file__).resolve().parent

SHOW_CASE = (
    "Run `from bnlab.checks import show_case; show_case()` to see the inputs, "
    "the expected output and yours."
)

LIKELY = "Likely mistake:"  # the line of a failure that names a mistake starts so

_RED, _RESET = "\x1b[0;31m", "\x1b[0m"

_last = {"failure": None}
CHECKS = {}  # graded function name -> its visible check (filled by _named.names_mistakes)
_passed = {}  # graded function name -> the function whose check of that name passed last


class CheckFailed(AssertionError):
    """A visible check found something wrong; the message says what and where to look.

    Arguments:
    message -- what is wrong, in plain words (str(failure) is this message)
    name -- the graded function that was checked, or None
    case -- the failing case (a dict, see bnlab.checks._show.case_record), or None
    error -- the exception your function raised, or None
    earlier -- the Earlier function it comes from (earlier_failure), or None

    The newest CheckFailed is the "last failure" that show_case() prints.
    """

    def __init__(self, message, name=None, case=None, error=None, earlier=None):
        super().__init__(message)
        self.name, self.case, self.error, self.earlier = name, case, error, earlier
        _last["failure"] = self
        _passed.pop(name, None)

    def _render_traceback_(self):
        """The lines IPython shows for this failure in place of a traceback (list of str)."""
        message = str(self)
        if self.name and message.startswith(f"{self.name}: "):
            message = message[len(self.name) + 2 :]
        header = f"Check failed: {self.name}" if self.name else "Check failed"
        lines = [f"{_RED}{header}{_RESET}", *message.splitlines()]
        if self.error is not None:
            lines += ["", "Where, in your code:", *student_traceback(self.error)]
        return lines


def last_failure():
    """The newest CheckFailed, or None when none failed (or its check passes now)."""
    return _last["failure"]


def note_passed(name, function):
    """Remember that the check of `name` passed on `function` (None: forget it)."""
    if function is None:
        _passed.pop(name, None)
    else:
        _passed[name] = function


def passed_last(name, function):
    """Whether the last check of graded function `name` passed, on `function` itself."""
    return name in _passed and _passed[name] is function


def forget(name):
    """Drop the last failure if it belongs to the check of `name` (which passes now)."""
    failure = _last["failure"]
    if failure is not None and failure.name == name:
        _last["failure"] = None


# ------------------------------------------------------------- tracebacks


def _in_checks(filename):
    """Whether code from `filename` is part of bnlab.checks."""
    if filename.startswith("<"):
        return False
    try:
        return Path(filename).resolve().parent == CHECKS_DIR
    except (OSError, ValueError):
        return False


def without_check_frames(tb):
    """Traceback `tb` with the frames of bnlab.checks left out (None if none are left)."""
    kept = []
    while tb is not None:
        if not _in_checks(tb.tb_frame.f_code.co_filename):
            kept.append(tb)
        tb = tb.tb_next
    trimmed = None
    for entry in reversed(kept):
        trimmed = types.TracebackType(trimmed, entry.tb_frame, entry.tb_lasti, entry.tb_lineno)
    return trimmed


def student_traceback(error):
    """The traceback of `error` as lines, as IPython would show it (plain Python's outside
    IPython). Call it on an error whose check frames are already left out."""
    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    if shell is not None:
        try:
            formatted = shell.InteractiveTB.structured_traceback(
                type(error), error, error.__traceback__
            )
            return [line for chunk in formatted for line in chunk.split("\n")]
        except Exception:  # IPython's formatter changed: the plain one below will do
            pass
    formatted = traceback.format_exception(type(error), error, error.__traceback__)
    return "".join(formatted).rstrip("\n").split("\n")


def _culprit(name, function, error):
    """Who raised NotImplementedError `error` while `function` (graded function `name`) ran:
    `name` itself, or e.g. "batchnorm_forward (called by linear_bn_activation_forward)"."""
    tb = error.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    code = tb.tb_frame.f_code
    if code is getattr(function, "__code__", None) or code.co_name in (name, "<module>"):
        return name
    return f"{code.co_name} (called by {name})"


def _loaded_frames(error):
    """[(notebook file, function name)] of the frames of `error`'s traceback that run code
    load_graded loaded from an earlier notebook, innermost last."""
    from bnlab.loader import origin

    frames, tb = [], error.__traceback__
    while tb is not None:
        found = origin(tb.tb_frame.f_code)
        if found is not None:
            frames.append(found)
        tb = tb.tb_next
    return frames


def what_to_do(notebook):
    """What to do about a function of `notebook` (an earlier one) that fails."""
    return (
        f"Solve it in {notebook} until its check passes there, save {notebook} (Ctrl+S), "
        "then run this notebook's load_graded cell and this cell again."
    )


def not_implemented(name, function, error):
    """The CheckFailed for a stub: `function` (graded function `name`), or one it calls,
    raised NotImplementedError `error`. A stub loaded from an earlier notebook is named
    with that notebook."""
    from bnlab.loader import origin

    tb = error.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    where = origin(tb.tb_frame.f_code) if tb is not None else None
    if where is not None and origin(function) is None:
        notebook, loaded = where
        return CheckFailed(
            f"{name} calls your {loaded} from {notebook}, which is not implemented in the "
            f"saved {notebook}.\n  {what_to_do(notebook)}",
            name,
        )
    culprit = _culprit(name, function, error)
    return CheckFailed(
        f"{culprit} is not implemented yet: replace `raise NotImplementedError()`.", name
    )


_checking_earlier = {"on": False}


def _reachable_loaded(function):
    """{(notebook file, name): loaded function} that `function` reaches by name through its
    globals: the functions of earlier notebooks it calls, and those they call."""
    from bnlab.loader import origin

    found, seen, todo = {}, set(), [function]
    while todo:
        current = todo.pop()
        code, namespace = getattr(current, "__code__", None), getattr(current, "__globals__", None)
        if code is None or not isinstance(namespace, dict) or id(current) in seen:
            continue
        seen.add(id(current))
        codes, names = [code], set()
        while codes:
            inner = codes.pop()
            names.update(inner.co_names)
            codes += [c for c in inner.co_consts if isinstance(c, types.CodeType)]
        for called in names:
            value = namespace.get(called)
            where = origin(value) if isinstance(value, types.FunctionType) else None
            if where is not None and where[1] == called:
                found[where] = value
                todo.append(value)
    return found


class Earlier(NamedTuple):
    """A function loaded from an earlier notebook that fails its own check there: its
    name, its notebook file, and the note that says so and what to do."""

    function: str
    notebook: str
    note: str


def earlier_failure(name, function):
    """The Earlier function that `function` (graded function `name`) uses, loaded from an
    earlier notebook, that fails its own check there; None when none does. The earlier
    checks run quietly; the last failure stays as it was."""
    if _checking_earlier["on"]:
        return None
    from bnlab.course import GRADED_FUNCTIONS

    try:
        loaded = _reachable_loaded(function)
    except Exception:  # a note is a courtesy: never a reason to fail otherwise
        return None
    order = sorted(
        (key for key in loaded if key[1] in GRADED_FUNCTIONS and key[1] != name),
        key=lambda key: GRADED_FUNCTIONS.index(key[1]),
    )
    last, passed = _last["failure"], dict(_passed)
    _checking_earlier["on"] = True
    try:
        for notebook, other in order:
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    CHECKS[other](loaded[(notebook, other)])
            except CheckFailed as failure:
                first = str(failure).splitlines()[0]
                note = (
                    f"This comes from your {other}, loaded from {notebook}: it fails its own "
                    f"check there ({first})\n  {what_to_do(notebook)}"
                )
                return Earlier(other, notebook, note)
            except Exception:
                continue
        return None
    finally:
        _checking_earlier["on"] = False
        _last["failure"] = last
        _passed.clear()
        _passed.update(passed)


def raised(name, error, label, case=None, function=None):
    """The CheckFailed for an exception `error` your function `name` raised on case `label`.
    Its rendering ends with your part of the traceback (the checks' frames are left out)."""
    trimmed = without_check_frames(error.__traceback__)
    if trimmed is not None:
        error = error.with_traceback(trimmed)
    message = f"{name} raised {type(error).__name__}: {error}\n  Case: {label}."
    frames = _loaded_frames(error)
    earlier = earlier_failure(name, function) if function is not None else None
    if frames:
        notebook, loaded = frames[-1]
        message += f"\n  The error was raised in your {loaded}, loaded from {notebook}." + (
            f"\n  {earlier.note}"
            if earlier
            else f"\n  Its check passes there: look at what {name} passes to it."
        )
    elif earlier:  # e.g. it unpacks what a function of an earlier notebook returned wrong
        message += f"\n  {earlier.note}"
    return CheckFailed(message, name, case, error, earlier)
