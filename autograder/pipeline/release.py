"""Step 1, release: the student notebooks and the student wheel, and the checks that guard them.

1. Copy the source notebooks (only the .ipynb files) into source/batchnorm/ and
   run nbgrader generate_assignment: release/batchnorm/ and the gradebook's
   record of every graded cell. The copies lose the markers only nbval reads
   (NBVAL_* comment lines and nbval-* tags), and their example cells are tagged
   EXAMPLE_TAG, which the students' Validate skips. Beside the notebooks go the
   students' own nbgrader_config.py and .json (student_config_text), so that
   nbgrader's Validate gives students the verdict the release checks give, in a
   few lines per failing check.
2. Build the student wheel (dist/) with `pip wheel`, from the student project
   (autograder.boundary): the package bnlab, which holds no instructor code.
3. Check, and fail the step on any problem:
   - no leak: no solution line, no nbgrader delimiter, no grader-only module,
     in any file of the release or of the wheel;
   - the release notebooks fail nbgrader validation (an untouched stub must
     not pass);
   - in a fresh virtual environment whose only bnlab is the student wheel,
     every release notebook runs to its first stub without an ImportError.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat

from autograder import boundary
from autograder.errors import GraderError
from autograder.grading.student_venv import student_venv
from autograder.pipeline import leaks
from autograder.pipeline.selfstudy import strip_test_markers
from autograder.workspace import headless_environ, ipc_prefix, write_if_changed
from bnlab.course import ASSIGNMENT, NOTEBOOKS


class ReleaseError(GraderError):
    """A release check failed; the message lists every problem."""


def copy_source(course, notebook_dir=None):
    """Mirror the .ipynb files of `notebook_dir` (default: the instructor's source notebooks)
    into course/source/batchnorm/ (nothing else)."""
    notebook_dir = notebook_dir or boundary.source_notebooks()
    course.source.mkdir(parents=True, exist_ok=True)
    wanted = {f"{stem}.ipynb" for stem in NOTEBOOKS}
    missing = [name for name in sorted(wanted) if not (Path(notebook_dir) / name).exists()]
    if missing:
        raise ReleaseError(f"source notebooks missing from {notebook_dir}: {', '.join(missing)}")
    for path in course.source.iterdir():
        if path.name not in wanted:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    for name in sorted(wanted):
        text = (Path(notebook_dir) / name).read_text(encoding="utf-8")
        write_if_changed(course.source / name, student_source(text))


def student_source(text):
    """The text of a source notebook as the release is made from it: without nbval's
    markers (students see every line of a cell, and these mean nothing to them) and with
    its example cells tagged EXAMPLE_TAG. The text itself if nothing changes. Made before
    nbgrader generates the release, so that the gradebook's record of every locked cell
    matches what students get."""
    notebook = nbformat.reads(text, as_version=4)
    changed = strip_test_markers(notebook)
    for cell in notebook.cells:
        if is_example(cell) and EXAMPLE_TAG not in cell.metadata.get("tags", []):
            cell.metadata["tags"] = [*cell.metadata.get("tags", []), EXAMPLE_TAG]
            changed = True
    if not changed:
        return text
    out = nbformat.writes(notebook)
    return out if out.endswith("\n") else out + "\n"


def is_example(cell):
    """A code cell that nbgrader does not grade, hand to the student or lock: an example
    that runs the student's functions (and fails while one is a stub)."""
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and not any(
        meta.get(key) for key in ("grade", "solution", "locked", "task")
    )


def generate(course):
    """nbgrader generate_assignment into course/release/batchnorm/."""
    course.apply_environ()
    result = course.api().generate_assignment(ASSIGNMENT, force=True, create=True)
    if not result.get("success"):
        raise ReleaseError(
            "nbgrader generate_assignment failed:\n"
            + (result.get("error") or "")
            + (result.get("log") or "")
        )


# The students' nbgrader configuration, written into the release folder as
# nbgrader_config.py and nbgrader_config.json (the same settings). nbgrader's Validate
# (`nbgrader validate`, and the Validate button) reads both from the folder it runs in (the
# shell's for the command, the Jupyter server's, not the notebook's, for the button) and
# from Jupyter's config folders (`jupyter --paths`); it warns "No nbgrader_config.py file
# found" unless a .py is in one of them. The .json is for nbgrader's exchange, which leaves
# out the *.py files of an assignment (Course.nbgrader_config: CourseDirectory.ignore).
# It holds nothing of the instructor's: no path, no database, no course root.
#
# - validate_all: every failing code cell counts, as in the release checks: with nbgrader's
#   default only the graded cells count, and a test cell whose tests are all hidden passes
#   on an untouched stub.
# - the example cells (EXAMPLE_TAG) are not run: they only show the student's functions at
#   work and fail while one is a stub, which would bury the checks' verdict under a
#   traceback each. The checks, the student's cells and the test cells run.
# - the kernel prints an error as one line (IPython's Minimal traceback mode): the cell's
#   source and the check's message say where; and the kernel's own warnings (e.g. that it
#   talks to nbgrader over local TCP without encryption) are not shown.
# - width: nbgrader cuts every line of its report at this width (default 90, which cut most
#   of the checks' "Likely mistake: ..." lines short; the longest is about 255 characters)
#   and draws its separator lines this long: a terminal wraps them, nothing is lost.
STUDENT_CONFIG = "nbgrader_config.json"
STUDENT_CONFIG_PY = "nbgrader_config.py"
EXAMPLE_TAG = "skipped-by-validate"
STUDENT_SETTINGS = {
    "Validator": {"validate_all": True, "width": 260},
    "Execute": {
        "skip_cells_with_tag": EXAMPLE_TAG,
        "extra_arguments": ["--InteractiveShell.xmode=Minimal", "--IPKernelApp.log_level=ERROR"],
    },
}


def student_config_text():
    """The text of the students' nbgrader_config.json (traitlets' JSON config format)."""
    return json.dumps(STUDENT_SETTINGS, indent=1, sort_keys=True) + "\n"


def student_config_py_text():
    """The text of the students' nbgrader_config.py: the same settings."""
    lines = [
        "# nbgrader's settings for `nbgrader validate` and the Validate button: every failing",
        "# cell counts, the example cells are not run, and each error is shown in one line.",
        "c = get_config()",
    ]
    for section, settings in sorted(STUDENT_SETTINGS.items()):
        lines += [f"c.{section}.{key} = {value!r}" for key, value in sorted(settings.items())]
    return "\n".join(lines) + "\n"


def write_student_config(folder):
    """Write the students' nbgrader_config.json and .py into `folder` (the release folder)."""
    write_if_changed(Path(folder) / STUDENT_CONFIG, student_config_text())
    write_if_changed(Path(folder) / STUDENT_CONFIG_PY, student_config_py_text())


def build_student_wheel(dest):
    """The student wheel, built into folder `dest` by `pip wheel` from the student project;
    returns its path. Built from a clean copy (no caches), with the build backend of this
    environment (no download), reproducibly: hatchling fixes the archive's timestamps."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bnlab-student-") as scratch:
        project = Path(scratch) / boundary.STUDENT_PACKAGE
        shutil.copytree(
            boundary.student_project(),
            project,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "dist", "build"),
        )
        out = Path(scratch) / "wheel"
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--quiet",
                "--no-deps",
                "--no-build-isolation",
                "--disable-pip-version-check",
                "--wheel-dir",
                str(out),
                str(project),
            ],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise ReleaseError(f"building the student wheel failed:\n{result.stderr[-3000:]}")
        (built,) = out.glob("*.whl")
        for old in dest.glob(f"{boundary.STUDENT_DISTRIBUTION}-*.whl"):
            old.unlink()
        wheel = dest / built.name
        shutil.move(built, wheel)
    return wheel


# ------------------------------------------------------------------ checks


def check_leaks(course, wheel):
    lines = leaks.solution_lines()
    problems = [f"leak: {leak}" for leak in leaks.scan_folder(course.release, lines)]
    problems += [f"leak: {leak}" for leak in leaks.scan_student_distribution(wheel, lines)]
    return problems


def validate_notebook(course, path):
    """nbgrader's validation of one notebook: {'failed': [...]} etc.; {} means it passes."""
    from nbgrader.validator import Validator

    course.apply_environ()
    # The release's own notebooks hold no student code: they run in this environment's
    # python3 kernel, not in the grading sandbox.
    validator = Validator(config=course.nbgrader_config(ipc=ipc_prefix()))
    return validator.validate(str(path))


def check_stubs_fail_validation(course):
    problems = []
    for stem in NOTEBOOKS:
        path = course.release / f"{stem}.ipynb"
        results = validate_notebook(course, path)
        if not results.get("failed"):
            problems.append(
                f"validation: {path.name} passes nbgrader validation as released "
                f"(an untouched stub must fail): {sorted(results) or 'no failures'}"
            )
    return problems


PROBE = r"""
import json, sys, traceback
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

report = {}
try:
    import bnlab
    report["bnlab"] = bnlab.__file__
except Exception as error:
    report["bnlab"] = f"cannot import bnlab: {error!r}"
try:
    import INSTRUCTOR_PACKAGE
    report["instructor_package"] = INSTRUCTOR_PACKAGE.__file__
except ImportError:
    report["instructor_package"] = None
results = {}
for path in sys.argv[1:]:
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook, timeout=300, kernel_name="python3", allow_errors=False,
        resources={"metadata": {"path": str(__import__("pathlib").Path(path).parent)}},
    )
    first_solution = next(
        (i for i, cell in enumerate(notebook.cells)
         if cell.get("metadata", {}).get("nbgrader", {}).get("solution")
         and cell.cell_type == "code"), None)
    try:
        client.execute()
        results[path] = {"error": None, "first_solution": first_solution}
    except CellExecutionError as error:
        index = next(
            (i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"
             and any(o.get("output_type") == "error" for o in cell.get("outputs", []))), None)
        results[path] = {"error": error.ename, "evalue": str(error.evalue)[:500],
                         "cell": index, "first_solution": first_solution}
    except Exception as error:
        results[path] = {"error": type(error).__name__, "evalue": str(error)[:500],
                         "cell": None, "first_solution": first_solution}
report["notebooks"] = results
print(json.dumps(report))
"""

IMPORT_ERRORS = {"ImportError", "ModuleNotFoundError", "LoadError"}


def is_stub_error(found):
    """Whether a notebook stopped at a stub: NotImplementedError, or a check saying so.
    (The stub may be this notebook's or an earlier one's, loaded with load_graded.)"""
    return found["error"] == "NotImplementedError" or "not implemented" in found.get("evalue", "")


def run_in_student_venv(course, wheel, notebooks):
    """Run `notebooks` (paths) in the student venv; the probe's report (dict).

    The other notebooks of each one's folder are copied beside it too, as a
    student has them: later notebooks load the student's earlier functions.
    """
    venv = student_venv(course, wheel)
    with tempfile.TemporaryDirectory(prefix="probe-", dir=course.work) as folder:
        folder = Path(folder)
        for sibling in {p for path in notebooks for p in Path(path).parent.glob("*.ipynb")}:
            shutil.copy(sibling, folder / sibling.name)
        copies = [str(folder / Path(path).name) for path in notebooks]
        script = folder / "probe.py"
        script.write_text(
            PROBE.replace("INSTRUCTOR_PACKAGE", boundary.INSTRUCTOR_PACKAGE), encoding="utf-8"
        )
        outside = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "JUPYTER_PATH")
        env = headless_environ(
            {key: value for key, value in os.environ.items() if key not in outside},
            JUPYTER_PATH=str(venv / "share" / "jupyter"),
            PATH=os.environ.get("PATH", ""),  # the student venv's python is called by path
        )
        result = subprocess.run(
            [str(venv / "bin" / "python"), str(script), *copies],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        if result.returncode != 0:
            raise ReleaseError(f"the student-venv probe failed:\n{result.stderr[-3000:]}")
        report = json.loads(result.stdout.strip().splitlines()[-1])
    report["notebooks"] = {Path(k).name: v for k, v in report["notebooks"].items()}
    return report


def check_student_venv(course, wheel):
    """Problems found running the release notebooks in the student venv."""
    notebooks = [course.release / f"{stem}.ipynb" for stem in NOTEBOOKS]
    report = run_in_student_venv(course, wheel, notebooks)
    problems = []
    venv = str((course.work / "student-venv").resolve())
    if not str(report["bnlab"]).startswith(venv):
        problems.append(f"student venv: bnlab did not come from the wheel: {report['bnlab']}")
    if report["instructor_package"]:
        problems.append(
            f"student venv: the instructor-only package can be imported: "
            f"{report['instructor_package']}"
        )
    for name, found in report["notebooks"].items():
        error, cell = found["error"], found.get("cell")
        if error is None:
            problems.append(f"student venv: {name} ran to the end: it has no stub that stops it")
        elif error in IMPORT_ERRORS:
            problems.append(f"student venv: {name} raised {error}: {found['evalue']}")
        elif not is_stub_error(found):
            problems.append(
                f"student venv: {name} stopped at {error} in cell {cell}, not at a stub: "
                f"{found['evalue']}"
            )
    return problems


# ------------------------------------------------------------------ the step


def release(course, notebook_dir=None, checks=True, log=print):
    """Run step 1; raises ReleaseError listing every problem. Returns the wheel's path."""
    course.prepare()
    copy_source(course, notebook_dir)
    log(f"release: generating {course.release.relative_to(course.root)} with nbgrader")
    generate(course)
    write_student_config(course.release)
    wheel = build_student_wheel(course.dist)
    log(f"release: student wheel {wheel.relative_to(course.root)}")
    report = {"release": str(course.release), "wheel": str(wheel), "problems": []}
    if checks:
        problems = check_leaks(course, wheel)
        log(f"release: leak scan of release and wheel: {len(problems)} problem(s)")
        # The student-venv run is a separate process: it overlaps with validation.
        with ThreadPoolExecutor(1) as pool:
            probe = pool.submit(check_student_venv, course, wheel)
            validation = check_stubs_fail_validation(course)
            venv = probe.result()
        log(f"release: untouched release notebooks fail validation: {not validation}")
        log(f"release: release notebooks reach their first stub in a fresh venv: {not venv}")
        report["problems"] = problems + validation + venv
    write_if_changed(course.reports / "release.json", json.dumps(report, indent=1) + "\n")
    if report["problems"]:
        raise ReleaseError("release checks failed:\n  " + "\n  ".join(report["problems"]))
    return wheel
