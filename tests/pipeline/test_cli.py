"""The pipeline's command line and nbgrader's configuration file.

- each step is a subcommand with exactly its own options; another step's option is a
  usage error (exit status 2); each step's --help is its own;
- an error a step reports in plain words (a GraderError, the root of every step's error
  class) is one line and exit status 1; any other exception keeps its traceback; a Dask
  scheduler that cannot be reached is such an error;
- the workspace's nbgrader_config.json holds Course.nbgrader_config(), and a real
  `nbgrader` command run in the course folder uses it.
"""

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from autograder_support import collect, pipeline_env
from traitlets.config.loader import JSONFileConfigLoader

from autograder import cli
from autograder.errors import GraderError
from autograder.grading import executors
from autograder.grading.cluster import LocalCluster
from autograder.grading.executors import ClusterUnavailable
from autograder.pipeline.collect import CollectError
from autograder.pipeline.csvfile import CsvFileError
from autograder.pipeline.export import ExportError
from autograder.pipeline.feedback import FeedbackError
from autograder.pipeline.grade import GradeError
from autograder.pipeline.release import ReleaseError
from autograder.pipeline.roster import RosterError
from autograder.pipeline.similarity import SimilarityError
from autograder.sandbox import SandboxUnavailable
from autograder.workspace import OLD_CONFIG_HEADER, Course, MemoryLimitError, headless_environ
from bnlab.course import ASSIGNMENT

ROOT = Path(__file__).resolve().parents[2]

COURSE = {"--course", "--db-url"}
RELEASE = {"--skip-checks"}
COLLECT = {"--from", "--samples", "--regexp"}
STUDENTS = {"--student", "--workers"}
GRADE = {
    "--force",
    "--timeout",
    "--memory-limit",
    "--run-all-cells",
    "--no-sandbox",
    "--scheduler",
}
PROGRESS = {"--no-progress"}
EXPECTED = {
    "release": COURSE | RELEASE,
    "collect": COURSE | COLLECT,
    "grade": COURSE | STUDENTS | GRADE | PROGRESS,
    "feedback": COURSE | STUDENTS | PROGRESS,
    "export": COURSE | {"--lms-map"},
    "report": COURSE,
    "similarity": COURSE,
    "all": COURSE | RELEASE | COLLECT | STUDENTS | GRADE | PROGRESS,
    "roster": COURSE | {"--from"},
}
VALUE = {  # a value for each option that takes one
    "--course": "c",
    "--db-url": "sqlite:////tmp/g.db",
    "--from": "inbox",
    "--lms-map": "map.csv",
    "--regexp": "(?P<student_id>.+)_(?P<file_id>.+)",
    "--student": "ada",
    "--workers": "2",
    "--timeout": "5",
    "--memory-limit": "1.5",
    "--scheduler": "tcp://10.0.0.5:8786",
}


def _argv(step, *options):
    argv = [step]
    for option in options:
        argv += [option] + ([VALUE[option]] if option in VALUE else [])
    return argv


# ------------------------------------------------------------------ the command line


def test_each_step_has_exactly_its_own_options():
    parser = cli._parser()
    assert set(parser.steps) == set(EXPECTED)
    for step, sub in parser.steps.items():
        options = {o for o in sub._option_string_actions if o.startswith("--")} - {"--help"}
        assert options == EXPECTED[step], step


OTHERS = sorted(
    (step, option)
    for step, own in EXPECTED.items()
    for option in set().union(*EXPECTED.values()) - own
)


@pytest.mark.parametrize(("step", "option"), OTHERS)
def test_an_option_of_another_step_is_a_usage_error(step, option, capsys):
    with pytest.raises(SystemExit) as stopped:
        cli.parse_args(_argv(step, "--course", option))
    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert f"autograder {step}: error: unrecognized arguments: {option}" in error, error
    assert f"{option} is an option of " in error, error


@pytest.mark.parametrize("step", sorted(EXPECTED))
def test_each_step_accepts_all_its_options(step):
    args = cli.parse_args(_argv(step, *sorted(EXPECTED[step])))
    assert args.step == step
    assert args.course == "c"
    assert args.db_url == "sqlite:////tmp/g.db"
    if "--workers" in EXPECTED[step]:
        assert args.student == ["ada"]
        assert args.workers == 2
    if "--timeout" in EXPECTED[step]:
        assert (args.timeout, args.memory_limit, args.scheduler) == (5, 1.5, "tcp://10.0.0.5:8786")
        assert args.force and args.run_all_cells and args.no_sandbox
    if "--no-progress" in EXPECTED[step]:
        assert args.no_progress
    if "--from" in EXPECTED[step]:
        assert args.source == "inbox"
    if "--samples" in EXPECTED[step]:
        assert args.samples
    if "--skip-checks" in EXPECTED[step]:
        assert args.skip_checks


@pytest.mark.parametrize(
    "argv",
    [  # as the Makefile, the README and the tests call the steps
        ["all", "--samples", "--course", "course", "--workers", "2", "--no-sandbox"],
        ["all", "--samples", "--course", "course", "--no-progress", "--student", "a"],
        ["release", "--course", "c", "--skip-checks", "--db-url", "postgresql+psycopg2://me@h/b"],
        ["collect", "--course", "c", "--from", "inbox"],
        ["grade", "--course", "c", "--workers", "1", "--force", "--student", "a"],
        ["grade", "--course", "c", "--workers", "1", "--no-progress", "--student", "a"],
        ["feedback", "--course", "c"],
        ["feedback", "--course", "c", "--no-progress"],
        ["export", "--course", "c"],
    ],
)
def test_the_documented_invocations_parse(argv):
    assert cli.parse_args(argv).step == argv[0]


def test_a_step_is_required_and_help_lists_them(capsys):
    with pytest.raises(SystemExit) as stopped:
        cli.parse_args([])
    assert stopped.value.code == 2
    with pytest.raises(SystemExit) as stopped:
        cli.parse_args(["--help"])
    assert stopped.value.code == 0
    text = capsys.readouterr().out
    for step in EXPECTED:  # a long name has its help on the next line
        assert re.search(rf"\n    {step}\s", text), text


def test_a_negative_memory_limit_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as stopped:
        cli.parse_args(["grade", "--memory-limit", "-1"])
    assert stopped.value.code == 2
    assert "--memory-limit: 0 (no limit) or more GiB" in capsys.readouterr().err


def test_the_scheduler_defaults_to_the_environment(monkeypatch):
    monkeypatch.setenv("BNLAB_SCHEDULER", "tcp://sched:8786")
    assert cli.parse_args(["grade"]).scheduler == "tcp://sched:8786"
    assert cli.parse_args(["grade", "--scheduler", "tcp://other:1"]).scheduler == "tcp://other:1"
    monkeypatch.delenv("BNLAB_SCHEDULER")
    assert cli.parse_args(["all"]).scheduler == ""


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["grade"], {}),
        (["grade", "--scheduler", "tcp://10.0.0.5:8786"], {"scheduler": "tcp://10.0.0.5:8786"}),
    ],
)
def test_grade_gets_the_scheduler_only_when_one_is_named(argv, expected, monkeypatch, tmp_path):
    from autograder.pipeline import grade

    monkeypatch.delenv("BNLAB_SCHEDULER", raising=False)
    calls = []
    monkeypatch.setattr(grade, "grade", lambda course, **options: calls.append(options))
    args = cli.parse_args([*argv, "--workers", "3", "--student", "ada"])
    cli.run_step("grade", Course(tmp_path), args)
    (options,) = calls
    assert options == {
        "students": ["ada"],
        "workers": 3,
        "force": False,
        "progress": True,
        **expected,
    }


def test_grading_options_reach_the_course_only_through_grading_steps(tmp_path):
    grading = ["--timeout", "7", "--memory-limit", "0", "--run-all-cells", "--no-sandbox"]
    for step in ("grade", "all"):
        course = cli.course_of(cli.parse_args([step, "--course", str(tmp_path), *grading]))
        assert (course.timeout, course.memory_limit) == (7, 0)
        assert course.run_all_cells and not course.sandbox
    course = cli.course_of(cli.parse_args(["release", "--course", str(tmp_path)]))
    assert (course.timeout, course.memory_limit) == (15, 3 * 1024**3)
    assert not course.run_all_cells and course.sandbox
    course = cli.course_of(cli.parse_args(["grade", "--run-all-cells"]))
    assert course.timeout == 120


def test_the_command_line_rejects_another_steps_option():
    result = subprocess.run(
        [sys.executable, "-m", "autograder", "release", "--timeout", "5"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith("usage: python -m autograder release"), result.stderr
    assert "--timeout is an option of grade, all" in result.stderr


def test_each_steps_help_is_its_own():
    parser = cli._parser()
    for step, sub in parser.steps.items():
        text = sub.format_help()
        summary = cli.STEPS[step].summary
        assert " ".join(text.split()).count(summary[1:]) == 1, (step, text)
    feedback = parser.steps["feedback"].format_help()
    assert "regrade" not in feedback and "submissions at a time" not in feedback, feedback
    assert "pages at a time (default: one per core)" in " ".join(feedback.split())


SUMMARIES = {  # what each step's --help says it does, in the words of the guide
    "release": "Build what students receive",
    "collect": "Copy the submissions into the workspace",
    "grade": "Autograde the submissions",
    "feedback": "Write the HTML feedback of the graded students",
    "export": "Refresh the feedback of students whose grades changed",
    "report": "Write the class report",
    "similarity": "Find the pairs of students whose solution cells are unusually alike",
    "all": "Every step in turn",
    "roster": "Add or update the students' names and emails",
}


@pytest.mark.parametrize("step", sorted(EXPECTED))
def test_each_steps_help_on_the_command_line_is_its_own(step, capsys):
    """`STEP --help` (through main, as typed) names the step, says what it does, lists
    exactly its own options, and nothing another step does."""
    with pytest.raises(SystemExit) as stopped:
        cli.main([step, "--help"])
    assert stopped.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: python -m autograder {step} "), text
    words = " ".join(text.split())
    assert SUMMARIES[step] in words, text
    for other, summary in SUMMARIES.items():
        if other != step:
            assert summary not in words, (other, text)
    listed = set(re.findall(r"^\s+(--[a-z-]+)", text, flags=re.MULTILINE)) - {"--help"}
    assert listed == EXPECTED[step], text
    if step != "all":  # `all` runs grade and feedback: their words are its own
        for other in {"grade", "feedback"} - {step}:
            for help_text in (cli.STUDENT_HELP[other], cli.WORKERS_HELP[other]):
                assert help_text not in words, (other, text)


@pytest.mark.parametrize(
    ("argv", "progress"),
    [(["feedback"], True), (["feedback", "--no-progress"], False)],
)
def test_feedback_draws_its_progress_bar_unless_told_not_to(argv, progress, monkeypatch, tmp_path):
    from autograder.pipeline import feedback

    calls = []
    monkeypatch.setattr(feedback, "feedback", lambda course, **options: calls.append(options))
    assert cli.main([*argv, "--course", str(tmp_path)]) == 0
    assert calls == [{"students": None, "workers": os.cpu_count(), "progress": progress}]


def test_the_entry_point_and_the_console_script_name_the_same_main():
    from autograder import __main__ as entry

    assert entry.main is cli.main
    scripts = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'bnlab-grade = "autograder.cli:main"' in scripts


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["all"], ["release", "grade", "feedback", "export", "similarity"]),
        (
            ["all", "--samples"],
            ["release", "collect", "grade", "feedback", "export", "similarity"],
        ),
        (
            ["all", "--from", "inbox"],
            ["release", "collect", "grade", "feedback", "export", "similarity"],
        ),
        (["feedback"], ["feedback"]),
    ],
)
def test_all_runs_the_pipeline_and_collects_only_from_a_source(argv, expected):
    assert cli.planned(cli.parse_args(argv)) == expected


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    "error",
    [
        ReleaseError,
        CollectError,
        GradeError,
        FeedbackError,
        ExportError,
        CsvFileError,
        RosterError,
        SimilarityError,
        MemoryLimitError,
        SandboxUnavailable,
        ClusterUnavailable,
    ],
)
def test_each_steps_error_class_is_a_grader_error(error):
    assert issubclass(error, GraderError)


def _failing(monkeypatch, step, error):
    def run(course, args):
        raise error

    monkeypatch.setitem(cli.STEPS, step, cli.Step("fails", cli.STEPS[step].options, run))


def test_a_grader_error_is_one_line_and_exit_status_1(monkeypatch, tmp_path, capsys):
    _failing(monkeypatch, "export", CollectError("what went wrong, and the fix"))
    assert cli.main(["export", "--course", str(tmp_path)]) == 1
    assert capsys.readouterr().err == "export: what went wrong, and the fix\n"


def test_all_stops_at_the_first_failing_step_and_names_it(monkeypatch, tmp_path, capsys):
    ran = []
    for step in ("release", "grade", "export"):
        monkeypatch.setitem(
            cli.STEPS, step, cli.Step("runs", (), lambda course, args, step=step: ran.append(step))
        )
    _failing(monkeypatch, "feedback", FeedbackError("not graded yet"))
    assert cli.main(["all", "--course", str(tmp_path)]) == 1
    assert ran == ["release", "grade"]
    assert capsys.readouterr().err == "feedback: not graded yet\n"


@pytest.mark.parametrize("error", [RuntimeError("a bug"), FileNotFoundError("a bug")])
def test_any_other_exception_is_a_bug_and_keeps_its_traceback(monkeypatch, tmp_path, error):
    _failing(monkeypatch, "export", error)
    with pytest.raises(type(error), match="a bug"):
        cli.main(["export", "--course", str(tmp_path)])


def test_a_missing_csv_file_is_a_plain_error(tmp_path, capsys):
    missing = tmp_path / "nowhere.csv"
    assert cli.main(["roster", "--course", str(tmp_path / "c"), "--from", str(missing)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"roster: {missing}: cannot be read (No such file"), err


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_an_unreachable_dask_scheduler_is_one_sentence_and_exit_1(course_copy, tmp_path):
    """A course with a release and one submission, graded on a Dask scheduler address of
    127.0.0.1 where nothing listens: the client gives up after Dask's connect timeout
    (set to 3 s here, the way an instructor would set it)."""
    pytest.importorskip("distributed", reason="the dask extra is not installed")
    course, inbox = course_copy("unreachable"), tmp_path / "inbox"
    (inbox / "ada" / ASSIGNMENT).mkdir(parents=True)
    for path in (course / "release" / ASSIGNMENT).glob("*.ipynb"):
        (inbox / "ada" / ASSIGNMENT / path.name).write_bytes(path.read_bytes())
    collect(course, inbox)
    address = f"tcp://127.0.0.1:{_free_port()}"
    result = subprocess.run(
        [sys.executable, "-m", "autograder", "grade", "--course", str(course)]
        + ["--scheduler", address, "--no-progress"],
        cwd=ROOT,
        env={**pipeline_env(), "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "3s"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"grade: cannot reach the Dask scheduler at {address}: "), last
    assert "after 3 s" in last, last
    assert "Timed out trying to connect" in last, last
    assert not list((course / "reports" / "grade").glob("*.json"))  # nobody was graded


@pytest.mark.slow
def test_a_scheduler_without_workers_is_a_cluster_error(tmp_path):
    distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")
    with LocalCluster(tmp_path, workers=1) as cluster:
        (worker,) = cluster.workers
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
        with distributed.Client(cluster.address, timeout="60s") as client:
            deadline = time.monotonic() + 60
            while client.nthreads() and time.monotonic() < deadline:
                time.sleep(0.2)  # until the scheduler has seen the worker go
        results = executors.dask(cluster.address, ["ada"], str, "context", log=print)
        with pytest.raises(ClusterUnavailable, match="has no workers"):
            next(results)


@pytest.mark.slow
def test_a_scheduler_lost_during_the_run_is_a_cluster_error(tmp_path):
    """The scheduler dies as the first submission is sent (read is called then): the
    client's connection closes, and the run stops with a ClusterUnavailable instead of
    sending every submission again and again to no one. The client tries to reconnect
    for Dask's connect timeout before it gives up: set to 5 s here (30 s unless
    configured), the way an instructor would set it."""
    pytest.importorskip("distributed", reason="the dask extra is not installed")
    import dask

    with (
        LocalCluster(tmp_path, workers=1) as cluster,
        dask.config.set({"distributed.comm.timeouts.connect": "5s"}),
    ):

        def read(student):
            if cluster.scheduler.poll() is None:
                os.killpg(cluster.scheduler.pid, signal.SIGKILL)
                cluster.scheduler.wait()
            return student

        results = executors.dask(cluster.address, ["ada", "bob"], read, "context", log=print)
        with pytest.raises(ClusterUnavailable, match="lost the Dask scheduler at tcp://127.0.0.1"):
            next(results)


# ------------------------------------------------------------------ nbgrader_config.json


def _load(root):
    return JSONFileConfigLoader("nbgrader_config.json", path=str(root)).load_config()


def test_the_config_file_holds_the_courses_config(tmp_path):
    root = tmp_path / "course"
    course = Course(root)
    course.prepare()
    assert course.config_file == root / "nbgrader_config.json"
    loaded = _load(root)
    assert loaded == course.nbgrader_config()
    assert loaded.CourseDirectory.root == str(root.resolve())
    assert loaded.CourseDirectory.course_id == "bnlab"
    assert loaded.CourseDirectory.db_url == f"sqlite:///{root.resolve()}/gradebook.db"
    assert "*.npz" in loaded.CourseDirectory.ignore
    assert loaded.Execute.timeout == 15
    assert loaded.Execute.interrupt_on_timeout is True
    assert loaded.Execute.shutdown_kernel == "immediate"
    assert loaded.OverwriteCells.add_missing_cells is True
    assert loaded.Validator.validate_all is True
    assert loaded.Autograde.autograde_preprocessors == [
        "autograder.grading.autograde_refusal.GradeWithTheGrader"
    ]
    assert "KernelManager" not in loaded  # per process only (ipc), never in the file
    # whoever makes the feedback pages (formgrader, nbgrader run here) makes the course's
    assert loaded.GenerateFeedback.exporter_class == "autograder.pipeline.feedback.FeedbackExporter"
    assert loaded.GenerateFeedback.preprocessors == [
        "autograder.grading.inert.InertNotebook",
        "nbgrader.preprocessors.GetGrades",
        "autograder.pipeline.feedback.MarkPending",
        "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
    ]
    assert loaded.FeedbackExporter.template_name == "bnlab_feedback"
    templates = ROOT / "autograder" / "pipeline" / "feedback_templates"
    assert str(templates) in loaded.FeedbackExporter.extra_template_basedirs


def test_the_config_follows_the_grading_options(tmp_path):
    course = Course(tmp_path, db_url="postgresql+psycopg2://me@dbhost/bnlab", run_all_cells=True)
    course.prepare()
    loaded = _load(tmp_path)
    assert loaded == course.nbgrader_config()
    assert loaded.Execute.timeout == 120
    assert loaded.CourseDirectory.db_url == "postgresql+psycopg2://me@dbhost/bnlab"
    scratch = course.nbgrader_config(root="/s", db_url="sqlite:////s/g.db", ipc="/k/kernel")
    assert scratch.CourseDirectory.root == "/s"
    assert scratch.CourseDirectory.db_url == "sqlite:////s/g.db"
    assert (scratch.KernelManager.transport, scratch.KernelManager.ip) == ("ipc", "/k/kernel")
    assert scratch.Execute == loaded.Execute


def test_the_config_file_is_rewritten_only_when_it_changes(tmp_path):
    Course(tmp_path).prepare()
    path = tmp_path / "nbgrader_config.json"
    before = path.stat().st_mtime_ns
    Course(tmp_path).prepare()
    assert path.stat().st_mtime_ns == before
    Course(tmp_path, timeout=30).prepare()
    assert _load(tmp_path).Execute.timeout == 30


def test_a_generated_python_config_is_removed_a_handwritten_one_kept(tmp_path):
    generated, handwritten = tmp_path / "old", tmp_path / "mine"
    for root, first in ((generated, OLD_CONFIG_HEADER), (handwritten, "c = get_config()")):
        root.mkdir()
        (root / "nbgrader_config.py").write_text(f"{first}\nc.Execute.timeout = 1\n")
        Course(root).prepare()
    assert not (generated / "nbgrader_config.py").exists()
    assert (handwritten / "nbgrader_config.py").exists()
    assert (generated / "nbgrader_config.json").exists()


@pytest.mark.slow
def test_nbgrader_run_in_the_course_folder_reads_the_config(tmp_path):
    """`nbgrader db assignment add` run in the course folder, with no other config in
    reach: the assignment lands in the course's gradebook (elsewhere, to tell it from
    nbgrader's default ./gradebook.db) under the course id bnlab (not default_course)."""
    root, gradebook = tmp_path / "course", tmp_path / "elsewhere.db"
    Course(root, db_url=f"sqlite:///{gradebook}").prepare()
    nbgrader = Path(sys.executable).parent / "nbgrader"
    result = subprocess.run(
        [str(nbgrader), "db", "assignment", "add", "probe", "--log-level=DEBUG"],
        cwd=root,
        env=headless_environ(JUPYTER_CONFIG_DIR=str(tmp_path / "no-config")),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Loaded config file: {root.resolve()}/nbgrader_config.json" in result.stderr
    assert not (root / "gradebook.db").exists()
    with sqlite3.connect(gradebook) as db:
        assert db.execute("select name, course_id from assignment").fetchall() == [
            ("probe", "bnlab")
        ]


def test_nbgrader_s_own_autograde_refuses_and_names_the_grader():
    import nbformat

    from autograder.grading.autograde_refusal import GradeWithTheGrader

    with pytest.raises(RuntimeError, match="python -m autograder grade"):
        GradeWithTheGrader().preprocess(nbformat.v4.new_notebook(), {})
