"""Small parts of the grading, without running a notebook: review flags, file-name rules
of collect, which experiment cells grading may skip, hidden traceback frames, a worker's
preparation, and each hidden test's outcome (decided once: the report, the cell's
outputs and the score read it)."""

from types import SimpleNamespace

import nbformat
import pytest

from autograder.grading import code_review, nbgrader_steps, outcomes
from autograder.grading.experiments import names_of
from autograder.grading.tracebacks import HIDDEN_FRAME, hide_grader_frames
from autograder.pipeline import collect

# ------------------------------------------------------------------ review flags

FLAGGED = [
    "from autograder.content.reference import batchnorm_forward",
    "from autograder import reference as r",
    "import autograder.content.hidden_tests",
    "from autograder import mistakes",
    "import autograder",
    'from importlib import import_module\nimport_module("autograder.content.fixtures")',
    'import importlib.util as u\ns = u.spec_from_file_location("r", "/x/autograder/reference.py")',
    "import autograder.pipeline.grade",
    "np.allclose = lambda *a, **k: True",
    "import numpy as xx\nxx.testing.assert_allclose = print",
    'setattr(np, "allclose", print)',
    "__builtins__.len = print",
    "import builtins\nbuiltins.print = len",
    'import importlib\nm = importlib.import_module("autograder.content.reference")',
    '__import__("auto" + "grader.reference")',
    'import sys\nsys.modules["autograder.content.hidden_tests"] = None',
    "import inspect\ng = inspect.stack()[1].frame.f_globals",
    "from numpy import random\nrandom.seed = print",
    "import bnlab.checks\nbnlab.checks.check_batchnorm_forward = print",
    "%time x = 1\nnp.sum = len",
    "%%capture\nnp.allclose = print",
]
CLEAN = [
    "def batchnorm_forward(Z, gamma, beta, eps=1e-5):\n    mu = np.mean(Z, axis=1, keepdims=True)\n"
    "    return Z - mu, None",
    "import numpy as np\nx = np.zeros(3)\nx[0] = 1",
    "parameters = {}\nparameters['W1'] = np.ones((2, 2))",
    "from bnlab.checks import check_batchnorm_forward",
    "import matplotlib.pyplot as plt\nplt.rcParams['figure.figsize'] = (6, 4)",
    "class Layer:\n    def __init__(self):\n        self.gamma = 1",
]


@pytest.mark.parametrize("source", FLAGGED)
def test_code_that_can_fake_a_pass_is_flagged(source):
    assert code_review.scan_source(source), source


@pytest.mark.parametrize("source", CLEAN)
def test_ordinary_code_is_not_flagged(source):
    assert code_review.scan_source(source) == []


def test_a_cell_left_as_released_is_not_scanned():
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("from autograder import hidden_tests")
    cell.metadata["nbgrader"] = {"grade_id": "test_x"}
    notebook.cells = [cell]
    assert code_review.scan_notebook(notebook, "01", {"test_x": cell.source}) == []
    flags = code_review.scan_notebook(notebook, "01", {"test_x": "# hidden tests"})
    assert [(f.cell, f.line) for f in flags] == [("test_x", 1)]


def test_unparseable_code_is_searched_as_text():
    assert code_review.scan_source("def f(:\n    from autograder import reference")


# ------------------------------------------------------------------ collect's file names


@pytest.mark.parametrize(
    "path, expected",
    [
        ("ada/batchnorm/01_forward_bn.ipynb", ("ada", "01_forward_bn", None)),
        ("ada/02_backward_bn.ipynb", ("ada", "02_backward_bn", None)),
        ("ada_lovelace_03_removing_b.ipynb", ("ada_lovelace", "03_removing_b", None)),
        (
            "batchnorm_ada_attempt_2024-03-01-10-00-00_04_deep_network.ipynb",
            ("ada", "04_deep_network", "2024-03-01-10-00-00"),
        ),
        ("ada/batchnorm/.ipynb_checkpoints/01_forward_bn-checkpoint.ipynb", None),
        ("ada/notes.txt", None),
        ("ada/scratch.ipynb", None),
        ("01_forward_bn.ipynb", None),
    ],
)
def test_collect_recognises_students_and_notebooks(path, expected):
    assert collect.classify(path) == expected


def test_collect_takes_a_custom_pattern():
    pattern = r"(?P<student_id>[a-z]+)-(?P<file_id>.+)\.ipynb"
    assert collect.classify("ada-05_optimizers.ipynb", pattern) == ("ada", "05_optimizers", None)


def test_collect_keeps_the_newest_attempt(tmp_path):
    (tmp_path / "in").mkdir()
    for stamp, text in (("2024-01-01-00-00-00", "old"), ("2024-02-01-00-00-00", "new")):
        name = f"batchnorm_ada_attempt_{stamp}_01_forward_bn.ipynb"
        (tmp_path / "in" / name).write_text(text)
    found, _, skipped = collect.gather(tmp_path / "in", tmp_path / "scratch")
    assert [row["path"] for row in skipped] == [
        "batchnorm_ada_attempt_2024-01-01-00-00-00_01_forward_bn.ipynb"
    ]
    assert skipped[0]["reason"].startswith("an older attempt")
    assert found["ada"]["01_forward_bn"].path.read_text() == "new"


# ------------------------------------------------------------------ skipped experiments


def test_names_read_and_bound_by_a_cell():
    loads, binds = names_of("def f(Z):\n    return np.mean(Z) + EPS\nx = f(X_train)")
    assert {"np", "EPS", "X_train"} <= loads and "Z" not in loads
    assert binds == {"f", "x"}
    assert names_of("from os import *") is None
    assert names_of("def broken(:") is None


def _code(source, grade_id=None):
    cell = nbformat.v4.new_code_cell(source)
    if grade_id:
        cell.metadata["nbgrader"] = {"grade_id": grade_id, "solution": True}
    return cell


@pytest.fixture
def release():
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        _code("import numpy as np", "imports"),
        _code("X = np.ones((2, 3))"),  # an experiment the student's code reads
        _code("history = train(X)"),  # an experiment nothing reads
        _code("def f(Z):\n    raise NotImplementedError()", "f"),
    ]
    return notebook


def _skip(release, cells):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = cells
    to_run, skipped = nbgrader_steps.to_run(notebook, release)
    assert [index for index, _ in to_run] == [i for i in range(len(cells)) if i not in skipped]
    return notebook, skipped


def test_only_experiments_nothing_reads_are_skipped(release):
    cells = [
        _code("import numpy as np", "imports"),
        _code("X = np.ones((2, 3))"),
        _code("history = train(X)"),
        _code("def f(Z):\n    return Z * X.sum()", "f"),
    ]
    notebook, skipped = _skip(release, cells)
    assert skipped == {2}
    nbgrader_steps.attach(notebook, {}, skipped)
    assert "Not run by the autograder" in notebook.cells[2].outputs[0]["text"]
    nbformat.validate(notebook)


def test_an_experiment_the_student_changed_or_reads_runs(release):
    cells = [
        _code("import numpy as np", "imports"),
        _code("X = np.ones((2, 3))"),
        _code("history = train(X)  # changed"),
        _code("def f(Z):\n    return Z", "f"),
        _code("print(history)"),
    ]
    assert _skip(release, cells)[1] == set()


# ------------------------------------------------------------------ hidden frames


def test_grader_frames_are_cut_from_tracebacks():
    traceback = [
        "\x1b[0;31mAssertionError\x1b[0m   Traceback (most recent call last)",
        "Cell \x1b[0;32mIn[5], line 4\x1b[0m\n----> 4 hidden_tests.test_f(f)",
        "File \x1b[0;32m/x/autograder/hidden_tests/forward_bn.py:27\x1b[0m, in test_f\n  secret line",
        "File \x1b[0;32m/x/autograder/reference.py:40\x1b[0m, in g\n  solution line",
        "Cell \x1b[0;32mIn[3], line 2\x1b[0m, in f(Z)\n  student line",
        "\x1b[0;31mAssertionError\x1b[0m: Wrong values in Z_tilde.",
    ]
    kept = hide_grader_frames(traceback)
    text = "\n".join(kept)
    assert "secret line" not in text and "solution line" not in text
    assert kept.count(HIDDEN_FRAME) == 1
    assert "student line" in text and "Wrong values in Z_tilde." in text


def test_flags_keep_their_line_after_magics():
    source = "\n%matplotlib inline\n!pip install \\\n  foo\nx = !ls\nnp.allclose = print"
    assert code_review.scan_source(source) == [(6, "assigns to an attribute of np")]


# ------------------------------------------------------------------ cluster workers


def test_a_cluster_worker_with_other_grading_code_refuses_to_grade():
    from autograder.grading import submission
    from autograder.sandbox import Limits

    assert len(submission.verdicts_fingerprint()) == 64
    context = submission.Context(
        assignment={},
        releases={},
        timeout=15,
        limits=Limits(),
        sandboxed=True,
        run_all_cells=False,
        fingerprint="0" * 64,  # not this installation's reference and hidden tests
        wheel=("bnlab-0.1.0-py3-none-any.whl", b""),
    )
    with pytest.raises(RuntimeError, match="differs from the grader's"):
        submission.worker_server(context)


@pytest.mark.parametrize("terms", [500, 5_000, pytest.param(200_000, marks=pytest.mark.slow)])
def test_code_nested_past_the_parser_is_flagged_for_a_person_not_a_crash(terms):
    """A sum of thousands of terms, or a chain of unary minus, is nested deeper than
    Python's parser (or the scan's recursion) goes: reading it must not raise in the
    grader. The review asks a person to read it; the experiment analysis either reads
    its names or says it cannot (and the cell runs)."""
    for source in (f"x = {'a+' * terms}a", f"x = {'-' * terms}1"):
        assert code_review.scan_source(source) == [(1, code_review.DEEP)]
        names = names_of(source)
        assert names is None or "x" in names[1]


def test_a_worker_process_is_prepared_once_whatever_its_threads(monkeypatch):
    """A Dask worker runs tasks in several threads: the first prepares the process (its
    venv, cases), the others wait for that one and use it."""
    import threading
    import time

    from autograder.grading import submission

    made = []

    def prepare_remote(context):
        made.append(context.fingerprint)
        time.sleep(0.3)  # a venv takes a while: long enough for the others to ask
        return object()

    monkeypatch.setattr(submission, "_prepare_remote", prepare_remote)
    monkeypatch.setattr(submission, "_WORKER", {})
    context = SimpleNamespace(fingerprint="f" * 64, python=None)
    got = []
    threads = [
        threading.Thread(target=lambda: got.append(submission._local(context))) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert made == ["f" * 64]
    assert len(got) == 4 and all(local is got[0] for local in got)


# ------------------------------------------------------------------ outcomes, decided once


def _graded(grade_id, outputs=(), cell_type="code", points=1.0, solution=False):
    if cell_type == "code":
        cell = nbformat.v4.new_code_cell(f"harness.run({grade_id!r}, f)")
        cell.outputs = list(outputs)
    else:
        cell = nbformat.v4.new_markdown_cell("my answer")
    cell.metadata["nbgrader"] = {
        "grade": True,
        "grade_id": grade_id,
        "points": points,
        "solution": solution,
        "locked": not solution,
        "schema_version": 3,
    }
    return cell


def _error(ename, evalue=""):
    return nbformat.v4.new_output("error", ename=ename, evalue=evalue, traceback=[])


def _stream(text):
    return nbformat.v4.new_output("stream", name="stdout", text=text)


def test_a_verdict_decides_and_a_cell_error_only_where_there_is_none():
    notebook = nbformat.v4.new_notebook(
        cells=[
            _graded("test_a", [_error("ValueError", "the cell's own")]),
            _graded("test_b", [_error("KeyboardInterrupt")]),
            _graded("test_c", [_error("MemoryError")]),
            _graded("test_d", [_error("ValueError", "bad\nsecond line")]),
            _graded("test_e"),
            _graded("answer", cell_type="markdown", solution=True),
            nbformat.v4.new_code_cell("x = 1"),
        ]
    )
    decided = {"test_a": ("passed", ""), "test_b": None, "test_c": None, "test_d": None}
    assert outcomes.decide(notebook, decided) == {
        "test_a": ("passed", ""),
        "test_b": ("timeout", "stopped: the cell ran longer than the time limit"),
        "test_c": ("memory", "stopped: the code ran out of memory (MemoryError)"),
        "test_d": ("failed", "ValueError: bad"),
        "test_e": ("failed", "the test did not run to the end"),
    }
    stopped = outcomes.decide(notebook, decided, stopped=True)
    assert stopped["test_e"] == ("failed", "not run: the notebook used up its time budget")


def test_the_cells_show_their_outcome_and_nothing_else():
    notebook = nbformat.v4.new_notebook(
        cells=[
            _graded("test_a", [_stream("hello\n"), _error("ValueError", "the cell's own")]),
            _graded("test_b", [_stream("printed\n")]),
            _graded("test_c", [_stream("x\n")]),
        ]
    )
    outcomes.show(
        notebook,
        {
            "test_a": ("passed", ""),
            "test_b": ("failed", "AssertionError: Wrong values in Z_tilde."),
            "test_c": ("failed", "the test did not run to the end"),
        },
    )
    a, b, c = notebook.cells
    assert a.outputs == [_stream("hello\n")]
    assert b.outputs[0] == _stream("printed\n")
    assert (b.outputs[1].ename, b.outputs[1].evalue) == (
        "AssertionError",
        "Wrong values in Z_tilde.",
    )
    assert (c.outputs[1].ename, c.outputs[1].evalue) == (
        "Failed",
        "the test did not run to the end",
    )
    nbformat.validate(notebook)


def test_a_hidden_test_scores_its_outcome_not_its_outputs():
    """The score reads the decided outcome: a cell whose outputs show an error but whose
    test passed gets its points, one without an error whose test failed gets 0; a
    written answer is left to nbgrader's rule (graded by hand)."""
    notebook = nbformat.v4.new_notebook(
        cells=[
            _graded("test_a", [_error("ValueError")], points=2.0),
            _graded("test_b", points=3.0),
            _graded("answer", cell_type="markdown", solution=True, points=1.0),
        ]
    )
    source = nbgrader_steps.SourceNotebook(
        name="01_forward_bn",
        kernelspec=None,
        cells=(
            nbgrader_steps.SourceCell("test_a", "code", "", "", True),
            nbgrader_steps.SourceCell("test_b", "code", "", "", True),
            nbgrader_steps.SourceCell("answer", "markdown", "", "", False),
        ),
        grades={"test_a": 2.0, "test_b": 3.0, "answer": 1.0},
        solutions=frozenset({"answer"}),
        tasks={},
    )
    decided = {"test_a": ("passed", ""), "test_b": ("failed", "AssertionError: no")}
    scored = {g["name"]: g for g in nbgrader_steps.scores(notebook, source, decided)}
    assert (scored["test_a"]["auto_score"], scored["test_a"]["needs_manual_grade"]) == (2.0, False)
    assert (scored["test_b"]["auto_score"], scored["test_b"]["needs_manual_grade"]) == (0.0, False)
    assert (scored["answer"]["auto_score"], scored["answer"]["needs_manual_grade"]) == (None, True)
