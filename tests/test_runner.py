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
