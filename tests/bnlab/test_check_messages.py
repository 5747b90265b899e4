"""What a failed visible check shows a student: the message first, in plain words.

In Jupyter, IPython shows an exception that has ``_render_traceback_`` by the
lines it returns, without a traceback. These tests read those lines: the named
mistake, the stub, an unnamed failure and an exception from the student's own
code (whose frames stay, while the frames of bnlab.checks go). Then
``show_case()``, which prints the case of the last failure. One test runs a
real IPython shell (in a subprocess) to see that IPython uses the rendering.
"""

import json
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from autograder.content import reference
from autograder.content.mistakes import mistakes_of
from bnlab.checks import (
    CheckFailed,
    _core,
    _failure,
    check_batchnorm_forward,
    check_linear_bn_activation_forward,
    check_model_backward,
    show_case,
)

ANSI = re.compile(r"\x1b\[[0-9;]*m")
SHOW_CASE_CALL = "from bnlab.checks import show_case; show_case()"


@pytest.fixture(autouse=True)
def no_earlier_failure(monkeypatch):
    """Each test starts with no failure kept (show_case reads the last one)."""
    monkeypatch.setattr(_failure, "_last", {"failure": None})


def rendered(check, function):
    """The failure of check(function), and the lines IPython would show for it (no colours)."""
    with pytest.raises(CheckFailed) as caught:
        check(function)
    lines = [ANSI.sub("", line) for line in caught.value._render_traceback_()]
    assert all(isinstance(line, str) for line in lines)
    return caught.value, lines


def no_check_frames(text):
    return "_core.py" not in text and "_failure.py" not in text and "bnlab/checks" not in text


# ------------------------------------------------------------------ the functions


def unbiased_variance(Z, gamma, beta, eps=1e-5):
    Z_tilde, cache = reference.batchnorm_forward(Z, gamma, beta, eps)
    return Z_tilde * np.sqrt((Z.shape[1] - 1) / Z.shape[1]), cache


def one_entry_off(Z, gamma, beta, eps=1e-5):
    Z_tilde, cache = reference.batchnorm_forward(Z, gamma, beta, eps)
    Z_tilde = Z_tilde.copy()
    Z_tilde[1, 2] += 0.5
    return Z_tilde, cache


def broadcast_by_mistake(Z, gamma, beta, eps=1e-5):
    mu = np.mean(Z, axis=1, keepdims=True)
    Z_norm = (Z - mu.T) / np.sqrt(eps)  # the student's own bug: (n, m) - (1, n)
    return gamma * Z_norm + beta, None


def stub(Z, gamma, beta, eps=1e-5):
    raise NotImplementedError()


# ------------------------------------------------------------------ the rendering


def test_a_named_mistake_shows_its_message_and_no_traceback():
    mistake = next(m for m in mistakes_of("batchnorm_forward") if m.id == "unbiased_variance")
    failure, lines = rendered(check_batchnorm_forward, mistake.build())
    text = "\n".join(lines)
    assert lines[0] == "Check failed: batchnorm_forward"
    assert lines[1].startswith("Wrong values in Z_tilde")
    assert mistake.hint in text
    assert "Traceback" not in text and no_check_frames(text), text
    assert len(lines) <= 6, text
    # what nbgrader and pytest see: an AssertionError whose message names the function
    assert isinstance(failure, AssertionError) and type(failure).__name__ == "CheckFailed"
    assert str(failure).startswith("batchnorm_forward: Wrong values in Z_tilde")


def test_a_stub_says_not_implemented_plainly():
    failure, lines = rendered(check_batchnorm_forward, stub)
    text = "\n".join(lines)
    assert "not implemented yet: replace `raise NotImplementedError()`" in text
    assert "not implemented" in str(failure)  # what the release probe reads (evalue)
    assert "Traceback" not in text and no_check_frames(text), text
    assert len(lines) == 2, text


def test_a_stub_called_by_the_checked_function_is_named():
    def linear_bn_activation_forward(A_prev, W, gamma, beta, activation):
        return batchnorm_forward(W @ A_prev, gamma, beta)

    def batchnorm_forward(Z, gamma, beta, eps=1e-5):
        raise NotImplementedError()

    failure, _ = rendered(check_linear_bn_activation_forward, linear_bn_activation_forward)
    assert str(failure).startswith(
        "batchnorm_forward (called by linear_bn_activation_forward) is not implemented yet"
    )


def test_an_unnamed_failure_offers_show_case():
    failure, lines = rendered(check_batchnorm_forward, one_entry_off)
    text = "\n".join(lines)
    assert lines[1] == "Wrong values in Z_tilde (largest difference 0.5)."
    assert "Likely mistake" not in text
    assert f"Run `{SHOW_CASE_CALL}`" in text and SHOW_CASE_CALL in str(failure)
    assert "Traceback" not in text and no_check_frames(text), text


def test_an_error_in_the_students_code_keeps_their_frames_only():
    failure, lines = rendered(check_batchnorm_forward, broadcast_by_mistake)
    text = "\n".join(lines)
    assert lines[1].startswith("batchnorm_forward raised ValueError: operands could not be")
    # the student's frame, with the line that failed
    assert "in broadcast_by_mistake" in text
    assert "Z_norm = (Z - mu.T) / np.sqrt(eps)" in text
    assert no_check_frames(text), text
    # the plain message comes before the traceback
    assert text.index("raised ValueError") < text.index("in broadcast_by_mistake")
    assert failure.error is not None and isinstance(failure.__cause__, ValueError)


def test_an_output_that_cannot_be_compared_fails_plainly():
    def strings(Z, gamma, beta, eps=1e-5):
        return np.full(Z.shape, "x"), reference.batchnorm_forward(Z, gamma, beta, eps)[1]

    failure, lines = rendered(check_batchnorm_forward, strings)
    assert "cannot be compared" in str(failure)
    assert no_check_frames("\n".join(lines))


IPYTHON_CELLS = '''
import json
from IPython.core.interactiveshell import InteractiveShell

shell = InteractiveShell.instance()
shell.run_cell("""
import numpy as np
from bnlab.checks import check_batchnorm_forward

def batchnorm_forward(Z, gamma, beta, eps=1e-5):
    mu = np.mean(Z, axis=1, keepdims=True)
    return Z - mu.T, None
""")
shown = []
shell._showtraceback = lambda etype, evalue, stb: shown.append(
    {"ename": etype.__name__, "evalue": str(evalue), "traceback": stb}
)
shell.run_cell("check_batchnorm_forward(batchnorm_forward)")
shell.run_cell("check_batchnorm_forward(lambda Z, gamma, beta, eps=1e-5: (Z, None))")
print(json.dumps(shown))
'''


def test_ipython_shows_the_rendering():
    """A real IPython shell calls _render_traceback_; the student's cell stays in the
    traceback (as "Cell In[...]"), the checks' frames do not."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(IPYTHON_CELLS)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    raised, wrong = json.loads(result.stdout.strip().splitlines()[-1])
    text = ANSI.sub("", "\n".join(raised["traceback"]))
    assert raised["ename"] == "CheckFailed"
    assert raised["evalue"].startswith("batchnorm_forward raised ValueError")
    assert text.startswith("Check failed: batchnorm_forward\nbatchnorm_forward raised ValueError")
    assert "return Z - mu.T, None" in text and no_check_frames(text), text
    text = ANSI.sub("", "\n".join(wrong["traceback"]))
    assert text.startswith("Check failed: batchnorm_forward\nWrong values in Z_tilde")
    assert "Traceback" not in text and no_check_frames(text), text


# ------------------------------------------------------------------- show_case


def test_show_case_prints_the_inputs_expected_and_yours(capsys):
    rendered(check_batchnorm_forward, one_entry_off)
    show_case()
    out = capsys.readouterr().out
    case = _core.load_cases("batchnorm_forward")[0]
    assert out.startswith(f"batchnorm_forward, on the case: {case['label']}")
    for text in ("Inputs:", "Z, shape (4, 6):", "gamma, shape (4, 1):", "eps = 1e-05"):
        assert text in out, out
    expected, yours = out.index("Expected:"), out.index("Yours:")
    assert out.index("Inputs:") < expected < yours
    assert "Z_tilde, shape (4, 6):" in out[expected:yours]
    with np.printoptions(precision=4):
        Z_row = np.array2string(case["args"][0][0])
    assert Z_row.strip("[]") in out, out
    right, wrong = case["expected"][0][1, 2], case["expected"][0][1, 2] + 0.5
    assert f"First difference: Z_tilde[1, 2] is {wrong:.6g} in yours; expected {right:.6g}." in out
    assert capsys.readouterr().err == ""


def test_show_case_says_so_when_nothing_failed(capsys):
    show_case()
    assert capsys.readouterr().out.startswith("No failing case to show")
    rendered(check_batchnorm_forward, one_entry_off)
    check_batchnorm_forward(reference.batchnorm_forward)  # fixed: its failure is forgotten
    capsys.readouterr()
    show_case()
    assert capsys.readouterr().out.startswith("No failing case to show")


def test_show_case_after_an_error_and_after_a_stub(capsys):
    rendered(check_batchnorm_forward, broadcast_by_mistake)
    show_case()
    out = capsys.readouterr().out
    assert "Z, shape (4, 6):" in out and "Yours raised ValueError: operands" in out
    rendered(check_batchnorm_forward, stub)
    show_case()
    out = capsys.readouterr().out
    assert "stopped before running a case" in out and "not implemented" in out


def test_show_case_keeps_many_and_large_arrays_short(capsys, tmp_path, monkeypatch):
    def dW1_off(AL, Y, caches):
        grads = dict(reference.model_backward(AL, Y, caches))
        grads["dW1"] = grads["dW1"] + 1.0
        return grads

    rendered(check_model_backward, dW1_off)
    show_case()
    out = capsys.readouterr().out
    assert "AL, shape (3, 6):" in out  # an input array: its values
    assert "caches = [((array(4,6), array(5,4)), (array(5,6)," in out  # many: their shapes
    assert "show_case(full=True)" in out and "First difference: grads['dW1'][0, 0]" in out
    show_case(full=True)
    assert "caches[0][0][1], shape (5, 4):" in capsys.readouterr().out

    monkeypatch.setattr(_core, "FIXTURE_DIR", tmp_path)
    Z = np.random.default_rng(0).standard_normal((64, 256))
    expected = reference.batchnorm_forward(Z, np.ones((64, 1)), np.zeros((64, 1)))
    case = {"label": "a large one", "args": (Z, np.ones((64, 1)), np.zeros((64, 1)))}
    _core.save_cases(tmp_path / "large.npz", [{**case, "expected": expected}])
    with pytest.raises(CheckFailed):
        _core.run_check("large", one_entry_off, report=lambda _: None)
    show_case()
    out = capsys.readouterr().out
    assert "..." in out and len(out.splitlines()) < 50, out
