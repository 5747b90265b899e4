"""Naming a classic mistake in the form students really write it.

A check names a stored mistake when your whole output is that mistake's output. A
mistake rarely comes alone, though: the activation applied to Z usually comes with
Z in the activation cache too, and a sum without ``keepdims=True`` stops the code
with a broadcasting error before anything can be compared. When a check fails
without naming a mistake, this looks again at what it found:

- the first part of your output that is wrong (A, dbeta, cache[2]...) holds what a
  stored mistake gives there: that mistake is named;
- that part lost an axis ((4,) where (4, 1) is expected), or is transposed: said so;
- your function stopped with a broadcasting error between an (n,) and an (n, m)
  array (or an (n, n) one born of it): a sum or mean without ``keepdims=True``;
- it stopped with a matrix product whose shapes do not fit: a misplaced ``.T``;
- it asked for the b of a hidden layer (KeyError 'b1'), which Batch Norm removed.

The failure then carries a "Likely mistake:" line, like a named stored mistake.
"""

import ast
import functools
import re
import types

import numpy as np

from bnlab.checks._core import ATOL, RTOL, first_difference, load_cases, locate_difference
from bnlab.checks._failure import (
    CHECKS,
    LIKELY,
    SHOW_CASE,
    CheckFailed,
    earlier_failure,
    what_to_do,
)

_INDEX = re.compile(r"\[('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|-?\d+)\]")
_SHAPE = re.compile(r"\((\d+(?:\s*,\s*\d+)*\s*,?)\)")


def _part(value, path):
    """The part of nested `value` at `path` ("output[1][2]", "output['dW1']"), or None."""
    rest = path[len("output") :]
    tokens = _INDEX.findall(rest)
    if "".join(f"[{token}]" for token in tokens) != rest:
        return None
    try:
        for token in tokens:
            value = value[ast.literal_eval(token)]
    except (LookupError, TypeError, ValueError, SyntaxError):
        return None
    return value


def _stored_case(name, record):
    """The stored case of graded function `name` that failure record `record` is about."""
    try:
        cases = load_cases(name)
    except (OSError, ValueError, KeyError):
        return None
    for case in cases:
        if case["label"] == record.get("label") and (
            first_difference(record.get("expected"), case["expected"], "output", 0, 0) is None
        ):
            return case
    return None


def first_wrong_part(got, expected, rtol=RTOL, atol=ATOL):
    """(where, part): the path of the first part of `got` that differs from `expected`
    ("output[1][2]") and that part of `got`; None when `got` matches `expected` or is too
    strange to walk through."""
    try:
        found = locate_difference(got, expected, "output", rtol, atol)
    except Exception:  # an output too strange to walk through
        return None
    return None if found is None else (found[1], found[3])


def same_part(wrong, output, rtol=RTOL, atol=ATOL):
    """Whether a stored mistake's `output` holds, where `wrong` (first_wrong_part) is, what
    yours holds there: the mistake, in the variant that goes wrong there first."""
    where, yours = wrong
    theirs = _part(output, where)
    if theirs is None:
        return False
    try:
        return first_difference(yours, theirs, "part", rtol, atol) is None
    except Exception:
        return False


def _from_stored_mistakes(name, record):
    """The hint of the stored mistake whose output is yours where yours first goes wrong."""
    case = _stored_case(name, record)
    if case is None or not case.get("mistakes"):
        return None
    rtol, atol = record.get("rtol", RTOL), record.get("atol", ATOL)
    wrong = first_wrong_part(record["got"], case["expected"], rtol, atol)
    if wrong is None:
        return None
    for mistake, output in case["mistakes"].items():
        if same_part(wrong, output, rtol, atol):
            return case["hints"][mistake]
    return None


def _from_shapes(record):
    """A hint when the wrong part has lost an axis or is transposed, else None."""
    got, expected = record.get("got_part"), record.get("expected_part")
    if not (isinstance(got, np.ndarray) and isinstance(expected, np.ndarray)):
        return None
    where, shape = record.get("where", "the output"), expected.shape
    if got.shape == shape or expected.ndim != 2:
        return None
    if got.ndim == 1 and shape == (got.size, 1):
        return (
            f"{where} lost its second axis: a sum or mean over axis=1 without "
            f"keepdims=True gives shape {got.shape}. Write np.sum(..., axis=1, "
            f"keepdims=True) (np.mean alike) to keep the shape {shape}."
        )
    if got.ndim == 1 and shape == (1, got.size):
        return (
            f"{where} lost its first axis: a sum or mean over axis=0 without "
            f"keepdims=True gives shape {got.shape}. Write np.mean(..., axis=0, "
            f"keepdims=True) (np.sum alike) to keep the shape {shape}."
        )
    if got.shape == shape[::-1]:
        return (
            f"{where} is transposed: shape {got.shape}, expected {shape}. Check the order "
            "of the factors of its matrix product, and where a .T belongs."
        )
    return None


def _shapes(message):
    """The array shapes named in an error message, as tuples."""
    return [
        tuple(int(n) for n in found.split(",") if n.strip()) for found in _SHAPE.findall(message)
    ]


def _from_key_error(error):
    """A hint for KeyError `error` when it asks for the b (or db) of a layer, else None."""
    key = error.args[0] if error.args else None
    if not isinstance(key, str) or not re.fullmatch(r"d?b\d+", key):
        return None
    return (
        f"there is no {key!r}: a layer with Batch Norm has no b (its beta takes b's role), "
        "so the parameters hold W, gamma and beta for the hidden layers and b only for "
        "the output layer (bL), and the gradients likewise. Loop over the keys that are "
        "there, or use gamma and beta in the hidden layers."
    )


def _from_error(error):
    """A hint for an exception your function raised, when it is a classic one, else None."""
    message = str(error)
    if isinstance(error, KeyError):
        return _from_key_error(error)
    if not isinstance(error, ValueError):
        return None
    if "could not be broadcast" in message:
        shapes = _shapes(message.split("shapes", 1)[-1])
        tables = [s for s in shapes if len(s) == 2 and s[0] != s[1]]
        for table in tables:
            rows = table[0]
            lost = next((s for s in shapes if s == (rows,)), None)
            square = next((s for s in shapes if s == (rows, rows)), None)
            if lost:
                return (
                    f"a sum or mean over axis=1 lost that axis (keepdims=True is missing): "
                    f"its result has shape {lost}, which does not line up with the {rows} "
                    f"rows of the {table} array. Write np.sum(..., axis=1, keepdims=True) "
                    f"(np.mean, np.var alike) to keep the shape ({rows}, 1)."
                )
            if square:
                return (
                    f"a sum or mean over axis=1 lost that axis (keepdims=True is missing): "
                    f"its ({rows},) result met a ({rows}, 1) array and became a {square} "
                    f"one, which does not line up with the {table} array. Write "
                    "np.sum(..., axis=1, keepdims=True) (np.mean, np.var alike) to keep "
                    f"the shape ({rows}, 1)."
                )
        return None
    if message.startswith("matmul:") or "not aligned" in message:
        return (
            "a matrix product whose shapes do not fit: in A @ B the columns of A must "
            "match the rows of B. Check each product's shapes: a .T missing or misplaced, "
            "or the two factors in the wrong order."
        )
    return None


def likely_mistake(name, failure):
    """The hint for CheckFailed `failure` of the check of `name`, or None (also when it
    names a mistake already)."""
    record = failure.case
    if LIKELY in str(failure) or not isinstance(record, dict):
        return None
    if record.get("error") is not None:
        return _from_error(record["error"])
    if "got_part" not in record or ", loaded from " in str(failure):
        return None  # nothing compared, or wrong values that come from an earlier notebook
    if isinstance(record.get("got_part"), np.ndarray) and np.shape(record["got_part"]) != np.shape(
        record.get("expected_part")
    ):
        return _from_shapes(record) or _from_stored_mistakes(name, record)
    return _from_stored_mistakes(name, record) or _from_shapes(record)


def _with_hint(failure, hint):
    """`failure` again, its message with the line "Likely mistake: `hint`"."""
    first, *rest = str(failure).split("\n")
    rest = [line for line in rest if line.strip() != SHOW_CASE]
    message = "\n".join([first, f"  {LIKELY} {hint}", *rest])
    return CheckFailed(message, failure.name, failure.case, failure.error, failure.earlier)


def _with_earlier(name, function, failure):
    """`failure` again, ending with a note when it names no earlier notebook yet and comes
    from one: a function `function` calls, loaded from an earlier notebook, fails its own
    check there (earlier_failure), or else `function` itself was loaded from one. This
    reaches the failures a check raises itself, such as a wrong type returned, an input
    changed in place or an output that cannot be compared. `failure` itself otherwise."""
    from bnlab.loader import origin

    message, case = str(failure), failure.case
    if ", loaded from " in message or " is not implemented" in message:
        return failure
    # its own mistake, wrong values or an error: earlier_failure was asked already
    looked_at = LIKELY in message or (isinstance(case, dict) and {"got_part", "error"} & set(case))
    earlier = None if looked_at else earlier_failure(name, function)
    where = origin(function) if isinstance(function, types.FunctionType) else None
    if earlier:
        note = earlier.note
    elif where is not None:
        note = f"This {name} is yours, loaded from {where[0]}.\n  {what_to_do(where[0])}"
    else:
        return failure
    return CheckFailed(f"{message}\n  {note}", failure.name, case, failure.error, earlier)


def names_mistakes(name):
    """Decorator of the check of graded function `name`: a failure that names no mistake
    is looked at again (likely_mistake) and, when one is found, raised with its hint; one
    that an earlier notebook's function causes says which (_with_earlier). The check is
    then known by its function's name (_failure.CHECKS)."""

    def decorate(check):
        @functools.wraps(check)
        def named(function):
            try:
                return check(function)
            except CheckFailed as caught:
                try:
                    hint = likely_mistake(name, caught)
                except Exception:  # naming is a courtesy: the failure stands as it is
                    hint = None
                failure = caught if hint is None else _with_hint(caught, hint)
                failure = _with_earlier(name, function, failure)
                if failure is caught:
                    raise
                raise failure from caught.__cause__

        CHECKS[name] = named
        return named

    return decorate
