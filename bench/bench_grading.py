"""Grading throughput: full submissions (all six notebooks) graded per minute.

Builds throw-away courses (release, then N copies of the full-solution sample
under distinct student ids) and times ``python -m autograder grade`` end to
end -- worker and kernel start-up, notebook execution and gradebook writes
included, as an instructor would see it -- on a fresh gradebook each time,
side by side in one run:

- the grader of BASELINE_REV, the last revision before grading was sandboxed
  (hidden tests inside an unsandboxed kernel), checked out in a git worktree;
- this grader, sandboxed (the default);
- this grader with --no-sandbox (verdicts outside the kernel, no sandbox);

with 2 workers each, and this grader sandboxed with 1 worker. The grading
template that a course's first grading run builds once (per release) is built
before the clock starts. Target: the sandboxed grader at least 0.8 times the
baseline's rate.

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
BASELINE_REV = "3558dce"  # the last revision whose hidden tests ran inside the kernel
TARGET_RATIO = 0.8
SUBMISSIONS = 8


def _env(code=ROOT):
    from autograder.workspace import headless_environ

    env = headless_environ()
    if code != ROOT:  # the baseline's code first, in the grader and in its kernels
        env["PYTHONPATH"] = str(code)
    return env


def _step(step, course, *args, code=ROOT):
    argv = [sys.executable, "-m", "autograder", step, "--course", str(course), *map(str, args)]
    result = subprocess.run(argv, cwd=code, env=_env(code), capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(
            f"`autograder {step}` exited {result.returncode}: {result.stderr[-2000:]}"
        )
    return result


def _warm_up(course, code):
    """Build the grading template that a course's first grading run builds once, so that
    the timed runs measure the rate at which submissions are graded."""
    script = (
        "import sys; from autograder.grade import template_gradebook;"
        "from autograder.workspace import Course;"
        "c = Course(sys.argv[1]); c.prepare(); c.apply_environ(); template_gradebook(c)"
    )
    subprocess.run(
        [sys.executable, "-c", script, str(course)], cwd=code, env=_env(code), check=True
    )


def _prepare(course, n, code):
    from autograder.samples import generate
    from bnlab.course import ASSIGNMENT

    _step("release", course, code=code)
    _warm_up(course, code)
    staging = course.parent / f"staging-{course.name}"
    generate(staging, code / "notebooks", course / "release" / ASSIGNMENT, ["solution"])
    for i in range(1, n + 1):
        shutil.copytree(staging / "solution", course / "submitted" / f"bench-{i:02d}")


def _baseline_code(folder):
    """A worktree of BASELINE_REV, or None where git or the revision is not there."""
    tree = Path(folder) / "baseline-code"
    result = subprocess.run(
        ["git", "worktree", "add", "--detach", str(tree), BASELINE_REV],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    return tree if result.returncode == 0 else None


RUNS = [  # (label, code: "baseline" or "this", grade options)
    ("baseline: hidden tests in the kernel, no sandbox", "baseline", ["--workers", 2]),
    ("sandboxed, verdicts outside (default)", "this", ["--workers", 2]),
    ("--no-sandbox, verdicts outside", "this", ["--workers", 2, "--no-sandbox"]),
    ("sandboxed, 1 worker", "this", ["--workers", 1]),
]


def measure(n=SUBMISSIONS):
    """{label: (seconds, submissions per minute) or None} for each of RUNS."""
    results = {}
    with tempfile.TemporaryDirectory(prefix="bnlab-bench-") as folder:
        codes = {"this": ROOT, "baseline": _baseline_code(folder)}
        try:
            for kind, code in codes.items():
                if code is not None:
                    _prepare(Path(folder) / f"template-{kind}", n, code)
            for index, (label, kind, options) in enumerate(RUNS):
                code = codes[kind]
                if code is None:
                    results[label] = None
                    continue
                course = Path(folder) / f"run-{index}"
                template = Path(folder) / f"template-{kind}"
                shutil.copytree(template, course, ignore=shutil.ignore_patterns("student-venv"))
                start = time.perf_counter()
                _step("grade", course, *options, code=code)
                seconds = time.perf_counter() - start
                results[label] = (seconds, n / seconds * 60)
        finally:
            if codes["baseline"] is not None:
                subprocess.run(
                    ["git", "worktree", "remove", "--force", str(codes["baseline"])],
                    cwd=ROOT,
                    capture_output=True,
                )
    return results


def report(results, n=SUBMISSIONS):
    """The markdown section for the numbers in `results`."""
    lines = [
        "## Grading throughput",
        "",
        f"{n} full submissions (all six notebooks each, copies of the full-solution sample),"
        " graded by `python -m autograder grade` on a fresh gradebook: wall-clock time of the"
        " whole step, worker start-up included; the grading template a course builds once is"
        f" built beforehand. All runs side by side in one run, on {os.cpu_count()} cores. The"
        f" baseline is revision {BASELINE_REV}, the last whose hidden tests ran inside an"
        " unsandboxed kernel.",
        "",
        "| grader | seconds | submissions per minute |",
        "|---|--:|--:|",
    ]
    for label, value in results.items():
        cells = ("n/a", "n/a") if value is None else (f"{value[0]:.1f}", f"{value[1]:.1f}")
        lines.append(f"| {label} | {cells[0]} | {cells[1]} |")
    baseline, sandboxed = results[RUNS[0][0]], results[RUNS[1][0]]
    lines.append("")
    if baseline and sandboxed:
        ratio = sandboxed[1] / baseline[1]
        verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
        lines.append(
            f"- sandboxed: {ratio:.2f}x the baseline's rate with 2 workers; target at least"
            f" {TARGET_RATIO:g}x: {verdict}"
        )
    else:
        lines.append("- the baseline revision could not be checked out: no ratio measured")
    return "\n".join(lines) + "\n"


def run():
    """Measure and return the markdown section."""
    return report(measure())


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else SUBMISSIONS
    print(report(measure(count), count))
