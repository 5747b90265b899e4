"""The student's own round trip: `python -m bnlab check` and `submit`.

The sample submissions of autograder.content.samples stand in for students. Their
release notebooks are made here from the source notebooks with nbgrader's own
ClearSolutions preprocessor (what `generate_assignment` does to the graded
cells), which takes a second, not a release. What each sample should show comes
from its definition (Sample.zero, the mistake's hint), never from the code
under test.
"""

import json
import subprocess
import sys
import time
import zipfile
from dataclasses import replace
from pathlib import Path

import nbformat
import pytest
from autograder_support import (
    SOURCE,
    expected_scores,
    gradebook_scores,
    points,
    run,
    sqlite_url,
    written_answers,
)
from nbgrader.preprocessors import ClearSolutions

from autograder import boundary
from autograder.content import reference
from autograder.content.mistakes import all_mistakes
from autograder.content.samples import INVALID_NOTEBOOK, LOOP_FUNCTION, MISSING_NOTEBOOK, generate
from autograder.pipeline.collect import classify, gather
from bnlab import _saved, student
from bnlab.course import ASSIGNMENT, GRADED_FUNCTIONS, NOTEBOOKS, WRITTEN_ANSWERS, notebook_of

ROOT = Path(__file__).resolve().parents[2]
# A classic mistake in a function no other graded function calls, so that only its row fails.
MISTAKE = next(m for m in all_mistakes() if m.function == "batchnorm_backward_staged")
MISTAKE_SAMPLE = f"mistake-{MISTAKE.function}-{MISTAKE.id}"
STUDENTS = ["solution", "release", MISTAKE_SAMPLE, "invalid-json", "missing-notebook", "loop"]
# The notebooks that take seconds each to grade when solved: handed in unsolved (as
# released) in the zips that are graded here.
UNGRADED_HERE = ("04_deep_network", "06_test_time", "07_layer_norm")


@pytest.fixture(scope="module")
def inbox(tmp_path_factory):
    """{sample id: the folder of its notebooks}, for the samples STUDENTS."""
    base = tmp_path_factory.mktemp("student-command")
    release = base / "release"
    release.mkdir()
    for stem in NOTEBOOKS:
        notebook = nbformat.read(Path(boundary.source_notebooks()) / f"{stem}.ipynb", 4)
        notebook, _ = ClearSolutions().preprocess(notebook, {"language": "python"})
        nbformat.write(notebook, release / f"{stem}.ipynb")
    written = generate(base / "submitted", boundary.source_notebooks(), release, STUDENTS)
    return {
        sample.student: (sample, base / "submitted" / sample.student / ASSIGNMENT)
        for sample in written
    }


def statuses(report):
    return {row.function: row.status for row in report.rows}


def _copy_folder(folder, dest):
    dest.mkdir()
    for stem in NOTEBOOKS:
        if (folder / f"{stem}.ipynb").exists():
            (dest / f"{stem}.ipynb").write_bytes((folder / f"{stem}.ipynb").read_bytes())
    return dest


def test_the_solution_passes_everything(inbox, capsys):
    sample, folder = inbox["solution"]
    assert not sample.zero
    assert student.main(["check", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "save your notebooks first" in out
    assert f"{len(GRADED_FUNCTIONS)} of {len(GRADED_FUNCTIONS)} graded functions pass" in out
    assert "Reminder" not in out  # its written answers are written
    report = student.run_checks(folder)
    assert statuses(report) == dict.fromkeys(GRADED_FUNCTIONS, "passed")
    assert report.warnings == []


def test_the_untouched_release_is_not_done(inbox, capsys):
    sample, folder = inbox["release"]
    assert sample.zero == set(GRADED_FUNCTIONS)
    assert student.main(["check", str(folder)]) == 1
    out = capsys.readouterr().out
    assert "0 of 19" in out
    report = student.run_checks(folder)
    assert statuses(report) == dict.fromkeys(sample.zero, "not done")


def test_a_classic_mistake_is_named_and_the_rest_passes(inbox):
    sample, folder = inbox[MISTAKE_SAMPLE]
    report = student.run_checks(folder)
    found = statuses(report)
    assert sample.zero == {MISTAKE.function}
    for function in GRADED_FUNCTIONS:
        if function in sample.zero:
            assert found[function] == "mistake: " + " ".join(MISTAKE.hint.split())
        else:
            assert found[function] == "passed", function
    assert not report.ok


def _users_of(names):
    """The graded functions whose reference calls one of `names`, directly or through
    other graded functions (read from the reference's code, not from the code under
    test), `names` left out."""
    users, grown = set(), True
    while grown:
        known = set(names) | users
        found = {
            function
            for function in GRADED_FUNCTIONS
            if known & set(getattr(reference, function).__code__.co_names)
        }
        grown = bool(found - known)
        users |= found - set(names)
    return users


def test_a_missing_and_an_unreadable_notebook_are_reported(inbox, capsys):
    sample, folder = inbox["missing-notebook"]
    assert sample.broken == (MISSING_NOTEBOOK,)
    assert student.main(["check", str(folder)]) == 1
    out = capsys.readouterr().out
    assert f"Warning: {MISSING_NOTEBOOK}.ipynb is missing" in out
    found = statuses(student.run_checks(folder))
    for function in NOTEBOOKS[MISSING_NOTEBOOK]:
        assert found[function] == "notebook missing"

    sample, folder = inbox["invalid-json"]
    assert sample.broken == (INVALID_NOTEBOOK,)
    assert student.main(["check", str(folder)]) == 1
    out = capsys.readouterr().out
    assert f"Warning: {INVALID_NOTEBOOK}.ipynb cannot be read: it is not valid JSON" in out
    found = statuses(student.run_checks(folder))
    for function in NOTEBOOKS[INVALID_NOTEBOOK]:
        assert found[function] == "notebook unreadable"


@pytest.mark.parametrize("name", ["invalid-json", "missing-notebook"])
def test_a_broken_notebook_leaves_the_other_rows_their_own_status(inbox, name):
    """One row per graded function, each with its own status: a function of another
    notebook is checked (and passes, in these solved samples) unless it calls a function
    of the broken notebook, which it says; the broken notebook is warned about once."""
    sample, folder = inbox[name]
    (stem,) = sample.broken
    report = student.run_checks(folder)
    assert [row.function for row in report.rows] == GRADED_FUNCTIONS
    callers = _users_of(NOTEBOOKS[stem])
    assert callers or stem == MISSING_NOTEBOOK  # 01's functions are used later on
    what = "missing" if stem == MISSING_NOTEBOOK else "unreadable"
    for row in report.rows:
        if row.notebook == stem:
            assert row.status == f"notebook {what}"
        elif row.function in callers:
            assert row.status.startswith("not checked: it needs "), row
            assert row.status.endswith(f"of {stem}.ipynb, which is {what}"), row
        else:
            assert row.status == "passed", row
    assert [w for w in report.warnings if f"{stem}.ipynb" in w] == report.warnings
    assert len(report.warnings) == 1 and set(report.problems) == {stem}
    out = student.format_report(report)
    assert out.count("Warning:") == 1


CELLS_THAT_DO_NOT_RUN = {
    # saved half-typed
    "SyntaxError": lambda source: source.replace("def batchnorm_forward(", "def ("),
    # a try-out left at the end of the cell, on names the cell does not define
    "NameError": lambda source: source + "\n\nprint(batchnorm_forward(Z, gamma, beta))\n",
}


@pytest.mark.parametrize("error", CELLS_THAT_DO_NOT_RUN)
def test_a_cell_that_does_not_run_leaves_the_other_rows_their_own_status(inbox, tmp_path, error):
    """A graded cell whose code cannot run is its own row's problem: the functions that
    use it say so, every other function is checked; the zip packs the notebook as
    saved."""
    folder = _copy_folder(inbox["solution"][1], tmp_path / "notebooks")
    path = folder / "01_forward_bn.ipynb"
    notebook = json.loads(path.read_text())
    for cell in notebook["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == "batchnorm_forward":
            cell["source"] = CELLS_THAT_DO_NOT_RUN[error]("".join(cell["source"]))
    path.write_text(json.dumps(notebook))
    copies = tmp_path / "copies"
    copies.mkdir()
    report = student.run_checks(folder, copies=copies)
    users = _users_of(["batchnorm_forward"])
    assert "linear_bn_activation_forward" in users and "model_forward" in users
    for row in report.rows:
        if row.function == "batchnorm_forward":
            assert row.status.startswith(f"its cell does not run: {error}"), row
        elif row.function in users:
            assert row.status == (
                "not checked: it needs batchnorm_forward() of 01_forward_bn.ipynb, "
                "whose cell does not run"
            ), row
        else:
            assert row.status == "passed", row
    assert report.warnings == [] and report.problems == {}
    assert (copies / path.name).read_bytes() == path.read_bytes()


NOT_NOTEBOOKS = {
    "JSON without cells": json.dumps({"answer": 42}),
    "cells of the wrong kind": json.dumps({"nbformat": 4, "cells": [{"cell_type": "other"}]}),
    "a code cell without its source": json.dumps(
        {
            "nbformat": 4,
            "nbformat_minor": 5,
            "metadata": {},
            "cells": [{"cell_type": "code", "metadata": {}, "outputs": []}],
        }
    ),
    "an old notebook format": json.dumps({"nbformat": 3, "cells": [], "worksheets": []}),
    "nested too deep for a JSON reader": "[" * 100000 + "]" * 100000,
    "not text": "\udcff".encode("utf-8", "surrogatepass").decode("latin-1"),
}


@pytest.mark.parametrize("what", NOT_NOTEBOOKS)
def test_what_is_not_a_notebook(tmp_path, what):
    path = tmp_path / "03_removing_b.ipynb"
    path.write_text(NOT_NOTEBOOKS[what], encoding="latin-1")
    problem = _saved.notebook_problem(path)
    assert problem and problem.startswith(("not valid JSON", "not a notebook")), problem


@pytest.mark.parametrize("kind", ["folder", "device"])
def test_a_notebook_that_is_no_file_is_reported_not_copied(tmp_path, kind):
    """A folder, or a link to an endless device, in a notebook's place: reported at once
    (copying /dev/zero would never end)."""
    path = tmp_path / "03_removing_b.ipynb"
    if kind == "folder":
        path.mkdir()
    else:
        path.symlink_to("/dev/zero")
    started = time.monotonic()
    report = student.run_checks(tmp_path)
    assert time.monotonic() - started < 10
    assert report.problems["03_removing_b"].startswith("not a file")
    assert statuses(report)["initialize_parameters"] == "notebook unreadable"
    with pytest.raises(student.BrokenNotebooks):
        student.submit("ada", tmp_path, dest=tmp_path, out=lambda *_: None)
    assert not list(tmp_path.glob("*.zip"))


def test_not_a_notebook_is_reported(inbox, tmp_path):
    folder = _copy_folder(inbox["solution"][1], tmp_path / "notebooks")
    (folder / "03_removing_b.ipynb").write_text(NOT_NOTEBOOKS["a code cell without its source"])
    report = student.run_checks(folder)
    (warning,) = report.warnings
    assert warning.startswith("03_removing_b.ipynb cannot be read: it is not a notebook"), warning
    assert statuses(report)["initialize_parameters"] == "notebook unreadable"
    assert set(report.problems) == {"03_removing_b"}


def test_a_loop_that_never_ends_is_cut(inbox):
    sample, folder = inbox["loop"]
    started = time.monotonic()
    found = statuses(student.run_checks(folder, time_limit=1.0))
    assert time.monotonic() - started < 30
    for function in GRADED_FUNCTIONS:
        if function in sample.zero:
            assert found[function].startswith("too slow"), function
        else:
            assert found[function] == "passed", function
    assert LOOP_FUNCTION in sample.zero


@pytest.mark.parametrize("name", ["solution", MISTAKE_SAMPLE, "release"])
def test_submit_packs_what_collect_reads(inbox, tmp_path, name, capsys):
    sample, folder = inbox[name]
    student_id = "s.12-ab_C"
    when = time.strptime("2026-03-01 12:30:05", "%Y-%m-%d %H:%M:%S")
    target = student.submit(student_id, folder, dest=tmp_path, now=when)
    out = capsys.readouterr().out
    assert target.name == f"{ASSIGNMENT}_{student_id}_attempt_2026-03-01-12-30-05_submission.zip"
    expected = list(NOTEBOOKS)
    with zipfile.ZipFile(target) as archive:
        members = archive.namelist()
        for member in members:
            stem = classify(member)[1]
            assert archive.read(member) == (folder / f"{stem}.ipynb").read_bytes()
        archive.extractall(tmp_path / "unpacked")
    assert sorted(classify(member)[:2] for member in members) == [
        (student_id, stem) for stem in sorted(expected)
    ]
    assert all(classify(member)[2] == "2026-03-01-12-30-05" for member in members)
    for member in members:
        assert member in out
    # collect reads the zip's contents as they are: one student, every packed notebook
    found, _, skipped = gather(tmp_path / "unpacked", tmp_path / "scratch")
    assert skipped == [] and sorted(found[student_id]) == sorted(expected)
    assert ("packed anyway" in out) == bool(sample.zero)
    # and so it does when the LMS hands the zip out inside its own download
    download = tmp_path / "download.zip"
    with zipfile.ZipFile(download, "w") as outer:
        outer.write(target, target.name)
    found, _, skipped = gather(download, tmp_path / "scratch")
    assert skipped == [] and sorted(found[student_id]) == sorted(expected)


@pytest.mark.parametrize("bad", [None, "", "  ", "../etc", "a b", "x/y", "tom_attempt_1"])
def test_submit_refuses_a_missing_or_unsafe_id(inbox, tmp_path, bad, capsys):
    _, folder = inbox["solution"]
    with pytest.raises(student.SubmitError):
        student.submit(bad, folder, dest=tmp_path)
    assert list(tmp_path.iterdir()) == []
    argv = ["submit", str(folder), "--dest", str(tmp_path)]
    if bad is not None:
        argv += ["--student", bad]
    assert student.main(argv) == 2
    assert "submit:" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["invalid-json", "missing-notebook", "not-a-notebook"])
def test_submit_writes_no_zip_while_a_notebook_is_broken(inbox, tmp_path, name, capsys):
    """A zip without a notebook, or with a damaged one, would lose its points: submit
    says why and writes nothing, in a cell (BrokenNotebooks) and on the command line
    (exit 1, the reason on stderr)."""
    if name == "not-a-notebook":
        folder = _copy_folder(inbox["solution"][1], tmp_path / "notebooks")
        (folder / "06_test_time.ipynb").write_text(json.dumps({"cells": "none"}))
        stem = "06_test_time"
    else:
        sample, folder = inbox[name]
        (stem,) = sample.broken
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(student.BrokenNotebooks) as caught:
        student.submit("ada", folder, dest=dest)
    assert f"{stem}.ipynb" in str(caught.value) and "no zip was written" in str(caught.value)
    assert list(dest.iterdir()) == []
    capsys.readouterr()
    assert student.main(["submit", str(folder), "--student", "ada", "--dest", str(dest)]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("submit: Nothing was packed, no zip was written:")
    assert f"{stem}.ipynb" in captured.err
    assert "Hand in" not in captured.out and "Packed" not in captured.out
    assert list(dest.iterdir()) == []


# ------------------------------------------------------------- written answers


def test_the_written_answers_known_here_are_the_notebooks_own():
    """bnlab.course.WRITTEN_ANSWERS lists exactly the Markdown answer cells of the notebooks,
    and the student command reads them by notebook."""
    assert WRITTEN_ANSWERS == written_answers()
    expected = {}
    for grade_id, stem in written_answers().items():
        expected.setdefault(stem, []).append(grade_id)
    assert _saved.ANSWERS_OF == expected


def test_unwritten_answers_get_a_reminder_naming_each(inbox, tmp_path, capsys):
    _, folder = inbox["release"]
    report = student.run_checks(folder)
    expected = {(stem, grade_id) for grade_id, stem in written_answers().items()}
    assert {(a.notebook, a.grade_id) for a in report.unanswered} == expected
    assert student.main(["check", str(folder)]) == 1
    out = capsys.readouterr().out
    assert f"Reminder: {len(expected)} written answers (graded by hand) are not written" in out
    for stem, grade_id in expected:
        assert f"  {stem}.ipynb, answer {grade_id} (section " in out, out

    # submit packs all the same, and says so
    target = student.submit("ada", folder, dest=tmp_path)
    out = capsys.readouterr().out
    assert target.exists() and "Not every written answer is written" in out


def _set_answer(path, grade_id, text):
    """Put `text` in the answer cell `grade_id` of the notebook at `path` (None: delete
    the cell)."""
    notebook = json.loads(path.read_text())
    cells = notebook["cells"]
    (index,) = [
        i
        for i, c in enumerate(cells)
        if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id
    ]
    if text is None:
        del cells[index]
    else:
        cells[index]["source"] = text
    path.write_text(json.dumps(notebook))


def test_what_counts_as_an_answer(inbox, tmp_path):
    _, folder = inbox["solution"]
    notebooks = {
        stem: json.loads((folder / f"{stem}.ipynb").read_text()) for stem in _saved.ANSWERS_OF
    }
    for stem, notebook in notebooks.items():
        assert _saved.unanswered(stem, notebook) == [], stem  # the sample wrote them all

    def answer_cell(stem, grade_id):
        (index,) = [
            i
            for i, cell in enumerate(notebooks[stem]["cells"])
            if cell["metadata"].get("nbgrader", {}).get("grade_id") == grade_id
        ]
        return index

    cells = notebooks["03_removing_b"]["cells"]
    cells[answer_cell("03_removing_b", "why_no_b")]["source"] = ["YOUR ANSWER HERE", "\n", "  \n"]
    (found,) = _saved.unanswered("03_removing_b", notebooks["03_removing_b"])
    assert (found.grade_id, found.cell_missing) == ("why_no_b", False)

    cells = notebooks["07_layer_norm"]["cells"]
    cells[answer_cell("07_layer_norm", "b_before_layer_norm")]["source"] = (
        "YOUR ANSWER HERE\nNo: only the average of b cancels."
    )
    assert _saved.unanswered("07_layer_norm", notebooks["07_layer_norm"]) == []

    del notebooks["06_test_time"]["cells"][answer_cell("06_test_time", "running_or_recomputed")]
    (found,) = _saved.unanswered("06_test_time", notebooks["06_test_time"])
    assert (found.grade_id, found.cell_missing) == ("running_or_recomputed", True)
    assert found.describe().startswith(
        "06_test_time.ipynb, answer running_or_recomputed: its answer cell is gone"
    )


def test_the_command_line(inbox, tmp_path):
    _, folder = inbox["release"]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bnlab",
            "submit",
            str(folder),
            "--student",
            "ada",
            "--dest",
            tmp_path,
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    # the zip holds what is to be handed in, unfinished as it is: that is a success
    assert done.returncode == 0, done.stderr
    assert "not done" in done.stdout and "packed anyway" in done.stdout
    assert "Hand in this zip file" in done.stdout and done.stderr == ""
    (zipped,) = tmp_path.glob(f"{ASSIGNMENT}_ada_attempt_*_submission.zip")
    with zipfile.ZipFile(zipped) as archive:
        assert {classify(m)[:2] for m in archive.namelist()} == {("ada", s) for s in NOTEBOOKS}
    assert notebook_of("batchnorm_forward") in done.stdout


def test_in_a_cell_it_checks_the_current_folder(inbox, monkeypatch, capsys):
    _, folder = inbox["solution"]
    monkeypatch.chdir(folder)
    assert student.check() is True
    assert "19 of 19 graded functions pass" in capsys.readouterr().out


def test_a_notebook_saved_during_the_check_is_reported(inbox, tmp_path, monkeypatch):
    _, folder = inbox["solution"]
    for stem in NOTEBOOKS:
        (tmp_path / f"{stem}.ipynb").write_bytes((folder / f"{stem}.ipynb").read_bytes())
    original = student._check_function

    def saving(function, where, time_limit, *rest):
        if function == "model_forward":  # the student saves notebook 02 meanwhile
            path = tmp_path / "02_backward_bn.ipynb"
            path.write_text(path.read_text() + "\n")
        return original(function, where, time_limit, *rest)

    monkeypatch.setattr(student, "_check_function", saving)
    report = student.run_checks(tmp_path)
    assert [w for w in report.warnings if "changed while" in w] == [
        "02_backward_bn.ipynb changed while it was being checked: save it, then run this again."
    ]
    assert not report.ok


@pytest.mark.slow
@pytest.mark.e2e
def test_zips_from_submit_go_through_collect_and_grade_unchanged(
    course_copy, released_course, tmp_path
):
    """Each student packs their notebooks with `submit`; the LMS hands the instructor one
    download of those zips, unrenamed; collect reads it and grade gives each student what
    their sample should score (from its definition, not from the grader). To grade
    quickly, the students hand in the notebooks UNGRADED_HERE as released, unsolved: their
    functions and written answers score 0. (A missing notebook is not packed at all:
    test_submit_writes_no_zip_while_a_notebook_is_broken.)"""
    names = ["solution", MISTAKE_SAMPLE]
    release = released_course / "release" / ASSIGNMENT
    written = generate(tmp_path / "inbox", SOURCE, release, names)
    zips = tmp_path / "zips"
    zips.mkdir()
    when = time.strptime("2026-03-01 12:30:05", "%Y-%m-%d %H:%M:%S")
    ids = {sample.student: f"s{number:03d}" for number, sample in enumerate(written)}
    left_out = frozenset(name for stem in UNGRADED_HERE for name in NOTEBOOKS[stem])
    handed_in = []
    for sample in written:
        folder = tmp_path / "inbox" / sample.student / ASSIGNMENT
        for stem in UNGRADED_HERE:
            (folder / f"{stem}.ipynb").write_bytes((release / f"{stem}.ipynb").read_bytes())
        handed_in.append(
            replace(
                sample,
                zero=sample.zero | left_out,
                unanswered=(*sample.unanswered, *UNGRADED_HERE),
            )
        )
        student.submit(ids[sample.student], folder, dest=zips, now=when)
    download = tmp_path / "download.zip"
    with zipfile.ZipFile(download, "w") as outer:
        for packed in sorted(zips.iterdir()):
            outer.write(packed, packed.name)
    course = course_copy("submitted-zips")
    run("collect", course, "--from", download)
    run("grade", course, "--workers", 2, "--no-progress")
    scores = gradebook_scores(sqlite_url(course))
    assert set(scores) == set(ids.values())
    full = points()
    for sample in handed_in:
        assert scores[ids[sample.student]] == expected_scores(sample, full), sample.student


def _replace_in_graded_cell(path, grade_id, old, new):
    notebook = json.loads(path.read_text(encoding="utf-8"))
    (cell,) = [
        c
        for c in notebook["cells"]
        if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id
    ]
    source = "".join(cell["source"])
    assert old in source
    cell["source"] = source.replace(old, new)
    path.write_text(json.dumps(notebook), encoding="utf-8")


@pytest.mark.parametrize(
    ("function", "old", "new", "own_status"),
    [
        (  # a wrong type, which the check of 01 says in its own words
            "linear_bn_activation_forward",
            "return A, cache",
            "return [A, cache, None]",
            "linear_bn_activation_forward should return a tuple (A, cache); got list.",
        ),
        (  # wrong values: a classic mistake, named
            "batchnorm_forward",
            "var + eps",
            "var",
            None,
        ),
    ],
)
def test_a_row_that_fails_through_an_earlier_function_names_it(
    inbox, tmp_path, function, old, new, own_status
):
    """The rows of the functions that call a failing one say which and where, in place of
    an error of their own that does not say it (model_forward's 'too many values to
    unpack')."""
    _, solution = inbox["solution"]
    folder = _copy_folder(solution, tmp_path / "work")
    _replace_in_graded_cell(folder / "01_forward_bn.ipynb", function, old, new)
    found = statuses(student.run_checks(folder))
    pointer = f"fails: it needs {function}() of 01_forward_bn.ipynb, which fails its own check"
    if own_status:
        assert found[function] == own_status
    else:
        assert found[function].startswith("mistake: ")
    # model_forward calls linear_bn_activation_forward, which calls batchnorm_forward
    callers = {"linear_bn_activation_forward", "model_forward"} - {function}
    assert {name: found[name] for name in callers} == dict.fromkeys(callers, pointer)
    others = set(GRADED_FUNCTIONS) - callers - {function}
    failing = {name: found[name] for name in others if found[name] != "passed"}
    assert all(status == pointer for status in failing.values()), failing
