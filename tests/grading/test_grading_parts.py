"""Small parts of the autograder, without a kernel: review flags, file-name rules of
collect, which experiment cells grading may skip, and hidden traceback frames."""

import nbformat
import pytest

from autograder.grading import code_review, nbgrader_steps
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


@pytest.mark.parametrize("terms", [500, 5_000, 200_000])
def test_code_nested_past_the_parser_is_flagged_for_a_person_not_a_crash(terms):
    """A sum of thousands of terms, or a chain of unary minus, is nested deeper than
    Python's parser (or the scan's recursion) goes: reading it must not raise in the
    grader. The review asks a person to read it; the experiment analysis either reads
    its names or says it cannot (and the cell runs)."""
    for source in (f"x = {'a+' * terms}a", f"x = {'-' * terms}1"):
        assert code_review.scan_source(source) == [(1, code_review.DEEP)]
        names = names_of(source)
        assert names is None or "x" in names[1]
