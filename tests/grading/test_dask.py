"""Grading on a real Dask cluster: a scheduler and two worker processes on 127.0.0.1.

The cluster is started the way an instructor starts one by hand (`dask scheduler`,
`dask worker`: autograder.grading.cluster), each worker in a folder of its own: they share
no files with the course, so the submissions must travel to them and the results
come back. The
gradebook and the reports of a run on the cluster must equal those of a run on
this machine's pool (the session's graded course, graded with two local workers); and
equal them still when one worker is killed by its pid while it grades, with every
student merged once.
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from autograder_support import (
    gradebook_scores,
    pipeline_env,
    run,
    sqlite_url,
    wait_for,
)

from autograder import sandbox
from autograder.grading import executors
from autograder.grading.cluster import LocalCluster
from autograder.grading.submission import Context, Submission
from autograder.sandbox import Limits

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")

# Samples the session's graded course grades too (autograder_support.e2e_samples): its
# local run is what the cluster's runs are compared with.
STUDENTS = [
    "solution",
    "release",
    "partial",
    "missing-notebook",
    "invalid-json",
    "tampered-test",
    "deleted-test",
    "mistake-batchnorm_forward-wrong_axis",
    "mistake-linear_bn_activation_backward-bn_backward_skipped",
    "mistake-update_parameters_with_adam-only_W_updated",
]
# What a report says that does not depend on where or when it was graded.
COMPARED = ("digest", "grades", "notebooks", "messages", "flags", "extra_files", "source")


@pytest.fixture(scope="module")
def inbox(graded_course):
    """The session's generated samples (nbgrader's submitted/ layout), STUDENTS among them."""
    assert set(STUDENTS) <= set(graded_course.students)
    return graded_course.inbox


def _outcome(course, students=None):
    """The gradebook's scores and the comparable part of every report (of `students` only,
    when given)."""
    found = {}
    for path in sorted((course / "reports" / "grade").glob("*.json")):
        if students is None or path.stem in students:
            report = json.loads(path.read_text(encoding="utf-8"))
            found[path.stem] = {key: report.get(key) for key in COMPARED}
    return gradebook_scores(sqlite_url(course), students=students), found


@pytest.fixture(scope="module")
def local_run(graded_course):
    """STUDENTS as this machine's pool of two workers graded them (the session's course)."""
    scores, found = _outcome(graded_course.course, STUDENTS)
    assert sorted(scores) == sorted(found) == sorted(STUDENTS)
    return scores, found


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    try:
        sandbox.check()
    except sandbox.SandboxUnavailable as error:
        pytest.skip(f"no sandbox here: {error}")
    cluster = LocalCluster(tmp_path_factory.mktemp("cluster"), env=pipeline_env())
    yield cluster
    cluster.close()


def _of(run, student):
    """(scores, comparable report) of `student` in the outcome `run` of _outcome."""
    scores, found = run
    return scores.get(student), found.get(student)


def test_a_cluster_grades_as_this_machine_does(course_copy, inbox, local_run, cluster):
    course = course_copy("dask-remote", STUDENTS, inbox)
    result = run("grade", course, "--scheduler", cluster.address, "--no-progress", check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert cluster.address in result.stdout and "dashboard" in result.stdout
    assert _outcome(course) == local_run


def test_a_worker_killed_while_grading_loses_nothing(course_copy, inbox, local_run, tmp_path):
    try:
        sandbox.check()
    except sandbox.SandboxUnavailable as error:
        pytest.skip(f"no sandbox here: {error}")
    cluster = LocalCluster(tmp_path / "cluster", env=pipeline_env())
    try:
        course = course_copy("dask-killed", STUDENTS, inbox)
        args = ["--scheduler", cluster.address, "--no-progress"]
        grading = subprocess.Popen(
            [sys.executable, "-m", "autograder", "grade", "--course", str(course), *args],
            env=pipeline_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        victim = wait_for(cluster.busy_worker, 300, interval=0.2)
        assert victim, "no worker ever took a submission"
        time.sleep(1.0)  # well inside a submission (workers set up first, then grade)
        os.kill(victim, signal.SIGKILL)
        stdout, stderr = grading.communicate(timeout=900)
        assert grading.returncode == 0, stderr[-3000:]
        assert any(p.pid == victim and p.poll() is not None for p in cluster.workers)
        scores, found = _outcome(course)
        differ = sorted(s for s in STUDENTS if (scores.get(s), found.get(s)) != _of(local_run, s))
        assert not differ, (differ, stdout[-3000:], stderr[-3000:])
        assert sorted(scores) == sorted(STUDENTS)  # each once in the gradebook
        assert "could not be graded" not in stdout + stderr
    finally:
        cluster.close()


def test_a_context_lost_with_the_only_worker_holding_it_is_sent_again(tmp_path):
    """The run's context is sent to the workers there are when grading starts. Here there
    is one; as the first submission is read, a second worker joins and the first is
    killed: the only copy of the context is gone (Dask cannot recover data sent to it),
    and the submissions must still be graded, on the new worker, with the context sent
    again, not reported as not graded because their task lost a dependency. (The
    submissions are empty: grading them needs no notebook server.)"""
    context = Context(
        assignment={},
        releases={},
        timeout=5,
        limits=Limits(),
        sandboxed=False,
        run_all_cells=False,
        fingerprint="unused: no notebook runs",
    )
    with LocalCluster(tmp_path, workers=1, env=pipeline_env()) as cluster:
        first = cluster.workers[0]

        def read(student):
            if first.poll() is None:
                cluster.add_worker()
                os.killpg(first.pid, signal.SIGKILL)
                first.wait()
            return Submission(student, {})

        results = dict(executors.dask(cluster.address, ["ada", "bob", "cy"], read, context))
    assert sorted(results) == ["ada", "bob", "cy"]
    for student, result in results.items():
        assert "crash" not in result, (student, result["crash"])
        assert result["student"] == student
        assert {info["status"] for info in result["notebooks"].values()} == {"missing"}
