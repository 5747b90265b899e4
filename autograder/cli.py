"""The instructor's command line: python -m autograder STEP [options], or bnlab-grade STEP.

A thin layer over the pipeline: each step (release, collect, grade, feedback, export,
report, similarity, roster, and `all`, the first seven in turn) is one row of STEPS -- its
one-line summary, the groups of options it takes, and the function that calls its module of
autograder.pipeline with them. Each step accepts only its own options (``STEP --help``
lists them); another step's option is a usage error (exit status 2) that names the
steps taking it. An error the step reports in plain words (autograder.errors.GraderError)
is printed as ``STEP: message`` with exit status 1; anything else is a bug and keeps its
traceback. Every step is safe to run twice. See autograder/README.md for the guide.
"""

import argparse
import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from autograder.errors import GraderError
from autograder.workspace import CELL_TIMEOUT, CELL_TIMEOUT_ALL_CELLS, MEMORY_LIMIT, Course
from bnlab._startup import skip_unused_format_checkers

# Here, before any step imports nbformat: also in the processes a step spawns, which
# import this module again as (or through) their __main__.
skip_unused_format_checkers()

# the steps of `all`, in order (not report: export writes the class report)
PIPELINE = ("release", "collect", "grade", "feedback", "export", "similarity")


# ------------------------------------------------------------------ what each step calls


def _release(course, args):
    from autograder.pipeline import release

    release.release(course, checks=not args.skip_checks)
    print("release: done" + ("" if args.skip_checks else "; the release checks passed"))


def _collect(course, args):
    from autograder.pipeline import collect

    collect.collect(course, source=args.source, samples=args.samples, regexp=args.regexp)


def _grade(course, args):
    from autograder.pipeline import grade

    options = {}
    if args.scheduler:  # otherwise grade.grade's default: grade on this machine
        options["scheduler"] = args.scheduler
    grade.grade(
        course,
        students=args.student,
        workers=args.workers or 1,
        force=args.force,
        progress=not args.no_progress,
        **options,
    )


def _feedback(course, args):
    from autograder.pipeline import feedback

    feedback.feedback(
        course,
        students=args.student,
        workers=args.workers or os.cpu_count(),
        progress=not args.no_progress,
    )


def _export(course, args):
    from autograder.pipeline import export

    # `all` has no --lms-map: its export writes no LMS files
    export.export(course, lms_map=getattr(args, "lms_map", None), refresh_feedback=True)


def _report(course, args):
    from autograder.pipeline import class_report, export

    class_report.require_release(course)
    class_report.write_class_report(course, export.collect_rows(course)[1])


def _similarity(course, args):
    from autograder.pipeline import similarity

    similarity.similarity(course)


def _roster(course, args):
    from autograder.pipeline import roster

    roster.load_roster(course, args.source)


@dataclass(frozen=True)
class Step:
    """A subcommand: its summary (the help), the option groups it takes (names of
    OPTION_GROUPS, in the order --help shows them), and run(course, args), or None for
    `all`, which runs the steps of PIPELINE."""

    summary: str
    options: tuple
    run: Callable | None


STEPS = {
    "release": Step(
        "build what students receive (the release and the student wheel), and check it",
        ("course", "release"),
        _release,
    ),
    "collect": Step(
        "copy the submissions into the workspace (a folder or .zip; nbgrader or LMS layout)",
        ("course", "collect"),
        _collect,
    ),
    "grade": Step(
        "autograde the submissions (only new or changed ones, unless --force)",
        ("course", "students", "grade", "progress"),
        _grade,
    ),
    "feedback": Step(
        "write the HTML feedback of the graded students whose pages are missing or out of "
        "date (of the --student ones: always)",
        ("course", "students", "progress"),
        _feedback,
    ),
    "export": Step(
        "refresh the feedback of students whose grades changed (e.g. graded by hand in "
        "formgrader), write grades.csv, breakdown.csv, flags.csv and the class report (with "
        "--lms-map also canvas.csv and moodle.csv), and print the summary table",
        ("course", "export"),
        _export,
    ),
    "report": Step(
        "write the class report (reports/class_report.html and .csv): per graded function "
        "who passed, failed or did not attempt it, the classic mistakes and the points lost",
        ("course",),
        _report,
    ),
    "similarity": Step(
        "find the pairs of students whose solution cells are unusually alike, for you to "
        "look at (reports/similarity.html, code side by side, and similarity.csv)",
        ("course",),
        _similarity,
    ),
    "all": Step(
        "every step in turn (collect only with --from or --samples)",
        ("course", "release", "collect", "students", "grade", "progress"),
        None,
    ),
    "roster": Step(
        "add or update the students' names and emails in the gradebook, from a CSV file",
        ("course", "roster"),
        _roster,
    ),
}


def run_step(step, course, args):
    """Run `step` (not `all`) on `course`, with the options in `args` (parsed for that step
    or for `all`)."""
    STEPS[step].run(course, args)


def planned(args):
    """The steps the parsed `args` run, in order: its step; for `all`, those of PIPELINE
    (collect only with --from or --samples)."""
    if args.step != "all":
        return [args.step]
    return [step for step in PIPELINE if step != "collect" or args.source or args.samples]


def course_of(args):
    """The Course of the parsed `args`: the grading options only where the step has them."""
    grading = {}
    if "timeout" in args:
        grading = dict(
            timeout=args.timeout,
            memory_limit=int(args.memory_limit * 1024**3),
            run_all_cells=args.run_all_cells,
            sandbox=not args.no_sandbox,
        )
    return Course(Path(args.course), db_url=args.db_url, **grading)


def main(argv=None):
    """Run the steps of `argv` (default: the command line); the exit status."""
    args = parse_args(argv)
    course = course_of(args)
    for step in planned(args):
        try:
            run_step(step, course, args)
        except GraderError as error:
            print(f"{step}: {error}", file=sys.stderr)
            return 1
    return 0


# ------------------------------------------------------------------ the parser


def parse_args(argv=None):
    """The options of `argv` (default: the command line) for its step; an option the step
    does not take is a usage error (exit status 2) that names the steps taking it."""
    parser = _parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        steps = parser.steps
        hints = []
        for token in unknown:
            option = token.split("=", 1)[0]
            owners = [name for name, sub in steps.items() if option in sub._option_string_actions]
            if owners and option.startswith("--"):
                hints.append(f"{option} is an option of {', '.join(owners)}")
        steps[args.step].error(
            f"unrecognized arguments: {' '.join(unknown)}"
            + (f" ({'; '.join(hints)})" if hints else "")
        )
    return args


def _parser():
    """The parser: one subparser per row of STEPS (kept in its attribute `steps`)."""
    parser = argparse.ArgumentParser(
        prog="bnlab-grade" if Path(sys.argv[0]).name == "bnlab-grade" else "python -m autograder",
        description="Release, collect, grade, feed back and export the bnlab assignment "
        "(nbgrader). Each step takes only its own options: %(prog)s STEP --help.",
        epilog="The same tool is python -m autograder and bnlab-grade. Every step is safe to "
        "run again: it redoes only what changed. The instructor's guide: autograder/README.md.",
    )
    subparsers = parser.add_subparsers(dest="step", metavar="STEP", required=True, title="steps")
    parser.steps = {}
    for name, step in STEPS.items():
        sub = subparsers.add_parser(
            name, help=step.summary, description=step.summary[0].upper() + step.summary[1:] + "."
        )
        for group in step.options:
            OPTION_GROUPS[group](sub, name)
        parser.steps[name] = sub
    return parser


def _gibibytes(text):
    """--memory-limit: 0 (no limit) or a positive number of GiB."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (value >= 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError("0 (no limit) or more GiB")
    return value


# Each option group adds its options to the subparser of `step`; each option is defined
# once, in the group of the steps that take it.


def _course_options(parser, step):
    group = parser.add_argument_group("course and gradebook")
    group.add_argument(
        "--course",
        metavar="DIR",
        default=os.environ.get("BNLAB_COURSE", "course"),
        help="the course workspace (default: $BNLAB_COURSE, or course/ in the current folder)",
    )
    group.add_argument(
        "--db-url",
        metavar="URL",
        default=os.environ.get("BNLAB_DB_URL", ""),
        help="the gradebook, e.g. postgresql+psycopg2://user@host/db (default: "
        "$BNLAB_DB_URL, or SQLite in the workspace); pass the same one to every step",
    )


def _release_options(parser, step):
    group = parser.add_argument_group("release checks")
    group.add_argument(
        "--skip-checks",
        action="store_true",
        help="skip the release checks (leaks, validation, the student wheel alone): "
        "for a quick look only",
    )


def _collect_options(parser, step):
    group = parser.add_argument_group("collecting")
    group.add_argument(
        "--from", dest="source", metavar="PATH", help="collect from this folder or .zip"
    )
    group.add_argument(
        "--samples",
        action="store_true",
        help="generate the sample submissions and collect them",
    )
    group.add_argument(
        "--regexp",
        metavar="RE",
        help="file-name pattern of the submissions, with the named groups student_id and "
        "file_id (nbgrader's zip-collect)",
    )


# What --student and --workers do, in each step that takes them.
STUDENT_HELP = {
    "grade": "only this student (repeatable), regraded even if unchanged",
    "feedback": "only this student (repeatable), whose pages are written even if up to date",
    "all": "only this student (repeatable); grade regrades them even if unchanged",
}
WORKERS_HELP = {
    "grade": "this many submissions at a time (default 1)",
    "feedback": "this many students' pages at a time (default: one per core)",
    "all": "this many at a time (grade: default 1; feedback: default one per core)",
}


def _students_options(parser, step):
    group = parser.add_argument_group("students")
    group.add_argument("--student", metavar="ID", action="append", help=STUDENT_HELP[step])
    group.add_argument("--workers", metavar="N", type=int, default=None, help=WORKERS_HELP[step])


def _grade_options(parser, step):
    group = parser.add_argument_group("grading")
    group.add_argument(
        "--force", action="store_true", help="regrade everyone, even unchanged submissions"
    )
    group.add_argument(
        "--timeout",
        metavar="S",
        type=int,
        default=0,
        help=f"seconds a cell may run before it is stopped (default {CELL_TIMEOUT}; "
        f"{CELL_TIMEOUT_ALL_CELLS} with --run-all-cells)",
    )
    group.add_argument(
        "--memory-limit",
        metavar="GIB",
        type=_gibibytes,
        default=MEMORY_LIMIT / 1024**3,
        help=f"GiB of memory per grading kernel (default {MEMORY_LIMIT / 1024**3:g}; "
        "0: no limit; a limit needs prlimit, from util-linux)",
    )
    group.add_argument(
        "--run-all-cells",
        action="store_true",
        help="also run the notebooks' experiments that no graded code depends on",
    )
    group.add_argument(
        "--no-sandbox",
        action="store_true",
        help="run the grading kernels without the sandbox (bubblewrap); the summary "
        "then says the grades were produced UNSANDBOXED",
    )
    group.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=os.environ.get("BNLAB_SCHEDULER", ""),
        help="send the submissions to the workers of this Dask scheduler, e.g. "
        "tcp://10.0.0.5:8786 (default: $BNLAB_SCHEDULER, or grade on this machine)",
    )


PROGRESS_HELP = {
    "grade": "no progress bar",
    "feedback": "no progress bar",
    "all": "no progress bars (grade, feedback)",
}


def _progress_options(parser, step):
    group = parser.add_argument_group("output")
    group.add_argument("--no-progress", action="store_true", help=PROGRESS_HELP[step])


def _export_options(parser, step):
    group = parser.add_argument_group("grades into the LMS")
    group.add_argument(
        "--lms-map",
        metavar="FILE",
        help="a CSV file with the columns lms_id,nbgrader_id (optional: name, email): also "
        "write reports/canvas.csv and reports/moodle.csv, the files Canvas and Moodle import",
    )


def _roster_options(parser, step):
    group = parser.add_argument_group("roster")
    group.add_argument(
        "--from",
        dest="source",
        metavar="FILE",
        help="a CSV file with the header id,first_name,last_name,email (UTF-8); required",
    )


OPTION_GROUPS = {
    "course": _course_options,
    "release": _release_options,
    "collect": _collect_options,
    "students": _students_options,
    "grade": _grade_options,
    "progress": _progress_options,
    "export": _export_options,
    "roster": _roster_options,
}
