"""Verdicts decided outside the student's process.

A hidden test (autograder.content.hidden_tests) is a function ``test_<name>(f)`` that
calls f on inputs it draws and compares what f returned with the reference.
It used to run inside the grading kernel, beside the student's code. Now it
runs twice here, in the trusted grader, and never in the process that runs the
student's notebook (a child of the grader's fork server,
autograder.grading.notebook_server):

1. ``write_cases``, once per version of the source notebooks: each test runs
   against a recorder that answers every call with the reference and writes the
   call down -- its inputs, and every call the reference made to another graded
   function with its result (the stand-ins' table, see bnlab.harness). One file
   per function goes into a folder the sandbox mounts read-only. The tests are
   deterministic (seeded, and what they feed back is the reference's result, not
   the function's), so a second run makes the very same calls.
2. ``decide``, after the notebook has run: each test runs again against a
   replay that answers call i with what the student's function returned on call
   i in the notebook's process (read back with bnlab._grading.valuefile: plain
   values, no code), re-raising what it raised and showing any change it made to
   its arguments. The test's own assertions then decide, with their own messages.
   When they fail on the values the function returned, autograder.grading.diagnosis
   names the classic mistake those values match, here too.

So the reference solutions, the comparisons and the expected values never enter
that process, and whatever the student's code patches there (numpy, builtins,
sys.modules, the harness, frames) can only change the values it hands back --
which still have to be right.
"""

import contextlib
import copy
import functools
import inspect
import os
import shutil
from pathlib import Path

import numpy as np

from autograder.content import hidden_tests, reference
from autograder.grading import diagnosis
from bnlab._grading import valuefile
from bnlab._grading.contract import value_file
from bnlab.course import GRADED_FUNCTIONS, NOTEBOOKS
from bnlab.harness import quiet

# Graded functions with one contract: a call to either is answered from the
# other's recorded calls too (a student's linear_bn_activation_backward may call
# the staged version instead of the compact one).
SAME_CONTRACT = {
    "batchnorm_backward": "batchnorm_backward_staged",
    "batchnorm_backward_staged": "batchnorm_backward",
}
MEMORY = "stopped: the code ran out of memory (MemoryError)"


def grade_id(name):
    """The grade_id of the hidden test cell of graded function `name`."""
    return f"test_{name}"


def graded_function(test_id):
    """The graded function whose hidden test cell has grade_id `test_id` (grade_id's inverse)."""
    return test_id.removeprefix("test_")


# ------------------------------------------------------------------ recording


def _bound(function, args, kwargs):
    bound = inspect.signature(function).bind(*args, **kwargs)
    bound.apply_defaults()
    return list(bound.arguments.values())


@contextlib.contextmanager
def _recording_callees(log):
    """Every graded function of the reference logs (name, bound arguments, result) while in use."""
    originals = {name: getattr(reference, name) for name in GRADED_FUNCTIONS}

    def recorder(name, original):
        def wrapper(*args, **kwargs):
            arguments = copy.deepcopy(_bound(original, args, kwargs))
            result = original(*args, **kwargs)
            for alias in (name, SAME_CONTRACT.get(name)):
                if alias:
                    log.append([alias, arguments, copy.deepcopy(result)])
            return result

        return wrapper

    for name, original in originals.items():
        setattr(reference, name, recorder(name, original))
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(reference, name, original)


class _Recorder:
    """Stands for the student's function while a test runs: the reference answers, and each call
    is written down with the other graded functions' calls made on its way."""

    def __init__(self, name):
        self.name, self.calls = name, []
        self.function = getattr(reference, name)

    def __call__(self, *args, **kwargs):
        call = {"args": copy.deepcopy(list(args)), "kwargs": copy.deepcopy(kwargs), "callees": []}
        log = []
        with _recording_callees(log):
            result = self.function(*args, **kwargs)
        call["callees"] = [entry for entry in log if entry[0] != self.name]
        self.calls.append(call)
        return result


def record(name):
    """The calls test_<name> makes, each with its stand-ins' table (see the module docstring)."""
    recorder = _Recorder(name)
    with quiet():
        getattr(hidden_tests, f"test_{name}")(recorder)
    return recorder.calls


def _signatures():
    out = {}
    for name in GRADED_FUNCTIONS:
        params = inspect.signature(getattr(reference, name)).parameters.values()
        out[name] = [
            [p.name, p.default is not p.empty, None if p.default is p.empty else p.default]
            for p in params
        ]
    return out


def write_cases(folder):
    """One <name>.npz per graded function in `folder`: the inputs of its calls, and the tables."""
    folder = Path(folder)
    building = folder.with_name(folder.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    signatures = _signatures()
    for name in GRADED_FUNCTIONS:
        value = {"function": name, "calls": record(name), "signatures": signatures}
        valuefile.save(building / value_file(name), value)
    shutil.rmtree(folder, ignore_errors=True)
    building.rename(folder)
    return folder


# ------------------------------------------------------------------ deciding


class StudentRaised(Exception):
    """The student's function raised this (by name and message) in the notebook's process.
    The name is what that process reported: kept only if it is a plain Python name
    (valuefile.plain_name), so no report or CSV cell shows anything else."""

    def __init__(self, ename, evalue):
        ename = valuefile.plain_name(ename)
        super().__init__(f"{ename}: {evalue}")
        self.ename, self.evalue = ename, evalue


class _ReplayBroken(AssertionError):
    """The replay could not answer the test (a call it did not record, results missing or
    unreadable): a failure, but not one of the values the student's function returned."""


class _Replay:
    """Answers test_<name>'s calls with what the student's function did in the notebook."""

    def __init__(self, name, calls, results):
        self.name, self.calls, self.results, self.index = name, calls, results, 0

    def __call__(self, *args, **kwargs):
        i, self.index = self.index, self.index + 1
        if i >= len(self.calls) or not _identical(
            [list(args), kwargs], [self.calls[i]["args"], self.calls[i]["kwargs"]]
        ):
            raise _ReplayBroken(f"{self.name} was called in an unexpected way (call {i + 1}).")
        if i >= len(self.results):
            raise _ReplayBroken("The test did not run to the end.")
        result = self.results[i]
        if not isinstance(result, dict):
            raise _ReplayBroken("The results of the test are unreadable.")
        if "raised" in result:
            raised = result["raised"]
            listed = list(raised) if isinstance(raised, (list, tuple)) else []
            ename, evalue = (listed + ["", ""])[:2]
            raise StudentRaised(ename, evalue if isinstance(evalue, str) else "")
        for given, after in zip(args, result.get("args") or []):
            _carry_over(given, after)
        for key, after in (result.get("kwargs") or {}).items():
            if key in kwargs:
                _carry_over(kwargs[key], after)
        return result.get("returned")


def _identical(a, b):
    """Exact structural equality (the test's inputs are deterministic)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.shape == b.shape
            and bool(np.array_equal(a, b, equal_nan=True))
        )
    if isinstance(a, dict):
        return (
            isinstance(b, dict) and a.keys() == b.keys() and all(_identical(a[k], b[k]) for k in a)
        )
    if isinstance(a, (list, tuple)):
        return (
            isinstance(b, (list, tuple))
            and len(a) == len(b)
            and all(_identical(x, y) for x, y in zip(a, b))
        )
    return a == b


def _carry_over(given, after):
    """Make the test's argument `given` look as the student's call left its copy (in-place changes)."""
    with contextlib.suppress(Exception):
        if isinstance(given, np.ndarray) and isinstance(after, np.ndarray):
            if given.shape == after.shape and not np.array_equal(given, after, equal_nan=True):
                given[...] = after
        elif isinstance(given, dict) and isinstance(after, dict):
            for key in list(given):
                if key not in after:
                    del given[key]
            for key, value in after.items():
                if key in given and isinstance(given[key], (np.ndarray, dict, list)):
                    _carry_over(given[key], value)
                    if not _identical(given[key], value):
                        given[key] = value
                else:
                    given[key] = value
        elif isinstance(given, list) and isinstance(after, (list, tuple)):
            if not _identical(given, list(after)):
                given[:] = list(after)


def decide(name, calls, results_file):
    """(status, detail) of graded function `name`, or None when the notebook's process left
    no results (autograder.grading.outcomes then reads the cell's own error).

    status: "passed", "failed" or "memory"; detail: the failing test's message
    as "ExceptionName: message" (what the feedback shows). A test failed on the values
    the function returned (not because it raised, nor for results that could not be
    read) gives (status, detail, mistake): the classic mistake those values match
    (autograder.grading.diagnosis.name_mistake: its id, or "unknown"). Total: whatever the
    results file holds, the answer is a verdict, never an exception -- a file that
    cannot be read, or whose values make the test itself fail in an unforeseen way,
    fails this function only.
    """
    path = Path(results_file)
    if not os.path.lexists(path):
        return None
    try:
        return _decide(name, calls, path)
    except Exception as error:  # noqa: BLE001 -- a value no check foresaw
        return "failed", f"the test's results could not be read ({_kind(error)})"


def _kind(error):
    return valuefile.plain_name(type(error).__name__)


def _first_line(text):
    text = text.strip() if isinstance(text, str) else ""
    return text.splitlines()[0][:300] if text else ""


def _decide(name, calls, path):
    try:
        data = valuefile.load(path)
        if not (isinstance(data, dict) and isinstance(data.get("function"), str)):
            raise valuefile.ValueFileError("it is not the results of a function")
        if data["function"] != name:
            raise valuefile.ValueFileError("it is not the results of this function")
    except valuefile.ValueFileError as error:
        return "failed", f"the test's results could not be read ({str(error)[:200]})"
    if "unsaved" in data:
        why = data["unsaved"] if isinstance(data["unsaved"], str) else "(no reason given)"
        return "failed", f"what the function returned could not be kept: {why}"[:300]
    results = data.get("results")
    if not isinstance(results, list):
        return "failed", "the test's results could not be read"
    try:
        with quiet():
            getattr(hidden_tests, f"test_{name}")(_Replay(name, calls, results))
    except StudentRaised as error:
        if error.ename == "MemoryError":
            return "memory", MEMORY
        return "failed", f"{error.ename}: {_first_line(error.evalue)}"[:300]
    except _ReplayBroken as error:
        return "failed", f"AssertionError: {_first_line(_text(error))}"[:300]
    except AssertionError as error:
        detail = f"AssertionError: {_first_line(_text(error))}"[:300]
    except Exception as error:  # the test choked on a value of the wrong kind
        detail = f"{_kind(error)}: {_first_line(_text(error))}"[:300]
    else:
        return "passed", ""
    return "failed", detail, diagnosis.name_mistake(name, calls, results)


def _text(error):
    """str(error), or "" when even that fails (a message built from a hostile value)."""
    try:
        return str(error)
    except Exception:  # noqa: BLE001
        return ""


@functools.cache
def load_calls(cases_folder, name):
    """The recorded calls of `name` (as the trusted grader wrote them)."""
    return valuefile.load(Path(cases_folder) / value_file(name))["calls"]


def decide_notebook(stem, cases_folder, results_folder):
    """{grade_id: (status, detail) or None} for the graded functions of notebook `stem`."""
    return {
        grade_id(name): decide(
            name, load_calls(cases_folder, name), Path(results_folder) / value_file(name)
        )
        for name in NOTEBOOKS[stem]
    }
