"""grade refuses a student wheel whose grading runtime is not the grader's own.

The notebooks run in the sandbox with the student venv's bnlab/_grading, built from the
release's wheel; a grader upgraded without a new release would start a runtime it does not
speak to. It says so, and what to run, instead of failing every student.
"""

import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest

import bnlab
from autograder.errors import GraderError
from autograder.pipeline import grade

RUNTIME = Path(bnlab.__file__).parent / "_grading"


def _wheel(folder, change=None):
    """A wheel holding this checkout's bnlab/_grading, with `change` (name, text) applied."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "bnlab-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        files = {source.name: source.read_bytes() for source in sorted(RUNTIME.glob("*.py"))}
        if change:
            files[change[0]] = change[1].encode()
        for name, data in files.items():
            archive.writestr(f"bnlab/_grading/{name}", data)
        archive.writestr("bnlab/__init__.py", "")
    return path


def test_a_wheel_with_this_runtime_is_used(tmp_path):
    wheel = _wheel(tmp_path / "dist")
    assert grade._student_wheel(SimpleNamespace(dist=tmp_path / "dist")) == wheel


@pytest.mark.parametrize(
    "change",
    [("forkserver.py", "# an older runtime\n"), ("retired.py", "x = 1\n")],
    ids=["changed module", "extra module"],
)
def test_a_wheel_with_another_runtime_is_refused_with_what_to_run(tmp_path, change):
    _wheel(tmp_path / "dist", change)
    with pytest.raises(GraderError, match="another version of bnlab.*autograder release"):
        grade._student_wheel(SimpleNamespace(dist=tmp_path / "dist"))


def test_a_wheel_without_the_runtime_is_refused(tmp_path):
    (tmp_path / "dist").mkdir()
    with zipfile.ZipFile(tmp_path / "dist" / "bnlab-0.1.0-py3-none-any.whl", "w") as archive:
        archive.writestr("bnlab/forkserver.py", "# the runtime before it was private\n")
    with pytest.raises(GraderError, match="another version of bnlab"):
        grade._student_wheel(SimpleNamespace(dist=tmp_path / "dist"))
