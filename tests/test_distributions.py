"""The repository's distributions, built the way anyone would.

- Every project of the repository (each pyproject.toml) is built with
  `python -m build` and with `pip wheel`: the student's distributions hold the
  package bnlab and nothing instructor-only, by path or by content; the
  instructor's are named differently.

The installation from a checkout is tested in test_installation.py.

What counts as instructor-only is read here from the checkout itself (the
package autograder/ and the reference bodies), not from the code under test.
"""

import ast
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from autograder_support import ROOT, checkout_copy

from autograder.pipeline import leaks

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

STUDENT, INSTRUCTOR = "bnlab", "bnlab_instructor"


def projects():
    """The folders of the repository that hold a pyproject.toml."""
    return sorted(
        path.parent.relative_to(ROOT).as_posix()
        for path in ROOT.rglob("pyproject.toml")
        if not {".venv", ".venv-lab", "course", "build", "dist"} & set(path.relative_to(ROOT).parts)
    )


def members(path):
    """{member name: bytes} of a wheel or an sdist, read here without the code under test."""
    if path.name.endswith(".tar.gz"):
        with tarfile.open(path) as archive:
            return {
                m.name: archive.extractfile(m).read() for m in archive.getmembers() if m.isfile()
            }
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def instructor_sources():
    """{relative path: bytes} of the instructor-only modules of the checkout."""
    root = ROOT / "autograder"
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*.py")
        if "__pycache__" not in p.parts
    }


# Reference lines that public helpers hold on purpose: seeding a generator, counting layers.
PUBLIC_ON_PURPOSE = {
    "rng = np.random.default_rng(seed)",
    'L = sum(1 for key in parameters if key.startswith("W"))',
    "A = activation_forward(Z_tilde, activation)",
}


def reference_body_lines():
    """Code lines (30 characters or more) of the function bodies of the reference, after
    their docstrings: none may be in a student's distribution."""
    source = (ROOT / "autograder" / "content" / "reference.py").read_text(encoding="utf-8")
    lines = source.splitlines()
    found = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef):
            body = node.body[1:] if isinstance(node.body[0], ast.Expr) else node.body
            for line in lines[body[0].lineno - 1 : node.end_lineno]:
                code = line.split("#", 1)[0].strip()
                if len(code) >= 30 and code not in PUBLIC_ON_PURPOSE:
                    found.add(code)
    return found


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """{file name: path} of every distribution built from a clean copy of the checkout, by
    `python -m build` (sdist and wheel) and by `pip wheel`."""
    source = checkout_copy(tmp_path_factory.mktemp("checkout"))
    out = tmp_path_factory.mktemp("dist")
    for project in projects():
        for tool, command in (
            ("build", [sys.executable, "-m", "build", "--outdir"]),
            ("pip-wheel", [sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir"]),
        ):
            dest = out / project.replace("/", "_").replace(".", "root") / tool
            result = subprocess.run(
                [*command, str(dest), str(source / project)], capture_output=True, text=True
            )
            assert result.returncode == 0, f"{tool} {project}:\n{result.stderr[-3000:]}"
    return {
        path.relative_to(out).as_posix(): path for path in sorted(out.rglob("*")) if path.is_file()
    }


def test_the_repository_holds_a_student_and_an_instructor_project():
    assert projects() == [".", "bnlab"]


def test_each_tool_builds_one_student_and_one_instructor_distribution(built):
    names = sorted(Path(name).name for name in built)
    assert names == sorted(
        [f"{STUDENT}-0.1.0.tar.gz", f"{STUDENT}-0.1.0-py3-none-any.whl"]
        + [f"{INSTRUCTOR}-0.1.0.tar.gz", f"{INSTRUCTOR}-0.1.0-py3-none-any.whl"]
        + [f"{STUDENT}-0.1.0-py3-none-any.whl", f"{INSTRUCTOR}-0.1.0-py3-none-any.whl"]
    )


def test_student_distributions_hold_no_instructor_file_and_no_solution_line(built):
    student = {k: v for k, v in built.items() if Path(k).name.startswith(f"{STUDENT}-")}
    assert len(student) == 3, built
    originals = {
        data.strip(): name for name, data in instructor_sources().items() if len(data) > 64
    }
    solution = reference_body_lines()
    assert len(solution) > 50, "too few reference lines to search for"
    for name, path in student.items():
        contents = members(path)
        for member, data in contents.items():
            inside = member.split("/", 1)[1] if path.name.endswith(".tar.gz") else member
            assert "autograder" not in Path(inside).parts, (name, member)
            assert data.strip() not in originals, (name, member, originals.get(data.strip()))
            text = data.decode("utf-8", "replace")
            found = [line for line in solution if line in text]
            assert not found, (name, member, found[:3])
        # The code under test agrees.
        assert leaks.scan_student_distribution(path) == [], name
        if path.suffix == ".whl":
            tops = {member.split("/", 1)[0] for member in contents}
            assert tops == {"bnlab", "bnlab-0.1.0.dist-info"}, (name, tops)


def test_instructor_distributions_hold_the_solutions_and_the_notebooks(built):
    # The other side of the line: what the student's lack is really in the instructor's.
    wheels = [
        p
        for k, p in built.items()
        if Path(k).name.startswith(f"{INSTRUCTOR}-") and p.suffix == ".whl"
    ]
    assert len(wheels) == 2
    for wheel in wheels:
        contents = members(wheel)
        names = set(contents)
        assert {
            "autograder/content/reference.py",
            "autograder/content/hidden_tests/__init__.py",
        } <= names
        notebooks = {n for n in names if n.startswith("autograder/notebooks/")}
        assert notebooks == {
            f"autograder/notebooks/{p.name}" for p in (ROOT / "notebooks").glob("*.ipynb")
        }
        assert "bnlab/pyproject.toml" in names  # the release builds the student wheel from it
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        scripts = contents[entry_points].decode("utf-8")
        assert "bnlab-grade = autograder.cli:main" in scripts, scripts
