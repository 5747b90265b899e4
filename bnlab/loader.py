"""Your own functions from an earlier notebook, so your code carries forward.

Later notebooks build on earlier ones: notebook 04's network calls the
``linear_bn_activation_forward`` *you* wrote in notebook 01. ``load_graded``
reads the sibling notebook from the folder of the running notebook (as Jupyter
and VS Code tell the kernel; else the current folder), executes the cells whose nbgrader ``grade_id`` is a graded
function's name, and hands you those functions. Nothing else in that notebook
runs, nor do the magics and shell commands of those cells (``%matplotlib``,
``!pip``). A function you haven't written yet loads fine and raises
NotImplementedError when called.

It reads the *saved* notebook. When this session defines a function of the
same name whose code differs from the saved one (edits not saved yet), it
prints a note saying so: save that notebook so later ones use your latest code.
"""

import inspect
import json
import linecache
import re
import types
from pathlib import Path

import numpy as np

from bnlab import activations
from bnlab.cells import python_source
from bnlab.course import NOTEBOOKS, notebook_of

_FILENAME = "<{notebook}: {name}>"  # the "file" of a loaded cell's code
_FILENAME_RE = re.compile(r"<(\d\d_\w+\.ipynb): (\w+)>")


def origin(code):
    """(notebook file name, graded function name) of the graded cell that `code` (a code
    object, a function, or a traceback frame's code) was loaded from; None for code that
    load_graded did not load."""
    code = getattr(code, "__code__", code)
    found = _FILENAME_RE.fullmatch(str(getattr(code, "co_filename", "")))
    return (found.group(1), found.group(2)) if found else None


class LoadError(ImportError):
    """An earlier notebook could not be read, or its graded cell could not run."""


class _NoShell:
    """get_ipython() of the loaded cells: their magics and shell escapes do nothing."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def _base_namespace():
    namespace = {"__name__": "bnlab_loaded", "np": np, "numpy": np, "get_ipython": _NoShell}
    namespace.update({k: v for k, v in vars(activations).items() if not k.startswith("_")})
    return namespace


def graded_cells(path):
    """{grade_id: source} of the graded function cells in the notebook at `path`."""
    path = Path(path)
    if not path.exists():
        raise LoadError(
            f"{path.name} was not found next to this notebook (looked in {path.parent.resolve()})."
        )
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
        cells = [cell for cell in notebook["cells"] if isinstance(cell, dict)]
    except (ValueError, KeyError, TypeError) as error:
        raise LoadError(f"{path.name} is not a readable notebook ({error}).") from None
    found = {}
    for cell in cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if cell.get("cell_type") == "code" and grade_id in NOTEBOOKS.get(path.stem, []):
            source = cell.get("source", "")
            found[grade_id] = "".join(source) if isinstance(source, list) else source
    return found


def _source(function):
    """The source of `function`, trailing spaces and blank lines dropped; None if unknown."""
    try:
        lines = inspect.getsource(function).splitlines()
    except (OSError, TypeError):
        return None
    return "\n".join(line.rstrip() for line in lines).strip("\n")


def _defined_in(session, name):
    """The function `name` that the namespace `session` defines itself (in a cell of this
    notebook, not imported, not loaded), or None."""
    function = session.get(name)
    if isinstance(function, types.FunctionType) and function.__module__ == session.get("__name__"):
        return function
    return None


def _note_unsaved_edits(loaded, session, notebooks):
    """Print a note for each loaded function that `session` defines with other code.

    Arguments:
    loaded -- the namespace the saved graded cells ran in
    session -- the namespace of the running notebook, e.g. its globals()
    notebooks -- {function name: notebook file name} of the loaded functions

    Printed on stdout (stderr in a graded cell costs its points); never raises.
    """
    for name, notebook in notebooks.items():
        try:
            mine = _defined_in(session, name)
            if mine is None:
                continue
            theirs, saved = _source(mine), _source(loaded.get(name))
            if theirs is None or saved is None or theirs == saved:
                continue
        except Exception:  # a note is a courtesy: never a reason to fail
            continue
        print(
            f"Note: {name} in {notebook} differs from the one defined in this session -- "
            f"save {notebook} (Ctrl+S) so later notebooks use your latest code."
        )


def _run_cell(source, filename, namespace):
    """Run a graded cell's code in `namespace`, under `filename` (the "file" of its
    tracebacks); its lines go to linecache, so tracebacks and inspect.getsource show them."""
    code = python_source(source)
    compiled = compile(code, filename, "exec")
    linecache.cache[filename] = (
        len(code),
        None,
        [line + "\n" for line in code.splitlines()],
        filename,
    )
    exec(compiled, namespace)


def notebook_folders(session):
    """The folders where the course notebooks may be, best first: the running notebook's
    own folder, when the kernel was told its path (JupyterLab's ``__session__``, VS Code's
    ``__vsc_ipynb_file__``), then the current folder."""
    folders = []
    for key in ("__vsc_ipynb_file__", "__session__"):
        path = session.get(key) if isinstance(session, dict) else None
        if isinstance(path, str) and path.endswith(".ipynb"):
            try:
                folder = Path(path).expanduser().parent
                if folder.is_dir() and folder not in folders:
                    folders.append(folder)
            except (OSError, ValueError):
                continue
    return [*folders, Path(".")]


def _course_folder(folders, stems):
    """The first of `folders` that holds the notebook of each of `stems` (else the first)."""
    for folder in folders:
        if all((folder / f"{stem}.ipynb").exists() for stem in stems):
            return folder
    return folders[0]


def _run_notebooks(folder, wanted, namespace):
    """Run the graded cells of the notebooks in `folder` up to the last of `wanted` (their
    stems) in `namespace`; {grade_id: notebook file} of the cells that ran.

    The notebooks run in course order, each once, in one namespace: a function of a later
    notebook calls your functions from the earlier ones (model_forward calls your
    linear_bn_activation_forward). An earlier notebook that is missing is skipped; one that
    defines a function you asked for must be there."""
    stems = list(NOTEBOOKS)
    last = max(stems.index(stem) for stem in wanted)
    ran = {}
    for stem in stems[: last + 1]:
        path = Path(folder) / f"{stem}.ipynb"
        if stem not in wanted and not path.exists():
            continue
        cells = graded_cells(path)
        for grade_id in NOTEBOOKS[stem]:
            if grade_id not in cells:
                continue
            try:
                _run_cell(
                    cells[grade_id], _FILENAME.format(notebook=path.name, name=grade_id), namespace
                )
            except Exception as error:
                raise LoadError(
                    f"The cell of {grade_id} in {path.name} does not run: "
                    f"{type(error).__name__}: {error}. Fix it there, save, and run this "
                    "cell again."
                ) from None
            ran[grade_id] = path.name
    return ran


def load_graded(*names, folder=None, session=None, replace=None):
    """Your graded functions `names`, from the notebooks that define them.

    Arguments:
    names -- graded function names, e.g. "batchnorm_forward"
    folder -- where the course notebooks are (default: the running notebook's own folder,
              when the kernel knows it and the notebooks are there; else the current folder)
    session -- the namespace of the running notebook (default: the caller's globals); a
               function it defines under a loaded name, with other code than the saved
               notebook's, gets a printed note: save that notebook
    replace -- optional {name: function}: after the notebooks' cells ran, these stand
               in for the functions of those names wherever the loaded functions call
               them. load_graded("model_forward", replace={"batchnorm_forward": f})
               gives your model_forward calling f where your code calls
               batchnorm_forward. Each call of load_graded loads its own copies, so the
               functions loaded without `replace` are not changed.

    Returns:
    the function, for one name; a tuple of functions, in order, for several
    """
    if session is None:
        caller = inspect.currentframe().f_back
        session = caller.f_globals if caller is not None else {}
        del caller
    wanted = {notebook_of(name) for name in names}
    if folder is None:
        folder = _course_folder(notebook_folders(session), sorted(wanted))
    namespace = _base_namespace()
    ran = _run_notebooks(folder, wanted, namespace)
    _note_unsaved_edits(namespace, session, ran)
    namespace.update(replace or {})
    functions = []
    for name in names:
        function = namespace.get(name)
        if not callable(function):
            raise LoadError(
                f"{notebook_of(name)}.ipynb does not define {name}() in its graded cell."
            )
        functions.append(function)
    return functions[0] if len(functions) == 1 else tuple(functions)
