"""A check that fails because of a function loaded from an earlier notebook says so.

Notebook 04's model_forward calls the linear_bn_activation_forward (and through it the
batchnorm_forward) that load_graded loads from the saved notebook 01. When one of those
is a stub, is wrong, or raises, the failure of model_forward's check names that function
and notebook 01, and says to solve it there and save it. The functions come from the
reference and the stubs nbgrader leaves; the expected words are written out here.
"""

import inspect

import nbformat
import numpy as np
import pytest

from autograder.content import reference
from bnlab import activations
from bnlab.checks import CheckFailed, check_linear_bn_activation_forward, check_model_forward
from bnlab.checks._failure import last_failure
from bnlab.loader import load_graded, origin

GOOD_BN = inspect.getsource(reference.batchnorm_forward)
GOOD_LAYER = inspect.getsource(reference.linear_bn_activation_forward)
STUB_LAYER = (
    "def linear_bn_activation_forward(A_prev, W, gamma, beta, activation):\n"
    "    # YOUR CODE HERE\n"
    "    raise NotImplementedError()\n"
)
NO_EPS_BN = GOOD_BN.replace("var + eps", "var")
RAISING_BN = GOOD_BN.replace('"""\n', '"""\n    raise ValueError("my own bug")\n', 1)
SAVE = "save 01_forward_bn.ipynb (Ctrl+S)"


def write_01(folder, batchnorm_forward, linear_bn_activation_forward):
    notebook = nbformat.v4.new_notebook()
    for grade_id, source in (
        ("batchnorm_forward", batchnorm_forward),
        ("linear_bn_activation_forward", linear_bn_activation_forward),
    ):
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["nbgrader"] = {"grade_id": grade_id, "solution": True}
        notebook.cells.append(cell)
    nbformat.write(notebook, str(folder / "01_forward_bn.ipynb"))


def session_of_04(folder):
    """Notebook 04's namespace: the reference model_forward, calling the
    linear_bn_activation_forward loaded from the saved notebook 01 in `folder`."""
    session = {"__name__": "__main__", "np": np}
    session.update({k: v for k, v in vars(activations).items() if not k.startswith("_")})
    exec(inspect.getsource(reference.model_forward), session)
    session["linear_bn_activation_forward"] = load_graded(
        "linear_bn_activation_forward", folder=folder, session=session
    )
    return session


def failure_of_04(tmp_path, batchnorm_forward, linear_bn_activation_forward):
    write_01(tmp_path, batchnorm_forward, linear_bn_activation_forward)
    session = session_of_04(tmp_path)
    with pytest.raises(CheckFailed) as failed:
        check_model_forward(session["model_forward"])
    return failed.value


def test_an_unsolved_function_of_01_is_named_with_its_notebook(tmp_path):
    failure = failure_of_04(tmp_path, GOOD_BN, STUB_LAYER)
    message = str(failure)
    assert failure.name == "model_forward"
    assert "linear_bn_activation_forward" in message and "01_forward_bn.ipynb" in message
    assert "not implemented in the saved 01_forward_bn.ipynb" in message
    assert SAVE in message


def test_a_wrong_function_of_01_is_named_with_its_notebook(tmp_path):
    failure = failure_of_04(tmp_path, NO_EPS_BN, GOOD_LAYER)
    message = str(failure)
    assert message.startswith("model_forward: Wrong values in AL"), message
    assert "your batchnorm_forward, loaded from 01_forward_bn.ipynb" in message
    assert "fails its own check there" in message and SAVE in message
    # show_case() still shows model_forward's case, not the earlier check's
    assert last_failure() is failure


def test_an_error_raised_in_a_function_of_01_is_named_with_its_notebook(tmp_path):
    failure = failure_of_04(tmp_path, RAISING_BN, GOOD_LAYER)
    message = str(failure)
    assert "raised ValueError: my own bug" in message
    assert "raised in your batchnorm_forward, loaded from 01_forward_bn.ipynb" in message
    assert SAVE in message


def test_an_error_in_this_notebook_caused_by_a_function_of_01_names_it(tmp_path):
    """01's function returns nothing: model_forward fails unpacking it, in its own code."""
    returns_none = GOOD_LAYER.replace("return A, cache", "return None")
    assert returns_none != GOOD_LAYER
    failure = failure_of_04(tmp_path, GOOD_BN, returns_none)
    message = str(failure)
    assert "model_forward raised TypeError" in message
    assert "your linear_bn_activation_forward, loaded from 01_forward_bn.ipynb" in message
    assert SAVE in message


def test_an_input_changed_in_place_by_a_function_of_01_names_it(tmp_path):
    """01's batchnorm_forward scales gamma in place: model_forward's check finds its
    parameters changed, a failure the check raises itself, and names 01's function."""
    in_place = GOOD_BN.replace("    Z_tilde = gamma", "    gamma *= 1.5\n    Z_tilde = gamma")
    assert in_place != GOOD_BN
    failure = failure_of_04(tmp_path, in_place, GOOD_LAYER)
    message = str(failure)
    assert message.startswith("model_forward changed one of its inputs in place"), message
    assert "your batchnorm_forward, loaded from 01_forward_bn.ipynb" in message
    assert "fails its own check there (batchnorm_forward changed one of its inputs" in message
    assert SAVE in message
    assert last_failure() is failure


def test_a_wrong_type_from_a_function_loaded_from_01_names_01(tmp_path):
    """A check run in 04 on the linear_bn_activation_forward loaded from 01, which returns
    a list of three: the check's own format error says where that function comes from."""
    three = GOOD_LAYER.replace("return A, cache", "return [A, cache, None]")
    assert three != GOOD_LAYER
    write_01(tmp_path, GOOD_BN, three)
    session = session_of_04(tmp_path)
    with pytest.raises(CheckFailed) as failed:
        check_linear_bn_activation_forward(session["linear_bn_activation_forward"])
    message = str(failed.value)
    assert message.startswith("linear_bn_activation_forward should return a tuple (A, cache)")
    assert "This linear_bn_activation_forward is yours, loaded from 01_forward_bn.ipynb" in message
    assert SAVE in message
    # the same function defined in this session: nothing about 01
    session = {"np": np, **{k: v for k, v in vars(activations).items() if k[0] != "_"}}
    exec(inspect.getsource(reference.batchnorm_forward) + three, session)
    with pytest.raises(CheckFailed) as failed:
        check_linear_bn_activation_forward(session["linear_bn_activation_forward"])
    assert "01_forward_bn" not in str(failed.value)


def test_correct_earlier_functions_add_nothing(tmp_path, capsys):
    write_01(tmp_path, GOOD_BN, GOOD_LAYER)
    check_model_forward(session_of_04(tmp_path)["model_forward"])
    assert "all 4 checks passed" in capsys.readouterr().out


def test_a_wrong_function_of_this_notebook_does_not_blame_01(tmp_path):
    write_01(tmp_path, GOOD_BN, GOOD_LAYER)
    session = session_of_04(tmp_path)
    source = inspect.getsource(reference.model_forward).replace("softmax(", "np.tanh(")
    assert source != inspect.getsource(reference.model_forward)
    exec(source, session)
    with pytest.raises(CheckFailed) as failed:
        check_model_forward(session["model_forward"])
    assert "01_forward_bn" not in str(failed.value)


def test_origin_names_the_notebook_of_a_loaded_function(tmp_path):
    write_01(tmp_path, GOOD_BN, GOOD_LAYER)
    loaded = load_graded("batchnorm_forward", folder=tmp_path, session={})
    assert origin(loaded) == ("01_forward_bn.ipynb", "batchnorm_forward")
    assert origin(reference.batchnorm_forward) is None
