"""The grading sandbox: every kernel that runs a student's code runs inside bubblewrap.

Two halves, in one module so that they cannot drift apart:

The trusted grader (imports as usual)
    :func:`check` says, before grading starts, whether the sandbox can run here,
    and names the fix when it cannot. :func:`kernel_argv` is the ``argv`` of the
    grading kernelspec: it runs this module's launcher with the instructor's
    Python (``python -I -m autograder.sandbox OPTIONS -- {connection_file}``;
    -I: nothing of the notebook's folder or of PYTHON* variables is imported).
    The kernelspec says ``"interrupt_mode": "message"``: the kernel interrupts
    itself; a SIGINT to bwrap would end the sandbox. :func:`unsandboxed_argv`
    is the ``--no-sandbox`` equivalent, and :func:`prepare_matplotlib_cache`
    builds, once per run, the font cache every kernel copies instead of
    rebuilding it.

The launcher (:func:`main`, stdlib only: it runs once per kernel start)
    jupyter_client starts it in the notebook's folder, with the path of the
    kernel's connection file (transport "ipc": Unix sockets), and in the
    environment of the grader, which names per kernel:

    - ``BNLAB_KERNEL_SCRATCH`` (required): an empty folder K made for this one
      kernel, its only writable storage;
    - ``BNLAB_GRADING_CASES`` (optional): a folder shown read-only;
    - ``BNLAB_MPL_CACHE`` (optional): the folder of prepare_matplotlib_cache.

    It lays out K (``home/`` with copies of the folder's notebooks and of the
    font cache, ``tmp/``, ``results/``, a copy of the connection file), builds
    the bwrap command and replaces itself with bwrap (``execve``), so that
    jupyter_client's signals reach bwrap.

What the kernel sees
    Not the host's root: a fresh read-only tmpfs holding read-only binds of
    /usr (and /bin, /lib, ... as on the host: links on a merged-/usr system), a
    few harmless files of /etc, the Python installation the student venv runs
    on, and the real targets of the venv's ``borrowed/`` links -- only they:
    never the rest of the site-packages they come from, which may hold the
    instructor-only package. The student venv itself (under the course) and the
    grading cases are not bound but copied into the sandbox's own root, at
    /opt/student-venv and /grading/cases: the mount table (/proc/self/mountinfo
    shows where each bind comes from) names neither, and the venv's files that
    name its host path (pyvenv.cfg's command, scripts, bytecode, pip's record)
    are left out or rewritten. Writable: K/home at /home/student (HOME and the
    working directory), K/tmp at /tmp, K/results at /grading/results, and the
    folder of the kernel's sockets, at its own path, where the trusted client
    connects from outside; the grader makes K outside the course. Any path that
    must stay invisible (the instructor package, the checkout, the course
    workspace) and still lies under a bound folder is covered by an empty
    read-only tmpfs. bwrap reads its options from a descriptor (``--args``): the
    command line of the sandbox's first process is readable inside.

    Every namespace is new (user, pid, network, ipc, uts, cgroup; no nested
    user namespaces), the session is new, no capability is kept, the kernel
    keyring calls fail (a seccomp filter: keys would outlive a notebook), the
    environment is set from scratch (nothing of the grader's), and the kernel
    runs under ``prlimit``: data memory (RLIMIT_DATA), CPU seconds, processes (threads
    count too) and file size. When the kernel exits, bwrap's pid 1 exits and
    the kernel kills everything left in the pid namespace; when bwrap is
    killed (jupyter_client's kill), --die-with-parent takes its child, and so
    the namespace, with it.

Run as root
    RLIMIT_NPROC is not enforced for processes whose kernel uid is 0, and bwrap
    run by root maps the sandbox's uid to 0. So when the launcher runs as root
    it runs bwrap as uid/gid 65534 (nobody), without supplementary groups: bwrap
    then builds an unprivileged user namespace, and the sandbox's processes have
    a non-zero kernel uid. (Since Linux 5.14 the process count is kept per user
    namespace, so each sandbox counts only its own processes, however many run
    beside it under the same uid.) That uid cannot reach some sources, such as
    a Python installation under a home folder of mode 700, and bwrap resolves
    every source path as the calling user. So the launcher first gives itself a
    private mount namespace (while still root) and binds each source that uid
    cannot reach onto a staging tmpfs it can traverse; bwrap binds from there.
    The staging exists only in the launcher's namespace: the host never sees
    it. K is handed to that uid (chown), and so is the sockets' folder; what
    the kernel reads must be readable by others (mode o+r).
"""

import argparse
import errno
import json
import os
import shutil
import stat
import struct
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

GiB = 1024**3
MiB = 1024**2

SANDBOX_UID = 65534  # the kernel uid of the sandbox when the launcher runs as root (nobody)
INSIDE_UID = 1000  # the uid the kernel sees (a "student" with a passwd entry)
HOME = "/home/student"
RESULTS = "/grading/results"
CASES = "/grading/cases"
CONNECTION = "/run/kernel.json"
VENV = "/opt/student-venv"  # where the student venv shows, whatever its path on the host
SHM_SIZE = 64 * MiB  # /dev/shm is memory: capped

# Variables of the kernelspec's own environment that reach the kernel; nothing else does.
PASSED_THROUGH = (
    "PYTHONWARNINGS",
    "MPLBACKEND",
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "PYDEVD_DISABLE_FILE_VALIDATION",
    "NBGRADER_EXECUTION",
)
# The host's system folders a Python kernel needs, read-only (symlinks stay symlinks).
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32")
# Harmless files of /etc: the dynamic linker's cache and configuration, the time zone, and
# fontconfig's configuration (matplotlib asks fc-list for fonts when it builds its cache).
ETC_FILES = (
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/fonts",
)
# The kernel's keyring calls (add_key, request_key, keyctl), by the audit architecture a
# syscall comes in with; refused in the sandbox (keyring_filter): keys outlive processes,
# so one notebook's child could leave one for the next.
KEYRING_CALLS = {
    0xC000003E: (248, 249, 250),  # x86_64 (and, with bit 30 set, x32)
    0x40000003: (286, 287, 288),  # i386, also a 64-bit process's int 0x80
    0xC00000B7: (217, 218, 219),  # aarch64
    0x40000028: (309, 310, 311),  # 32-bit ARM, on aarch64
}
X32_BIT = 0x40000000
# Where root's launcher mounts its staging tmpfs (in its own mount namespace only): the first
# that exists. Not /tmp: bwrap mounts its own new root there.
STAGING_POINTS = ("/mnt", "/var/tmp", "/media", "/srv")

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


class SandboxUnavailable(RuntimeError):
    """The sandbox cannot run on this machine; the message names the fix."""


@dataclass(frozen=True)
class Limits:
    """The limits of one grading kernel.

    memory -- bytes of data: heap and anonymous mappings, RLIMIT_DATA (0: no limit);
    cpu_seconds -- CPU time of the whole kernel;
    processes -- processes and threads at once, in the sandbox (numpy runs with one thread);
    file_size -- bytes of any one file the kernel writes.
    """

    memory: int = 3 * GiB
    cpu_seconds: int = 600
    processes: int = 64
    file_size: int = 256 * MiB

    def prlimit_options(self, processes=True):
        """prlimit's options for these limits (soft = hard)."""
        options = [f"--data={int(self.memory)}"] if self.memory else []
        options += [f"--cpu={int(self.cpu_seconds)}"]
        options += [f"--nproc={int(self.processes)}"] if processes else []
        options += [f"--fsize={int(self.file_size)}"]
        return options


# ------------------------------------------------------------------ the trusted grader


def _bwrap():
    return shutil.which("bwrap")


@cache
def _probe():
    """(ok, bwrap's error output) of a trivial command in the very sandbox a kernel gets:
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
    if _bwrap() is None:
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
            f"bubblewrap is installed ({_bwrap()}) but cannot create the sandbox's namespaces"
            + (f" (it said: {output[-600:]})" if output else "")
            + ": "
            + NAMESPACES_HINT
        )


@cache
def describe():
    """How kernels run, for the summary: e.g. "sandboxed (bubblewrap 0.8.0)"."""
    version = ""
    if _bwrap():
        result = subprocess.run([_bwrap(), "--version"], capture_output=True, text=True)
        version = result.stdout.strip()
    return f"sandboxed ({version or 'bubblewrap'})"


def _instructor_paths():
    """What a kernel must never see: the instructor-only package (wherever it is installed,
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


def kernel_argv(python, limits=None, *, hide=(), read_only=(), serve=False):
    """The kernelspec argv of a sandboxed kernel running `python` (the student venv's).

    hide -- more paths to keep invisible (the grader passes the course workspace);
    read_only -- more folders to show read-only at their own paths.
    The kernelspec must say ``"interrupt_mode": "message"``: a signal to bwrap does not
    reach the kernel (and SIGINT would end the sandbox).
    serve -- the argv of the grader's fork server (bnlab._grading.forkserver) instead: its
    protocol runs on the launcher's stdin and stdout (autograder.grading.notebook_server).
    """
    limits = limits or Limits()
    python = os.path.abspath(python)  # not resolved: a venv's python links to its base
    argv = [sys.executable, "-I", "-m", "autograder.sandbox", "--python", python]
    for path in read_only:
        argv += ["--ro", str(path)]
    for path in sorted({*_instructor_paths(), *(str(Path(p).resolve()) for p in hide)}):
        argv += ["--hide", path]
    argv += [
        "--memory",
        str(int(limits.memory)),
        "--cpu",
        str(int(limits.cpu_seconds)),
        "--processes",
        str(int(limits.processes)),
        "--file-size",
        str(int(limits.file_size)),
    ]
    return [*argv, "--serve"] if serve else [*argv, "--", "{connection_file}"]


def unsandboxed_argv(python, limits=None):
    """The kernelspec argv with --no-sandbox: `python` as an ordinary process under prlimit
    (see limited)."""
    return limited([str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"], limits)


def limited(command, limits=None):
    """`command` under prlimit with `limits`, as an ordinary process (--no-sandbox): no
    process limit (outside a user namespace it would count every process of this user, and
    root is exempt from it anyway). Without prlimit, no limits (grading refuses to start
    then if a memory limit was asked for: workspace.Course.check_memory_limit)."""
    limits = limits or Limits()
    prlimit = shutil.which("prlimit")
    return (
        [prlimit, *limits.prlimit_options(processes=False), "--", *command] if prlimit else command
    )


def prepare_matplotlib_cache(folder, python):
    """Build matplotlib's font cache once, with `python` (the student venv's), in `folder`;
    returns the cache files. Pass the folder to the kernels' launcher as BNLAB_MPL_CACHE:
    each kernel starts with a copy instead of rebuilding it."""
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


# ------------------------------------------------------------------ the launcher


class LaunchError(RuntimeError):
    """The launcher cannot start this kernel; the message says why."""


def _under(path, folder):
    """Whether `path` is `folder` or lies inside it (both absolute, normalized)."""
    return path == folder or path.startswith(folder.rstrip("/") + "/")


@dataclass
class Mount:
    """One bwrap operation. kind: ro or rw (a bind of source at dest), cover (a read-only
    bind of the empty file source over the file dest), tmpfs (an empty read-only folder over
    dest), symlink (dest links to source), dir (a folder at dest), file (a file at dest in
    the sandbox's own root, with the bytes of the descriptor source: no mount)."""

    kind: str
    source: str
    dest: str

    def args(self):
        if self.kind == "symlink":
            return ["--symlink", self.source, self.dest]
        if self.kind == "tmpfs":  # made read-only once everything is mounted
            return ["--tmpfs", self.dest]
        if self.kind == "dir":
            return ["--dir", self.dest]
        if self.kind == "file":
            return ["--file", self.source, self.dest]
        return ["--bind" if self.kind == "rw" else "--ro-bind", self.source, self.dest]


def _bind(mounts, path, dest=None, kind="ro"):
    """Show host `path` (its real target) at `dest` (default: `path` as written), and also at
    its real path when that differs: Python may reach the folder either way."""
    real = os.path.realpath(path)
    as_written = os.path.normpath(os.path.abspath(path))
    dest = os.path.normpath(dest or as_written)
    mounts.append(Mount(kind, real, dest))
    if dest != real and dest == as_written and not _under(real, "/usr"):
        mounts.append(Mount(kind, real, real))


def _system_mounts():
    """/usr and friends (links kept as links), and the harmless files of /etc."""
    mounts = []
    for path in SYSTEM_DIRS:
        if os.path.islink(path):
            mounts.append(Mount("symlink", os.readlink(path), path))
        elif os.path.isdir(path):
            mounts.append(Mount("ro", path, path))
    for path in ETC_FILES:
        if os.path.exists(path):
            _bind(mounts, path)
    return mounts


def _installation(python):
    """The folders of the Python installation `python` runs on (outside /usr, which is
    shown anyway): for a venv's, the folder above its `home` in pyvenv.cfg, as written (it
    may go through a link); and the folder above the real bin/ of `python`."""
    python = os.path.abspath(python)
    paths = {os.path.dirname(os.path.dirname(os.path.realpath(python)))}
    cfg = os.path.join(os.path.dirname(os.path.dirname(python)), "pyvenv.cfg")
    if os.path.isfile(cfg):
        with open(cfg, encoding="utf-8") as handle:
            for line in handle:
                key, _, value = line.partition("=")
                if key.strip() == "home" and value.strip():
                    paths.add(os.path.dirname(os.path.normpath(value.strip())))
    paths = {path for path in paths if not _under(os.path.realpath(path), "/usr")}
    return sorted(path for path in paths if not any(_under(path, o) for o in paths - {path}))


def _data(content):
    """An inheritable descriptor holding `content` (bytes), for bwrap's --file: a memory
    file, so that it names nothing of the host."""
    fd = os.memfd_create("sandbox-file", 0)
    os.write(fd, content)
    os.lseek(fd, 0, os.SEEK_SET)
    os.set_inheritable(fd, True)
    return fd


def _file_mounts(source, dest, skip=lambda path, data: False, rewrite=lambda path, data: data):
    """Mounts that copy the folder `source` (its regular files, its links as links) to
    `dest` in the sandbox's own root: no bind, so the sandbox's mount table does not show
    where it came from. A file for which skip(path, bytes) is true is left out; the others
    get rewrite(path, bytes)."""
    mounts = [Mount("dir", "", dest)]
    for folder, dirs, files in os.walk(source):
        inside = os.path.normpath(os.path.join(dest, os.path.relpath(folder, source)))
        for name in sorted(dirs + files):
            path = os.path.join(folder, name)
            if os.path.islink(path):
                mounts.append(Mount("symlink", os.readlink(path), os.path.join(inside, name)))
            elif os.path.isdir(path):
                mounts.append(Mount("dir", "", os.path.join(inside, name)))
            elif os.path.isfile(path):
                with open(path, "rb") as handle:
                    data = handle.read()
                if not skip(path, data):
                    fd = _data(rewrite(path, data))
                    mounts.append(Mount("file", str(fd), os.path.join(inside, name)))
        dirs[:] = [name for name in dirs if not os.path.islink(os.path.join(folder, name))]
    return mounts


def shown_python(python):
    """The path of `python` inside the sandbox: in VENV when it is a venv's."""
    python = os.path.abspath(python)
    venv = os.path.dirname(os.path.dirname(python))
    if os.path.isfile(os.path.join(venv, "pyvenv.cfg")):
        return os.path.join(VENV, "bin", os.path.basename(python))
    return python


def _venv_mounts(python, empty=None, hide=()):
    """The student venv of `python` (if it is one), copied to VENV, and the real targets of
    the links of the folders its .pth files put on the path (release.student_venv's
    `borrowed/`): only those targets, never their neighbours; a .pth folder outside the venv
    is shown whole. The venv's host path shows nowhere: in the .pth files it is rewritten
    to VENV; a file that names it or a hidden path otherwise (pyvenv.cfg's command, scripts,
    the kernelspec, bytecode, pip's record of the wheel's path) is left out, and pyvenv.cfg
    keeps only the lines that name neither. Its bin/ holds only `python`, a link to the
    interpreter. empty -- an empty file, to cover files with (see _targets_mounts)."""
    python = os.path.abspath(python)
    venv = os.path.dirname(os.path.dirname(python))
    if not os.path.isfile(os.path.join(venv, "pyvenv.cfg")):
        return []
    real_venv = os.path.realpath(venv)
    names = {os.path.normpath(venv).encode(), real_venv.encode()}
    secret = names | {os.path.realpath(path).encode() for path in hide}

    def skip(path, data):
        if os.sep + "__pycache__" + os.sep in path or path.endswith(".pyc"):
            return True
        if _under(path, os.path.join(real_venv, "bin")):
            return True
        rewritten = path.endswith(".pth") or os.path.basename(path) == "pyvenv.cfg"
        return any(name in data for name in secret) and not rewritten

    def rewrite(path, data):
        for name in sorted(names, key=len, reverse=True):
            data = data.replace(name, VENV.encode())
        if os.path.basename(path) == "pyvenv.cfg":
            lines = [line for line in data.splitlines(True) if VENV.encode() not in line]
            data = b"".join(line for line in lines if not any(n in line for n in secret))
        return data

    bin_folder = os.path.join(VENV, "bin")
    mounts = [m for m in _file_mounts(real_venv, VENV, skip, rewrite) if m.dest != bin_folder]
    mounts = [m for m in mounts if not _under(m.dest, bin_folder)]
    mounts += [
        Mount("dir", "", bin_folder),
        Mount("symlink", os.path.realpath(python), shown_python(python)),
    ]
    links = []
    for pth in sorted(Path(venv).glob("lib/python*/site-packages/*.pth")):
        for line in pth.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if not line or line.startswith(("#", "import ", "import\t")):
                continue
            folder = os.path.join(str(pth.parent), line)
            if not os.path.isdir(folder):
                continue
            if not _under(os.path.realpath(folder), real_venv):
                _bind(mounts, folder)
                continue
            for entry in sorted(os.scandir(folder), key=lambda e: e.name):
                if entry.is_symlink() and os.path.exists(entry.path):
                    target = os.path.join(folder, os.readlink(entry.path))
                    links.append((os.path.normpath(target), os.path.realpath(entry.path)))
    return mounts + _targets_mounts(links, empty)


def _targets_mounts(links, empty=None):
    """Mounts that show exactly the link targets `links` ([(path linked to, real path)]),
    where they are linked to.

    One bind per target costs bwrap time that grows with the square of the number of
    mounts (about 0.35 s for the 300 entries of a course environment). So where the
    targets are most of one folder's entries (a site-packages: everything but the course's
    own distributions), the folder is bound once and each of its other entries -- the ones
    no link points to, listed now -- is covered: an empty read-only tmpfs over a folder,
    the file `empty` over a file. What shows is the same either way: the targets, nothing
    else. A folder with more others than targets, or with an other that cannot be covered
    (a link; a file when there is no `empty`), gets one bind per target."""
    mounts, by_folder = [], {}
    for linked, real in links:
        folder, name = os.path.split(linked)
        if os.path.join(os.path.realpath(folder), name) == real:
            by_folder.setdefault(folder, set()).add(name)
        else:  # the entry linked to is itself a link: shown where it is linked to
            mounts.append(Mount("ro", real, linked))
    for folder, names in sorted(by_folder.items()):
        real = os.path.realpath(folder)
        others = [entry for entry in os.scandir(real) if entry.name not in names]
        coverable = all(
            entry.is_dir(follow_symlinks=False) or (empty and entry.is_file(follow_symlinks=False))
            for entry in others
        )
        if len(others) < len(names) and coverable:
            mounts.append(Mount("ro", real, folder))
            for entry in others:
                dest = os.path.join(folder, entry.name)
                if entry.is_dir(follow_symlinks=False):
                    mounts.append(Mount("tmpfs", "", dest))
                else:
                    mounts.append(Mount("cover", empty, dest))
        else:
            for name in sorted(names):
                mounts.append(Mount("ro", os.path.join(real, name), os.path.join(folder, name)))
    return mounts


def _masks(mounts, hidden):
    """An empty read-only tmpfs over each hidden folder that a bind would show. (One inside
    another mask needs none of its own, unless a bind inside the outer mask shows it again.)"""
    binds = [mount for mount in mounts if mount.kind in ("ro", "rw")]
    dests = set()
    for real in {os.path.realpath(path) for path in hidden}:
        for mount in binds:
            if _under(real, mount.source) and os.path.isdir(real):
                relative = os.path.relpath(real, mount.source)
                dests.add(os.path.normpath(os.path.join(mount.dest, relative)))

    def needed(dest):
        outer = [other for other in dests if other != dest and _under(dest, other)]
        return not outer or any(
            _under(dest, bind.dest) and any(_under(bind.dest, o) and bind.dest != o for o in outer)
            for bind in binds
        )

    return [Mount("tmpfs", "", dest) for dest in sorted(dests) if needed(dest)]


def _ordered(mounts):
    """Parents before children (a bind inside a mask shows again), masks after the binds
    at their own depth; one operation per destination."""
    seen, unique = set(), []
    for mount in mounts:
        key = (mount.kind, mount.dest)
        if key not in seen:
            seen.add(key)
            unique.append(mount)
    return sorted(
        unique, key=lambda m: (m.dest.rstrip("/").count("/"), m.kind in ("tmpfs", "cover"))
    )


def _prepare_scratch(scratch, connection=None):
    """Lay out K: home/ (the notebooks of the current folder, the font cache), tmp/,
    results/, the passwd and group files and a copy of the connection file."""
    scratch = Path(scratch)
    if not scratch.is_dir() or scratch.is_symlink():
        raise LaunchError(f"BNLAB_KERNEL_SCRATCH is not a folder: {scratch}")
    for name in ("home", "tmp", "results"):
        folder = scratch / name
        if folder.is_symlink():
            raise LaunchError(f"{folder} is a link: the scratch folder must be the grader's own")
        folder.mkdir(exist_ok=True)
    for notebook in sorted(Path.cwd().glob("*.ipynb")):
        if notebook.is_file() and not notebook.is_symlink():
            shutil.copyfile(notebook, scratch / "home" / notebook.name)
    config = scratch / "home" / ".config" / "matplotlib"
    config.mkdir(parents=True, exist_ok=True)
    cache_dir = os.environ.get("BNLAB_MPL_CACHE")
    if cache_dir:
        for fontlist in sorted(Path(cache_dir).glob("fontlist-*.json")):
            shutil.copyfile(fontlist, config / fontlist.name)
    (scratch / "passwd").write_text(
        f"student:x:{INSIDE_UID}:{INSIDE_UID}:student:{HOME}:/bin/sh\n", encoding="utf-8"
    )
    (scratch / "group").write_text(f"student:x:{INSIDE_UID}:\n", encoding="utf-8")
    (scratch / "empty").write_bytes(b"")
    if connection is not None:
        copy = scratch / "kernel.json"
        fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(connection, handle)


def _ipc_folder(connection):
    """The folder of the kernel's Unix sockets, from its connection info; refuses TCP."""
    transport = connection.get("transport", "tcp")
    if transport != "ipc":
        raise LaunchError(
            f"the sandboxed kernel has no network: its connection must use transport 'ipc' "
            f"(Unix sockets; KernelManager.transport = 'ipc'), not {transport!r}"
        )
    prefix = connection.get("ip", "")
    if not os.path.isabs(prefix):
        raise LaunchError(f"the IPC prefix must be an absolute path, not {prefix!r}")
    folder = os.path.dirname(os.path.normpath(prefix))
    info = os.stat(folder)
    others = [
        entry.name
        for entry in os.scandir(folder)
        if not stat.S_ISSOCK(entry.stat(follow_symlinks=False).st_mode)
    ]
    if info.st_mode & 0o022 or others or folder in ("/", "/tmp", os.path.expanduser("~")):
        raise LaunchError(
            f"the kernel's socket folder {folder} is shown writable in the sandbox, so it must "
            "be the grader's own and hold sockets only; it "
            + (f"holds {sorted(others)[:5]}" if others else "is shared or a system folder")
        )
    return folder


def sandbox_environ(python=None, cases=False):
    """The kernel's whole environment: set here, plus PASSED_THROUGH from this process's."""
    path = "/usr/bin:/bin"
    if python:
        path = os.path.dirname(os.path.abspath(python)) + ":" + path
    env = {key: os.environ[key] for key in PASSED_THROUGH if key in os.environ}
    env.update(
        HOME=HOME,
        USER="student",
        LOGNAME="student",
        TMPDIR="/tmp",
        PATH=path,
        LANG="C.UTF-8",
        MPLCONFIGDIR=f"{HOME}/.config/matplotlib",
        PYTHONDONTWRITEBYTECODE="1",
        BNLAB_GRADING_RESULTS=RESULTS,
    )
    if cases:
        env["BNLAB_GRADING_CASES"] = CASES
    return env


def bwrap_command(
    command,
    *,
    scratch=None,
    python=None,
    read_only=(),
    hide=(),
    limits=None,
    connection=None,
    cases=None,
):
    """(argv, environment) of bwrap running `command` in the sandbox, for the current user.

    scratch -- K, laid out here (None: no storage at all, as for the probe);
    python -- the kernel's Python: its venv and borrowed packages are shown;
    read_only -- more folders shown read-only; hide -- paths kept invisible;
    limits -- applied with prlimit around `command` (None: none);
    connection -- the kernel's connection info (dict): its socket folder is shown writable;
    cases -- a folder shown read-only at /grading/cases.
    Root's launcher then stages the sources and changes uid (see main()).
    """
    mounts = _system_mounts()
    if python:
        empty = os.path.join(os.path.abspath(scratch), "empty") if scratch is not None else None
        for path in _installation(python):
            _bind(mounts, path)
        mounts += _venv_mounts(python, empty, hide)
    for path in read_only:
        _bind(mounts, path)
    if scratch is not None:
        _prepare_scratch(scratch, connection)
        scratch = os.path.abspath(scratch)
        mounts += [
            Mount("rw", os.path.join(scratch, "home"), HOME),
            Mount("rw", os.path.join(scratch, "tmp"), "/tmp"),
            Mount("rw", os.path.join(scratch, "results"), RESULTS),
            Mount("ro", os.path.join(scratch, "passwd"), "/etc/passwd"),
            Mount("ro", os.path.join(scratch, "group"), "/etc/group"),
        ]
        if connection is not None:
            mounts.append(Mount("ro", os.path.join(scratch, "kernel.json"), CONNECTION))
    if connection is not None:
        folder = _ipc_folder(connection)
        mounts.append(Mount("rw", os.path.realpath(folder), folder))
    if cases:
        if not os.path.isdir(cases):
            raise LaunchError(f"BNLAB_GRADING_CASES is not a folder: {cases}")
        mounts += _file_mounts(os.path.realpath(cases), CASES)  # copies: no host path shows
    mounts = _ordered(mounts + _masks(mounts, hide))

    argv = [_bwrap() or "bwrap"]
    argv += ["--unshare-all", "--unshare-user", "--disable-userns", "--hostname", "sandbox"]
    argv += ["--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    argv += ["--uid", str(INSIDE_UID), "--gid", str(INSIDE_UID)]
    argv += ["--proc", "/proc", "--dev", "/dev", "--size", str(SHM_SIZE), "--tmpfs", "/dev/shm"]
    for mount in mounts:
        argv += mount.args()
    for mount in mounts:  # the masks, read-only only now: binds inside them are made
        argv += ["--remount-ro", mount.dest] if mount.kind == "tmpfs" else []
    argv += ["--remount-ro", "/", "--chdir", HOME if scratch is not None else "/"]
    if limits is not None:
        prlimit = shutil.which("prlimit", path="/usr/bin:/bin") or "/usr/bin/prlimit"
        command = [prlimit, *limits.prlimit_options(), "--", *command]
    shown = shown_python(python) if python else None
    return [*argv, "--", *command], sandbox_environ(shown, cases=bool(cases))


# ------------------------------------------------------------ root: staging, then nobody


def _libc():
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]
    return libc


def _call(result, what):
    import ctypes

    if result != 0:
        errno = ctypes.get_errno()
        raise LaunchError(f"{what}: {os.strerror(errno)} (errno {errno})")


def _reachable(path, uid=SANDBOX_UID):
    """Whether `uid` (with no groups but its own) may look up `path`: may search every
    folder above it (by the mode bits)."""
    folder = os.path.dirname(os.path.realpath(path))
    while True:
        info = os.stat(folder)
        if info.st_uid == uid:
            bit = stat.S_IXUSR
        elif info.st_gid == uid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not info.st_mode & bit:
            return False
        if folder == "/":
            return True
        folder = os.path.dirname(folder)


def _stage(argv):
    """As root: move every bind source of bwrap's `argv` that the sandbox uid cannot reach
    (or that the staging tmpfs covers) onto a staging tmpfs it can traverse, in a mount
    namespace of this process only; the new argv. (Every source could be staged; only
    those that need it are: bwrap takes longer with each mount in the namespace.)

    The sources are opened (O_PATH, in the new namespace: a bind must come from the
    caller's own) before the staging tmpfs is mounted, and bound through /proc/self/fd, so a
    source below the staging point is reached all the same."""
    MS_NOSUID, MS_NODEV, MS_BIND, MS_REC, MS_PRIVATE = 2, 4, 0x1000, 0x4000, 1 << 18
    libc = _libc()
    points = [p for p in STAGING_POINTS if os.path.isdir(p) and not os.path.islink(p)]
    if not points:
        raise LaunchError(f"no folder to stage the sandbox's sources on: {STAGING_POINTS}")
    point = points[0]
    if hasattr(os, "unshare"):
        os.unshare(os.CLONE_NEWNS)
    else:
        _call(libc.unshare(0x00020000), "unshare(CLONE_NEWNS)")
    _call(libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "making / private")
    options = argv[: argv.index("--")]
    positions = [i + 1 for i, arg in enumerate(options) if arg in ("--bind", "--ro-bind")]
    # staged: what that uid cannot reach, and what the staging tmpfs is about to cover
    positions = [
        i for i in positions if not _reachable(argv[i]) or _under(os.path.realpath(argv[i]), point)
    ]
    fds = {i: os.open(argv[i], os.O_PATH | os.O_CLOEXEC) for i in positions}
    tmpfs = (b"tmpfs", point.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, b"mode=0755,size=1m")
    _call(libc.mount(*tmpfs), f"mounting a tmpfs on {point}")
    staged = list(argv)
    for number, (i, fd) in enumerate(fds.items()):
        target = os.path.join(point, str(number))
        if os.path.isdir(f"/proc/self/fd/{fd}"):
            os.mkdir(target)
        else:
            open(target, "x").close()
        source = f"/proc/self/fd/{fd}".encode()
        _call(libc.mount(source, target.encode(), None, MS_BIND | MS_REC, None), argv[i])
        os.close(fd)
        staged[i] = target
    return staged


def keyring_filter():
    """A classic BPF seccomp program (for bwrap's --seccomp) that makes the keyring calls
    of KEYRING_CALLS fail with EPERM and allows every other call: struct seccomp_data holds
    the syscall number at offset 0 and the architecture at 4."""
    load, equal, give = 0x20, 0x15, 0x06  # BPF_LD|W|ABS, BPF_JMP|JEQ|K, BPF_RET|K
    allow, refuse = 0x7FFF0000, 0x00050000 | errno.EPERM  # SECCOMP_RET_ALLOW, _ERRNO
    program = []  # (code, jump if true, jump if false, k); "refuse": to the last one
    for arch, numbers in KEYRING_CALLS.items():
        if arch == 0xC000003E:
            numbers = numbers + tuple(X32_BIT | number for number in numbers)
        program += [(load, 0, 0, 4), (equal, 0, len(numbers) + 2, arch), (load, 0, 0, 0)]
        program += [(equal, "refuse", 0, number) for number in numbers]
        program.append((give, 0, 0, allow))
    program += [(give, 0, 0, allow), (give, 0, 0, refuse)]
    last = len(program) - 1
    return b"".join(
        struct.pack("=HBBI", code, last - i - 1 if true == "refuse" else true, false, k)
        for i, (code, true, false, k) in enumerate(program)
    )


def _hand_over(paths):
    """chown `paths` (and what is inside folders, links not followed) to the sandbox uid."""
    for path in paths:
        os.chown(path, SANDBOX_UID, SANDBOX_UID, follow_symlinks=False)
        if os.path.isdir(path) and not os.path.islink(path):
            for folder, dirs, files in os.walk(path):
                for name in dirs + files:
                    os.chown(
                        os.path.join(folder, name), SANDBOX_UID, SANDBOX_UID, follow_symlinks=False
                    )


def _become_sandbox_user():
    os.setgroups([])
    os.setresgid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID)
    os.setresuid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID)


KERNEL_LOG = "kernel.log"  # in K: what the kernel and bwrap print (the grader reads its end)


def _log_to(path, streams=(1, 2)):
    """Send this process's `streams` (stdout, stderr: and so the kernel's) to `path`, a new
    file."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    descriptor = os.open(path, flags, 0o644)
    for stream in streams:
        os.dup2(descriptor, stream)
    os.close(descriptor)


def _exec(argv, env):
    """As root, stage and become the sandbox uid; then replace this process with bwrap,
    with the keyring filter, and its options read from a descriptor (--args): what is on
    the command line of the sandbox's first process can be read in the sandbox, and the
    options name host paths."""
    if os.geteuid() == 0:
        argv = _stage(argv)
        _become_sandbox_user()
    os.chdir("/")
    end = argv.index("--")
    options = ["--seccomp", str(_data(keyring_filter())), *argv[1:end]]
    listed = _data(b"".join(option.encode() + b"\0" for option in options))
    argv = [argv[0], "--args", str(listed), *argv[end:]]
    os.execve(argv[0], argv, env)


def _parser():
    parser = argparse.ArgumentParser(
        prog="python -m autograder.sandbox",
        description="Start a Jupyter kernel in the grading sandbox (bubblewrap).",
    )
    parser.add_argument("--python", help="the kernel's Python (the student venv's)")
    parser.add_argument("--ro", action="append", default=[], help="a folder shown read-only")
    parser.add_argument("--hide", action="append", default=[], help="a path kept invisible")
    defaults = Limits()
    parser.add_argument("--memory", type=int, default=defaults.memory)
    parser.add_argument("--cpu", type=int, default=defaults.cpu_seconds)
    parser.add_argument("--processes", type=int, default=defaults.processes)
    parser.add_argument("--file-size", type=int, default=defaults.file_size)
    parser.add_argument("--probe", action="store_true", help="run `true` in the sandbox")
    parser.add_argument(
        "--serve",
        action="store_true",
        help="run the grader's fork server (bnlab._grading.forkserver)",
    )
    parser.add_argument(
        "--check", action="store_true", help="say whether the sandbox can run here (exit 0 if so)"
    )
    parser.add_argument("connection_file", nargs="?", help="the kernel's connection file")
    return parser


def main(argv=None):
    """The launcher: start the kernel in the sandbox (this process becomes bwrap)."""
    # jupyter_client appends the client's extra kernel arguments after the connection file
    # (nbclient: --HistoryManager.hist_file=:memory:): they are the kernel's, passed on.
    args, kernel_options = _parser().parse_known_args(argv)
    if any(
        not option.startswith("--") or option.startswith("--python") for option in kernel_options
    ):
        raise SystemExit(f"bnlab sandbox: unexpected arguments {kernel_options}")
    if args.check:
        try:
            check()
        except SandboxUnavailable as error:
            print(f"the grading sandbox cannot run here: {error}", file=sys.stderr)
            return 1
        print(describe())
        return 0
    try:
        if args.probe:
            command, env = bwrap_command([shutil.which("true", path="/usr/bin:/bin")])
            return _exec(command, env)
        if not (args.connection_file or args.serve) or not args.python:
            raise LaunchError("usage: --python PYTHON [options] (--serve | -- CONNECTION_FILE)")
        scratch = os.environ.get("BNLAB_KERNEL_SCRATCH")
        if not scratch:
            raise LaunchError(
                "BNLAB_KERNEL_SCRATCH is not set: the grader makes one empty folder per kernel"
            )
        connection, shown = None, shown_python(args.python)
        if args.serve:
            command = [shown, "-I", "-m", "bnlab._grading.forkserver", "--own-pid-namespace"]
        else:
            with open(args.connection_file, encoding="utf-8") as handle:
                connection = json.load(handle)
            command = [shown, "-m", "ipykernel_launcher", "-f", CONNECTION, *kernel_options]
        limits = Limits(args.memory, args.cpu, args.processes, args.file_size)
        argv, env = bwrap_command(
            command,
            scratch=scratch,
            python=args.python,
            read_only=args.ro,
            hide=args.hide,
            limits=limits,
            connection=connection,
            cases=os.environ.get("BNLAB_GRADING_CASES") or None,
        )
        if os.geteuid() == 0:
            _hand_over([scratch] + ([_ipc_folder(connection)] if connection else []))
        # the server's protocol runs on stdin and stdout: only stderr goes to the log
        _log_to(os.path.join(scratch, KERNEL_LOG), streams=(2,) if args.serve else (1, 2))
        return _exec(argv, env)
    except (LaunchError, OSError, ValueError) as error:
        print(f"bnlab sandbox: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
