"""The autograder end to end, on the sample submissions.

One course is released, the sample submissions (autograder.samples) collected,
graded with two workers, fed back and exported -- once, for the module. The
tests hold every graded function of every sample to the score a careful human
grader would give, computed from the sample's definition and the points in the
source notebooks' test cells (never from the pipeline's output), and check what
the instructor reads: plain-words reports, review flags, CSV exports, feedback.

Every sample is graded except that, to keep the suite fast, only one classic
mistake per notebook is (the others differ only in the hidden test that
catches them, which tests/test_mistakes.py holds to account for every
mistake); set BNLAB_E2E_ALL_MISTAKES=1 to grade one sample per classic mistake.
Repeat, kill-and-rerun and workers-1-versus-2 runs use small subsets, in copies
of the released course.
"""

import html
import os
import subprocess
import zipfile

import nbformat
import pytest
from autograder_support import (
    ROOT,
    SOURCE,
    collect,
    command,
    expected_scores,
    fresh_course,
    gradebook_scores,
    grader_only_lines,
    kill_group,
    main_course,
    pipeline_env,
    points,
    processes_in,
    read_csv,
    run,
    sqlite_url,
    tree_digest,
    wait_for,
)

from autograder import samples as sample_module
from autograder.mistakes import all_mistakes
from bnlab.course import ASSIGNMENT, GRADED_FUNCTIONS, NOTEBOOKS, notebook_of

ALL_SAMPLES = sample_module.samples()


# One classic mistake per notebook, in a function that later code builds on, so
# "that function loses its points and no other" is tested across notebooks too.
MISTAKE_FUNCTIONS = [
    "batchnorm_forward",
    "linear_bn_activation_backward",
    "initialize_parameters",
    "model_forward",
    "update_parameters_with_adam",
    "update_running_averages",
]


def _graded_samples():
    if os.environ.get("BNLAB_E2E_ALL_MISTAKES"):
        return ALL_SAMPLES
    keep = set()
    for function in MISTAKE_FUNCTIONS:
        mistake = next(m for m in all_mistakes() if m.function == function)
        keep.add(f"mistake-{mistake.function}-{mistake.id}")
    return [s for s in ALL_SAMPLES if not s.student.startswith("mistake-") or s.student in keep]


SAMPLES = _graded_samples()
BY_STUDENT = {sample.student: sample for sample in SAMPLES}
MANUAL = sample_module.MANUAL


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    return main_course(tmp_path_factory, [sample.student for sample in SAMPLES])


@pytest.fixture(scope="module")
def scores(graded):
    return gradebook_scores(sqlite_url(graded.course))


@pytest.fixture(scope="module")
def expected():
    found = points()
    return {sample.student: expected_scores(sample, found) for sample in SAMPLES}


def _grade_id(cell):
    return cell.metadata.get("nbgrader", {}).get("grade_id")


# ------------------------------------------------------------------ the samples themselves


def test_there_is_a_sample_for_every_classic_mistake_and_every_case():
    students = [sample.student for sample in ALL_SAMPLES]
    assert len(students) == len(set(students)), "two samples share a student id"
    for mistake in all_mistakes():
        assert f"mistake-{mistake.function}-{mistake.id}" in students
    cases = ["solution", "release", "partial", "loop", "memhog", "deleted-test", "tampered-test"]
    cases += ["invalid-json", "missing-notebook", "stderr", "imports-reference"]
    assert set(cases) <= set(students)


def test_samples_are_deterministic_and_follow_the_notebooks(graded, tmp_path):
    release = graded.course / "release" / ASSIGNMENT
    again = tmp_path / "again"
    sample_module.generate(again, SOURCE, release, graded.students)
    assert tree_digest(again) == graded.inbox_digest

    # the solution's graded cells are the source notebooks' cells without the markers
    markers = ("### BEGIN SOLUTION", "### END SOLUTION")
    for stem, names in NOTEBOOKS.items():
        source = nbformat.read(SOURCE / f"{stem}.ipynb", as_version=4)
        solution = nbformat.read(again / "solution" / ASSIGNMENT / f"{stem}.ipynb", as_version=4)
        cells = {_grade_id(cell): cell.source for cell in solution.cells}
        for cell in source.cells:
            if _grade_id(cell) in names:
                lines = cell.source.splitlines()
                wanted = "\n".join(line for line in lines if line.strip() not in markers)
                assert cells[_grade_id(cell)] == wanted
                assert not any(marker in wanted for marker in markers)


@pytest.mark.parametrize("mistake", all_mistakes()[:3], ids=lambda m: f"{m.function}-{m.id}")
def test_a_mistake_sample_is_the_solution_with_one_cell_changed(mistake, tmp_path, graded):
    student = f"mistake-{mistake.function}-{mistake.id}"
    release = graded.course / "release" / ASSIGNMENT
    sample_module.generate(tmp_path, SOURCE, release, ["solution", student])
    for stem in NOTEBOOKS:
        solution = nbformat.read(tmp_path / "solution" / ASSIGNMENT / f"{stem}.ipynb", 4)
        mistaken = nbformat.read(tmp_path / student / ASSIGNMENT / f"{stem}.ipynb", 4)
        assert len(solution.cells) == len(mistaken.cells)
        differing = [
            _grade_id(a) for a, b in zip(solution.cells, mistaken.cells) if a.source != b.source
        ]
        assert differing == ([mistake.function] if stem == notebook_of(mistake.function) else [])
        for cell in mistaken.cells:
            if _grade_id(cell) == mistake.function:
                assert cell.source.startswith(f"# GRADED FUNCTION: {mistake.function}\n")
                assert mistake.source().strip() in cell.source


# ------------------------------------------------------------------ scores


@pytest.mark.parametrize("student", [sample.student for sample in SAMPLES])
def test_each_graded_function_scores_what_a_careful_grader_gives(student, scores, expected):
    assert student in scores, f"{student} has no submission in the gradebook"
    got = scores[student]
    assert set(got) == set(points()), "every grade cell of every notebook is in the gradebook"
    wrong = {
        name: {"got": got.get(name), "expected": want}
        for name, want in expected[student].items()
        if got.get(name) != want
    }
    assert not wrong, f"{BY_STUDENT[student].description}: {wrong}"


def test_every_sample_was_graded_and_nothing_else(scores):
    assert set(scores) == set(BY_STUDENT)
    for student, by_name in scores.items():
        assert len(by_name) == len(GRADED_FUNCTIONS) + 1, student  # + the manual answer


# ------------------------------------------------------------------ what the instructor reads


@pytest.mark.parametrize("student", ["invalid-json", "missing-notebook"])
def test_broken_notebooks_are_reported_in_plain_words(graded, student):
    sample = BY_STUDENT[student]
    report = graded.report(student)
    text = "\n".join(report["messages"])
    for stem in sample.broken:
        assert f"{stem}.ipynb" in text
    words = "not a valid notebook" if student == "invalid-json" else "was not submitted"
    assert words in text
    assert "graded 0" in text


def test_only_the_broken_samples_have_broken_notebooks(graded):
    for sample in SAMPLES:
        report = graded.report(sample.student)
        broken = {stem for stem, info in report["notebooks"].items() if info["status"] != "ok"}
        assert broken == set(sample.broken), sample.student


@pytest.mark.parametrize(
    "student, function, status",
    [
        ("loop", sample_module.LOOP_FUNCTION, "timeout"),
        ("memhog", sample_module.MEMHOG_FUNCTION, "memory"),
    ],
)
def test_a_loop_and_a_memory_hog_are_stopped_and_said_so(graded, student, function, status):
    report = graded.report(student)
    cells = report["notebooks"][notebook_of(function)]["cells"]
    assert cells[f"test_{function}"][0] == status
    assert any(f"test_{function}" in message for message in report["messages"])


def test_review_flags_name_exactly_the_code_that_could_fake_a_pass(graded):
    flagged = {sample.student for sample in SAMPLES if graded.report(sample.student)["flags"]}
    assert flagged == {sample.student for sample in SAMPLES if sample.flagged}
    flags = graded.report("imports-reference")["flags"]
    assert any("autograder.reference" in flag["code"] for flag in flags)
    flags = graded.report("patches-numpy")["flags"]
    assert any("np.allclose" in flag["code"] for flag in flags)


def test_grades_csv_has_nbgrader_columns_and_the_autograded_totals(graded, scores, expected):
    rows = read_csv(graded.course / "reports" / "grades.csv")
    for column in ("assignment", "student_id", "raw_score", "score", "max_score"):
        assert column in rows[0], column
    by_student = {row["student_id"]: row for row in rows}
    assert set(by_student) == set(BY_STUDENT)
    total = sum(points().values())
    for student, row in by_student.items():
        assert float(row["max_score"]) == total
        autograded = sum(value for value in scores[student].values() if value is not None)
        assert float(row["raw_score"]) == pytest.approx(autograded), student
        if not BY_STUDENT[student].unscored:
            want = sum(value for value in expected[student].values() if value is not None)
            assert float(row["raw_score"]) == pytest.approx(want), student


def test_breakdown_gives_every_function_of_every_student(graded, expected):
    rows = read_csv(graded.course / "reports" / "breakdown.csv")
    by_key = {(row["student_id"], row["item"]): row for row in rows}
    assert len(by_key) == len(rows), "a student's item appears twice in breakdown.csv"
    assert set(by_key) == {(s, name) for s in BY_STUDENT for name in points()}
    for (student, name), row in by_key.items():
        sample = BY_STUDENT[student]
        if name in sample.unscored:
            continue
        want = expected[student][name]
        if want is None:
            assert row["score"] == "" and row["status"] == "needs manual grading", row
        else:
            assert float(row["score"]) == want, row
        if name != MANUAL and notebook_of(name) in sample.broken:
            assert row["status"] in ("not submitted", "invalid notebook"), row
    assert by_key[("release", MANUAL)]["status"] == "not answered"
    loop = by_key[("loop", sample_module.LOOP_FUNCTION)]
    assert loop["score"] == "0" and loop["status"] == "timeout", loop
    memhog = by_key[("memhog", sample_module.MEMHOG_FUNCTION)]
    assert memhog["score"] == "0" and memhog["status"] == "memory", memhog


def test_flags_csv_lists_the_flagged_students(graded):
    rows = read_csv(graded.course / "reports" / "flags.csv")
    assert {row["student_id"] for row in rows} == {s.student for s in SAMPLES if s.flagged}


def test_the_manual_answer_is_shown_as_needing_manual_grading(graded, scores):
    assert scores["solution"][MANUAL] is None
    assert scores["release"][MANUAL] == 0.0  # left as released: nothing to grade
    summary = (graded.course / "reports" / "summary.txt").read_text(encoding="utf-8")
    assert "solution" in summary and "manual" in summary.lower()
    assert "manual" in graded.outputs["export"].lower()


def test_feedback_exists_and_shows_no_hidden_test_code(graded):
    feedback = graded.course / "feedback"
    pages = sorted(feedback.rglob("*.html"))
    assert {page.relative_to(feedback).parts[0] for page in pages} == set(BY_STUDENT)
    secret = grader_only_lines()
    assert len(secret) > 10
    for page in pages:
        text = html.unescape(page.read_text(encoding="utf-8"))
        leaked = [line for line in secret if line in text]
        assert not leaked, f"{page.relative_to(feedback)} shows grader-only code: {leaked[:3]}"


def test_submissions_are_never_modified(graded):
    assert tree_digest(graded.inbox) == graded.inbox_digest
    assert tree_digest(graded.course / "submitted") == graded.submitted_digest


def test_grading_again_changes_nothing(graded, scores):
    before = tree_digest(graded.course / "autograded")
    output = run("grade", graded.course, "--workers", 2).stdout
    assert "0 submission(s) to grade" in output
    assert gradebook_scores(sqlite_url(graded.course)) == scores
    assert tree_digest(graded.course / "autograded") == before
    assert tree_digest(graded.course / "submitted") == graded.submitted_digest


# ------------------------------------------------------------------ small courses


def test_one_worker_and_a_forced_regrade_give_the_same_grades(graded, scores, tmp_path_factory):
    students = ["partial", next(s for s in BY_STUDENT if s.startswith("mistake-"))]
    course = fresh_course(tmp_path_factory, "workers-1", students, graded.inbox)
    run("grade", course, "--workers", 1)
    first = gradebook_scores(sqlite_url(course))
    assert first == {student: scores[student] for student in students}
    autograded = tree_digest(course / "autograded" / students[0])
    run("grade", course, "--workers", 1, "--force", "--student", students[0])
    assert gradebook_scores(sqlite_url(course)) == first
    assert tree_digest(course / "autograded" / students[0]).keys() == autograded.keys()


def test_grading_killed_midway_then_rerun_finishes_consistently(graded, scores, tmp_path_factory):
    students = ["solution", "release", "tampered-test"]
    course = fresh_course(tmp_path_factory, "killed", students, graded.inbox)
    submitted = tree_digest(course / "submitted")
    process = subprocess.Popen(
        command("grade", course, "--workers", 2),
        cwd=ROOT,
        env=pipeline_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    done = course / "reports" / "grade"
    try:
        finished = wait_for(lambda: done.is_dir() and any(done.glob("*.json")), timeout=300)
    finally:
        kill_group(process)
    assert finished, "no student was graded within 5 minutes"
    assert len(list(done.glob("*.json"))) < len(students), "killed too late to test anything"
    # the grading kernels of the killed run do not outlive it
    assert wait_for(lambda: not processes_in(course), timeout=60), processes_in(course)
    run("grade", course, "--workers", 2)
    assert gradebook_scores(sqlite_url(course)) == {s: scores[s] for s in students}
    assert sorted(p.stem for p in done.glob("*.json")) == sorted(students)
    assert tree_digest(course / "submitted") == submitted


def test_collect_from_an_lms_zip(graded, tmp_path_factory):
    students = ["solution", "release"]
    course = fresh_course(tmp_path_factory, "zip", (), graded.inbox)
    archive = course.parent / "downloads.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for student in students:
            for path in sorted((graded.inbox / student / ASSIGNMENT).iterdir()):
                handle.write(path, f"{student}_{path.name}")
    collect(course, archive)
    for student in students:
        got = course / "submitted" / student / ASSIGNMENT
        assert sorted(p.name for p in got.glob("*.ipynb")) == [f"{s}.ipynb" for s in NOTEBOOKS]
        for path in got.glob("*.ipynb"):
            original = graded.inbox / student / ASSIGNMENT / path.name
            assert path.read_bytes() == original.read_bytes()


def test_release_and_wheel_hold_no_solution_and_no_hidden_test(graded):
    import inspect

    from autograder import reference

    release = graded.course / "release" / ASSIGNMENT
    text = "\n".join(
        p.read_text(encoding="utf-8") for p in sorted(release.rglob("*")) if p.is_file()
    )
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in text
    assert "autograder" not in text.replace("the autograder runs them", "")
    public = "\n".join(
        [inspect.getsource(reference)[: inspect.getsource(reference).find("def ")]]
        + [inspect.getdoc(getattr(reference, name)) or "" for name in GRADED_FUNCTIONS]
    )
    for name in GRADED_FUNCTIONS:
        body = inspect.getsource(getattr(reference, name)).split('"""')[-1]
        for line in body.splitlines():
            line = line.strip()
            if len(line) >= 25 and not line.startswith(("return", "#")) and line not in public:
                assert line not in text, f"a line of the reference {name} is in the release: {line}"
    assert sorted(p.name for p in release.iterdir()) == [f"{s}.ipynb" for s in NOTEBOOKS]

    wheels = sorted((graded.course / "dist").glob("*.whl"))
    assert len(wheels) == 1, wheels
    with zipfile.ZipFile(wheels[0]) as wheel:
        names = wheel.namelist()
    assert "bnlab/checks/__init__.py" in names and "bnlab/loader.py" in names
    assert any(name.startswith("bnlab/data/checks/") and name.endswith(".npz") for name in names)
    leaked = [name for name in names if not name.startswith("bnlab")]
    assert not leaked, leaked
