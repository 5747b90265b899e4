"""show_case(): the case your last failed check stopped at, printed.

A check that fails keeps its case: the inputs, the expected output, yours, and
where they first differ. ``show_case()`` prints them, short: large arrays are
summarised by numpy, and many input arrays are shown by their shapes unless
you ask for ``show_case(full=True)``.
"""

import copy
import inspect
import textwrap

import numpy as np

from bnlab.checks._failure import last_failure

MANY_ARRAYS = 12  # more input arrays than this: shapes only, unless full=True
PRINT_OPTIONS = {"precision": 4, "threshold": 60, "edgeitems": 3, "linewidth": 90}


def case_record(name, function, label, args, kwargs, **found):
    """The failing case of a check, as a dict that show_case() prints.

    Arguments:
    name -- the graded function checked
    function -- yours (its signature names the inputs)
    label -- the case, in words
    args, kwargs -- the inputs, as they were before the call (copied here)
    found -- what is known about the failure: expected, got (whole outputs), where
             (the readable path of the first difference, e.g. "Z_tilde"), expected_part,
             got_part (the values at `where`), rtol, atol; or error (what yours raised)
    """
    try:
        got = copy.deepcopy(found.get("got"))
    except Exception:  # an output that cannot be copied is shown as it is now
        got = found.get("got")
    return {
        **found,
        "name": name,
        "label": label,
        "inputs": _named_inputs(function, copy.deepcopy(args), copy.deepcopy(kwargs)),
        "got": got,
    }


def _named_inputs(function, args, kwargs):
    """[(name, value)] of the inputs, named after the parameters of `function`."""
    try:
        bound = inspect.signature(function).bind(*args, **kwargs)
        bound.apply_defaults()
        return list(bound.arguments.items())
    except (TypeError, ValueError):
        named = [(f"argument {i + 1}", value) for i, value in enumerate(args)]
        return named + list(kwargs.items())


def _leaves(value, path):
    """[(path, leaf)] of a nested value: its arrays and scalars, with their paths."""
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in _leaves(v, f"{path}[{k!r}]")]
    if isinstance(value, (list, tuple)) and value:
        return [leaf for i, v in enumerate(value) for leaf in _leaves(v, f"{path}[{i}]")]
    return [(path, value)]


def _scalar(value):
    """A number or other leaf, written plainly (0.123457, not np.float64(0.12345678))."""
    if isinstance(value, np.generic):
        value = value.item()
    return f"{value:.6g}" if isinstance(value, float) else repr(value)


def _outline(value):
    """A nested value in one line, its arrays by shape: {'W1': array(4,3), ...}."""
    if isinstance(value, np.ndarray):
        return "array(" + ",".join(map(str, value.shape)) + ("," if value.ndim == 1 else "") + ")"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_outline(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        inside = ", ".join(_outline(v) for v in value)
        return f"[{inside}]" if isinstance(value, list) else f"({inside})"
    return _scalar(value)


def _array_lines(path, value):
    """Lines showing array `value` (at `path`): its shape, then its entries (summarised)."""
    with np.printoptions(**PRINT_OPTIONS):
        text = np.array2string(value)
    return [f"  {path}, shape {value.shape}:", *(f"    {line}" for line in text.split("\n"))]


def _lines(path, value, values):
    """Lines showing `value` (at `path`): leaf by leaf if `values`, else in outline."""
    if isinstance(value, np.ndarray):
        return _array_lines(path, value)
    if isinstance(value, (dict, list, tuple)) and values:
        return [line for inner, leaf in _leaves(value, path) for line in _lines(inner, leaf, True)]
    return textwrap.wrap(
        f"{path} = {_outline(value)}", 92, initial_indent="  ", subsequent_indent="      "
    )


def _inputs_lines(inputs, full):
    """Lines showing the inputs [(name, value)]: nested ones in outline when they hold
    many arrays, unless `full`."""
    leaves = [leaf for name, value in inputs for _, leaf in _leaves(value, name)]
    arrays = sum(isinstance(leaf, np.ndarray) for leaf in leaves)
    values = full or arrays <= MANY_ARRAYS
    lines = [line for name, value in inputs for line in _lines(name, value, values)]
    if not values:
        lines.append("  (Run show_case(full=True) to print every array.)")
    return lines


def _first_entry(case):
    """A line naming the first entry where yours and the expected output differ, or None."""
    got, expected = case.get("got_part"), case.get("expected_part")
    if not (isinstance(got, np.ndarray) and isinstance(expected, np.ndarray)):
        return None
    if got.shape != expected.shape:
        return f"The shapes differ: expected {expected.shape}, yours {got.shape}."
    try:
        differ = ~np.isclose(got, expected, case["rtol"], case["atol"], equal_nan=True)
    except TypeError:
        return None
    if not differ.any():
        return None
    index = tuple(int(i) for i in np.argwhere(differ)[0])
    where = f"{case['where']}[{', '.join(map(str, index))}]"
    mine, wanted = _scalar(got[index]), _scalar(expected[index])
    return f"First difference: {where} is {mine} in yours; expected {wanted}."


def show_case(full=False):
    """Print the case your last failed check stopped at.

    Prints its inputs, the expected output and yours (the part that differs), and
    the first entry where they differ, with its index.

    Arguments:
    full -- print every input array's values (by default, many arrays are shown by shape)
    """
    failure = last_failure()
    if failure is None:
        print("No failing case to show: no check has failed (or the one that failed passes now).")
        return
    case = failure.case
    if case is None:
        first = str(failure).split("\n")[0]
        print(f"The last check that failed stopped before running a case. It said:\n  {first}")
        return
    print(f"{case['name']}, on the case: {case['label']}")
    print("Inputs:")
    print("\n".join(_inputs_lines(case["inputs"], full)))
    if case.get("error") is not None:
        error = case["error"]
        print(f"Yours raised {type(error).__name__}: {error}")
        return
    if "expected_part" not in case:
        print(str(failure))
        return
    where = case["where"]
    print("Expected:")
    print("\n".join(_lines(where, case["expected_part"], full)))
    print("Yours:")
    print("\n".join(_lines(where, case["got_part"], full)))
    line = _first_entry(case)
    if line:
        print(line)
