"""The release step's checks: no solution or hidden test reaches students, stubs fail
validation, and the release runs on the student wheel alone.

One course is released once per session (the session fixture released_course,
shared with the end-to-end tests; these tests read a copy of it); each check is
also shown to fail on a planted problem, so a scanner that finds nothing is not
mistaken for a clean release. The tests that need the released course are
marked slow and e2e; the scanner's own tests on planted files are quick.
"""

import ast
import inspect
import json
import shutil
import zipfile

import nbformat
import pytest
from autograder_support import ROOT, SOURCE

from autograder.content import reference
from autograder.errors import GraderError
from autograder.pipeline import leaks, release
from autograder.workspace import Course
from bnlab.course import GRADED_FUNCTIONS, NOTEBOOKS

# Every instructor-only module, listed here from the files themselves (not from the code
# under test): the package autograder/ of the checkout.
INSTRUCTOR_FILES = sorted(
    path.relative_to(ROOT / "autograder").as_posix()
    for path in (ROOT / "autograder").rglob("*.py")
    if "__pycache__" not in path.parts and path.stat().st_size >= 64
)


# Every test that takes `course` or `wheel` needs the released course (the release step
# runs once per session, and some build a student venv): marked slow and e2e.
@pytest.fixture(scope="module")
def course(course_copy):
    """A copy of the session's released course: the student venv is built in it."""
    return Course(course_copy("release-checks"))


@pytest.fixture(scope="module")
def wheel(course):
    wheels = sorted(course.dist.glob("*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def solution_line(name):
    """The longest line of the body of reference `name` (after its docstring) that is not one
    public helpers share on purpose (leaks.SHARED_WITH_PUBLIC: the scanner skips those)."""
    source = inspect.getsource(getattr(reference, name))
    function = ast.parse(source).body[0]
    body = source.splitlines()[function.body[1].lineno - 1 :]
    lines = [line.strip() for line in body if line.strip() not in leaks.SHARED_WITH_PUBLIC]
    return max(lines, key=len)


def _notebook_with(source_text, cell_type="code"):
    notebook = nbformat.v4.new_notebook()
    make = nbformat.v4.new_code_cell if cell_type == "code" else nbformat.v4.new_markdown_cell
    notebook.cells = [make("x = 1"), make(source_text)]
    return notebook


# ------------------------------------------------------------------ the release itself


def _planted_source(folder, text):
    """A copy of the source notebooks in `folder`, with a Markdown cell holding `text` at the
    end of 01_forward_bn (nbgrader releases Markdown cells as they are)."""
    folder.mkdir()
    for path in SOURCE.glob("*.ipynb"):
        shutil.copy(path, folder / path.name)
    notebook = nbformat.read(folder / "01_forward_bn.ipynb", as_version=4)
    notebook.cells.append(nbformat.v4.new_markdown_cell(text))
    nbformat.write(notebook, folder / "01_forward_bn.ipynb")
    return folder


@pytest.mark.slow
@pytest.mark.e2e
def test_a_leak_in_the_release_fails_the_release_step(
    tmp_path, course_copy, monkeypatch, restore_environ
):
    """The step itself, not only its scanner: a grader import planted in a source notebook
    reaches the release nbgrader generates, and the release fails with a GraderError (the
    command line's one line and exit status 1) naming it, recorded in release.json too.
    Validation and the student venv have their own tests below: skipped here."""
    course = Course(course_copy("release-fails"))
    planted = "from autograder.content.reference import batchnorm_forward"
    monkeypatch.setattr(release, "check_stubs_fail_validation", lambda course: [])
    monkeypatch.setattr(release, "check_student_venv", lambda course, wheel: [])
    with pytest.raises(release.ReleaseError) as failed:
        release.release(course, _planted_source(tmp_path / "source", planted), log=lambda _: None)
    assert isinstance(failed.value, GraderError)
    message = str(failed.value)
    assert message.startswith("release checks failed:\n  leak: 01_forward_bn.ipynb"), message
    assert planted in (course.release / "01_forward_bn.ipynb").read_text(encoding="utf-8")
    report = json.loads((course.reports / "release.json").read_text(encoding="utf-8"))
    assert report["problems"] and all(
        p.startswith("leak: 01_forward_bn.ipynb") for p in report["problems"]
    )


@pytest.mark.slow
@pytest.mark.e2e
def test_the_release_leak_check_finds_leaks_planted_in_the_release_and_the_wheel(
    tmp_path, course_copy, wheel
):
    """release.check_leaks, what the step runs, on a copy of the real release and wheel:
    nothing before, then a solution line planted in a release notebook and a reference
    solution planted in the wheel are both found (each scanner has its own tests below)."""
    course = Course(course_copy("leaks-planted"))
    assert release.check_leaks(course, wheel) == []
    notebook = nbformat.read(course.release / "02_backward_bn.ipynb", as_version=4)
    line = solution_line("batchnorm_backward")
    notebook.cells.append(nbformat.v4.new_code_cell(f"def helper():\n    {line}\n"))
    nbformat.write(notebook, course.release / "02_backward_bn.ipynb")
    bad = tmp_path / wheel.name
    shutil.copy(wheel, bad)
    with zipfile.ZipFile(bad, "a") as archive:
        archive.writestr(
            "bnlab/solutions.py", (ROOT / "autograder" / "content" / "reference.py").read_text()
        )
    problems = release.check_leaks(course, bad)
    assert all(problem.startswith("leak: ") for problem in problems), problems
    assert any("02_backward_bn.ipynb" in p and "batchnorm_backward" in p for p in problems), (
        problems
    )
    assert any("bnlab/solutions.py" in p for p in problems), problems


@pytest.mark.slow
@pytest.mark.e2e
def test_release_has_stubs_where_the_source_has_solutions(course):
    for stem, names in NOTEBOOKS.items():
        notebook = nbformat.read(course.release / f"{stem}.ipynb", as_version=4)
        cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in notebook.cells}
        for name in names:
            assert "raise NotImplementedError" in cells[name].source, (stem, name)
            assert solution_line(name) not in cells[name].source
            assert "hidden_tests" not in cells[f"test_{name}"].source


@pytest.mark.slow
@pytest.mark.e2e
def test_student_wheel_is_the_student_package_and_nothing_else(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    modules = {n for n in names if n.endswith(".py")}
    assert modules == {
        f"bnlab/{p.relative_to(ROOT / 'bnlab').as_posix()}"
        for p in (ROOT / "bnlab").rglob("*.py")
        if "__pycache__" not in p.parts
    }
    stored = {n for n in names if n.startswith("bnlab/data/checks/") and n.endswith(".npz")}
    assert stored == {
        f"bnlab/data/checks/{p.name}" for p in (ROOT / "bnlab" / "data" / "checks").glob("*.npz")
    }
    metadata = {n for n in names if n.startswith("bnlab-")}
    assert {n.split("/", 1)[1] for n in metadata} == {"METADATA", "WHEEL", "RECORD"}
    assert set(names) == modules | stored | metadata


@pytest.mark.slow
@pytest.mark.e2e
def test_student_wheel_is_rebuilt_byte_identical(tmp_path, wheel):
    again = release.build_student_wheel(tmp_path)
    assert again.read_bytes() == wheel.read_bytes()


# ------------------------------------------------------------------ the leak scanner can fail


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.parametrize("name", GRADED_FUNCTIONS)
def test_scanner_catches_a_planted_solution_line(tmp_path, course, name):
    folder = tmp_path / "release"
    shutil.copytree(course.release, folder)
    line = solution_line(name)
    notebook = nbformat.read(folder / "01_forward_bn.ipynb", as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(f"def helper():\n        {line}\n"))
    nbformat.write(notebook, folder / "01_forward_bn.ipynb")
    found = leaks.scan_folder(folder)
    assert any(name in leak.what and leak.where == "01_forward_bn.ipynb" for leak in found), found


@pytest.mark.parametrize(
    "planted",
    [
        "### BEGIN SOLUTION",
        "### END HIDDEN TESTS",
        "from autograder import hidden_tests",
        "from autograder.content.reference import batchnorm_forward",
        "import autograder",
        "import autograder.content.mistakes as m",
        "x = autograder.content.reference.batchnorm_forward",
    ],
)
def test_scanner_catches_delimiters_and_grader_imports(tmp_path, planted):
    nbformat.write(_notebook_with(planted, "markdown"), tmp_path / "planted.ipynb")
    assert [leak.where for leak in leaks.scan_folder(tmp_path)] == ["planted.ipynb"]


def test_scanner_catches_a_hidden_test_line(tmp_path):
    source = (ROOT / "autograder" / "content" / "hidden_tests" / "optimizers.py").read_text()
    line = max(
        (ln.strip() for ln in source.splitlines() if not ln.strip().startswith(("#", '"'))),
        key=len,
    )
    nbformat.write(_notebook_with(f"def f():\n    {line}\n"), tmp_path / "planted.ipynb")
    found = leaks.scan_folder(tmp_path)
    assert any("hidden tests" in leak.what for leak in found), (line, found)


@pytest.mark.parametrize("relative", INSTRUCTOR_FILES)
def test_scanner_catches_any_instructor_file_under_another_name(tmp_path, relative):
    (tmp_path / "helpers.py").write_bytes((ROOT / "autograder" / relative).read_bytes())
    found = leaks.scan_folder(tmp_path)
    assert any(leak.where == "helpers.py" and relative in leak.what for leak in found), found


@pytest.mark.slow
@pytest.mark.e2e
def test_scanner_catches_a_file_beside_the_notebooks(tmp_path, course):
    shutil.copytree(course.release, tmp_path / "release")
    (tmp_path / "release" / "autograder").mkdir()
    (tmp_path / "release" / "autograder" / "notes.py").write_text("x = 1\n")
    found = leaks.scan_folder(tmp_path / "release")
    assert [leak.where for leak in found] == ["autograder/notes.py"], found


@pytest.mark.slow
@pytest.mark.e2e
def test_scanner_catches_instructor_code_in_a_wheel(tmp_path, wheel):
    bad = tmp_path / wheel.name
    shutil.copy(wheel, bad)
    with zipfile.ZipFile(bad, "a") as archive:
        archive.writestr("autograder/__init__.py", "")
        archive.writestr(
            "bnlab/solutions.py", (ROOT / "autograder" / "content" / "reference.py").read_text()
        )
    found = leaks.scan_student_distribution(bad)
    where = {leak.where.split(":", 1)[1] for leak in found}
    assert where == {"autograder/__init__.py", "bnlab/solutions.py"}, found
    assert any("not part of the student package" in leak.what for leak in found)
    assert any(
        "copy of the instructor-only autograder/content/reference.py" in leak.what for leak in found
    )
    assert any("solution of batchnorm_forward" in leak.what for leak in found)


# ------------------------------------------------------------------ validation


@pytest.mark.slow
@pytest.mark.e2e
def test_an_untouched_stub_fails_validation_and_the_solution_passes(course, restore_environ):
    # validate_notebook points this process's JUPYTER_PATH at the course: undone afterwards
    released_result = release.validate_notebook(course, course.release / "01_forward_bn.ipynb")
    assert released_result.get("failed"), released_result
    assert release.validate_notebook(course, SOURCE / "01_forward_bn.ipynb") == {}


# ------------------------------------------------------------------ the student venv


@pytest.mark.slow
@pytest.mark.e2e
def test_release_notebooks_reach_their_first_stub_on_the_student_wheel(course, wheel):
    # 01 imports the public modules; 04 also loads 01 to 03 with load_graded.
    stems = ["01_forward_bn", "04_deep_network"]
    report = release.run_in_student_venv(
        course, wheel, [course.release / f"{s}.ipynb" for s in stems]
    )
    assert report["bnlab"].startswith(str(course.work / "student-venv"))
    assert report["instructor_package"] is None
    for name, found in report["notebooks"].items():
        assert found["error"] not in release.IMPORT_ERRORS, (name, found)
        assert release.is_stub_error(found), (name, found)


@pytest.mark.slow
@pytest.mark.e2e
def test_the_student_venv_check_fails_on_a_grader_import(tmp_path, course, wheel):
    notebook = _notebook_with("from autograder import reference")
    notebook.cells.append(nbformat.v4.new_code_cell("raise NotImplementedError()"))
    notebook.cells[0].metadata["nbgrader"] = {"solution": True, "grade_id": "x"}
    path = tmp_path / "planted.ipynb"
    nbformat.write(notebook, path)
    report = release.run_in_student_venv(course, wheel, [path])
    assert report["notebooks"]["planted.ipynb"]["error"] in release.IMPORT_ERRORS
