"""Hostile submissions, graded through the command line, in the sandbox.

Each attacker hands in the solution's notebook 01_forward_bn (the others are not
handed in, so not run) with a *wrong* batchnorm_forward whose cell also carries
one attack of its own: faking a pass (patched numpy,
builtins and helpers, plainly and obfuscated; the reference read off disk or
imported from any instructor module), harming others (another student's files
read and rewritten, the gradebook written, the grader's processes killed) or
escaping (a connection to a listener this test starts on 127.0.0.1, a detached
process, writes outside the sandbox's scratch folder, a fork flood, a file-size
bomb, a loop that ignores the interrupt at the time limit). Every attack must
end the same way: batchnorm_forward scores 0, the run completes, every honest
student (each hands in all seven notebooks) gets exactly the grades they get in
a course without attackers (the grades their sample is made to earn), no process
is left and no file outside scratch changed.

One more run, without the sandbox, checks that a submission that kills its
grading worker is still graded (0, with the reason) and costs nobody else: neither
the student graded beside it nor the one graded after it.
"""

import shutil
import socket
import textwrap
import threading
from pathlib import Path

import nbformat
import pytest
from autograder_support import (
    ROOT,
    SOURCE,
    collect,
    expected_scores,
    gradebook_scores,
    points,
    read_csv,
    run,
    sqlite_url,
    tree_digest,
    wait_for,
    written_answers,
)

from autograder import sandbox
from autograder.content.samples import generate, samples
from bnlab.course import ASSIGNMENT, notebook_of

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

HONEST = ["solution", "release", "mistake-model_forward-bL_left_out"]
ATTACKED = "01_forward_bn"  # the notebook of batchnorm_forward: all an attacker hands in
MARKER = "bnlab-attack-7f3a"  # in the command line of every process an attack starts

# A wrong batchnorm_forward (gamma forgotten): what every attacker hands in.
WRONG = """
def batchnorm_forward(Z, gamma, beta, eps=1e-5):
    mu = np.mean(Z, axis=1, keepdims=True)
    var = np.var(Z, axis=1, keepdims=True)
    Z_norm = (Z - mu) / np.sqrt(var + eps)
    return Z_norm + beta, (Z, Z_norm, mu, var, gamma, beta, eps)
"""

# Attacks that try to turn the wrong function into points. Each replaces
# batchnorm_forward by the reference's when it can reach one.
USE_REFERENCE = """
def _use(module):
    global batchnorm_forward
    batchnorm_forward = module.batchnorm_forward
"""

ATTACKS = {
    "patches-numpy": """
        np.allclose = lambda *a, **k: True
        np.array_equal = lambda *a, **k: True
        np.testing.assert_allclose = lambda *a, **k: None
        """,
    "patches-numpy-obfuscated": """
        setattr(vars()["n" + "p"], "all" + "close", lambda *a, **k: True)
        exec("import numpy as _n; _n.isclose = lambda *a, **k: True")
        getattr(__import__("num" + "py"), "__dict__")["abs"] = lambda x: 0 * x
        """,
    "patches-helpers-and-builtins": """
        import builtins, sys
        import bnlab.checks._core as core
        core.first_difference = lambda *a, **k: None
        builtins.isinstance = lambda *a: True
        sys.modules["numpy"].allclose = lambda *a, **k: True
        import bnlab.harness as harness_module
        harness_module._same = lambda a, b: True
        """,
    "reads-reference-off-disk": """
        import glob, sys, types
        from pathlib import Path
        import bnlab
        places = [Path(bnlab.__file__).resolve().parents[1] / "autograder" / "content" / "reference.py",
                  Path(CHECKOUT) / "autograder" / "content" / "reference.py"]
        places += [Path(p) for s in sys.path for p in glob.glob(s + "/autograder/content/reference.py")]
        places += [Path(p) for p in glob.glob("/**/autograder/content/reference.py", recursive=True)]
        for place in places:
            try:
                module = types.ModuleType("stolen")
                exec(place.read_text(), module.__dict__)
                _use(module)
                break
            except Exception:
                pass
        """,
    "imports-instructor-modules": """
        import importlib
        for name in ["autograder.content.reference", "auto" + "grader.demo", "autograder.content.hidden_tests"]:
            try:
                _use(importlib.import_module(name))
                break
            except Exception:
                pass
        """,
    "rewrites-another-student": """
        import glob
        from pathlib import Path
        victims = glob.glob(COURSE + "/submitted/solution/**/*.ipynb", recursive=True)
        victims += glob.glob("../../../../submitted/solution/**/*.ipynb", recursive=True)
        victims += glob.glob(COURSE + "/autograded/**/*.ipynb", recursive=True)
        for victim in victims:
            try:
                print(Path(victim).read_text()[:200])
                Path(victim).write_text("{ broken")
            except Exception as error:
                print("could not:", error)
        """,
    "writes-the-gradebook": """
        import sqlite3
        try:
            with sqlite3.connect(COURSE + "/gradebook.db") as db:
                db.execute("UPDATE grade SET auto_score = 0")
        except Exception:
            pass
        try:
            with open(COURSE + "/gradebook.db", "r+b") as handle:
                handle.write(b"garbage" * 100)
        except Exception:
            pass
        """,
    "connects-to-loopback": """
        import socket
        for host in ("127.0.0.1", "localhost"):
            try:
                socket.create_connection((host, PORT), timeout=3).sendall(b"leak")
            except Exception:
                pass
        """,
    "kills-the-grader": """
        import os, signal
        for target in (os.getppid(), -os.getpgid(0), -1):
            try:
                os.kill(target, signal.SIGKILL)
            except Exception:
                pass
        """,
    "leaves-a-detached-process": """
        import os, subprocess
        subprocess.Popen(["sleep", "600", MARKER], start_new_session=True)
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execvp("sleep", ["sleep", "600", MARKER])
            os._exit(0)
        """,
    "writes-outside-scratch": """
        from pathlib import Path
        for place in (CANARY + "/pwned", CHECKOUT + "/autograder/pwned.py", "/tmp/" + MARKER,
                      HOME + "/" + MARKER, COURSE + "/release/batchnorm/pwned.ipynb"):
            try:
                Path(place).write_text("pwned")
            except Exception:
                pass
        """,
    "fork-flood": """
        import os, time
        started = 0
        for _ in range(400):
            try:
                if os.fork() == 0:
                    time.sleep(30)
                    os._exit(0)
                started += 1
            except OSError:
                break
        """,
    "ignores-interrupts": """
        def batchnorm_forward(Z, gamma, beta, eps=1e-5):
            import time
            while True:
                try:
                    time.sleep(1)
                except KeyboardInterrupt:
                    pass
        """,
    "file-size-bomb": """
        chunk = b"\\0" * 2**20
        try:
            with open("bomb.bin", "wb") as handle:
                for _ in range(4096):
                    handle.write(chunk)
        except Exception:
            pass
        """,
}


def _cell_source(attack, values):
    header = "\n".join(f"{key} = {value!r}" for key, value in values.items())
    return "\n".join(
        [
            "# GRADED FUNCTION: batchnorm_forward",
            header,
            WRONG,
            USE_REFERENCE,
            textwrap.dedent(ATTACKS[attack]),
        ]
    )


def _plant(inbox, student, source):
    """The solution's notebook ATTACKED, handed in alone as `student`, with
    batchnorm_forward's cell `source`."""
    folder = inbox / student / ASSIGNMENT
    folder.mkdir(parents=True)
    notebook = nbformat.read(inbox / "solution" / ASSIGNMENT / f"{ATTACKED}.ipynb", as_version=4)
    cells = [
        cell
        for cell in notebook.cells
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "batchnorm_forward"
    ]
    assert len(cells) == 1, cells
    cells[0].source = source
    nbformat.write(notebook, folder / f"{ATTACKED}.ipynb")


class Listener:
    """A TCP listener on 127.0.0.1 that counts the connections it accepts."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            self.accepted += 1
            connection.close()


def _attack_processes():
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if MARKER.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


@pytest.fixture(scope="module")
def inbox(tmp_path_factory, released_course):
    folder = tmp_path_factory.mktemp("attacks") / "inbox"
    generate(folder, SOURCE, released_course / "release" / ASSIGNMENT, HONEST)
    return folder


@pytest.fixture(scope="module")
def baseline():
    """The honest students' grades in a course without attackers: what each sample is
    made to earn (autograder_support.expected_scores, from the samples' own description)."""
    made = {sample.student: sample for sample in samples()}
    return {student: expected_scores(made[student], points()) for student in HONEST}


@pytest.fixture(scope="module")
def attacked(course_copy, inbox, tmp_path_factory):
    try:
        sandbox.check()
    except sandbox.SandboxUnavailable as error:
        pytest.skip(f"no sandbox here: {error}")
    course = course_copy("attacked")
    canary = tmp_path_factory.mktemp("canary")
    listener = Listener()
    values = {
        "CHECKOUT": str(ROOT),
        "COURSE": str(course.resolve()),
        "CANARY": str(canary),
        "HOME": str(Path.home()),
        "PORT": listener.port,
        "MARKER": MARKER,
    }
    for attack in ATTACKS:
        _plant(inbox, attack, _cell_source(attack, values))
    collect(course, inbox)
    watched = {
        "submitted": tree_digest(course / "submitted"),
        "release": tree_digest(course / "release"),
        "source": tree_digest(course / "source"),
        "checkout": tree_digest(ROOT / "autograder") | tree_digest(ROOT / "bnlab"),
    }
    # A short time limit: the attack that ignores interrupts costs it, and more, twice.
    result = run("grade", course, "--workers", 2, "--timeout", 5, check=False)
    export = run("export", course, check=False)
    after = {
        "submitted": tree_digest(course / "submitted"),
        "release": tree_digest(course / "release"),
        "source": tree_digest(course / "source"),
        "checkout": tree_digest(ROOT / "autograder") | tree_digest(ROOT / "bnlab"),
    }
    return {
        "course": course,
        "result": result,
        "export": export,
        "scores": gradebook_scores(sqlite_url(course)),
        "canary": canary,
        "listener": listener,
        "changed": {key: watched[key] != after[key] for key in watched},
        "leftovers": wait_for(lambda: not _attack_processes(), 10) or _attack_processes(),
    }


def test_the_run_completes_and_every_student_is_exported(attacked):
    assert attacked["result"].returncode == 0, attacked["result"].stderr[-3000:]
    assert attacked["export"].returncode == 0, attacked["export"].stderr[-3000:]
    rows = read_csv(attacked["course"] / "reports" / "grades.csv")
    assert {row["student_id"] for row in rows} == set(HONEST) | set(ATTACKS)


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_no_attack_earns_the_wrong_function_points(attacked, attack):
    assert attacked["scores"][attack]["batchnorm_forward"] == 0.0


def test_honest_students_get_exactly_their_grades_without_attackers(attacked, baseline):
    assert {s: attacked["scores"][s] for s in HONEST} == baseline


def test_nothing_outside_scratch_changed(attacked):
    assert attacked["changed"] == dict.fromkeys(attacked["changed"], False)
    assert list(attacked["canary"].iterdir()) == []
    assert not Path("/tmp", MARKER).exists()
    assert not (Path.home() / MARKER).exists()
    assert not (ROOT / "autograder" / "pwned.py").exists()


def test_no_connection_reached_the_loopback_listener(attacked):
    assert attacked["listener"].accepted == 0


def test_no_process_is_left_behind(attacked):
    assert attacked["leftovers"] is True, f"processes left: {attacked['leftovers']}"


def test_the_reports_say_it_was_sandboxed(attacked):
    summary = (attacked["course"] / "reports" / "summary.txt").read_text(encoding="utf-8")
    assert "UNSANDBOXED" not in summary


# ------------------------------------------------------------------ without the sandbox


# The honest students of the worker-killing run: a sample with a mistake in notebook 02,
# and the solution; each hands in the cheap notebooks CHEAP only
KILLER_RUN_HONEST = ["mistake-batchnorm_backward_staged-dmu_sign", "solution"]
CHEAP = ["01_forward_bn", "02_backward_bn", "03_removing_b", "05_optimizers"]


def test_a_submission_that_kills_its_worker_is_graded_zero_and_costs_nobody(
    course_copy, released_course, tmp_path
):
    """--no-sandbox: the student's code can kill the process that grades it (the parent of
    the notebook server it runs in). The pool breaks; the students in flight are graded
    again, the killer alone, and it is exported with 0.

    Two workers take the students in the order of their names: the killer and the
    mistake sample start together, the solution comes after. Both honest students hand
    in their notebooks CHEAP only, and get the grades their sample is made to earn on
    those, 0 on the others."""
    killer = "kills-its-worker"
    honest = KILLER_RUN_HONEST
    assert sorted([killer, *honest]) == [killer, *honest]
    made = tmp_path / "samples"
    generate(made, SOURCE, released_course / "release" / ASSIGNMENT, honest)
    staging = tmp_path / "inbox"
    for student in honest:
        (staging / student / ASSIGNMENT).mkdir(parents=True)
        for stem in CHEAP:
            name = f"{stem}.ipynb"
            shutil.copy(made / student / ASSIGNMENT / name, staging / student / ASSIGNMENT)
    written = written_answers()

    def notebook(name):  # of a graded function or a written answer
        return written[name] if name in written else notebook_of(name)

    samples_made = {sample.student: sample for sample in samples()}
    expected = {}
    for student in honest:
        earned = expected_scores(samples_made[student], points())
        expected[student] = {
            name: value if notebook(name) in CHEAP else 0.0 for name, value in earned.items()
        }
    assert all(any(grades.values()) for grades in expected.values())  # not a crash's zeros
    assert expected[honest[0]] != expected[honest[1]]  # the mistake costs points
    _plant(
        staging,
        killer,
        "# GRADED FUNCTION: batchnorm_forward\nimport os, signal\n"
        + WRONG
        + "\nserver = os.getppid()\n"
        + "with open(f'/proc/{server}/stat') as stat:\n"
        + "    worker = int(stat.read().rsplit(')', 1)[1].split()[1])\n"
        + "os.kill(worker, signal.SIGKILL)\n",
    )
    course = course_copy("worker-killer")
    collect(course, staging)
    result = run("grade", course, "--workers", 2, "--no-sandbox", check=False)
    export = run("export", course, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert export.returncode == 0, export.stderr[-3000:]
    scores = gradebook_scores(sqlite_url(course))
    assert {s: scores[s] for s in honest} == expected
    assert set(scores[killer].values()) <= {0.0, None}
    rows = {row["student_id"]: row for row in read_csv(course / "reports" / "grades.csv")}
    assert set(rows) == {*honest, killer} and float(rows[killer]["raw_score"]) == 0.0
    summary = (course / "reports" / "summary.txt").read_text(encoding="utf-8")
    assert "GRADES PRODUCED UNSANDBOXED" in summary
    killer_row = next(line for line in summary.splitlines() if line.startswith(killer))
    assert "NOT GRADED" in killer_row and "died" in killer_row, killer_row
