"""The grader's notebook runner: one Python, imported once, forked once per notebook.

Starting a Jupyter kernel and importing NumPy, Matplotlib, IPython and bnlab
costs about a second; running a student's graded cells costs a tenth of that.
So the grader starts this server once (inside the grading sandbox, with the
student venv's Python: ``python -I -m bnlab._grading.forkserver``), and for each
notebook the server forks a fresh child that runs the notebook's code cells
with IPython, as a kernel would, and then ends. The server itself never runs a
line of a student's code: each child starts from the same untouched state, and
nothing one notebook's code does in memory reaches the next.

Between notebooks the server ends every process the last child left behind and
waits until they are gone, so nothing of one student's runs while the next
student's child does; the grader empties the folders the sandbox can write.
The server cannot be traced or read by its children (it is not dumpable); a
child can still change some of the server's state from outside (same user):
its resource limits, nice value, scheduling policy and attributes, I/O priority
and CPU set (bnlab._grading.process_state). So before each fork the server
compares them with those it started with, and checks that shared memory is
empty; if not, it says so and exits: the grader starts a new one.

The protocol on the server's stdin and stdout is described, and its names are
defined, in bnlab._grading.contract.
"""

import gc
import json
import os
import selectors
import signal
import sys
import time

from bnlab._grading import contract
from bnlab._grading.contract import CHILD_FRAME, HEADER, MAX_FRAME, SERVER_FRAME
from bnlab._grading.process_state import changes, clear_shared_memory, process_state

# The child's own output file, made anew for each child, in the folder the grader reads:
# what C code or a subprocess prints directly (the grader shows its end when a notebook
# could not be graded).
CHILD_LOG = os.path.join(os.environ.get(contract.RESULTS_ENV, "."), contract.CHILD_LOG)
MAX_STREAM = 1024**2  # characters of stdout/stderr kept per cell (the rest is dropped)
PRELOAD = (
    "numpy",
    "matplotlib",
    "matplotlib.pyplot",
    "IPython.core.interactiveshell",
    "bnlab",
    "bnlab.activations",
    "bnlab.cells",
    "bnlab.checks",
    "bnlab.checks._core",
    "bnlab.curves",
    "bnlab.data",
    "bnlab._grading.valuefile",
    "bnlab.gradcheck",
    "bnlab.harness",
    "bnlab.loader",
    "bnlab.plain",
    "bnlab.plots",
    "bnlab.training",
)


# ------------------------------------------------------------------ frames


def read_exactly(fd, size):
    """`size` bytes from `fd`, or None at end of file."""
    data = b""
    while len(data) < size:
        chunk = os.read(fd, size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def read_frame(fd):
    header = read_exactly(fd, HEADER.size)
    if header is None:
        return None
    return read_exactly(fd, HEADER.unpack(header)[0])


def write_frame(fd, payload):
    data = HEADER.pack(len(payload)) + payload
    while data:
        data = data[os.write(fd, data) :]


# ------------------------------------------------------------------ the server


def _libc_prctl(option, value):
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)


PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER = 1, 4, 36


def serve(own_pid_namespace):
    """The server's loop (see the module docstring); returns when the grader closes stdin."""
    if os.environ.get("PYTHONWARNINGS") == "ignore":  # python -I does not read it
        import warnings

        warnings.simplefilter("ignore")
    for name in PRELOAD:
        __import__(name)
    sys.modules["bnlab.checks._core"].preload()  # the visible checks' stored cases
    _libc_prctl(PR_SET_DUMPABLE, 0)
    _libc_prctl(PR_SET_CHILD_SUBREAPER, 1)  # what a child leaves behind stays ours to end
    shell = make_shell(CELL)
    started_with = process_state()
    say({"ready": True})
    while True:
        payload = read_frame(0)
        if payload is None:
            return 0
        message = json.loads(payload)
        if "run" not in message:
            continue  # an interrupt or kill that came after its child ended
        changed = changes(started_with, shared=own_pid_namespace)
        if changed:
            say({"poisoned": "this server's state was changed: " + ", ".join(changed)})
            return 3
        log = os.open(CHILD_LOG, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
        code = run_child([(int(i), str(source)) for i, source in message["run"]], log, shell)
        os.close(log)
        end_the_rest(own_pid_namespace)
        say({"exit": code})


def say(message):
    write_frame(1, SERVER_FRAME + json.dumps(message).encode())


def run_child(cells, log, shell):
    """Fork a child that runs `cells`; relay its frames and the grader's signals until it
    exits. Returns its exit status, or minus the signal that ended it."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read_end)
        child_main(cells, write_end, log, shell)
    os.close(write_end)
    pidfd = os.pidfd_open(pid)
    selector = selectors.DefaultSelector()
    selector.register(0, selectors.EVENT_READ, "grader")
    selector.register(read_end, selectors.EVENT_READ, "child")
    selector.register(pidfd, selectors.EVENT_READ, "exit")
    buffer, status = b"", None
    while status is None:
        for key, _ in selector.select():
            if key.data == "grader":
                command = json.loads(read_frame(0) or b'{"kill": true}')
                sig = signal.SIGKILL if command.get("kill") else signal.SIGINT
                _signal(pid, sig)
            elif key.data == "child":
                chunk = os.read(read_end, 1 << 16)
                if not chunk:
                    selector.unregister(read_end)
                buffer = _relay(buffer + chunk, pid)
            else:
                status = os.waitpid(pid, 0)[1]
    selector.close()
    os.close(pidfd)
    os.set_blocking(read_end, False)
    try:  # what the child wrote before it ended
        while chunk := os.read(read_end, 1 << 16):
            buffer = _relay(buffer + chunk, pid)
    except BlockingIOError:  # a process it left behind still holds the pipe: ended next
        pass
    os.close(read_end)
    return os.waitstatus_to_exitcode(status)


def _relay(buffer, pid):
    """Forward each whole frame of `buffer` to the grader; the incomplete rest is returned.
    A frame over MAX_FRAME kills the child (and the buffer is dropped)."""
    while len(buffer) >= HEADER.size:
        size = HEADER.unpack(buffer[: HEADER.size])[0]
        if size > MAX_FRAME:
            _signal(pid, signal.SIGKILL)
            return b""
        if len(buffer) < HEADER.size + size:
            break
        write_frame(1, CHILD_FRAME + buffer[HEADER.size : HEADER.size + size])
        buffer = buffer[HEADER.size + size :]
    return buffer


def _signal(pid, sig):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _descendants():
    """Pids of this process's living descendants (read from /proc)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != b"Z":
            parents.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [os.getpid()]
    while todo:
        children = parents.get(todo.pop(), [])
        found += children
        todo += children
    return found


def end_the_rest(own_pid_namespace, patience=10.0):
    """End every process the last child left behind and reap them: in the sandbox's own
    pid namespace, every process but this one and the namespace's init; elsewhere, this
    server's descendants (orphans come back to it: it is their subreaper)."""
    deadline = time.monotonic() + patience
    while True:
        if own_pid_namespace:
            try:
                os.kill(-1, signal.SIGKILL)
            except ProcessLookupError:
                pass
        left = _descendants()
        for pid in left:
            _signal(pid, signal.SIGKILL)
        while True:  # reap
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.002)
    if own_pid_namespace:  # the sandbox's IPC namespace and /dev/shm are this server's own
        clear_shared_memory()


# ------------------------------------------------------------------ the child


class Cell:
    """The outputs of the cell being run, as nbformat output dicts."""

    def __init__(self):
        self.outputs, self.kept = [], 0

    def stream(self, name, text):
        if self.kept >= MAX_STREAM:
            return
        text = text[: MAX_STREAM - self.kept]
        self.kept += len(text)
        last = self.outputs[-1] if self.outputs else None
        if last and last["output_type"] == "stream" and last["name"] == name:
            last["text"] += text
        else:
            self.outputs.append({"output_type": "stream", "name": name, "text": text})

    def add(self, output):
        self.outputs.append(output)


CELL = Cell()  # the cell a child is running


def _capture(cell):
    """(Stream, Publisher, Hook): IPython's stream, display and result hooks, into `cell`."""
    import io

    from IPython.core.displayhook import DisplayHook
    from IPython.core.displaypub import DisplayPublisher

    class Stream(io.TextIOBase):
        def __init__(self, name):
            self.name = name

        @property
        def encoding(self):
            return "utf-8"

        def writable(self):
            return True

        def write(self, text):
            if not isinstance(text, str):
                raise TypeError(f"write() argument must be str, not {type(text).__name__}")
            cell.stream(self.name, text)
            return len(text)

    class Publisher(DisplayPublisher):
        def publish(self, data, metadata=None, *args, **kwargs):
            output = {"output_type": "display_data", "data": data, "metadata": metadata or {}}
            cell.add(output)

        def clear_output(self, wait=False):
            cell.outputs.clear()

    class Hook(DisplayHook):
        def start_displayhook(self):
            self.data, self.metadata = {}, {}

        def write_output_prompt(self):
            pass

        def write_format_data(self, format_dict, md_dict=None):
            self.data, self.metadata = format_dict, md_dict or {}

        def finish_displayhook(self):
            cell.add(
                {
                    "output_type": "execute_result",
                    "data": self.data,
                    "metadata": self.metadata,
                    "execution_count": self.prompt_count,
                }
            )

    return Stream, Publisher, Hook


def make_shell(cell):
    """(IPython shell, Stream class) whose displays, results, streams and errors go to
    `cell`. Built in the server, once, before any child: no history file, no thread."""
    from IPython.core.history import HistoryManager
    from IPython.core.interactiveshell import InteractiveShell

    Stream, Publisher, Hook = _capture(cell)

    class Shell(InteractiveShell):
        def init_history(self):
            self.history_manager = HistoryManager(shell=self, parent=self, hist_file=":memory:")
            self.configurables.append(self.history_manager)

        def _showtraceback(self, etype, evalue, stb):
            cell.add(
                {
                    "output_type": "error",
                    "ename": getattr(etype, "__name__", str(etype)),
                    "evalue": str(evalue),
                    "traceback": list(stb),
                }
            )

    shell = Shell.instance(display_pub_class=Publisher, displayhook_class=Hook)
    return shell, Stream


def _forget_last_error(shell):
    """Drop what IPython keeps of the last error once its outputs are taken: the traceback
    holds every frame it passed and their locals, so memory a failed or interrupted cell
    allocated would stay in use for the cells after it."""
    for name in ("last_type", "last_value", "last_traceback", "last_exc"):
        if hasattr(sys, name):
            setattr(sys, name, None)
    for formatter in (getattr(shell, "InteractiveTB", None), getattr(shell, "SyntaxTB", None)):
        if formatter is not None and hasattr(formatter, "tb"):
            formatter.tb = None
    shell.last_execution_result = None  # its error_in_exec holds the traceback too
    gc.collect()  # the traceback and its frames refer to each other


def child_main(cells, channel, log, shell):
    """Run `cells` ([(index, source)]) in a fresh IPython shell, sending one frame when each
    starts and one with its outputs when it is done; then exit. Never returns.
    log -- a new file, the child's own: what C code or a subprocess prints directly."""
    code = 0
    try:
        _libc_prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        os.setpgid(0, 0)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.closerange(3, channel)
        os.closerange(channel + 1, 1 << 16)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        shell, stream = shell
        cell = CELL
        sys.stdin = open(os.devnull, encoding="utf-8")  # noqa: SIM115
        sys.stdout, sys.stderr = stream("stdout"), stream("stderr")

        def send(message):
            write_frame(channel, json.dumps(message, default=repr).encode())

        for index, source in cells:
            cell.outputs, cell.kept = [], 0
            send({"cell": index, "event": "start"})
            began = time.perf_counter()
            if not shell.run_cell(source, store_history=True).success:
                _forget_last_error(shell)
            send(
                {
                    "cell": index,
                    "event": "done",
                    "outputs": cell.outputs,
                    "count": shell.execution_count - 1,
                    "seconds": time.perf_counter() - began,
                }
            )
    except BaseException:  # noqa: BLE001 -- the frames say how far it got
        import traceback

        os.write(2, traceback.format_exc().encode())
        code = 1
    finally:
        os._exit(code)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    # every process but init and this one is ended between notebooks: only where this
    # server is alone in a pid namespace of its own (pid 2, after the sandbox's init)
    own = contract.OWN_PID_NAMESPACE in argv and os.getpid() <= 2
    return serve(own_pid_namespace=own)


if __name__ == "__main__":
    sys.exit(main())
