"""The course workspace: where each step reads and writes, and nbgrader's configuration.

    course/                      (--course; git-ignored)
      nbgrader_config.py         generated: timeouts, memory limit, restored test cells
      gradebook.db               the SQLite gradebook (unless --db-url)
      source/batchnorm/          the instructor's notebooks, copied from notebooks/
      release/batchnorm/         what students receive (nbgrader generate_assignment)
      dist/                      the student wheel of bnlab
      submitted/<student>/batchnorm/   what students handed in (collect writes here)
      autograded/<student>/batchnorm/  the graded copies (grade writes here)
      feedback/<student>/batchnorm/    HTML feedback (feedback writes here)
      reports/                   collect.json, grade/<student>.json, grades.csv,
                                 breakdown.csv, flags.csv, summary.txt
      .jupyter/kernels/python3/  the grading kernel (memory-limited), first on JUPYTER_PATH
      .work/                     scratch space of a running step (safe to delete)

The grading kernel is named ``python3`` on purpose: nbgrader forces the source
notebooks' kernel name onto every submission, so a differently named kernel
would never be used.
"""

import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from bnlab.course import ASSIGNMENT, NOTEBOOKS

COURSE_ID = "bnlab"
MANUAL_ANSWERS = {"why_no_b": "03_removing_b"}  # markdown answers graded by hand

# Deliberate limits of the grading kernel (see the instructor's guide).
# Seconds per cell. While grading, the longest cell that runs (an imports cell)
# takes under a second, a hidden test a fraction of one: 15 s is a wide margin
# on a loaded machine, and a loop that never ends costs 15 s per cell that
# calls it. With --run-all-cells the notebooks' training experiments run too:
# they get 120 s.
CELL_TIMEOUT = 15
CELL_TIMEOUT_ALL_CELLS = 120
MEMORY_LIMIT = 3 * 1024**3  # bytes of address space per grading kernel

KERNEL_ENV = {
    "PYTHONWARNINGS": "ignore",  # any stderr in a test cell would score it 0
    "MPLBACKEND": "Agg",
    # One thread per kernel: parallel graders share the cores instead of fighting for them.
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "PYDEVD_DISABLE_FILE_VALIDATION": "1",
}


@dataclass
class Course:
    """The course workspace rooted at `root`, with its gradebook at `db_url`."""

    root: Path
    db_url: str = ""
    timeout: int = 0  # 0: CELL_TIMEOUT, or CELL_TIMEOUT_ALL_CELLS with run_all_cells
    memory_limit: int = MEMORY_LIMIT
    run_all_cells: bool = False

    def __post_init__(self):
        self.root = Path(self.root).resolve()
        if not self.db_url:
            self.db_url = f"sqlite:///{self.root / 'gradebook.db'}"
        if not self.timeout:
            self.timeout = CELL_TIMEOUT_ALL_CELLS if self.run_all_cells else CELL_TIMEOUT

    # ------------------------------------------------------------ paths
    @property
    def source(self):
        return self.root / "source" / ASSIGNMENT

    @property
    def release(self):
        return self.root / "release" / ASSIGNMENT

    @property
    def submitted(self):
        return self.root / "submitted"

    @property
    def autograded(self):
        return self.root / "autograded"

    @property
    def feedback(self):
        return self.root / "feedback"

    @property
    def dist(self):
        return self.root / "dist"

    @property
    def reports(self):
        return self.root / "reports"

    @property
    def work(self):
        return self.root / ".work"

    @property
    def jupyter_dir(self):
        return self.root / ".jupyter"

    @property
    def config_file(self):
        return self.root / "nbgrader_config.py"

    def submission(self, student):
        return self.submitted / student / ASSIGNMENT

    def students(self):
        """The students with a submission folder, sorted."""
        if not self.submitted.is_dir():
            return []
        return sorted(
            path.name
            for path in self.submitted.iterdir()
            if path.is_dir() and (path / ASSIGNMENT).is_dir() and not path.name.startswith(".")
        )

    @property
    def uses_sqlite(self):
        return self.db_url.startswith("sqlite")

    # ------------------------------------------------------------ setup
    def prepare(self):
        """Create the workspace folders, the grading kernel and nbgrader_config.py (idempotent)."""
        for folder in (self.root, self.reports, self.work):
            folder.mkdir(parents=True, exist_ok=True)
        self.write_kernelspec()
        write_if_changed(self.config_file, self.config_text())

    def write_kernelspec(self):
        """The memory-limited grading kernel, named python3 (see the module docstring)."""
        folder = self.jupyter_dir / "kernels" / "python3"
        folder.mkdir(parents=True, exist_ok=True)
        prlimit = shutil.which("prlimit")
        argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        if prlimit:
            argv = [prlimit, f"--as={self.memory_limit}", "--", *argv]
        spec = {
            "argv": argv,
            "display_name": "Python 3 (grading, memory-limited)",
            "language": "python",
            "env": KERNEL_ENV,
            "metadata": {"debugger": False},
        }
        write_if_changed(folder / "kernel.json", json.dumps(spec, indent=1) + "\n")

    def environ(self):
        """Environment variables every nbgrader run of this course needs."""
        bindir = str(Path(sys.executable).parent)
        path = os.environ.get("PATH", "")
        if bindir not in path.split(os.pathsep):
            path = bindir + os.pathsep + path  # nbgrader shells out to alembic
        jupyter_path = os.environ.get("JUPYTER_PATH", "")
        return {
            "PATH": path,
            "JUPYTER_PATH": os.pathsep.join(p for p in (str(self.jupyter_dir), jupyter_path) if p),
            "PYTHONWARNINGS": "ignore",
            "MPLBACKEND": "Agg",
        }

    def apply_environ(self):
        os.environ.update(self.environ())

    def config_text(self):
        """nbgrader_config.py of this course: what `nbgrader formgrader` run here also uses."""
        return CONFIG_TEMPLATE.format(
            root=str(self.root),
            course_id=COURSE_ID,
            db_url=self.db_url,
            timeout=int(self.timeout),
            release=str(self.release),
            skip=not self.run_all_cells,
        )

    def nbgrader_config(self, root=None, db_url=None, ipc=None):
        """A traitlets Config equal to nbgrader_config.py, for `root` and `db_url` if given.

        ipc -- an absolute path prefix: kernels then talk over Unix sockets
        named after it instead of TCP ports, so parallel graders cannot race
        for ports; one prefix per process (its kernels run one at a time).
        """
        from traitlets.config import Config

        namespace = {"get_config": Config}
        exec(compile(self.config_text(), str(self.config_file), "exec"), namespace)
        config = namespace["c"]
        config.CourseDirectory.root = str(root or self.root)
        config.CourseDirectory.db_url = db_url or self.db_url
        if ipc:
            config.KernelManager.transport = "ipc"
            config.KernelManager.ip = str(ipc)
        return config

    def api(self, root=None, db_url=None, ipc=None):
        """An NbGraderAPI on this course (or on a scratch copy at `root`)."""
        from nbgrader.apps import NbGraderAPI
        from nbgrader.coursedir import CourseDirectory

        config = self.nbgrader_config(root, db_url, ipc)
        coursedir = CourseDirectory(config=config)
        return NbGraderAPI(coursedir=coursedir, config=config)


CONFIG_TEMPLATE = '''"""nbgrader configuration of the bnlab course (generated by `python -m autograder`)."""

c = get_config()  # noqa: F821

c.CourseDirectory.root = {root!r}
c.CourseDirectory.course_id = {course_id!r}
if {db_url!r}:
    c.CourseDirectory.db_url = {db_url!r}
# Only notebooks are part of the assignment: nothing else is copied into the release.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*.py", "*.npz"]

# A student who deletes or empties a test cell gets it back, and it is graded.
c.OverwriteCells.add_missing_cells = True

# Seconds per cell: far above the longest cell that runs under autograding,
# short enough that a loop that never ends costs little; the kernel is
# interrupted and the next cells still run.
c.Execute.timeout = {timeout}
c.Execute.interrupt_on_timeout = True
c.Execute.raise_on_iopub_timeout = False
c.Execute.startup_timeout = 120
# The kernel of a graded notebook has nothing left to save: stop it at once
# instead of waiting for a graceful exit (about half a second per notebook).
c.Execute.shutdown_kernel = "immediate"

# The notebooks' own experiments (training runs, plots) that no graded code
# depends on are not run while grading; see autograder/preprocessors.py.
c.SkipExperiments.enabled = {skip!r}
c.SkipExperiments.release_dir = {release!r}

# Autograding: nbgrader's steps, plus ours around execution (skipped experiments)
# and two right after it:
# stderr output of a test cell is kept but no longer scores it 0 (a passing test
# is a passing test), and traceback frames inside the grader-only modules are
# cut, so feedback never shows hidden-test or reference code.
c.Autograde.autograde_preprocessors = [
    "autograder.preprocessors.SkipExperiments",
    "nbgrader.preprocessors.Execute",
    "autograder.preprocessors.RestoreSkipped",
    "autograder.preprocessors.StderrIsNotFailure",
    "autograder.preprocessors.HideGraderFrames",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# Validation counts every failing check cell, so an untouched stub never passes.
c.Validator.validate_all = True
'''


def write_if_changed(path, text):
    path = Path(path)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)


def notebook_names():
    return [f"{stem}.ipynb" for stem in NOTEBOOKS]
