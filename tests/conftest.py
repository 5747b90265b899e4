"""Shared test inputs.

For the library tests: seeded Batch Norm batches and small networks. Inputs are
awkward on purpose where it helps (n_l != m, non-default gamma and beta); each
test that needs m = 1, a constant row or gamma = 0 builds it from these.
Examples are columns, as in the lecture.

For the autograder's tests: the courses, as session fixtures, so each is made
once per test run by whichever module asks first (with pytest-xdist, by whichever
worker: the others wait for it), and any module runs alone or in any order with
the same result. Tests that take them are marked slow.
"""

import contextlib
import fcntl
import inspect
import os

import numpy as np
import pytest
from autograder_support import (
    GradedCourse,
    Installed,
    copy_course,
    e2e_samples,
    grade_samples,
    release_course,
)

from autograder.content import reference
from bnlab.data import one_hot


def make_bn_inputs(n, m, seed=0, offset=0.0, scale=2.0, dtype=np.float64):
    """Z (n, m), gamma (n, 1) in [0.5, 2], beta (n, 1), and an upstream dZ_tilde (n, m)."""
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, m)) * scale + offset
    gamma = rng.uniform(0.5, 2.0, (n, 1))
    beta = rng.standard_normal((n, 1))
    dZ_tilde = rng.standard_normal((n, m))
    return tuple(a.astype(dtype) for a in (Z, gamma, beta, dZ_tilde))


def make_network(layer_dims, m, seed=0):
    """X (n_x, m), one-hot Y (C, m) with every class used when m >= C, and parameters
    whose gamma, beta and b are not the defaults (so a mix-up cannot hide)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((layer_dims[0], m))
    C = layer_dims[-1]
    Y = one_hot(rng.permutation(np.arange(m) % C), C)
    parameters = reference.initialize_parameters(layer_dims, seed=seed)
    for key, value in parameters.items():
        if key.startswith("gamma"):
            parameters[key] = rng.uniform(0.5, 1.5, value.shape)
        elif key.startswith(("beta", "b")):
            parameters[key] = 0.3 * rng.standard_normal(value.shape)
    return X, Y, parameters


@pytest.fixture
def bn_inputs():
    """Factory: bn_inputs(n, m, seed=0, offset=0.0, scale=2.0, dtype=np.float64)."""
    return make_bn_inputs


@pytest.fixture
def network():
    """Factory: network(layer_dims, m, seed=0) -> (X, Y, parameters)."""
    return make_network


@pytest.fixture(scope="session")
def layer_norm_network():
    """(model_forward, model_backward) of the reference with Layer Norm in place of Batch
    Norm (what notebook 07 builds from the student's functions with load_graded(replace=...))."""
    namespace = dict(vars(reference))
    namespace["batchnorm_forward"] = reference.layernorm_forward
    namespace["batchnorm_backward"] = reference.layernorm_backward
    for name in (
        "linear_bn_activation_forward",
        "linear_bn_activation_backward",
        "model_forward",
        "model_backward",
    ):
        exec(compile(inspect.getsource(getattr(reference, name)), name, "exec"), namespace)
    return namespace["model_forward"], namespace["model_backward"]


@pytest.fixture
def restore_environ():
    """os.environ as it was before the test, put back after it: for code under test that
    sets variables in this process (the release step's validate_notebook does)."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


# ------------------------------------------------------------------ courses (slow)

COURSE_FIXTURES = {"installed_grader", "released_course", "course_copy", "graded_course"}


# How `make test`'s two processes (pytest-xdist, --dist loadscope) share the tests. Each
# module runs wholly in one process, so its module fixtures are made once, except the
# modules in SPREAD, whose tests are independent and long: they go one by one to whichever
# process is free (ModuleScopes). The modules in FIRST take a minute or more: they start
# first, in this order, so that the two processes end together rather than one waiting
# for the other's last long module. So one process starts by installing the package and
# building with it the released and the graded course that later modules share, while
# the other runs the notebooks, which need no course.
SPREAD = ("tests/notebooks/test_notebooks.py",)
FIRST = (
    "tests/pipeline/test_autograder_e2e.py",
    "tests/notebooks/test_notebooks.py",
    "tests/test_distributions.py",
)


def _module(nodeid):
    return nodeid.split("::")[0]


def pytest_xdist_make_scheduler(config, log):
    """With --dist loadscope: a module is one unit of work, but for SPREAD's modules,
    whose tests are each one. (Its classes would be units of their own too: the suite has
    none that share module fixtures.)"""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ModuleScopes(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            return nodeid if _module(nodeid) in SPREAD else _module(nodeid)

    return ModuleScopes(config, log)


def _first(items):
    """Put the tests of FIRST's modules first, in its order (stable otherwise)."""
    items.sort(
        key=lambda item: FIRST.index(m) if (m := _module(item.nodeid)) in FIRST else len(FIRST)
    )


def pytest_collection_modifyitems(config, items):
    """A test that takes a course (directly or through another fixture) releases or grades
    one: it must be marked slow, so that `-m "not slow"` never does. Then the longest
    modules go first (_first)."""
    unmarked = [
        item.nodeid
        for item in items
        if COURSE_FIXTURES & set(getattr(item, "fixturenames", ()))
        and item.get_closest_marker("slow") is None
    ]
    if unmarked:
        raise pytest.UsageError(
            "these tests take a released or graded course but are not marked slow:\n  "
            + "\n  ".join(unmarked)
        )
    _first(items)


@contextlib.contextmanager
def _once_per_run(tmp_path_factory, name):
    """(folder, whether it is already made) for `name`, one per test run: with pytest-xdist
    the run's workers share it (the first to ask makes it while the others wait on a lock),
    without it the session has its own. The folder is made once: the block that finds it
    not made yet must make it (its .made marker is written when the block ends well)."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the run's folder, above each worker's own
    folder = base / f"shared-{name}"
    with open(base / f"shared-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        made = folder / ".made"
        yield folder, made.exists()
        made.parent.mkdir(parents=True, exist_ok=True)
        made.touch()


@pytest.fixture(scope="session")
def installed_grader(tmp_path_factory):
    """The instructor's package installed from a copy of the checkout (an
    autograder_support.Installed), made once per test run: the shared courses are made
    with it."""
    with _once_per_run(tmp_path_factory, "installed") as (folder, made):
        if not made:
            Installed(folder).install()
    return Installed(folder)


@pytest.fixture(scope="session")
def released_course(installed_grader, tmp_path_factory):
    """A course after the release step (its path), made by the installed package once per
    test run. Shared: read it, never change it; a test that changes a course takes a copy
    with course_copy (which this checkout's code then grades)."""
    with _once_per_run(tmp_path_factory, "released") as (folder, made):
        if not made:
            release_course(folder / "course", tool=installed_grader)
    return folder / "course"


@pytest.fixture(scope="session")
def course_copy(released_course, tmp_path_factory):
    """Factory: course_copy(name, students=(), inbox=None) -> the path of a new copy of the
    released course, with the samples `students` collected from the folder `inbox`."""

    def make(name, students=(), inbox=None):
        root = tmp_path_factory.mktemp(name) / "course"
        return copy_course(released_course, root, students, inbox)

    return make


@pytest.fixture(scope="session")
def graded_course(installed_grader, released_course, tmp_path_factory):
    """A copy of the released course with the end-to-end samples (e2e_samples) generated,
    collected, graded with two workers, fed back and exported by the installed package: an
    autograder_support.GradedCourse, made once per test run (read it, never change it)."""
    with _once_per_run(tmp_path_factory, "graded") as (folder, made):
        if not made:
            course = copy_course(released_course, folder / "course")
            students = [sample.student for sample in e2e_samples()]
            graded = grade_samples(course, students, tool=installed_grader)
            graded.save(folder / "graded.json")
    return GradedCourse.load(folder / "graded.json")
