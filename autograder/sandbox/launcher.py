"""The sandbox's launcher: ``python -I -m autograder.sandbox --python PYTHON [options]``.

The grader (autograder.grading.notebook_server) starts it with the instructor's
Python (-I: nothing of the working folder or of PYTHON* variables is imported),
in the environment of the grader, which names (bnlab._grading.contract):

- SCRATCH_ENV (required): an empty folder K made for this one server, the
  sandbox's only writable storage (autograder.sandbox.command lays it out);
- CASES_ENV (optional): a folder shown read-only at /grading/cases;
- FONTS_ENV (optional): the folder of prepare_matplotlib_cache.

It builds the bwrap command of the grader's fork server (bnlab._grading.forkserver,
with the student venv's Python), sends its own stderr to K's SERVER_LOG (the
server's protocol runs on stdin and stdout, which bwrap inherits) and replaces
itself with bwrap (``execve``), so that the grader's signals reach bwrap. bwrap
reads its options from a descriptor (``--args``): the command line of the
sandbox's first process is readable inside, and the options name host paths.
The kernel keyring calls fail in the sandbox (a seccomp filter: keys would outlive
a notebook). Standard library only (and the project's own modules): it runs once
per server start. ``--probe`` runs ``true`` in the same sandbox; ``--check`` says
whether the sandbox can run here (the Makefile asks it).

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
    it. K is handed to that uid (chown); what the sandbox reads must be
    readable by others (mode o+r).
"""

import argparse
import errno
import os
import shutil
import stat
import struct
import sys

from autograder.sandbox.command import LaunchError, bwrap_command
from autograder.sandbox.host import SandboxUnavailable, check, describe
from autograder.sandbox.mounts import memory_file, shown_python, under
from autograder.workspace import Limits
from bnlab._grading import contract

SANDBOX_UID = 65534  # the kernel uid of the sandbox when the launcher runs as root (nobody)
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


def reachable(path, uid=SANDBOX_UID):
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
        i for i in positions if not reachable(argv[i]) or under(os.path.realpath(argv[i]), point)
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


def hand_over(paths):
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


def _log_to(path, streams=(1, 2)):
    """Send this process's `streams` (and so those of bwrap and the server) to `path`, a
    new file."""
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
    options = ["--seccomp", str(memory_file(keyring_filter())), *argv[1:end]]
    listed = memory_file(b"".join(option.encode() + b"\0" for option in options))
    argv = [argv[0], "--args", str(listed), *argv[end:]]
    os.execve(argv[0], argv, env)


def _parser():
    parser = argparse.ArgumentParser(
        prog="python -m autograder.sandbox",
        description="Start the grader's fork server in the grading sandbox (bubblewrap).",
    )
    parser.add_argument("--python", help="the server's Python (the student venv's)")
    parser.add_argument("--ro", action="append", default=[], help="a folder shown read-only")
    parser.add_argument("--hide", action="append", default=[], help="a path kept invisible")
    defaults = Limits()
    parser.add_argument("--memory", type=int, default=defaults.memory)
    parser.add_argument("--cpu", type=int, default=defaults.cpu_seconds)
    parser.add_argument("--processes", type=int, default=defaults.processes)
    parser.add_argument("--file-size", type=int, default=defaults.file_size)
    parser.add_argument("--probe", action="store_true", help="run `true` in the sandbox")
    parser.add_argument(
        "--check", action="store_true", help="say whether the sandbox can run here (exit 0 if so)"
    )
    return parser


def _serve(args):
    """Become bwrap running the fork server in the sandbox (returns only on failure)."""
    if not args.python:
        raise LaunchError("usage: --python PYTHON [options]")
    scratch = os.environ.get(contract.SCRATCH_ENV)
    if not scratch:
        raise LaunchError(
            f"{contract.SCRATCH_ENV} is not set: the grader makes one empty folder per server"
        )
    server = [shown_python(args.python), "-I", "-m", contract.SERVER_MODULE]
    argv, env = bwrap_command(
        [*server, contract.OWN_PID_NAMESPACE],
        scratch=scratch,
        python=args.python,
        read_only=args.ro,
        hide=args.hide,
        limits=Limits(args.memory, args.cpu, args.processes, args.file_size),
        cases=os.environ.get(contract.CASES_ENV) or None,
    )
    if os.geteuid() == 0:
        hand_over([scratch])
    # the server's protocol runs on stdin and stdout: only stderr goes to the log
    _log_to(os.path.join(scratch, contract.SERVER_LOG), streams=(2,))
    return _exec(argv, env)


def main(argv=None):
    """The launcher: start the fork server in the sandbox (this process becomes bwrap)."""
    args = _parser().parse_args(argv)
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
        return _serve(args)
    except (LaunchError, OSError, ValueError) as error:
        print(f"bnlab sandbox: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
