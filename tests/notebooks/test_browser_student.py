"""A student's session in JupyterLab, in a real (headless) Chromium.

The student has the release folder and a venv with the student wheel (the release's
student venv, as in test_student_validate.py); JupyterLab runs from that venv, started in
the folder that holds a copy of the release folder (one folder up, where the release's
nbgrader_config.json is out of reach), with an empty home. In notebook 01 the test writes the reference
`batchnorm_forward` (and `linear_bn_activation_forward`, so that the whole notebook can
pass) into the solution cells through the editor, runs all cells and sees the check pass
and a plot drawn; Validate passes. Then it writes a classic mistake in, runs all cells,
sees the check name the mistake, and Validate fails -- the checks' verdict, though
Validate found no configuration. In notebook 03 it tries to type an answer into the
written question's cell, which the release made read-only: the question stays as
released. The code comes from the reference
and the mistakes' definitions (autograder.content.reference, autograder.content.mistakes); what is
asserted is what the page shows. Screenshots go to artifacts/browser/ (browser_support).
"""

import inspect
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path

import pytest
from browser_support import browser_page, chromium_executable, jupyter_server, screenshot

from autograder.content import reference
from autograder.content.mistakes import all_mistakes
from bnlab.course import ASSIGNMENT

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NOTEBOOK = "01_forward_bn.ipynb"
WRITTEN = "03_removing_b.ipynb"  # its written question, why_no_b
QUESTION_ID = "why_no_b_question"
TYPED = "My answer, typed into the question"
FUNCTIONS = ("batchnorm_forward", "linear_bn_activation_forward")
MISTAKE = ("batchnorm_forward", "wrong_axis")
VALIDATE_PASSED = "Success! Your notebook passes all the tests."
TIMEOUT = 120_000  # ms: a cold kernel, or Validate running the notebook, on a busy machine


@pytest.fixture(scope="session")
def chromium():
    """Chromium's path; asked for before the course so that a skip costs no release."""
    return chromium_executable()


def solution_source(function, code):
    """A solution cell's text: its header line, then the function."""
    return f"# GRADED FUNCTION: {function}\n{code.rstrip()}\n"


def student_environment(venv, home):
    """The environment of a student's JupyterLab: the student venv first on PATH, an empty
    home and Jupyter config, nothing of the instructor's (no PYTHONPATH, no MPLBACKEND).

    The student venv borrows its packages (JupyterLab, nbgrader, ipykernel, ...) from this
    environment (autograder.grading.student_venv.make_student_venv); the data files that `pip install
    jupyterlab nbgrader ipykernel` would put into a student's venv beside them (JupyterLab's
    assets, nbgrader's lab extension and the switch of its server extensions, the terminal
    extension) are read from where this environment has them. The kernel is the one
    ipykernel installs, on the student venv's Python, with no environment of its own (the
    release's probe kernel sets MPLBACKEND=Agg, which draws no plot in a notebook).
    """
    kernels = home / "kernels" / "share" / "jupyter" / "kernels" / "python3"
    kernels.mkdir(parents=True)
    spec = {
        "argv": [
            str(venv / "bin" / "python"),
            "-m",
            "ipykernel_launcher",
            "-f",
            "{connection_file}",
        ],
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    (kernels / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    here = Path(sys.prefix)
    outside = (
        "PYTHONPATH",
        "PYTHONHOME",
        "VIRTUAL_ENV",
        "MPLBACKEND",
        "NBGRADER_EXECUTION",
        "PYTHONWARNINGS",
    )
    env = {key: value for key, value in os.environ.items() if key not in outside}
    env = {key: value for key, value in env.items() if not key.startswith("JUPYTER")}
    env.update(
        HOME=str(home),
        JUPYTER_CONFIG_DIR=str(home / ".jupyter"),
        JUPYTER_PATH=os.pathsep.join(
            [str(kernels.parent.parent), str(venv / "share" / "jupyter")]
            + [str(here / "share" / "jupyter")]
        ),
        JUPYTER_CONFIG_PATH=str(here / "etc" / "jupyter"),
        JUPYTERLAB_DIR=str(here / "share" / "jupyter" / "lab"),
        PATH=os.pathsep.join([str(venv / "bin"), os.environ.get("PATH", "")]),
    )
    return env


@pytest.fixture
def student_folder(released_course, tmp_path):
    """A copy of the release folder alone, in an otherwise empty home."""
    folder = tmp_path / "home" / ASSIGNMENT
    shutil.copytree(released_course / "release" / ASSIGNMENT, folder)
    return folder


def cell(page, text):
    """The code cell whose text holds `text` (exactly one)."""
    found = page.locator(".jp-Notebook .jp-CodeCell").filter(has_text=text)
    found.first.wait_for()
    assert found.count() == 1, f"{found.count()} cells hold {text!r}"
    return found


def saved_source(path, header):
    """The source, in the notebook file at `path`, of the cell that starts with `header`."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    sources = ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"]
    (source,) = [s for s in sources if s.startswith(header)]
    return source


def question_source(path):
    """The source of the written question's cell in the notebook file at `path`."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    (source,) = [
        "".join(c["source"])
        for c in notebook["cells"]
        if c["metadata"].get("nbgrader", {}).get("grade_id") == QUESTION_ID
    ]
    return source


def save(page):
    page.keyboard.press("Control+s")
    page.wait_for_function(
        "() => !document.querySelector('.lm-TabBar-tab.jp-mod-current.jp-mod-dirty')"
    )


def write_cell(page, path, function, code):
    """Replace the text of `function`'s solution cell with `code` through its editor, save,
    and check the saved notebook holds exactly that."""
    text = solution_source(function, code)
    header = f"# GRADED FUNCTION: {function}"
    editor = cell(page, header).locator(".cm-content")
    editor.click()
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(text)
    save(page)
    deadline = time.monotonic() + 30
    while saved_source(path, header) != text and time.monotonic() < deadline:
        time.sleep(0.2)  # the file is written just after the tab stops being dirty
    assert saved_source(path, header) == text, "the editor did not take the text"
    page.keyboard.press("Escape")  # command mode


def run_all(page):
    page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-item:visible", has_text=re.compile(r"^Run All Cells")).first.click()


def validate(page, name):
    """Press nbgrader's Validate; (passed, the dialog's text), with a screenshot `name`."""
    page.locator(".jp-NotebookPanel-toolbar .validate-button").click()
    message = page.locator("#validation-message")
    message.wait_for(timeout=TIMEOUT * 2)
    dialog = page.locator(".jp-Dialog-content")
    screenshot(dialog, name)
    classes = message.get_attribute("class") or ""
    text = message.text_content()
    page.locator(".jp-Dialog-button.jp-mod-accept").click()
    message.wait_for(state="detached")
    assert ("validation-success" in classes) != ("validation-failed" in classes), (classes, text)
    return "validation-success" in classes, text


def test_a_student_writes_runs_and_validates_in_jupyterlab(
    chromium, released_course, student_folder
):
    venv = released_course / ".work" / "student-venv"
    assert (venv / "bin" / "python").exists(), "the release made no student venv"
    home = student_folder.parent
    env = student_environment(venv, home)
    mistake = next(m for m in all_mistakes() if (m.function, m.id) == MISTAKE)
    notebook = student_folder / NOTEBOOK
    argv = [venv / "bin" / "python", "-m", "jupyterlab"]

    with jupyter_server(argv, cwd=home, env=env) as server:
        with browser_page(chromium) as page:
            page.goto(server.link(f"lab/tree/{ASSIGNMENT}/{NOTEBOOK}"))
            # The notebook is open, with its kernel (the student venv's) idle.
            page.locator(".jp-Notebook .jp-CodeCell").first.wait_for(timeout=TIMEOUT)
            page.locator(
                ".jp-NotebookPanel-toolbar .jp-Notebook-ExecutionIndicator[data-status='idle']"
            ).wait_for(timeout=TIMEOUT)
            cell(page, "# GRADED FUNCTION: batchnorm_forward")
            screenshot(page, "student-01-notebook")

            # The correct functions: the check passes and the plots are drawn.
            for function in FUNCTIONS:
                write_cell(
                    page, notebook, function, inspect.getsource(getattr(reference, function))
                )
            run_all(page)
            check = cell(page, "check_batchnorm_forward(batchnorm_forward)")
            passed = check.locator(".jp-OutputArea-output").filter(
                has_text=re.compile(r"batchnorm_forward: all \d+ checks passed\.")
            )
            passed.wait_for(timeout=TIMEOUT)
            check.scroll_into_view_if_needed()
            screenshot(check, "student-02-check-passes")
            cell(page, "check_linear_bn_activation_forward(linear_bn_activation_forward)").locator(
                ".jp-OutputArea-output", has_text="checks passed."
            ).wait_for(timeout=TIMEOUT)
            # A plot drawn from the student's Z_tilde (the cells before it ran without error).
            histograms = page.locator(".jp-Notebook .jp-CodeCell").filter(
                has_text="plots.histograms_before_after("
            )
            plot = histograms.first.locator(".jp-OutputArea-output img").first
            plot.wait_for(timeout=TIMEOUT)
            plot.scroll_into_view_if_needed()
            assert plot.evaluate("img => img.naturalWidth") > 100, "the plot is not drawn"
            screenshot(plot, "student-03-plot")
            assert not page.locator(".jp-OutputArea-output[data-mime-type*='error']").count()

            ok, text = validate(page, "student-04-validate-passes")
            assert ok and VALIDATE_PASSED in text, text

            # A classic mistake: the check names it, Validate fails.
            write_cell(page, notebook, mistake.function, mistake.source())
            run_all(page)
            check = cell(page, "check_batchnorm_forward(batchnorm_forward)")
            named = check.locator(".jp-OutputArea-output", has_text="Likely mistake:")
            named.wait_for(timeout=TIMEOUT)
            check.scroll_into_view_if_needed()
            output = " ".join(named.text_content().split())
            assert " ".join(mistake.hint.split()) in output, output
            assert "checks passed" not in check.text_content()
            screenshot(check, "student-05-mistake-named")

            ok, text = validate(page, "student-06-validate-fails")
            assert not ok, text
            assert "batchnorm_forward" in text, text
            assert " ".join(mistake.hint.split()) in " ".join(text.split()), text

            # The written question of 03 cannot be edited: what is typed into it goes nowhere.
            written = student_folder / WRITTEN
            released = question_source(written)
            page.goto(server.link(f"lab/tree/{ASSIGNMENT}/{WRITTEN}"))
            question = page.locator(".jp-Notebook .jp-MarkdownCell").filter(
                has_text="graded by hand)."
            )
            question.first.wait_for(timeout=TIMEOUT)
            assert question.count() == 1, question.count()
            question.scroll_into_view_if_needed()
            question.dblclick()
            page.keyboard.press("Enter")
            page.keyboard.insert_text(TYPED)
            page.keyboard.press("Shift+Enter")
            save(page)
            time.sleep(1)  # a write, had there been one, lands just after the tab is clean
            question.scroll_into_view_if_needed()
            screenshot(question, "student-07-question-read-only")
            assert TYPED not in question.text_content()
            assert question_source(written) == released
