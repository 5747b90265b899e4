"""Self-study: a graded function's reference solution, once you have tried it yourself.

The self-study release (``make lab``) has a cell after each visible check:

    from bnlab.selfstudy import reveal

    reveal("batchnorm_forward")

It prints the reference body of that function only when its check has run in
this kernel on your own attempt (right or wrong), not on the untouched stub
``raise NotImplementedError()``. Otherwise it says what to do first.

This module holds no solution. The solutions travel only inside the
self-study release folder, in the file SOLUTIONS_FILE beside the notebooks,
lightly encoded (zlib-compressed JSON in base64) so that they do not show at a
glance. The class release and the student wheel never carry that file.
"""

import ast
import base64
import inspect
import json
import textwrap
import zlib
from pathlib import Path

SOLUTIONS_FILE = "solutions.bnlab"
# The first line of SOLUTIONS_FILE: how a reader (and the leak scan) knows the file.
MAGIC = "bnlab self-study solutions, format 1"
FIRST_ATTEMPT = "run the check on your own attempt first"

_checked = {}  # graded function name -> the function its check ran on last, in this kernel


def note_check(name, function):
    """Remember that the visible check of graded function `name` is running `function`
    (the checks call this; reveal reads it)."""
    _checked[name] = function


def forget_checks():
    """Forget every check run so far, as a fresh kernel would."""
    _checked.clear()


# ------------------------------------------------------------------ the stub


def _raises_not_implemented(statement):
    if not isinstance(statement, ast.Raise) or statement.exc is None:
        return False
    exc = statement.exc.func if isinstance(statement.exc, ast.Call) else statement.exc
    return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"


def is_untouched_stub(function):
    """Whether `function` is a release stub as handed out: after its docstring, its body is
    `raise NotImplementedError()` and nothing else (comments aside).

    Read from its source (IPython keeps the source of every cell it runs). When no source
    can be found, its compiled code decides: a function whose only global name is
    NotImplementedError is taken for a stub.
    """
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (OSError, TypeError, SyntaxError):
        code = getattr(function, "__code__", None)
        return code is not None and set(code.co_names) == {"NotImplementedError"}
    definition = tree.body[0] if tree.body else None
    if not isinstance(definition, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return False  # a lambda or a callable object: not the stub of a graded function
    body = definition.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    return len(body) == 1 and _raises_not_implemented(body[0])


# ------------------------------------------------------------------ the file


def encode(solutions):
    """The text of SOLUTIONS_FILE for `solutions`, {graded function: its reference body}."""
    packed = zlib.compress(json.dumps(solutions, sort_keys=True).encode("utf-8"), 9)
    return f"{MAGIC}\n{base64.b64encode(packed).decode('ascii')}\n"


def decode(text):
    """{graded function: reference body} from the text of SOLUTIONS_FILE; ValueError when
    the text is not such a file."""
    first, _, rest = text.partition("\n")
    if first.strip() != MAGIC:
        raise ValueError(f"not a {SOLUTIONS_FILE} file (its first line is not {MAGIC!r})")
    return json.loads(zlib.decompress(base64.b64decode(rest.strip())).decode("utf-8"))


def read_solutions(folder=None):
    """The solutions beside the notebooks (`folder`, default: the current folder, which is
    the notebook's own in Jupyter), or None when the file is not there."""
    path = Path(folder or Path.cwd()) / SOLUTIONS_FILE
    if not path.is_file():
        return None
    return decode(path.read_text(encoding="utf-8"))


# ------------------------------------------------------------------ reveal


def revealed(name, folder=None):
    """(shown, text): whether the reference of graded function `name` may be shown now, and
    what reveal prints: the reference body, or what to do first."""
    if name not in _checked:
        return False, (
            f"The check of {name} has not run in this kernel yet: write your own {name}, "
            f"run its check, then this cell again ({FIRST_ATTEMPT})."
        )
    if is_untouched_stub(_checked[name]):
        return False, (
            f"The check of {name} ran on the untouched stub (raise NotImplementedError()). "
            f"Write your own {name} and {FIRST_ATTEMPT}, then run this cell again."
        )
    solutions = read_solutions(folder)
    if solutions is None:
        return False, (
            f"No reference solutions here: {SOLUTIONS_FILE} comes with the self-study "
            "release (make lab), beside its notebooks."
        )
    if name not in solutions:
        return False, f"{SOLUTIONS_FILE} holds no reference solution of {name}."
    return True, (
        f"Reference solution of {name} (its body, after the docstring); "
        f"compare it with yours:\n\n{solutions[name].rstrip()}"
    )


def reveal(name, folder=None):
    """Print the reference body of graded function `name` once its check has run on your
    own attempt in this kernel; otherwise print what to do first."""
    print(revealed(name, folder)[1])
