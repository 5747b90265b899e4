"""The instructor's pipeline: python -m autograder {release,collect,grade,feedback,export,all},
and the class roster: python -m autograder roster --from FILE.

Also installed as the console script ``bnlab-grade``. Each step is a subcommand that
accepts only the options it uses (``python -m autograder grade --help``), and is safe
to run twice. See autograder/README.md for the instructor's guide.
"""

import argparse
import math
import os
import sys
from pathlib import Path

from autograder.workspace import CELL_TIMEOUT, CELL_TIMEOUT_ALL_CELLS, MEMORY_LIMIT, Course

STEPS = ("release", "collect", "grade", "feedback", "export", "all", "roster")
PIPELINE = ("release", "collect", "grade", "feedback", "export")  # the steps of `all`, in order


def _gibibytes(text):
    """--memory-limit: 0 (no limit) or a positive number of GiB."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (value >= 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError("0 (no limit) or more GiB")
    return value


def _course_options():
    parser = argparse.ArgumentParser(add_help=False)
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
    return parser


def _release_options():
    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("release checks")
    group.add_argument(
        "--skip-checks",
        action="store_true",
        help="skip the release checks (leaks, validation, the student wheel alone): "
        "for a quick look only",
    )
    return parser


def _collect_options():
    parser = argparse.ArgumentParser(add_help=False)
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
    return parser


def _students_options():
    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("students")
    group.add_argument(
        "--student",
        metavar="ID",
        action="append",
        help="only this student (repeatable); grade regrades them even if unchanged",
    )
    group.add_argument(
        "--workers",
        metavar="N",
        type=int,
        default=None,
        help="this many submissions at a time (grade: default 1; feedback: default one per core)",
    )
    return parser


def _grade_options():
    parser = argparse.ArgumentParser(add_help=False)
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
    group.add_argument("--no-progress", action="store_true", help="no progress bar")
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
    return parser


def _export_options():
    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("grades into the LMS")
    group.add_argument(
        "--lms-map",
        metavar="FILE",
        help="a CSV file with the columns lms_id,nbgrader_id (optional: name, email): also "
        "write reports/canvas.csv and reports/moodle.csv, the files Canvas and Moodle import",
    )
    return parser


def _roster_options():
    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("roster")
    group.add_argument(
        "--from",
        dest="source",
        metavar="FILE",
        help="a CSV file with the header id,first_name,last_name,email (UTF-8); required",
    )
    return parser


def _parents():
    """{name: parent parser}: each option defined once, shared by the steps that use it."""
    return {
        "course": _course_options(),
        "release": _release_options(),
        "collect": _collect_options(),
        "students": _students_options(),
        "grade": _grade_options(),
        "export": _export_options(),
        "roster": _roster_options(),
    }


# Each step's options (besides --help), as the names of the parent parsers above.
OPTIONS = {
    "release": ("course", "release"),
    "collect": ("course", "collect"),
    "grade": ("course", "students", "grade"),
    "feedback": ("course", "students"),
    "export": ("course", "export"),
    "all": ("course", "release", "collect", "students", "grade"),
    "roster": ("course", "roster"),
}

SUMMARIES = {
    "release": "build what students receive (the release and the student wheel), and check it",
    "collect": "copy the submissions into the workspace (a folder or .zip; nbgrader or LMS layout)",
    "grade": "autograde the submissions (only new or changed ones, unless --force)",
    "feedback": "write the HTML feedback of the graded students whose pages are missing or "
    "out of date (of the --student ones: always)",
    "export": "refresh the feedback of students whose grades changed (e.g. graded by hand in "
    "formgrader), write grades.csv, breakdown.csv and flags.csv (with --lms-map also "
    "canvas.csv and moodle.csv), and print the summary table",
    "all": "every step in turn (collect only with --from or --samples)",
    "roster": "add or update the students' names and emails in the gradebook, from a CSV file",
}


def _parser():
    parser = argparse.ArgumentParser(
        prog="bnlab-grade" if Path(sys.argv[0]).name == "bnlab-grade" else "python -m autograder",
        description="Release, collect, grade, feed back and export the bnlab assignment "
        "(nbgrader). Each step takes only its own options: %(prog)s STEP --help.",
        epilog="The same tool is python -m autograder and bnlab-grade. Every step is safe to "
        "run again: it redoes only what changed. The instructor's guide: autograder/README.md.",
    )
    subparsers = parser.add_subparsers(dest="step", metavar="STEP", required=True, title="steps")
    parents = _parents()
    parser.steps = {
        step: subparsers.add_parser(
            step,
            parents=[parents[name] for name in OPTIONS[step]],
            help=SUMMARIES[step],
            description=SUMMARIES[step][0].upper() + SUMMARIES[step][1:] + ".",
        )
        for step in STEPS
    }
    return parser


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


def run_step(step, course, args):
    """Run `step` on `course`, with the options in `args` (parsed for that step or `all`)."""
    from autograder.pipeline import collect, export, feedback, release, roster

    if step == "release":
        release.release(course, checks=not args.skip_checks)
        print(
            "release: done; the release checks passed" if not args.skip_checks else "release: done"
        )
    elif step == "collect":
        collect.collect(course, source=args.source, samples=args.samples, regexp=args.regexp)
    elif step == "grade":
        _grade(course, args)
    elif step == "feedback":
        feedback.feedback(course, students=args.student, workers=args.workers or os.cpu_count())
    elif step == "export":
        export.export(course, lms_map=getattr(args, "lms_map", None), refresh_feedback=True)
    elif step == "roster":
        if not args.source:
            raise ValueError("roster needs --from FILE, a CSV file of the students")
        roster.load_roster(course, args.source)


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
    args = parse_args(argv)
    course = course_of(args)
    steps = list(PIPELINE) if args.step == "all" else [args.step]
    if args.step == "all" and not (args.source or args.samples):
        steps.remove("collect")
    from autograder.pipeline.collect import collect as _unused  # noqa: F401  (fail early on import errors)
    from autograder.pipeline.feedback import FeedbackError
    from autograder.pipeline.grade import GradeError
    from autograder.pipeline.release import ReleaseError

    for step in steps:
        try:
            run_step(step, course, args)
        except (ReleaseError, GradeError, FeedbackError, FileNotFoundError, ValueError) as error:
            print(f"{step}: {error}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
