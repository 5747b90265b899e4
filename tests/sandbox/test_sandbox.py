"""The grading sandbox (autograder.sandbox): each promise shown by an attack that fails.

Every attack runs for real: student code in a real ipykernel, started by
jupyter_client through the real launcher and bubblewrap, over Unix sockets, as
the grader starts it (or, for the ordinary-user tests, the bwrap command the
launcher builds, run with the system Python). Each test also checks the thing
it attacks exists and works from outside (the file is there, the listener
accepts, the limit is below what is attempted), so that it can fail.

The student venv is built as the grader builds it (release.student_venv, from
the student wheel), inside a throwaway course folder, once per module.
"""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

from autograder import boundary
from autograder.pipeline import release
from autograder.sandbox import bwrap as sandbox
from autograder.workspace import KERNEL_ENV

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the sandbox needs Linux namespaces"
)

LIMITS = sandbox.Limits(file_size=8 * sandbox.MiB)  # defaults otherwise: 3 GiB, 600 s, 64
SECRET = f"grader-secret-{uuid.uuid4().hex}"


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


UNAVAILABLE = _unavailable() if sys.platform.startswith("linux") else ""
needs_sandbox = pytest.mark.skipif(bool(UNAVAILABLE), reason=UNAVAILABLE)


# ------------------------------------------------------------------ processes, from outside


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


# ------------------------------------------------------------------ the student venv, kernels


@pytest.fixture(scope="module")
def course_root(tmp_path_factory):
    """A throwaway course folder: its student venv (.work/student-venv), and a secret file
    beside it that no kernel may read."""
    root = tmp_path_factory.mktemp("sandbox") / "course"
    (root / ".work").mkdir(parents=True)
    (root / "gradebook-secret.txt").write_text(SECRET)
    return root


@pytest.fixture(scope="module")
def student_python(course_root):
    wheel = release.build_student_wheel(course_root / "dist")
    venv = release.student_venv(SimpleNamespace(work=course_root / ".work"), wheel)
    return str(venv / "bin" / "python")


@pytest.fixture(scope="module")
def mpl_cache(student_python, tmp_path_factory):
    folder = tmp_path_factory.mktemp("mpl-cache")
    files = sandbox.prepare_matplotlib_cache(folder, student_python)
    assert files, "matplotlib wrote no font cache"
    return folder


class Kernel:
    """A sandboxed kernel started as the grader starts one; run(code) -> (stdout, error)."""

    def __init__(self, python, root, limits=LIMITS, hide=(), mpl_cache=None, env=None):
        from jupyter_client.kernelspec import KernelSpecManager
        from jupyter_client.manager import KernelManager

        self.root = Path(tempfile.mkdtemp(prefix="kernel-", dir=root))
        spec_dir = self.root / "kernels" / "python3"
        spec_dir.mkdir(parents=True)
        spec = {
            "argv": sandbox.kernel_argv(python, limits, hide=hide),
            "display_name": "sandboxed",
            "language": "python",
            "env": KERNEL_ENV,
            "interrupt_mode": "message",
        }
        (spec_dir / "kernel.json").write_text(json.dumps(spec))
        self.notebooks = self.root / "notebooks"  # the notebook's folder: the kernel's cwd
        self.notebooks.mkdir()
        for name in ("01_batchnorm_forward.ipynb", "02_batchnorm_backward.ipynb"):
            (self.notebooks / name).write_text(json.dumps({"cells": [], "name": name}))
        self.scratch = self.root / "K"
        self.scratch.mkdir()
        # As the grader makes them: one private folder per run, one inside it per worker
        # (short paths: Unix socket paths are); both out of reach of the sandbox's uid.
        self.ipc_root = Path(tempfile.mkdtemp(prefix="bnlab-kernels-"))
        self.ipc = Path(tempfile.mkdtemp(prefix="bnlab-kernels-", dir=self.ipc_root))
        environ = dict(os.environ, BNLAB_KERNEL_SCRATCH=str(self.scratch), **(env or {}))
        if mpl_cache:
            environ["BNLAB_MPL_CACHE"] = str(mpl_cache)
        self.km = KernelManager(
            kernel_name="python3",
            kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(self.root / "kernels")]),
            transport="ipc",
            ip=str(self.ipc / "kernel"),
        )
        started = time.monotonic()
        self.km.start_kernel(cwd=str(self.notebooks), env=environ)
        self.kc = self.km.client()
        self.kc.start_channels()
        try:
            self.kc.wait_for_ready(timeout=60)
        except Exception:
            self.shutdown(now=True)
            raise
        self.start_seconds = time.monotonic() - started

    def run(self, code, timeout=60):
        """Run `code`; (its stdout, "Name: value" of the error it raised or "")."""
        out, errors = [], []

        def hook(message):
            content = message["content"]
            if message["msg_type"] == "stream" and content["name"] == "stdout":
                out.append(content["text"])
            elif message["msg_type"] == "error":
                errors.append(f"{content['ename']}: {content['evalue']}")

        self.kc.execute_interactive(textwrap.dedent(code), output_hook=hook, timeout=timeout)
        return "".join(out), "".join(errors)

    def json(self, code, timeout=60):
        """Run `code`, whose last line prints one JSON value; that value."""
        out, error = self.run(code, timeout)
        assert not error, error
        return json.loads(out.strip().splitlines()[-1])

    def answers(self):
        """Whether the kernel still runs code: 6 * 7, read back from the execute reply (not
        from its output, which after an interrupt may still carry the old request's id)."""
        reply = self.kc.execute_interactive(
            "answer = 6 * 7", user_expressions={"answer": "answer"}, timeout=30
        )
        expression = reply["content"].get("user_expressions", {}).get("answer", {})
        return expression.get("data", {}).get("text/plain") == "42"

    def shutdown(self, now=False):
        with contextlib.suppress(Exception):
            self.kc.stop_channels()
        self.km.shutdown_kernel(now=now)
        shutil.rmtree(self.ipc_root, ignore_errors=True)


@pytest.fixture(scope="module")
def kernel(student_python, course_root, mpl_cache):
    """One sandboxed kernel for the attacks that leave it running; the grader's environment
    holds a secret variable. The course folder is hidden, as the grader hides it; its
    grading cases are shown read-only."""
    cases = course_root / ".work" / "cases-test"
    cases.mkdir()
    (cases / "cases.json").write_text('{"case": 1}')
    started = Kernel(
        student_python,
        course_root,
        hide=[course_root],
        mpl_cache=mpl_cache,
        env={"BNLAB_TEST_SECRET": SECRET, "BNLAB_GRADING_CASES": str(cases)},
    )
    yield started
    started.shutdown()


# ------------------------------------------------------------------ check() and the argv


def test_check_names_the_fix_when_bubblewrap_is_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no bwrap anywhere
    with pytest.raises(sandbox.SandboxUnavailable) as raised:
        sandbox.check()
    message = str(raised.value)
    assert "bubblewrap" in message and "not on PATH" in message
    assert "apt-get install bubblewrap" in message
    assert "dnf install bubblewrap" in message
    assert "macOS" in message and "--no-sandbox" in message


def test_check_names_the_fix_when_namespaces_are_refused(monkeypatch):
    # A bwrap that fails as a real one does where unprivileged user namespaces are off. It
    # lives in a folder the launcher can reach after it gives up root.
    folder = Path(tempfile.mkdtemp(prefix="bnlab-fake-bwrap-"))
    try:
        folder.chmod(0o755)
        fake = folder / "bwrap"
        fake.write_text(
            "#!/bin/sh\necho 'bwrap: No permissions to creating new namespace' >&2\nexit 1\n"
        )
        fake.chmod(0o755)
        monkeypatch.setenv("PATH", f"{folder}:{os.environ.get('PATH', '')}")
        sandbox._probe.cache_clear()
        with pytest.raises(sandbox.SandboxUnavailable) as raised:
            sandbox.check()
        message = str(raised.value)
        assert "cannot create the sandbox's namespaces" in message
        assert "No permissions to creating new namespace" in message  # bwrap's own words
        assert "kernel.unprivileged_userns_clone=1" in message
        assert "kernel.apparmor_restrict_unprivileged_userns=0" in message
        assert "--no-sandbox" in message
    finally:
        sandbox._probe.cache_clear()
        shutil.rmtree(folder, ignore_errors=True)


@needs_sandbox
def test_check_passes_here_and_says_how():
    sandbox.check()
    assert sandbox.describe().startswith("sandboxed (bubblewrap ")


def test_argv_shapes(student_python):
    argv = sandbox.kernel_argv(student_python, LIMITS)
    assert argv[:4] == [sys.executable, "-I", "-m", "autograder.sandbox"]
    assert argv[-2:] == ["--", "{connection_file}"]
    assert str(boundary.instructor_root()) in argv  # hidden
    plain = sandbox.unsandboxed_argv(student_python, LIMITS)
    assert plain[-5:] == [student_python, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    if shutil.which("prlimit"):
        assert plain[0] == shutil.which("prlimit")
        assert f"--data={LIMITS.memory}" in plain and f"--fsize={LIMITS.file_size}" in plain
        assert not any(option.startswith("--nproc") for option in plain)


def test_launcher_refuses_tcp(tmp_path, student_python):
    connection = tmp_path / "kernel.json"
    connection.write_text(json.dumps({"transport": "tcp", "ip": "127.0.0.1", "shell_port": 1}))
    (tmp_path / "K").mkdir()
    result = subprocess.run(
        [*sandbox.kernel_argv(student_python)[:-1], str(connection)],
        env=dict(os.environ, BNLAB_KERNEL_SCRATCH=str(tmp_path / "K")),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "transport 'ipc'" in result.stderr and "'tcp'" in result.stderr


def test_launcher_needs_its_scratch_folder(tmp_path, student_python):
    connection = tmp_path / "kernel.json"
    connection.write_text(json.dumps({"transport": "ipc", "ip": str(tmp_path / "k")}))
    env = {k: v for k, v in os.environ.items() if k != "BNLAB_KERNEL_SCRATCH"}
    result = subprocess.run(
        [*sandbox.kernel_argv(student_python)[:-1], str(connection)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "BNLAB_KERNEL_SCRATCH" in result.stderr


# ------------------------------------------------------------------ a kernel at work


@needs_sandbox
def test_kernel_runs_course_code_and_writes_only_in_its_scratch(kernel):
    found = kernel.json(
        """
        import json, os, pwd
        import numpy, matplotlib.pyplot as plt, bnlab
        from bnlab.data import one_hot
        total = float(one_hot(numpy.arange(4) % 3, 3).sum())
        plt.plot([1, 2]); plt.savefig("/tmp/plot.png")
        open(os.path.expanduser("~/note.txt"), "w").write("home")
        open("/grading/results/verdict.json", "w").write("{}")
        cases = open(os.path.join(os.environ["BNLAB_GRADING_CASES"], "cases.json")).read()
        try:
            open("/grading/cases/planted.json", "w").write("{}")
            planted = "written"
        except OSError as error:
            planted = type(error).__name__
        print(json.dumps({"total": total, "cwd": os.getcwd(), "files": sorted(os.listdir()),
                          "cases": cases, "planted": planted,
                          "home": os.environ["HOME"], "uid": os.getuid(),
                          "user": pwd.getpwuid(os.getuid()).pw_name,
                          "mplconfig": os.environ["MPLCONFIGDIR"]}))
        """
    )
    assert found["total"] == 4.0
    assert found["cwd"] == found["home"] == "/home/student"
    assert {"01_batchnorm_forward.ipynb", "02_batchnorm_backward.ipynb"} <= set(found["files"])
    assert found["uid"] != 0 and found["user"] == "student"
    assert found["cases"] == '{"case": 1}' and found["planted"] == "OSError"  # read-only
    scratch = kernel.scratch
    assert (scratch / "home" / "note.txt").read_text() == "home"
    assert (scratch / "tmp" / "plot.png").stat().st_size > 0
    assert (scratch / "results" / "verdict.json").read_text() == "{}"
    assert (scratch / "home" / "01_batchnorm_forward.ipynb").is_file()  # a copy, in K
    assert list((scratch / "home" / ".config" / "matplotlib").glob("fontlist-*.json"))


@needs_sandbox
def test_instructor_package_cannot_be_read_or_imported(kernel):
    reference = boundary.instructor_root() / "content" / "reference.py"
    assert reference.is_file()  # it is there, outside
    found = kernel.json(
        f"""
        import json, os, sys, bnlab
        attempts = {{}}
        def attempt(name, action):
            try:
                attempts[name] = "succeeded: " + repr(action())[:80]
            except BaseException as error:
                attempts[name] = type(error).__name__
        attempt("real path", lambda: open({str(reference)!r}).read())
        near = os.path.join(os.path.dirname(bnlab.__file__), "..", "autograder", "content", "reference.py")
        attempt("beside bnlab", lambda: open(near).read())
        attempt("import", lambda: __import__("autograder.content.reference"))
        for entry in list(sys.path):
            sys.path.append(os.path.join(entry, ".."))
        attempt("import, any path", lambda: __import__("autograder.content.reference"))
        checkout = {str(boundary.instructor_root().parent)!r}
        print(json.dumps([attempts, os.listdir(checkout) if os.path.isdir(checkout) else []]))
        """
    )
    attempts, checkout = found
    for name, outcome in attempts.items():
        assert not outcome.startswith("succeeded"), (name, outcome)
    # Of the checkout only the way to a folder shown inside (the instructor's venv in it,
    # whose site-packages lends the packages) appears: no file of its own.
    assert boundary.instructor_root().name not in checkout
    assert "pyproject.toml" not in checkout and "bnlab" not in checkout


@needs_sandbox
def test_borrowed_packages_show_and_nothing_else_of_their_folder(kernel, student_python):
    """The folder the borrowed packages come from shows exactly the link targets: every
    other entry (the course's own distributions: the instructor package, its metadata,
    path files) is empty inside."""
    borrowed = Path(student_python).parent.parent / "borrowed"
    targets = {os.path.realpath(link) for link in borrowed.iterdir()}
    folders = {os.path.dirname(target) for target in targets}
    others = [
        str(entry)
        for folder in folders
        for entry in Path(folder).iterdir()
        if str(entry) not in targets and not entry.is_symlink()
    ]
    shown = sorted(targets)[:: max(1, len(targets) // 20)]  # a sample, to keep it short
    found = kernel.json(
        f"""
        import json, os
        def content(path):
            try:
                return sorted(os.listdir(path)) if os.path.isdir(path) else open(path, "rb").read().decode()[:50]
            except OSError as error:
                return type(error).__name__
        print(json.dumps({{"others": {{p: content(p) for p in {others!r}}},
                          "shown": {{p: os.path.exists(p) for p in {shown!r}}}}}))
        """
    )
    assert all(found["shown"].values()), found["shown"]
    for path, content in found["others"].items():
        assert content in ([], "", "FileNotFoundError"), (path, content)
    instructor_copy = [p for p in others if Path(p).name == boundary.INSTRUCTOR_PACKAGE]
    for path in instructor_copy:  # e.g. the packaged source notebooks of an installation
        assert any(Path(path).iterdir()) and found["others"][path] == []


@needs_sandbox
def test_course_workspace_and_instructor_home_cannot_be_read(kernel, course_root):
    home_secret = Path.home() / f".bnlab-sandbox-test-{uuid.uuid4().hex}"
    home_secret.write_text(SECRET)
    try:
        found = kernel.json(
            f"""
            import json, os
            attempts = {{}}
            for path in [{str(course_root / "gradebook-secret.txt")!r}, {str(home_secret)!r}]:
                try:
                    attempts[path] = open(path).read()
                except OSError as error:
                    attempts[path] = type(error).__name__
            try:
                attempts["home listing"] = os.listdir({str(Path.home())!r})
            except OSError as error:
                attempts["home listing"] = type(error).__name__
            print(json.dumps(attempts))
            """
        )
    finally:
        home_secret.unlink()
    assert SECRET not in json.dumps(found), found
    assert home_secret.name not in json.dumps(found["home listing"])


@needs_sandbox
def test_writes_outside_the_scratch_fail_or_stay_in_it(kernel, student_python):
    marker = f"bnlab-sandbox-{uuid.uuid4().hex}"
    checkout = boundary.instructor_root().parent
    targets = [
        str(checkout / marker),
        str(boundary.instructor_root() / marker),
        str(Path.home() / marker),
        str(Path(student_python).parent / marker),  # the venv
        f"/usr/{marker}",
        f"/{marker}",
        f"/etc/{marker}",
    ]
    found = kernel.json(
        f"""
        import json
        outcome = {{}}
        for path in {targets!r} + ["/tmp/{marker}"]:
            try:
                with open(path, "w") as handle:
                    handle.write("x")
                outcome[path] = "written"
            except OSError as error:
                outcome[path] = type(error).__name__
        print(json.dumps(outcome))
        """
    )
    for path in targets:
        assert not Path(path).exists(), path  # nothing reached the real place
        if found[path] == "written":  # only where the sandbox's /tmp is (a checkout under /tmp)
            inside_tmp = Path(path).relative_to("/tmp")
            assert (kernel.scratch / "tmp" / inside_tmp).read_text() == "x", path
    assert found[f"/tmp/{marker}"] == "written"
    assert not Path(f"/tmp/{marker}").exists()  # not the real /tmp: the scratch's
    assert (kernel.scratch / "tmp" / marker).read_text() == "x"


KEYRING = """
import ctypes, errno, platform
libc = ctypes.CDLL(None, use_errno=True)
add_key, keyctl = {"x86_64": (248, 250), "aarch64": (217, 219)}[platform.machine()]
calls = [(keyctl, (0, -3, 0))]  # KEYCTL_GET_KEYRING_ID of the session keyring
calls += [(add_key, (b"user", b"k", b"v", 1, -4))] if ADD else []  # into the user's
print(*[libc.syscall(c, *a) >= 0 or errno.errorcode[ctypes.get_errno()] for c, a in calls])
"""


@needs_sandbox
def test_the_kernel_keyring_cannot_be_used(kernel):
    """Keys outlive the process that made them: every keyring call fails in the sandbox,
    while outside it the harmless one answers (so the call is not simply missing here)."""
    outside = subprocess.run(
        [sys.executable, "-c", "ADD = False\n" + KEYRING], capture_output=True, text=True
    )
    assert outside.returncode == 0 and outside.stdout.split() != ["EPERM"], outside
    out, error = kernel.run("ADD = True\n" + KEYRING)
    assert error == "" and out.split() == ["EPERM", "EPERM"], (out, error)


@needs_sandbox
def test_no_network(kernel):
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5):  # it does listen
            listener.accept()[0].close()
        found = kernel.json(
            f"""
            import json, socket
            try:
                socket.create_connection(("127.0.0.1", {port}), timeout=5).close()
                outcome = "connected"
            except OSError as error:
                outcome = type(error).__name__
            print(json.dumps(outcome))
            """
        )
        assert found != "connected"
        with pytest.raises(TimeoutError):
            listener.accept()
    finally:
        listener.close()


@needs_sandbox
def test_grader_environment_does_not_leak(kernel):
    found = kernel.json(
        """
        import json, os
        seen = dict(os.environ)
        others = []
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    others.append(open(f"/proc/{pid}/environ", "rb").read().decode(errors="replace"))
                except OSError:
                    pass
        print(json.dumps({"environ": seen, "others": others}))
        """
    )
    assert SECRET not in json.dumps(found)
    assert "BNLAB_TEST_SECRET" not in found["environ"]
    assert "BNLAB_KERNEL_SCRATCH" not in found["environ"]
    environ = found["environ"]
    assert environ["MPLBACKEND"] == KERNEL_ENV["MPLBACKEND"]  # the kernelspec's own pass
    assert environ["OMP_NUM_THREADS"] == "1"
    assert environ["HOME"] == "/home/student" and environ["TMPDIR"] == "/tmp"
    assert environ["BNLAB_GRADING_RESULTS"] == "/grading/results"
    allowed = set(sandbox.PASSED_THROUGH) | set(sandbox.sandbox_environ("/x", cases=True))
    # what the kernel sets itself (ipykernel, matplotlib, the C.UTF-8 coercion)
    allowed |= {"CLICOLOR", "CLICOLOR_FORCE", "FORCE_COLOR", "TERM", "PAGER", "GIT_PAGER"}
    allowed |= {"PYDEVD_USE_FRAME_EVAL", "PWD", "LC_CTYPE"}
    assert set(environ) <= allowed, set(environ) - allowed


@needs_sandbox
def test_cannot_signal_the_grader(kernel):
    me, group = os.getpid(), os.getpgid(0)
    found = kernel.json(
        f"""
        import json, os, signal
        outcome = {{}}
        for name, action in [("pid", lambda: os.kill({me}, signal.SIGKILL)),
                             ("group", lambda: os.killpg({group}, signal.SIGKILL)),
                             ("parent", lambda: os.kill(os.getppid(), signal.SIGKILL)),
                             ("everyone", lambda: os.kill(-1, signal.SIGKILL))]:
            try:
                action()
                outcome[name] = "sent"
            except OSError as error:
                outcome[name] = type(error).__name__
        print(json.dumps(outcome))
        """
    )
    assert found["pid"] == found["group"] == "ProcessLookupError"
    assert kernel.km.is_alive()  # bwrap and the kernel are still there
    assert kernel.answers()


@needs_sandbox
def test_fork_flood_is_bounded_and_runs_as_an_unprivileged_uid(kernel):
    namespace = sandbox_namespace(kernel.km.provisioner.process.pid)
    uids = {kernel_uid(pid) for pid in processes_in(namespace)}
    assert 0 not in uids, uids  # RLIMIT_NPROC binds only a non-zero kernel uid
    found = kernel.json(
        """
        import json, resource, subprocess
        children, error = [], ""
        for _ in range(500):
            try:
                children.append(subprocess.Popen(["sleep", "60"]))
            except OSError as raised:
                error = type(raised).__name__
                break
        started = len(children)
        for child in children:
            child.kill(); child.wait()
        print(json.dumps({"started": started, "error": error,
                          "limit": resource.getrlimit(resource.RLIMIT_NPROC)}))
        """
    )
    assert found["limit"] == [LIMITS.processes, LIMITS.processes]
    assert 0 < found["started"] < LIMITS.processes, found
    assert found["error"] == "BlockingIOError"
    assert subprocess.run(["true"]).returncode == 0  # the host still forks
    assert kernel.answers()


@needs_sandbox
def test_file_size_bomb_fails(kernel):
    limit = LIMITS.file_size
    found = kernel.json(
        f"""
        import json, os
        try:
            with open("/tmp/bomb", "wb") as handle:
                for _ in range({2 * limit // 2**20}):
                    handle.write(b"x" * 2**20)
            outcome = "written"
        except OSError as error:
            outcome = f"{{type(error).__name__}} {{error.errno}}"
        print(json.dumps(outcome))
        """
    )
    assert found == "OSError 27", found  # EFBIG; the kernel ignores SIGXFSZ and lives on
    assert (kernel.scratch / "tmp" / "bomb").stat().st_size <= limit


@needs_sandbox
def test_memory_hog_raises_and_the_kernel_survives(kernel):
    out, error = kernel.run("hog = bytearray(8 * 1024**3)")
    assert error.startswith("MemoryError"), (out, error)
    out, error = kernel.run("import numpy; hog = numpy.ones(2 * 1024**3)")
    assert "MemoryError" in error, error
    assert kernel.answers()


@needs_sandbox
def test_an_interrupt_stops_the_cell_not_the_kernel(kernel):
    kernel.kc.execute("import time; time.sleep(60)")
    time.sleep(1)
    started = time.monotonic()
    kernel.km.interrupt_kernel()
    reply = kernel.kc.get_shell_msg(timeout=20)
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "KeyboardInterrupt"
    assert time.monotonic() - started < 10
    assert kernel.answers()


# ------------------------------------------------------------------ nothing outlives a kernel

DETACH = """
import os, signal, subprocess, sys, time
code = '''
import os, signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
signal.signal(signal.SIGHUP, signal.SIG_IGN)
if os.fork():
    os._exit(0)
os.setsid()
if os.fork():
    os._exit(0)
time.sleep(600)  # MARKER
'''
subprocess.Popen([sys.executable, "-c", code.replace("MARKER", "{marker}")]).wait()
time.sleep(0.5)
print(len([p for p in os.listdir("/proc") if p.isdigit()]))
"""


@needs_sandbox
@pytest.mark.parametrize("now", [False, True], ids=["shutdown", "kill"])
def test_a_detached_process_dies_with_its_kernel(student_python, course_root, now):
    kernel = Kernel(student_python, course_root)
    try:
        marker = uuid.uuid4().hex
        kernel.run(DETACH.format(marker=marker))
        namespace = sandbox_namespace(kernel.km.provisioner.process.pid)
        left = processes_in(namespace)
        detached = [
            pid
            for pid in left
            if marker in Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
        ]
        assert detached, "the detached process did not start"
        assert all(kernel_uid(pid) != 0 for pid in left)
    finally:
        kernel.shutdown(now=now)
    deadline = time.monotonic() + 10
    while processes_in(namespace) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_in(namespace) == []
    assert not any(Path(f"/proc/{pid}").exists() for pid in detached)


def test_what_shows_of_a_folder_of_link_targets(tmp_path):
    """_targets_mounts shows the targets and nothing else, however it mounts them."""

    def folder(name, targets, others, link=False):
        root = tmp_path / name
        for entry in targets + others:
            (root / entry).mkdir(parents=True)
        (root / "path-file.pth").write_text(str(tmp_path))
        if link:
            (root / "alias").symlink_to(root / targets[0])
        return root, [(str(root / t), str(root / t)) for t in targets]

    empty = str(tmp_path / "empty")
    site, links = folder("site", ["a", "b", "c", "d"], ["autograder"])
    mounts = {(m.kind, m.source, m.dest) for m in sandbox._targets_mounts(links, empty)}
    assert mounts == {  # bound once, the others covered
        ("ro", str(site), str(site)),
        ("tmpfs", "", str(site / "autograder")),
        ("cover", empty, str(site / "path-file.pth")),
    }
    for name, targets, others, link, cover in [
        ("few", ["a"], ["x", "y"], False, empty),  # more others than targets
        ("linked", ["a", "b", "c", "d"], [], True, empty),  # a link cannot be covered
        ("no-empty", ["a", "b", "c", "d"], [], False, None),  # nothing to cover a file with
    ]:
        root, links = folder(name, targets, others, link)
        mounts = {(m.kind, m.source, m.dest) for m in sandbox._targets_mounts(links, cover)}
        assert mounts == {("ro", str(root / t), str(root / t)) for t in targets}, name


# ------------------------------------------------------------------ the mask, alone


@needs_sandbox
def test_a_hidden_folder_under_a_shown_one_is_empty(tmp_path):
    shown = Path(tempfile.mkdtemp(prefix="bnlab-shown-"))
    try:
        shown.chmod(0o755)
        (shown / "ok.txt").write_text("visible")
        (shown / "autograder").mkdir()
        (shown / "autograder" / "reference.py").write_text(SECRET)
        code = textwrap.dedent(
            f"""
            import json, os
            def read(path):
                try:
                    return open(path).read()
                except OSError as error:
                    return type(error).__name__
            print(json.dumps([read("{shown}/ok.txt"), read("{shown}/autograder/reference.py"),
                              os.listdir("{shown}/autograder")]))
            """
        )
        argv, env = sandbox.bwrap_command(
            ["/usr/bin/python3", "-c", code], read_only=[shown], hide=[shown / "autograder"]
        )
        result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        ok, secret, listing = json.loads(result.stdout)
        assert ok == "visible"
        assert secret == "FileNotFoundError" and listing == []
    finally:
        shutil.rmtree(shown, ignore_errors=True)


# ------------------------------------------------------------------ as an ordinary user

ORDINARY = """
import json, os, resource, socket, subprocess, sys
found = {"uid": os.getuid(),
         "limits": [resource.getrlimit(r)[0] for r in
                    (resource.RLIMIT_NPROC, resource.RLIMIT_FSIZE, resource.RLIMIT_CPU)]}
try:
    socket.create_connection(("127.0.0.1", PORT), timeout=5).close()
    found["network"] = "connected"
except OSError as error:
    found["network"] = type(error).__name__
for path in ("/usr/x", "/x", "/tmp/x"):
    try:
        open(path, "w").write("x")
        found[path] = "written"
    except OSError as error:
        found[path] = type(error).__name__
try:
    with open("/tmp/bomb", "wb") as handle:
        handle.write(b"x" * (2 * 1024**2))
    found["bomb"] = "written"
except OSError as error:
    found["bomb"] = error.errno
children = []
for _ in range(200):
    try:
        children.append(subprocess.Popen(["sleep", "30"]))
    except OSError:
        break
found["started"] = len(children)
sys.stdout.write(json.dumps(found) + "\\n"); sys.stdout.flush()
if "HOLD" in sys.argv:
    sys.stdin.read()  # hold the processes until told
for child in children:
    child.kill(); child.wait()
"""


def as_ordinary_user(argv):
    """`argv` run as uid/gid 65534 without groups when this is root; as is otherwise."""
    if os.geteuid() != 0:
        return argv
    if shutil.which("setpriv"):
        return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", *argv]
    if shutil.which("runuser"):
        return ["runuser", "-u", "nobody", "--", *argv]
    pytest.skip("neither setpriv nor runuser: cannot become an ordinary user")


@pytest.fixture
def ordinary_sandbox():
    """Factory: (argv, env) of the system Python running ORDINARY in the sandbox, with a
    scratch folder the ordinary user owns."""
    if not Path("/usr/bin/python3").exists():
        pytest.skip("no system Python at /usr/bin/python3")
    made = []

    def make(port, limits, *extra):
        scratch = Path(tempfile.mkdtemp(prefix="bnlab-ordinary-"))
        made.append(scratch)
        code = ORDINARY.replace("PORT", str(port))
        argv, env = sandbox.bwrap_command(
            ["/usr/bin/python3", "-c", code, *extra],
            scratch=scratch,
            python="/usr/bin/python3",
            limits=limits,
        )
        if os.geteuid() == 0:
            sandbox._hand_over([scratch])
        return as_ordinary_user(argv), env, scratch

    yield make
    for scratch in made:
        shutil.rmtree(scratch, ignore_errors=True)


@needs_sandbox
def test_as_an_ordinary_user(ordinary_sandbox):
    limits = sandbox.Limits(memory=0, cpu_seconds=30, processes=32, file_size=sandbox.MiB)
    listener = socket.create_server(("127.0.0.1", 0))
    argv, env, scratch = ordinary_sandbox(listener.getsockname()[1], limits, "HOLD")
    run = subprocess.Popen(argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        found = json.loads(run.stdout.readline() or "{}")
        namespace = sandbox_namespace(run.pid)
        uids = {kernel_uid(pid) for pid in processes_in(namespace)}
    finally:
        listener.close()
        run.stdin.close()
        run.wait(timeout=60)
    assert run.returncode == 0
    assert uids == {os.geteuid() or 65534}  # the ordinary user's own uid, never 0
    assert found["uid"] == sandbox.INSIDE_UID
    assert found["limits"] == [32, sandbox.MiB, 30]
    assert found["network"] != "connected"
    assert found["/usr/x"] != "written" and found["/x"] != "written"
    assert found["/tmp/x"] == "written" and (scratch / "tmp" / "x").exists()
    assert found["bomb"] == 27  # EFBIG
    assert 0 < found["started"] < 32


@needs_sandbox
def test_the_launcher_itself_runs_as_an_ordinary_user():
    """The launcher's probe (the kernel's sandbox around `true`), run by an ordinary user
    with the system Python: the path without root's staging."""
    launcher = Path(sandbox.__file__)
    if not Path("/usr/bin/python3").exists():
        pytest.skip("no system Python at /usr/bin/python3")
    if os.geteuid() == 0 and not sandbox._reachable(launcher):
        pytest.skip(f"{launcher} is out of an ordinary user's reach")
    argv = as_ordinary_user(["/usr/bin/python3", "-I", str(launcher), "--probe"])
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd="/")
    assert result.returncode == 0, result.stderr


@needs_sandbox
def test_each_sandbox_counts_only_its_own_processes(ordinary_sandbox):
    """Two sandboxes of the same uid: one holds every process it may start, the other
    still starts its own (Linux counts them per user namespace)."""
    limits = sandbox.Limits(memory=0, processes=24)
    argv, env, _ = ordinary_sandbox(1, limits, "HOLD")
    holder = subprocess.Popen(
        argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        first = json.loads(holder.stdout.readline())
        assert 0 < first["started"] < 24
        argv, env, _ = ordinary_sandbox(1, limits)
        result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["started"] == first["started"]
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)


@needs_sandbox
def test_cpu_limit_ends_a_runaway_process(ordinary_sandbox):
    limits = sandbox.Limits(memory=0, cpu_seconds=1)
    argv, env, _ = ordinary_sandbox(1, limits)
    argv = argv[: argv.index("-c") + 1] + ["while True: pass"]
    started = time.monotonic()
    result = subprocess.run(argv, env=env, capture_output=True, timeout=60)
    # soft = hard: the kernel ends it with SIGKILL; bwrap passes the signal on as 128 + n
    assert result.returncode in {
        sign * n + base
        for n in (signal.SIGXCPU, signal.SIGKILL)
        for sign, base in ((-1, 0), (1, 128))
    }
    assert time.monotonic() - started < 20
