"""Review flags: student code that tries to reach or bend the grading, for a person to read.

The hidden tests do not run beside the student's code: the notebook runs in a
child of the grader's fork server, its hidden test cells only record what the
functions return, and the verdicts are decided outside that process
(autograder.grading.verdicts). So code that imports the reference solutions or
the hidden tests, replaces attributes of numpy, bnlab or the builtins
(``np.allclose = lambda *a: True``), or reaches into other frames cannot make a
wrong function pass; but it is what an attempt to fake a pass looks like, and in
the student's own runs it can change what the visible checks say. Such code is
not graded differently -- it is flagged, with the line, for a human to look at.

The scan reads the code cells a student wrote or changed (cells identical to the
release are skipped) with Python's ast, as IPython runs them (magics become
calls: ``bnlab.cells.python_source``); a cell that does not parse is searched
as text for the grader-only module names.
"""

import ast
import re
from dataclasses import dataclass
from functools import lru_cache

from autograder import boundary
from bnlab.cells import python_source

PROTECTED_MODULES = ("numpy", "bnlab", "builtins", "sys", "importlib")
PROTECTED_NAMES = {"np", "numpy", "bnlab", "builtins", "__builtins__"}
FRAME_ATTRIBUTES = {"f_globals", "f_locals", "f_back", "_getframe", "gi_frame", "tb_frame"}
# Text that names the instructor-only package, searched in cells that do not parse.
TEXT_RE = re.compile(rf"\b{boundary.INSTRUCTOR_PACKAGE}\b")
# Code nested deeper than Python's parser (or this scan) goes cannot be read for flags;
# a person must read it.
DEEP = "code nested too deeply for the grader to read: read it by hand"


@dataclass(frozen=True)
class Flag:
    notebook: str
    cell: str  # grade_id of the cell, or "cell <index>"
    line: int
    reason: str
    code: str

    def __str__(self):
        return f"{self.notebook} {self.cell}, line {self.line}: {self.reason}: {self.code}"

    def as_dict(self):
        return {
            "notebook": self.notebook,
            "cell": self.cell,
            "line": self.line,
            "reason": self.reason,
            "code": self.code,
        }


def _root_name(node):
    """The name at the root of an attribute/subscript chain (np in np.linalg.norm), or None."""
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    if isinstance(node, ast.Call):
        return _root_name(node.func)
    return node.id if isinstance(node, ast.Name) else None


def _strings(node):
    return [
        n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    ]


class _Scanner(ast.NodeVisitor):
    def __init__(self):
        self.found = []  # (line, reason)
        self.protected = set(PROTECTED_NAMES)

    def flag(self, node, reason):
        self.found.append((getattr(node, "lineno", 0), reason))

    # imports -----------------------------------------------------------
    def visit_Import(self, node):
        for alias in node.names:
            if boundary.is_instructor_module(alias.name):
                self.flag(node, f"imports the grader-only module {alias.name}")
            if alias.name.split(".")[0] in PROTECTED_MODULES:
                self.protected.add((alias.asname or alias.name).split(".")[0])
        self.generic_visit(node)

    def visit_ImportFrom(self, node):
        module = node.module or ""
        if boundary.is_instructor_module(module):
            self.flag(node, f"imports from the grader-only module {module}")
        if module.split(".")[0] in PROTECTED_MODULES:
            for alias in node.names:
                self.protected.add(alias.asname or alias.name)
        self.generic_visit(node)

    def visit_Call(self, node):
        name = (
            node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        )
        if name in (
            "__import__",
            "import_module",
            "spec_from_file_location",
            "run_module",
            "exec_module",
        ):
            first = node.args[0] if node.args else None
            if any(_mentions_instructor(s) for s in _strings(node)):
                self.flag(node, "imports a grader-only module dynamically")
            elif first is not None and not isinstance(first, ast.Constant):
                self.flag(node, f"imports a module whose name is computed ({name})")
        if name in ("setattr", "delattr") and node.args:
            root = _root_name(node.args[0])
            if root in self.protected:
                self.flag(node, f"changes an attribute of {root} with {name}()")
        if name in ("_getframe", "currentframe", "stack", "getouterframes", "get_referrers"):
            self.flag(node, f"inspects the caller's frames ({name})")
        self.generic_visit(node)

    # assignments -------------------------------------------------------
    def _target(self, target, node):
        if isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self._target(element, node)
            return
        if isinstance(target, ast.Starred):
            self._target(target.value, node)
            return
        if isinstance(target, (ast.Attribute, ast.Subscript)):
            root = _root_name(target)
            if root in self.protected:
                self.flag(node, f"assigns to an attribute of {root}")
            elif root == "sys" or (root and "modules" in ast.unparse(target)):
                self.flag(node, "replaces a module in sys.modules")
            elif isinstance(target, ast.Subscript) and _root_name(target.value) in (
                "vars",
                "globals",
            ):
                if any(s in ("__builtins__",) for s in _strings(target)):
                    self.flag(node, "replaces the builtins")

    def visit_Assign(self, node):
        for target in node.targets:
            self._target(target, node)
        self.generic_visit(node)

    def visit_AugAssign(self, node):
        self._target(node.target, node)
        self.generic_visit(node)

    def visit_AnnAssign(self, node):
        self._target(node.target, node)
        self.generic_visit(node)

    def visit_Delete(self, node):
        for target in node.targets:
            self._target(target, node)
        self.generic_visit(node)

    def visit_Attribute(self, node):
        if node.attr in FRAME_ATTRIBUTES:
            self.flag(node, f"reaches into other frames ({node.attr})")
        if node.attr == "__dict__" and _root_name(node) in self.protected:
            self.flag(node, f"reaches into {_root_name(node)}.__dict__")
        self.generic_visit(node)


def _mentions_instructor(text):
    """Whether a string names the instructor-only package, or one of its files by a path
    that no student file has (``reference.py``, ``hidden_tests/forward_bn.py``)."""
    if TEXT_RE.search(text):
        return True
    student = boundary.student_files()
    return any(
        relative in text for relative in boundary.instructor_files() if relative not in student
    )


def scan_source(source):
    """[(line, reason)] of suspicious code in one cell's source."""
    return list(_scan(source))


@lru_cache(maxsize=4096)  # the same solutions come back, student after student
def _scan(source):
    code = python_source(source)
    try:
        tree = ast.parse(code)
        scanner = _Scanner()
        scanner.visit(tree)
    except (RecursionError, MemoryError):  # nested deeper than the parser or the scan go
        return ((1, DEEP),)
    except (SyntaxError, ValueError):  # ValueError: a null byte
        return tuple(
            (
                code.count("\n", 0, match.start()) + 1,
                f"mentions a grader-only module: {match.group(0)}",
            )
            for match in TEXT_RE.finditer(code)
        )
    return tuple(sorted(set(scanner.found)))


def scan_notebook(notebook, name, release_sources=None):
    """Flags of one notebook (an nbformat node). `release_sources`: {grade_id: source} of
    the release's cells; cells left exactly as released are not scanned."""
    release_sources = release_sources or {}
    flags = []
    for index, cell in enumerate(notebook.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id and release_sources.get(grade_id) == source:
            continue
        where = grade_id or f"cell {index + 1}"
        lines = source.splitlines()
        for line, reason in scan_source(source):
            code = lines[line - 1].strip() if 0 < line <= len(lines) else ""
            flags.append(Flag(name, where, line, reason, code[:120]))
    return flags
