"""Grading throughput: full submissions (all six notebooks) graded per minute, 1 and 2 workers.

Builds a throw-away course (release, then N copies of the full-solution sample
under distinct student ids), and times ``python -m autograder grade`` end to
end -- worker and kernel start-up, notebook execution and gradebook writes
included, as an instructor would see it -- once with --workers 1 and once with
--workers 2, each on a fresh gradebook. The grading template that a course's
first grading run builds once (per release) is built before the clock starts. Targets on a 2-core machine: at least 10 submissions per
minute with one worker, and two workers at least 1.7 times as fast as one.

    python -m bench.bench_grading [N]
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_PER_MINUTE = 10.0
TARGET_SPEEDUP = 1.7
SUBMISSIONS = 8


def _env():
    from autograder.workspace import headless_environ

    return headless_environ()


def _step(step, course, *args):
    argv = [sys.executable, "-m", "autograder", step, "--course", str(course), *map(str, args)]
    result = subprocess.run(argv, cwd=ROOT, env=_env(), capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(
            f"`autograder {step}` exited {result.returncode}: {result.stderr[-2000:]}"
        )
    return result


def _warm_up(course):
    """Build the grading template that a course's first grading run builds once, so that
    the timed runs measure the rate at which submissions are graded."""
    try:
        from autograder.grade import template_gradebook
        from autograder.workspace import Course
    except ImportError:
        return
    os.environ["PATH"] = _env()["PATH"]  # nbgrader shells out to alembic
    instance = Course(course)
    instance.prepare()
    instance.apply_environ()
    template_gradebook(instance)


def _prepare(course, n):
    from autograder.samples import generate
    from bnlab.course import ASSIGNMENT

    _step("release", course)
    _warm_up(course)
    staging = course.parent / "staging"
    generate(staging, ROOT / "notebooks", course / "release" / ASSIGNMENT, ["solution"])
    submitted = course / "submitted"
    for i in range(1, n + 1):
        shutil.copytree(staging / "solution", submitted / f"bench-{i:02d}")
    return [f"bench-{i:02d}" for i in range(1, n + 1)]


def measure(n=SUBMISSIONS):
    """{workers: (seconds, submissions per minute)} for 1 and 2 workers, on n full submissions."""
    results = {}
    with tempfile.TemporaryDirectory(prefix="bnlab-bench-") as folder:
        template = Path(folder) / "template"
        template.mkdir()
        _prepare(template, n)
        for workers in (1, 2):
            course = Path(folder) / f"workers-{workers}"  # released, nothing graded yet
            shutil.copytree(template, course, ignore=shutil.ignore_patterns("student-venv"))
            start = time.perf_counter()
            _step("grade", course, "--workers", workers)
            seconds = time.perf_counter() - start
            results[workers] = (seconds, n / seconds * 60)
    return results


def report(results, n=SUBMISSIONS):
    """The markdown section for the numbers in `results`."""
    one, two = results[1][1], results[2][1]
    speedup = two / one
    met_rate = one >= TARGET_PER_MINUTE
    met_speedup = speedup >= TARGET_SPEEDUP
    lines = [
        "## Grading throughput",
        "",
        f"{n} full submissions (all six notebooks each, copies of the full-solution sample), graded"
        " by `python -m autograder grade` on a fresh gradebook: wall-clock time of the whole step,"
        " worker start-up included; the grading template a course builds once is built beforehand.",
        "",
        "| workers | seconds | submissions per minute |",
        "|---|---|---|",
        *(f"| {w} | {results[w][0]:.1f} | {results[w][1]:.1f} |" for w in (1, 2)),
        "",
        f"- one worker: {one:.1f} per minute; target at least {TARGET_PER_MINUTE:g}: "
        f"{'met' if met_rate else 'NOT met'}",
        f"- two workers: {speedup:.2f}x one worker; target at least {TARGET_SPEEDUP:g}x: "
        f"{'met' if met_speedup else 'NOT met'} ({os.cpu_count()} cores here)",
    ]
    return "\n".join(lines) + "\n"


def run():
    """Measure and return the markdown section."""
    return report(measure())


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else SUBMISSIONS
    print(report(measure(count), count))
