"""What a failed check shows: its message, first and in plain words.

A check that fails raises CheckFailed, an AssertionError (so nbgrader and pytest
see a failure). In Jupyter it shows itself without a traceback: IPython prints
the lines of its ``_render_traceback_`` instead, a header naming the function
and the message. When your function raised an error, the lines end with your
code's part of that error's traceback; the frames of the checks are left out.

The last failure is kept, so that ``show_case()`` can print its case.
"""

import sys
import traceback
import types
from pathlib import Path

CHECKS_DIR = Path(__file__).resolve().parent

SHOW_CASE = (
    "Run `from bnlab.checks import show_case; show_case()` to see the inputs, "
    "the expected output and yours."
)

_RED, _RESET = "\x1b[0;31m", "\x1b[0m"

_last = {"failure": None}


class CheckFailed(AssertionError):
    """A visible check found something wrong; the message says what and where to look.

    Arguments:
    message -- what is wrong, in plain words (str(failure) is this message)
    name -- the graded function that was checked, or None
    case -- the failing case (a dict, see bnlab.checks._show.case_record), or None
    error -- the exception your function raised, or None

    The newest CheckFailed is the "last failure" that show_case() prints.
    """

    def __init__(self, message, name=None, case=None, error=None):
        super().__init__(message)
        self.name, self.case, self.error = name, case, error
        _last["failure"] = self

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


def not_implemented(name, function, error):
    """The CheckFailed for a stub: `function` (graded function `name`), or one it calls,
    raised NotImplementedError `error`."""
    culprit = _culprit(name, function, error)
    return CheckFailed(
        f"{culprit} is not implemented yet: replace `raise NotImplementedError()`.", name
    )


def raised(name, error, label, case=None):
    """The CheckFailed for an exception `error` your function `name` raised on case `label`.
    Its rendering ends with your part of the traceback (the checks' frames are left out)."""
    trimmed = without_check_frames(error.__traceback__)
    if trimmed is not None:
        error = error.with_traceback(trimmed)
    return CheckFailed(
        f"{name} raised {type(error).__name__}: {error}\n  Case: {label}.", name, case, error
    )
