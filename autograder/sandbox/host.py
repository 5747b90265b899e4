"""The grader's side of the sandbox: can it run here, and the command line of the server.

check says, before grading starts, whether the sandbox can run here, and names the
fix when it cannot; describe says how the server runs, for the summary.
server_argv is the command line of the grader's fork server (bnlab._grading.forkserver)
in the sandbox: the launcher (autograder.sandbox.launcher) run with the
instructor's Python; unsandboxed_argv is its ``--no-sandbox`` equivalent.
prepare_matplotlib_cache builds, once per run, the font cache each server copies
instead of rebuilding it.
"""

import os
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

from autograder.errors import GraderError
from autograder.sandbox.command import bwrap_path, prlimit_options
from autograder.workspace import Limits
from bnlab._grading import contract

INSTALL_HINT = (
    "install bubblewrap (Debian/Ubuntu: `apt-get install bubblewrap`; Fedora: "
    "`dnf install bubblewrap`); on macOS and other systems without Linux namespaces, "
    "grade with `--no-sandbox`"
)
NAMESPACES_HINT = (
    "the kernel must allow unprivileged user namespaces: `sysctl "
    "kernel.unprivileged_userns_clone=1` (Debian's older kernels) and, on Ubuntu 24.04 "
    "and later, `sysctl kernel.apparmor_restrict_unprivileged_userns=0`; bubblewrap must "
    "be 0.8.0 or newer. Or grade with `--no-sandbox` (students' code then runs as an "
    "ordinary process of this user)"
)


class SandboxUnavailable(GraderError):
    """The sandbox cannot run on this machine; the message names the fix."""


@cache
def _probe():
    """(ok, bwrap's error output) of a trivial command in the very sandbox the server gets:
    the same launcher, namespaces and (as root) the same staging and uid. Once per process."""
    try:
        result = subprocess.run(
            [sys.executable, "-I", "-m", "autograder.sandbox", "--probe"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except subprocess.TimeoutExpired:
        return False, "bwrap did not finish within 60 s"
    return result.returncode == 0, (result.stderr or result.stdout).strip()


def check():
    """Raise SandboxUnavailable, naming the fix, when the grading sandbox cannot run here."""
    if bwrap_path() is None:
        raise SandboxUnavailable(
            "the grading sandbox needs bubblewrap (`bwrap`), which is not on PATH: " + INSTALL_HINT
        )
    if shutil.which("prlimit") is None:
        raise SandboxUnavailable(
            "the grading sandbox applies its limits with `prlimit`, which is not on PATH: "
            "install util-linux (Debian/Ubuntu: `apt-get install util-linux`; Fedora: "
            "`dnf install util-linux`), or grade with `--no-sandbox`"
        )
    ok, output = _probe()
    if not ok and "bnlab sandbox:" in output:  # the launcher's own words: not bwrap's
        raise SandboxUnavailable(
            f"the grading sandbox's launcher could not start it ({output[-600:]}); run as "
            "root, it needs to mount in a private mount namespace (CAP_SYS_ADMIN): grade as "
            "an ordinary user, or with `--no-sandbox`"
        )
    if not ok:
        raise SandboxUnavailable(
            f"bubblewrap is installed ({bwrap_path()}) but cannot create the sandbox's namespaces"
            + (f" (it said: {output[-600:]})" if output else "")
            + ": "
            + NAMESPACES_HINT
        )


@cache
def describe():
    """How the grading server runs, for the summary: e.g. "sandboxed (bubblewrap 0.8.0)"."""
    version = ""
    if bwrap_path():
        result = subprocess.run([bwrap_path(), "--version"], capture_output=True, text=True)
        version = result.stdout.strip()
    return f"sandboxed ({version or 'bubblewrap'})"


def _instructor_paths():
    """What the sandbox must never show: the instructor-only package (wherever it is installed,
    also a packaged copy of the notebooks beside it) and the checkout it comes from."""
    from autograder import boundary

    root = boundary.instructor_root()
    paths = {root, boundary.source_notebooks()}
    if (root.parent / "pyproject.toml").is_file():  # a checkout, not a site-packages
        paths.add(root.parent)
    for entry in sys.path:
        candidate = Path(entry or ".") / boundary.INSTRUCTOR_PACKAGE
        if candidate.is_dir():
            paths.add(candidate.resolve())
    return sorted(str(path) for path in paths)


def server_argv(python, limits=None, *, hide=(), read_only=()):
    """The command line of the grader's fork server in the sandbox, running `python` (the
    student venv's): the launcher, with the instructor's Python (autograder.sandbox.launcher;
    the grader sets its environment: contract.SCRATCH_ENV and the others). The server's
    protocol runs on the launcher's stdin and stdout (autograder.grading.notebook_server).

    hide -- more paths to keep invisible (the grader passes the course workspace);
    read_only -- more folders to show read-only at their own paths.
    """
    limits = limits or Limits()
    python = os.path.abspath(python)  # not resolved: a venv's python links to its base
    argv = [sys.executable, "-I", "-m", "autograder.sandbox", "--python", python]
    for path in read_only:
        argv += ["--ro", str(path)]
    for path in sorted({*_instructor_paths(), *(str(Path(p).resolve()) for p in hide)}):
        argv += ["--hide", path]
    return [
        *argv,
        "--memory",
        str(int(limits.memory)),
        "--cpu",
        str(int(limits.cpu_seconds)),
        "--processes",
        str(int(limits.processes)),
        "--file-size",
        str(int(limits.file_size)),
    ]


def unsandboxed_argv(python, limits=None):
    """The command line of the fork server with --no-sandbox: `python` as an ordinary process
    under prlimit with `limits`, but no process limit (outside a user namespace it would
    count every process of this user, and root is exempt from it anyway). Without prlimit,
    no limits (grading refuses to start then if a memory limit was asked for:
    workspace.Course.check_memory_limit)."""
    limits = limits or Limits()
    command = [str(python), "-I", "-m", contract.SERVER_MODULE]
    prlimit = shutil.which("prlimit")
    if prlimit is None:
        return command
    return [prlimit, *prlimit_options(limits, processes=False), "--", *command]


def prepare_matplotlib_cache(folder, python):
    """Build matplotlib's font cache once, with `python` (the student venv's), in `folder`;
    returns the cache files. Pass the folder to the launcher as contract.FONTS_ENV: each
    server starts with a copy instead of rebuilding it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),  # matplotlib asks fc-list
        "HOME": str(folder),
        "MPLCONFIGDIR": str(folder),
        "MPLBACKEND": "Agg",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    subprocess.run(
        [str(python), "-I", "-c", "import matplotlib.font_manager"],
        env=env,
        check=True,
        capture_output=True,
        timeout=600,
    )
    return sorted(folder.glob("fontlist-*.json"))
