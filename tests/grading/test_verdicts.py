"""Verdicts decided outside the student's process (autograder.grading.verdicts, bnlab.harness).

The path of a grade, without a kernel: the harness calls a function on the
recorded inputs and saves what it returned (what the grading kernel does), and
the trusted side replays those values into the hidden test. Held against every
classic mistake, every correct variant, the reference and the isolation cases,
the verdict is the one the hidden test gives when it calls the function itself:
honest work gets exactly the grade it got when the tests ran in the kernel.
And the files the kernel can read never hold a graded function's own answers.
"""

import functools
import inspect
import io
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autograder.content import hidden_tests, reference
from autograder.content.mistakes import (
    Mistake,
    all_correct_variants,
    all_mistakes,
    mistakes_of,
)
from autograder.grading import outcomes, verdicts
from bnlab import harness
from bnlab._grading import valuefile
from bnlab._grading.contract import CASES_ENV, RESULTS_ENV
from bnlab.course import GRADED_FUNCTIONS, NOTEBOOKS


def _in_kernel_verdict(name, function):
    """What the hidden test said when it ran beside the student's code."""
    try:
        getattr(hidden_tests, f"test_{name}")(function)
    except AssertionError:
        return "failed"
    return "passed"


# ------------------------------------------------------------------ same grades as before


@pytest.mark.parametrize("name", GRADED_FUNCTIONS)
def test_the_reference_passes(grade, name):
    assert grade(name, getattr(reference, name)) == ("passed", "")


CANDIDATES = [*all_mistakes(), *all_correct_variants()]


@pytest.mark.parametrize("candidate", CANDIDATES, ids=[f"{c.function}-{c.id}" for c in CANDIDATES])
def test_every_mistake_and_variant_gets_the_verdict_it_got_in_the_kernel(grade, candidate):
    """...and a mistake is named by its own id (autograder.grading.diagnosis;
    tests/grading/test_diagnosis.py)."""
    verdict = grade(candidate.function, candidate.build())
    status, detail = verdict[:2]
    expected = _in_kernel_verdict(candidate.function, candidate.build())
    assert status == expected, detail
    if status == "failed":
        assert detail.startswith("AssertionError: ") and len(detail) > 20, detail
    named = outcomes.mistake(verdict)
    assert named == (candidate.id if isinstance(candidate, Mistake) else ""), verdict


def _callees(name):
    code = getattr(reference, name).__code__
    return [other for other in GRADED_FUNCTIONS if other != name and other in code.co_names]


ISOLATION = [(n, m) for n in GRADED_FUNCTIONS for c in _callees(n) for m in mistakes_of(c)]


@pytest.mark.parametrize(
    ("name", "mistake"), ISOLATION, ids=[f"{n}-with-{m.function}-{m.id}" for n, m in ISOLATION]
)
def test_a_mistaken_callee_does_not_cost_its_caller(grade, name, mistake):
    namespace = dict(vars(reference))
    namespace[mistake.function] = wrong = mistake.build()
    exec(compile(inspect.getsource(getattr(reference, name)), f"<{name}>", "exec"), namespace)
    assert grade(name, namespace[name]) == ("passed", "")
    assert namespace[mistake.function] is wrong, "the stand-ins were left in place"


def test_a_caller_that_skips_a_level_is_answered_too(grade):
    """A model_forward that calls batchnorm_forward itself, around a wrong one, still passes."""
    namespace = dict(vars(reference))
    namespace["batchnorm_forward"] = mistakes_of("batchnorm_forward")[0].build()
    source = inspect.getsource(reference.model_forward).replace(
        "linear_bn_activation_forward(",
        "(lambda A_prev, W, gamma, beta, activation: _layer(A_prev, W, gamma, beta, activation))(",
    )
    exec(compile(source, "<model_forward>", "exec"), namespace)
    exec(
        "def _layer(A_prev, W, gamma, beta, activation):\n"
        "    Z = W @ A_prev\n"
        "    Z_tilde, bn_cache = batchnorm_forward(Z, gamma, beta)\n"
        "    return activation_forward(Z_tilde, activation), ((A_prev, W), bn_cache, (Z_tilde, activation))\n",
        namespace,
    )
    assert grade("model_forward", namespace["model_forward"]) == ("passed", "")


# ------------------------------------------------------------------ failures, in plain words


def test_an_exception_is_reported_by_name(grade):
    def batchnorm_forward(Z, gamma, beta, eps=1e-5):
        raise ValueError("not today")

    assert grade("batchnorm_forward", batchnorm_forward) == ("failed", "ValueError: not today")


def test_running_out_of_memory_is_its_own_status(grade):
    def batchnorm_forward(Z, gamma, beta, eps=1e-5):
        raise MemoryError()

    assert grade("batchnorm_forward", batchnorm_forward)[0] == "memory"


def test_changing_an_input_in_place_is_still_seen(grade):
    def update_parameters_with_gd(parameters, grads, learning_rate):
        for key in parameters:
            parameters[key] -= learning_rate * grads["d" + key]
        return parameters

    status, detail = grade("update_parameters_with_gd", update_parameters_with_gd)[:2]
    assert status == "failed" and "changed in place" in detail, detail


def test_a_value_of_an_unknown_type_fails_with_its_name(grade):
    class Tensor:
        pass

    def batchnorm_forward_inference(Z, gamma, beta, running_mean, running_var, eps=1e-5):
        return Tensor()

    status, detail = grade("batchnorm_forward_inference", batchnorm_forward_inference)[:2]
    assert status == "failed", detail


def test_no_results_and_broken_results_are_failures(cases, tmp_path):
    calls = verdicts.load_calls(cases, "batchnorm_forward")
    path = tmp_path / "batchnorm_forward.npz"
    assert verdicts.decide("batchnorm_forward", calls, path) is None  # the cell's error decides
    path.write_bytes(b"PK\x03\x04 not a zip")
    assert verdicts.decide("batchnorm_forward", calls, path)[0] == "failed"
    valuefile.save(path, {"function": "model_forward", "results": []})
    assert verdicts.decide("batchnorm_forward", calls, path)[0] == "failed"
    valuefile.save(path, {"function": "batchnorm_forward", "results": []})
    assert verdicts.decide("batchnorm_forward", calls, path) == (
        "failed",
        "AssertionError: The test did not run to the end.",
    )


def test_a_results_file_that_is_a_link_is_not_followed(cases, tmp_path):
    """The grader may read files the kernel may not: a link planted by the kernel fails."""
    calls = verdicts.load_calls(cases, "batchnorm_forward")
    good = tmp_path / "good.npz"
    valuefile.save(good, {"function": "batchnorm_forward", "results": []})
    link = tmp_path / "batchnorm_forward.npz"
    link.symlink_to(good)
    status, detail = verdicts.decide("batchnorm_forward", calls, link)
    assert status == "failed" and "could not be read" in detail, detail


def test_forged_results_of_the_wrong_values_fail(cases, tmp_path):
    """Results written by anything in the kernel are only values: wrong ones fail."""
    calls = verdicts.load_calls(cases, "batchnorm_forward")
    forged = [
        {"returned": (np.zeros_like(c["args"][0]), (None,) * 7), "args": c["args"], "kwargs": {}}
        for c in calls
    ]
    path = tmp_path / "batchnorm_forward.npz"
    valuefile.save(path, {"function": "batchnorm_forward", "results": forged})
    assert verdicts.decide("batchnorm_forward", calls, path)[0] == "failed"


# ------------------------------------------------------------------ the kernel's files


def _arrays(value):
    if isinstance(value, np.ndarray):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _arrays(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _arrays(item)


# The tests of these functions run several steps in a row and feed the reference's
# result of each step into the next: an answer of step k is an input of step k + 1.
# A pass needs every step right, and the last step's answers are nowhere.
FED_BACK = {
    "update_parameters_with_gd",
    "update_parameters_with_momentum",
    "update_parameters_with_rmsprop",
    "update_parameters_with_adam",
    "update_running_averages",
}


def _found(array, arrays):
    return any(b.shape == array.shape and np.allclose(array, b) for b in arrays)


@pytest.mark.slow  # each compares every recorded array with every other: 0.5-1.5 s
@pytest.mark.parametrize("name", GRADED_FUNCTIONS)
def test_the_kernels_files_never_hold_a_functions_own_answers(cases, name):
    """What `name` computes itself -- its answers that are neither among its inputs nor
    answers of the graded functions it calls (the stand-ins' table), constant arrays
    aside -- appears in no file the grading kernel can read (for FED_BACK: only as an
    input of its own next step)."""
    calls = verdicts.load_calls(cases, name)
    elsewhere = [
        a
        for path in sorted(cases.glob("*.npz"))
        if path.stem != name
        for a in _arrays(valuefile.load(path))
    ]
    tables = [a for call in calls for a in _arrays([e[2] for e in call["callees"]])]
    checked = 0
    for index, call in enumerate(calls):
        given = list(_arrays([call["args"], call["kwargs"], [e[2] for e in call["callees"]]]))
        answer = getattr(reference, name)(*call["args"], **call["kwargs"])
        later = [a for c in calls[index + 1 :] for a in _arrays([c["args"], c["kwargs"]])]
        for a in _arrays(answer):
            if a.size < 2 or np.ptp(a) == 0 or _found(a, given):
                continue
            checked += 1
            assert not _found(a, elsewhere + tables), f"an answer of {name} is readable"
            if name not in FED_BACK or index == len(calls) - 1:
                assert not _found(a, later), f"an answer of {name} is an input of a later call"
    assert checked >= len(calls), f"{name}: too few answers to check ({checked})"


def test_every_graded_function_has_recorded_calls(cases):
    for stem, names in NOTEBOOKS.items():
        for name in names:
            assert len(verdicts.load_calls(cases, name)) >= 3, (stem, name)


def test_recording_is_deterministic(tmp_path):
    first = verdicts.write_cases(tmp_path / "a")
    second = verdicts.write_cases(tmp_path / "b")
    for path in sorted(first.glob("*.npz")):
        assert path.read_bytes() == (second / path.name).read_bytes(), path.name


@pytest.mark.parametrize("given", ["neither", "cases only", "results only"])
def test_outside_grading_the_harness_reads_and_writes_nothing(cases, monkeypatch, tmp_path, given):
    """Without both folders (a student running the notebook), run reads no case and writes
    no results file anywhere: it runs the function's visible check (bnlab.harness), so the
    function is called, on the check's own cases."""
    results = tmp_path / "results"
    results.mkdir()
    monkeypatch.delenv(CASES_ENV, raising=False)
    monkeypatch.delenv(RESULTS_ENV, raising=False)
    if given == "cases only":
        monkeypatch.setenv(CASES_ENV, str(cases))
    if given == "results only":
        monkeypatch.setenv(RESULTS_ENV, str(results))
    monkeypatch.chdir(tmp_path)
    touched = []
    monkeypatch.setattr(valuefile, "load", lambda *a, **k: touched.append("load"))
    monkeypatch.setattr(valuefile, "save", lambda *a, **k: touched.append("save"))

    def batchnorm_forward(*args, **kwargs):
        touched.append("called")
        return reference.batchnorm_forward(*args, **kwargs)

    harness.run("batchnorm_forward", batchnorm_forward)
    assert "load" not in touched and "save" not in touched, touched
    assert "called" in touched
    assert sorted(os.listdir(tmp_path)) == ["results"]
    assert os.listdir(results) == []


def test_in_grading_the_harness_calls_reads_and_writes(cases, monkeypatch, tmp_path):
    """What the test above holds the harness not to do, it does when grading: so that
    test would see it."""
    monkeypatch.setenv(CASES_ENV, str(cases))
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    called = []

    def batchnorm_forward(*args, **kwargs):
        called.append(1)
        return reference.batchnorm_forward(*args, **kwargs)

    harness.run("batchnorm_forward", batchnorm_forward)
    assert len(called) == len(verdicts.load_calls(cases, "batchnorm_forward"))
    assert os.listdir(tmp_path) == ["batchnorm_forward.npz"]


# ------------------------------------------------------------------ forged results files
#
# A results file is written by whatever runs in the kernel. Reading it is total: any
# malformed, oversized or odd value fails that one function ("the test's results could
# not be read (...)"), and decide never raises, whatever the file's bytes.

UNREADABLE = "the test's results could not be read ("


def _npy(array):
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _header(descr, shape):
    """The .npy header of an array of `descr` and `shape` (any claim, true or not)."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": descr, "fortran_order": False, "shape": shape}
    )
    return buffer.getvalue()


def _results(returned):
    """A results tree of one call that returned the (encoded) `returned`."""
    return {
        "dict": [
            ["function", "batchnorm_forward"],
            ["results", {"list": [{"dict": [["returned", returned]]}]}],
        ]
    }


def _write(path, tree, arrays=(), raw=None, compression=zipfile.ZIP_STORED):
    """A results file: `tree` as its JSON structure (or `raw` bytes of JSON), then arrays
    given as ndarrays or as .npy bytes."""
    data = raw if raw is not None else json.dumps(tree).encode()
    with zipfile.ZipFile(path, "w", compression) as archive:
        archive.writestr("__tree__.npy", _npy(np.frombuffer(data, dtype=np.uint8)))
        for i, array in enumerate(arrays):
            archive.writestr(f"a{i}.npy", array if isinstance(array, bytes) else _npy(array))
    return path


FORGED = {
    "an int of 5000 digits": (_results({"int": "9" * 5000}), []),
    "an int of unicode digits": (_results({"int": "\u00b2\u0663"}), []),
    "an untagged int out of range": (_results(2**60), []),
    "a type name with a NUL": (_results({"opaque": "bad\x00name"}), []),
    "a dict key that is a list": (_results({"dict": [[{"list": [1]}, 2]]}), []),
    "a dict key that is an array": (_results({"dict": [[{"array": 0}, 2]]}), [np.zeros(2)]),
    "an unknown tag": (_results({"lambda": "x"}), []),
    "a missing array": (_results({"array": 7}), []),
    "an array index that is not an int": (_results({"array": "a0"}), [np.zeros(2)]),
    "a structured array": (_results({"array": 0}), [np.zeros(2, dtype=[("a", "f8")])]),
    "a void array": (_results({"array": 0}), [np.zeros(2, dtype="V8")]),
    "a datetime array": (_results({"array": 0}), [np.zeros(2, dtype="datetime64[s]")]),
    "a timedelta array": (_results({"array": 0}), [np.zeros(2, dtype="timedelta64[s]")]),
    "an object array": (_results({"array": 0}), [_header("|O", (2,)) + b"\0" * 16]),
    "a huge shape over few bytes": (_results({"array": 0}), [_header("<f8", (10**12,))]),
    "a shape of zero-size items": (_results({"array": 0}), [_header("|S0", (10**15,))]),
    "a negative shape": (_results({"array": 0}), [_header("<f8", (-2, -1)) + b"\0" * 16]),
    "a header that is no header": (_results({"array": 0}), [b"\x93NUMPY\x01\x00\x04\x00{}  "]),
    "the function as an array": ({"dict": [["function", {"array": 0}]]}, [np.zeros(3)]),
    "raised as an int": ({"dict": [["function", "batchnorm_forward"], ["results", 5]]}, []),
    "a result that raised a number": (
        {
            "dict": [
                ["function", "batchnorm_forward"],
                ["results", {"list": [{"dict": [["raised", 7]]}]}],
            ]
        },
        [],
    ),
    "unsaved as a list": (
        {"dict": [["function", "batchnorm_forward"], ["unsaved", {"list": [1, 2]}]]},
        [],
    ),
    "nesting deeper than the limit": (
        _results(json.loads('{"list": [' * 60 + "]}" * 60)),
        [],
    ),
}


@pytest.mark.parametrize("forged", sorted(FORGED))
def test_a_forged_value_fails_its_function_and_nothing_else(cases, tmp_path, forged):
    tree, arrays = FORGED[forged]
    path = _write(tmp_path / "batchnorm_forward.npz", tree, arrays)
    calls = verdicts.load_calls(cases, "batchnorm_forward")
    status, detail = verdicts.decide("batchnorm_forward", calls, path)[:2]
    assert status == "failed", detail
    assert len(detail) <= 300
    assert detail.isprintable(), detail


def test_odd_but_plain_arrays_are_read_and_judged(cases, tmp_path):
    """Complex, big-endian, Fortran-ordered and 0-d arrays are values like any other:
    read (in native byte order) and judged by the test, wrongly shaped here."""
    calls = verdicts.load_calls(cases, "batchnorm_forward")
    odd = [
        np.zeros((2, 2), dtype=complex),
        np.arange(4, dtype=">f8").reshape(2, 2),
        np.asfortranarray(np.ones((2, 3))),
        np.array(3.0),
    ]
    for array in odd:
        path = _write(tmp_path / "batchnorm_forward.npz", _results({"array": 0}), [array])
        assert valuefile.load(path)["results"][0]["returned"].dtype.isnative
        status, detail = verdicts.decide("batchnorm_forward", calls, path)[:2]
        assert status == "failed" and not detail.startswith(UNREADABLE), detail


def test_a_tree_declared_larger_than_its_bound_is_not_parsed(cases, tmp_path):
    """A structure of 200 MB compresses to a few hundred KiB: it is refused from its
    declared size, before a byte of it is parsed (parsing it took 5 GiB)."""
    path = tmp_path / "batchnorm_forward.npz"
    size = 200 * 1024**2
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        with archive.open("__tree__.npy", "w", force_zip64=True) as member:
            member.write(_header("|u1", (size,)))
            member.write(b"[" + b"0," * (size // 2 - 1) + b"]")
    assert path.stat().st_size < 2 * 1024**2
    with pytest.raises(valuefile.ValueFileError, match="too large"):
        valuefile.load(path)
    status, detail = verdicts.decide("batchnorm_forward", [], path)
    assert status == "failed" and detail.startswith(UNREADABLE), detail


def test_a_tree_of_too_many_nodes_is_not_parsed(tmp_path):
    raw = b"[" + b"[]," * (valuefile.MAX_ITEMS * 2) + b"[]]"
    path = _write(tmp_path / "x.npz", None, raw=raw)
    with pytest.raises(valuefile.ValueFileError, match="more than"):
        valuefile.load(path)


def test_too_many_members_are_not_read(tmp_path, monkeypatch):
    monkeypatch.setattr(valuefile, "MAX_MEMBERS", 5)
    path = _write(tmp_path / "x.npz", {"list": []}, [np.zeros(1)] * 5)
    with pytest.raises(valuefile.ValueFileError, match="members"):
        valuefile.load(path)


def test_a_member_whose_size_is_not_the_declared_one_is_not_read(tmp_path):
    """The zip's directory claims a size; the member's bytes must be exactly that."""
    path = _write(tmp_path / "x.npz", None, [np.arange(100.0)], raw=b"[]")
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("a0.npy")
    # lower the declared size in the central directory (and the local header)
    declared = info.file_size.to_bytes(4, "little")
    smaller = (info.file_size - 8).to_bytes(4, "little")
    assert data.count(declared) >= 2
    path.write_bytes(bytes(data).replace(declared, smaller))
    with pytest.raises(valuefile.ValueFileError):
        valuefile.load(path)


def test_a_student_exception_name_is_a_plain_name_or_neutral(cases, tmp_path):
    calls = verdicts.load_calls(cases, "batchnorm_forward")
    path = tmp_path / "batchnorm_forward.npz"
    for ename, shown in [
        ("numpy.linalg.LinAlgError", "numpy.linalg.LinAlgError"),
        ('=HYPERLINK("http://x","y")', valuefile.NEUTRAL_NAME),
        ("<script>", valuefile.NEUTRAL_NAME),
        ("Bad\nName", valuefile.NEUTRAL_NAME),
        ("x" * 500, valuefile.NEUTRAL_NAME),
        ("", valuefile.NEUTRAL_NAME),
    ]:
        tree = {
            "dict": [
                ["function", "batchnorm_forward"],
                ["results", {"list": [{"dict": [["raised", {"list": [ename, "why"]}]]}]}],
            ]
        }
        _write(path, tree)
        assert verdicts.decide("batchnorm_forward", calls, path) == ("failed", f"{shown}: why")


@functools.cache
def _calls():
    return verdicts.load_calls(
        verdicts.write_cases(Path(tempfile.mkdtemp(prefix="bnlab-cases-")) / "cases"),
        "batchnorm_forward",
    )


def _decides(path):
    verdict = verdicts.decide("batchnorm_forward", _calls(), path)
    assert verdict is not None and verdict[0] in ("passed", "failed", "memory")
    assert isinstance(verdict[1], str) and len(verdict[1]) <= 300


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=30,
)
TAGS = ["array", "scalar", "tuple", "list", "dict", "int", "float", "opaque", "raised"]
TAGGED = st.recursive(
    JSON,
    lambda inner: (
        st.builds(lambda tag, body: {tag: body}, st.sampled_from(TAGS), inner)
        | st.lists(inner, max_size=3)
    ),
    max_leaves=30,
)
ARRAYS = st.sampled_from(
    [
        np.zeros((4, 3)),
        np.zeros(2, dtype=[("a", "f8")]),
        np.array(1.0),
        np.zeros(3, dtype="M8[s]"),
        np.zeros(2, dtype=">c16"),
        np.array(["text"]),
    ]
)


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(returned=TAGGED, arrays=st.lists(ARRAYS, max_size=3), raised=st.booleans())
def test_decide_never_raises_whatever_the_structure(tmp_path_factory, returned, arrays, raised):
    path = tmp_path_factory.mktemp("fuzz") / "batchnorm_forward.npz"
    key = "raised" if raised else "returned"
    tree = {
        "dict": [
            ["function", "batchnorm_forward"],
            ["results", {"list": [{"dict": [[key, returned], ["args", returned]]}]}],
        ]
    }
    _decides(_write(path, tree, arrays))


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_decide_never_raises_whatever_the_bytes(tmp_path_factory, data):
    """Arbitrary bytes, and a real results file with bytes changed, cut or appended."""
    path = tmp_path_factory.mktemp("fuzz") / "batchnorm_forward.npz"
    valuefile.save(
        path,
        {"function": "batchnorm_forward", "results": [{"returned": (np.ones((4, 3)), (1, 2))}]},
    )
    real = path.read_bytes()
    choice = data.draw(st.sampled_from(["bytes", "flip", "cut", "append"]))
    if choice == "bytes":
        content = data.draw(st.binary(max_size=2000))
    elif choice == "flip":
        content = bytearray(real)
        for _ in range(data.draw(st.integers(1, 8))):
            content[data.draw(st.integers(0, len(real) - 1))] = data.draw(st.integers(0, 255))
        content = bytes(content)
    elif choice == "cut":
        content = real[: data.draw(st.integers(0, len(real)))]
    else:
        content = real + data.draw(st.binary(max_size=200))
    path.write_bytes(content)
    _decides(path)
