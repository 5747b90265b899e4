"""The instructor's pipeline: python -m autograder {release,collect,grade,feedback,export,all}.

Also installed as the console script ``bnlab-grade``. Each step is safe to run
twice. See autograder/README.md for the instructor's guide.
"""

import argparse
import os
import sys
from pathlib import Path

from autograder.workspace import CELL_TIMEOUT, CELL_TIMEOUT_ALL_CELLS, MEMORY_LIMIT, Course

STEPS = ("release", "collect", "grade", "feedback", "export", "all")


def _parser():
    parser = argparse.ArgumentParser(
        prog="python -m autograder",
        description="Release, collect, grade, feed back and export the bnlab assignment (nbgrader).",
    )
    parser.add_argument("step", choices=STEPS, help="the pipeline step to run (all: every step)")
    parser.add_argument(
        "--course",
        default=os.environ.get("BNLAB_COURSE", "course"),
        help="the course workspace (default: $BNLAB_COURSE, or course/ in the current folder)",
    )
    parser.add_argument(
        "--db-url",
        default=os.environ.get("BNLAB_DB_URL", ""),
        help="gradebook URL, e.g. postgresql+psycopg2://user@host/db (default: SQLite in the workspace)",
    )
    parser.add_argument("--student", action="append", help="only this student (repeatable)")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="grade (and feedback) this many submissions in parallel (grade: default 1; feedback: default one per core)",
    )
    parser.add_argument("--force", action="store_true", help="grade again even if unchanged")
    parser.add_argument("--from", dest="source", help="collect from this folder or zip")
    parser.add_argument(
        "--samples", action="store_true", help="collect the generated sample submissions"
    )
    parser.add_argument(
        "--regexp",
        help="collect: file-name pattern with named groups student_id and file_id (zip-collect)",
    )
    parser.add_argument(
        "--timeout",
        type=int,
        default=0,
        help=f"grade: seconds per cell before it is stopped (default {CELL_TIMEOUT}; "
        f"{CELL_TIMEOUT_ALL_CELLS} with --run-all-cells)",
    )
    parser.add_argument(
        "--memory-limit",
        type=float,
        default=MEMORY_LIMIT / 1024**3,
        help=f"grade: GiB of memory per grading kernel (default {MEMORY_LIMIT / 1024**3:g}; "
        "0: no limit; a limit needs prlimit, from util-linux)",
    )
    parser.add_argument(
        "--run-all-cells",
        action="store_true",
        help="grade: also run the notebooks' experiments that no graded code depends on",
    )
    parser.add_argument(
        "--skip-checks", action="store_true", help="release: skip the release checks (not advised)"
    )
    parser.add_argument("--no-progress", action="store_true", help="grade: no progress bar")
    parser.add_argument(
        "--no-sandbox",
        action="store_true",
        help="grade: run the grading kernels without the sandbox (bubblewrap); the summary "
        "then says the grades were produced UNSANDBOXED",
    )
    return parser


def run_step(step, course, args):
    from autograder import collect, export, feedback, grade, release

    if step == "release":
        release.release(course, checks=not args.skip_checks)
        print(
            "release: done; the release checks passed" if not args.skip_checks else "release: done"
        )
    elif step == "collect":
        collect.collect(course, source=args.source, samples=args.samples, regexp=args.regexp)
    elif step == "grade":
        grade.grade(
            course,
            students=args.student,
            workers=args.workers or 1,
            force=args.force,
            progress=not args.no_progress,
        )
    elif step == "feedback":
        feedback.feedback(course, students=args.student, workers=args.workers or os.cpu_count())
    elif step == "export":
        export.export(course)


def main(argv=None):
    parser = _parser()
    args = parser.parse_args(argv)
    if args.memory_limit < 0:
        parser.error("--memory-limit: 0 (no limit) or more GiB")
    course = Course(
        Path(args.course),
        db_url=args.db_url,
        timeout=args.timeout,
        memory_limit=int(args.memory_limit * 1024**3),
        run_all_cells=args.run_all_cells,
        sandbox=not args.no_sandbox,
    )
    steps = (
        ["release", "collect", "grade", "feedback", "export"] if args.step == "all" else [args.step]
    )
    if args.step == "all" and not (args.source or args.samples):
        steps.remove("collect")
    from autograder.collect import collect as _unused  # noqa: F401  (fail early on import errors)
    from autograder.feedback import FeedbackError
    from autograder.grade import GradeError
    from autograder.release import ReleaseError

    for step in steps:
        try:
            run_step(step, course, args)
        except (ReleaseError, GradeError, FeedbackError, FileNotFoundError, ValueError) as error:
            print(f"{step}: {error}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
