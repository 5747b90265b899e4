"""Nothing one student's code does reaches the next student graded by the same server.

The grader runs every notebook in a fresh child of one pre-imported server per
worker (autograder.grading.notebook_server). Here one worker grades, in turn: a probe, a
poisoner, a probe, another poisoner, a probe, ... Every student hands in the
solution's first two notebooks, 01_forward_bn and 02_backward_bn (cheap to run;
the others are not handed in, so not run), each with a tagged cell at its end;
the poisoners that end the server or change it hand in the first one only (each
of their notebooks costs a new server).
Each poisoner's cell poisons what it can: the interpreter's modules and
builtins, the files the sandbox can write, shared memory (also a read-only
folder in /dev/shm), the server's own limits, priority, CPU set, scheduling
policy and I/O priority (changeable from a process of the same user: lowered a
little, or its CPU time cut so that it dies), a daemon that keeps rewriting the
next student's files, or the server itself killed; and one that reads the host folders the sandbox's mount table
names and plants links to them (and to the course's recorded cases, and to a
canary folder outside the course) in every folder the grader empties as root,
and tries the kernel keyring.
Each probe's cell prints what a student's code can see of the state it starts
in, and where it can read the course's path (nowhere).

Every probe must get the solution's grades (full points for the functions of
the two notebooks, 0 for those of the notebooks not handed in), and print, in
both notebooks, exactly what the first probe (graded by a fresh server)
printed; every poisoner's own notebooks must show that its poison took effect,
or the test would prove nothing; and no file outside the grader's scratch
folder changed: contents, modes, owners.
"""

import json
import os
import stat
import sys
import sysconfig
import tempfile
import textwrap
from pathlib import Path

import nbformat
import pytest
from autograder_support import (
    SOURCE,
    collect,
    gradebook_scores,
    make_canary,
    points,
    run,
    sqlite_url,
    written_answers,
)

from autograder import sandbox
from autograder.content.samples import generate
from autograder.pipeline import grade
from autograder.workspace import Course
from bnlab.course import ASSIGNMENT, notebook_of

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

TAG = "bnlab-poison-test"
# What every student hands in: two notebooks that run in well under two seconds (a
# poison that ends the server costs each of its notebooks a rerun and a new server)
HANDED_IN = ["01_forward_bn", "02_backward_bn"]

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
def _names(folder):
    return sorted(os.path.relpath(os.path.join(root, name), folder)
                  for root, dirs, files in os.walk(folder) for name in dirs + files)
def _ioprio():
    import ctypes, platform
    number = {"x86_64": 252, "aarch64": 31}[platform.machine()]
    return ctypes.CDLL(None).syscall(number, 1, 0)
def _keys():
    try:
        return open("/proc/keys").read().splitlines()
    except OSError:
        return None
def _mentions(needles):
    # every place a student's code could read the course's path: /proc of itself and of
    # the sandbox's first process, its descriptors, environment, path, and files
    found = []
    def check(where, text):
        if any(needle in text for needle in needles):
            found.append(where)
    def read(path):
        try:
            if os.path.islink(path):
                check(path, os.readlink(path))
            elif os.path.isfile(path):
                with open(path, "rb") as handle:
                    check(path, handle.read(1 << 20).decode("latin-1"))
        except OSError:
            pass
    for base in ("/proc/self", "/proc/1"):
        for name in sorted(os.listdir(base)):
            read(f"{base}/{name}")
        for name in os.listdir(f"{base}/fd") if os.access(f"{base}/fd", os.R_OK) else []:
            read(f"{base}/fd/{name}")
    check("environment", json.dumps(dict(os.environ)))
    check("sys.path", json.dumps([*sys.path, sys.executable, sys.prefix, sys.base_prefix]))
    for top in ("/opt", "/grading", "/etc", os.path.expanduser("~"), "/tmp"):
        for root, dirs, files in os.walk(top):
            for name in dirs + files:
                read(os.path.join(root, name))
    return found
def _ipc(kind):
    try:
        return len(open(f"/proc/sysvipc/{kind}").read().splitlines()) - 1
    except OSError:
        return None
state = {
    "home": _listing(os.path.expanduser("~")),
    "tmp": _listing("/tmp"),
    "shm": _names("/dev/shm") if os.path.isdir("/dev/shm") else None,
    "keys": _keys(),
    "scheduling": [os.sched_getscheduler(0), os.sched_getparam(0).sched_priority, _ioprio()],
    "course path": _mentions(COURSE_PATHS),
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
print("SERVER", open(f"/proc/{os.getppid()}/stat").read().rsplit(")", 1)[1].split()[19])
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
        os.sched_setscheduler(server, os.SCHED_IDLE, os.sched_param(0))
        import ctypes, platform
        set_io, get_io = {"x86_64": (251, 252), "aarch64": (30, 31)}[platform.machine()]
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall(set_io, 1, server, 3 << 13)  # the idle I/O class
        print("POISONED", all(lowered) and os.getpriority(os.PRIO_PROCESS, server) == 19
              and os.sched_getscheduler(server) == os.SCHED_IDLE
              and libc.syscall(get_io, 1, server) == 3 << 13)
        """,
    "poison-server-cpu": """
        import os, resource
        print("POISONED", True, flush=True)
        resource.prlimit(os.getppid(), resource.RLIMIT_CPU, (1, 1))  # the server dies of it
        """,
    "poison-host-links": """
        import ctypes, errno, json, os, platform
        from pathlib import Path
        learned = sorted({line.split()[3] for line in open("/proc/self/mountinfo")} - {"/"})
        targets = learned + [CASES, CANARY, CANARY + "/inner", CANARY + "/file.txt"]
        planted = 0
        for folder in (str(Path.home()), "/tmp", "/grading/results"):
            trap = Path(folder, "trap", "deeper")
            trap.mkdir(parents=True, exist_ok=True)
            for number, target in enumerate(targets):
                for where in (Path(folder), trap.parent, trap):
                    os.symlink(target, where / f"link-{number}")
                    planted += 1
            os.chmod(trap, 0o500)
            os.chmod(trap.parent, 0)
        libc = ctypes.CDLL(None, use_errno=True)
        add_key, keyctl = {"x86_64": (248, 250), "aarch64": (217, 219)}[platform.machine()]
        answers = []
        for keyring in (-4, -3, -5):  # the user, session and user-session keyrings
            key = libc.syscall(add_key, b"user", b"poison", b"secret", 6, keyring)
            answers.append("added" if key >= 0 else errno.errorcode[ctypes.get_errno()])
        joined = libc.syscall(keyctl, 1, b"poison")  # KEYCTL_JOIN_SESSION_KEYRING
        answers.append("joined" if joined >= 0 else errno.errorcode[ctypes.get_errno()])
        print("LEARNED " + json.dumps(learned))
        print("KEYRING " + json.dumps(answers))
        print("POISONED", planted > 0 and len(learned) > 3)
        """,
    "poison-shm-folder": """
        import os
        from pathlib import Path
        folder = Path("/dev/shm/kept")
        (folder / "inner").mkdir(parents=True)
        (folder / "inner" / "data").write_bytes(b"x" * 1000)
        (folder / "file").write_bytes(b"x")
        os.symlink("/home/student", folder / "link")
        os.chmod(folder / "inner", 0o500)
        os.chmod(folder, 0o500)
        print("SERVER", open(f"/proc/{os.getppid()}/stat").read().rsplit(")", 1)[1].split()[19])
        print("POISONED", (folder / "inner" / "data").exists() and not os.access(folder, os.W_OK))
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
# The poisons after which the server is started anew (it died, or was changed)
SERVER_POISONS = LETHAL | {"poison-server-limits"}


def _handed_in(student):
    """The notebooks `student` hands in."""
    return HANDED_IN[:1] if student in SERVER_POISONS else HANDED_IN


def _plant(inbox, student, source):
    """A copy of the solution's notebooks _handed_in(student) as `student`, with a cell of
    `source` (tagged) at the end of each."""
    folder = inbox / student / ASSIGNMENT
    folder.mkdir(parents=True)
    for stem in _handed_in(student):
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
    for stem in HANDED_IN:
        lines = [line for line in _tagged_output(course, student, stem).splitlines()]
        found = [line[len("STATE ") :] for line in lines if line.startswith("STATE ")]
        states[stem] = json.loads(found[0]) if found else None
    return states


def _stats(paths, deep=()):
    """{path: (mode, owner, group, bytes or link target or None)} of `paths`, and of
    everything under the folders of `deep` too (links not followed)."""
    found = {}
    for top in [*paths, *deep]:
        walked = os.walk(top) if top in deep and os.path.isdir(top) else [(top, [], [])]
        for root, dirs, files in walked:
            for path in [root] + [os.path.join(root, name) for name in dirs + files]:
                info = os.lstat(path)
                content = None
                if stat.S_ISLNK(info.st_mode):
                    content = os.readlink(path)
                elif stat.S_ISREG(info.st_mode) and info.st_size < 1 << 24:
                    content = Path(path).read_bytes()
                found[path] = (info.st_mode, info.st_uid, info.st_gid, content)
    return found


@pytest.fixture(scope="module")
def poisoned(course_copy, released_course, tmp_path_factory):
    try:
        sandbox.check()
    except sandbox.SandboxUnavailable as error:
        pytest.skip(f"no sandbox here: {error}")
    inbox = tmp_path_factory.mktemp("poisoning") / "inbox"
    generate(inbox, SOURCE, released_course / "release" / ASSIGNMENT, ["solution"])
    course = course_copy("poisoning")
    cases = grade.grading_cases(Course(course))  # made now: its state before is known
    canary = make_canary(tmp_path_factory.mktemp("outside") / "canary")
    paths = [str(course), os.path.realpath(course)]
    # as hex: the probe's own notebook, in its home folder, must not hold the path
    hexed = [path.encode().hex() for path in paths]
    probe = (
        f"STEMS = {HANDED_IN!r}\n"
        f"COURSE_PATHS = [bytes.fromhex(h).decode() for h in {hexed!r}]\n" + PROBE
    )
    order = ["probe-0"]
    _plant(inbox, "probe-0", probe)
    for number, (name, poison) in enumerate(POISONS.items(), start=1):
        known = f"CASES = {str(cases)!r}\nCANARY = {str(canary)!r}\n"
        _plant(inbox, name, known + textwrap.dedent(poison))
        _plant(inbox, f"probe-{number}", probe)
        order += [name, f"probe-{number}"]
    collect(course, inbox)
    # what the sandbox shows of the host (what the links poisoner can learn), and the rest
    # of what a link could lead to: the course's own folders, the cases, the canary
    host = ["/usr", "/etc/fonts", "/etc/ld.so.conf.d", "/etc/ld.so.cache", "/etc/ld.so.conf"]
    host += [os.path.realpath("/etc/localtime"), os.path.realpath(sys.base_prefix)]
    host += [os.path.realpath(sysconfig.get_paths()["purelib"])]
    course_folders = [course / name for name in ("source", "release", "submitted", "dist")]
    deep = [*map(str, course_folders), str(cases), str(canary)]
    watched = [*host, *deep]
    before = _stats(host, deep)
    students = [arg for student in order for arg in ("--student", student)]
    # a minute per cell: the probe reads many files, and the grading machine may be busy
    result = run(
        "grade", course, "--workers", 1, "--timeout", 60, "--no-progress", *students, check=False
    )
    return {
        "course": course,
        "order": order,
        "result": result,
        "scores": gradebook_scores(sqlite_url(course)),
        "watched": watched,
        "before": before,
        "after": _stats(host, deep),
        "canary": str(canary),
        "cases": str(cases),
    }


def test_the_run_completes(poisoned):
    assert poisoned["result"].returncode == 0, poisoned["result"].stderr[-3000:]


def test_every_poison_took_effect_in_its_own_notebooks(poisoned):
    for name in POISONS:
        report = json.loads((poisoned["course"] / "reports" / "grade" / f"{name}.json").read_text())
        for stem in _handed_in(name):
            died = "kernel died" in report["notebooks"][stem]["message"]
            if name in LETHAL and died:  # nothing of the notebook comes back
                continue
            assert name not in ALWAYS_LETHAL, (name, stem, report["notebooks"][stem])
            text = _tagged_output(poisoned["course"], name, stem)
            assert "POISONED True" in text, (name, stem, text[-500:])


def test_the_first_probe_saw_a_clean_start(poisoned):
    states = _states(poisoned["course"], "probe-0")
    assert list(states) == HANDED_IN
    for stem, state in states.items():
        assert state is not None, stem
        assert state["home"] == [] and state["tmp"] == [] and state["others"] == [], state
        assert state["numpy"] == [2.0, False] and state["builtins"] == [3, 3, False], state
        assert state["shm"] == [] and state["priority"] == 0, state
        assert state["harness"] == "bnlab.harness.run" and state["modules"] == [], state
        assert state["env"] == [] and state["ipc"] == [0, 0, 0], state
        assert state["course path"] == [] and state["keys"] in ([], None), state
        assert state["scheduling"][:2] == [os.SCHED_OTHER, 0], state


def test_no_file_outside_the_scratch_folder_changed(poisoned):
    """Contents, modes and owners of the canary, the course's cases and folders, and every
    host folder the sandbox shows (the links poisoner linked to each)."""
    before, after = poisoned["before"], poisoned["after"]
    assert {poisoned["canary"], poisoned["cases"]} <= set(before)
    assert stat.S_IMODE(before[poisoned["canary"]][0]) == 0o751
    changed = sorted(
        path for path in before.keys() | after.keys() if before.get(path) != after.get(path)
    )
    assert changed == [], changed[:10]
    text = _tagged_output(poisoned["course"], "poison-host-links", HANDED_IN[0])
    learned = json.loads(text.split("LEARNED ", 1)[1].splitlines()[0])
    scratch = os.path.join(tempfile.gettempdir(), "bnlab-grading-")
    on_host = [path for path in learned if os.path.exists(path) and not path.startswith(scratch)]
    assert set(on_host) <= set(poisoned["watched"]), set(on_host) - set(poisoned["watched"])


def test_dev_shm_is_emptied_for_real(poisoned):
    """The read-only folder the poisoner leaves in /dev/shm is removed by the server
    itself: the poisoner's notebooks (each makes the folder anew) and the probe's after
    them all run on the same server (a server that could not empty it would be replaced:
    its start time would differ)."""
    number = poisoned["order"].index("poison-shm-folder")
    started = set()
    for student in poisoned["order"][number : number + 2]:
        for stem in HANDED_IN:
            text = _tagged_output(poisoned["course"], student, stem)
            started |= {line for line in text.splitlines() if line.startswith("SERVER ")}
    assert len(started) == 1, started


def test_keyring_calls_are_refused_in_the_sandbox(poisoned):
    for stem in HANDED_IN:
        text = _tagged_output(poisoned["course"], "poison-host-links", stem)
        answers = json.loads(text.split("KEYRING ", 1)[1].splitlines()[0])
        assert answers == ["EPERM"] * 4, (stem, answers)


@pytest.mark.parametrize("number", range(1, len(POISONS) + 1))
def test_a_probe_after_a_poisoner_sees_what_the_first_probe_saw(poisoned, number):
    assert _states(poisoned["course"], f"probe-{number}") == _states(poisoned["course"], "probe-0")


@pytest.mark.parametrize("number", range(1, len(POISONS) + 1))
def test_a_probe_after_a_poisoner_gets_the_solution_grades(poisoned, number):
    """The solution's points for the functions of the notebooks handed in, 0 for the
    others (not handed in, so not run)."""
    full = {
        name: value if notebook_of(name) in HANDED_IN else 0.0
        for name, value in points().items()
        if name not in written_answers()
    }
    assert any(value > 0 for value in full.values()) and 0.0 in full.values()
    first = poisoned["scores"]["probe-0"]
    assert {name: first[name] for name in full} == full
    assert poisoned["scores"][f"probe-{number}"] == first
