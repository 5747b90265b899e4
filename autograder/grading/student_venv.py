"""The student venv: a virtual environment whose only bnlab is the student wheel.

The release runs its notebooks in it (the release checks), and grading runs every
student's code with its Python (here, the course's .work/student-venv; on a Dask
worker, one the worker makes from the wheel the task brings).
"""

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from autograder import boundary
from autograder.workspace import KERNEL_ENV, write_if_changed


def _is_course_distribution(name):
    """Whether a site-packages entry belongs to bnlab or bnlab-instructor (path files, such as
    an editable install's, are left out too: nothing reads them in a borrowed folder)."""
    names = {boundary.STUDENT_PACKAGE, boundary.INSTRUCTOR_PACKAGE}
    names |= {
        distribution.replace("-", "_")
        for distribution in (boundary.STUDENT_DISTRIBUTION, boundary.INSTRUCTOR_DISTRIBUTION)
    }
    return name.endswith(".pth") or name.split("-", 1)[0].lower() in names


def student_venv(course, wheel):
    """The course's student venv (.work/student-venv): make_student_venv; its folder."""
    venv = course.work / "student-venv"
    make_student_venv(venv, wheel)
    return venv


def make_student_venv(venv, wheel):
    """A fresh venv at `venv` with the student wheel as its only bnlab; its Python.

    Its third-party packages (numpy, matplotlib, ipykernel, nbclient, ...) are
    borrowed read-only from this environment: a folder of links to everything in
    this environment's site-packages except the two course distributions (the
    packages bnlab and autograder, their metadata, an editable install's path
    file), put on the venv's path. So `import bnlab` can only find the wheel,
    and the instructor-only package is not there at all.
    """
    venv = Path(venv)
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    site_packages = venv / "lib" / version / "site-packages"
    borrowed = venv / "borrowed"
    shutil.rmtree(borrowed, ignore_errors=True)
    borrowed.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not _is_course_distribution(entry.name):
            (borrowed / entry.name).symlink_to(entry)
    (site_packages / "_borrowed_dependencies.pth").write_text(f"{borrowed}\n", encoding="utf-8")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            "--force-reinstall",
            "--disable-pip-version-check",
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    kernels = venv / "share" / "jupyter" / "kernels" / "python3"
    kernels.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (student wheel)",
        "language": "python",
        "env": KERNEL_ENV,
    }
    write_if_changed(kernels / "kernel.json", json.dumps(spec))
    return python
