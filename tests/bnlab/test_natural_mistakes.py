"""Classic mistakes in the form students write them are named by the visible checks.

The stored mistakes (autograder.content.mistakes) are single, clean edits of the
reference. Students make them with the rest of their code following along: the
activation applied to Z *and* Z kept in the activation cache; a sum without
``keepdims=True`` that stops the code with a broadcasting error. Each test here
plants one such variant into the reference (a text edit of its source, as the
catalogue does) and reads what the check says. The hints expected are the
catalogue's own or the plain words of the check (keepdims, transposed, matrix
product), never taken from the output under test.
"""

import numpy as np
import pytest

from autograder.content import reference
from autograder.content.mistakes import _built, _edited_source, mistakes_of
from bnlab import checks
from bnlab.checks import CheckFailed, _failure, show_case


@pytest.fixture(autouse=True)
def no_earlier_failure(monkeypatch):
    monkeypatch.setattr(_failure, "_last", {"failure": None})


def planted(function, *edits):
    """Reference function `function` with the text `edits` ((old, new), ...) made."""
    return _built(function, _edited_source(function, edits, "planted"), "planted")


def failure_of(function, wrong):
    """The message of the visible check of `function` on `wrong` (it must fail)."""
    with pytest.raises(CheckFailed) as caught, np.errstate(all="ignore"):
        getattr(checks, f"check_{function}")(wrong)
    return str(caught.value)


def likely(message):
    """The text after "Likely mistake:", one line; None if the message names none."""
    for line in message.splitlines():
        if line.strip().startswith("Likely mistake:"):
            return line.split("Likely mistake:", 1)[1].strip()
    return None


def hint(function, mistake_id):
    return next(m.hint for m in mistakes_of(function) if m.id == mistake_id)


# ------------------------------------------- a stored mistake, with the rest following


def test_activation_of_Z_with_Z_in_the_activation_cache():
    wrong = planted(
        "linear_bn_activation_forward",
        ("A = activation_forward(Z_tilde, activation)", "A = activation_forward(Z, activation)"),
        ("(Z_tilde, activation))", "(Z, activation))"),
    )
    message = failure_of("linear_bn_activation_forward", wrong)
    assert message.splitlines()[0].startswith("linear_bn_activation_forward: Wrong values in A")
    assert likely(message) == hint("linear_bn_activation_forward", "activation_of_Z"), message
    assert "show_case" not in message  # a named mistake says what to fix instead


def test_wrong_axis_without_keepdims():
    """axis=0 and no keepdims: (m,) statistics that broadcast without an error."""
    wrong = planted(
        "batchnorm_forward",
        ("np.mean(Z, axis=1, keepdims=True)", "np.mean(Z, axis=0)"),
        ("np.mean(Z_centered * Z_centered, axis=1, keepdims=True)", "np.var(Z, axis=0)"),
    )
    assert likely(failure_of("batchnorm_forward", wrong)) == hint("batchnorm_forward", "wrong_axis")


# ------------------------------------------------------------- keepdims left out


KEEPDIMS_ERRORS = {
    "mean": (
        "batchnorm_forward",
        ("mu = np.mean(Z, axis=1, keepdims=True)", "mu = np.mean(Z, axis=1)"),
    ),
    "np.var": (
        "batchnorm_forward",
        (
            "var = np.mean(Z_centered * Z_centered, axis=1, keepdims=True)",
            "var = np.var(Z, axis=1)",
        ),
    ),
    "dbeta in the closed form": (
        "batchnorm_backward",
        ("dbeta = np.sum(dZ_tilde, axis=1, keepdims=True)", "dbeta = np.sum(dZ_tilde, axis=1)"),
    ),
    # (n,) * (n, 1) makes an (n, n) array: the error names neither (n,) nor (n, 1)
    "an intermediate sum": (
        "batchnorm_backward_staged",
        (
            "dinv_std = np.sum(dZ_norm * Z_centered, axis=1, keepdims=True)",
            "dinv_std = np.sum(dZ_norm * Z_centered, axis=1)",
        ),
    ),
}


@pytest.mark.parametrize("what", KEEPDIMS_ERRORS)
def test_a_missing_keepdims_that_stops_the_code_is_named(what):
    function, edit = KEEPDIMS_ERRORS[what]
    message = failure_of(function, planted(function, edit))
    assert message.startswith(f"{function} raised ValueError: operands could not be broadcast")
    found = likely(message)
    assert found and "keepdims=True is missing" in found and "axis=1" in found, message


KEEPDIMS_SHAPES = {
    "dbeta alone, in the staged backward": (
        "batchnorm_backward_staged",
        ("dbeta = np.sum(dZ_tilde, axis=1, keepdims=True)", "dbeta = np.sum(dZ_tilde, axis=1)"),
        "dbeta lost its second axis",
    ),
    "dbL of the output layer": (
        "model_backward",
        (
            'grads[f"db{L}"] = np.sum(dZL, axis=1, keepdims=True)',
            'grads[f"db{L}"] = np.sum(dZL, axis=1)',
        ),
        "grads['db3'] lost its second axis",
    ),
    "mu alone, in Layer Norm (axis=0)": (
        "layernorm_forward",
        ("mu = np.mean(Z, axis=0, keepdims=True)", "mu = np.mean(Z, axis=0)"),
        "lost its first axis",
    ),
}


@pytest.mark.parametrize("what", KEEPDIMS_SHAPES)
def test_a_missing_keepdims_that_changes_a_shape_is_named(what):
    function, edit, words = KEEPDIMS_SHAPES[what]
    message = failure_of(function, planted(function, edit))
    assert " has shape (" in message.splitlines()[0], message
    found = likely(message)
    assert found and words in found and "keepdims=True" in found, message


# ------------------------------------------------------- transposes, matrix products


def test_a_transposed_output_is_named():
    wrong = planted("linear_bn_activation_backward", ("dA_prev = W.T @ dZ", "dA_prev = dZ.T @ W"))
    found = likely(failure_of("linear_bn_activation_backward", wrong))
    assert found and found.startswith("dA_prev is transposed"), found


@pytest.mark.parametrize("product", ["A_prev @ W", "np.dot(A_prev, W)"])
def test_a_matrix_product_that_does_not_fit_is_named(product):
    wrong = planted("linear_bn_activation_forward", ("Z = W @ A_prev", f"Z = {product}"))
    message = failure_of("linear_bn_activation_forward", wrong)
    assert " raised ValueError" in message.splitlines()[0]
    found = likely(message)
    assert found and "matrix product whose shapes do not fit" in found, message


# ------------------------------------------------- b where Batch Norm removed it


B_IN_HIDDEN_LAYERS = {
    "model_forward": (
        'linear_bn_activation_forward(\n            A, parameters[f"W{l}"]',
        'linear_bn_activation_forward(\n            A + 0 * parameters[f"b{l}"], parameters[f"W{l}"]',
    ),
    "update_parameters_with_gd": (
        "    for key in parameters:\n",
        "    for l in range(1, len(parameters) // 3 + 2):\n"
        '        parameters[f"b{l}"] - learning_rate * grads[f"db{l}"]\n'
        "    for key in parameters:\n",
    ),
}


@pytest.mark.parametrize("function", B_IN_HIDDEN_LAYERS)
def test_b_asked_for_in_a_hidden_layer_is_named(function):
    message = failure_of(function, planted(function, B_IN_HIDDEN_LAYERS[function]))
    assert message.startswith(f"{function} raised KeyError: 'b1'"), message
    found = likely(message)
    assert found and "no 'b1'" in found and "Batch Norm has no b" in found, message


# ------------------------------------------------------- what stays as it was


def test_other_failures_name_nothing():
    """A broadcasting error between two 2-D arrays (mu.T) is no missing keepdims, and a
    single wrong entry is no classic mistake: neither gets a name."""

    def transposed_mean(Z, gamma, beta, eps=1e-5):
        mu = np.mean(Z, axis=1, keepdims=True)
        return gamma * (Z - mu.T) + beta, None

    def one_entry_off(Z, gamma, beta, eps=1e-5):
        Z_tilde, cache = reference.batchnorm_forward(Z, gamma, beta, eps)
        Z_tilde = Z_tilde.copy()
        Z_tilde[0, 0] += 1.0
        return Z_tilde, cache

    for wrong in (transposed_mean, one_entry_off):
        message = failure_of("batchnorm_forward", wrong)
        assert likely(message) is None, message


def test_a_named_variant_keeps_its_case_and_traceback(capsys):
    """The failure with its name still shows the student's frame and keeps its case."""
    wrong = planted(
        "batchnorm_forward", ("mu = np.mean(Z, axis=1, keepdims=True)", "mu = np.mean(Z, axis=1)")
    )
    with pytest.raises(CheckFailed) as caught:
        checks.check_batchnorm_forward(wrong)
    failure = caught.value
    assert isinstance(failure.__cause__, ValueError) and failure.error is not None
    text = "\n".join(failure._render_traceback_())
    assert "Likely mistake:" in text and 'File "<planted>"' in text  # the student's frame
    show_case()
    assert "Yours raised ValueError" in capsys.readouterr().out
