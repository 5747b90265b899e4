"""What a hidden test cell runs while the autograder grades a notebook.

The hidden test cell of a graded function holds one call::

    from bnlab import harness

    harness.run("batchnorm_forward", batchnorm_forward)

It does not test anything. In the grading kernel it calls the student's function
on the inputs the grader prepared (``$BNLAB_GRADING_CASES/<name>.npz``) and
writes down what came back -- the return value, or the exception raised, and the
arguments as they were afterwards -- in ``$BNLAB_GRADING_RESULTS/<name>.npz``
(see bnlab._grading.valuefile). The grader, in a process the student's code cannot reach,
compares those values with the reference solutions and decides the points. So
nothing that runs in this kernel can turn a wrong function into points: the
reference solutions and the comparisons are not here.

Each function is graded on its own. While it runs, every *other* graded
function is replaced by a stand-in that answers from a table: the results the
reference gives for the calls a correct function makes on these inputs (the
grader recorded them). A call the table does not hold goes to the student's own
function of that name. So one early mistake costs its points once, and the
table never holds the answers of the function being graded.

Outside grading (no ``$BNLAB_GRADING_CASES``: Run All, nbgrader's Validate) ``run``
runs the function's visible check, quietly, and fails as the check fails: so the
cell that carries the function's points fails while its check does, and Validate
gives the checks' verdict whatever configuration it found (nbgrader's default
looks at the cells worth points only). A function whose check has just passed is
not checked again.
"""

import contextlib
import copy
import inspect
import io
import os
import warnings
from pathlib import Path

import numpy as np

from bnlab._grading import valuefile
from bnlab._grading.contract import CASES_ENV, RESULTS_ENV, value_file
from bnlab.course import GRADED_FUNCTIONS

MATCH_RTOL, MATCH_ATOL = 1e-7, 1e-10  # how close a call's inputs must be to a recorded call's


def run(name, function):
    """Call `function` (the student's `name`) on each prepared input; record what it did."""
    cases_dir, results_dir = os.environ.get(CASES_ENV), os.environ.get(RESULTS_ENV)
    if not cases_dir or not results_dir:
        check(name, function)
        return
    cases = valuefile.load(Path(cases_dir) / value_file(name))
    signatures = {g: _signature(params) for g, params in cases["signatures"].items()}
    results = []
    for call in cases["calls"]:
        table = {}
        for callee, arguments, result in call["callees"]:
            table.setdefault(callee, []).append((arguments, result))
        with _stand_ins(function, name, table, signatures):
            results.append(_call(function, call["args"], call["kwargs"]))
        if results[-1].get("raised", [""])[0] == "MemoryError":
            break  # out of memory is a verdict already; more calls would only repeat it
    record = {"function": name, "results": results}
    path = Path(results_dir) / value_file(name)
    try:
        valuefile.save(path, record)
    except Exception as error:  # e.g. a result too large for the sandbox's file-size limit
        path.unlink(missing_ok=True)
        valuefile.save(path, {"function": name, "unsaved": f"{type(error).__name__}: {error}"})


def check(name, function):
    """Outside grading: the visible check of graded function `name` on `function`, without
    its printed verdict; raises its CheckFailed when it fails. Nothing happens for a name
    that has no check, or a function whose check passed last for that name."""
    from bnlab import checks
    from bnlab.checks._core import passed_last

    checker = getattr(checks, f"check_{name}", None)
    if checker is None or passed_last(name, function):
        return
    with contextlib.redirect_stdout(io.StringIO()):
        checker(function)


@contextlib.contextmanager
def quiet():
    """No warnings and no numpy floating-point messages while the block runs."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield


def _call(function, args, kwargs):
    """{"returned", "args", "kwargs"} after one call, or {"raised": [name, message]}."""
    args, kwargs = copy.deepcopy(list(args)), copy.deepcopy(kwargs)
    try:
        with quiet():
            returned = function(*args, **kwargs)
    except Exception as error:
        return {"raised": [type(error).__name__, str(error)[:2000]]}
    return {"returned": returned, "args": args, "kwargs": kwargs}


def _signature(params):
    """An inspect.Signature from [[name, has_default, default], ...]."""
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    return inspect.Signature(
        [
            inspect.Parameter(p, kind, default=default if has else inspect.Parameter.empty)
            for p, has, default in params
        ]
    )


@contextlib.contextmanager
def swapped(function, replacements):
    """`function`'s globals with `replacements` ({name: value}) in place while the block
    runs; afterwards each name has its old value again (or is gone, if it had none)."""
    namespace = getattr(function, "__globals__", None)
    if not isinstance(namespace, dict):
        yield
        return
    missing = object()
    saved = {name: namespace.get(name, missing) for name in replacements}
    namespace.update(replacements)
    try:
        yield
    finally:
        for name, original in saved.items():
            if original is missing:
                namespace.pop(name, None)
            else:
                namespace[name] = original


def _stand_ins(function, own, table, signatures):
    """Every other graded function, in `function`'s globals, answered from `table`."""
    namespace = getattr(function, "__globals__", None)
    namespace = namespace if isinstance(namespace, dict) else {}
    return swapped(
        function,
        {
            g: _stand_in(g, table.get(g, []), signatures.get(g), namespace.get(g))
            for g in GRADED_FUNCTIONS
            if g != own
        },
    )


def _stand_in(name, entries, signature, fallback):
    def stand_in(*args, **kwargs):
        if signature is not None:
            try:
                bound = signature.bind(*args, **kwargs)
            except TypeError:
                bound = None
            if bound is not None:
                bound.apply_defaults()
                arguments = list(bound.arguments.values())
                for recorded, result in entries:
                    if _same(arguments, recorded):
                        return copy.deepcopy(result)
        if fallback is None:
            raise NameError(f"name {name!r} is not defined")
        return fallback(*args, **kwargs)

    stand_in.__name__ = stand_in.__qualname__ = name
    return stand_in


def _same(a, b):
    """Whether two argument structures agree (arrays within MATCH_RTOL/MATCH_ATOL).

    Written with array operators only, not np.allclose and friends: a student's code
    that patches numpy's functions does not change which recorded call matches."""
    if isinstance(b, np.ndarray) or isinstance(a, np.ndarray):
        try:
            a, b = _asarray(a, dtype=float), _asarray(b, dtype=float)
        except (TypeError, ValueError):
            return False
        if a.shape != b.shape:
            return False
        close = abs(a - b) <= MATCH_ATOL + MATCH_RTOL * abs(b)
        both_nan = (a != a) & (b != b)
        return bool((close | both_nan).all())
    if isinstance(b, dict):
        return isinstance(a, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in b)
    if isinstance(b, (tuple, list)):
        return (
            isinstance(a, (tuple, list))
            and len(a) == len(b)
            and all(_same(x, y) for x, y in zip(a, b))
        )
    if isinstance(b, float) or isinstance(a, float):
        try:
            return abs(float(a) - float(b)) <= MATCH_ATOL + MATCH_RTOL * abs(float(b))
        except (TypeError, ValueError):
            return False
    if isinstance(b, (int, np.integer)) and not isinstance(b, bool):
        return isinstance(a, (int, np.integer)) and not isinstance(a, bool) and a == b
    return type(a) is type(b) and a == b


_asarray = np.asarray  # taken when the harness is imported, before the cells that call it
