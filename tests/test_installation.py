"""`pip install .` from a copy of the checkout (not editable) into a fresh venv, with the
copy deleted afterwards, gives a `bnlab-grade` that runs the whole pipeline on sample
submissions in another folder: the package needs nothing of the checkout, and declares
every package it needs."""

import csv
import os
import shutil
import subprocess
import venv

import pytest
from autograder_support import ROOT, checkout_copy

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


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
