"""The notebook server's clock and budget hold whatever the student's process sends.

A child's frames come from the student's own process: its code can find the pipe
to the server and write frames of its own. Here a cell that ignores interrupts also
keeps claiming that new cells have started, and another floods the pipe with
output. The server runs unsandboxed with this Python (the protocol is the same in
the sandbox); the first must end "unresponsive" within its cells' time, the second
"output", and the server must grade the next notebook as if nothing had happened.
"""

import sys
import time

import pytest

from autograder import runner
from autograder.sandbox import Limits

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
    server = runner.NotebookServer(
        sys.executable, tmp_path_factory.mktemp("server") / "K", limits=Limits(), sandboxed=False
    )
    server.start()
    yield server
    server.close()


def _fine(server):
    server.reset()
    ran = server.run([(0, "x = 1 + 1"), (1, "print(x)")], timeout=5, answer_within=2)
    return ran.status, [o.get("text") for o in ran.outputs[1][0]]


def test_claims_of_progress_do_not_stop_the_clock(server):
    server.reset()
    started = time.monotonic()
    ran = server.run([(0, CLAIMS_PROGRESS), (1, "print('never')")], timeout=2, answer_within=1)
    seconds = time.monotonic() - started
    assert ran.status == "unresponsive"
    assert seconds < 2 + 1 + 5, seconds  # the cell's time, the answer's, some slack
    assert _fine(server) == ("ok", ["2\n"])


def test_a_flood_of_output_ends_the_notebook(server, monkeypatch):
    monkeypatch.setattr(runner, "MAX_OUTPUT", 16 * 1024**2)
    server.reset()
    ran = server.run([(0, FLOODS), (1, "print('never')")], timeout=30, answer_within=5)
    assert ran.status == "output"
    assert server.received > 16 * 1024**2
    assert _fine(server) == ("ok", ["2\n"])


@pytest.fixture
def lone_server(tmp_path):
    server = runner.NotebookServer(sys.executable, tmp_path / "K", limits=Limits(), sandboxed=False)
    server.start()
    yield server
    server.close()


def test_a_server_ended_between_notebooks_is_not_the_next_notebooks_failure(lone_server):
    # what a process left by the previous notebook could do: the next notebook must be
    # run again on a new server without counting as an attempt (ServerRefused)
    lone_server.reset()
    assert lone_server.run([(0, "x = 1")], timeout=5).status == "ok"
    lone_server.process.kill()
    lone_server.process.wait()
    with pytest.raises(runner.ServerRefused, match="not running"):
        lone_server.run([(0, "x = 1")], timeout=5)


def test_a_server_whose_priority_was_changed_refuses_the_next_notebook(lone_server):
    lone_server.reset()
    poison = "import os\nos.setpriority(os.PRIO_PROCESS, os.getppid(), 19)"
    assert lone_server.run([(0, poison)], timeout=5).status == "ok"
    with pytest.raises(runner.ServerRefused, match="priority"):
        lone_server.run([(0, "x = 1")], timeout=5)
    assert not lone_server.alive


def test_a_notebook_that_kills_its_server_has_failed_itself(lone_server):
    lone_server.reset()
    kill = "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)"
    with pytest.raises(runner.ServerFailed) as raised:
        lone_server.run([(0, "x = 1"), (1, kill), (2, "print(x)")], timeout=5)
    assert not isinstance(raised.value, runner.ServerRefused)
