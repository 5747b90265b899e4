"""load_graded reads the *saved* notebook: it says so when this session's code differs.

A student who edits batchnorm_forward in notebook 01 and forgets to save gets,
from load_graded, the saved (older) code. When the namespace that calls
load_graded defines a function of the same name with other code, a short note
on stdout says which notebook to save. No note when the code is the same, when
the caller does not define the function (the usual case: notebook 04 loads
notebook 01's functions), or when the caller's function is one load_graded
loaded before (an import cell run twice). The comparison never raises.
"""

import inspect
import linecache
import traceback

import nbformat
import numpy as np
import pytest

from autograder.content import reference
from bnlab.cells import python_source
from bnlab.loader import LoadError, load_graded

SAVED = '''# GRADED FUNCTION: batchnorm_forward
def batchnorm_forward(Z, gamma, beta, eps=1e-5):
    """The saved version."""
    mu = np.mean(Z, axis=1, keepdims=True)
    var = np.var(Z, axis=1, keepdims=True)
    Z_norm = (Z - mu) / np.sqrt(var + eps)
    return gamma * Z_norm + beta, (Z, Z_norm, mu, var, gamma, beta, eps)
'''
EDITED = SAVED.replace(
    "np.var(Z, axis=1, keepdims=True)", "np.var(Z, axis=1, keepdims=True, ddof=1)"
)
NOTE = (
    "Note: batchnorm_forward in 01_forward_bn.ipynb differs from the one defined in this "
    "session -- save 01_forward_bn.ipynb (Ctrl+S) so later notebooks use your latest code."
)


def write_notebook(folder, cells):
    """01_forward_bn.ipynb in `folder`, with cells {grade_id: source}."""
    notebook = nbformat.v4.new_notebook()
    for grade_id, source in cells.items():
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["nbgrader"] = {"grade_id": grade_id, "solution": True}
        notebook.cells.append(cell)
    nbformat.write(notebook, str(folder / "01_forward_bn.ipynb"))


def ipython_session(*cells):
    """A namespace like a notebook's after running `cells`: each compiled under its own
    cell "file", whose lines are in linecache (as IPython does)."""
    session = {"__name__": "__main__", "np": np}
    for number, source in enumerate(cells, start=1):
        code = python_source(source)
        filename = f"<test cell {id(session)}-{number}>"
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        exec(compile(code, filename, "exec"), session)
    return session


@pytest.fixture
def saved(tmp_path):
    write_notebook(tmp_path, {"batchnorm_forward": SAVED})
    return tmp_path


def test_a_note_when_the_sessions_function_differs(saved, capfd):
    session = ipython_session(EDITED)
    function = load_graded("batchnorm_forward", folder=saved, session=session)
    captured = capfd.readouterr()
    assert captured.out.strip() == NOTE
    assert captured.err == ""  # stderr in a graded cell would cost its points
    assert function.__doc__ == "The saved version."  # still the saved code
    assert session["batchnorm_forward"].__doc__ == "The saved version."  # untouched


def test_no_note_when_the_same_or_absent(saved, capsys):
    load_graded("batchnorm_forward", folder=saved, session=ipython_session(SAVED))
    load_graded("batchnorm_forward", folder=saved, session=ipython_session("x = 1\n" + SAVED))
    load_graded("batchnorm_forward", folder=saved, session={"__name__": "__main__"})
    load_graded("batchnorm_forward", folder=saved, session=ipython_session("x = 1"))
    assert capsys.readouterr().out == ""


def test_no_note_for_functions_loaded_or_imported(saved, capsys):
    """An import cell run again: the session's function is the one loaded last time,
    even when the notebook was saved with other code since."""
    session = ipython_session("")
    session["batchnorm_forward"] = load_graded("batchnorm_forward", folder=saved, session=session)
    write_notebook(saved, {"batchnorm_forward": EDITED})
    load_graded("batchnorm_forward", folder=saved, session=session)
    session["batchnorm_forward"] = reference.batchnorm_forward
    load_graded("batchnorm_forward", folder=saved, session=session)
    assert capsys.readouterr().out == ""


def test_the_comparison_never_raises(saved, capsys):
    """A function whose source cannot be read, or an odd namespace: no note, no error."""
    session = {"__name__": "__main__", "np": np}
    exec(compile(EDITED, "<not in linecache>", "exec"), session)
    load_graded("batchnorm_forward", folder=saved, session=session)
    session = ipython_session(EDITED)
    del session["__name__"]
    load_graded("batchnorm_forward", folder=saved, session=session)
    assert capsys.readouterr().out == ""


def batchnorm_forward(Z, gamma, beta, eps=1e-5):
    """The caller's own: defined in this module, so load_graded compares with it by default."""
    return Z, None


def test_the_default_session_is_the_callers_globals(saved, capsys):
    mine = inspect.getsource(batchnorm_forward)
    write_notebook(saved, {"batchnorm_forward": mine})
    load_graded("batchnorm_forward", folder=saved)
    assert capsys.readouterr().out == ""
    write_notebook(saved, {"batchnorm_forward": mine.replace("return Z, None", "return Z, 0")})
    load_graded("batchnorm_forward", folder=saved)
    assert capsys.readouterr().out.strip() == NOTE


def test_tracebacks_show_the_saved_lines(tmp_path):
    failing = SAVED.replace("mu = np.mean(Z, axis=1, keepdims=True)", "mu = 1 / 0")
    write_notebook(tmp_path, {"batchnorm_forward": failing})
    function = load_graded("batchnorm_forward", folder=tmp_path, session={})
    with pytest.raises(ZeroDivisionError) as caught:
        function(np.ones((2, 3)), np.ones((2, 1)), np.zeros((2, 1)))
    text = "".join(traceback.format_exception(caught.value))
    assert '"<01_forward_bn.ipynb: batchnorm_forward>", line 4' in text
    assert "mu = 1 / 0" in text


LAYER = """# GRADED FUNCTION: linear_bn_activation_forward
def linear_bn_activation_forward(A_prev, W, gamma, beta, activation):
    Z = W @ A_prev
    Z_tilde, bn_cache = batchnorm_forward(Z, gamma, beta)
    return Z_tilde, ((A_prev, W), bn_cache, (Z_tilde, activation))
"""


def test_replace_puts_another_function_under_a_graded_name(tmp_path):
    """load_graded(..., replace={name: f}): the loaded functions call f where the saved code
    calls `name` (notebook 07 turns the Batch Norm network into a Layer Norm one); a later
    load without replace is not affected."""
    write_notebook(tmp_path, {"batchnorm_forward": SAVED, "linear_bn_activation_forward": LAYER})
    calls = []

    def stand_in(Z, gamma, beta, eps=1e-5):
        calls.append(Z.shape)
        return reference.layernorm_forward(Z, gamma, beta, eps)

    A_prev, W = np.arange(6.0).reshape(2, 3), np.array([[1.0, -2.0], [0.5, 3.0], [2.0, 1.0]])
    gamma, beta = np.full((3, 1), 2.0), np.full((3, 1), -1.0)
    layer = load_graded(
        "linear_bn_activation_forward",
        folder=tmp_path,
        session={},
        replace={"batchnorm_forward": stand_in},
    )
    Z_tilde, _ = layer(A_prev, W, gamma, beta, "relu")
    assert calls == [(3, 3)]
    np.testing.assert_allclose(Z_tilde, reference.layernorm_forward(W @ A_prev, gamma, beta)[0])

    plain = load_graded("linear_bn_activation_forward", folder=tmp_path, session={})
    Z_tilde, _ = plain(A_prev, W, gamma, beta, "relu")
    assert calls == [(3, 3)]  # the stand-in was not called again
    np.testing.assert_allclose(Z_tilde, reference.batchnorm_forward(W @ A_prev, gamma, beta)[0])


def test_the_notebooks_are_found_beside_the_running_notebook(tmp_path, monkeypatch):
    """A kernel whose current folder is not the notebook's (nbconvert or papermill run
    from elsewhere) still finds the earlier notebooks: Jupyter tells it the notebook's
    path (``__session__``; VS Code: ``__vsc_ipynb_file__``)."""
    course, elsewhere = tmp_path / "batchnorm", tmp_path / "elsewhere"
    course.mkdir(), elsewhere.mkdir()
    write_notebook(course, {"batchnorm_forward": SAVED})
    monkeypatch.chdir(elsewhere)
    for key in ("__session__", "__vsc_ipynb_file__"):
        session = {"__name__": "__main__", key: str(course / "02_backward_bn.ipynb")}
        loaded = load_graded("batchnorm_forward", session=session)
        assert loaded.__doc__ == "The saved version."
    with pytest.raises(LoadError, match="01_forward_bn.ipynb was not found"):
        load_graded("batchnorm_forward", session={"__name__": "__main__"})


def test_the_current_folder_when_the_notebooks_are_not_beside_the_session(tmp_path, monkeypatch):
    write_notebook(tmp_path, {"batchnorm_forward": SAVED})
    monkeypatch.chdir(tmp_path)
    session = {"__session__": str(tmp_path / "nowhere" / "02_backward_bn.ipynb")}
    assert load_graded("batchnorm_forward", session=session).__doc__ == "The saved version."
