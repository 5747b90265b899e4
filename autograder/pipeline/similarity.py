"""Step `similarity`: pairs of students whose solution cells are unusually alike.

Authorship is what grading cannot check: this step gives the instructor the pairs of
students who share unusually much code, with the code side by side; the instructor
decides, and nothing is penalized. It reads, for every student in submitted/, the code
cells of their notebooks whose grade_id is a solution cell of the release (not the
checks, the tests, the experiments or the cells they added), and compares them with the
engine of autograder.pipeline.fingerprints: normalized tokens (renaming, re-commenting
or reformatting hides nothing), the release's own code taken out (the stubs, signatures
and docstrings every student is given are no evidence), and fingerprints that many
students share discounted (the obvious code half the class writes alike makes no pair).

reports/similarity.html  the pairs, most shared code first, each with the two students'
                         cells side by side and the shared parts marked; one file, read
                         offline: no script, nothing fetched, every student text escaped
                         (autograder.pipeline.similarity_page)
reports/similarity.csv   one row per pair: rank, the students, the distinctive
                         fingerprints they share and each holds, the score (shared over
                         the smaller), the functions where the shared code is (for the
                         pairs shown in the page); no cell is a formula
                         (autograder.grading.inert.csv_row)

A notebook is read as collect reads one (its size and cell count within
autograder.archive's limits, JSON with a list of cells) and never run; one that cannot
be read, and a student whose code is longer than fingerprints.MAX_TOKENS tokens (read
that far), are named under "Notes" in the page. Only the students of the pairs shown
are read a second time, to mark their code: the step's memory holds one set of
fingerprints per student.
"""

import csv
import io
import json
from dataclasses import dataclass, field

from autograder import archive
from autograder.errors import GraderError
from autograder.grading.inert import csv_row, printable
from autograder.pipeline import fingerprints, similarity_page
from autograder.pipeline.fingerprints import Cell, Hasher
from autograder.workspace import write_atomic
from bnlab.course import NOTEBOOKS

HTML_NAME, CSV_NAME = "similarity.html", "similarity.csv"
CSV_COLUMNS = [
    "rank",
    "student_a",
    "student_b",
    "shared",
    "distinctive_a",
    "distinctive_b",
    "score",
    "functions",
]
SHOWN = 100  # pairs shown side by side in the page (the CSV lists every pair)


class SimilarityError(GraderError):
    """Nothing to compare with: the course has no release yet."""


@dataclass
class Student:
    """One student's solution cells (Cell, in notebook order) and what was said of them."""

    id: str
    cells: list = field(default_factory=list)
    notes: list = field(default_factory=list)


@dataclass
class Release:
    """The release: {notebook: grade_ids of its solution cells}, and its code."""

    solutions: dict
    code: list


def _grade_id(cell):
    metadata = cell.get("metadata") if isinstance(cell, dict) else None
    nbgrader = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    grade_id = nbgrader.get("grade_id") if isinstance(nbgrader, dict) else None
    return grade_id if isinstance(grade_id, str) else None


def _source(cell):
    source = cell.get("source")
    if isinstance(source, list) and all(isinstance(part, str) for part in source):
        return "".join(source)
    return source if isinstance(source, str) else ""


def code_cells(data):
    """[(grade_id or None, source)] of the code cells of a notebook's bytes `data`; raises
    ValueError, saying why, when they are not a notebook within archive's limits."""
    if len(data) > archive.NOTEBOOK_BYTES:
        raise ValueError(f"over the limit of {archive.NOTEBOOK_BYTES >> 20} MiB")
    try:
        notebook = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ValueError("not a valid notebook (invalid JSON)") from None
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells, list):
        raise ValueError("not a valid notebook (no list of cells)")
    if len(cells) > archive.NOTEBOOK_CELLS:
        raise ValueError(f"{len(cells)} cells, over the limit of {archive.NOTEBOOK_CELLS}")
    return [
        (_grade_id(cell), _source(cell))
        for cell in cells
        if isinstance(cell, dict) and cell.get("cell_type") == "code"
    ]


def read_release(course):
    """The Release of `course`; SimilarityError without one."""
    solutions, code = {}, []
    for stem in NOTEBOOKS:
        path = course.release / f"{stem}.ipynb"
        try:
            notebook = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise SimilarityError(
                f"no release notebook {stem}.ipynb to compare with: run `python -m autograder "
                "release` first"
            ) from None
        solutions[stem] = [
            _grade_id(cell)
            for cell in notebook["cells"]
            if cell.get("cell_type") == "code"
            and cell.get("metadata", {}).get("nbgrader", {}).get("solution")
        ]
        code += [_source(cell) for cell in notebook["cells"] if cell.get("cell_type") == "code"]
    return Release(solutions, code)


def read_student(course, student, release):
    """The Student `student` of `course`: their solution cells, tokenized (at most
    fingerprints.MAX_TOKENS tokens in all), and notes on what could not be read."""
    found = Student(student)
    left = fingerprints.MAX_TOKENS
    for stem, wanted in release.solutions.items():
        path = course.submission(student) / f"{stem}.ipynb"
        if not path.is_file():
            continue  # not handed in: grading says so
        try:
            with open(path, "rb") as handle:
                cells = code_cells(handle.read(archive.NOTEBOOK_BYTES + 1))
        except (OSError, ValueError) as error:
            found.notes.append(f"{stem}.ipynb was not compared: {error}")
            continue
        for grade_id, source in cells:
            if grade_id not in wanted:
                continue
            cell = Cell(grade_id, source, fingerprints.tokens(source, left))
            left -= len(cell.tokens)
            found.cells.append(cell)
            if left <= 0:
                found.notes.append(
                    f"only the first {fingerprints.MAX_TOKENS} tokens of the code were compared"
                )
                return found
    return found


@dataclass
class Shown:
    """A pair shown side by side: its two Students, the marks of each (fingerprints.marks)
    and the names of the cells where their shared code is."""

    pair: fingerprints.Pair
    a: Student
    marks_a: dict
    b: Student
    marks_b: dict

    @property
    def functions(self):
        names = []
        for student, marks in ((self.a, self.marks_a), (self.b, self.marks_b)):
            for index in sorted(marks):
                if student.cells[index].name not in names:
                    names.append(student.cells[index].name)
        return names


@dataclass
class Finding:
    """What the step found: the pairs (fingerprints.Pair, best first), how many students
    were compared, the notes ({student: [note]}) and the first pairs as Shown."""

    pairs: list
    students: int
    notes: dict
    shown: list = field(default_factory=list)


def compare(course, shown=None):
    """The Finding of `course`'s submissions (read, never run); the first `shown` pairs
    (default SHOWN) are read again and marked, to be shown side by side."""
    shown = SHOWN if shown is None else shown
    release = read_release(course)
    hasher = Hasher()
    given = fingerprints.given_kgrams(release.code, hasher)
    prints, notes = {}, {}
    for student in course.students():
        read = read_student(course, student, release)
        prints[student] = {h for cell in read.cells for h, _ in cell.fingerprints(hasher, given)}
        if read.notes:
            notes[student] = read.notes
    pairs, common = fingerprints.similar_pairs(prints)
    finding = Finding(pairs, len(prints), notes)
    for pair in pairs[:shown]:
        wanted = (prints[pair.a] & prints[pair.b]) - common
        a, b = (read_student(course, student, release) for student in (pair.a, pair.b))
        marks_a, marks_b = (fingerprints.marks(s.cells, hasher, wanted) for s in (a, b))
        finding.shown.append(Shown(pair, a, marks_a, b, marks_b))
    return finding


def csv_text(finding):
    """reports/similarity.csv: one row per pair, every cell through inert.csv_row."""
    functions = {(s.pair.a, s.pair.b): " ".join(s.functions) for s in finding.shown}
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for rank, pair in enumerate(finding.pairs, 1):
        row = {
            "rank": rank,
            "student_a": pair.a,
            "student_b": pair.b,
            "shared": pair.shared,
            "distinctive_a": pair.distinctive_a,
            "distinctive_b": pair.distinctive_b,
            "score": f"{pair.score:.2f}",
            "functions": functions.get((pair.a, pair.b), ""),
        }
        writer.writerow(csv_row(row))
    return out.getvalue()


def similarity(course, log=print):
    """Compare the submissions of `course`; write reports/similarity.html and .csv, and say
    what was found. Returns the Finding."""
    finding = compare(course)
    write_atomic(course.reports / CSV_NAME, csv_text(finding))
    write_atomic(course.reports / HTML_NAME, similarity_page.page(finding))
    log(
        f"similarity: {len(finding.pairs)} pair(s) of students share unusually much code, of "
        f"{finding.students} student(s) compared: {course.reports / HTML_NAME} (side by side), "
        f"{CSV_NAME}"
    )
    for rank, pair in enumerate(finding.pairs[:10], 1):
        log(f"  {rank}. {printable(pair.a)} and {printable(pair.b)}: score {pair.score:.2f}")
    return finding
