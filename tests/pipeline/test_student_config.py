"""What a student sees of nbgrader: the release's student config and its notebooks.

A student runs `nbgrader validate` in the release folder, or one folder up with the
config copied into Jupyter's config folder as the README says, with the student venv
and nothing of the instructor's. Validate of an untouched release notebook must fail
in a few lines that name every graded function of the notebook, with no warning about
a missing config. The release notebooks show none of the markers only nbval reads.
The expected names come from bnlab.course, the markers from the source notebooks.
"""

import os
import re
import shutil
import subprocess

import nbformat
import pytest
from autograder_support import SOURCE
from traitlets.config.loader import JSONFileConfigLoader, PyFileConfigLoader

from autograder.content.mistakes import all_mistakes
from autograder.content.samples import generate
from autograder.pipeline import release
from autograder.workspace import MANUAL_ANSWERS, headless_environ
from bnlab.course import ASSIGNMENT, NOTEBOOKS

FAILED = "VALIDATION FAILED ON"
NO_CONFIG = "No nbgrader_config.py file found"
# At most so many lines of `nbgrader validate` output on an untouched notebook (it was 162
# to 520 lines a notebook): a few for the notebook, and for each graded function its check
# and test cells (each a separator, a few lines of source and the check's message), for
# each written answer its cell.
LINES_PER_NOTEBOOK = 6
LINES_PER_FUNCTION = 30
LINES_PER_ANSWER = 12
MARKER = re.compile(r"nbval", re.IGNORECASE)
MISTAKE = ("batchnorm_forward", "wrong_axis")


def test_the_python_config_holds_the_json_config(tmp_path):
    (tmp_path / "nbgrader_config.py").write_text(release.student_config_py_text())
    (tmp_path / "nbgrader_config.json").write_text(release.student_config_text())
    from_py = PyFileConfigLoader("nbgrader_config.py", path=str(tmp_path)).load_config()
    from_json = JSONFileConfigLoader("nbgrader_config.json", path=str(tmp_path)).load_config()
    assert from_py == from_json
    assert from_json.Validator.validate_all is True


def test_student_source_strips_markers_and_tags_examples():
    notebook = nbformat.v4.new_notebook()
    example = nbformat.v4.new_code_cell(
        "# NBVAL_CHECK_OUTPUT\nx = 1\n  #NBVAL_IGNORE_OUTPUT  \n## nbval_skip\nprint(x)",
        metadata={"tags": ["nbval-check-output", "keep"]},
    )
    locked = nbformat.v4.new_code_cell(
        "# NBVAL_RAISES_EXCEPTION\ncheck(f)",
        metadata={"nbgrader": {"locked": True, "grade": False, "solution": False}},
    )
    notebook.cells = [example, locked, nbformat.v4.new_markdown_cell("text")]
    made = nbformat.reads(release.student_source(nbformat.writes(notebook)), as_version=4)
    assert made.cells[0].source == "x = 1\nprint(x)"
    assert made.cells[0].metadata["tags"] == ["keep", release.EXAMPLE_TAG]
    assert made.cells[1].source == "check(f)"
    assert "tags" not in made.cells[1].metadata
    assert "tags" not in made.cells[2].metadata
    plain = nbformat.writes(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("a")]))
    assert release.student_source(plain) == plain


@pytest.mark.slow
def test_release_notebooks_show_no_nbval_marker(released_course):
    def markers(folder):
        found = []
        for path in sorted(folder.glob("*.ipynb")):
            for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
                tags = " ".join(map(str, cell.metadata.get("tags", [])))
                if MARKER.search(cell.source) or MARKER.search(tags):
                    found.append(f"{path.name} cell {index}")
        return found

    assert markers(SOURCE), "the source notebooks hold no nbval marker: nothing to test"
    assert markers(released_course / "release" / ASSIGNMENT) == []


def student_env(released_course, home):
    """The environment of a student's shell: the student venv first on PATH, an empty home
    and Jupyter config folder, nothing of the instructor's."""
    venv = released_course / ".work" / "student-venv"
    outside = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "JUPYTER_PATH", "JUPYTER_CONFIG_PATH")
    (home / ".jupyter").mkdir(parents=True, exist_ok=True)
    return headless_environ(
        {key: value for key, value in os.environ.items() if key not in outside},
        HOME=str(home),
        JUPYTER_CONFIG_DIR=str(home / ".jupyter"),
        JUPYTER_PATH=str(venv / "share" / "jupyter"),
        PATH=os.pathsep.join([str(venv / "bin"), os.environ.get("PATH", "")]),
        PYTHONUNBUFFERED="1",  # the log (stderr) and the report (stdout) in order
    )


def validate(released_course, home, cwd, notebooks):
    """`nbgrader validate NOTEBOOKS...` run by the student in `cwd`: {notebook: its lines}."""
    venv = released_course / ".work" / "student-venv"
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "nbgrader", "validate", *notebooks],
        cwd=cwd,
        env=student_env(released_course, home),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout
    reports, current = {}, None
    for line in result.stdout.splitlines():
        started = re.search(r"Validating '.*/([^/]+)\.ipynb'", line)
        if started:
            current = started.group(1)
        reports.setdefault(current, []).append(line)
    return reports


def student_home(released_course, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(released_course / "release" / ASSIGNMENT, home / ASSIGNMENT)
    return home


def assert_short_and_named(reports, stems):
    assert reports.get(None, []) == [], "nbgrader printed something before validating"
    assert sorted(reports) == sorted(stems), reports.keys()
    for stem in stems:
        text = "\n".join(reports[stem])
        assert FAILED in text, text
        assert "WARNING" not in text, text
        for function in NOTEBOOKS[stem]:
            assert re.search(rf"Check failed: {function}\b", text), (function, text)
        answers = [answer for answer, notebook in MANUAL_ANSWERS.items() if notebook == stem]
        bound = (
            LINES_PER_NOTEBOOK
            + LINES_PER_FUNCTION * len(NOTEBOOKS[stem])
            + LINES_PER_ANSWER * len(answers)
        )
        assert len(reports[stem]) <= bound, (len(reports[stem]), text)


@pytest.mark.slow
def test_validate_in_the_release_folder_is_short_and_names_every_function(
    released_course, tmp_path
):
    home = student_home(released_course, tmp_path)
    stems = list(NOTEBOOKS)
    reports = validate(released_course, home, home / ASSIGNMENT, [f"{s}.ipynb" for s in stems])
    assert not any(NO_CONFIG in line for lines in reports.values() for line in lines)
    assert_short_and_named(reports, stems)


@pytest.mark.slow
def test_validate_one_folder_up_with_the_config_in_jupyters_folder(released_course, tmp_path):
    """The README: copy the config files into Jupyter's config folder to validate from
    anywhere (here from the folder above the release folder)."""
    home = student_home(released_course, tmp_path)
    python = released_course / ".work" / "student-venv" / "bin" / "python"
    config_dir = subprocess.run(
        [str(python), "-m", "jupyter", "--config-dir"],
        env=student_env(released_course, home),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert config_dir == str(home / ".jupyter")
    for name in (release.STUDENT_CONFIG, release.STUDENT_CONFIG_PY):
        shutil.copy(home / ASSIGNMENT / name, config_dir)
    stem = "03_removing_b"
    reports = validate(released_course, home, home, [f"{ASSIGNMENT}/{stem}.ipynb"])
    assert_short_and_named(reports, [stem])


@pytest.mark.slow
def test_validate_shows_a_mistakes_hint_whole(released_course, tmp_path):
    """A classic mistake in 01: Validate's report holds the check's hint in full (nbgrader
    cuts each line of its report at Validator.width)."""
    function, mistake_id = MISTAKE
    (mistake,) = [m for m in all_mistakes() if (m.function, m.id) == MISTAKE]
    student = f"mistake-{function}-{mistake_id}"
    generate(tmp_path / "inbox", SOURCE, released_course / "release" / ASSIGNMENT, [student])
    home = student_home(released_course, tmp_path)
    stem = "01_forward_bn"
    shutil.copy(tmp_path / "inbox" / student / ASSIGNMENT / f"{stem}.ipynb", home / ASSIGNMENT)
    reports = validate(released_course, home, home / ASSIGNMENT, [f"{stem}.ipynb"])
    text = " ".join(" ".join(reports[stem]).split())
    assert FAILED in text, text
    assert " ".join(mistake.hint.split()) in text, text
