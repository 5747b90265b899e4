"""The notebook server's clock and budget hold whatever the student's process sends.

A child's frames come from the student's own process: its code can find the pipe
to the server and write frames of its own. Here a cell that ignores interrupts also
keeps claiming that new cells have started, and another floods the pipe with
output. The server runs unsandboxed with this Python (the protocol is the same in
the sandbox); the first must end "unresponsive" within its cells' time, the second
"output", and the server must grade the next notebook as if nothing had happened.
"""

import os
import stat
import sys
import time
from pathlib import Path

import pytest
from autograder_support import make_canary

from autograder.grading import notebook_server
from autograder.sandbox import Limits
from bnlab._grading import folders, process_state

CLAIMS_PROGRESS = """
import json, os, struct, threading, time
def _claim():
    while True:
        for fd in range(3, 256):
            try:
                if os.readlink(f"/proc/self/fd/{fd}").startswith("pipe:"):
                    for cell in (10**6, 0, 1, 2):
                        frame = json.dumps({"cell": cell, "event": "start"}).encode()
                        os.write(fd, struct.pack(">I", len(frame)) + frame)
            except OSError:
                pass
        time.sleep(0.05)
threading.Thread(target=_claim, daemon=True).start()
while True:
    try:
        time.sleep(0.1)
    except KeyboardInterrupt:
        pass
"""

FLOODS = """
import json, os, struct
frame = json.dumps({"cell": 0, "event": "start", "junk": "x" * 2**20}).encode()
for _ in range(200):
    for fd in range(3, 256):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("pipe:"):
                os.write(fd, struct.pack(">I", len(frame)) + frame)
        except OSError:
            pass
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = notebook_server.NotebookServer(
        sys.executable, tmp_path_factory.mktemp("server") / "K", limits=Limits(), sandboxed=False
    )
    server.start()
    yield server
    server.close()


def _fine(server):
    server.reset()
    ran = server.run([(0, "x = 1 + 1"), (1, "print(x)")], timeout=5, answer_within=2)
    return ran.status, [o.get("text") for o in ran.outputs[1][0]]


@pytest.mark.slow
def test_claims_of_progress_do_not_stop_the_clock(server):
    server.reset()
    started = time.monotonic()
    ran = server.run([(0, CLAIMS_PROGRESS), (1, "print('never')")], timeout=2, answer_within=1)
    seconds = time.monotonic() - started
    assert ran.status == "unresponsive"
    assert seconds < 2 + 1 + 5, seconds  # the cell's time, the answer's, some slack
    assert _fine(server) == ("ok", ["2\n"])


def test_a_flood_of_output_ends_the_notebook(server, monkeypatch):
    monkeypatch.setattr(notebook_server, "MAX_OUTPUT", 16 * 1024**2)
    server.reset()
    ran = server.run([(0, FLOODS), (1, "print('never')")], timeout=30, answer_within=5)
    assert ran.status == "output"
    assert server.received > 16 * 1024**2
    assert _fine(server) == ("ok", ["2\n"])


@pytest.mark.slow
def test_a_notebook_stops_at_its_budget_whatever_its_number_of_cells(server):
    """Cells each well within their time limit, but more of them than the notebook's budget
    holds: the notebook ends "budget" after about the budget, the cells done before keep
    their outputs and the rest are not run; the next notebook is graded as usual."""
    server.reset()
    cells = [(0, "print('first')")]
    cells += [(i, "import time\ntime.sleep(0.8)") for i in range(1, 40)]
    cells.append((40, "print('never')"))
    started = time.monotonic()
    ran = server.run(cells, timeout=2, answer_within=1, budget=3)
    seconds = time.monotonic() - started
    assert ran.status == "budget"
    assert seconds < 3 + notebook_server.EXIT_SECONDS, seconds  # the budget, and the child's end
    assert [o.get("text") for o in ran.outputs[0][0]] == ["first\n"]
    assert 1 <= len(ran.outputs) < 10 and 40 not in ran.outputs
    assert _fine(server) == ("ok", ["2\n"])


@pytest.fixture
def lone_server(tmp_path):
    server = notebook_server.NotebookServer(
        sys.executable, tmp_path / "K", limits=Limits(), sandboxed=False
    )
    server.start()
    yield server
    server.close()


@pytest.mark.slow  # starts a server of its own (about 2 s)
def test_a_server_ended_between_notebooks_is_not_the_next_notebooks_failure(lone_server):
    # what a process left by the previous notebook could do: the next notebook must be
    # run again on a new server without counting as an attempt (ServerRefused)
    lone_server.reset()
    assert lone_server.run([(0, "x = 1")], timeout=5).status == "ok"
    lone_server.process.kill()
    lone_server.process.wait()
    with pytest.raises(notebook_server.ServerRefused, match="not running"):
        lone_server.run([(0, "x = 1")], timeout=5)


@pytest.mark.slow  # starts a server of its own (about 2 s)
def test_a_server_whose_priority_was_changed_refuses_the_next_notebook(lone_server):
    lone_server.reset()
    poison = "import os\nos.setpriority(os.PRIO_PROCESS, os.getppid(), 19)"
    assert lone_server.run([(0, poison)], timeout=5).status == "ok"
    with pytest.raises(notebook_server.ServerRefused, match="priority"):
        lone_server.run([(0, "x = 1")], timeout=5)
    assert not lone_server.alive


IOPRIO_SET = {"x86_64": 251, "aarch64": 30}

FROM_OUTSIDE = {
    "scheduler": "os.sched_setscheduler(os.getppid(), os.SCHED_IDLE, os.sched_param(0))",
    "I/O priority": (
        "import ctypes, platform\n"
        f"number = {IOPRIO_SET!r}[platform.machine()]\n"
        "assert ctypes.CDLL(None).syscall(number, 1, os.getppid(), (3 << 13) | 0) == 0"
    ),
}


@pytest.mark.slow  # starts a server of its own (about 2 s)
@pytest.mark.parametrize("what", sorted(FROM_OUTSIDE))
def test_a_server_whose_scheduling_was_changed_refuses_the_next_notebook(lone_server, what):
    lone_server.reset()
    before = process_state.process_state()[what]
    ran = lone_server.run([(0, "import os\n" + FROM_OUTSIDE[what])], timeout=5)
    assert ran.status == "ok" and "error" not in str(ran.outputs), ran
    assert process_state.process_state()[what] == before  # this process was not the one changed
    with pytest.raises(notebook_server.ServerRefused, match=what):
        lone_server.run([(0, "x = 1")], timeout=5)
    assert not lone_server.alive


@pytest.mark.slow
def test_a_notebook_that_stops_its_server_has_failed_itself(lone_server, monkeypatch):
    """SIGSTOP from the child (same user): the server relays nothing more and cannot end
    the child. The notebook fails; the next notebook runs on a new server."""
    monkeypatch.setattr(notebook_server, "EXIT_SECONDS", 2)
    lone_server.reset()
    stop = "import os, signal\nos.kill(os.getppid(), signal.SIGSTOP)"
    with pytest.raises(notebook_server.ServerFailed, match="did not end") as raised:
        lone_server.run([(0, stop), (1, "x = 1")], timeout=2, answer_within=1)
    assert not isinstance(raised.value, notebook_server.ServerRefused)
    assert not lone_server.alive
    lone_server.start()
    assert _fine(lone_server) == ("ok", ["2\n"])


@pytest.mark.slow  # starts a server of its own (about 2 s)
def test_a_folder_that_cannot_be_emptied_gets_a_new_server(lone_server, monkeypatch):
    first = lone_server.process.pid
    failed = []

    def fails_once(folder, keep=()):
        if not failed:
            failed.append(folder)
            raise PermissionError(folder)
        return folders.empty_folder(folder, keep)

    monkeypatch.setattr(notebook_server, "empty_folder", fails_once)
    lone_server.reset({"01.ipynb": b"{}"})
    assert failed and lone_server.alive and lone_server.process.pid != first
    assert (lone_server.scratch / "home" / "01.ipynb").read_bytes() == b"{}"


@pytest.mark.slow  # starts a server of its own (about 2 s)
def test_a_notebook_that_kills_its_server_has_failed_itself(lone_server):
    lone_server.reset()
    kill = "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)"
    with pytest.raises(notebook_server.ServerFailed) as raised:
        lone_server.run([(0, "x = 1"), (1, kill), (2, "print(x)")], timeout=5)
    assert not isinstance(raised.value, notebook_server.ServerRefused)


# ------------------------------------------------------------------ emptying K


def _snapshot(folder):
    """{relative path: (mode, owner, group, bytes or link target)} of everything under
    `folder`, links not followed: what must not change."""
    found = {}
    for root, dirs, files in os.walk(folder):
        for name in [".", *dirs, *files]:
            path = os.path.join(root, name)
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode):
                content = os.readlink(path)
            elif stat.S_ISREG(info.st_mode):
                content = Path(path).read_bytes()
            else:
                content = None
            found[os.path.relpath(path, folder)] = (info.st_mode, info.st_uid, info.st_gid, content)
    return found


@pytest.fixture
def canary(tmp_path):
    """A folder outside K with odd modes (and, as root, odd owners) that links lead to."""
    return make_canary(tmp_path / "canary")


def test_reset_removes_links_and_never_follows_them(tmp_path, canary):
    """What a student's code can leave in K: links to folders and files outside it (also
    where a kept folder was, and inside folders it made unreadable), a FIFO, a tree far
    deeper than the folders emptying holds open. All of it goes; nothing outside K changes
    -- contents, modes, owners."""
    before = _snapshot(canary)
    assert before["inner"][0] & 0o777 == 0o711 and before["file.txt"][0] & 0o777 == 0o604
    server = notebook_server.NotebookServer(
        sys.executable, tmp_path / "K", limits=Limits(), sandboxed=False
    )
    home = server.scratch / "home"
    for name in notebook_server.WRITABLE:
        (server.scratch / name).mkdir(parents=True)
    (home / ".config").mkdir()
    server.skeleton = {home, home / ".config", server.scratch / "tmp", server.scratch / "results"}
    (home / "to-canary").symlink_to(canary, target_is_directory=True)
    (home / "to-file").symlink_to(canary / "file.txt")
    (home / "locked" / "sub").mkdir(parents=True)
    (home / "locked" / "sub" / "to-inner").symlink_to(canary / "inner")
    os.chmod(home / "locked" / "sub", 0)
    os.chmod(home / "locked", 0)
    (home / ".config" / "to-canary").symlink_to(canary)
    os.mkfifo(server.scratch / "tmp" / "fifo")
    (server.scratch / "results" / "kept").symlink_to(canary)  # where a folder was kept
    server.skeleton.add(server.scratch / "results" / "kept")
    deep = server.scratch / "tmp"
    fd = os.open(deep, os.O_RDONLY)
    for _ in range(3 * folders.MAX_DEPTH + 5):
        os.mkdir("d", dir_fd=fd)
        os.symlink(str(canary), "link", dir_fd=fd)
        inner = os.open("d", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = inner
    os.close(fd)
    os.chmod(home, 0)

    server.reset({"01.ipynb": b"{}"})

    assert sorted(os.listdir(home)) == [".config", "01.ipynb"]
    assert os.listdir(home / ".config") == []
    assert os.listdir(server.scratch / "tmp") == [] == os.listdir(server.scratch / "results")
    assert stat.S_IMODE(os.stat(home).st_mode) == 0o755
    assert _snapshot(canary) == before


def test_a_dead_servers_scratch_is_removed_links_and_all(tmp_path, canary):
    before = _snapshot(canary)
    scratch = tmp_path / "K"
    (scratch / "home" / "locked").mkdir(parents=True)
    (scratch / "home" / "locked" / "to-canary").symlink_to(canary)
    os.chmod(scratch / "home" / "locked", 0)
    notebook_server.remove_scratch(scratch)
    assert not os.path.lexists(scratch)
    assert _snapshot(canary) == before


def test_shared_memory_the_server_could_not_empty_makes_it_refuse(monkeypatch):
    """In the sandbox /dev/shm and the IPC namespace are the server's own: whatever is
    left there after it emptied them is a change (the server then refuses to go on);
    outside the sandbox they are the host's, and not its business."""
    started = process_state.process_state()
    monkeypatch.setattr(process_state, "shared_memory_left", lambda: ["/dev/shm/kept"])
    assert process_state.changes(started, shared=True) == ["left in shared memory: /dev/shm/kept"]
    assert process_state.changes(started) == []


KEEPS_MEMORY = """
def keep():
    big = bytearray(2 * 1024**3)  # held by the traceback's frame
    raise ValueError("an error whose traceback holds 2 GiB")
keep()
"""


@pytest.mark.slow
def test_what_an_error_kept_is_freed_before_the_next_cell(tmp_path):
    """IPython keeps the last error's traceback (sys.last_traceback, its formatter's copy),
    and with it every local of the frames it passed. A cell after an error -- an interrupt at
    the time limit, a failed check -- must not start with that memory still held: with 3 GiB
    of data, the next cell's 2 GiB fit only if the first 2 GiB were freed."""
    server = notebook_server.NotebookServer(
        sys.executable, tmp_path / "K", limits=Limits(memory=3 * 1024**3), sandboxed=False
    )
    server.start()
    try:
        server.reset()
        again = "again = bytearray(2 * 1024**3)\nprint('room for', len(again) >> 30, 'GiB')"
        ran = server.run([(0, KEEPS_MEMORY), (1, again)], timeout=20, answer_within=5)
    finally:
        server.close()
    assert ran.status == "ok", ran.why
    first, second = ran.outputs[0][0], ran.outputs[1][0]
    assert [o.get("ename") for o in first if o["output_type"] == "error"] == ["ValueError"]
    assert [o.get("ename") for o in second if o["output_type"] == "error"] == []
    assert "room for 2 GiB" in "".join(o.get("text", "") for o in second)
