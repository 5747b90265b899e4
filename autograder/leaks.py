"""Find solution or hidden-test code where students could read it.

What counts as a leak, in any text a student receives (release notebooks and
files beside them, every file of the student wheel):
- a line of a graded function's reference body (from ``bnlab.reference``);
- nbgrader's solution or hidden-test delimiters;
- an import of, or a file of, a grader-only module (reference, grading,
  mistakes, fixtures, sync, demo, the autograder).

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
from dataclasses import dataclass
from pathlib import Path

from bnlab.course import GRADED_FUNCTIONS

DELIMITERS = (
    "### BEGIN SOLUTION",
    "### END SOLUTION",
    "### BEGIN HIDDEN TESTS",
    "### END HIDDEN TESTS",
)
GRADER_MODULES = ("reference", "grading", "mistakes", "fixtures", "sync", "demo")
# Files of the package that must not be in the student wheel.
GRADER_FILES = (
    "bnlab/reference.py",
    "bnlab/sync.py",
    "bnlab/demo.py",
    "bnlab/grading/",
    "bnlab/mistakes/",
    "bnlab/fixtures/",
    "autograder/",
)
IMPORT_RE = re.compile(
    r"(from\s+bnlab\s+import\s+[^\n]*\b(" + "|".join(GRADER_MODULES) + r")\b"
    r"|\bbnlab\.(" + "|".join(GRADER_MODULES) + r")\b"
    r"|^\s*(from|import)\s+autograder\b)",
    re.MULTILINE,
)
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
    from bnlab import reference

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


def scan_text(text, where, lines=None):
    """Leaks in one text."""
    lines = reference_lines() if lines is None else lines
    leaks = []
    for delimiter in DELIMITERS:
        if delimiter in text:
            leaks.append(Leak(where, f"contains the nbgrader delimiter {delimiter!r}"))
    for match in IMPORT_RE.finditer(text):
        leaks.append(Leak(where, f"refers to a grader-only module: {match.group(0).strip()!r}"))
    seen = set()
    for raw in text.splitlines():
        key = _normal(raw.split("#", 1)[0]) if "#" in raw else _normal(raw)
        if key in lines and key not in seen:
            seen.add(key)
            function, code = lines[key]
            leaks.append(Leak(where, f"contains a line of the solution of {function}: {code!r}"))
    return leaks


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


def scan_folder(folder):
    """Leaks in every file under `folder` (a release folder)."""
    folder = Path(folder)
    lines = reference_lines()
    leaks = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        relative = path.relative_to(folder).as_posix()
        if _is_grader_file(relative) or path.stem in GRADER_MODULES and path.suffix == ".py":
            leaks.append(Leak(relative, "is a grader-only file"))
        leaks += scan_text(_readable(path.name, path.read_bytes()), relative, lines)
    return leaks


def _is_grader_file(relative):
    return any(
        relative == prefix or relative.startswith(prefix)
        if prefix.endswith("/")
        else relative == prefix
        for prefix in GRADER_FILES
    )


def scan_wheel(wheel):
    """Leaks in a wheel: grader-only files, and leaks in the text of every member."""
    lines = reference_lines()
    leaks = []
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.namelist():
            where = f"{Path(wheel).name}:{member}"
            if _is_grader_file(member):
                leaks.append(Leak(where, "is a grader-only module"))
            if member.endswith("RECORD"):
                continue  # lists file names only; the files themselves are scanned
            leaks += scan_text(_readable(member, archive.read(member)), where, lines)
    return leaks
