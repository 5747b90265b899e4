"""The autograder end to end, on the sample submissions.

One course is released, the sample submissions (autograder.content.samples) collected,
graded with two workers, fed back and exported -- once per session (the session
fixtures released_course and graded_course of conftest.py). The
tests hold every graded function of every sample to the score a careful human
grader would give, computed from the sample's definition and the points in the
source notebooks' test cells (never from the pipeline's output), and check what
the instructor reads: plain-words reports, review flags, CSV exports, feedback.

Every sample is graded except that, to keep the suite fast, only one classic
mistake per notebook is (the others differ only in the hidden test that
catches them, which tests/content/test_mistakes.py holds to account for every
mistake); set BNLAB_E2E_ALL_MISTAKES=1 to grade one sample per classic mistake.
Repeat, kill-and-rerun and workers-1-versus-2 runs use small subsets, in copies
of the released course; in the last two, the students hand in only the notebooks that
grade quickly. Every test here is slow (minutes in all) and e2e.
"""

import html
import importlib
import re
import shutil
import subprocess
import zipfile

import nbformat
import pytest
from autograder_support import (
    ROOT,
    SOURCE,
    collect,
    command,
    e2e_samples,
    expected_scores,
    gradebook_scores,
    grader_only_lines,
    kill_group,
    pipeline_env,
    points,
    processes_in,
    read_csv,
    run,
    sqlite_url,
    tree_digest,
    wait_for,
    written_answers,
)

from autograder.content import samples as sample_module
from autograder.content.mistakes import all_mistakes
from bnlab.course import ASSIGNMENT, GRADED_FUNCTIONS, NOTEBOOKS, notebook_of

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

ALL_SAMPLES = sample_module.samples()
SAMPLES = e2e_samples()  # what the session fixture graded_course grades
BY_STUDENT = {sample.student: sample for sample in SAMPLES}
MANUAL = written_answers()  # {grade_id: notebook}, from the source notebooks


@pytest.fixture(scope="module")
def scores(graded_course):
    return gradebook_scores(sqlite_url(graded_course.course))


@pytest.fixture(scope="module")
def expected():
    found = points()
    return {sample.student: expected_scores(sample, found) for sample in SAMPLES}


def _grade_id(cell):
    return cell.metadata.get("nbgrader", {}).get("grade_id")


# ------------------------------------------------------------------ the samples themselves


def _mistakes_in_the_source_files():
    """[(function, id)] of the MISTAKES of every module file in autograder/content/mistakes/, found
    on disk (not through all_mistakes(), which the samples are built from)."""
    found = []
    for path in sorted((ROOT / "autograder" / "content" / "mistakes").glob("*.py")):
        if path.stem != "__init__":
            module = importlib.import_module(f"autograder.content.mistakes.{path.stem}")
            found += [(mistake.function, mistake.id) for mistake in module.MISTAKES]
    return found


def _mistake_of(student):
    """(graded function, mistake id) of a sample named mistake-<function>-<id>."""
    rest = student[len("mistake-") :]
    (function,) = [name for name in GRADED_FUNCTIONS if rest.startswith(f"{name}-")]
    return function, rest[len(function) + 1 :]


def test_there_is_a_sample_for_every_classic_mistake_and_every_case():
    students = [sample.student for sample in ALL_SAMPLES]
    assert len(students) == len(set(students)), "two samples share a student id"
    written = _mistakes_in_the_source_files()
    assert len(written) >= 2 * len(GRADED_FUNCTIONS), "the mistakes were not found in the files"
    sampled = [_mistake_of(student) for student in students if student.startswith("mistake-")]
    assert sorted(sampled) == sorted(written), "one sample per mistake written in the sources"
    cases = ["solution", "release", "partial", "loop", "memhog", "deleted-test", "tampered-test"]
    cases += ["invalid-json", "missing-notebook", "stderr", "imports-reference"]
    assert set(cases) <= set(students)


def test_samples_are_deterministic_and_follow_the_notebooks(graded_course, tmp_path):
    release = graded_course.course / "release" / ASSIGNMENT
    again = tmp_path / "again"
    sample_module.generate(again, SOURCE, release, graded_course.students)
    assert tree_digest(again) == graded_course.inbox_digest

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
def test_a_mistake_sample_is_the_solution_with_one_cell_changed(mistake, tmp_path, released_course):
    student = f"mistake-{mistake.function}-{mistake.id}"
    release = released_course / "release" / ASSIGNMENT
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


@pytest.mark.parametrize(
    "student", [sample.student for sample in SAMPLES if sample.student.startswith("mistake-")]
)
def test_a_mistake_loses_the_points_of_its_own_hidden_test_and_no_other(
    student, scores, graded_course
):
    """Read without the samples' definitions: the function from the student id, the points
    from the source notebooks' grade cells (nbgrader metadata)."""
    function, _ = _mistake_of(student)
    worth = points()
    assert worth[function] > 0
    got = scores[student]
    assert set(got) == set(worth)
    assert got[function] == 0.0, f"{student} kept points on {function}"
    for name, value in worth.items():
        if name in MANUAL:
            assert got[name] is None, "the written answer is there: it needs manual grading"
        elif name != function:
            assert got[name] == value, f"{student} lost points on {name}"
    rows = {
        row["student_id"]: row for row in read_csv(graded_course.course / "reports" / "grades.csv")
    }
    autograded = sum(
        value for name, value in worth.items() if name not in MANUAL and name != function
    )
    assert float(rows[student]["raw_score"]) == pytest.approx(autograded)


def test_every_sample_was_graded_and_nothing_else(scores):
    assert set(scores) == set(BY_STUDENT)
    for student, by_name in scores.items():
        assert len(by_name) == len(GRADED_FUNCTIONS) + len(MANUAL), student  # + written answers


# ------------------------------------------------------------------ what the instructor reads


@pytest.mark.parametrize("student", ["invalid-json", "missing-notebook"])
def test_broken_notebooks_are_reported_in_plain_words(graded_course, student):
    sample = BY_STUDENT[student]
    report = graded_course.report(student)
    text = "\n".join(report["messages"])
    for stem in sample.broken:
        assert f"{stem}.ipynb" in text
    words = "not a valid notebook" if student == "invalid-json" else "was not submitted"
    assert words in text
    assert "graded 0" in text


def test_only_the_broken_samples_have_broken_notebooks(graded_course):
    for sample in SAMPLES:
        report = graded_course.report(sample.student)
        broken = {stem for stem, info in report["notebooks"].items() if info["status"] != "ok"}
        assert broken == set(sample.broken), sample.student


@pytest.mark.parametrize(
    "student, function, status",
    [
        ("loop", sample_module.LOOP_FUNCTION, "timeout"),
        ("memhog", sample_module.MEMHOG_FUNCTION, "memory"),
    ],
)
def test_a_loop_and_a_memory_hog_are_stopped_and_said_so(graded_course, student, function, status):
    report = graded_course.report(student)
    cells = report["notebooks"][notebook_of(function)]["cells"]
    assert cells[f"test_{function}"][0] == status
    assert any(f"test_{function}" in message for message in report["messages"])


def test_review_flags_name_exactly_the_code_that_could_fake_a_pass(graded_course):
    flagged = {
        sample.student for sample in SAMPLES if graded_course.report(sample.student)["flags"]
    }
    assert flagged == {sample.student for sample in SAMPLES if sample.flagged}
    flags = graded_course.report("imports-reference")["flags"]
    assert any("autograder.content.reference" in flag["code"] for flag in flags)
    flags = graded_course.report("patches-numpy")["flags"]
    assert any("np.allclose" in flag["code"] for flag in flags)


def test_grades_csv_has_nbgrader_columns_and_the_autograded_totals(graded_course, scores, expected):
    rows = read_csv(graded_course.course / "reports" / "grades.csv")
    for column in ("assignment", "student_id", "raw_score", "score", "max_score"):
        assert column in rows[0], column
    by_student = {row["student_id"]: row for row in rows}
    assert set(by_student) == set(BY_STUDENT)
    total = sum(points().values())
    for student, row in by_student.items():
        assert float(row["max_score"]) == total
        autograded = sum(value for value in scores[student].values() if value is not None)
        assert float(row["raw_score"]) == pytest.approx(autograded), student
        want = sum(value for value in expected[student].values() if value is not None)
        assert float(row["raw_score"]) == pytest.approx(want), student


def test_breakdown_gives_every_function_of_every_student(graded_course, expected):
    rows = read_csv(graded_course.course / "reports" / "breakdown.csv")
    by_key = {(row["student_id"], row["item"]): row for row in rows}
    assert len(by_key) == len(rows), "a student's item appears twice in breakdown.csv"
    assert set(by_key) == {(s, name) for s in BY_STUDENT for name in points()}
    for (student, name), row in by_key.items():
        sample = BY_STUDENT[student]
        want = expected[student][name]
        if want is None:
            assert row["score"] == "" and row["status"] == "needs manual grading", row
        else:
            assert float(row["score"]) == want, row
        if name not in MANUAL and notebook_of(name) in sample.broken:
            assert row["status"] in ("not submitted", "invalid notebook"), row
    for answer in MANUAL:
        assert by_key[("release", answer)]["status"] == "not answered"
    loop = by_key[("loop", sample_module.LOOP_FUNCTION)]
    assert loop["score"] == "0" and loop["status"] == "timeout", loop
    memhog = by_key[("memhog", sample_module.MEMHOG_FUNCTION)]
    assert memhog["score"] == "0" and memhog["status"] == "memory", memhog


def test_flags_csv_lists_the_flagged_students(graded_course):
    rows = read_csv(graded_course.course / "reports" / "flags.csv")
    assert {row["student_id"] for row in rows} == {s.student for s in SAMPLES if s.flagged}


def _summary_table(text):
    """(header cells, {student: row cells}) of summary.txt's table: a header line, a rule,
    one line per student (student, one cell per notebook, auto, manual, total, notes;
    only the notes hold spaces), then an empty line."""
    lines = text.splitlines()
    rows = {}
    for line in lines[2 : lines.index("")]:
        cells = line.split(None, len(NOTEBOOKS) + 4)
        rows[cells[0]] = cells
    return lines[0].split(), rows


def test_the_manual_answer_is_shown_as_needing_manual_grading(graded_course, scores, expected):
    for answer in MANUAL:
        assert scores["solution"][answer] is None
        assert scores["release"][answer] == 0.0  # left as released: nothing to grade
    text = (graded_course.course / "reports" / "summary.txt").read_text(encoding="utf-8")
    header, rows = _summary_table(text)
    worth = points()  # from the source notebooks' grade cells
    stems = list(NOTEBOOKS)
    assert header == [
        "student",
        *[f"{stem[:2]}/{sum(worth[name] for name in NOTEBOOKS[stem]):g}" for stem in stems],
        f"auto/{sum(worth[name] for name in GRADED_FUNCTIONS):g}",
        f"manual/{sum(worth[answer] for answer in MANUAL):g}",
        f"total/{sum(worth.values()):g}",
        "notes",
    ]
    assert set(rows) == set(BY_STUDENT), "one row per student"
    needs_manual = {
        student
        for student in BY_STUDENT
        if any(expected[student][answer] is None for answer in MANUAL)
    }
    assert "solution" in needs_manual and "release" not in needs_manual
    for student, cells in rows.items():
        by_notebook, (auto, manual, total) = cells[1 : len(stems) + 1], cells[len(stems) + 1 :][:3]
        if student in needs_manual:  # the written answer is there: it waits for a human
            assert manual == "pending" and total == f"{auto}+?", cells
        else:
            assert manual == "0" and total == auto, cells
        want = expected[student]
        for stem, cell in zip(stems, by_notebook):
            assert float(cell) == sum(want[name] for name in NOTEBOOKS[stem]), (student, stem)
        assert float(auto) == sum(want[name] for name in GRADED_FUNCTIONS), cells
    # the export step shows the same table on the terminal
    assert text in graded_course.outputs["export"]


def test_feedback_exists_and_shows_no_hidden_test_code(graded_course):
    feedback = graded_course.course / "feedback"
    pages = sorted(feedback.rglob("*.html"))
    assert {page.relative_to(feedback).parts[0] for page in pages} == set(BY_STUDENT)
    secret = grader_only_lines()
    assert len(secret) > 10
    for page in pages:
        text = html.unescape(page.read_text(encoding="utf-8"))
        leaked = [line for line in secret if line in text]
        assert not leaked, f"{page.relative_to(feedback)} shows grader-only code: {leaked[:3]}"


def test_submissions_are_never_modified(graded_course):
    assert tree_digest(graded_course.inbox) == graded_course.inbox_digest
    assert tree_digest(graded_course.course / "submitted") == graded_course.submitted_digest


def test_grading_again_changes_nothing(graded_course, scores):
    before = tree_digest(graded_course.course / "autograded")
    output = run("grade", graded_course.course, "--workers", 2).stdout
    assert "0 submission(s) to grade" in output
    assert gradebook_scores(sqlite_url(graded_course.course)) == scores
    assert tree_digest(graded_course.course / "autograded") == before
    assert tree_digest(graded_course.course / "submitted") == graded_course.submitted_digest


# ------------------------------------------------------------------ small courses
#
# Their students hand in the graded course's notebooks but the slow ones (SLOW_NOTEBOOKS,
# seconds each to grade): each must get the graded course's grades for what they handed
# in, and 0 for what they did not.

SLOW_NOTEBOOKS = ("04_deep_network", "06_test_time", "07_layer_norm")


def _quick_course(course_copy, name, inbox, students, tmp_path):
    """A copy of the released course with `students` collected from `inbox` (the graded
    course's), each without SLOW_NOTEBOOKS."""
    quick = tmp_path / "quick-inbox"
    slow = shutil.ignore_patterns(*(f"{stem}.ipynb" for stem in SLOW_NOTEBOOKS))
    for student in students:
        shutil.copytree(inbox / student, quick / student, ignore=slow)
        assert len(list((quick / student / ASSIGNMENT).glob("*.ipynb"))) == 4, student
    return course_copy(name, students, quick)


def _without_slow_notebooks(grades):
    """The graded course's grades of a student as they are without SLOW_NOTEBOOKS: their
    graded functions and written answers score 0."""
    return {
        name: 0.0 if (MANUAL.get(name) or notebook_of(name)) in SLOW_NOTEBOOKS else score
        for name, score in grades.items()
    }


def test_one_worker_and_a_forced_regrade_give_the_same_grades(
    graded_course, scores, course_copy, tmp_path
):
    # Graded one after the other by one worker (in this order): the mistake sample passes
    # notebook 05, which partial leaves as released, and fails batchnorm_forward, which
    # partial passes.
    students = [next(s for s in BY_STUDENT if s.startswith("mistake-")), "partial"]
    course = _quick_course(course_copy, "workers-1", graded_course.inbox, students, tmp_path)
    run("grade", course, "--workers", 1)
    first = gradebook_scores(sqlite_url(course))
    assert first == {student: _without_slow_notebooks(scores[student]) for student in students}
    autograded = tree_digest(course / "autograded" / students[0])
    run("grade", course, "--workers", 1, "--force", "--student", students[0])
    assert gradebook_scores(sqlite_url(course)) == first
    assert tree_digest(course / "autograded" / students[0]).keys() == autograded.keys()


def test_grading_killed_midway_then_rerun_finishes_consistently(
    graded_course, scores, course_copy, tmp_path
):
    students = ["partial", "release", "solution"]
    course = _quick_course(course_copy, "killed", graded_course.inbox, students, tmp_path)
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
    assert gradebook_scores(sqlite_url(course)) == {
        s: _without_slow_notebooks(scores[s]) for s in students
    }
    assert sorted(p.stem for p in done.glob("*.json")) == sorted(students)
    assert tree_digest(course / "submitted") == submitted


def test_collect_from_an_lms_zip(graded_course, course_copy):
    students = ["solution", "release"]
    course = course_copy("zip", (), graded_course.inbox)
    archive = course.parent / "downloads.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for student in students:
            for path in sorted((graded_course.inbox / student / ASSIGNMENT).iterdir()):
                handle.write(path, f"{student}_{path.name}")
    collect(course, archive)
    for student in students:
        got = course / "submitted" / student / ASSIGNMENT
        assert sorted(p.name for p in got.glob("*.ipynb")) == [f"{s}.ipynb" for s in NOTEBOOKS]
        for path in got.glob("*.ipynb"):
            original = graded_course.inbox / student / ASSIGNMENT / path.name
            assert path.read_bytes() == original.read_bytes()


def test_release_and_wheel_hold_no_solution_and_no_hidden_test(graded_course):
    import inspect

    from autograder.content import reference

    release = graded_course.course / "release" / ASSIGNMENT
    text = "\n".join(
        p.read_text(encoding="utf-8") for p in sorted(release.rglob("*")) if p.is_file()
    )
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in text
    assert not re.search(r"(from|import)\s+autograder\b|\bautograder\.\w", text)
    public = "\n".join(
        [inspect.getsource(reference)[: inspect.getsource(reference).find("def ")]]
        + [inspect.getdoc(getattr(reference, name)) or "" for name in GRADED_FUNCTIONS]
    )
    searched = set()
    for name in GRADED_FUNCTIONS:
        body = inspect.getsource(getattr(reference, name)).split('"""')[-1]
        for line in body.splitlines():
            line = line.strip()
            if len(line) >= 25 and not line.startswith(("return", "#")) and line not in public:
                assert line not in text, f"a line of the reference {name} is in the release: {line}"
                searched.add(name)
    assert len(searched) >= len(GRADED_FUNCTIONS) // 2, f"too few solution lines: {searched}"
    assert sorted(p.name for p in release.iterdir()) == sorted(
        # the student's Validate: its settings, as JSON and as Python
        [f"{s}.ipynb" for s in NOTEBOOKS] + ["nbgrader_config.json", "nbgrader_config.py"]
    )

    wheels = sorted((graded_course.course / "dist").glob("*.whl"))
    assert len(wheels) == 1, wheels
    with zipfile.ZipFile(wheels[0]) as wheel:
        names = wheel.namelist()
    assert "bnlab/checks/__init__.py" in names and "bnlab/loader.py" in names
    assert any(name.startswith("bnlab/data/checks/") and name.endswith(".npz") for name in names)
    leaked = [name for name in names if not name.startswith("bnlab")]
    assert not leaked, leaked
