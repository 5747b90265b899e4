"""Find solution or hidden-test code where students could read it.

What counts as a leak, in any text a student receives (release notebooks and
files beside them, every file of a student distribution):
- a line of a graded function's reference body (``autograder.content.reference``), or a
  distinctive line of the hidden tests (``autograder.content.hidden_tests``);
- nbgrader's solution or hidden-test delimiters;
- what only the self-study release may hold: a line of the model answer of a
  written question (the solution region of its markdown cell in the source
  notebooks), or the file of encoded reference solutions
  (``bnlab.selfstudy.SOLUTIONS_FILE``, known by its first line, under any name);
- an import of the instructor-only package, or one of its files: by its path,
  or by its content under any name (see ``autograder.boundary``).

A reference line is compared whitespace-insensitively, as a whole line of
code, so indentation or a changed variable spacing does not hide it. Lines
too generic to tell anything (``return parameters``, ``L = len(caches)``) are
not searched for; each searched line is specific to the solution.
"""

import ast
import inspect
import io
import json
import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from autograder import boundary
from autograder.pipeline import selfstudy
from bnlab import selfstudy as student_selfstudy
from bnlab.course import GRADED_FUNCTIONS

DELIMITERS = (*boundary.SOLUTION_DELIMITERS, *boundary.HIDDEN_TEST_DELIMITERS)
MIN_LINE_LENGTH = 12
# Lines too generic to give a solution away: returns (the docstring lists what is
# returned), loop headers, reading a shape, seeding a generator, empty containers.
GENERIC = re.compile(
    r"^(return\b.*|for\b.*:|\w+\s*=\s*\w+\.shape\[\d\]|\w+\s*=\s*np\.random\.default_rng\(\w+\)"
    r"|[\w, ]+=\s*[\[\]{}(), ]*|\w+\s*=\s*(len|int|float)\(.*\)(\s*-\s*1)?|pass|else:|try:)$"
)
# Reference lines that public helpers contain on purpose (the training loop
# counts layers and applies activations the same way); they give nothing away.
SHARED_WITH_PUBLIC = {
    'L = sum(1 for key in parameters if key.startswith("W"))',
    "A = activation_forward(Z_tilde, activation)",
}
# A hidden-test line is searched for when it is this long and not a comment,
# import, signature or string: shorter lines are too common to tell anything.
MIN_HIDDEN_LINE_LENGTH = 30
# A line of a model answer is searched for when it is this long (the answers are prose).
MIN_ANSWER_LINE_LENGTH = 40
TEXT_SUFFIXES = {".py", ".ipynb", ".md", ".txt", ".json", ".cfg", ".toml", ".html", ".csv", ""}


@dataclass(frozen=True)
class Leak:
    where: str  # file (and member) where it was found
    what: str  # what leaked, in plain words

    def __str__(self):
        return f"{self.where}: {self.what}"


def _normal(line):
    return re.sub(r"\s+", "", line)


def reference_lines():
    """{normalized line: (function, original line)} of the graded functions' reference bodies.

    A line that a graded function's docstring also shows (a formula, students
    see it on purpose) is not searched for.
    """
    from autograder.content import reference

    found, visible = {}, set()
    for name in GRADED_FUNCTIONS:
        doc = inspect.getdoc(getattr(reference, name, None)) or ""
        visible.update(_normal(line) for line in doc.splitlines())
    for name in GRADED_FUNCTIONS:
        function = getattr(reference, name, None)
        if function is None:
            continue
        source = inspect.getsource(function)
        tree = ast.parse(source).body[0]
        body = tree.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            body = body[1:]  # the docstring is visible to students on purpose
        if not body:
            continue
        lines = source.splitlines()[body[0].lineno - 1 :]
        for line in lines:
            code = line.split("#", 1)[0].strip() if "#" in line else line.strip()
            if len(code) < MIN_LINE_LENGTH or GENERIC.match(code) or code in SHARED_WITH_PUBLIC:
                continue
            if _normal(code) not in visible:
                found.setdefault(_normal(code), (name, code))
    return found


def hidden_test_lines():
    """{normalized line: (where, original line)} of the hidden tests' distinctive code lines:
    those that no student writes or sees in a notebook (not in the reference solutions nor
    the source notebooks), long enough to tell something, outside docstrings and comments."""
    from autograder.content import hidden_tests, reference

    shared = [inspect.getsource(reference)]
    shared += [
        p.read_text(encoding="utf-8") for p in sorted(boundary.source_notebooks().glob("*.ipynb"))
    ]
    shared = "\n".join(shared)
    found = {}
    for path in sorted(Path(hidden_tests.__file__).parent.glob("*.py")):
        source = path.read_text(encoding="utf-8")
        docstrings = set()
        for node in ast.walk(ast.parse(source)):
            body = getattr(node, "body", None)
            if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
                value = body[0].value
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    docstrings.update(range(body[0].lineno, body[0].end_lineno + 1))
        where = (
            f"the hidden tests ({path.relative_to(boundary.instructor_root().parent).as_posix()})"
        )
        for number, line in enumerate(source.splitlines(), 1):
            text = line.strip()
            if (
                number not in docstrings
                and len(text) >= MIN_HIDDEN_LINE_LENGTH
                and not text.startswith(("#", "import ", "from ", "def ", "__all__", '"', "'"))
                and text not in shared
                and json.dumps(text)[1:-1] not in shared
            ):
                found.setdefault(_normal(text), (where, text))
    return found


def model_answer_lines():
    """{normalized line: (whose, original line)} of the model answers of the written
    questions: the lines of the solution regions of the source notebooks' markdown solution
    cells, long enough to tell something."""
    found = {}
    for path in sorted(boundary.source_notebooks().glob("*.ipynb")):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if cell["cell_type"] != "markdown" or not meta.get("solution"):
                continue
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            _, regions = selfstudy.strip_regions(source, boundary.SOLUTION_DELIMITERS)
            for line in "\n".join(regions).splitlines():
                if len(line.strip()) >= MIN_ANSWER_LINE_LENGTH:
                    whose = f"the model answer of {meta['grade_id']}"
                    found.setdefault(_normal(line), (whose, line.strip()[:60] + "..."))
    return found


def solution_lines():
    """{normalized line: (whose, original line)}: every line a student must never receive."""
    lines = {
        key: (f"the solution of {name}", code) for key, (name, code) in reference_lines().items()
    }
    lines.update(hidden_test_lines())
    lines.update(model_answer_lines())
    return lines


def solutions_file(data):
    """The reference bodies in `data` when it is a self-study solutions file (any name),
    else None."""
    if not data.startswith(student_selfstudy.MAGIC.encode("utf-8")):
        return None
    try:
        return student_selfstudy.decode(data.decode("utf-8"))
    except (ValueError, zlib.error):  # damaged, but still that file
        return {}


def instructor_file(path, data):
    """Why the file at `path` (inside a folder or an archive) with content `data` is
    instructor-only, or None: it lies in the instructor package, or it is a copy of one
    of its modules under another name."""
    if boundary.INSTRUCTOR_PATH_RE.search(path):
        return f"is a file of the instructor-only package {boundary.INSTRUCTOR_PACKAGE}"
    for relative, original in boundary.instructor_files().items():
        if len(original) >= 64 and data.strip() == original.strip():
            return f"is a copy of the instructor-only {boundary.INSTRUCTOR_PACKAGE}/{relative}"
    return None


def scan_text(text, where, lines=None):
    """Leaks in one text. `lines`: solution_lines(), computed once per scan."""
    lines = solution_lines() if lines is None else lines
    leaks = []
    for delimiter in DELIMITERS:
        if delimiter in text:
            leaks.append(Leak(where, f"contains the nbgrader delimiter {delimiter!r}"))
    for match in boundary.INSTRUCTOR_IMPORT_RE.finditer(text):
        leaks.append(
            Leak(where, f"refers to the instructor-only package: {match.group(0).strip()!r}")
        )
    seen = set()
    for raw in text.splitlines():
        key = _normal(raw.split("#", 1)[0]) if "#" in raw else _normal(raw)
        if key in lines and key not in seen:
            seen.add(key)
            whose, code = lines[key]
            leaks.append(Leak(where, f"contains a line of {whose}: {code!r}"))
    return leaks


def scan_file(name, data, lines=None, where=None):
    """Leaks in one file: its path in the folder or archive, and its bytes."""
    where = where or name
    leaks = []
    why = instructor_file(name, data)
    if why:
        leaks.append(Leak(where, why))
    bodies = solutions_file(data)
    if bodies is not None:
        what = "is the self-study release's file of encoded reference solutions"
        leaks.append(Leak(where, f"{what} ({len(bodies)} functions)"))
        return leaks + scan_text("\n".join(bodies.values()), where, lines)
    return leaks + scan_text(_readable(where, data), where, lines)


def _notebook_text(raw):
    """The sources and outputs of a notebook's cells, one after the other (JSON-unescaped)."""
    try:
        notebook = json.loads(raw)
    except ValueError:
        return raw
    parts = []
    for cell in notebook.get("cells", []):
        source = cell.get("source", "")
        parts.append("".join(source) if isinstance(source, list) else source)
        for output in cell.get("outputs", []):
            text = output.get("text") or output.get("data", {}).get("text/plain", "")
            parts.append("".join(text) if isinstance(text, list) else str(text))
            parts.extend(output.get("traceback", []))
    return "\n".join(parts)


def _readable(name, data):
    suffix = Path(name).suffix
    if suffix == ".ipynb":
        return _notebook_text(data.decode("utf-8", "replace"))
    if suffix == ".npz":
        return _npz_text(data)
    if suffix in TEXT_SUFFIXES or b"\0" not in data[:4096]:
        return data.decode("utf-8", "replace")
    return ""


def _npz_text(data):
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return "\n".join(
                archive.read(member).decode("latin-1") for member in archive.namelist()
            )
    except zipfile.BadZipFile:
        return data.decode("latin-1")


def scan_folder(folder, lines=None):
    """Leaks in every file under `folder` (a release folder). `lines`: solution_lines()."""
    folder = Path(folder)
    lines = solution_lines() if lines is None else lines
    leaks = []
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            leaks += scan_file(path.relative_to(folder).as_posix(), path.read_bytes(), lines)
    return leaks


def archive_members(path):
    """{member name: bytes} of a wheel (zip) or an sdist (.tar.gz)."""
    path = Path(path)
    if path.name.endswith((".tar.gz", ".tgz")):
        import tarfile

        with tarfile.open(path) as archive:
            return {
                member.name: archive.extractfile(member).read()
                for member in archive.getmembers()
                if member.isfile()
            }
    with zipfile.ZipFile(path) as archive:
        return {member: archive.read(member) for member in archive.namelist()}


def scan_student_distribution(path, lines=None):
    """Leaks in a student distribution (wheel or sdist): every member is scanned, and a wheel
    holds nothing but the student package and its metadata. `lines`: solution_lines()."""
    lines = solution_lines() if lines is None else lines
    leaks = []
    wheel = Path(path).suffix == ".whl"
    student = boundary.STUDENT_PACKAGE
    for member, data in archive_members(path).items():
        where = f"{Path(path).name}:{member}"
        top = member.split("/", 1)[0]
        if (
            wheel
            and top != student
            and not (top.startswith(f"{student}-") and top.endswith(".dist-info"))
        ):
            leaks.append(Leak(where, f"is not part of the student package {student}"))
        if member.endswith("RECORD"):
            continue  # lists file names only; the files themselves are scanned
        leaks += scan_file(member, data, lines, where)
    return leaks
