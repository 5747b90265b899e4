"""The library around the graded functions: gradcheck, data, training, the plain
network, the loader, the visible-check machinery, the sync command and its
stored fixtures -- and the rule that no graded function changes its inputs.
"""

import copy
import json
import subprocess
import sys
import types
import warnings

import nbformat
import numpy as np
import pytest

from autograder.content import reference, sync
from autograder.content.mistakes import mistakes_of
from bnlab import data, gradcheck, plain, training
from bnlab.activations import compute_cost
from bnlab.checks import _core
from bnlab.checks._core import CheckFailed, first_difference, load_cases, run_check, save_cases
from bnlab.course import GRADED_FUNCTIONS, NOTEBOOKS
from bnlab.loader import LoadError, load_graded

# ---------------------------------------------------------------- gradcheck


def test_numeric_gradient_of_a_known_function():
    x = np.array([[0.5, -1.0, 2.0], [1.5, 0.0, -0.3]])
    before = x.copy()

    def f():
        return float(np.sum(np.sin(x)) + x[0, 0] * x[1, 2] + np.sum(x**3))

    grad = gradcheck.numeric_gradient(f, x)
    expected = np.cos(before) + 3 * before**2
    expected[0, 0] += before[1, 2]
    expected[1, 2] += before[0, 0]
    np.testing.assert_allclose(grad, expected, rtol=1e-8, atol=1e-9)
    np.testing.assert_array_equal(x, before)  # every entry put back
    assert grad.dtype == np.float64 and grad.shape == x.shape


def test_numeric_gradient_refuses_a_non_contiguous_array():
    x = np.arange(12.0).reshape(3, 4).T
    with pytest.raises(ValueError, match="contiguous"):
        gradcheck.numeric_gradient(lambda: float(np.sum(x)), x)


def test_relative_error():
    assert gradcheck.relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert gradcheck.relative_error([1.0, 0.0], [0.0, 1.0]) == pytest.approx(np.sqrt(2) / 2)
    a = np.array([1.0, 2.0, 3.0])
    assert gradcheck.relative_error(a, a) == 0.0
    assert gradcheck.relative_error(a, -a) == pytest.approx(1.0)
    # symmetric and scale-free
    b = a + 1e-6
    assert gradcheck.relative_error(a, b) == pytest.approx(gradcheck.relative_error(b, a))
    assert gradcheck.relative_error(1e5 * a, 1e5 * b) == pytest.approx(
        gradcheck.relative_error(a, b), rel=1e-6
    )
    assert isinstance(gradcheck.relative_error(a, b), float)


def test_bn_numeric_gradients_keep_the_inputs():
    rng = np.random.default_rng(1)
    Z, gamma, beta = rng.standard_normal((3, 5)), rng.uniform(0.5, 2, (3, 1)), np.zeros((3, 1))
    dZ_tilde = rng.standard_normal((3, 5))
    copies = [a.copy() for a in (Z, gamma, beta)]
    dZ, dgamma, dbeta = gradcheck.bn_numeric_gradients(
        reference.batchnorm_forward, Z, gamma, beta, dZ_tilde
    )
    for a, c in zip((Z, gamma, beta), copies):
        np.testing.assert_array_equal(a, c)
    np.testing.assert_allclose(dbeta, dZ_tilde.sum(axis=1, keepdims=True), rtol=1e-8)


# --------------------------------------------------------------------- data


def test_load_digits_shapes_labels_and_standardization():
    X_train, Y_train, X_test, Y_test = data.load_digits()
    m_train, m_test = X_train.shape[1], X_test.shape[1]
    assert X_train.shape == (64, m_train) and Y_train.shape == (10, m_train)
    assert X_test.shape == (64, m_test) and Y_test.shape == (10, m_test)
    assert m_train + m_test == 1797 and m_test == round(0.2 * 1797)
    for Y in (Y_train, Y_test):
        assert set(np.unique(Y)) == {0.0, 1.0}
        np.testing.assert_array_equal(Y.sum(axis=0), 1)
    assert set(np.argmax(Y_train, axis=0)) == set(range(10))
    std = X_train.std(axis=1)
    np.testing.assert_allclose(X_train.mean(axis=1), 0, atol=1e-12)
    assert np.all((np.abs(std - 1) < 1e-12) | (std == 0))
    assert np.any(std == 0)  # the digits have blank pixels: only centred
    assert np.abs(X_test.mean(axis=1)).max() > 1e-3  # test set: the train statistics


def test_load_digits_is_deterministic_per_seed():
    a, b, c = data.load_digits(seed=3), data.load_digits(seed=3), data.load_digits(seed=4)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])


def test_the_digits_are_scikit_learns_and_reading_them_does_not_import_it(monkeypatch):
    """The file read directly holds what scikit-learn's own loader gives; where the file is
    not found, that loader is used. Reading the file imports nothing of scikit-learn."""
    from sklearn.datasets import load_digits

    expected = load_digits()
    for missing in (False, True):
        if missing:
            monkeypatch.setattr(data, "DIGITS_FILE", ("datasets", "data", "no-such-file.csv.gz"))
        pixels, labels = data.digit_images()
        np.testing.assert_array_equal(pixels, expected.data)
        np.testing.assert_array_equal(labels, expected.target)
        assert labels.dtype.kind == "i"
    probe = "import sys; from bnlab import data; data.load_digits(); print(sorted(sys.modules))"
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert "'sklearn" not in loaded and "'scipy" not in loaded, loaded[-300:]


def test_load_digits_splits_without_overlap_and_uses_the_train_statistics(monkeypatch):
    """With stand-in digits whose pixel 0 is the example's index (standardizing keeps its
    order), every column can be traced back to the example it came from."""
    m = 200
    rng = np.random.default_rng(2)
    raw = rng.integers(0, 17, (m, 64)).astype(float)
    raw[:, 0] = np.arange(m)
    raw[:, 5] = 4.0  # a blank pixel
    target = np.arange(m) % 10
    monkeypatch.setattr(data, "digit_images", lambda: (raw, target))
    X_train, Y_train, X_test, Y_test = data.load_digits(test_fraction=0.25, seed=5)
    X_all = np.hstack([X_train, X_test])
    index = np.argsort(np.argsort(X_all[0]))  # the rank of pixel 0 is the example's index
    train, test = index[: X_train.shape[1]], index[X_train.shape[1] :]
    assert len(test) == 50 and len(train) == 150
    assert not set(train) & set(test)
    assert sorted(np.concatenate([train, test])) == list(range(m))
    mean = raw[train].mean(axis=0)
    std = raw[train].std(axis=0)
    std[std == 0] = 1.0
    np.testing.assert_allclose(X_train, ((raw[train] - mean) / std).T, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(X_test, ((raw[test] - mean) / std).T, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(np.argmax(Y_train, axis=0), target[train])
    np.testing.assert_array_equal(np.argmax(Y_test, axis=0), target[test])
    np.testing.assert_array_equal(X_all[5], 0)


def test_make_spirals():
    X_train, Y_train, X_test, Y_test = data.make_spirals()
    assert X_train.shape == (2, 480) and Y_train.shape == (3, 480)
    assert X_test.shape == (2, 120) and Y_test.shape == (3, 120)
    Y = np.hstack([Y_train, Y_test])
    np.testing.assert_array_equal(Y.sum(axis=0), 1)
    np.testing.assert_array_equal(Y.sum(axis=1), 200)
    np.testing.assert_allclose(X_train.mean(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(X_train.std(axis=1), 1, rtol=1e-12)
    again = data.make_spirals()
    for x, y in zip(again, (X_train, Y_train, X_test, Y_test)):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(data.make_spirals(seed=1)[0], X_train)
    X4, Y4, _, _ = data.make_spirals(m=400, num_classes=4, test_fraction=0.5)
    assert X4.shape == (2, 200) and Y4.shape == (4, 200)


def test_one_hot():
    Y = data.one_hot([2, 0, 1, 2], 3)
    np.testing.assert_array_equal(Y, [[0, 1, 0, 0], [0, 0, 1, 0], [1, 0, 0, 1]])


# ----------------------------------------------------------------- training


@pytest.fixture(scope="module")
def digits():
    return data.load_digits()


@pytest.mark.parametrize(
    "optimizer, learning_rate", [("gd", 0.1), ("momentum", 0.1), ("rmsprop", 0.001), ("adam", 0.01)]
)
def test_train_lowers_the_cost_on_the_digits(digits, optimizer, learning_rate):
    X_train, Y_train, X_test, Y_test = digits
    parameters = reference.initialize_parameters([64, 32, 10], seed=0)
    before = copy.deepcopy(parameters)
    trained, history = training.train(
        X_train, Y_train, parameters, reference, optimizer=optimizer,
        learning_rate=learning_rate, num_epochs=3, X_test=X_test, Y_test=Y_test,
    )  # fmt: skip
    steps = -(-X_train.shape[1] // 64)
    assert len(history["cost"]) == 3 * steps
    assert len(history["epoch_cost"]) == 3
    assert len(history["train_accuracy"]) == 3 and len(history["test_accuracy"]) == 3
    assert history["epoch_cost"][0] > history["epoch_cost"][1] > history["epoch_cost"][2]
    assert history["epoch_cost"][2] < 0.7 * history["epoch_cost"][0]
    np.testing.assert_allclose(
        history["epoch_cost"], np.reshape(history["cost"], (3, steps)).mean(axis=1)
    )
    assert history["test_accuracy"][-1] > 0.6
    assert set(history["running"]) == {"mean1", "var1"}
    for key in before:  # the parameters passed in are left alone
        np.testing.assert_array_equal(parameters[key], before[key])
        assert not np.array_equal(trained[key], before[key]), f"{key} never moved"


def test_train_refuses_an_unknown_optimizer_and_a_missing_function(digits):
    X, Y = digits[0][:, :32], digits[1][:, :32]
    parameters = reference.initialize_parameters([64, 8, 10])
    with pytest.raises(ValueError, match="nadam"):
        training.train(X, Y, parameters, reference, optimizer="nadam")
    namespace = {k: getattr(reference, k) for k in ("random_mini_batches", "model_forward")}
    with pytest.raises(NameError, match="model_backward"):
        training.train(X, Y, parameters, namespace)


def test_train_without_test_set_and_accuracy(digits):
    X, Y = digits[0][:, :200], digits[1][:, :200]
    parameters = reference.initialize_parameters([64, 16, 10], seed=1)
    parameters, history = training.train(X, Y, parameters, reference, num_epochs=2)
    assert history["test_accuracy"] == []
    predictions = training.predict(X, parameters, reference, history["running"])
    assert predictions.shape == (200,)
    assert training.accuracy(X, Y, parameters, reference, history["running"]) == pytest.approx(
        np.mean(predictions == np.argmax(Y, axis=0))
    )


def test_lookup_searches_the_namespaces_in_order():
    def first():
        return 1

    def second():
        return 2

    assert training.lookup([{"f": first}, {"f": second}], "f") is first
    assert training.lookup([{}, types.SimpleNamespace(f=second)], "f") is second
    assert training.lookup({"g": first}, "f") is None


# ------------------------------------------------------------ plain network


def test_plain_network_gradients_match_numeric_gradients():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((4, 7))
    Y = data.one_hot(rng.integers(0, 3, 7), 3)
    parameters = plain.initialize_parameters([4, 5, 3, 3], seed=3)
    for key in parameters:
        if key.startswith("b"):
            parameters[key] = rng.standard_normal(parameters[key].shape) * 0.3
    assert set(parameters) == {"W1", "b1", "W2", "b2", "W3", "b3"}
    AL, caches = plain.model_forward(X, parameters, "tanh")
    np.testing.assert_allclose(AL.sum(axis=0), 1, rtol=1e-12)
    grads = plain.model_backward(AL, Y, caches)
    assert set(grads) == {"d" + key for key in parameters}

    def cost():
        return compute_cost(plain.model_forward(X, parameters, "tanh")[0], Y)

    for key, value in parameters.items():
        error = gradcheck.relative_error(grads["d" + key], gradcheck.numeric_gradient(cost, value))
        assert error < 1e-7, f"{key}: relative error {error:.1e}"


def test_plain_network_draws_the_same_weights_and_trains(digits):
    dims = [64, 16, 10]
    bn, no_bn = reference.initialize_parameters(dims, seed=4), plain.initialize_parameters(dims, 4)
    for key in ("W1", "W2"):
        np.testing.assert_array_equal(bn[key], no_bn[key])
    # plain first: its model_forward/model_backward; the mini-batches and optimizer from
    # the other namespace. The plain network has no BN layer, so no running averages.
    _, history = training.train(
        digits[0], digits[1], no_bn, [plain, reference], learning_rate=0.1, num_epochs=2,
        mini_batch_size=128,
    )  # fmt: skip
    assert "running" not in history
    with pytest.raises(NameError, match="random_mini_batches"):
        training.train(digits[0], digits[1], no_bn, plain)
    assert history["epoch_cost"][1] < history["epoch_cost"][0]


# ------------------------------------------------------------------- loader


def write_notebook(path, cells):
    """cells: list of (grade_id or None, source)."""
    notebook = nbformat.v4.new_notebook()
    for grade_id, source in cells:
        cell = nbformat.v4.new_code_cell(source)
        if grade_id:
            cell.metadata["nbgrader"] = {"grade_id": grade_id, "solution": True}
        notebook.cells.append(cell)
    nbformat.write(notebook, str(path))


FORWARD_SOURCE = '''# GRADED FUNCTION: batchnorm_forward
%matplotlib inline
def batchnorm_forward(Z, gamma, beta, eps=1e-5):
    """A student's own version."""
    mu = np.mean(Z, axis=1, keepdims=True)
    var = np.var(Z, axis=1, keepdims=True)
    Z_norm = (Z - mu) / np.sqrt(var + eps)
    return gamma * Z_norm + beta, (Z, Z_norm, mu, var, gamma, beta, eps)
'''

STUB_SOURCE = '''def linear_bn_activation_forward(A_prev, W, gamma, beta, activation):
    """Not written yet."""
    # YOUR CODE HERE
    raise NotImplementedError()
'''


def test_load_graded_runs_only_the_graded_cells(tmp_path):
    write_notebook(
        tmp_path / "01_forward_bn.ipynb",
        [
            (None, "raise RuntimeError('a cell that is not graded must not run')"),
            ("batchnorm_forward", FORWARD_SOURCE),
            ("check_batchnorm_forward", "raise RuntimeError('nor a check cell')"),
            ("linear_bn_activation_forward", STUB_SOURCE),
        ],
    )
    batchnorm_forward = load_graded("batchnorm_forward", folder=tmp_path)
    assert batchnorm_forward.__doc__ == "A student's own version."
    rng = np.random.default_rng(5)
    Z, gamma, beta = rng.standard_normal((3, 4)), rng.uniform(0.5, 2, (3, 1)), np.ones((3, 1))
    np.testing.assert_allclose(
        batchnorm_forward(Z, gamma, beta)[0], reference.batchnorm_forward(Z, gamma, beta)[0]
    )
    forward, layer = load_graded(
        "batchnorm_forward", "linear_bn_activation_forward", folder=tmp_path
    )
    assert forward.__name__ == "batchnorm_forward"
    with pytest.raises(NotImplementedError):
        layer(Z, np.eye(3), gamma, beta, "relu")


def test_load_graded_sees_the_activations(tmp_path):
    source = STUB_SOURCE.replace(
        "# YOUR CODE HERE\n    raise NotImplementedError()",
        "return activation_forward(W @ A_prev, activation), None",
    )
    write_notebook(tmp_path / "01_forward_bn.ipynb", [("linear_bn_activation_forward", source)])
    layer = load_graded("linear_bn_activation_forward", folder=tmp_path)
    A, _ = layer(-np.ones((2, 3)), np.eye(2), None, None, "relu")
    np.testing.assert_array_equal(A, 0)


def test_load_graded_errors_are_plain(tmp_path):
    with pytest.raises(LoadError, match="01_forward_bn.ipynb was not found"):
        load_graded("batchnorm_forward", folder=tmp_path)

    (tmp_path / "01_forward_bn.ipynb").write_text("{ this is not json", encoding="utf-8")
    with pytest.raises(LoadError, match="not a readable notebook"):
        load_graded("batchnorm_forward", folder=tmp_path)

    (tmp_path / "01_forward_bn.ipynb").write_text(json.dumps({"cells": 3}), encoding="utf-8")
    with pytest.raises(LoadError):
        load_graded("batchnorm_forward", folder=tmp_path)

    broken = FORWARD_SOURCE.replace("def batchnorm_forward(", "def batchnorm_forward((")
    write_notebook(tmp_path / "01_forward_bn.ipynb", [("batchnorm_forward", broken)])
    with pytest.raises(LoadError) as error:
        load_graded("batchnorm_forward", folder=tmp_path)
    message = str(error.value)
    assert "batchnorm_forward" in message and "SyntaxError" in message
    assert "Traceback" not in message and "\n" not in message
    assert isinstance(error.value, ImportError)

    write_notebook(tmp_path / "01_forward_bn.ipynb", [(None, FORWARD_SOURCE)])
    with pytest.raises(LoadError, match="does not define batchnorm_forward"):
        load_graded("batchnorm_forward", folder=tmp_path)


def test_load_graded_carries_the_earlier_notebooks_forward(tmp_path):
    """notebook 04's model_forward calls the linear_bn_activation_forward of notebook 01."""
    layer = STUB_SOURCE.replace(
        "# YOUR CODE HERE\n    raise NotImplementedError()",
        "return np.full((W.shape[0], A_prev.shape[1]), 7.0), 'mine'",
    )
    model = (
        "def model_forward(X, parameters, activation='relu'):\n"
        "    return linear_bn_activation_forward(X, parameters['W1'], None, None, activation)\n"
    )
    write_notebook(tmp_path / "04_deep_network.ipynb", [("model_forward", model)])
    model_forward = load_graded("model_forward", folder=tmp_path)
    with pytest.raises(NameError):  # notebook 01 is missing: skipped
        model_forward(np.ones((2, 3)), {"W1": np.eye(2)})
    write_notebook(tmp_path / "01_forward_bn.ipynb", [("linear_bn_activation_forward", layer)])
    model_forward = load_graded("model_forward", folder=tmp_path)
    A, cache = model_forward(np.ones((2, 3)), {"W1": np.eye(2)})
    assert cache == "mine"
    np.testing.assert_array_equal(A, 7.0)


def test_load_graded_rejects_an_unknown_name(tmp_path):
    with pytest.raises(KeyError, match="not a graded function"):
        load_graded("softmax", folder=tmp_path)


# ----------------------------------------------------------- checks._core


def test_save_and_load_cases_round_trip(tmp_path, monkeypatch):
    monkeypatch.setattr(_core, "FIXTURE_DIR", tmp_path)
    cases = [
        {
            "label": "nested",
            "args": (np.arange(6.0).reshape(2, 3), np.float32([[1.5]]), [1, 2.5, None]),
            "kwargs": {"eps": 1e-3, "flag": True, "name": "relu"},
            "expected": ({"W1": np.eye(2), "b1": np.zeros((2, 1))}, [np.int64(3), (4, "x")]),
        },
        {"label": "empty", "args": (), "kwargs": {}, "expected": []},
    ]
    save_cases(tmp_path / "round_trip.npz", cases)
    loaded = load_cases("round_trip")
    assert first_difference(loaded, cases, "cases", 0, 0) is None
    assert isinstance(loaded[0]["args"], tuple) and isinstance(loaded[0]["args"][2], list)
    assert loaded[0]["args"][1].dtype == np.float32
    assert loaded[0]["expected"][1][0] == 3 and isinstance(loaded[0]["expected"][1][0], int)
    assert list(loaded[0]["expected"][0]) == ["W1", "b1"]
    with pytest.raises(TypeError):
        save_cases(tmp_path / "bad.npz", [{"label": "a set", "args": ({1, 2},)}])


def test_run_check_passes_the_reference():
    said = []
    assert run_check("batchnorm_forward", reference.batchnorm_forward, report=said.append)
    assert len(said) == 1 and "passed" in said[0]


def test_run_check_fails_a_wrong_function():
    def wrong(Z, gamma, beta, eps=1e-5):
        Z_tilde, cache = reference.batchnorm_forward(Z, gamma, beta, eps)
        return Z_tilde * 1.01, cache

    with pytest.raises(CheckFailed, match="Wrong values"):
        run_check("batchnorm_forward", wrong, report=lambda _: None)

    def wrong_shape(Z, gamma, beta, eps=1e-5):
        Z_tilde, cache = reference.batchnorm_forward(Z, gamma, beta, eps)
        return Z_tilde.T, cache

    with pytest.raises(CheckFailed, match="shape"):
        run_check("batchnorm_forward", wrong_shape, report=lambda _: None)


def test_run_check_names_not_implemented_and_in_place_changes():
    def stub(Z, gamma, beta, eps=1e-5):
        raise NotImplementedError()

    with pytest.raises(CheckFailed, match="not implemented"):
        run_check("batchnorm_forward", stub, report=lambda _: None)

    def in_place(Z, gamma, beta, eps=1e-5):
        Z_tilde, cache = reference.batchnorm_forward(Z, gamma, beta, eps)
        Z -= cache[2]
        return Z_tilde, cache

    with pytest.raises(CheckFailed, match="changed one of its inputs"):
        run_check("batchnorm_forward", in_place, report=lambda _: None)


def test_run_check_names_the_classic_mistakes():
    mistakes = mistakes_of("batchnorm_forward")
    assert mistakes
    for mistake in mistakes:
        with pytest.raises(CheckFailed) as failed:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                run_check("batchnorm_forward", mistake.build(), report=lambda _: None)
        assert "Likely mistake:" in str(failed.value), mistake.id
        assert mistake.hint in str(failed.value), mistake.id


# -------------------------------------------------------- sync and fixtures


def test_notebooks_are_in_sync_with_the_reference():
    assert sync.sync(check=True) == []


def test_sync_finds_and_repairs_drift(tmp_path):
    for stem in NOTEBOOKS:
        (tmp_path / f"{stem}.ipynb").write_bytes((sync.NOTEBOOK_DIR / f"{stem}.ipynb").read_bytes())
    path = tmp_path / "02_backward_bn.ipynb"
    notebook = nbformat.read(path, as_version=4)
    cell = sync.solution_cells(notebook)["batchnorm_backward"]
    cell.source = cell.source.replace("### END SOLUTION", "dZ = 2 * dZ\n    ### END SOLUTION")
    nbformat.write(notebook, path)
    problems = sync.sync(check=True, notebook_dir=tmp_path)
    assert problems == [
        "02_backward_bn.ipynb: the cell of batchnorm_backward differs from autograder.content.reference"
    ]
    assert sync.sync(check=False, notebook_dir=tmp_path, stems=["02_backward_bn"]) == []
    assert sync.sync(check=True, notebook_dir=tmp_path) == []


def test_solution_cell_source_hides_only_the_body():
    source = sync.solution_cell_source("batchnorm_forward")
    lines = source.splitlines()
    assert lines[0] == "# GRADED FUNCTION: batchnorm_forward"
    assert lines[1].startswith("def batchnorm_forward(Z, gamma, beta, eps=1e-5):")
    begin, end = lines.index("    ### BEGIN SOLUTION"), lines.index("    ### END SOLUTION")
    assert end == len(lines) - 1
    assert '"""' in "\n".join(lines[:begin]) and "return Z_tilde, cache" in "\n".join(lines[begin:])


STORED = sorted(p.stem for p in _core.FIXTURE_DIR.glob("*.npz"))


def test_every_case_builder_has_a_stored_fixture():
    from autograder.content.fixtures import _case_builders

    builders = set(_case_builders())
    assert "batchnorm_forward" in builders
    assert builders <= set(STORED), f"no stored cases for {sorted(builders - set(STORED))}"
    assert set(STORED) <= set(GRADED_FUNCTIONS)


@pytest.mark.parametrize("name", STORED)
def test_stored_fixture_matches_the_reference(name):
    hints = {m.id: m for m in mistakes_of(name)}
    for case in load_cases(name):
        args, kwargs = copy.deepcopy(case["args"]), copy.deepcopy(case.get("kwargs", {}))
        got = getattr(reference, name)(*args, **kwargs)
        difference = first_difference(got, case["expected"], "output", case["rtol"], case["atol"])
        assert difference is None, f"{case['label']}: {difference}"
        for mistake_id, stored in case["mistakes"].items():
            assert mistake_id in hints, f"{case['label']}: unknown mistake {mistake_id}"
            assert case["hints"][mistake_id] == hints[mistake_id].hint
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")  # e.g. the unbiased variance of one example
                output = hints[mistake_id].build()(*copy.deepcopy(case["args"]), **kwargs)
            # the stored output within the case's own tolerance: the last digits depend on the
            # numpy build and the processor
            assert first_difference(output, stored, "output", case["rtol"], case["atol"]) is None, (
                mistake_id
            )


# ---------------------------------------------- inputs are never modified


def graded_calls():
    """{graded function: (args, kwargs)} on awkward inputs, for every graded function."""
    rng = np.random.default_rng(6)
    Z, gamma, beta = rng.standard_normal((3, 5)), rng.uniform(0.5, 2, (3, 1)), np.ones((3, 1))
    _, bn_cache = reference.batchnorm_forward(Z, gamma, beta)
    _, ln_cache = reference.layernorm_forward(Z, gamma, beta)
    A_prev, W = rng.standard_normal((4, 5)), rng.standard_normal((3, 4))
    _, layer_cache = reference.linear_bn_activation_forward(A_prev, W, gamma, beta, "relu")
    X, Y = rng.standard_normal((4, 9)), data.one_hot(rng.integers(0, 3, 9), 3)
    parameters = reference.initialize_parameters([4, 3, 3], seed=6)
    AL, caches = reference.model_forward(X, parameters, "relu")
    grads = reference.model_backward(AL, Y, caches)
    v = {k: rng.standard_normal(p.shape) for k, p in parameters.items()}
    s = {k: rng.uniform(0, 1, p.shape) for k, p in parameters.items()}
    running = (rng.standard_normal((3, 1)), rng.uniform(0.5, 2, (3, 1)))
    return {
        "batchnorm_forward": ((Z, gamma, beta), {}),
        "linear_bn_activation_forward": ((A_prev, W, gamma, beta, "tanh"), {}),
        "batchnorm_backward_staged": ((rng.standard_normal((3, 5)), bn_cache), {}),
        "batchnorm_backward": ((rng.standard_normal((3, 5)), bn_cache), {}),
        "linear_bn_activation_backward": ((rng.standard_normal((3, 5)), layer_cache, "relu"), {}),
        "initialize_parameters": (([4, 3, 3],), {"seed": 1}),
        "random_mini_batches": ((X, Y, 4), {"seed": 2}),
        "model_forward": ((X, parameters, "relu"), {}),
        "model_backward": ((AL, Y, caches), {}),
        "update_parameters_with_gd": ((parameters, grads, 0.1), {}),
        "update_parameters_with_momentum": ((parameters, grads, v, 0.9, 0.1), {}),
        "update_parameters_with_rmsprop": ((parameters, grads, s, 0.9, 0.1), {}),
        "update_parameters_with_adam": ((parameters, grads, v, s, 2), {}),
        "update_running_averages": ((*running, Z.mean(axis=1, keepdims=True), bn_cache[3]), {}),
        "batchnorm_forward_inference": ((Z, gamma, beta, *running), {}),
        "model_forward_inference": ((X, parameters, {"mean1": running[0], "var1": running[1]}), {}),
        "fold_batchnorm": ((W, gamma, beta, *running), {}),
        "layernorm_forward": ((Z, gamma, beta), {}),
        "layernorm_backward": ((rng.standard_normal((3, 5)), ln_cache), {}),
    }


def assert_unchanged(before, after, where="input"):
    assert type(before) is type(after), where
    if isinstance(before, np.ndarray):
        assert before.dtype == after.dtype and np.array_equal(before, after), where
    elif isinstance(before, dict):
        assert list(before) == list(after), f"{where}: keys changed"
        for key in before:
            assert_unchanged(before[key], after[key], f"{where}[{key!r}]")
    elif isinstance(before, (list, tuple)):
        assert len(before) == len(after), f"{where}: length changed"
        for i, (b, a) in enumerate(zip(before, after)):
            assert_unchanged(b, a, f"{where}[{i}]")
    else:
        assert before == after, where


def test_every_graded_function_has_a_call():
    assert set(graded_calls()) == set(GRADED_FUNCTIONS)


@pytest.mark.parametrize("name", GRADED_FUNCTIONS)
def test_graded_function_leaves_its_inputs_alone(name):
    args, kwargs = graded_calls()[name]
    before = copy.deepcopy((args, kwargs))
    getattr(reference, name)(*args, **kwargs)
    assert_unchanged(before, (args, kwargs))


def test_the_in_place_check_can_fail():
    parameters = {"W1": np.ones((2, 2)), "b1": np.zeros((2, 1))}
    before = copy.deepcopy(parameters)

    def sneaky(parameters):
        parameters["W1"] -= 1

    sneaky(parameters)
    with pytest.raises(AssertionError):
        assert_unchanged(before, parameters)
    with pytest.raises(AssertionError):
        assert_unchanged({"a": 1}, {"a": 1, "b": 2})
