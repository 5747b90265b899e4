"""The self-study release: the class release plus model answers and reveal cells, built
without nbgrader, and its extras never reach a class release or the student wheel.

- The builder (autograder.pipeline.selfstudy) imports and runs where nbgrader cannot be imported.
- With the self-study-only cells removed, its notebooks equal the class release that
  nbgrader builds (the session's released course), cell by cell.
- Each written answer is followed by its model answer, each visible check by a reveal
  cell; the reference bodies travel encoded, in the solutions file, and only there.
- A class release and the student wheel hold none of the extras (read here from the
  files; the leak scan agrees, and catches them when they are planted).
- reveal refuses before the check ran and after a check on the untouched stub, and shows
  the reference after a check on an attempt: in a real kernel, and by calling it.
- `make lab` installs only the student package and JupyterLab.

The expected model answers and reference bodies are read here from the source
notebooks' solution regions, not from the code under test.
"""

import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from autograder_support import ROOT, SOURCE

from autograder.content import reference
from autograder.pipeline import leaks, selfstudy
from bnlab import selfstudy as reveal_module
from bnlab.checks import CheckFailed, check_batchnorm_forward
from bnlab.course import GRADED_FUNCTIONS, NOTEBOOKS

MARK = "bnlab_selfstudy"
WRITTEN = {"why_no_b": "03_removing_b", "running_or_recomputed": "06_test_time"}
WRITTEN["b_before_layer_norm"] = "07_layer_norm"
REFUSAL = "run the check on your own attempt first"


def source_regions(stem):
    """{grade_id: text between the ### BEGIN SOLUTION and ### END SOLUTION lines} of a
    source notebook's solution cells, read from its JSON."""
    notebook = json.loads((SOURCE / f"{stem}.ipynb").read_text(encoding="utf-8"))
    found = {}
    for cell in notebook["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution"):
            lines = "".join(cell["source"]).split("\n")
            begin = next(i for i, line in enumerate(lines) if "### BEGIN SOLUTION" in line)
            end = next(i for i, line in enumerate(lines) if "### END SOLUTION" in line)
            found[meta["grade_id"]] = "\n".join(lines[begin + 1 : end])
    return found


def grade_id(cell):
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The self-study release, built once into a fresh folder."""
    return selfstudy.build(tmp_path_factory.mktemp("selfstudy") / "selfstudy", log=lambda _: None)


def read(folder, stem):
    return nbformat.read(Path(folder) / f"{stem}.ipynb", as_version=4)


# ------------------------------------------------------------------ the builder


@pytest.mark.slow
def test_importing_the_builder_imports_no_grading_or_test_tool():
    probe = (
        "import sys, autograder.pipeline.selfstudy\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'nbgrader', 'torch', 'pytest', 'nbclient', 'nbconvert', 'hypothesis'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]", result.stdout


@pytest.mark.slow
def test_the_builder_runs_where_nbgrader_cannot_be_imported(tmp_path):
    # A module set to None in sys.modules cannot be imported: any `import nbgrader` fails.
    script = (
        "import runpy, sys\n"
        "for name in ('nbgrader', 'torch', 'pytest'):\n"
        "    sys.modules[name] = None\n"
        "sys.argv = ['autograder.pipeline.selfstudy', sys.argv[1]]\n"
        "runpy.run_module('autograder.pipeline.selfstudy', run_name='__main__')\n"
    )
    folder = tmp_path / "lab"
    result = subprocess.run(
        [sys.executable, "-c", script, str(folder)], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [f"{stem}.ipynb" for stem in NOTEBOOKS] + ["solutions.bnlab"]
    )


@pytest.mark.parametrize(
    "source, stub, expected, regions",
    [
        (
            "def f(x):\n    ### BEGIN SOLUTION\n    y = 2 * x\n    return y\n    ### END SOLUTION",
            "# YOUR CODE HERE\nraise NotImplementedError()",
            "def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()",
            ["    y = 2 * x\n    return y"],
        ),
        (
            "Intro.\n### BEGIN SOLUTION\nThe answer.\n### END SOLUTION\nAfter.",
            "YOUR ANSWER HERE",
            "Intro.\nYOUR ANSWER HERE\nAfter.",
            ["The answer."],
        ),
        ("# no region\nx = 1", "STUB", "# no region\nx = 1", []),
        (
            "# hidden\n### BEGIN SOLUTION\nsecret()\n### END SOLUTION",
            None,
            "# hidden",
            ["secret()"],
        ),
    ],
)
def test_strip_regions_replaces_each_region_by_the_indented_stub(source, stub, expected, regions):
    assert selfstudy.strip_regions(source, selfstudy.SOLUTION, stub) == (expected, regions)


@pytest.mark.parametrize(
    "source",
    [
        "### BEGIN SOLUTION\nx = 1",
        "x = 1\n### END SOLUTION",
        "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n### END SOLUTION",
    ],
)
def test_strip_regions_rejects_unbalanced_regions(source):
    with pytest.raises(ValueError):
        selfstudy.strip_regions(source, selfstudy.SOLUTION, "STUB")


def test_a_rebuild_keeps_the_learners_notebooks_unless_forced(tmp_path):
    folder = selfstudy.build(tmp_path / "lab", log=lambda _: None)
    notebook = read(folder, "01_forward_bn")
    notebook.cells[0].source = "my notes"
    nbformat.write(notebook, folder / "01_forward_bn.ipynb")
    selfstudy.build(folder, log=lambda _: None)
    assert read(folder, "01_forward_bn").cells[0].source == "my notes"
    selfstudy.build(folder, force=True, log=lambda _: None)
    assert read(folder, "01_forward_bn").cells[0].source != "my notes"


# ------------------------------------------------------------------ what it adds


@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_no_solution_region_and_no_hidden_test_is_left(built, stem):
    for cell in read(built, stem).cells:
        for word in ("BEGIN SOLUTION", "END SOLUTION", "HIDDEN TESTS", "harness.run"):
            assert word not in cell.source, (stem, cell.source[:200])
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def test_no_nbval_marker_is_left(built):
    """nbval's markers (``# NBVAL_CHECK_OUTPUT`` lines, ``nbval-*`` tags) mean nothing to a
    learner: the source notebooks have them, the self-study notebooks do not."""

    def markers(folder):
        found = []
        for stem in NOTEBOOKS:
            for index, cell in enumerate(read(folder, stem).cells):
                tags = " ".join(map(str, cell.metadata.get("tags", [])))
                if re.search("nbval", cell.source + " " + tags, re.IGNORECASE):
                    found.append(f"{stem} cell {index}")
        return found

    assert markers(SOURCE), "the source notebooks hold no nbval marker: nothing to test"
    assert markers(built) == []


@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_the_hints_are_kept(built, stem):
    hints = re.compile(r"<details><summary>Hint \d")
    source = read(SOURCE, stem)
    expected = [c.source for c in source.cells if hints.search(c.source)]
    assert expected, f"{stem} has no hints to keep"
    assert [c.source for c in read(built, stem).cells if hints.search(c.source)] == expected


@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_each_check_is_followed_by_a_reveal_cell(built, stem):
    cells = read(built, stem).cells
    for name in NOTEBOOKS[stem]:
        (index,) = [i for i, c in enumerate(cells) if grade_id(c) == f"check_{name}"]
        after = cells[index + 1]
        assert after.cell_type == "code" and after.metadata[MARK] == "reveal"
        assert after.source.splitlines()[-1] == f'reveal("{name}")'
        assert "from bnlab.selfstudy import reveal" in after.source
    reveals = [c for c in cells if c.metadata.get(MARK) == "reveal"]
    assert len(reveals) == len(NOTEBOOKS[stem])


def test_each_written_answer_is_followed_by_its_model_answer_collapsed(built):
    for answer, stem in WRITTEN.items():
        cells = read(built, stem).cells
        (index,) = [i for i, c in enumerate(cells) if grade_id(c) == answer]
        assert cells[index].source == "YOUR ANSWER HERE"
        model = cells[index + 1]
        assert model.cell_type == "markdown" and model.metadata[MARK] == "model_answer"
        assert model.source.startswith(
            "<details><summary>Model answer (open it after writing yours)</summary>"
        )
        assert model.source.rstrip().endswith("</details>")
        assert source_regions(stem)[answer].strip() in model.source
    every = [c for stem in NOTEBOOKS for c in read(built, stem).cells if c.metadata.get(MARK)]
    assert sorted(c.metadata[MARK] for c in every) == sorted(
        ["model_answer"] * len(WRITTEN) + ["reveal"] * len(GRADED_FUNCTIONS)
    )


def test_the_solutions_file_holds_every_reference_body_encoded(built):
    raw = (built / "solutions.bnlab").read_text(encoding="utf-8")
    expected = {}
    for stem in NOTEBOOKS:
        regions = source_regions(stem)
        expected.update({name: regions[name] for name in NOTEBOOKS[stem]})
    assert reveal_module.decode(raw) == expected
    for body in expected.values():  # not readable at a glance: no line shows as such
        for line in body.splitlines():
            if len(line.strip()) > 15:
                assert line.strip() not in raw


def test_the_notebooks_hold_no_reference_line_only_model_answers(built):
    found = leaks.scan_folder(built)
    notebooks = [leak for leak in found if leak.where.endswith(".ipynb")]
    assert notebooks and all("model answer" in leak.what for leak in notebooks), notebooks
    assert {leak.where for leak in notebooks} == {f"{stem}.ipynb" for stem in set(WRITTEN.values())}


# ------------------------------------------------------------------ reveal, called


def attempt_module(tmp_path, name, source):
    """A module holding `source` (a function's definition), imported: its source is
    readable, as IPython keeps the source of a cell."""
    path = tmp_path / f"{name}.py"
    path.write_text("import numpy as np\n\n" + source + "\n", encoding="utf-8")
    sys.path.insert(0, str(tmp_path))
    try:
        module = __import__(name)
    finally:
        sys.path.remove(str(tmp_path))
    return module


def released_cell(folder, name):
    """The source of graded function `name`'s cell as the self-study release has it."""
    stem = next(s for s, names in NOTEBOOKS.items() if name in names)
    (cell,) = [c for c in read(folder, stem).cells if grade_id(c) == name]
    return cell.source


def test_reveal_refuses_before_the_check_ran(built):
    reveal_module.forget_checks()
    shown, text = reveal_module.revealed("batchnorm_forward", built)
    assert not shown and REFUSAL in text and "mu = " not in text


def test_reveal_refuses_after_a_check_on_the_untouched_stub(built, tmp_path):
    reveal_module.forget_checks()
    stub = attempt_module(tmp_path, "stub_01", released_cell(built, "batchnorm_forward"))
    with pytest.raises(CheckFailed, match="not implemented"):
        check_batchnorm_forward(stub.batchnorm_forward)
    shown, text = reveal_module.revealed("batchnorm_forward", built)
    assert not shown and REFUSAL in text and "stub" in text and "mu = " not in text


def test_reveal_shows_the_reference_after_a_check_on_an_attempt(built, tmp_path):
    reveal_module.forget_checks()
    # A wrong attempt (no normalization at all): the check fails, the reference is shown.
    wrong = released_cell(built, "batchnorm_forward").replace(
        "    # YOUR CODE HERE\n    raise NotImplementedError()",
        "    # YOUR CODE HERE\n    return gamma * Z + beta, (Z, Z, 0, 1, gamma, beta, eps)",
    )
    attempt = attempt_module(tmp_path, "attempt_01", wrong)
    with pytest.raises(CheckFailed):
        check_batchnorm_forward(attempt.batchnorm_forward)
    shown, text = reveal_module.revealed("batchnorm_forward", built)
    assert shown, text
    assert source_regions("01_forward_bn")["batchnorm_forward"] in text
    # Only the function whose check ran: another one is still refused.
    assert not reveal_module.revealed("batchnorm_backward", built)[0]
    # Without the solutions file (a class release), nothing is shown.
    assert not reveal_module.revealed("batchnorm_forward", tmp_path)[0]


def test_a_passing_check_also_unlocks_the_reference(built):
    reveal_module.forget_checks()
    check_batchnorm_forward(reference.batchnorm_forward)
    assert reveal_module.revealed("batchnorm_forward", built)[0]


# ------------------------------------------------------------------ reveal, in a kernel


def _stream(cell):
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


@pytest.mark.slow
def test_reveal_in_a_real_kernel(built, tmp_path):
    """The self-study notebook 01 up to its first reveal cell, run by a Jupyter kernel:
    reveal before the check, after the check on the stub, after the check on an attempt."""
    from nbclient import NotebookClient

    folder = tmp_path / "lab"
    shutil.copytree(built, folder)
    notebook = read(folder, "01_forward_bn")
    cells = notebook.cells
    first_reveal = next(i for i, c in enumerate(cells) if c.metadata.get(MARK) == "reveal")
    solution = next(i for i, c in enumerate(cells) if grade_id(c) == "batchnorm_forward")
    check, reveal = cells[first_reveal - 1], cells[first_reveal]
    assert grade_id(check) == "check_batchnorm_forward"
    attempt = nbformat.v4.new_code_cell(
        cells[solution].source.replace(
            "    # YOUR CODE HERE\n    raise NotImplementedError()",
            "    mu = Z.mean(axis=1, keepdims=True)\n"
            "    var = Z.var(axis=1, ddof=1, keepdims=True)  # unbiased: the classic mistake\n"
            "    Z_norm = (Z - mu) / np.sqrt(var + eps)\n"
            "    return gamma * Z_norm + beta, (Z, Z_norm, mu, var, gamma, beta, eps)",
        )
    )
    copy = nbformat.v4.new_code_cell
    notebook.cells = cells[:solution] + [
        copy(reveal.source),  # 1: before any check
        cells[solution],  # the untouched stub
        copy(check.source),
        copy(reveal.source),  # 2: after the check on the stub
        attempt,
        copy(check.source),
        copy(reveal.source),  # 3: after the check on an attempt
    ]
    client = NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(folder)}},
    )
    client.execute()
    before, _, stub_check, after_stub, _, attempt_check, after_attempt = notebook.cells[solution:]
    assert REFUSAL in _stream(before) and "has not run" in _stream(before)
    assert any(o.output_type == "error" for o in stub_check.outputs)
    assert REFUSAL in _stream(after_stub) and "untouched stub" in _stream(after_stub)
    assert any(
        o.output_type == "error" and "Check failed" in "".join(o.get("traceback", []))
        for o in attempt_check.outputs
    ), attempt_check.outputs
    shown = _stream(after_attempt)
    assert "Reference solution of batchnorm_forward" in shown
    assert source_regions("01_forward_bn")["batchnorm_forward"] in shown
    for cell in (before, after_stub):
        assert "np.mean(Z" not in _stream(cell)


# ------------------------------------------------------------------ the class release


def _without_hidden_test_cells(notebook):
    """The cells of a class-release notebook but its test cells (grade cells of code that
    are not solutions: the autograder's, named test_<function>)."""
    kept = []
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
            assert grade_id(cell).startswith("test_"), grade_id(cell)
            assert "BEGIN HIDDEN TESTS" not in cell.source, cell.source
            continue
        kept.append(cell)
    return kept


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_without_its_extras_the_selfstudy_release_is_the_class_release(
    built, released_course, stem
):
    classroom = nbformat.read(released_course / "release" / "batchnorm" / f"{stem}.ipynb", 4)
    expected = [(c.cell_type, c.source, grade_id(c)) for c in _without_hidden_test_cells(classroom)]
    own = [c for c in read(built, stem).cells if MARK not in c.metadata]
    assert [(c.cell_type, c.source, grade_id(c)) for c in own] == expected


def model_answer_lines():
    return [
        line.strip()
        for answer, stem in WRITTEN.items()
        for line in source_regions(stem)[answer].splitlines()
        if len(line.strip()) > 40
    ]


def assert_no_selfstudy_extra(files):
    """`files`: {name: bytes} of a class release or a wheel."""
    answers = model_answer_lines()
    assert len(answers) >= len(WRITTEN)
    for name, data in files.items():
        assert Path(name).name != "solutions.bnlab", name
        assert not data.startswith(reveal_module.MAGIC.encode()), name
        text = data.decode("utf-8", "replace")
        if name.endswith(".ipynb"):
            text = "\n".join(c.source for c in nbformat.reads(text, as_version=4).cells)
            assert not re.search(r'\breveal\("', text), name  # no reveal cell
        assert "Model answer (open it after" not in text, name
        found = [line[:50] for line in answers if line in text]
        assert not found, (name, found)


@pytest.mark.slow
@pytest.mark.e2e
def test_a_class_release_and_the_student_wheel_hold_no_selfstudy_extra(released_course):
    release = released_course / "release" / "batchnorm"
    assert_no_selfstudy_extra(
        {
            p.relative_to(release).as_posix(): p.read_bytes()
            for p in release.rglob("*")
            if p.is_file()
        }
    )
    (wheel,) = (released_course / "dist").glob("bnlab-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    assert "bnlab/selfstudy.py" in members  # the reveal code goes to students; no solution
    assert_no_selfstudy_extra(members)
    assert leaks.scan_folder(release) == []
    assert leaks.scan_student_distribution(wheel) == []


def test_the_leak_scan_catches_the_extras_planted_in_a_release(built, tmp_path):
    folder = tmp_path / "release"
    folder.mkdir()
    # The solutions file under another name, and a model answer cell in a notebook.
    shutil.copy(built / "solutions.bnlab", folder / "data.txt")
    notebook = read(built, "03_removing_b")
    (answer,) = [c for c in notebook.cells if c.metadata.get(MARK) == "model_answer"]
    planted = nbformat.v4.new_notebook()
    planted.cells = [nbformat.v4.new_markdown_cell(answer.source)]
    nbformat.write(planted, folder / "03_removing_b.ipynb")
    found = leaks.scan_folder(folder)
    assert any(
        leak.where == "data.txt" and "file of encoded reference solutions" in leak.what
        for leak in found
    ), found
    assert any(
        leak.where == "data.txt" and "solution of batchnorm_forward" in leak.what for leak in found
    )
    assert any(
        leak.where == "03_removing_b.ipynb" and "model answer of why_no_b" in leak.what
        for leak in found
    ), found


# ------------------------------------------------------------------ make lab


def dry_run(target):
    result = subprocess.run(
        ["make", "-n", "-B", target], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return result.stdout.replace("\\\n", " ")  # continued lines joined


def test_make_lab_installs_only_the_student_package_and_jupyterlab():
    commands = dry_run("lab")
    installs = [line for line in commands.splitlines() if " pip install " in line]
    assert installs, commands
    for line in installs:
        assert line.startswith(".venv-lab/bin/python -m pip install"), line
    packages = {word for line in installs for word in line.split("pip install", 1)[1].split()} - {
        "--quiet",
        "--upgrade",
        "pip",
    }
    assert packages == {"./bnlab", "jupyterlab", "ipykernel"}, packages
    assert ".venv/" not in commands.replace(".venv-lab/", "")
    assert ".venv-lab/bin/python -m autograder.pipeline.selfstudy selfstudy" in commands
    assert re.search(r"cd selfstudy && .*jupyter\" lab", commands), commands
    # What the student package brings: nothing for grading or testing.
    text = (ROOT / "bnlab" / "pyproject.toml").read_text(encoding="utf-8")
    dependencies = text.split("dependencies = [", 1)[1].split("]", 1)[0]
    for tool in ("nbgrader", "torch", "pytest", "hypothesis", "nbval"):
        assert tool not in dependencies


def test_make_lab_release_builds_without_opening_jupyterlab():
    commands = dry_run("lab-release")
    assert "autograder.pipeline.selfstudy" in commands and "jupyter" not in commands.replace(
        "jupyterlab", ""
    )
