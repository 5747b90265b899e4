"""The grading sandbox's command line, built and run without the grader's server.

check() names the fix when no sandbox can run; the server's command line carries the
limits and the hidden paths; the launcher refuses to start without its scratch folder.
The mounts show a folder of link targets and nothing else of it, and a hidden folder
under a shown one is empty. The bwrap command the launcher builds, run as an ordinary
user with the system Python (the path without root's staging), has the limits, no
network, nothing writable but its scratch folder, and counts only its own processes.
"""

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

import pytest
from sandbox_support import (
    as_ordinary_user,
    kernel_uid,
    needs_sandbox,
    on_linux,
    processes_in,
    sandbox_namespace,
)

from autograder import boundary, sandbox
from autograder.sandbox import command, host, launcher, mounts
from bnlab._grading import contract

pytestmark = on_linux

ROOT = Path(__file__).resolve().parents[2]
LIMITS = sandbox.Limits(file_size=8 * sandbox.MiB)
SECRET = f"grader-secret-{uuid.uuid4().hex}"

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
        host._probe.cache_clear()
        with pytest.raises(sandbox.SandboxUnavailable) as raised:
            sandbox.check()
        message = str(raised.value)
        assert "cannot create the sandbox's namespaces" in message
        assert "No permissions to creating new namespace" in message  # bwrap's own words
        assert "kernel.unprivileged_userns_clone=1" in message
        assert "kernel.apparmor_restrict_unprivileged_userns=0" in message
        assert "--no-sandbox" in message
    finally:
        host._probe.cache_clear()
        shutil.rmtree(folder, ignore_errors=True)


@needs_sandbox
def test_check_passes_here_and_says_how():
    sandbox.check()
    assert sandbox.describe().startswith("sandboxed (bubblewrap ")


def test_the_servers_command_lines():
    python = sys.executable
    argv = sandbox.server_argv(python, LIMITS, hide=["/nonexistent/course"])
    assert argv[:4] == [sys.executable, "-I", "-m", "autograder.sandbox"]
    assert argv[argv.index("--python") + 1] == os.path.abspath(python)
    assert str(boundary.instructor_root()) in argv  # hidden
    assert argv[argv.index("/nonexistent/course") - 1] == "--hide"
    assert argv[argv.index("--memory") + 1] == str(LIMITS.memory)
    assert argv[argv.index("--file-size") + 1] == str(LIMITS.file_size)
    plain = sandbox.unsandboxed_argv(python, LIMITS)
    assert plain[-4:] == [python, "-I", "-m", contract.SERVER_MODULE]
    if shutil.which("prlimit"):
        assert plain[0] == shutil.which("prlimit")
        assert f"--data={LIMITS.memory}" in plain and f"--fsize={LIMITS.file_size}" in plain
        assert not any(option.startswith("--nproc") for option in plain)


def test_launcher_needs_its_scratch_folder():
    env = {k: v for k, v in os.environ.items() if k != contract.SCRATCH_ENV}
    result = subprocess.run(
        sandbox.server_argv(sys.executable),
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and contract.SCRATCH_ENV in result.stderr, result.stderr


def test_launcher_refuses_what_it_does_not_know():
    result = subprocess.run(
        [*sandbox.server_argv(sys.executable), "--", "kernel.json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "unrecognized arguments" in result.stderr, result.stderr


# ------------------------------------------------------------------ what the mounts show


def test_what_shows_of_a_folder_of_link_targets(tmp_path):
    """targets_mounts shows the targets and nothing else, however it mounts them."""

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
    shown = {(m.kind, m.source, m.dest) for m in mounts.targets_mounts(links, empty)}
    assert shown == {  # bound once, the others covered
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
        shown = {(m.kind, m.source, m.dest) for m in mounts.targets_mounts(links, cover)}
        assert shown == {("ro", str(root / t), str(root / t)) for t in targets}, name


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
            launcher.hand_over([scratch])
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
    assert found["uid"] == command.INSIDE_UID
    assert found["limits"] == [32, sandbox.MiB, 30]
    assert found["network"] != "connected"
    assert found["/usr/x"] != "written" and found["/x"] != "written"
    assert found["/tmp/x"] == "written" and (scratch / "tmp" / "x").exists()
    assert found["bomb"] == 27  # EFBIG
    assert 0 < found["started"] < 32


@needs_sandbox
def test_the_launcher_itself_runs_as_an_ordinary_user():
    """The launcher's probe (the server's sandbox around `true`), run by an ordinary user
    with the system Python and this checkout's modules: the path without root's staging."""
    if not Path("/usr/bin/python3").exists():
        pytest.skip("no system Python at /usr/bin/python3")
    if os.geteuid() == 0 and not launcher.reachable(launcher.__file__):
        pytest.skip(f"{launcher.__file__} is out of an ordinary user's reach")
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
        "from autograder.sandbox.launcher import main; sys.exit(main(['--probe']))"
    )
    argv = as_ordinary_user(["/usr/bin/python3", "-I", "-c", code])
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
