"""The grading sandbox (autograder.sandbox): each promise shown by an attack that fails.

Every attack runs for real: student code in a notebook's child of the real fork server,
started by autograder.grading.notebook_server.NotebookServer through the real launcher
and bubblewrap, as the grader starts it. Each test also checks the thing it attacks
exists and works from outside (the file is there, the listener accepts, the limit is
below what is attempted), so that it can fail. (The sandbox's command line, run
without the server, is tested in test_sandbox_command.py.)

The student venv is built as the grader builds it (grading.student_venv, from the
student wheel), inside a throwaway course folder, once per module.
"""

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
from sandbox_support import (
    LIMITS,
    Server,
    kernel_uid,
    needs_sandbox,
    on_linux,
    processes_in,
    sandbox_namespace,
)

from autograder import boundary, sandbox
from autograder.grading.notebook_server import ServerFailed
from autograder.grading.student_venv import student_venv
from autograder.pipeline import release
from autograder.sandbox import command
from autograder.workspace import KERNEL_ENV
from bnlab._grading import contract

pytestmark = on_linux

SECRET = f"grader-secret-{uuid.uuid4().hex}"


# ------------------------------------------------------------------ the student venv, servers


@pytest.fixture(scope="module")
def course_root(tmp_path_factory):
    """A throwaway course folder: its student venv (.work/student-venv), and a secret file
    beside it that no notebook may read."""
    root = tmp_path_factory.mktemp("sandbox") / "course"
    (root / ".work").mkdir(parents=True)
    (root / "gradebook-secret.txt").write_text(SECRET)
    return root


@pytest.fixture(scope="module")
def student_python(course_root):
    wheel = release.build_student_wheel(course_root / "dist")
    venv = student_venv(SimpleNamespace(work=course_root / ".work"), wheel)
    return str(venv / "bin" / "python")


@pytest.fixture(scope="module")
def mpl_cache(student_python, tmp_path_factory):
    folder = tmp_path_factory.mktemp("mpl-cache")
    files = sandbox.prepare_matplotlib_cache(folder, student_python)
    assert files, "matplotlib wrote no font cache"
    return folder


@pytest.fixture(scope="module")
def server(student_python, course_root, mpl_cache):
    """One sandboxed server for the attacks that leave it running; the grader's environment
    holds a secret variable. The course folder is hidden, as the grader hides it; its
    grading cases are shown read-only."""
    cases = course_root / ".work" / "cases-test"
    cases.mkdir()
    (cases / "cases.json").write_text('{"case": 1}')
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BNLAB_TEST_SECRET", SECRET)
        started = Server(
            student_python, course_root, hide=[course_root], fonts=mpl_cache, cases=cases
        )
    yield started
    started.close()


# ------------------------------------------------------------------ a notebook at work


@needs_sandbox
def test_a_notebook_runs_course_code_and_writes_only_in_its_scratch(server):
    found = server.json(
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
    scratch = server.scratch
    assert (scratch / "home" / "note.txt").read_text() == "home"
    assert (scratch / "tmp" / "plot.png").stat().st_size > 0
    assert (scratch / "results" / "verdict.json").read_text() == "{}"
    assert (scratch / "home" / "01_batchnorm_forward.ipynb").is_file()  # a copy, in K
    assert server.fonts_at_start  # the font cache, copied in by the launcher


@needs_sandbox
def test_instructor_package_cannot_be_read_or_imported(server):
    reference = boundary.instructor_root() / "content" / "reference.py"
    assert reference.is_file()  # it is there, outside
    found = server.json(
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
def test_borrowed_packages_show_and_nothing_else_of_their_folder(server, student_python):
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
    found = server.json(
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
def test_course_workspace_and_instructor_home_cannot_be_read(server, course_root):
    home_secret = Path.home() / f".bnlab-sandbox-test-{uuid.uuid4().hex}"
    home_secret.write_text(SECRET)
    try:
        found = server.json(
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
def test_writes_outside_the_scratch_fail_or_stay_in_it(server, student_python):
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
    found = server.json(
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
            assert (server.scratch / "tmp" / inside_tmp).read_text() == "x", path
    assert found[f"/tmp/{marker}"] == "written"
    assert not Path(f"/tmp/{marker}").exists()  # not the real /tmp: the scratch's
    assert (server.scratch / "tmp" / marker).read_text() == "x"


KEYRING = """
import ctypes, errno, platform
libc = ctypes.CDLL(None, use_errno=True)
add_key, keyctl = {"x86_64": (248, 250), "aarch64": (217, 219)}[platform.machine()]
calls = [(keyctl, (0, -3, 0))]  # KEYCTL_GET_KEYRING_ID of the session keyring
calls += [(add_key, (b"user", b"k", b"v", 1, -4))] if ADD else []  # into the user's
print(*[libc.syscall(c, *a) >= 0 or errno.errorcode[ctypes.get_errno()] for c, a in calls])
"""


@needs_sandbox
def test_the_keyring_cannot_be_used(server):
    """Keys outlive the process that made them: every keyring call fails in the sandbox,
    while outside it the harmless one answers (so the call is not simply missing here)."""
    outside = subprocess.run(
        [sys.executable, "-c", "ADD = False\n" + KEYRING], capture_output=True, text=True
    )
    assert outside.returncode == 0 and outside.stdout.split() != ["EPERM"], outside
    out, error = server.run("ADD = True\n" + KEYRING)
    assert error == "" and out.split() == ["EPERM", "EPERM"], (out, error)


@needs_sandbox
def test_no_network(server):
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5):  # it does listen
            listener.accept()[0].close()
        found = server.json(
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
def test_grader_environment_does_not_leak(server):
    found = server.json(
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
    assert contract.SCRATCH_ENV not in found["environ"]
    environ = found["environ"]
    assert environ["MPLBACKEND"] == KERNEL_ENV["MPLBACKEND"]  # the grader's own pass
    assert environ["OMP_NUM_THREADS"] == "1"
    assert environ["HOME"] == "/home/student" and environ["TMPDIR"] == "/tmp"
    assert environ["BNLAB_GRADING_RESULTS"] == "/grading/results"
    allowed = set(command.PASSED_THROUGH) | set(sandbox.sandbox_environ("/x", cases=True))
    # what the process sets itself (IPython, the C.UTF-8 coercion)
    allowed |= {"CLICOLOR", "CLICOLOR_FORCE", "FORCE_COLOR", "TERM", "PAGER", "GIT_PAGER"}
    allowed |= {"PWD", "LC_CTYPE"}
    assert set(environ) <= allowed, set(environ) - allowed


@needs_sandbox
def test_cannot_signal_the_grader(server):
    me, group = os.getpid(), os.getpgid(0)
    found = server.json(
        f"""
        import json, os, signal
        outcome = {{}}
        for name, action in [("pid", lambda: os.kill({me}, signal.SIGKILL)),
                             ("group", lambda: os.killpg({group}, signal.SIGKILL)),
                             ("init", lambda: os.kill(1, signal.SIGKILL))]:
            try:
                action()
                outcome[name] = "sent"
            except OSError as error:
                outcome[name] = type(error).__name__
        print(json.dumps(outcome))
        """
    )
    assert found["pid"] == found["group"] == "ProcessLookupError"
    assert server.server.alive  # bwrap and the server are still there
    assert server.answers()


@needs_sandbox
@pytest.mark.slow
def test_a_notebook_that_kills_everything_it_can_ends_only_its_own_sandbox(
    student_python, course_root
):
    """The server (the child's parent) and every process of the sandbox are the child's to
    kill: then that notebook fails, the grader is untouched, and a new server runs the
    next notebook."""
    started = Server(student_python, course_root)
    try:
        namespace = sandbox_namespace(started.pid)
        kill = (
            "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nos.kill(-1, signal.SIGKILL)"
        )
        with pytest.raises(ServerFailed):
            started.cells(kill)
        assert not started.server.alive
        deadline = time.monotonic() + 10
        while processes_in(namespace) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert processes_in(namespace) == []
        started.server.start()
        assert started.answers()
    finally:
        started.close()


@needs_sandbox
def test_fork_flood_is_bounded_and_runs_as_an_unprivileged_uid_with_the_limits(server):
    namespace = sandbox_namespace(server.pid)
    uids = {kernel_uid(pid) for pid in processes_in(namespace)}
    assert 0 not in uids, uids  # RLIMIT_NPROC binds only a non-zero kernel uid
    found = server.json(
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
                          "limit": resource.getrlimit(resource.RLIMIT_NPROC),
                          "others": [resource.getrlimit(getattr(resource, f"RLIMIT_{name}"))
                                     for name in ("DATA", "FSIZE", "CPU")]}))
        """
    )
    assert found["limit"] == [LIMITS.processes, LIMITS.processes]
    limits = [LIMITS.memory, LIMITS.file_size, LIMITS.cpu_seconds]
    assert found["others"] == [[limit, limit] for limit in limits]  # the server's, inherited
    assert 0 < found["started"] < LIMITS.processes, found
    assert found["error"] == "BlockingIOError"
    assert subprocess.run(["true"]).returncode == 0  # the host still forks
    assert server.answers()


@needs_sandbox
def test_file_size_bomb_fails(server):
    limit = LIMITS.file_size
    found = server.json(
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
    assert found == "OSError 27", found  # EFBIG; Python ignores SIGXFSZ and lives on
    assert (server.scratch / "tmp" / "bomb").stat().st_size <= limit


@needs_sandbox
def test_memory_hog_raises_and_the_notebook_goes_on(server):
    ran, found = server.cells(
        "hog = bytearray(8 * 1024**3)",
        "import numpy; hog = numpy.ones(2 * 1024**3)",
        "print(6 * 7)",
    )
    assert ran.status == "ok", (ran.status, ran.log)
    (_, first), (_, second), last = found
    assert first.startswith("MemoryError"), first
    assert "MemoryError" in second, second
    assert last == ("42\n", "")
    assert server.answers()


@needs_sandbox
@pytest.mark.slow
def test_an_interrupt_stops_the_cell_not_the_notebook(server):
    """A cell over its time limit is interrupted (the grader sends it SIGINT through the
    server): it ends in KeyboardInterrupt, and the next cell runs."""
    started = time.monotonic()
    ran, found = server.cells("import time; time.sleep(60)", "print(6 * 7)", timeout=2)
    assert ran.status == "ok", (ran.status, ran.log)
    assert found[0][1].startswith("KeyboardInterrupt"), found
    assert found[1] == ("42\n", "")
    assert time.monotonic() - started < 10
    assert server.answers()


# ------------------------------------------------------------------ nothing outlives a notebook

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


HOLD = "import time\ntime.sleep(600)"


def _marked(namespace, marker, seconds=30):
    """The pids of the sandbox whose command line holds `marker`, once there are any."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = []
        for pid in processes_in(namespace):
            try:
                if marker in Path(f"/proc/{pid}/cmdline").read_text(errors="replace"):
                    found.append(pid)
            except OSError:
                pass
        if found:
            return found
        time.sleep(0.05)
    return []


@needs_sandbox
@pytest.mark.slow
@pytest.mark.parametrize("end", ["notebook", "shutdown", "kill"])
def test_a_detached_process_dies_with_its_notebook(student_python, course_root, end):
    """A process that detaches itself (new session, double fork, SIGTERM and SIGHUP
    ignored) is ended with the notebook that started it ("notebook": its last cell is
    interrupted at its time limit, the server ends what the child left), when the grader
    closes the server's input ("shutdown") or when it kills the sandbox ("kill")."""
    started = Server(student_python, course_root)
    marker, outcome = uuid.uuid4().hex, {}

    def notebook():
        try:
            timeout = 3 if end == "notebook" else 120
            outcome["ran"] = started.cells(DETACH.format(marker=marker), HOLD, timeout=timeout)[0]
        except ServerFailed as error:
            outcome["failed"] = error

    thread = threading.Thread(target=notebook)
    try:
        namespace = sandbox_namespace(started.pid)
        thread.start()
        detached = _marked(namespace, marker)
        assert detached, "the detached process did not start"
        assert all(kernel_uid(pid) != 0 for pid in processes_in(namespace))
        if end == "shutdown":
            started.server.process.stdin.close()
        elif end == "kill":
            started.server.process.kill()
        thread.join(timeout=60)
        assert not thread.is_alive()
        deadline = time.monotonic() + 10
        while any(Path(f"/proc/{pid}").exists() for pid in detached):
            assert time.monotonic() < deadline, "the detached process outlived its notebook"
            time.sleep(0.1)
        if end == "notebook":
            assert outcome["ran"].status == "ok", outcome
            assert started.answers()  # the same server goes on
        else:
            while processes_in(namespace) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert processes_in(namespace) == []
    finally:
        thread.join(timeout=60)
        started.close()
