"""Grading throughput: full submissions (every notebook) graded per minute.

Builds throw-away courses (release, then N copies of the full-solution sample
under distinct student ids) and times each grader end to end, as an instructor
would see it (start-up, running the notebooks, gradebook writes), on a fresh
gradebook each time, side by side in one run:

- plain ``nbgrader autograde`` (nbgrader's own pipeline and a kernel per
  notebook, one notebook at a time, unsandboxed) on the same submissions;
- the grader of BASELINE_REV: a sandboxed Jupyter kernel per notebook and
  nbgrader's autograde per notebook in a scratch course per student
  (checked out in a git worktree);
- this grader: sandboxed, with 2 and 1 workers; with --no-sandbox; and on a
  Dask cluster of two local worker processes (``dask scheduler`` and two
  ``dask worker``) against the local pool of two.

Then the time of one submission, split by where it goes, for the baseline and
for this grader (cProfile, in-process), and a cohort of COHORT submissions (the
sample kinds, repeated) graded with 2 workers: its rate in each quarter of the
run (linear cost: the same rate throughout) and the grading process's resident
memory as it goes (flat: no per-student state kept).

    python -m bench.bench_grading [N [COHORT [RUN ...]]]

(RUN: some of RUN_NAMES, to measure those alone; COHORT 0: no cohort.)
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from autograder.grading.cluster import LocalCluster

ROOT = Path(__file__).resolve().parent.parent
BASELINE_REV = "9a48904"  # the last revision with a Jupyter kernel per notebook (seven notebooks)
TARGET_RATE = 60.0  # full submissions a minute on 2 cores, sandboxed
TARGET_DASK = 0.9  # the Dask path's rate over the local pool's, at least
SUBMISSIONS = 12
COHORT = 2000


def _env(code=ROOT):
    from autograder.workspace import headless_environ

    env = headless_environ()
    if code != ROOT:  # the baseline's code first
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


def _prepare(course, n, code, kinds=("solution",)):
    """Release into `course` and hand in `n` submissions (the sample `kinds` in turn), then
    build what a course's first grading run builds once (template, cases, venv)."""
    from autograder.content.samples import generate
    from bnlab.course import ASSIGNMENT

    _step("release", course, "--skip-checks", code=code)
    staging = course.parent / f"staging-{course.name}"
    generate(staging, code / "notebooks", course / "release" / ASSIGNMENT, list(kinds))
    for i in range(n):
        kind = kinds[i % len(kinds)]
        shutil.copytree(staging / kind, course / "submitted" / f"s{i:05d}-{kind}"[:60])
    # the revision compared may predate the pipeline package
    warm = (
        "import sys\n"
        "try:\n    from autograder.pipeline import grade\n"
        "except ImportError:\n    from autograder import grade\n"
        "from autograder.workspace import Course\n"
        "c = Course(sys.argv[1]); c.prepare(); c.apply_environ(); grade.template_gradebook(c)"
    )
    subprocess.run([sys.executable, "-c", warm, str(course)], cwd=code, env=_env(code), check=True)


def _worktree(folder, rev):
    tree = Path(folder) / f"code-{rev}"
    result = subprocess.run(
        ["git", "worktree", "add", "--detach", str(tree), rev], cwd=ROOT, capture_output=True
    )
    return tree if result.returncode == 0 else None


def _plain_nbgrader(course):
    """Plain `nbgrader autograde` of every submission in a copy of `course` (its source,
    submissions and gradebook; nbgrader's own configuration, a generous cell timeout)."""
    plain = course.parent / "plain"
    plain.mkdir()
    for name in ("source", "submitted"):
        shutil.copytree(course / name, plain / name)
    shutil.copy(course / "gradebook.db", plain / "gradebook.db")
    argv = [sys.executable, "-m", "nbgrader", "autograde", "batchnorm", "--force"]
    argv += ["--CourseDirectory.course_id=bnlab", "--Execute.timeout=120"]
    argv += [
        f"--CourseDirectory.root={plain}",
        f"--CourseDirectory.db_url=sqlite:///{plain}/gradebook.db",
    ]
    subprocess.run(argv, cwd=plain, env=_env(), check=True, capture_output=True)


def _timed(function, *args):
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


def measure_rates(n=SUBMISSIONS, only=None):
    """[(label, seconds or None)] of grading the same n submissions each way (only the runs
    named in `only`, RUN_NAMES, if given: the others are None), and the per-submission
    breakdowns {code: {part: seconds}}."""
    rows, breakdowns = [], {}
    chosen = [name in (only or RUN_NAMES) for name in RUN_NAMES]
    with tempfile.TemporaryDirectory(prefix="bnlab-bench-") as folder:
        folder = Path(folder)
        wanted = any(c and kind == "baseline" for c, (_, kind, _) in zip(chosen, RUNS))
        codes = {"this": ROOT, "baseline": _worktree(folder, BASELINE_REV) if wanted else None}
        templates = {}
        for kind, code in codes.items():
            if code is not None:
                templates[kind] = folder / f"template-{kind}" / "course"
                _prepare(templates[kind], n, code)
        cluster = None
        try:
            for index, (label, kind, how) in enumerate(RUNS):
                if kind not in templates or not chosen[index]:
                    rows.append((label, None))
                    continue
                course = folder / f"run-{index}" / "course"
                shutil.copytree(
                    templates[kind], course, ignore=shutil.ignore_patterns("student-venv")
                )
                if how == "dask" and cluster is None:
                    cluster = LocalCluster(folder / "cluster", env=_env())
                    warm = folder / "dask-warm-up" / "course"
                    shutil.copytree(
                        templates[kind], warm, ignore=shutil.ignore_patterns("student-venv")
                    )
                    _step("grade", warm, "--no-progress", "--scheduler", cluster.address)
                if how == "pages":  # graded first, untimed: the step timed is feedback
                    _step("grade", course, "--workers", 2, "--no-progress")
                rows.append((label, _timed(_grade, course, kind, how, codes, cluster)))
            for kind, template in templates.items():
                breakdowns[kind] = _breakdown(template, codes[kind])
        finally:
            if cluster is not None:
                cluster.close()
            if codes["baseline"] is not None:
                subprocess.run(
                    ["git", "worktree", "remove", "--force", str(codes["baseline"])],
                    cwd=ROOT,
                    capture_output=True,
                )
    return rows, breakdowns


RUNS = [  # (label, code, how)
    ("plain `nbgrader autograde` (one process, unsandboxed)", "this", "nbgrader"),
    (f"revision {BASELINE_REV}: a sandboxed kernel per notebook, 2 workers", "baseline", 2),
    ("this grader, sandboxed, 2 workers", "this", 2),
    ("this grader, sandboxed, 1 worker", "this", 1),
    ("this grader, --no-sandbox, 2 workers", "this", "no-sandbox"),
    ("this grader on Dask: 2 local worker processes", "this", "dask"),
    ("`feedback` (the pages of the same submissions, graded first), 2 workers", "this", "pages"),
]
# The runs' names on the command line (python -m bench.bench_grading N COHORT [NAME ...]).
RUN_NAMES = ("nbgrader", "baseline", "sandboxed", "one-worker", "no-sandbox", "dask", "feedback")
FEEDBACK = RUNS[-1][0]
TARGET_FEEDBACK = 1.0  # feedback's students a minute over grading's, at least


def _grade(course, kind, how, codes, cluster):
    if how == "nbgrader":
        return _plain_nbgrader(course)
    if how == "dask":
        return _step("grade", course, "--no-progress", "--scheduler", cluster.address)
    if how == "pages":
        return _step("feedback", course, "--workers", 2, "--no-progress")
    if how == "no-sandbox":
        return _step("grade", course, "--no-progress", "--workers", 2, "--no-sandbox")
    return _step("grade", course, "--workers", how, code=codes[kind])


# ------------------------------------------------------------------ one submission, profiled

_PROFILE_THIS = """
import cProfile, json, pstats, sys, time
from pathlib import Path
from autograder.pipeline import grade
from autograder.grading import submission
from autograder.workspace import Course
course = Course(Path(sys.argv[1])); course.prepare(); course.apply_environ()
student = sorted(course.students())[0]
context = grade._context(course, course.work / "profile", remote=False)
one = submission.Submission.read(student, course.submission(student))
started = time.perf_counter(); submission.worker_server(context); start = time.perf_counter() - started
submission.grade_submission(one, context)
profile = cProfile.Profile(); began = time.perf_counter(); profile.enable()
for _ in range(3):
    submission.grade_submission(one, context)
profile.disable(); total = (time.perf_counter() - began) / 3
stats = {f"{k[0]}:{k[2]}": v[3] / 3 for k, v in pstats.Stats(profile).stats.items()}
def cum(suffix):
    return sum(v for k, v in stats.items() if k.endswith(suffix))
run = cum("notebook_server.py:run"); decide = cum("verdicts.py:decide_notebook")
print(json.dumps({
    "starting a Python, a sandbox and the imports (once per worker, not per submission)": start,
    "forking a child per notebook and running its cells": run,
    "deciding the verdicts": decide,
    "reading, scanning, sanitizing, scoring and writing the notebooks": total - run - decide,
    "total": total,
}))
"""

_PROFILE_BASELINE = """
import cProfile, json, os, pstats, sys, time
from pathlib import Path
from autograder import grade
from autograder.workspace import Course
course = Course(Path(sys.argv[1])); course.prepare(); course.apply_environ()
grade._ensure_student_venv(course); course.write_kernelspec()
fonts = course.work / "mpl-cache"
if course.sandbox and not list(fonts.glob("fontlist-*.json")):
    grade.sandbox.prepare_matplotlib_cache(fonts, course.student_python)
os.environ["BNLAB_MPL_CACHE"] = str(fonts)
cases = grade.grading_cases(course); os.environ["BNLAB_GRADING_CASES"] = str(cases)
template = grade.template_gradebook(course); releases = grade.release_notebooks(course)
scratch = course.work / "profile"; scratch.mkdir(parents=True, exist_ok=True)
student = sorted(course.students())[0]
grade.grade_student(course, student, scratch, template, releases, cases)
profile = cProfile.Profile(); began = time.perf_counter(); profile.enable()
grade.grade_student(course, student, scratch, template, releases, cases)
profile.disable(); total = time.perf_counter() - began
stats = {f"{k[0]}:{k[2]}": v[3] for k, v in pstats.Stats(profile).stats.items()}
def cum(suffix):
    return sum(v for k, v in stats.items() if k.endswith(suffix))
start = cum("nbclient/client.py:setup_kernel")
cells = cum("nbconvert/preprocessors/execute.py:preprocess_cell")
decide = cum("verdicts.py:decide_notebook")
print(json.dumps({
    "starting a sandboxed kernel per notebook": start,
    "running the cells": cells,
    "deciding the verdicts": decide,
    "nbgrader's autograde around them (gradebooks, converters) and the rest": total - start - cells - decide,
    "total": total,
}))
"""


def _breakdown(course, code):
    """{part: seconds} of grading one submission of `course` with `code`, in-process."""
    import json

    script = _PROFILE_THIS if code == ROOT else _PROFILE_BASELINE
    result = subprocess.run(
        [sys.executable, "-c", script, str(course)],
        cwd=code,
        env=_env(code),
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        return {"(could not be profiled)": result.stderr[-300:]}
    return json.loads(result.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ a cohort


def measure_cohort(n=COHORT):
    """(seconds, [submissions a minute in each quarter of the run], [grading process's
    resident MiB at 10 %, 25 %, 50 %, 75 %, 100 % of the run], peak MiB) of grading n
    submissions of the sample kinds with 2 workers."""
    from autograder.content.samples import samples

    kinds = [sample.student for sample in samples() if sample.student not in ("loop",)]
    with tempfile.TemporaryDirectory(prefix="bnlab-cohort-") as folder:
        course = Path(folder) / "course"
        _prepare(course, n, ROOT, kinds)
        argv = [sys.executable, "-m", "autograder", "grade", "--course", str(course)]
        start = time.perf_counter()
        process = subprocess.Popen(
            [*argv, "--workers", "2", "--no-progress"],
            env=_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        samples_rss, reports = [], course / "reports" / "grade"
        while process.poll() is None:
            done = len(list(reports.glob("*.json"))) if reports.is_dir() else 0
            samples_rss.append((done, _rss_mib(process.pid)))
            time.sleep(2)
        seconds = time.perf_counter() - start
        times = sorted(path.stat().st_mtime for path in reports.glob("*.json"))
    quarters = []
    for q in range(4):
        part = times[q * len(times) // 4 : (q + 1) * len(times) // 4]
        quarters.append(len(part) / max(part[-1] - part[0], 1e-9) * 60 if len(part) > 1 else 0.0)
    memory = []
    for fraction in (0.1, 0.25, 0.5, 0.75, 0.95):
        at = [rss for done, rss in samples_rss if done >= fraction * n * 0.999 and rss]
        memory.append(at[0] if at else None)
    peak = max((rss for _, rss in samples_rss if rss), default=None)
    return seconds, quarters, memory, peak


def _rss_mib(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


# ------------------------------------------------------------------ the report


def report(rows, breakdowns, cohort, n=SUBMISSIONS, cohort_n=COHORT):
    """The markdown section."""
    rate = {label: (n / seconds * 60 if seconds else None) for label, seconds in rows}
    lines = [
        "## Grading throughput",
        "",
        f"{n} full submissions (every notebook; copies of the full-solution sample), graded on"
        f" a fresh gradebook each way, side by side in one run on {os.cpu_count()} cores:"
        " wall-clock time of the whole step, start-up included (what a course builds once per"
        " release -- template, cases, student venv -- is built beforehand; the Dask workers"
        " grade a warm-up course first, as a cluster that stays up would have).",
        "",
        "| grader | seconds | submissions per minute |",
        "|---|--:|--:|",
    ]
    for label, seconds in rows:
        cells = ("n/a", "n/a") if seconds is None else (f"{seconds:.1f}", f"{rate[label]:.1f}")
        lines.append(f"| {label} | {cells[0]} | {cells[1]} |")
    lines += ["", *_verdicts(rate), "", *_breakdown_lines(breakdowns)]
    lines += ["", *_cohort_lines(cohort, cohort_n)]
    return "\n".join(lines) + "\n"


def _verdicts(rate):
    plain, sandboxed = rate[RUNS[0][0]], rate[RUNS[2][0]]
    baseline, dask = rate[RUNS[1][0]], rate[RUNS[5][0]]
    lines = []
    if sandboxed:
        met = "met" if sandboxed >= TARGET_RATE else "NOT met"
        lines.append(
            f"- sandboxed, 2 workers: {sandboxed:.1f} submissions a minute; target at least"
            f" {TARGET_RATE:g}: {met}"
        )
    if plain and sandboxed:
        lines.append(
            f"- {sandboxed / plain:.1f}x plain `nbgrader autograde` on the same submissions"
        )
    if baseline and sandboxed:
        lines.append(f"- {sandboxed / baseline:.1f}x the grader of revision {BASELINE_REV}")
    if dask and rate[RUNS[2][0]]:
        ratio = dask / rate[RUNS[2][0]]
        met = "met" if ratio >= TARGET_DASK else "NOT met"
        lines.append(
            f"- Dask with two local worker processes: {ratio:.2f}x the local pool of two;"
            f" aim at least {TARGET_DASK:g}x: {met}"
        )
    if rate[FEEDBACK] and sandboxed:
        ratio = rate[FEEDBACK] / sandboxed
        met = "met" if ratio >= TARGET_FEEDBACK else "NOT met"
        lines.append(
            f"- `feedback`: {rate[FEEDBACK]:.1f} students a minute (seven pages each),"
            f" {ratio:.2f}x grading's rate with 2 workers; aim at least {TARGET_FEEDBACK:g}x:"
            f" {met}"
        )
    return lines


def _breakdown_lines(breakdowns):
    lines = ["Where the time of one submission goes (cProfile, in-process, seconds):", ""]
    for kind, parts in breakdowns.items():
        title = "this grader" if kind == "this" else f"revision {BASELINE_REV}"
        lines.append(f"- {title}:")
        for part, seconds in parts.items():
            value = f"{seconds:.2f} s" if isinstance(seconds, float) else seconds
            lines.append(f"  - {part}: {value}")
    return lines


def _cohort_lines(cohort, n):
    if cohort is None:
        return ["The cohort was not measured."]
    seconds, quarters, memory, peak = cohort
    fmt = ", ".join(f"{q:.0f}" for q in quarters)
    mem = ", ".join("n/a" if m is None else f"{m:.0f}" for m in memory)
    return [
        f"A cohort of {n} submissions (the sample kinds in turn, but the never-ending loop),"
        f" graded with 2 workers, sandboxed: {seconds:.0f} s, {n / seconds * 60:.1f}"
        " submissions a minute.",
        "",
        f"- submissions a minute in each quarter of the run: {fmt} (linear: the same rate"
        " throughout)",
        f"- the grading process's resident memory at 10, 25, 50, 75 and 95 % of the run:"
        f" {mem} MiB; peak {peak:.0f} MiB (flat: nothing of a graded student is kept)",
    ]


def run():
    """Measure and return the markdown section."""
    rows, breakdowns = measure_rates()
    return report(rows, breakdowns, measure_cohort())


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else SUBMISSIONS
    cohort = int(sys.argv[2]) if len(sys.argv) > 2 else COHORT
    only = sys.argv[3:] or None  # some of RUN_NAMES: those runs alone, the others n/a
    unknown = sorted(set(only or ()) - set(RUN_NAMES))
    if unknown:
        sys.exit(f"unknown runs {unknown}; the runs: {', '.join(RUN_NAMES)}")
    rows, breakdowns = measure_rates(count, only)
    print(report(rows, breakdowns, measure_cohort(cohort) if cohort else None, count, cohort))
