"""The machinery behind the visible checks: stored cases, comparison, and named mistakes.

A check runs your function on stored cases (``bnlab/data/checks/<name>.npz``)
and compares what it returns with the expected output: type, then shape, then
values. When the values are wrong, it compares them with the outputs of the
classic mistakes stored beside the case; if yours matches one, the message
names that mistake. The cases hold numbers only, no solution code.
"""

import copy
import json
from pathlib import Path

import numpy as np

from bnlab.checks._failure import (
    LIKELY,
    SHOW_CASE,
    CheckFailed,
    earlier_failure,
    forget,
    not_implemented,
    note_passed,
    passed_last,  # noqa: F401 -- bnlab.harness asks it
    raised,
)
from bnlab.checks._show import case_record
from bnlab.selfstudy import note_check

FIXTURE_DIR = Path(__file__).resolve().parent.parent / "data" / "checks"
RTOL, ATOL = 1e-6, 1e-8  # how close values must be, unless a case sets its own


# ------------------------------------------------------------ serialization


def _flatten(value, arrays):
    if isinstance(value, np.ndarray):
        key = f"a{len(arrays)}"
        arrays[key] = value
        return {"array": key}
    if isinstance(value, dict):
        return {"dict": [[k, _flatten(v, arrays)] for k, v in value.items()]}
    if isinstance(value, (list, tuple)):
        kind = "tuple" if isinstance(value, tuple) else "list"
        return {kind: [_flatten(v, arrays) for v in value]}
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return {"value": value}
    raise TypeError(f"cannot store {type(value).__name__} in a check fixture")


def _unflatten(node, arrays):
    if "array" in node:
        return arrays[node["array"]]
    if "dict" in node:
        return {k: _unflatten(v, arrays) for k, v in node["dict"]}
    if "tuple" in node:
        return tuple(_unflatten(v, arrays) for v in node["tuple"])
    if "list" in node:
        return [_unflatten(v, arrays) for v in node["list"]]
    return node["value"]


def save_cases(path, cases):
    """Store a list of case dicts (nested tuples/lists/dicts of arrays and scalars) in an npz."""
    arrays = {}
    structure = _flatten(cases, arrays)
    np.savez_compressed(path, __structure__=np.array(json.dumps(structure)), **arrays)


_STORED = {}  # name -> the arrays of its cases file, read once per process


def load_cases(name):
    """The stored cases of graded function `name` (their arrays are read from the file
    once per process; a check hands the function copies)."""
    if name not in _STORED:
        with np.load(FIXTURE_DIR / f"{name}.npz", allow_pickle=False) as stored:
            _STORED[name] = {key: stored[key] for key in stored.files}
    arrays = dict(_STORED[name])
    return _unflatten(json.loads(str(arrays.pop("__structure__"))), arrays)


def preload():
    """Read every stored cases file now (the grader's server does, before it forks)."""
    for path in sorted(FIXTURE_DIR.glob("*.npz")):
        load_cases(path.stem)


# --------------------------------------------------------------- comparison


def _describe(value):
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    return f"a {type(value).__name__}"


def first_difference(got, expected, where, rtol, atol):
    """None if `got` matches `expected`; otherwise (kind, where, message)."""
    found = locate_difference(got, expected, where, rtol, atol)
    return None if found is None else found[:3]


def locate_difference(got, expected, where, rtol, atol):
    """None if `got` matches `expected`; otherwise (kind, where, message, got_part,
    expected_part): the parts of both at `where`, the path of the first difference."""
    found = _difference_here(got, expected, where, rtol, atol)
    if found is not None:
        return (*found, got, expected)
    if isinstance(expected, dict):
        pairs = [(got[key], value, f"{where}[{key!r}]") for key, value in expected.items()]
    elif isinstance(expected, (tuple, list)):
        pairs = [(g, e, f"{where}[{i}]") for i, (g, e) in enumerate(zip(got, expected))]
    else:
        return None
    for g, e, inner in pairs:
        found = locate_difference(g, e, inner, rtol, atol)
        if found:
            return found
    return None


def _difference_here(got, expected, where, rtol, atol):
    """(kind, where, message) if `got` differs from `expected` at this level, else None
    (a dict's keys and a sequence's length, not yet their items)."""
    if isinstance(expected, np.ndarray):
        if np.isscalar(got) and expected.shape == ():
            got = np.asarray(got)
        if not isinstance(got, np.ndarray):
            return "type", where, f"{where} should be {_describe(expected)}, got {_describe(got)}."
        if got.shape != expected.shape:
            return "shape", where, f"{where} has shape {got.shape}; expected {expected.shape}."
        if not np.allclose(got, expected, rtol=rtol, atol=atol, equal_nan=True):
            diff = np.abs(got.astype(np.float64) - expected)
            if np.isnan(diff).any():
                return (
                    "values",
                    where,
                    f"Wrong values in {where}: it holds NaN where it should not.",
                )
            return (
                "values",
                where,
                f"Wrong values in {where} (largest difference {diff.max():.3g}).",
            )
        return None
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            return "type", where, f"{where} should be a dict, got {_describe(got)}."
        missing = [k for k in expected if k not in got]
        extra = [k for k in got if k not in expected]
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"missing keys {missing}")
            if extra:
                parts.append(f"unexpected keys {extra}")
            return "keys", where, f"{where} has {' and '.join(parts)}."
        return None
    if isinstance(expected, (tuple, list)):
        if not isinstance(got, (tuple, list)):
            return (
                "type",
                where,
                f"{where} should be a {type(expected).__name__}, got {_describe(got)}.",
            )
        if len(got) != len(expected):
            return "length", where, f"{where} has {len(got)} items; expected {len(expected)}."
        return None
    if isinstance(expected, float):
        if not isinstance(got, (int, float, np.number)) or not np.isclose(
            got, expected, rtol, atol
        ):
            return "values", where, f"{where} should be {expected!r}, got {got!r}."
        return None
    if got != expected:
        return "values", where, f"{where} should be {expected!r}, got {got!r}."
    return None


def same_output(got, output, rtol=RTOL, atol=ATOL):
    """Whether `got` is `output` (a stored mistake's, say) within the tolerances; False
    when the two cannot be compared."""
    try:
        return first_difference(got, output, "output", rtol, atol) is None
    except Exception:  # a value too strange to walk through
        return False


def _changed_inputs(before, after):
    return first_difference(after, before, "input", 0, 0) is not None


def call_or_fail(name, function, args, label, kwargs=None):
    """function(*args, **kwargs), or CheckFailed with a plain message naming what went wrong.

    Arguments:
    name -- the graded function checked
    function -- yours
    args, kwargs -- its inputs
    label -- the case, in words, e.g. "n_l=4, m=6, non-default gamma and beta"

    A stub fails with "<name> is not implemented yet"; any other exception fails with
    its type and message, and shows your code's part of its traceback.
    """
    kwargs = kwargs or {}
    note_passed(name, None)  # a check of `name` is running: it has not passed yet
    before = copy.deepcopy((args, kwargs))
    note_check(name, function)  # for bnlab.selfstudy.reveal
    try:
        return function(*args, **kwargs)
    except NotImplementedError as error:
        raise not_implemented(name, function, error) from None
    except Exception as error:
        if isinstance(error, MemoryError):  # its traceback would keep the memory in use
            error = error.with_traceback(None)
        case = case_record(name, function, label, *before, error=error)
        raise raised(name, error, label, case, function) from error


def _readable(text, labels):
    """`text` with the paths of `labels` ({"output[0]": "Z_tilde", ...}) replaced."""
    for path, readable in sorted(labels.items(), key=lambda item: -len(item[0])):
        text = text.replace(path, readable)
    return text


def _compare(name, function, case, got, labels):
    """Raise CheckFailed unless output `got` of `function` matches the expected one of `case`."""
    label, rtol, atol = case["label"], case.get("rtol", RTOL), case.get("atol", ATOL)
    try:
        found = locate_difference(got, case["expected"], "output", rtol, atol)
    except Exception as error:  # an output too strange to compare (an array of strings...)
        raise CheckFailed(
            f"{name}: its output cannot be compared with the expected one "
            f"({type(error).__name__}: {error}).\n  Case: {label}.",
            name,
        ) from None
    if found is None:
        return
    _, where, message, got_part, expected_part = found
    where, message = _readable(where, labels), _readable(message, labels)
    record = case_record(
        name,
        function,
        label,
        case["args"],
        case.get("kwargs", {}),
        expected=case["expected"],
        got=got,
        where=where,
        got_part=got_part,
        expected_part=expected_part,
        rtol=rtol,
        atol=atol,
    )
    for mistake, output in case.get("mistakes", {}).items():
        if same_output(got, output, rtol, atol):
            hint = case["hints"][mistake]
            raise CheckFailed(
                f"{name}: {message}\n  {LIKELY} {hint}\n  Case: {label}.", name, record
            )
    earlier = earlier_failure(name, function)
    if earlier:
        message += f"\n  {earlier.note}"
    message = f"{name}: {message}\n  Case: {label}.\n  {SHOW_CASE}"
    raise CheckFailed(message, name, record, earlier=earlier)


def run_check(name, function, labels=None, report=print):
    """Run `function` on the stored cases of graded function `name`.

    Arguments:
    name -- graded function name; its cases are in bnlab/data/checks/<name>.npz
    function -- the function to check (yours)
    labels -- optional {path: readable name}, e.g. {"output[1][2]": "cache[2] (mu)"}
    report -- where the verdict is printed

    Raises CheckFailed with a plain message at the first failing case (show_case()
    prints that case); prints a one-line verdict when all pass.
    """
    labels = labels or {}
    cases = load_cases(name)
    for case in cases:
        args = copy.deepcopy(case["args"])
        kwargs = copy.deepcopy(case.get("kwargs", {}))
        label = case["label"]
        got = call_or_fail(name, function, args, label, kwargs)
        if _changed_inputs(case["args"], args) or _changed_inputs(case.get("kwargs", {}), kwargs):
            raise CheckFailed(
                f"{name} changed one of its inputs in place (case: {label}). "
                "Build new arrays (x = x - ...) instead of x -= ... on arguments.",
                name,
                case_record(name, function, label, case["args"], case.get("kwargs", {})),
            )
        _compare(name, function, case, got, labels)
    forget(name)
    note_passed(name, function)
    report(f"{name}: all {len(cases)} checks passed.")
    return True
