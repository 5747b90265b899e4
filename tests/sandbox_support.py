"""What the sandbox's tests share: whether a sandbox can run here, a sandboxed notebook
server started as the grader starts one, and the sandbox's processes seen from outside
(their pid namespace, parent, kernel uid), read from /proc."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from autograder import sandbox
from autograder.grading.notebook_server import NotebookServer
from bnlab._grading import contract

LIMITS = sandbox.Limits(file_size=8 * sandbox.MiB)  # defaults otherwise: 3 GiB, 600 s, 64
NOTEBOOKS = {  # the student's notebooks, put in the home folder before each run
    name: json.dumps({"cells": [], "name": name}).encode()
    for name in ("01_batchnorm_forward.ipynb", "02_batchnorm_backward.ipynb")
}


def _unavailable():
    """Why no sandbox can run here, or "": bwrap is missing, or bwrap alone (not the
    launcher: its failures are for the tests to show) cannot create the namespaces as the
    user the sandbox runs as."""
    if shutil.which("bwrap") is None:
        return "bubblewrap is not installed"
    bare = [shutil.which("bwrap"), "--unshare-all", "--unshare-user", "--ro-bind", "/usr", "/usr"]
    bare += ["--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib"]
    bare += ["--symlink", "usr/lib64", "/lib64", "--", "/usr/bin/true"]
    if os.geteuid() == 0 and shutil.which("setpriv"):
        bare = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", *bare]
    result = subprocess.run(bare, capture_output=True, text=True)
    if result.returncode != 0:
        return f"bwrap cannot create namespaces here: {result.stderr.strip()}"
    return ""


on_linux = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the sandbox needs Linux namespaces"
)
UNAVAILABLE = _unavailable() if sys.platform.startswith("linux") else ""
needs_sandbox = pytest.mark.skipif(bool(UNAVAILABLE), reason=UNAVAILABLE)


def all_pids():
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def pid_namespace(pid):
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def parent_pid(pid):
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(text.rsplit(")", 1)[1].split()[1])


def kernel_uid(pid):
    """The real uid of process `pid` as the host's kernel knows it."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for {pid}")


def sandbox_namespace(outer):
    """The pid namespace of the sandbox started by process `outer` (bwrap, or what runs it):
    that of its descendants in a pid namespace of their own."""
    parents = {pid: parent_pid(pid) for pid in all_pids()}
    family, grew = {outer}, True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in family} - family
        family |= more
        grew = bool(more)
    inside = {pid_namespace(pid) for pid in family} - {pid_namespace(outer), None}
    assert len(inside) == 1, f"process {outer} has no descendant in a pid namespace of its own"
    return inside.pop()


def processes_in(namespace):
    return [pid for pid in all_pids() if pid_namespace(pid) == namespace]


def as_ordinary_user(argv):
    """`argv` run as uid/gid 65534 without groups when this is root; as is otherwise."""
    if os.geteuid() != 0:
        return argv
    if shutil.which("setpriv"):
        return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", *argv]
    if shutil.which("runuser"):
        return ["runuser", "-u", "nobody", "--", *argv]
    pytest.skip("neither setpriv nor runuser: cannot become an ordinary user")


class Server:
    """A sandboxed fork server started as the grader starts one (NotebookServer, on a
    scratch folder K of its own); cells(...) runs code cells as one notebook, in a fresh
    child, with the student's notebooks in its home folder."""

    def __init__(self, python, root, limits=LIMITS, hide=(), fonts=None, cases=None):
        self.scratch = Path(tempfile.mkdtemp(prefix="server-", dir=root)) / "K"
        self.server = NotebookServer(
            python, self.scratch, limits=limits, hide=hide, cases=cases, fonts=fonts
        )
        self.server.start()
        config = self.scratch / "home" / contract.FONT_CONFIG
        self.fonts_at_start = sorted(path.name for path in config.glob("fontlist-*.json"))

    def cells(self, *sources, timeout=60):
        """Run `sources` as the cells of one notebook; the Ran, and per cell that finished
        (its stdout, "Name: value" of the error it raised or "")."""
        self.server.reset(NOTEBOOKS)
        ran = self.server.run(
            [(i, textwrap.dedent(source)) for i, source in enumerate(sources)], timeout=timeout
        )
        found = []
        for index in sorted(ran.outputs):
            outputs = ran.outputs[index][0]
            out = [o.text for o in outputs if o.output_type == "stream" and o.name == "stdout"]
            errors = [f"{o.ename}: {o.evalue}" for o in outputs if o.output_type == "error"]
            found.append(("".join(out), "".join(errors)))
        return ran, found

    def run(self, code, timeout=60):
        """Run `code` as a notebook's one cell; (its stdout, its error or "")."""
        ran, found = self.cells(code, timeout=timeout)
        assert ran.status == "ok", (ran.status, ran.log)
        return found[0]

    def json(self, code, timeout=60):
        """Run `code`, whose last line prints one JSON value; that value."""
        out, error = self.run(code, timeout)
        assert not error, error
        return json.loads(out.strip().splitlines()[-1])

    def answers(self):
        """Whether the server still runs a notebook: 6 * 7, read back from its output."""
        return self.server.alive and self.run("print(6 * 7)") == ("42\n", "")

    @property
    def pid(self):
        """The pid of the launcher, which became bwrap."""
        return self.server.process.pid

    def close(self):
        self.server.close()
