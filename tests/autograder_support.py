"""Helpers of the autograder's end-to-end tests: running the pipeline, reading grades,
what each sample should score, and a throw-away PostgreSQL server.

The expected scores come from the samples' definitions (autograder.content.samples.Sample)
and the points in the source notebooks' test cells, never from the pipeline.
"""

import contextlib
import csv
import grp
import hashlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

import nbformat

from autograder.content.mistakes import all_mistakes
from autograder.content.samples import samples
from autograder.workspace import headless_environ
from bnlab.course import ASSIGNMENT, NOTEBOOKS

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "notebooks"
PYTHON = sys.executable


# ------------------------------------------------------------------ pipeline


@contextlib.contextmanager
def _venv_on_path():
    """nbgrader's Gradebook shells out to alembic: the venv's bin/ first on this process's
    PATH while the block runs, and PATH as it was afterwards (no test sees another's PATH)."""
    saved = os.environ.get("PATH")
    os.environ["PATH"] = f"{Path(PYTHON).parent}{os.pathsep}{saved or ''}"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("PATH", None)
        else:
            os.environ["PATH"] = saved


def pipeline_env():
    """The environment the pipeline runs in: the venv's bin/ first on PATH (nbgrader needs alembic)."""
    return headless_environ()


def command(step, course, *args, db_url=None):
    """The argv of `python -m autograder <step> --course <course> [args]`."""
    argv = [PYTHON, "-m", "autograder", step, "--course", str(course), *map(str, args)]
    if db_url:
        argv += ["--db-url", db_url]
    return argv


def run(step, course, *args, db_url=None, timeout=900, check=True, tool=None):
    """Run one pipeline step (with this checkout's code, or with `tool`, an Installed);
    on failure (check=True) raise with its output."""
    if tool is None:
        argv, cwd, env = command(step, course, *args, db_url=db_url), ROOT, pipeline_env()
    else:
        argv, cwd, env = tool.command(step, course, *args), tool.elsewhere, tool.env()
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(
            f"`{Path(argv[0]).name} {step}` exited {result.returncode}\n"
            f"--- stdout\n{result.stdout[-6000:]}\n--- stderr\n{result.stderr[-6000:]}"
        )
    return result


class Installed:
    """The instructor's package as someone installs it: `pip install .` (not editable) from a
    copy of the checkout into a fresh venv at `folder`/venv, the copy deleted afterwards, and
    run from `folder`/elsewhere with nothing of the checkout on any path. The shared courses
    (conftest's released_course and graded_course) are made with it, so the end-to-end tests
    check the installed package, and tests/test_installation.py what it is made of."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.venv = self.folder / "venv"
        self.source = self.folder / "checkout"
        self.elsewhere = self.folder / "elsewhere"
        self.tool = self.venv / "bin" / "bnlab-grade"

    def install(self):
        checkout_copy(self.source)
        venv.create(self.venv, with_pip=True)
        # Compiled, as pip does by default: the grading sandbox runs Python on a read-only
        # venv without writing bytecode, so what is not compiled now is compiled every time.
        result = subprocess.run(
            [str(self.venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
            + ["install", "--quiet", str(self.source)],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise AssertionError(f"pip install failed:\n{result.stderr[-3000:]}")
        shutil.rmtree(self.source)  # the installation must not need the checkout
        self.elsewhere.mkdir()
        return self

    def env(self):
        """This process's environment (headless), with nothing of the checkout on a path."""
        env = {
            k: v for k, v in headless_environ().items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")
        }
        env["PATH"] = os.pathsep.join(
            p for p in env["PATH"].split(os.pathsep) if not p.startswith(str(ROOT))
        )
        return env

    def command(self, step, course, *args):
        """The argv of `bnlab-grade <step> --course <course> [args]`."""
        return [str(self.tool), step, "--course", str(course), *map(str, args)]


# ------------------------------------------------------------------ expected


def points():
    """{graded function or manual answer: points}, read from the source notebooks' grade cells."""
    found = {}
    for stem in NOTEBOOKS:
        notebook = nbformat.read(SOURCE / f"{stem}.ipynb", as_version=4)
        for cell in notebook.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade"):
                grade_id = meta["grade_id"]
                name = grade_id[len("test_") :] if grade_id.startswith("test_") else grade_id
                found[name] = float(meta["points"])
    return found


def written_answers():
    """{grade_id: notebook} of the answers graded by hand: the markdown grade cells of the
    source notebooks."""
    found = {}
    for stem in NOTEBOOKS:
        notebook = nbformat.read(SOURCE / f"{stem}.ipynb", as_version=4)
        for cell in notebook.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade") and cell.cell_type == "markdown":
                found[meta["grade_id"]] = stem
    return found


def expected_scores(sample, points):
    """{function: points this sample should earn}; a written answer maps to None
    (needs manual grading) when it was written and its notebook was graded, else 0."""
    written = written_answers()
    scores = {}
    for name, value in points.items():
        if name in written:
            answered = sample.answered and written[name] not in (*sample.broken, *sample.unanswered)
            scores[name] = None if answered else 0.0
        else:
            scores[name] = value * sample.expected_fraction(name)
    return scores


# ------------------------------------------------------------------ grades


def gradebook_scores(db_url, students=None):
    """{student: {function: score}} straight from the gradebook. A graded function is
    named after its test cell (test_<function>); a cell that still needs manual
    grading scores None. Only students with a submission appear."""
    from nbgrader.api import Gradebook, MissingEntry

    found = {}
    with _venv_on_path(), Gradebook(db_url) as gradebook:
        for student in gradebook.students:
            if students is not None and student.id not in students:
                continue
            try:
                submission = gradebook.find_submission(ASSIGNMENT, student.id)
            except MissingEntry:
                continue
            scores = {}
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    name = (
                        grade.name[len("test_") :] if grade.name.startswith("test_") else grade.name
                    )
                    scores[name] = None if grade.needs_manual_grade else float(grade.score)
            found[student.id] = scores
    return found


def new_gradebook(path, course_id):
    """An empty nbgrader gradebook at `path` (SQLite), for the course `course_id`: nbgrader
    runs `alembic heads` in a subprocess for each new one, so tests that need many empty
    ones make one and copy it."""
    from nbgrader.api import Gradebook

    with _venv_on_path(), Gradebook(f"sqlite:///{Path(path).resolve()}", course_id):
        pass
    return Path(path)


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def tree_digest(folder):
    """{relative path: sha256} of every file under `folder`."""
    folder = Path(folder)
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def make_canary(folder):
    """A folder of files outside the grader's reach with odd modes (and, as root, odd
    owners), for links planted by an attack to lead to: it must come out unchanged."""
    folder = Path(folder)
    (folder / "inner").mkdir(parents=True)
    (folder / "inner" / "deep.txt").write_text("deep")
    (folder / "file.txt").write_text("canary")
    os.chmod(folder / "file.txt", 0o604)
    os.chmod(folder / "inner", 0o711)
    os.chmod(folder, 0o751)
    if os.geteuid() == 0:
        os.chown(folder / "inner", 4321, 8765)
        os.chown(folder / "file.txt", 4322, 8766)
    return folder


def sqlite_url(course):
    return f"sqlite:///{Path(course).resolve() / 'gradebook.db'}"


# ------------------------------------------------------------------ PostgreSQL


class PostgresUnavailable(RuntimeError):
    """PostgreSQL's server programs are not here and could not be installed."""


def _postgres_bindir():
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
    if candidates:
        return candidates[0].parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def apt_install(package):
    """Install Debian's `package` with apt-get, as root; when the first try fails, update
    the package lists and try again. None when it is installed, else why not, in words."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return f"installing Debian's {package} package needs root and apt-get"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "-qq", package]
    for attempt in ([install], [["apt-get", "update", "-qq"], install]):
        for argv in attempt:
            result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=900)
            if result.returncode != 0:
                break
        else:
            return None
    return f"`{' '.join(argv)}` failed: {(result.stderr or result.stdout).strip()[-500:]}"


def postgres_bindir(install=True):
    """The folder of initdb/pg_ctl; installs Debian's postgresql package when it is
    missing and this is root on a machine with apt-get. Raises PostgresUnavailable."""
    bindir = _postgres_bindir()
    if bindir or not install:
        if bindir:
            return bindir
        raise PostgresUnavailable("PostgreSQL's initdb was not found")
    why = apt_install("postgresql")
    if why:
        raise PostgresUnavailable(f"PostgreSQL's initdb was not found, and {why}")
    bindir = _postgres_bindir()
    if not bindir:
        raise PostgresUnavailable("the postgresql package installed no initdb")
    return bindir


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _server_user():
    """argv prefix to run the server programs as a non-root user (initdb refuses root)."""
    if os.geteuid() != 0:
        return [], None
    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "postgres"], check=True, timeout=60
        )
        user = pwd.getpwnam("postgres")
    runuser = shutil.which("runuser")
    if not runuser:
        raise PostgresUnavailable("running as root without runuser: cannot start PostgreSQL")
    return [runuser, "-u", user.pw_name, "--"], user


@contextlib.contextmanager
def postgres_server():
    """A PostgreSQL server on 127.0.0.1 with a throw-away cluster; yields a function
    new_database(name) -> db_url. The cluster is deleted afterwards."""
    bindir = postgres_bindir()
    prefix, user = _server_user()
    folder = Path(tempfile.mkdtemp(prefix="bnlab-pg-"))
    data, sockets = folder / "data", folder / "sockets"
    sockets.mkdir()
    if user is not None:
        for path in (folder, sockets):
            os.chown(path, user.pw_uid, grp.getgrgid(user.pw_gid).gr_gid)
    port = free_port()
    log = folder / "server.log"

    def call(*argv, timeout=120):
        result = subprocess.run(
            [*prefix, *argv], capture_output=True, text=True, timeout=timeout, cwd=folder
        )
        if result.returncode != 0:
            raise PostgresUnavailable(
                f"`{Path(argv[0]).name}` failed: {(result.stderr or result.stdout)[-800:]}"
            )
        return result

    started = False
    try:
        call(str(bindir / "initdb"), "-D", str(data), "-U", "bnlab", "--auth=trust", "-E", "UTF8")
        options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
        call(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "start")
        started = True

        def new_database(name):
            call(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "bnlab", name)
            return f"postgresql+psycopg2://bnlab@127.0.0.1:{port}/{name}"

        yield new_database
    finally:
        if started:
            with contextlib.suppress(Exception):
                call(str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


# ------------------------------------------------------------------ processes


def kill_group(process):
    """SIGKILL a process started with start_new_session=True, and all its children."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)


def processes_in(folder):
    """Pids of the processes whose working directory is inside `folder` (Linux /proc)."""
    folder = str(Path(folder).resolve())
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                cwd = os.readlink(entry / "cwd")
                if cwd == folder or cwd.startswith(folder + os.sep):
                    found.append(int(entry.name))
    return found


def wait_for(predicate, timeout, interval=0.5):
    """Poll `predicate` until it is true or `timeout` seconds have passed; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


# ------------------------------------------------------------------ the samples graded end to end

# One classic mistake per notebook, in a function that later code builds on, so
# "that function loses its points and no other" is tested across notebooks too.
MISTAKE_FUNCTIONS = [
    "batchnorm_forward",
    "linear_bn_activation_backward",
    "initialize_parameters",
    "model_forward",
    "update_parameters_with_adam",
    "update_running_averages",
    "layernorm_backward",
]


def e2e_samples():
    """The samples the end-to-end course grades: every sample, except that only one classic
    mistake per notebook is (MISTAKE_FUNCTIONS); BNLAB_E2E_ALL_MISTAKES=1 grades them all."""
    everything = samples()
    if os.environ.get("BNLAB_E2E_ALL_MISTAKES"):
        return everything
    keep = set()
    for function in MISTAKE_FUNCTIONS:
        mistake = next(m for m in all_mistakes() if m.function == function)
        keep.add(f"mistake-{mistake.function}-{mistake.id}")
    return [s for s in everything if not s.student.startswith("mistake-") or s.student in keep]


# ------------------------------------------------------------------ the graded courses
#
# The courses themselves are session fixtures of conftest.py (released_course,
# course_copy, graded_course): made once per session whichever module asks first.

COPY_IGNORE = shutil.ignore_patterns("student-venv", "grade-*", "*.lock")


def grader_only_lines():
    """Distinctive code lines of the hidden tests (autograder/content/hidden_tests) that appear nowhere a
    student may see them (the source notebooks, the public modules): none may reach one."""
    import ast

    seen = [path.read_text(encoding="utf-8") for path in sorted(SOURCE.glob("*.ipynb"))]
    for path in sorted((ROOT / "bnlab").rglob("*.py")):
        seen.append(path.read_text(encoding="utf-8"))
    seen = "\n".join(seen)
    lines = set()
    for path in sorted((ROOT / "autograder" / "content" / "hidden_tests").glob("*.py")):
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
        docstrings = set()
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
                value = body[0].value
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    docstrings.update(range(body[0].lineno, body[0].end_lineno + 1))
        for number, line in enumerate(source.splitlines(), 1):
            text = line.strip()
            if (
                number not in docstrings
                and len(text) >= 30
                and not text.startswith(("#", "import ", "from ", "def ", "__all__", '"', "'"))
                and text not in seen
                and json.dumps(text)[1:-1] not in seen
            ):
                lines.add(text)
    return sorted(lines)


def release_course(root, tool=None):
    """Run the release step (with `tool`, an Installed, if given) into the new folder `root`,
    then make what every grade run of the course would make first, before grading anyone
    (the template gradebook, the recorded cases and matplotlib's font cache, in .work/:
    keyed by the source notebooks and the grading settings, so a copy grades with them as
    the course itself would); returns `root`. The release step's output is kept beside it,
    in release-output.txt."""
    from autograder import sandbox
    from autograder.pipeline import grade
    from autograder.workspace import Course

    result = run("release", root, tool=tool)
    Path(root).with_name("release-output.txt").write_text(result.stdout + result.stderr)
    course = Course(Path(root))
    with _venv_on_path():  # the template gradebook runs alembic
        grade.template_gradebook(course)
    grade.grading_cases(course)
    sandbox.prepare_matplotlib_cache(course.work / "mpl-cache", course.student_python)
    return Path(root)


def copy_course(base, root, students=(), inbox=None):
    """A copy at `root` of the released course `base`, with the samples `students`
    collected from `inbox` (a folder in nbgrader's submitted/ layout)."""
    root = Path(root)
    shutil.copytree(base, root, symlinks=True, ignore=COPY_IGNORE)
    if students:
        staging = root.parent / "inbox"
        for student in students:
            shutil.copytree(Path(inbox) / student, staging / student)
        collect(root, staging)
    return root


def collect(course, source):
    """The collect step, from a folder in nbgrader's submitted/ layout or an LMS zip."""
    return run("collect", course, "--from", source)


class GradedCourse:
    """A course that went through the whole pipeline: what the tests read."""

    def __init__(self, course, inbox, students, tool=None):
        self.course = Path(course)
        self.inbox = Path(inbox)
        self.students = list(students)
        self.tool = tool  # the Installed's bnlab-grade that ran the steps (a str), if one did
        self.outputs = {}
        self.inbox_digest = None
        self.submitted_digest = None

    def step(self, name, *args, tool=None, **kwargs):
        result = run(name, self.course, *args, tool=tool, **kwargs)
        self.outputs[name] = result.stdout + result.stderr
        return result

    def report(self, student):
        path = self.course / "reports" / "grade" / f"{student}.json"
        return json.loads(path.read_text(encoding="utf-8"))

    FIELDS = ("students", "tool", "outputs", "inbox_digest", "submitted_digest")

    def save(self, path):
        """Write what was recorded of the run to `path` (JSON), for GradedCourse.load."""
        data = {"course": str(self.course), "inbox": str(self.inbox)}
        data.update({name: getattr(self, name) for name in self.FIELDS})
        Path(path).write_text(json.dumps(data), encoding="utf-8")

    @classmethod
    def load(cls, path):
        """The GradedCourse `save` wrote to `path` (another test worker may have made it)."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        graded = cls(data["course"], data["inbox"], data["students"])
        for name in cls.FIELDS:
            setattr(graded, name, data[name])
        return graded


def grade_samples(course, students, tool=None):
    """In the released course `course` (a copy): generate the samples `students`, collect,
    grade with 2 workers, feedback, export (with `tool`, an Installed, if given). Returns
    the GradedCourse."""
    from autograder.content.samples import generate

    course = Path(course)
    graded = GradedCourse(course, course.parent / "inbox", students, tool and str(tool.tool))
    generate(graded.inbox, SOURCE, course / "release" / ASSIGNMENT, students)
    graded.inbox_digest = tree_digest(graded.inbox)
    graded.step("collect", "--from", graded.inbox, tool=tool)
    graded.submitted_digest = tree_digest(course / "submitted")
    graded.step("grade", "--workers", 2, tool=tool)
    graded.step("feedback", tool=tool)
    graded.step("export", tool=tool)
    return graded


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
