"""Nothing one student's code does reaches the next student graded by the same server.

The grader runs every notebook in a fresh child of one pre-imported server per
worker (autograder.runner). Here one worker grades, in turn: a probe, a
poisoner, a probe, another poisoner, a probe, ... Each poisoner hands in the
full solution plus, in every notebook, a cell that poisons what it can: the
interpreter's modules and builtins, the files the sandbox can write, shared
memory, the server's own limits, priority and CPU set (changeable from a
process of the same user: lowered a little, or its CPU time cut so that it
dies), a daemon that keeps rewriting the next student's files, or the server
itself killed. Each probe is the full solution plus, in
every notebook, a cell that prints what a student's code can see of the state
it starts in.

Every probe must get the full solution's grades, and print exactly what the
first probe (graded by a fresh server) printed; every poisoner's own notebook
must show that its poison took effect, or the test would prove nothing.
"""

import json
import textwrap

import nbformat
import pytest
from autograder_support import (
    SOURCE,
    collect,
    gradebook_scores,
    points,
    run,
    sqlite_url,
    written_answers,
)

from autograder import sandbox
from autograder.samples import generate
from bnlab.course import ASSIGNMENT, NOTEBOOKS

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

TAG = "bnlab-poison-test"

PROBE = """
import json, os, resource, sys, builtins
import numpy as _np
from bnlab import harness as _harness
own = {f"{stem}.ipynb" for stem in STEMS}
def _listing(folder):
    # the files a student's code could have left: writable ones (a course under /tmp is
    # mounted read-only inside the sandbox's /tmp)
    found = []
    for root, dirs, files in os.walk(folder):
        found += [
            os.path.relpath(os.path.join(root, f), folder)
            for f in files
            if os.access(os.path.join(root, f), os.W_OK)
        ]
    return sorted(f for f in found if f not in own)
def _ipc(kind):
    try:
        return len(open(f"/proc/sysvipc/{kind}").read().splitlines()) - 1
    except OSError:
        return None
state = {
    "home": _listing(os.path.expanduser("~")),
    "tmp": _listing("/tmp"),
    "shm": _listing("/dev/shm") if os.path.isdir("/dev/shm") else None,
    "ipc": [_ipc("shm"), _ipc("msg"), _ipc("sem")],
    "others": sorted(
        int(p) for p in os.listdir("/proc")
        if p.isdigit() and int(p) not in (1, os.getpid(), os.getppid())
    ),
    "limits": [resource.getrlimit(getattr(resource, name)) for name in sorted(
        n for n in dir(resource) if n.startswith("RLIMIT_"))],
    "priority": os.getpriority(os.PRIO_PROCESS, 0),
    "cpus": sorted(os.sched_getaffinity(0)),
    "numpy": [float(_np.mean([1.0, 2.0, 3.0])), bool(_np.allclose(1.0, 2.0))],
    "builtins": [sum([1, 2]), len([1, 2, 3]), hasattr(builtins, "poison_marker")],
    "harness": _harness.run.__module__ + "." + _harness.run.__qualname__,
    "modules": sorted(m for m in sys.modules if m.startswith("poison")),
    "env": sorted(k for k in os.environ if k.startswith("POISON")),
}
print("STATE " + json.dumps(state, sort_keys=True))
"""

POISONS = {
    "poison-interpreter": """
        import builtins, os, sys, types
        import numpy
        import bnlab.harness
        numpy.mean = lambda *a, **k: 0.0
        numpy.allclose = lambda *a, **k: True
        builtins.sum = lambda *a, **k: 0
        builtins.poison_marker = True
        bnlab.harness.run = lambda *a, **k: None
        sys.modules["poison_module"] = types.ModuleType("poison_module")
        os.environ["POISON"] = "1"
        print("POISONED", numpy.mean([1, 2, 3]) == 0.0, bnlab.harness.run("x", None) is None)
        """,
    "poison-files": """
        import ctypes, os
        from pathlib import Path
        home = Path.home()
        (home / ".ipython/profile_default/startup").mkdir(parents=True, exist_ok=True)
        (home / ".ipython/profile_default/startup/00-poison.py").write_text(
            "import numpy; numpy.mean = lambda *a, **k: 0.0")
        (home / ".config/matplotlib").mkdir(parents=True, exist_ok=True)
        (home / ".config/matplotlib/matplotlibrc").write_text("backend: poison")
        (home / "numpy.py").write_text("raise SystemExit('poisoned')")
        (home / "sub").mkdir(exist_ok=True)
        (home / "sub" / "deep.txt").write_text("x")
        os.chmod(home / "sub", 0)
        Path("/tmp/poison.txt").write_text("x")
        if os.path.isdir("/dev/shm"):
            Path("/dev/shm/poison").write_bytes(b"x" * 1000)
        libc = ctypes.CDLL(None, use_errno=True)
        segment = libc.shmget(0x5EED, 4096, 0o1000 | 0o600)  # IPC_CREAT
        queue = libc.msgget(0x5EED, 0o1000 | 0o600)
        print("POISONED", (home / "numpy.py").exists(), segment >= 0, queue >= 0)
        """,
    "poison-server-limits": """
        import os, resource
        server = os.getppid()
        lowered = []
        for name in ("RLIMIT_DATA", "RLIMIT_CPU", "RLIMIT_NOFILE", "RLIMIT_NPROC", "RLIMIT_AS"):
            limit = getattr(resource, name)
            soft, hard = resource.prlimit(server, limit)
            hard = (2**40 if hard == resource.RLIM_INFINITY else hard) - 1  # lower, not lethal
            soft = hard if soft == resource.RLIM_INFINITY else min(soft, hard)
            resource.prlimit(server, limit, (soft, hard))
            lowered.append(resource.prlimit(server, limit) == (soft, hard))
        os.setpriority(os.PRIO_PROCESS, server, 19)
        os.sched_setaffinity(server, {min(os.sched_getaffinity(server))})
        print("POISONED", all(lowered) and os.getpriority(os.PRIO_PROCESS, server) == 19)
        """,
    "poison-server-cpu": """
        import os, resource
        print("POISONED", True, flush=True)
        resource.prlimit(os.getppid(), resource.RLIMIT_CPU, (1, 1))  # the server dies of it
        """,
    "poison-daemon": """
        import os, time
        from pathlib import Path
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                deadline = time.time() + 120
                while time.time() < deadline:
                    for folder in ("/grading/results", str(Path.home()), "/tmp"):
                        try:
                            Path(folder, "poison-daemon.txt").write_text("x")
                            names = os.listdir(folder)
                        except OSError:
                            continue
                        for name in names:
                            try:
                                Path(folder, name).write_bytes(b"poison")
                            except OSError:
                                pass
                    time.sleep(0.01)
            os._exit(0)
        for _ in range(100):
            if Path("/tmp/poison-daemon.txt").exists():
                break
            time.sleep(0.05)
        print("POISONED", Path("/tmp/poison-daemon.txt").exists())
        """,
    "poison-kills-server": """
        import os, signal
        print("POISONED", True, flush=True)
        os.kill(os.getppid(), signal.SIGKILL)
        """,
}

# The poisons that end the server: always, or once it has used a second of CPU time
ALWAYS_LETHAL = {"poison-kills-server"}
LETHAL = ALWAYS_LETHAL | {"poison-server-cpu"}


def _plant(inbox, student, source):
    """A copy of the solution submission as `student`, with a cell of `source` (tagged)
    at the end of every notebook."""
    folder = inbox / student / ASSIGNMENT
    folder.mkdir(parents=True)
    for stem in NOTEBOOKS:
        notebook = nbformat.read(inbox / "solution" / ASSIGNMENT / f"{stem}.ipynb", as_version=4)
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["tags"] = [TAG]
        notebook.cells.append(cell)
        nbformat.write(notebook, folder / f"{stem}.ipynb")


def _tagged_output(course, student, stem):
    """The text the tagged cell printed in `student`'s autograded notebook `stem`."""
    path = course / "autograded" / student / ASSIGNMENT / f"{stem}.ipynb"
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if TAG in cell.metadata.get("tags", []):
            return "".join(o.get("text", "") for o in cell.get("outputs", []))
    raise AssertionError(f"no tagged cell in {path}")


def _states(course, student):
    states = {}
    for stem in NOTEBOOKS:
        lines = [line for line in _tagged_output(course, student, stem).splitlines()]
        found = [line[len("STATE ") :] for line in lines if line.startswith("STATE ")]
        states[stem] = json.loads(found[0]) if found else None
    return states


@pytest.fixture(scope="module")
def poisoned(course_copy, released_course, tmp_path_factory):
    try:
        sandbox.check()
    except sandbox.SandboxUnavailable as error:
        pytest.skip(f"no sandbox here: {error}")
    inbox = tmp_path_factory.mktemp("poisoning") / "inbox"
    generate(inbox, SOURCE, released_course / "release" / ASSIGNMENT, ["solution"])
    probe = f"STEMS = {list(NOTEBOOKS)!r}\n" + PROBE
    order = ["probe-0"]
    _plant(inbox, "probe-0", probe)
    for number, (name, poison) in enumerate(POISONS.items(), start=1):
        _plant(inbox, name, textwrap.dedent(poison))
        _plant(inbox, f"probe-{number}", probe)
        order += [name, f"probe-{number}"]
    course = course_copy("poisoning")
    collect(course, inbox)
    students = [arg for student in order for arg in ("--student", student)]
    result = run("grade", course, "--workers", 1, "--no-progress", *students, check=False)
    return {
        "course": course,
        "order": order,
        "result": result,
        "scores": gradebook_scores(sqlite_url(course)),
    }


def test_the_run_completes(poisoned):
    assert poisoned["result"].returncode == 0, poisoned["result"].stderr[-3000:]


def test_every_poison_took_effect_in_its_own_notebooks(poisoned):
    for name in POISONS:
        report = json.loads((poisoned["course"] / "reports" / "grade" / f"{name}.json").read_text())
        for stem in NOTEBOOKS:
            died = "kernel died" in report["notebooks"][stem]["message"]
            if name in LETHAL and died:  # nothing of the notebook comes back
                continue
            assert name not in ALWAYS_LETHAL, (name, stem, report["notebooks"][stem])
            text = _tagged_output(poisoned["course"], name, stem)
            assert "POISONED True" in text, (name, stem, text[-500:])


def test_the_first_probe_saw_a_clean_start(poisoned):
    states = _states(poisoned["course"], "probe-0")
    for stem, state in states.items():
        assert state is not None, stem
        assert state["home"] == [] and state["tmp"] == [] and state["others"] == [], state
        assert state["numpy"] == [2.0, False] and state["builtins"] == [3, 3, False], state
        assert state["shm"] == [] and state["priority"] == 0, state
        assert state["harness"] == "bnlab.harness.run" and state["modules"] == [], state
        assert state["env"] == [] and state["ipc"] == [0, 0, 0], state


@pytest.mark.parametrize("number", range(1, len(POISONS) + 1))
def test_a_probe_after_a_poisoner_sees_what_the_first_probe_saw(poisoned, number):
    assert _states(poisoned["course"], f"probe-{number}") == _states(poisoned["course"], "probe-0")


@pytest.mark.parametrize("number", range(1, len(POISONS) + 1))
def test_a_probe_after_a_poisoner_gets_the_full_solution_grades(poisoned, number):
    full = {name: value for name, value in points().items() if name not in written_answers()}
    first = poisoned["scores"]["probe-0"]
    assert {name: first[name] for name in full} == full
    assert poisoned["scores"][f"probe-{number}"] == first
