"""The source notebooks: they run, nbgrader accepts them, and their cells follow the contract.

- nbval re-executes every notebook (``--nbval-lax``: errors, plus the cells
  tagged ``nbval-check-output`` or marked ``# NBVAL_CHECK_OUTPUT``, whose
  output must match exactly);
- nbgrader's own validator passes on every notebook (no failing test cell and
  no stderr in one: nbgrader would score either 0);
- the solution cells and ``autograder.content.reference`` (and the check fixtures) cannot drift apart;
- metadata lint: cell kinds, grade_ids, points, hidden-test cells, imports,
  kernelspec, outputs stored only on the cells nbval compares.

The tests that run notebooks (nbval, nbgrader's validator) are marked slow; the
lint is quick.
"""

import ast
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.content.sync import is_checked
from autograder.workspace import headless_environ
from bnlab.cells import python_source
from bnlab.course import ASSIGNMENT, GRADED_FUNCTIONS, NOTEBOOKS, notebook_of

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = ROOT / "notebooks"
STEMS = list(NOTEBOOKS)

# The points of the assignment (100 in all): every hidden test and the written answers.
POINTS = {
    # 01: 12
    "batchnorm_forward": 8,
    "linear_bn_activation_forward": 4,
    # 02: 20
    "batchnorm_backward_staged": 8,
    "batchnorm_backward": 8,
    "linear_bn_activation_backward": 4,
    # 03: 8
    "initialize_parameters": 4,
    "why_no_b": 4,
    # 04: 20
    "random_mini_batches": 4,
    "model_forward": 8,
    "model_backward": 8,
    # 05: 13
    "update_parameters_with_gd": 2,
    "update_parameters_with_momentum": 3,
    "update_parameters_with_rmsprop": 3,
    "update_parameters_with_adam": 5,
    # 06: 14
    "update_running_averages": 3,
    "batchnorm_forward_inference": 2,
    "model_forward_inference": 3,
    "fold_batchnorm": 3,
    "running_or_recomputed": 3,
    # 07: 13
    "layernorm_forward": 5,
    "layernorm_backward": 5,
    "b_before_layer_norm": 3,
}
# hand-graded markdown answers: grade_id -> notebook
MANUAL = {
    "why_no_b": "03_removing_b",
    "running_or_recomputed": "06_test_time",
    "b_before_layer_norm": "07_layer_norm",
}

# What a student has of the course: the package bnlab, the files of this folder. No
# notebook cell may import anything else of the course (the hidden-test blocks, which
# import autograder.content.hidden_tests, are checked separately).
STUDENT_PACKAGE_DIR = ROOT / "bnlab"
# Generous: a runaway cell fails; real cells take a few seconds at most.
CELL_TIMEOUT = 120

HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
SOLUTION_BEGIN, SOLUTION_END = "### BEGIN SOLUTION", "### END SOLUTION"


def read(stem):
    return nbformat.read(NOTEBOOK_DIR / f"{stem}.ipynb", as_version=4)


def nbgrader_cells(notebook):
    """{grade_id: cell} of the cells with nbgrader metadata."""
    return {
        cell.metadata["nbgrader"]["grade_id"]: cell
        for cell in notebook.cells
        if "nbgrader" in cell.metadata
    }


def kernel_env():
    """The environment for kernels and nbgrader: this Python's bin/ first, headless plots."""
    return headless_environ(PYTHONWARNINGS="ignore::DeprecationWarning")


# ------------------------------------------------------------ they run (nbval)


@pytest.mark.slow
@pytest.mark.parametrize("stem", STEMS)
def test_notebook_runs_under_nbval(stem):
    """Every cell runs without error; the cells marked for it reproduce their output."""
    command = [
        sys.executable,
        "-m",
        "pytest",
        "--nbval-lax",
        f"--nbval-cell-timeout={CELL_TIMEOUT}",
        "-p",
        "no:cacheprovider",
        "-q",
        "--no-header",
        str(NOTEBOOK_DIR / f"{stem}.ipynb"),
    ]
    result = subprocess.run(
        command,
        cwd=ROOT,
        env=kernel_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"nbval failed on {stem}.ipynb:\n{result.stdout[-6000:]}"


# ------------------------------------------------------- nbgrader accepts them


@pytest.mark.parametrize("stem", STEMS)
def test_nbgrader_validation_is_what_nbval_runs(stem):
    """nbgrader's validator fails a solution notebook on a cell that raises or a cell whose
    type no longer matches its nbgrader metadata. nbval (above) runs every cell and fails
    on any error unless the cell is tagged to raise: so no cell is tagged to raise, and
    every cell keeps its type. (tests/pipeline/test_release.py runs nbgrader's validator
    itself on a solution notebook; the release checks run it on every released one.)"""
    for index, cell in enumerate(read(stem).cells):
        assert "raises-exception" not in cell.metadata.get("tags", []), (stem, index)
        recorded = cell.metadata.get("nbgrader", {}).get("cell_type", cell.cell_type)
        assert recorded == cell.cell_type, (stem, index, recorded)


# --------------------------------------------------------------- no drift


def test_solution_cells_match_the_reference():
    """Every solution cell is exactly what `python -m autograder.content.sync` generates."""
    from autograder.content.sync import sync

    assert sync(check=True) == []


OUTPUTS = ("expected", "mistakes")


def test_check_fixtures_are_up_to_date():
    """The stored cases of the visible checks are what the case builders produce today."""
    from autograder.content.fixtures import _case_builders, build_cases
    from bnlab.checks._core import first_difference, load_cases

    stale = []
    for name in GRADED_FUNCTIONS:
        if name not in _case_builders():
            continue
        stored, fresh = load_cases(name), build_cases(name)
        if len(stored) != len(fresh):
            stale.append(f"{name}: {len(stored)} stored cases, {len(fresh)} built")
            continue
        for old, new in zip(stored, fresh):
            for part in ("label", "args", "kwargs", "expected", "mistakes", "hints"):
                # outputs within the case's own tolerance: a float32 case's last digits
                # depend on the numpy build and the processor; the inputs exactly
                rtol, atol = (old["rtol"], old["atol"]) if part in OUTPUTS else (1e-9, 1e-12)
                if first_difference(old[part], new[part], part, rtol, atol) is not None:
                    stale.append(f"{name}, case {new['label']!r}: {part} differs")
                    break
    assert not stale, "Run `python -m autograder.content.sync`:\n" + "\n".join(stale)


# ------------------------------------------------------------ metadata lint


@pytest.mark.parametrize("stem", STEMS)
def test_valid_nbformat_and_python3_kernel(stem):
    notebook = read(stem)
    nbformat.validate(notebook)
    assert notebook.metadata.kernelspec.name == "python3"
    assert notebook.metadata.kernelspec.language == "python"


@pytest.mark.parametrize("stem", STEMS)
def test_only_checked_cells_store_outputs(stem):
    """Outputs and execution counts only on the cells nbval compares, and those have some
    (an empty stored output would make nbval compare nothing); text only.
    `make sync` stores them."""
    for index, cell in enumerate(read(stem).cells):
        if cell.cell_type != "code":
            continue
        if is_checked(cell):
            assert cell.outputs, f"{stem} cell {index} is compared by nbval but stores no output"
            for output in cell.outputs:
                assert output.output_type in ("stream", "execute_result"), output.output_type
                assert set(output.get("data", {})) <= {"text/plain"}
        else:
            assert cell.outputs == [], f"{stem} cell {index} has stored outputs"
            assert cell.execution_count is None, f"{stem} cell {index} has an execution count"


@pytest.mark.slow
def test_nbval_compares_stored_outputs(tmp_path):
    """A checked cell whose stored output no longer matches makes nbval fail."""
    notebook = read("03_removing_b")
    cell = next(c for c in notebook.cells if is_checked(c) and c.outputs)
    output = cell.outputs[0]
    if output.output_type == "stream":
        output.text = "something else entirely\n"
    else:
        output.data["text/plain"] = "something else entirely"
    path = tmp_path / "03_removing_b.ipynb"
    nbformat.write(notebook, path)
    for sibling in NOTEBOOK_DIR.glob("0[12]_*.ipynb"):
        (tmp_path / sibling.name).write_text(sibling.read_text())
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider", "-q", str(path)],
        cwd=tmp_path,
        env=kernel_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode != 0, "nbval passed a notebook whose checked output changed"
    assert "something else entirely" in result.stdout


def test_grade_ids_unique():
    """grade_ids are unique in each notebook, and across the assignment except `imports`
    (every notebook has its own locked imports cell of that name)."""
    seen = {}
    for stem in STEMS:
        ids = [
            cell.metadata["nbgrader"]["grade_id"]
            for cell in read(stem).cells
            if "nbgrader" in cell.metadata
        ]
        duplicates = {i for i in ids if ids.count(i) > 1}
        assert not duplicates, f"{stem}: duplicate grade_ids {sorted(duplicates)}"
        for grade_id in ids:
            if grade_id == "imports":
                continue
            assert grade_id not in seen, (
                f"grade_id {grade_id!r} in both {seen[grade_id]} and {stem}"
            )
            seen[grade_id] = stem


def test_points_total_100():
    assert sum(POINTS.values()) == 100
    assert set(POINTS) == set(GRADED_FUNCTIONS) | set(MANUAL)
    # 90 points graded automatically, 10 by hand
    assert sum(POINTS[name] for name in GRADED_FUNCTIONS) == 90
    assert sum(POINTS[name] for name in MANUAL) == 10
    per_notebook = {
        stem: sum(POINTS[name] for name in NOTEBOOKS[stem])
        + sum(POINTS[name] for name, where in MANUAL.items() if where == stem)
        for stem in STEMS
    }
    assert per_notebook == {
        "01_forward_bn": 12,
        "02_backward_bn": 20,
        "03_removing_b": 8,
        "04_deep_network": 20,
        "05_optimizers": 13,
        "06_test_time": 14,
        "07_layer_norm": 13,
    }


def test_the_grader_knows_every_written_answer():
    """The pipeline's list of hand-graded answers (export, grade) is the notebooks' own."""
    from autograder.workspace import MANUAL_ANSWERS

    assert MANUAL_ANSWERS == MANUAL
    found = {
        cell.metadata["nbgrader"]["grade_id"]: stem
        for stem in STEMS
        for cell in read(stem).cells
        if cell.cell_type == "markdown" and cell.metadata.get("nbgrader", {}).get("grade")
    }
    assert found == MANUAL


@pytest.mark.parametrize("stem", STEMS)
def test_graded_functions_have_solution_check_and_hidden_test(stem):
    cells = nbgrader_cells(read(stem))
    order = [
        c.metadata["nbgrader"]["grade_id"] for c in read(stem).cells if "nbgrader" in c.metadata
    ]
    assert "imports" in cells, f"{stem} has no imports cell"
    imports = cells["imports"].metadata["nbgrader"]
    assert cells["imports"].cell_type == "code" and imports["locked"] and not imports["grade"]
    for name in NOTEBOOKS[stem]:
        solution = cells.get(name)
        assert solution is not None, f"{stem}: no solution cell with grade_id {name!r}"
        meta = solution.metadata["nbgrader"]
        assert solution.cell_type == "code"
        assert meta["solution"] and not meta["grade"] and not meta["locked"], meta
        assert solution.source.startswith(f"# GRADED FUNCTION: {name}\ndef {name}(")
        assert SOLUTION_BEGIN in solution.source and SOLUTION_END in solution.source

        check = cells.get(f"check_{name}")
        assert check is not None, f"{stem}: no visible check cell check_{name}"
        meta = check.metadata["nbgrader"]
        assert check.cell_type == "code" and meta["locked"] and not meta["grade"]
        assert not meta["solution"]
        assert check.source.strip() == f"check_{name}({name})"

        test = cells.get(f"test_{name}")
        assert test is not None, f"{stem}: no hidden-test cell test_{name}"
        meta = test.metadata["nbgrader"]
        assert test.cell_type == "code" and meta["grade"] and meta["locked"]
        assert not meta["solution"]
        assert meta["points"] == POINTS[name] > 0, f"test_{name}: {meta['points']} points"

        assert order.index(name) < order.index(f"check_{name}") < order.index(f"test_{name}"), (
            f"{stem}: {name}'s cells should come in the order solution, check, hidden test"
        )


@pytest.mark.parametrize("stem", STEMS)
def test_test_cells_only_call_the_harness(stem):
    """A graded function's test cell holds comments, the harness import and one call, in
    the open (no hidden block): nbgrader's feedback shows test cells to students, and the
    verdicts are decided outside the kernel (autograder.grading.verdicts, from
    autograder.content.hidden_tests)."""
    found = []
    for index, cell in enumerate(read(stem).cells):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        assert HIDDEN_BEGIN not in cell.source and HIDDEN_END not in cell.source, (stem, index)
        if not grade_id.startswith("test_"):
            continue
        name = grade_id[len("test_") :]
        found.append(name)
        code = [line for line in cell.source.splitlines() if line.strip()]
        code = [line for line in code if not line.startswith("#")]
        assert code == ["from bnlab import harness", f'harness.run("{name}", {name})'], code
    assert found == [name for name in GRADED_FUNCTIONS if notebook_of(name) == stem], found


@pytest.mark.parametrize("stem", STEMS)
def test_grade_cells_are_all_known(stem):
    """Every cell worth points is a hidden test of a graded function or a manual answer."""
    for grade_id, cell in nbgrader_cells(read(stem)).items():
        meta = cell.metadata["nbgrader"]
        if not meta.get("grade"):
            continue
        if grade_id in MANUAL:
            assert MANUAL[grade_id] == stem
            continue
        assert grade_id.startswith("test_") and grade_id[5:] in NOTEBOOKS[stem], grade_id


def test_written_answer_cell():
    """Each written answer: a hand-graded markdown answer holding the model answer between
    the solution markers (nbgrader replaces the region with 'YOUR ANSWER HERE')."""
    for grade_id, stem in MANUAL.items():
        cell = nbgrader_cells(read(stem))[grade_id]
        meta = cell.metadata["nbgrader"]
        assert cell.cell_type == "markdown"
        assert meta["solution"] and meta["grade"] and not meta["locked"]
        assert meta["points"] == POINTS[grade_id]
        # the question above the answer states its points
        cells = read(stem).cells
        ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in cells]
        question = cells[ids.index(grade_id) - 1]
        stated = re.findall(r"\*\*Question \((\d+) points?, graded by hand\)\.", question.source)
        assert stated == [str(POINTS[grade_id])], f"{grade_id}: the question states {stated} points"
        lines = cell.source.splitlines()
        assert SOLUTION_BEGIN in lines and SOLUTION_END in lines
        answer = lines[lines.index(SOLUTION_BEGIN) + 1 : lines.index(SOLUTION_END)]
        assert len(" ".join(answer).split()) > 40, "the model answer is missing or too short"


def _imported_modules(source):
    source = python_source(source)
    modules = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.append(node.module)
            if node.module == "bnlab":
                modules += [f"bnlab.{alias.name}" for alias in node.names]
    return modules


@pytest.mark.parametrize("stem", STEMS)
def test_cells_import_only_public_modules(stem):
    """Students have the package bnlab and nothing else of the course: outside the hidden
    tests, a cell imports only modules of the bnlab folder (and third-party ones)."""
    for index, cell in enumerate(read(stem).cells):
        if cell.cell_type != "code":
            continue
        source = cell.source
        for module in _imported_modules(source):
            top, *rest = module.split(".")
            assert top != "autograder", f"{stem} cell {index} imports {module}"
            if top == "bnlab" and rest:
                path = STUDENT_PACKAGE_DIR.joinpath(*rest)
                assert path.with_suffix(".py").is_file() or (path / "__init__.py").is_file(), (
                    f"{stem} cell {index} imports {module}, which the bnlab folder does not hold"
                )
        assert not re.search(r"\bautograder\.\w", source), (
            f"{stem} cell {index} refers to the instructor-only package"
        )


@pytest.mark.parametrize("stem", STEMS)
def test_notebook_shape(stem):
    """A title, a 'What to remember' section, an imports cell before any graded cell,
    and at least one cell whose output nbval compares."""
    notebook = read(stem)
    first = notebook.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# "), "no title"
    assert "(skeleton" not in "".join(c.source for c in notebook.cells), "skeleton text left"
    headings = [
        line
        for cell in notebook.cells
        if cell.cell_type == "markdown"
        for line in cell.source.splitlines()
        if line.startswith("#")
    ]
    assert any("What to remember" in h for h in headings), "no 'What to remember' section"
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in notebook.cells]
    assert ids.index("imports") < min(ids.index(name) for name in NOTEBOOKS[stem])
    checked = [
        c
        for c in notebook.cells
        if c.cell_type == "code"
        and (
            "nbval-check-output" in c.metadata.get("tags", []) or "# NBVAL_CHECK_OUTPUT" in c.source
        )
    ]
    assert checked, f"{stem}: no cell tagged nbval-check-output"


def test_course_lists_every_notebook():
    assert sorted(p.stem for p in NOTEBOOK_DIR.glob("*.ipynb")) == sorted(STEMS)


# A course-workspace path in the guides: source/<assignment>/, release/<assignment>/, or
# submitted|autograded|feedback/<student>/<assignment>/.
WORKSPACE_PATH = re.compile(
    r"\b(?:(?:source|release)|(?:submitted|autograded|feedback)/<student>)/([A-Za-z0-9_-]+)/"
)


def test_the_guides_name_the_assignment_the_code_uses():
    """The folders the READMEs send students and instructors to are named after
    bnlab.course.ASSIGNMENT, the assignment nbgrader releases and grades."""
    named = []
    for guide in ("README.md", "autograder/README.md"):
        text = (ROOT / guide).read_text(encoding="utf-8")
        named += [(guide, match.group(0)) for match in WORKSPACE_PATH.finditer(text)]
    assert len(named) >= 5, f"the guides no longer show the course workspace: {named}"
    wrong = [
        (guide, path) for guide, path in named if path.rstrip("/").split("/")[-1] != ASSIGNMENT
    ]
    assert not wrong, f"paths not named after the assignment {ASSIGNMENT!r}: {wrong}"
