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
from autograder_support import SOURCE, expected_scores, gradebook_scores, points, run, sqlite_url
from nbgrader.preprocessors import ClearSolutions

from autograder import boundary
from autograder.content.mistakes import all_mistakes
from autograder.content.samples import INVALID_NOTEBOOK, LOOP_FUNCTION, MISSING_NOTEBOOK, generate
from autograder.pipeline.collect import classify, gather
from bnlab import student
from bnlab.course import ASSIGNMENT, GRADED_FUNCTIONS, NOTEBOOKS, notebook_of

ROOT = Path(__file__).resolve().parents[2]
# A classic mistake in a function no other graded function calls, so that only its row fails.
MISTAKE = next(m for m in all_mistakes() if m.function == "batchnorm_backward_staged")
MISTAKE_SAMPLE = f"mistake-{MISTAKE.function}-{MISTAKE.id}"
STUDENTS = ["solution", "release", MISTAKE_SAMPLE, "invalid-json", "missing-notebook", "loop"]
# The notebooks that take seconds each to grade: left out of the zips that are graded here.
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


def test_the_solution_passes_everything(inbox, capsys):
    sample, folder = inbox["solution"]
    assert not sample.zero
    assert student.main(["check", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "save your notebooks first" in out
    assert f"{len(GRADED_FUNCTIONS)} of {len(GRADED_FUNCTIONS)} graded functions pass" in out
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
    assert f"Warning: {INVALID_NOTEBOOK}.ipynb is not valid JSON" in out
    found = statuses(student.run_checks(folder))
    for function in NOTEBOOKS[INVALID_NOTEBOOK]:
        assert found[function] == "notebook unreadable"


def test_not_a_notebook_is_reported(inbox, tmp_path):
    _, folder = inbox["solution"]
    for stem in NOTEBOOKS:
        (tmp_path / f"{stem}.ipynb").write_bytes((folder / f"{stem}.ipynb").read_bytes())
    (tmp_path / "03_removing_b.ipynb").write_text(json.dumps({"answer": 42}))
    report = student.run_checks(tmp_path)
    assert any("03_removing_b.ipynb is not a notebook" in w for w in report.warnings)
    assert statuses(report)["initialize_parameters"] == "notebook unreadable"


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


@pytest.mark.parametrize("name", ["solution", MISTAKE_SAMPLE, "missing-notebook"])
def test_submit_packs_what_collect_reads(inbox, tmp_path, name, capsys):
    sample, folder = inbox[name]
    student_id = "s.12-ab_C"
    when = time.strptime("2026-03-01 12:30:05", "%Y-%m-%d %H:%M:%S")
    target = student.submit(student_id, folder, dest=tmp_path, now=when)
    out = capsys.readouterr().out
    assert target.name == f"{ASSIGNMENT}_{student_id}_attempt_2026-03-01-12-30-05_submission.zip"
    expected = [stem for stem in NOTEBOOKS if stem not in sample.broken]
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
    if sample.zero or sample.broken:
        assert "packed anyway" in out
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
    assert done.returncode == 1, done.stderr
    assert "not done" in done.stdout and "packed anyway" in done.stdout
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

    def saving(function, where, time_limit):
        if function == "model_forward":  # the student saves notebook 02 meanwhile
            path = tmp_path / "02_backward_bn.ipynb"
            path.write_text(path.read_text() + "\n")
        return original(function, where, time_limit)

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
    quickly, the students hand in only the notebooks that run fast (UNGRADED_HERE are left
    out: their functions score 0, as any missing notebook's)."""
    names = ["solution", MISTAKE_SAMPLE, "missing-notebook"]
    written = generate(tmp_path / "inbox", SOURCE, released_course / "release" / ASSIGNMENT, names)
    zips = tmp_path / "zips"
    zips.mkdir()
    when = time.strptime("2026-03-01 12:30:05", "%Y-%m-%d %H:%M:%S")
    ids = {sample.student: f"s{number:03d}" for number, sample in enumerate(written)}
    left_out = frozenset(name for stem in UNGRADED_HERE for name in NOTEBOOKS[stem])
    handed_in = []
    for sample in written:
        folder = tmp_path / "inbox" / sample.student / ASSIGNMENT
        for stem in UNGRADED_HERE:
            (folder / f"{stem}.ipynb").unlink()
        handed_in.append(
            replace(sample, zero=sample.zero | left_out, broken=(*sample.broken, *UNGRADED_HERE))
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
