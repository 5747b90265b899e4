"""Run a notebook's code cells for the grader: the trusted half of bnlab._grading.forkserver.

A `NotebookServer` is one fork server (bnlab._grading.forkserver) in the grading
sandbox (or, with --no-sandbox, as an ordinary process), started once per
grading worker and used for notebook after notebook, of student after student:
each notebook runs in a fresh child forked from the untouched server, with the
student's own notebooks in its home folder. Between notebooks the server ends
whatever the child left running, and `reset` empties every folder the sandbox
can write before the next notebook's files go in.

`run` sends the code cells and watches the time: a cell over its time limit is
interrupted (it ends in KeyboardInterrupt, and the next cells run); a child
that does not answer `answer_within` seconds after that is killed and the
notebook ends "unresponsive". What the child sends is the student's process
speaking: each output is checked against nbformat's schema, sizes are bounded,
and nothing it says decides a grade (autograder.grading.verdicts does, from the
harness's files).
"""

import contextlib
import json
import os
import selectors
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat.v4.nbbase import validate

from autograder import sandbox
from autograder.workspace import KERNEL_ENV
from bnlab._grading import contract, valuefile
from bnlab._grading.contract import HEADER, MAX_FRAME, SERVER_FRAME
from bnlab._grading.folders import empty_folder

MAX_OUTPUT = 64 * 1024**2  # bytes a notebook's child may send; more ends the notebook
STARTUP_SECONDS = 120  # for the server's imports, on a loaded machine
EXIT_SECONDS = 15  # for the server to end a child and what it left, once asked
WRITABLE = tuple(contract.WRITABLE)  # the folders of K the sandbox can write
OUTPUT_TYPES = ("stream", "display_data", "execute_result", "error")


class ServerFailed(RuntimeError):
    """The server could not start or died: start a new one."""


class ServerRefused(ServerFailed):
    """The server found its state changed from outside and ended before running anything."""


@dataclass
class Ran:
    """What running one notebook's cells gave.

    outputs -- {cell index: (outputs, execution count)} of the cells that finished;
    seconds -- {cell index: how long it ran, by the child's clock (for profiles only)};
    status -- "ok" (every cell ran), "died" (the child ended before the last cell),
        "unresponsive" (killed: it did not answer after a time-limit interrupt) or
        "budget" (killed: the notebook's time budget was used up; the cells after the
        last one done were not run);
    log -- the end of what the child printed outside the notebook (C code, subprocesses).
    """

    outputs: dict = field(default_factory=dict)
    status: str = "ok"
    log: str = ""
    why: str = ""  # the status in words, for the report
    seconds: dict = field(default_factory=dict)  # {cell index: seconds it ran, as the child says}


class NotebookServer:
    """One fork server and its scratch folder K (see autograder.sandbox.command for K's
    layout)."""

    def __init__(self, python, scratch, *, limits, sandboxed=True, hide=(), cases=None, fonts=None):
        self.python, self.scratch = str(python), Path(scratch)
        self.limits, self.sandboxed, self.hide, self.cases = limits, sandboxed, hide, cases
        self.fonts = fonts  # matplotlib's font cache (sandbox.prepare_matplotlib_cache)
        self.process, self.buffer, self.skeleton = None, b"", set()
        self.received = 0  # bytes of frames read from the server so far

    # ------------------------------------------------------------ life
    def start(self):
        """Start the server and wait until it has imported everything."""
        self.close()
        remove_scratch(self.scratch)
        self.scratch.mkdir(parents=True)
        argv, env = self._command()  # (makes K's folders without the sandbox)
        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log_file(),
            env=env,
            cwd=self.scratch if self.sandboxed else self.scratch / "home",
        )
        self.buffer = b""
        kind, message = self._next(STARTUP_SECONDS)
        if kind != SERVER_FRAME or not message.get("ready"):
            self.close()
            raise ServerFailed(f"the grading server did not start: {self.server_log()}")
        # The folders there now are kept by reset(): some are where the sandbox mounts
        # something (a course under /tmp is mounted inside the sandbox's /tmp, K/tmp).
        self.skeleton = {
            Path(inner) for name in WRITABLE for inner, _, _ in os.walk(self.scratch / name)
        }

    def _command(self):
        """(argv, environment) of the server: the sandbox's launcher (which lays out K and
        sets the sandbox's own environment), or with --no-sandbox the server itself."""
        env = {**os.environ, **KERNEL_ENV, "NBGRADER_EXECUTION": "autograde"}
        env[contract.SCRATCH_ENV] = str(self.scratch)
        for name, value in ((contract.CASES_ENV, self.cases), (contract.FONTS_ENV, self.fonts)):
            env.pop(name, None)
            if value:
                env[name] = str(value)
        if self.sandboxed:
            return sandbox.server_argv(self.python, self.limits, hide=self.hide), env
        for name in WRITABLE:
            (self.scratch / name).mkdir()
        config = self.scratch / "home" / contract.FONT_CONFIG
        config.mkdir(parents=True)
        for fontlist in Path(self.fonts).glob("fontlist-*.json") if self.fonts else []:
            shutil.copyfile(fontlist, config / fontlist.name)
        env.update(
            HOME=str(self.scratch / "home"),
            TMPDIR=str(self.scratch / "tmp"),
            MPLCONFIGDIR=str(config),
        )
        env[contract.RESULTS_ENV] = str(self.scratch / "results")
        return sandbox.unsandboxed_argv(self.python, self.limits), env

    def _log_file(self):
        with open(self.scratch / contract.SERVER_LOG, "wb") as handle:
            return os.dup(handle.fileno())

    @property
    def alive(self):
        return self.process is not None and self.process.poll() is None

    def close(self):
        """Stop the server (and so the sandbox, and everything in it)."""
        if self.process is None:
            return
        with contextlib.suppress(OSError):
            self.process.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=2)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()
        self.process = None

    def server_log(self):
        return _tail(self.scratch / contract.SERVER_LOG) or "(it printed nothing)"

    # ------------------------------------------------------------ one notebook
    def reset(self, files=()):
        """Empty every folder the sandbox can write, then put `files` ({name: bytes}: the
        student's notebooks) in its home folder. Only between notebooks: no child runs.
        Nothing there is trusted: links are removed, never followed (empty_folder); if
        something cannot be removed, the server is started anew on a new K."""
        try:
            for name in WRITABLE:
                empty_folder(self.scratch / name, self.skeleton)
        except OSError:
            self.start()
        for name, data in dict(files).items():
            path = self.scratch / "home" / name
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)

    @property
    def results(self):
        """Where the harness wrote its files (and the child its log)."""
        return self.scratch / "results"

    def run(self, cells, timeout, answer_within=10.0, budget=None):
        """Run `cells` ([(index, source)]) in a fresh child, within `budget` seconds for
        the whole notebook (see _Watch); a Ran. Raises ServerFailed
        when the server died (start a new one; the notebook was not graded), and
        ServerRefused when it refused or died before the first cell started: then none of
        this notebook's code ran, and what ended the server came from before."""
        watch = _Watch([int(i) for i, _ in cells], timeout, answer_within, budget)
        try:
            if not self.alive:
                raise ServerFailed("the grading server is not running")
            self._send({"run": [[int(i), s] for i, s in cells]})
            return self._run(watch)
        except ServerRefused:
            raise
        except ServerFailed as error:
            if watch.next > 0:
                raise
            raise ServerRefused(f"{error} (before this notebook's first cell)") from None

    def _run(self, watch):
        ran, received = Ran(), self.received
        while True:
            try:
                kind, message = self._next(watch.wait())
            except TimeoutError:
                if watch.may_interrupt():
                    self._send({"interrupt": True})
                    continue
                ran.status = "budget" if watch.spent else "unresponsive"
                self._kill_child()
                break
            if kind == SERVER_FRAME:
                if "exit" in message:
                    if ran.status == "ok" and len(ran.outputs) < len(watch.order):
                        ran.status = "died"
                    break
                self.close()
                raise ServerRefused(str(message.get("poisoned") or message)[:300])
            if self.received - received > MAX_OUTPUT:
                ran.status = "output"
                self._kill_child()
                break
            done = watch.event(message.get("event"), message.get("cell"))
            if done is not None:
                ran.outputs[done] = (_outputs(message.get("outputs")), message.get("count"))
                seconds = message.get("seconds")
                ran.seconds[done] = seconds if isinstance(seconds, float) else None
        ran.log = _tail(self.results / contract.CHILD_LOG)
        return ran

    def _kill_child(self):
        self._send({"kill": True})
        self._await_exit()

    def _await_exit(self):
        """Wait until the server says the child and what it left are gone. A server that
        does not say so in EXIT_SECONDS (a child may have stopped it: SIGSTOP) is ended:
        ServerFailed, and the next notebook gets a new one."""
        deadline = time.monotonic() + EXIT_SECONDS
        while True:
            try:
                kind, message = self._next(max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                self.close()
                raise ServerFailed("the grading server did not end the notebook's child") from None
            if kind == SERVER_FRAME and "exit" in message:
                return

    # ------------------------------------------------------------ frames
    def _send(self, message):
        payload = json.dumps(message).encode()
        try:
            self.process.stdin.write(HEADER.pack(len(payload)) + payload)
            self.process.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            self.close()
            raise ServerFailed("the grading server died") from None

    def _next(self, timeout):
        """The next frame: (SERVER_FRAME, server message) or (CHILD_FRAME, child message or
        {}). Raises
        TimeoutError after `timeout` seconds (None: wait for ever), ServerFailed at EOF."""
        deadline = None if timeout is None else time.monotonic() + timeout
        fd = self.process.stdout.fileno()
        while True:
            frame = self._take()
            if frame is not None:
                return frame
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise TimeoutError
            with selectors.DefaultSelector() as selector:
                selector.register(fd, selectors.EVENT_READ)
                if not selector.select(left):
                    raise TimeoutError
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                log = self.server_log()
                self.close()
                raise ServerFailed(f"the grading server died: {log[-600:]}")
            self.buffer += chunk

    def _take(self):
        if len(self.buffer) < HEADER.size:
            return None
        size = HEADER.unpack(self.buffer[: HEADER.size])[0]
        if size > MAX_FRAME + 1:
            self.close()
            raise ServerFailed("the grading server sent a frame over the size limit")
        if len(self.buffer) < HEADER.size + size:
            return None
        self.received += size
        payload = self.buffer[HEADER.size : HEADER.size + size]
        self.buffer = self.buffer[HEADER.size + size :]
        kind, body = payload[:1], payload[1:]
        try:
            message = json.loads(body)
        except ValueError:
            message = {}
        return kind, message if isinstance(message, dict) else {}


class _Watch:
    """The clock of one notebook's run. Cells must start in their order, one at a time
    (what the child says otherwise is ignored: it is the student's process speaking); a
    cell has `timeout` seconds, then, once interrupted, `answer_within` more; between
    cells the child has `answer_within`. The whole notebook has `budget` seconds from its
    first cell's start (the child has a quarter of STARTUP_SECONDS to start it),
    whatever the child sends and however many cells the student added: the grader gives
    a budget that does not grow with the student's cells (see
    autograder.grading.submission.notebook_budget). Without one, each cell adds its share
    (`timeout` and twice `answer_within`), for callers that run trusted cells only."""

    def __init__(self, order, timeout, answer_within, budget=None):
        self.order, self.timeout, self.answer_within = order, timeout, answer_within
        self.next, self.current, self.interrupted = 0, None, False
        now = time.monotonic()
        if budget is None:
            budget = len(order) * (timeout + 2 * answer_within)
        self.budget = budget
        self.deadline = now + answer_within + STARTUP_SECONDS / 4
        self.end = self.deadline + budget

    def wait(self):
        return max(0.0, min(self.deadline, self.end) - time.monotonic())

    @property
    def spent(self):
        """Whether the notebook's budget is used up (then the rest of it is not run)."""
        return time.monotonic() >= self.end

    def may_interrupt(self):
        """Whether a timeout now is a cell's time limit (interrupt it) rather than the end."""
        if self.current is None or self.interrupted or self.spent:
            return False
        self.interrupted, self.deadline = True, time.monotonic() + self.answer_within
        return True

    def event(self, event, index):
        """Take one event of the child's; the index of a cell that is done, else None."""
        now = time.monotonic()
        expected = self.order[self.next] if self.next < len(self.order) else None
        if event == "start" and self.current is None and index == expected:
            if self.next == 0:  # the budget runs from here
                self.end = min(self.end, now + self.budget)
            self.current, self.next, self.interrupted = index, self.next + 1, False
            self.deadline = now + self.timeout
        elif event == "done" and index is not None and index == self.current:
            self.current, self.deadline = None, now + self.answer_within
            return index
        return None


def _outputs(raw):
    """The child's outputs as nbformat nodes; anything that is not a valid output of the
    four kinds is replaced by a note saying so."""
    outputs = []
    for item in raw if isinstance(raw, list) else []:
        try:
            if not isinstance(item, dict) or item.get("output_type") not in OUTPUT_TYPES:
                raise ValueError(item)
            node = nbformat.from_dict(item)
            validate(node, node.output_type)
        except Exception:  # noqa: BLE001 -- whatever the student's process sent
            node = nbformat.v4.new_output(
                "stream", name="stdout", text="(an output that is not a valid notebook output)\n"
            )
        outputs.append(node)
    return outputs


def _tail(path, size=3000):
    """The end of a file the sandbox wrote, as text (a link is not followed), or ""."""
    try:
        return valuefile.read_regular_file(path, size, tail=True).decode("utf-8", "replace")
    except (OSError, valuefile.ValueFileError):
        return ""


def remove_scratch(folder):
    """Remove a scratch folder K and everything in it, as the sandbox left it: links not
    followed, unreadable folders opened (empty_folder)."""
    if os.path.lexists(folder):
        empty_folder(folder)
        os.rmdir(folder)
