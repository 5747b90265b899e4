"""nbgrader's Validate, run as a student runs it, agrees with the checks.

A student runs `nbgrader validate NOTEBOOK` (or presses Validate) in the folder the
release gave them, with nothing of the instructor's around: here a copy of the
release folder alone, the student venv the release built, and an empty Jupyter
config folder. Validate must fail on the untouched release notebook and on a
notebook with a classic mistake, and pass on the solution -- the same verdicts when the
student runs it from the folder above (`nbgrader validate batchnorm/01_forward_bn.ipynb`),
where the release's nbgrader_config.json is out of reach. The expected verdicts
come from the sample definitions (autograder.content.samples), not from the code under test.
`nbgrader validate` exits 0 whether or not the notebook passes: the verdict is read
from what it prints.
"""

import json
import os
import shutil
import subprocess

import pytest
from autograder_support import SOURCE

from autograder.content.samples import generate, samples
from autograder.pipeline import release
from autograder.workspace import headless_environ
from bnlab.course import ASSIGNMENT, NOTEBOOKS

NOTEBOOK = "01_forward_bn"
MISTAKE = "mistake-batchnorm_forward-no_eps"
PASSED = "Success! Your notebook passes all the tests."
FAILED = "VALIDATION FAILED ON"

pytestmark = pytest.mark.slow  # every test takes the released course


def expected_to_pass(student, stem):
    """Whether sample `student`'s notebook `stem` earns every point of its graded functions."""
    (sample,) = [s for s in samples() if s.student == student]
    return not (sample.zero & set(NOTEBOOKS[stem]))


def stem_of(function):
    (stem,) = [stem for stem, names in NOTEBOOKS.items() if function in names]
    return stem


@pytest.fixture(scope="module")
def inbox(tmp_path_factory, released_course):
    folder = tmp_path_factory.mktemp("validate") / "inbox"
    generate(folder, SOURCE, released_course / "release" / ASSIGNMENT, ["solution", MISTAKE])
    return folder


def student_folder(released_course, tmp_path, sample=None, stem=NOTEBOOK, config=True):
    """A copy of the release folder alone, as a student has it; with notebook `stem` of
    `sample` (a path: the sample's folder) in place of the released one, if given."""
    folder = tmp_path / "home" / ASSIGNMENT
    shutil.copytree(released_course / "release" / ASSIGNMENT, folder)
    if sample:
        shutil.copy(sample / ASSIGNMENT / f"{stem}.ipynb", folder / f"{stem}.ipynb")
    if not config:
        (folder / release.STUDENT_CONFIG).unlink()
        (folder / release.STUDENT_CONFIG_PY).unlink()
    return folder


def validate_as_student(released_course, folder, stem, from_parent=False):
    """Run `nbgrader validate STEM.ipynb` in `folder` (with `from_parent`: run
    `nbgrader validate FOLDER/STEM.ipynb` in the folder above) with the student venv's
    Python and no instructor configuration in reach; (passed, output)."""
    venv = released_course / ".work" / "student-venv"
    config_dir = folder.parent / ".jupyter"
    config_dir.mkdir(exist_ok=True)
    outside = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "JUPYTER_PATH", "JUPYTER_CONFIG_PATH")
    env = headless_environ(
        {key: value for key, value in os.environ.items() if key not in outside},
        HOME=str(folder.parent),
        JUPYTER_CONFIG_DIR=str(config_dir),
        JUPYTER_PATH=str(venv / "share" / "jupyter"),
        PATH=os.pathsep.join([str(venv / "bin"), os.environ.get("PATH", "")]),
    )
    notebook = f"{folder.name}/{stem}.ipynb" if from_parent else f"{stem}.ipynb"
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "nbgrader", "validate", notebook],
        cwd=folder.parent if from_parent else folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert (PASSED in result.stdout) != (FAILED in result.stdout), output
    return PASSED in result.stdout, output


def test_release_folder_holds_only_the_student_config(released_course):
    """The students' configuration, as JSON and as Python (nbgrader warns without a .py):
    Validate counts every failing cell; no path, nothing of the course's own config."""
    folder = released_course / "release" / ASSIGNMENT
    text = (folder / release.STUDENT_CONFIG).read_text()
    assert text == release.student_config_text()
    assert json.loads(text)["Validator"]["validate_all"] is True
    python = (folder / release.STUDENT_CONFIG_PY).read_text()
    assert python == release.student_config_py_text()
    assert "c.Validator.validate_all = True" in python.splitlines()
    for config in (text, python):
        assert "/" not in config and "CourseDirectory" not in config and "db_url" not in config


def test_the_course_config_is_out_of_reach(released_course, tmp_path):
    folder = student_folder(released_course, tmp_path)
    assert not any((p / "nbgrader_config.json").exists() for p in folder.parents)
    assert not any((p / "nbgrader_config.py").exists() for p in folder.parents)
    assert (released_course / "nbgrader_config.json").exists()  # the instructor's, elsewhere


def test_untouched_release_notebook_fails(released_course, tmp_path):
    assert not expected_to_pass("release", NOTEBOOK)
    passed, output = validate_as_student(
        released_course, student_folder(released_course, tmp_path), NOTEBOOK
    )
    assert not passed, output


def test_without_the_student_config_the_untouched_notebook_fails(released_course, tmp_path):
    """nbgrader's default looks at the cells worth points only: the test cell of each
    function runs its check outside grading, so the untouched release fails all the same."""
    folder = student_folder(released_course, tmp_path, config=False)
    passed, output = validate_as_student(released_course, folder, NOTEBOOK)
    assert not passed, output
    assert "not implemented yet" in output, output


def test_solution_passes(released_course, inbox, tmp_path):
    assert expected_to_pass("solution", NOTEBOOK)
    folder = student_folder(released_course, tmp_path, sample=inbox / "solution")
    passed, output = validate_as_student(released_course, folder, NOTEBOOK)
    assert passed, output


def test_classic_mistake_fails(released_course, inbox, tmp_path):
    stem = stem_of("batchnorm_forward")
    assert not expected_to_pass(MISTAKE, stem)
    folder = student_folder(released_course, tmp_path, sample=inbox / MISTAKE, stem=stem)
    passed, output = validate_as_student(released_course, folder, stem)
    assert not passed, output


@pytest.mark.parametrize("student", ["solution", MISTAKE])
def test_the_verdict_is_the_same_from_the_folder_above(released_course, inbox, tmp_path, student):
    """`nbgrader validate batchnorm/01_forward_bn.ipynb`, from the folder that holds the
    release folder: the release's config is not read there, and the verdict is the checks'."""
    stem = stem_of("batchnorm_forward")
    folder = student_folder(released_course, tmp_path, sample=inbox / student, stem=stem)
    assert not any((p / "nbgrader_config.json").exists() for p in folder.parent.parents)
    passed, output = validate_as_student(released_course, folder, stem, from_parent=True)
    assert passed == expected_to_pass(student, stem), output
    if not passed:
        assert "batchnorm_forward" in output, output
