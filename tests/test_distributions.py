"""The repository's distributions, built and installed the way anyone would.

- Every project of the repository (each pyproject.toml) is built with
  `python -m build` and with `pip wheel`: the student's distributions hold the
  package bnlab and nothing instructor-only, by path or by content; the
  instructor's are named differently.
- `pip install .` from a copy of the checkout (not editable) into a fresh venv,
  with the copy deleted afterwards, gives a `bnlab-grade` that runs the whole
  pipeline on sample submissions in another folder.

What counts as instructor-only is read here from the checkout itself (the
package autograder/ and the reference bodies), not from the code under test.
"""

import ast
import csv
import os
import shutil
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest
from autograder_support import ROOT

from autograder.pipeline import leaks

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

STUDENT, INSTRUCTOR = "bnlab", "bnlab_instructor"


def checkout_copy(dest):
    """The files git tracks (and new ones it would track), copied to `dest`: a clean checkout."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (item.decode() for item in listed)):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


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


def test_an_installation_from_a_checkout_grades_in_another_folder(tmp_path):
    source = checkout_copy(tmp_path / "checkout")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    pip = [str(env_dir / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    # --no-compile: the bytecode of the dependencies is written as they are imported
    result = subprocess.run(
        [*pip, "install", "--quiet", "--no-compile", str(source)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    shutil.rmtree(source)  # the installation must not need the checkout

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = os.pathsep.join(
        p for p in env["PATH"].split(os.pathsep) if not p.startswith(str(ROOT))
    )
    # The untouched release, and the solution with one classic mistake: between them
    # every graded function is seen to fail and to pass (all but the mistaken one).
    students = ["release", "mistake-batchnorm_forward-unbiased_variance"]
    result = subprocess.run(
        [
            str(env_dir / "bin" / "bnlab-grade"),
            "all",
            "--samples",
            "--course",
            "course",
            "--workers",
            "2",
            "--no-progress",
        ]
        + [arg for student in students for arg in ("--student", student)],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "the release checks passed" in result.stdout
    with open(elsewhere / "course" / "reports" / "grades.csv", newline="") as file:
        scores = {row["student_id"]: float(row["raw_score"]) for row in csv.DictReader(file)}
    assert sorted(scores) == sorted(students)
    assert scores["release"] == 0, scores
    # 100 points, 10 of them for the three written answers (graded by hand, pending here):
    # the mistake costs batchnorm_forward's 8 points and nothing else
    assert scores["mistake-batchnorm_forward-unbiased_variance"] == 82, scores
    # The installed package, not a checkout, did the work.
    probe = subprocess.run(
        [
            str(env_dir / "bin" / "python"),
            "-c",
            "import autograder, bnlab; print(autograder.__file__, bnlab.__file__)",
        ],
        cwd=elsewhere,
        capture_output=True,
        text=True,
    )
    assert probe.stdout.count(str(env_dir)) == 2, probe.stdout
