"""bwrap's command line: the grading sandbox as one command, and its scratch folder K.

K is an empty folder the grader makes outside the course for one server (named by
contract.SCRATCH_ENV); it is the sandbox's only writable storage. prepare_scratch
lays it out: ``home/`` (with a copy of the font cache), ``tmp/``, ``results/``, and
the passwd and group files the sandbox sees. Writable inside: K/home at
/home/student (HOME and the working folder), K/tmp at /tmp, K/results at
/grading/results (contract.WRITABLE).

Every namespace is new (user, pid, network, ipc, uts, cgroup; no nested user
namespaces), the session is new, no capability is kept, the environment is set from
scratch (sandbox_environ: nothing of the grader's but PASSED_THROUGH), and the
command runs under ``prlimit``: data memory (RLIMIT_DATA), CPU seconds, processes
(threads count too) and file size. When the command exits, bwrap's pid 1 exits and
the kernel kills everything left in the pid namespace; when bwrap is killed,
--die-with-parent takes its child, and so the namespace, with it. The launcher
(autograder.sandbox.launcher) adds the keyring filter, and as root the staging.
"""

import os
import shutil
from pathlib import Path

from autograder.sandbox.mounts import (
    Mount,
    bind,
    file_mounts,
    installation,
    masks,
    ordered,
    shown_python,
    system_mounts,
    venv_mounts,
)
from autograder.workspace import MiB
from bnlab._grading import contract

INSIDE_UID = 1000  # the uid the sandbox's processes see (a "student" with a passwd entry)
SHM_SIZE = 64 * MiB  # /dev/shm is memory: capped

# Variables of the grader's environment that reach the sandbox; nothing else does.
PASSED_THROUGH = (
    "PYTHONWARNINGS",
    "MPLBACKEND",
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "PYDEVD_DISABLE_FILE_VALIDATION",
    "NBGRADER_EXECUTION",
)


class LaunchError(RuntimeError):
    """The launcher cannot start the sandbox; the message says why."""


def bwrap_path():
    """bubblewrap's path, or None when it is not on PATH."""
    return shutil.which("bwrap")


def prlimit_options(limits, processes=True):
    """prlimit's options for `limits` (a workspace.Limits; soft = hard)."""
    options = [f"--data={int(limits.memory)}"] if limits.memory else []
    options += [f"--cpu={int(limits.cpu_seconds)}"]
    options += [f"--nproc={int(limits.processes)}"] if processes else []
    options += [f"--fsize={int(limits.file_size)}"]
    return options


def prepare_scratch(scratch):
    """Lay out K: home/ (with the font cache of contract.FONTS_ENV, if set), tmp/,
    results/, and the passwd, group and empty files."""
    scratch = Path(scratch)
    if not scratch.is_dir() or scratch.is_symlink():
        raise LaunchError(f"{contract.SCRATCH_ENV} is not a folder: {scratch}")
    for name in contract.WRITABLE:
        folder = scratch / name
        if folder.is_symlink():
            raise LaunchError(f"{folder} is a link: the scratch folder must be the grader's own")
        folder.mkdir(exist_ok=True)
    config = scratch / "home" / contract.FONT_CONFIG
    config.mkdir(parents=True, exist_ok=True)
    cache_dir = os.environ.get(contract.FONTS_ENV)
    if cache_dir:
        for fontlist in sorted(Path(cache_dir).glob("fontlist-*.json")):
            shutil.copyfile(fontlist, config / fontlist.name)
    (scratch / "passwd").write_text(
        f"{contract.USER}:x:{INSIDE_UID}:{INSIDE_UID}:{contract.USER}:{contract.HOME}:/bin/sh\n",
        encoding="utf-8",
    )
    (scratch / "group").write_text(f"{contract.USER}:x:{INSIDE_UID}:\n", encoding="utf-8")
    (scratch / "empty").write_bytes(b"")


def sandbox_environ(python=None, cases=False):
    """The sandbox's whole environment: set here, plus PASSED_THROUGH from this process's."""
    path = "/usr/bin:/bin"
    if python:
        path = os.path.dirname(os.path.abspath(python)) + ":" + path
    env = {key: os.environ[key] for key in PASSED_THROUGH if key in os.environ}
    env.update(
        HOME=contract.HOME,
        USER=contract.USER,
        LOGNAME=contract.USER,
        TMPDIR=contract.TMP,
        PATH=path,
        LANG="C.UTF-8",
        MPLCONFIGDIR=f"{contract.HOME}/{contract.FONT_CONFIG}",
        PYTHONDONTWRITEBYTECODE="1",
    )
    env[contract.RESULTS_ENV] = contract.RESULTS
    if cases:
        env[contract.CASES_ENV] = contract.CASES
    return env


def _mounts(scratch, python, read_only, hide, cases):
    """Every mount of the sandbox, ordered (see autograder.sandbox.mounts)."""
    mounts = system_mounts()
    if python:
        empty = os.path.join(os.path.abspath(scratch), "empty") if scratch is not None else None
        for path in installation(python):
            bind(mounts, path)
        mounts += venv_mounts(python, empty, hide)
    for path in read_only:
        bind(mounts, path)
    if scratch is not None:
        prepare_scratch(scratch)
        scratch = os.path.abspath(scratch)
        mounts += [Mount("rw", os.path.join(scratch, n), d) for n, d in contract.WRITABLE.items()]
        mounts += [
            Mount("ro", os.path.join(scratch, "passwd"), "/etc/passwd"),
            Mount("ro", os.path.join(scratch, "group"), "/etc/group"),
        ]
    if cases:
        if not os.path.isdir(cases):
            raise LaunchError(f"{contract.CASES_ENV} is not a folder: {cases}")
        mounts += file_mounts(os.path.realpath(cases), contract.CASES)  # copies: no host path
    return ordered(mounts + masks(mounts, hide))


def bwrap_command(
    command, *, scratch=None, python=None, read_only=(), hide=(), limits=None, cases=None
):
    """(argv, environment) of bwrap running `command` in the sandbox, for the current user.

    scratch -- K, laid out here (None: no storage at all, as for the probe);
    python -- the sandbox's Python: its venv and borrowed packages are shown;
    read_only -- more folders shown read-only; hide -- paths kept invisible;
    limits -- a workspace.Limits, applied with prlimit around `command` (None: none);
    cases -- a folder shown read-only at contract.CASES.
    Root's launcher then stages the sources and changes uid (autograder.sandbox.launcher).
    """
    mounts = _mounts(scratch, python, read_only, hide, cases)
    argv = [bwrap_path() or "bwrap"]
    argv += ["--unshare-all", "--unshare-user", "--disable-userns", "--hostname", "sandbox"]
    argv += ["--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    argv += ["--uid", str(INSIDE_UID), "--gid", str(INSIDE_UID)]
    argv += ["--proc", "/proc", "--dev", "/dev", "--size", str(SHM_SIZE), "--tmpfs", "/dev/shm"]
    for mount in mounts:
        argv += mount.args()
    for mount in mounts:  # the masks, read-only only now: binds inside them are made
        argv += ["--remount-ro", mount.dest] if mount.kind == "tmpfs" else []
    argv += ["--remount-ro", "/", "--chdir", contract.HOME if scratch is not None else "/"]
    if limits is not None:
        prlimit = shutil.which("prlimit", path="/usr/bin:/bin") or "/usr/bin/prlimit"
        command = [prlimit, *prlimit_options(limits), "--", *command]
    shown = shown_python(python) if python else None
    return [*argv, "--", *command], sandbox_environ(shown, cases=bool(cases))
