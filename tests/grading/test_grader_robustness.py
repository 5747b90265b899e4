"""One student's grading never stops another's: attacks on what the grader does with
the values, names, times and time a submission hands it, through the command line.

One small course, graded in ONE `grade` run (then `feedback` and `export`, then
the attackers graded again with `grade --student`), holds the solution and an
honest sample student (all seven notebooks each) and these attackers. Each
attacker hands in the solution's notebooks its attack lives in, plus
03_removing_b (cheap, with a written answer: a notebook the attack is not in),
with one attack; the notebooks it does not hand in are not run (0 points):

- bad-timestamp: 03_removing_b alone, and a timestamp.txt that is no time,
  written straight into submitted/ (as if collect had let it through): merging it
  used to stop `grade` for the whole class on every run;
- slow-cells (01_forward_bn): 18 cells of sleep just under the time limit at the
  top of notebook 01: the notebook's budget used to grow with its cells, and the
  worker was held;
- forged-results (02_backward_bn, 05_optimizers): cells that overwrite the
  harness's results files after the tests ran, with a JSON tree that declares
  198 MB (it took the grader to 5 GiB), an int of 5000 digits (a ValueError that
  zeroed the six other notebooks and made `feedback` fail on every run), a
  structured array, and a dict key that is a list;
- formula-name (01_forward_bn): a batchnorm_forward that raises an exception whose
  class is named like a spreadsheet formula, and a cell of its own that does the
  same.

Each ends with its attacked points withheld and the reason in its report, the honest
student graded exactly as expected, every step exiting 0, every student in
grades.csv and breakdown.csv, and grading the attackers again giving the same grades.
"""

import json
import textwrap
from types import SimpleNamespace

import nbformat
import pytest
from autograder_support import (
    SOURCE,
    collect,
    expected_scores,
    gradebook_scores,
    points,
    read_csv,
    run,
    sqlite_url,
    written_answers,
)

from autograder import sandbox
from autograder.content.samples import generate, samples
from autograder.grading import gradebook_writer, handed_in, scratch_folder, submission
from autograder.pipeline import grade
from bnlab._grading import valuefile
from bnlab.course import ASSIGNMENT, NOTEBOOKS, notebook_of


def e2e(test):
    """A test of the graded course: slow (it takes a course), end to end."""
    return pytest.mark.slow(pytest.mark.e2e(test))


HONEST = "mistake-model_forward-bL_left_out"
TIMEOUT = 5  # seconds per cell: short, so the slow cells' attack costs little
FORMULA = '=HYPERLINK("http://example.org/x","open me")'

SLEEPS = 18
SLEEP = f"import time\ntime.sleep({TIMEOUT - 0.5})"

RAISES_FORMULA = f"""
# GRADED FUNCTION: batchnorm_forward
def batchnorm_forward(Z, gamma, beta, eps=1e-5):
    raise type({FORMULA!r}, (Exception,), {{}})("formula in the name")
"""
OWN_CELL_RAISES = f"raise type({FORMULA!r}, (Exception,), {{}})('in a cell of its own')"

FORGE = """
import io, json, os, zipfile
import numpy as _np
_results = os.environ["BNLAB_GRADING_RESULTS"]

def _npy(array):
    buffer = io.BytesIO()
    _np.save(buffer, array)
    return buffer.getvalue()

def _tree(name, returned):
    return {"dict": [["function", name], ["results", {"list": [{"dict": [["returned", returned]]}]}]]}

def _forge(name, returned, arrays=()):
    data = json.dumps(_tree(name, returned)).encode()
    with zipfile.ZipFile(os.path.join(_results, name + ".npz"), "w") as archive:
        archive.writestr("__tree__.npy", _npy(_np.frombuffer(data, dtype=_np.uint8)))
        for i, array in enumerate(arrays):
            archive.writestr(f"a{i}.npy", _npy(array))
"""

# notebook 02: one forged value per function, after its tests ran
FORGE_02 = (
    FORGE
    + """
_forge("batchnorm_backward", {"int": "9" * 5000})
_forge("batchnorm_backward_staged", {"array": 0}, [_np.zeros(3, dtype=[("a", "f8"), ("b", "i4")])])
_forge("linear_bn_activation_backward", {"dict": [[{"list": [1]}, 2]]})
"""
)

# notebook 05: a JSON tree of 198 MB (about 1 MB compressed)
FORGE_05 = (
    FORGE
    + """
whole = json.dumps(_tree("update_parameters_with_gd", {"list": ["HERE"]})).encode()
prefix, suffix = whole.split(b'"HERE"')
chunk, chunks, suffix = b"0," * (1 << 19), 189, b"0" + suffix
size = len(prefix) + len(chunk) * chunks + len(suffix)
path = os.path.join(_results, "update_parameters_with_gd.npz")
with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
    with archive.open("__tree__.npy", "w", force_zip64=True) as member:
        _np.lib.format.write_array_header_1_0(
            member, {"descr": "|u1", "fortran_order": False, "shape": (size,)}
        )
        member.write(prefix)
        for _ in range(chunks):
            member.write(chunk)
        member.write(suffix)
print("declared", size)
"""
)

FORGED = {
    "batchnorm_backward": "an int",
    "batchnorm_backward_staged": "dtype",
    "linear_bn_activation_backward": "a dict key that cannot be a key",
    "update_parameters_with_gd": "a member too large",
}


def _edit(inbox, student, stem, change):
    path = inbox / student / ASSIGNMENT / f"{stem}.ipynb"
    notebook = nbformat.read(path, as_version=4)
    change(notebook.cells)
    nbformat.write(notebook, path)


# What each attacker hands in: the solution's notebooks its attack lives in, and 03
HANDED_IN = {
    "bad-timestamp": ["03_removing_b"],
    "slow-cells": ["01_forward_bn", "03_removing_b"],
    "forged-results": ["02_backward_bn", "03_removing_b", "05_optimizers"],
    "formula-name": ["01_forward_bn", "03_removing_b"],
}


def _copy_solution(inbox, student):
    folder = inbox / student / ASSIGNMENT
    folder.mkdir(parents=True)
    for stem in HANDED_IN[student]:
        name = f"{stem}.ipynb"
        (folder / name).write_bytes((inbox / "solution" / ASSIGNMENT / name).read_bytes())


def _replace_graded(cells, grade_id, source):
    for cell in cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            cell.source = source
            return
    raise AssertionError(f"no cell {grade_id}")


def _attackers(inbox):
    new = nbformat.v4.new_code_cell
    for student in HANDED_IN:
        _copy_solution(inbox, student)
    _edit(
        inbox,
        "slow-cells",
        "01_forward_bn",
        lambda cells: cells.__setitem__(slice(0, 0), [new(SLEEP) for _ in range(SLEEPS)]),
    )
    _edit(inbox, "forged-results", "02_backward_bn", lambda cells: cells.append(new(FORGE_02)))
    _edit(inbox, "forged-results", "05_optimizers", lambda cells: cells.append(new(FORGE_05)))

    def formula(cells):
        _replace_graded(cells, "batchnorm_forward", textwrap.dedent(RAISES_FORMULA))
        cells.append(new(OWN_CELL_RAISES))

    _edit(inbox, "formula-name", "01_forward_bn", formula)


@pytest.fixture(scope="module")
def graded(course_copy, tmp_path_factory, released_course):
    try:
        sandbox.check()
    except sandbox.SandboxUnavailable as error:
        pytest.skip(f"no sandbox here: {error}")
    inbox = tmp_path_factory.mktemp("robustness") / "inbox"
    generate(inbox, SOURCE, released_course / "release" / ASSIGNMENT, ["solution", HONEST])
    _attackers(inbox)
    course = course_copy("robustness")
    collect(course, inbox)
    stamp = course / "submitted" / "bad-timestamp" / ASSIGNMENT / "timestamp.txt"
    stamp.write_text("2024-02-30 25:61:00 or so; =1+1\n", encoding="utf-8")
    steps = {
        "grade": run("grade", course, "--workers", 2, "--timeout", TIMEOUT, check=False),
        "feedback": run("feedback", course, check=False),
        "export": run("export", course, check=False),
    }
    scores = gradebook_scores(sqlite_url(course))
    reports = {
        student: json.loads((course / "reports" / "grade" / f"{student}.json").read_text())
        for student in scores
    }
    breakdown = read_csv(course / "reports" / "breakdown.csv")
    grades = read_csv(course / "reports" / "grades.csv")
    # the attackers graded again (the honest students' grades are checked against their
    # samples above): each attack gives what it gave the first time
    attackers = [
        f"--student={student}" for student in scores if student not in ("solution", HONEST)
    ]
    again = run("grade", course, "--workers", 2, "--timeout", TIMEOUT, *attackers, check=False)
    rescores = gradebook_scores(sqlite_url(course))
    # a report export cannot read (a flag without its fields): that student alone is named
    broken = course / "reports" / "grade" / "formula-name.json"
    report = json.loads(broken.read_text(encoding="utf-8"))
    broken.write_text(json.dumps({**report, "flags": [{"notebook": "01"}]}), encoding="utf-8")
    export_broken = run("export", course, check=False)
    return {
        "course": course,
        "steps": steps,
        "scores": scores,
        "reports": reports,
        "breakdown": breakdown,
        "grades": grades,
        "again": again,
        "rescores": rescores,
        "export_broken": export_broken,
        "grades_broken": read_csv(course / "reports" / "grades.csv"),
    }


def _notebook(name):
    """The notebook of a graded function or written answer."""
    return written_answers().get(name) or notebook_of(name)


def _solution_scores(zero=(), handed_in=tuple(NOTEBOOKS)):
    """The solution's grades, with 0 for the functions in `zero` and for everything of
    the notebooks not `handed_in`."""
    sample = next(s for s in samples() if s.student == "solution")
    expected = expected_scores(sample, points())
    return {
        name: (0.0 if name in zero or _notebook(name) not in handed_in else value)
        for name, value in expected.items()
    }


def _verdict(graded, student, function):
    stem = next(stem for stem, names in NOTEBOOKS.items() if function in names)
    return graded["reports"][student]["notebooks"][stem]["cells"][f"test_{function}"]


# ------------------------------------------------------------------ the run as a whole


@pytest.mark.parametrize("step", ["grade", "feedback", "export"])
@e2e
def test_every_step_completes(graded, step):
    result = graded["steps"][step]
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


@e2e
def test_every_student_is_in_every_export(graded):
    students = {"solution", HONEST, "bad-timestamp", "slow-cells", "forged-results"}
    students.add("formula-name")
    assert {row["student_id"] for row in graded["grades"]} == students
    assert {row["student_id"] for row in graded["breakdown"]} == students


@e2e
def test_the_honest_student_is_graded_exactly_as_expected(graded):
    sample = next(s for s in samples() if s.student == HONEST)
    assert graded["scores"][HONEST] == expected_scores(sample, points())
    assert graded["scores"]["solution"] == _solution_scores()


@e2e
def test_grading_the_attackers_again_gives_the_same_grades(graded):
    assert graded["again"].returncode == 0, graded["again"].stderr[-3000:]
    assert graded["rescores"] == graded["scores"]


# ------------------------------------------------------------------ each attack


@e2e
def test_an_attempt_time_that_is_no_time_makes_that_student_not_graded(graded):
    zero = {name: 0.0 for name in points()}
    assert graded["scores"]["bad-timestamp"] == zero
    report = graded["reports"]["bad-timestamp"]
    assert report["crashed"] is True
    assert "is not a date and time" in report["notebooks"]["01_forward_bn"]["message"]
    rows = [row for row in graded["breakdown"] if row["student_id"] == "bad-timestamp"]
    assert {row["status"] for row in rows} == {"could not be graded"}
    assert "bad-timestamp: could not be graded: its attempt time" in graded["steps"]["grade"].stdout


@e2e
def test_a_notebook_of_slow_cells_stops_at_its_budget(graded):
    withheld = NOTEBOOKS["01_forward_bn"]
    expected = _solution_scores(zero=withheld, handed_in=HANDED_IN["slow-cells"])
    assert graded["scores"]["slow-cells"] == expected
    report = graded["reports"]["slow-cells"]
    assert "time budget" in report["notebooks"]["01_forward_bn"]["budget"]
    assert any("time budget" in line for line in report["messages"])
    for name in withheld:
        assert _verdict(graded, "slow-cells", name) == [
            "failed",
            "not run: the notebook used up its time budget",
        ]
    notebook = nbformat.read(
        graded["course"] / "autograded" / "slow-cells" / ASSIGNMENT / "01_forward_bn.ipynb",
        as_version=4,
    )
    sleeps = [cell for cell in notebook.cells if cell.source == SLEEP]
    assert len(sleeps) == SLEEPS
    # with a budget of a few cells' limits, most of the sleeps were never run
    assert sum(cell.execution_count is None for cell in sleeps) > SLEEPS // 2


@e2e
def test_forged_results_fail_their_own_function_only(graded):
    expected = _solution_scores(zero=FORGED, handed_in=HANDED_IN["forged-results"])
    assert graded["scores"]["forged-results"] == expected
    for function, why in FORGED.items():
        status, detail = _verdict(graded, "forged-results", function)
        assert status == "failed"
        assert detail.startswith("the test's results could not be read (")
        assert why in detail, detail


@e2e
def test_an_exception_named_like_a_formula_reaches_no_report(graded):
    expected = _solution_scores(zero={"batchnorm_forward"}, handed_in=HANDED_IN["formula-name"])
    assert graded["scores"]["formula-name"] == expected
    status, detail = _verdict(graded, "formula-name", "batchnorm_forward")
    assert (status, detail) == ("failed", "UnnamedError: formula in the name")
    course = graded["course"]
    for report in ("breakdown.csv", "grades.csv", "summary.txt"):
        assert "HYPERLINK" not in (course / "reports" / report).read_text(encoding="utf-8")
    assert "HYPERLINK" not in json.dumps(graded["reports"]["formula-name"]["notebooks"])
    notebook = nbformat.read(
        course / "autograded" / "formula-name" / ASSIGNMENT / "01_forward_bn.ipynb",
        as_version=4,
    )
    names = [
        output.ename
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "error"
    ]
    assert "UnnamedError" in names
    assert all(name.isidentifier() for name in names), names


@e2e
def test_written_answers_are_unaffected_by_the_attacks(graded):
    """The written answers of the notebooks each attacker handed in (03's, at least)."""
    for student in ("slow-cells", "forged-results", "formula-name"):
        answers = [a for a, stem in written_answers().items() if stem in HANDED_IN[student]]
        assert answers, student
        for answer in answers:
            assert graded["scores"][student][answer] is None  # waiting for manual grading


@e2e
def test_a_student_export_cannot_read_is_named_and_the_others_exported(graded):
    result = graded["export_broken"]
    assert result.returncode == 0, result.stderr[-3000:]
    rows = {row["student_id"]: row for row in graded["grades_broken"]}
    assert set(rows) == {row["student_id"] for row in graded["grades"]}
    assert rows["formula-name"]["status"].startswith("could not be exported (KeyError")
    assert rows["formula-name"]["score"] == ""  # no number that could reach an LMS
    assert {s: rows[s]["score"] for s in rows if s != "formula-name"} == {
        row["student_id"]: row["score"]
        for row in graded["grades"]
        if row["student_id"] != "formula-name"
    }


# ------------------------------------------------------------------ the parts, without a course


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-01 12:30:00", "2024-03-01T12:30:00"),
        ("2024-03-01 12:30:00.123456 UTC", "2024-03-01T12:30:00.123456"),
        ("2024-03-01T12:30:00+01:00", "2024-03-01T11:30:00"),
        ("2024-03-01 12:30:00 -0500", "2024-03-01T17:30:00"),
    ],
)
def test_an_attempt_time_is_read_as_nbgrader_writes_it(text, expected):
    assert gradebook_writer.attempt_time(text).isoformat() == expected


@pytest.mark.parametrize(
    "text",
    [
        "2024-02-30 25:61:00 or so; =1+1",
        "2024-02-30 12:00:00",  # no such day
        "9" * 5000,
        "2024-03-01 12:30:00 /dev/zero",  # a general parser opens this as a time zone file
        "2024-03-01 12:30:00 Europe/../../etc/passwd",
        "２０２４-03-01 12:30:00",  # digits, but not ASCII ones
        "",
        None,
    ],
)
def test_an_attempt_time_that_is_no_time_is_a_merge_error(text):
    with pytest.raises(gradebook_writer.MergeError, match="attempt time"):
        gradebook_writer.attempt_time(text)


def test_a_notebook_too_large_or_of_too_many_cells_is_not_parsed():
    padded = b" " * (handed_in.MAX_NOTEBOOK_BYTES + 1)
    status, message, notebook = handed_in.inspect_notebook("01.ipynb", padded)
    assert (status, notebook) == ("invalid", None) and "too large" in message
    cells = [nbformat.v4.new_code_cell("1") for _ in range(2001)]
    many = nbformat.writes(nbformat.v4.new_notebook(cells=cells)).encode()
    status, message, _ = handed_in.inspect_notebook("01.ipynb", many)
    assert status == "invalid" and "more than 2000" in message, message
    deep = b'{"cells": [], "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    status, message, _ = handed_in.inspect_notebook("01.ipynb", deep)
    assert status == "invalid", message


def test_what_a_kernel_reports_is_made_plain_before_it_is_kept():
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x")])
    cell = notebook.cells[0]
    cell.execution_count = 10**40
    cell.outputs = [
        nbformat.v4.new_output("error", ename=FORMULA, evalue="e", traceback=[]),
        nbformat.v4.new_output("error", ename="numpy.linalg.LinAlgError", evalue="", traceback=[]),
        nbformat.v4.new_output("execute_result", data={"text/plain": "1"}, execution_count=1),
    ]
    cell.outputs[2]["execution_count"] = -3
    submission._clean_outputs(notebook)
    assert cell.execution_count is None
    assert [o.get("ename") for o in cell.outputs[:2]] == [
        valuefile.NEUTRAL_NAME,
        "numpy.linalg.LinAlgError",
    ]
    assert cell.outputs[2]["execution_count"] is None
    nbformat.validate(notebook)


def test_a_notebooks_budget_is_a_few_time_limits_from_the_release():
    """From the release and the time limit only (the student's notebook is no input): at
    least two limits, so any one cell can use its whole limit, and far below a limit per
    cell; without a release, two limits."""
    release = nbformat.read(SOURCE / "05_optimizers.ipynb", as_version=4)
    code_cells = sum(cell.cell_type == "code" for cell in release.cells)
    context = submission.Context(
        assignment={},
        releases={"05_optimizers": release},
        timeout=15,
        limits=None,
        sandboxed=True,
        run_all_cells=False,
        fingerprint="",
    )
    budget = submission.notebook_budget(context, "05_optimizers")
    assert 2 * 15 <= budget <= code_cells * 15 / 2
    assert submission.notebook_budget(context, "02_backward_bn") == 2 * 15
    slower = submission.Context(**{**context.__dict__, "timeout": 30})
    assert submission.notebook_budget(slower, "05_optimizers") == 2 * budget


def test_a_failure_while_merging_one_student_records_them_as_not_graded(monkeypatch, tmp_path):
    """Any exception while a student is merged (not only a bad attempt time): what was
    half written is rolled back and the student is merged as "could not be graded" with
    the reason; the caller goes on with the others."""
    merged, rolled_back, lines = [], [], []

    def failing_merge(course, gradebook, result, previous, source):
        if not result.get("crashed"):
            raise RuntimeError("boom")
        merged.append(result)

    monkeypatch.setattr(gradebook_writer, "merge", failing_merge)
    gradebook = SimpleNamespace(db=SimpleNamespace(rollback=lambda: rolled_back.append(1)))
    course = SimpleNamespace(reports=tmp_path)
    result = {"student": "ann", "digest": "d"}
    assert grade._merged(course, gradebook, result, "source", lines.append) is False
    assert rolled_back == [1]
    (failed,) = merged
    assert failed["student"] == "ann" and failed["crashed"] is True
    message = failed["notebooks"]["01_forward_bn"]["message"]
    assert "merging its results failed (RuntimeError: boom)" in message
    assert any("Traceback" in line for line in lines)


def test_a_review_flag_names_its_cell_only_by_a_plain_grade_id():
    """review names a flagged cell by its grade_id, which is the student's metadata."""
    release = nbformat.read(SOURCE / "01_forward_bn.ipynb", as_version=4)
    notebook = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("import numpy as np\nnp.allclose = None"),
            nbformat.v4.new_code_cell("import numpy as np\nnp.allclose = None"),
            nbformat.v4.new_code_cell("import numpy as np\nnp.allclose = None"),
        ]
    )
    notebook.cells[1].metadata["nbgrader"] = {"grade_id": FORMULA}
    notebook.cells[2].metadata["nbgrader"] = {"grade_id": "my_cell-2"}
    flags = handed_in.review_flags(notebook, "01_forward_bn", release)
    assert [flag["cell"] for flag in flags] == [
        "cell 1",
        "a cell with an invalid grade_id",
        "my_cell-2",
    ]


def test_a_killed_runs_scratch_is_removed_by_the_next_run_without_following_links(tmp_path):
    """A run killed mid-way leaves its scratch folder (outside the course) as its sandboxes
    left it: a folder made unreadable, a link to a folder of the instructor's. The next
    run's cleanup removes it all and leaves the link's target as it was."""
    from autograder.workspace import Course

    course = Course(tmp_path / "course")
    course.work.mkdir(parents=True)
    canary = tmp_path / "canary"
    canary.mkdir(mode=0o751)
    (canary / "keep.txt").write_text("instructor's")
    scratch = scratch_folder.new_scratch(course)
    locked = scratch / "server-1" / "home" / "locked"
    locked.mkdir(parents=True)
    (locked / "link").symlink_to(canary)
    (scratch / "server-1" / "tmp-link").symlink_to(canary)
    locked.chmod(0)
    scratch_folder.cleanup_stale(course)  # as the next run does, under the grading lock
    assert not scratch.exists()
    assert (canary.stat().st_mode & 0o777, (canary / "keep.txt").read_text()) == (
        0o751,
        "instructor's",
    )
    assert not (course.work / "grading-scratch").exists()


def test_a_scratch_record_naming_another_folder_removes_nothing(tmp_path):
    """The record is the course's own file, but it is no instruction: only a folder of the
    grader's (in the temp folder, with its prefix) is ever removed."""
    from autograder.workspace import Course

    course = Course(tmp_path / "course")
    course.work.mkdir(parents=True)
    elsewhere = tmp_path / "bnlab-grading-elsewhere"
    elsewhere.mkdir()
    (course.work / "grading-scratch").write_text(str(elsewhere) + "\n")
    scratch_folder.cleanup_stale(course)
    assert elsewhere.is_dir()


def test_the_summary_tables_maxima_do_not_come_from_a_student_who_could_not_be_exported():
    from autograder.pipeline import export

    unexported = {"student": "aaa", "notebooks": {}, "auto": 0.0, "auto_max": 0.0, "max": 100.0}
    unexported.update(manual=0.0, manual_max=0.0, pending=0.0, notes=["COULD NOT BE EXPORTED"])
    graded = {"student": "bob", "notebooks": {"01_forward_bn": (12.0, 12.0)}, "auto": 12.0}
    graded.update(auto_max=90.0, max=100.0, manual=0.0, manual_max=10.0, pending=0.0, notes=[])
    header = export.table([unexported, graded]).splitlines()[0].split()
    assert header[1:2] == ["01/12"]
    assert header[-4:-1] == ["auto/90", "manual/10", "total/100"]
