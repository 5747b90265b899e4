"""Similarity: the `similarity` step on a class of COHORT synthetic students.

A throw-away course is released (without its checks), and COHORT students are made
from the sample submissions: each hands in all seven notebooks of the full solution,
in which every graded function is, independently, the reference (30 %), one of the
classic mistakes or correct variants of that function (20 %, chosen evenly), or the
reference with a line of the student's own before its first `return` (50 %: calls of
three numpy functions joined by two operators, drawn from pools of 30 and 4, so that
a student has some ten lines that few others wrote, and parts of lines are shared by
many students by chance, the case the common-fingerprint discount and the index must handle). Every cell starts with a comment naming its student, so no two
students hand in the same text. COPIES of the students are copied by another student:
the same code, with comments added and the spacing around `=` changed.

The step runs as an instructor runs it (`python -m autograder similarity`, its
own process): the wall-clock time, the peak resident memory, how many planted copies it
reports and how many other pairs. Then, in this process, the same comparison split
into its phases: reading and fingerprinting every student, and the inverted index
that finds the pairs.

    python -m bench.bench_similarity [N]
"""

import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COHORT = 2000
COPIES = 20
TARGET_SECONDS = 300  # the whole step for COHORT students on 2 cores, at most
SHARES = (0.3, 0.2, 0.5)  # reference, a mistake or variant, a line of one's own
CALLS = tuple(
    "mean sum max min abs sqrt exp square tanh ravel log log1p cos sin prod std var cumsum "
    "argmax argmin round sign floor ceil diff sort transpose squeeze atleast_2d negative".split()
)
OPERATORS = ("+", "-", "*", "/")


def _env():
    from autograder.workspace import headless_environ

    return headless_environ()


def _release(course):
    argv = [sys.executable, "-m", "autograder", "release", "--course", str(course)]
    subprocess.run([*argv, "--skip-checks"], cwd=ROOT, env=_env(), check=True, capture_output=True)


def variants(solution):
    """{function: [cell sources]}: the solution's cell first, then one per classic mistake
    and correct variant of that function."""
    from autograder.content.mistakes import all_correct_variants, all_mistakes

    found = {name: [source] for name, source in solution.items()}
    for edit in [*all_mistakes(), *all_correct_variants()]:
        found[edit.function].append(f"# GRADED FUNCTION: {edit.function}\n{edit.source()}")
    return found


def own_line(source, rng):
    """`source` with a line of the student's own before its first `return`."""
    lines = source.splitlines()
    at = next((i for i, line in enumerate(lines) if line.strip().startswith("return ")), None)
    if at is None:
        return source
    indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
    a, b, c = (rng.choice(CALLS) for _ in range(3))
    first, second = rng.choice(OPERATORS), rng.choice(OPERATORS)
    line = f"{indent}_ = np.{a}(np.{b}(0.5) {first} np.{c}(2.0) {second} 3)"
    return "\n".join([*lines[:at], line, *lines[at:]])


def synthetic_class(solution, n=COHORT, copies=COPIES, seed=0):
    """[(student, {function: cell source})], and the planted pairs [(original, copy)]."""
    rng = random.Random(seed)
    pools = variants(solution)
    students = []
    for number in range(n - copies):
        cells = {}
        for function, pool in pools.items():
            draw = rng.random()
            if draw < SHARES[0]:
                source = pool[0]
            elif draw < SHARES[0] + SHARES[1] and len(pool) > 1:
                source = rng.choice(pool[1:])
            else:
                source = own_line(pool[0], rng)
            cells[function] = source
        students.append((f"s{number:04d}", cells))
    planted = []
    for number, (original, cells) in enumerate(rng.sample(students, copies)):
        disguised = {
            f: s.replace(" = ", "=").replace("\n", "  # mine\n", 3) for f, s in cells.items()
        }
        students.append((f"c{number:04d}", disguised))
        planted.append((original, f"c{number:04d}"))
    return [(s, {f: f"# {s}\n{c}" for f, c in cells.items()}) for s, cells in students], planted


def write_class(course, students):
    """Each student's seven notebooks in course/submitted/: the release's, with every
    solution cell holding the student's source."""
    import json

    from bnlab.course import ASSIGNMENT, NOTEBOOKS

    release = {
        s: json.loads((course / "release" / ASSIGNMENT / f"{s}.ipynb").read_text())
        for s in NOTEBOOKS
    }
    for student, cells in students:
        folder = course / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        for stem, notebook in release.items():
            for cell in notebook["cells"]:
                grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id")
                if grade_id in cells:
                    cell["source"] = cells[grade_id]
            (folder / f"{stem}.ipynb").write_text(json.dumps(notebook), encoding="utf-8")


def solution_cells(course, folder):
    """{function: the full-solution sample's cell source}."""
    import nbformat

    from autograder.content.samples import generate
    from bnlab.course import ASSIGNMENT, GRADED_FUNCTIONS, NOTEBOOKS

    generate(folder, ROOT / "notebooks", course / "release" / ASSIGNMENT, ["solution"])
    found = {}
    for stem in NOTEBOOKS:
        notebook = nbformat.read(folder / "solution" / ASSIGNMENT / f"{stem}.ipynb", as_version=4)
        for cell in notebook.cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if grade_id in GRADED_FUNCTIONS and cell.cell_type == "code":
                found[grade_id] = cell.source
    return found


def measure(n=COHORT, copies=COPIES):
    """The figures of the step on a synthetic class of n students (a dict)."""
    import csv

    from autograder.pipeline import fingerprints, similarity
    from autograder.workspace import Course

    with tempfile.TemporaryDirectory(prefix="bnlab-similarity-") as folder:
        course = Path(folder) / "course"
        _release(course)
        students, planted = synthetic_class(
            solution_cells(course, Path(folder) / "inbox"), n, copies
        )
        write_class(course, students)
        size = sum(p.stat().st_size for p in (course / "submitted").rglob("*.ipynb"))
        argv = [sys.executable, "-m", "autograder", "similarity", "--course", str(course)]
        start = time.perf_counter()
        subprocess.run(argv, cwd=ROOT, env=_env(), check=True, capture_output=True)
        seconds = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        with open(course / "reports" / "similarity.csv", newline="", encoding="utf-8") as handle:
            found = {(row["student_a"], row["student_b"]) for row in csv.DictReader(handle)}
        planted = {tuple(sorted(pair)) for pair in planted}
        # the phases, in this process
        course = Course(course)
        start = time.perf_counter()
        release = similarity.read_release(course)
        hasher = fingerprints.Hasher()
        given = fingerprints.given_kgrams(release.code, hasher)
        prints = {}
        for student in course.students():
            read = similarity.read_student(course, student, release)
            prints[student] = {h for c in read.cells for h, _ in c.fingerprints(hasher, given)}
        reading = time.perf_counter() - start
        start = time.perf_counter()
        pairs, common = fingerprints.similar_pairs(prints, min_shared=1)
        index = time.perf_counter() - start
        # a copy can be found when what was copied is distinctive: not what many wrote
        findable = {
            pair
            for pair in planted
            if len((prints[pair[0]] & prints[pair[1]]) - common) >= fingerprints.MIN_SHARED
        }
    return {
        "n": n,
        "megabytes": size / 1e6,
        "seconds": seconds,
        "peak": peak,
        "planted": len(planted),
        "planted_found": len(planted & found),
        "findable": len(findable),
        "findable_found": len(findable & found),
        "others": len(found - planted),
        "reading": reading,
        "index": index,
        "fingerprints": sum(len(p) for p in prints.values()) / len(prints),
        "common": len(common),
        "candidates": len(pairs),
        "all_pairs": n * (n - 1) // 2,
    }


def report(r):
    from autograder.pipeline import fingerprints

    met = "met" if r["seconds"] <= TARGET_SECONDS else "NOT met"
    return (
        "\n".join(
            [
                "## Similar submissions",
                "",
                f"The `similarity` step on {r['n']} synthetic students ({r['megabytes']:.0f} MB of"
                " notebooks; how they are made: `bench/bench_similarity.py`), run as"
                " `python -m autograder similarity` in its own process.",
                "",
                "| figure | value |",
                "|---|--:|",
                f"| wall-clock seconds, the whole step | {r['seconds']:.1f} |",
                f"| peak resident memory (MiB) | {r['peak']:.0f} |",
                f"| planted copies reported | {r['planted_found']} of {r['planted']} |",
                f"| ... of those that share {fingerprints.MIN_SHARED} distinctive fingerprints"
                f" | {r['findable_found']} of {r['findable']} |",
                f"| other pairs reported | {r['others']} |",
                f"| reading and fingerprinting every student (s) | {r['reading']:.1f} |",
                f"| the inverted index, all pairs found (s) | {r['index']:.2f} |",
                f"| fingerprints per student, on average | {r['fingerprints']:.0f} |",
                f"| common fingerprints (discounted) | {r['common']} |",
                f"| pairs sharing any distinctive fingerprint | {r['candidates']} of"
                f" {r['all_pairs']} |",
                "",
                f"- the whole step in at most {TARGET_SECONDS} s for {r['n']} students: {met}",
            ]
        )
        + "\n"
    )


def run():
    """Measure and return the markdown section."""
    return report(measure())


if __name__ == "__main__":
    print(report(measure(int(sys.argv[1]) if len(sys.argv) > 1 else COHORT)))
