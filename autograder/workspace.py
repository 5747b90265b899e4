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
      .jupyter/kernels/python3/  the grading kernel (sandboxed, limited), first on JUPYTER_PATH
      .work/                     scratch space of a running step (safe to delete)

The grading kernel is named ``python3`` on purpose: nbgrader forces the source
notebooks' kernel name onto every submission, so a differently named kernel
would never be used.
"""

import json
import os
import shutil
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from bnlab.course import ASSIGNMENT

COURSE_ID = "bnlab"
MANUAL_ANSWERS = {
    "why_no_b": "03_removing_b",
    "running_or_recomputed": "06_test_time",
    "b_before_layer_norm": "07_layer_norm",
}  # markdown answers graded by hand

# Deliberate limits of the grading kernel (see the instructor's guide).
# Seconds per cell. While grading, the longest cell that runs (an imports cell)
# takes under a second, a hidden test a fraction of one: 15 s is a wide margin
# on a loaded machine, and a loop that never ends costs 15 s per cell that
# calls it. With --run-all-cells the notebooks' training experiments run too:
# they get 120 s.
CELL_TIMEOUT = 15
CELL_TIMEOUT_ALL_CELLS = 120
MEMORY_LIMIT = 3 * 1024**3  # bytes of data (RLIMIT_DATA) per grading kernel; 0: no limit
PRLIMIT_MISSING = (
    "the grading kernels' memory limit ({limit}) needs `prlimit`, which is not on PATH: "
    "install util-linux, which provides it (Debian/Ubuntu: `apt-get install util-linux`; "
    "Fedora: `dnf install util-linux`), or grade without a memory limit with "
    "`--memory-limit 0` (a student's code can then take all the machine's memory)"
)

# The environment of unattended runs of the course notebooks, defined here once.
# Every process that runs them -- the pipeline's steps, the release's probe,
# autograder.sync, the tests' notebook runs -- sets HEADLESS_ENV (headless_environ()):
HEADLESS_ENV = {
    "PYTHONWARNINGS": "ignore",  # any stderr in a test cell would score it 0
    "MPLBACKEND": "Agg",  # no plot windows
}
# and every kernel the pipeline starts (the grading kernels, the release's probe) KERNEL_ENV:
KERNEL_ENV = {
    **HEADLESS_ENV,
    # One thread per kernel: parallel graders share the cores instead of fighting for them.
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "PYDEVD_DISABLE_FILE_VALIDATION": "1",
}


class MemoryLimitError(RuntimeError):
    """The grading kernels should have a memory limit, and prlimit is missing."""


def _this_python_first(path):
    """PATH with this Python's bin/ first (nbgrader shells out to alembic, tests to jupyter)."""
    bindir = str(Path(sys.executable).parent)
    if bindir in path.split(os.pathsep):
        return path
    return bindir + os.pathsep + path if path else bindir


def headless_environ(environ=None, **overrides):
    """The environment of a process that runs course notebooks unattended.

    A copy of `environ` (default: os.environ) with HEADLESS_ENV set, this
    Python's bin/ first on PATH and NBGRADER_EXECUTION removed (nbgrader sets it
    while it grades; a notebook run outside grading must not see it); then
    `overrides`, e.g. ``PYTHONWARNINGS="ignore::DeprecationWarning"``.
    """
    env = dict(os.environ if environ is None else environ)
    env.pop("NBGRADER_EXECUTION", None)
    env.update(HEADLESS_ENV)
    env["PATH"] = _this_python_first(env.get("PATH", ""))
    env.update(overrides)
    return env


@dataclass
class Course:
    """The course workspace rooted at `root`, with its gradebook at `db_url`."""

    root: Path
    db_url: str = ""
    timeout: int = 0  # 0: CELL_TIMEOUT, or CELL_TIMEOUT_ALL_CELLS with run_all_cells
    memory_limit: int = MEMORY_LIMIT
    run_all_cells: bool = False
    sandbox: bool = True  # False: --no-sandbox, grading kernels run as ordinary processes

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

    @property
    def student_python(self):
        """The Python of the student venv (built by the release): the grading kernels' Python,
        which has the student wheel's bnlab and cannot import the instructor-only package."""
        return self.work / "student-venv" / "bin" / "python"

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
        """Create the workspace folders and nbgrader_config.py (idempotent). The grading
        kernel is written by the grade step (write_kernelspec), once the student venv exists."""
        for folder in (self.root, self.reports, self.work):
            folder.mkdir(parents=True, exist_ok=True)
        write_if_changed(self.config_file, self.config_text())

    @property
    def memory_limit_text(self):
        """The grading kernels' memory limit in words, e.g. "3 GiB per kernel"."""
        if not self.memory_limit:
            return "no memory limit (--memory-limit 0)"
        return f"{self.memory_limit / 1024**3:.3g} GiB per kernel"

    def check_memory_limit(self):
        """Raise MemoryLimitError, naming the fix, when the grading kernels should have a
        memory limit and prlimit (util-linux) is missing: grading must not go on silently
        without one. memory_limit 0 grades without a limit on purpose."""
        if self.memory_limit and shutil.which("prlimit") is None:
            raise MemoryLimitError(PRLIMIT_MISSING.format(limit=self.memory_limit_text))

    @property
    def limits(self):
        """The limits of each grading kernel (autograder.sandbox.Limits)."""
        from autograder.sandbox import Limits

        return Limits(memory=int(self.memory_limit))

    def write_kernelspec(self):
        """The grading kernel, named python3 (see the module docstring): the student venv's
        Python in the sandbox (autograder.sandbox), or with --no-sandbox as an ordinary
        process; either way with the limits of `limits` (memory: see check_memory_limit)."""
        from autograder import sandbox

        folder = self.jupyter_dir / "kernels" / "python3"
        folder.mkdir(parents=True, exist_ok=True)
        python = str(self.student_python)
        if self.sandbox:
            argv = sandbox.kernel_argv(python, self.limits, hide=[self.root])
            how = "sandboxed"
        else:
            argv, how = sandbox.unsandboxed_argv(python, self.limits), "UNSANDBOXED"
        limited = self.memory_limit and (self.sandbox or shutil.which("prlimit"))
        limit = "memory-limited" if limited else "no memory limit"
        spec = {
            "argv": argv,
            "display_name": f"Python 3 (grading, {how}, {limit})",
            "language": "python",
            "env": KERNEL_ENV,
            # An interrupt (a cell over its time limit) as a message: the kernel then
            # signals itself, inside its sandbox, where the grader's signals cannot reach.
            "interrupt_mode": "message" if self.sandbox else "signal",
            "metadata": {"debugger": False},
        }
        write_if_changed(folder / "kernel.json", json.dumps(spec, indent=1) + "\n")

    def environ(self):
        """Environment variables every nbgrader run of this course needs: HEADLESS_ENV, this
        Python's bin/ first on PATH, the course's grading kernel first on JUPYTER_PATH."""
        jupyter_path = os.environ.get("JUPYTER_PATH", "")
        return {
            "PATH": _this_python_first(os.environ.get("PATH", "")),
            "JUPYTER_PATH": os.pathsep.join(p for p in (str(self.jupyter_dir), jupyter_path) if p),
            **HEADLESS_ENV,
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
# A kernel that does not answer within 10 s of that interrupt ends the notebook
# (autograder.preprocessors.Execute, in the autograde steps below): its code ignores
# the interrupt or broke the kernel, and every remaining cell would cost the time
# limit again.
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
    "autograder.preprocessors.Execute",
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


def write_atomic(path, data):
    """Write `data` (str: UTF-8 text as is, no newline translation; or bytes) to `path`, all
    at once: through a temporary file in the same folder, then os.replace. A reader sees the
    old file or the new one, never a part; a run killed meanwhile leaves the old file and at
    most a hidden .<name>.<pid>-<random>.tmp. Creates the folder. Every report and
    configuration file the pipeline writes goes through here."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "xb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_if_changed(path, text):
    """write_atomic(path, text), unless `path` already holds exactly `text` (its time stays)."""
    path = Path(path)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        write_atomic(path, text)
