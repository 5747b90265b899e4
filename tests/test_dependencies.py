"""What the project needs is declared, in the right place, and environment.yml agrees.

- Every top-level module the code imports (or runs with ``python -m``) is the
  standard library's, the project's own, or declared: bnlab/ only from the student
  package's dependencies (bnlab/pyproject.toml: students install nothing else),
  autograder/ also from the instructor's (INSTRUCTOR_DEPENDENCIES in
  hatch_build.py), bench/ and tests/ also from the extras of pyproject.toml.
- environment.yml (conda-forge, for conda and Binder) lists every declared package
  with the same version bound, under conda-forge's name, and nothing the project
  does not declare (but python and jupyterlab).
- Grading never goes on silently without its memory limit: without prlimit it
  stops and names the fix, unless --memory-limit 0 asks for no limit, which the
  grading log and the summary then say.
"""

import ast
import json
import re
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from autograder import sandbox
from autograder.grading.notebook_server import NotebookServer
from autograder.pipeline import export
from autograder.workspace import Course, MemoryLimitError, headless_environ
from bnlab.course import NOTEBOOKS

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: hatchling depends on tomli there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "bnlab-instructor"

# Import names whose distribution is named otherwise (the others are their own).
IMPORT_NAMES = {
    "sklearn": "scikit-learn",
    "IPython": "ipython",
    "yaml": "PyYAML",
    "psycopg2": "psycopg2-binary",
    "ipykernel_launcher": "ipykernel",
    "bs4": "beautifulsoup4",
    "xdist": "pytest-xdist",
}
# Imported, deliberately not declared.
NOT_DECLARED = {
    "torch": "installed by `make torch` from a local wheel; its tests and benchmarks skip without it",
    "tomli": "tomllib of Python 3.10, where hatchling depends on it",
}
# conda-forge's names of the distributions whose name differs there.
CONDA_NAMES = {"psycopg2-binary": "psycopg2", "build": "python-build"}
# In environment.yml, not declared by the project.
CONDA_ONLY = {
    "python": "the interpreter",
    "jupyterlab": "the interface Binder opens; pip users get it with jupyter",
}
# Which dependencies each folder's code may use, and where a missing one is declared.
SCOPES = {
    "bnlab": ("student", "the dependencies of bnlab/pyproject.toml"),
    "autograder": ("instructor", "INSTRUCTOR_DEPENDENCIES in hatch_build.py"),
    "bench": ("dev", "the dev extra of pyproject.toml"),
    "tests": ("dev", "the dev extra of pyproject.toml"),
    "hatch_build.py": ("build", "[build-system] requires of pyproject.toml"),
}


def canonical(name):
    """A distribution's name as PyPI compares them (PEP 503): lower case, runs of -_. as -."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse(requirement):
    """(canonical name, extras, version bound) of a requirement such as 'name[extra]>=1.0'."""
    match = re.fullmatch(
        r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?\s*([^;]*?)\s*", requirement
    )
    assert match, f"cannot read the requirement {requirement!r}"
    name, extras, bound = match.groups()
    return canonical(name), {e.strip() for e in (extras or "").split(",") if e.strip()}, bound


def _toml(path):
    return tomllib.loads(path.read_text(encoding="utf-8"))


def student_dependencies():
    return _toml(ROOT / "bnlab" / "pyproject.toml")["project"]["dependencies"]


def instructor_dependencies():
    """INSTRUCTOR_DEPENDENCIES of hatch_build.py, read without running it."""
    tree = ast.parse((ROOT / "hatch_build.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "INSTRUCTOR_DEPENDENCIES"
            for target in node.targets
        ):
            return ast.literal_eval(node.value)
    raise AssertionError("hatch_build.py has no INSTRUCTOR_DEPENDENCIES")


def extra_dependencies():
    """The requirements of every extra of pyproject.toml, the project's own extras expanded."""
    extras = _toml(ROOT / "pyproject.toml")["project"].get("optional-dependencies", {})
    found = []
    for requirements in extras.values():
        for requirement in requirements:
            name, _, _ = parse(requirement)
            if name != PROJECT:  # bnlab-instructor[postgres]: its requirements are listed too
                found.append(requirement)
    return found


# Extras whose packages the instructor's code imports only when a feature asks for it
# (and then says which extra to install when it is missing).
INSTRUCTOR_EXTRAS = {"dask": "grade --scheduler imports distributed only then"}


def declared(scope):
    """{canonical name: version bound} of what code of `scope` may use."""
    if scope == "build":
        requirements = _toml(ROOT / "pyproject.toml")["build-system"]["requires"]
    else:
        requirements = student_dependencies()
        if scope in ("instructor", "dev"):
            requirements = requirements + instructor_dependencies()
        if scope == "instructor":
            extras = _toml(ROOT / "pyproject.toml")["project"]["optional-dependencies"]
            requirements = requirements + [r for e in INSTRUCTOR_EXTRAS for r in extras[e]]
        if scope == "dev":
            requirements = requirements + extra_dependencies()
    found = {}
    for requirement in requirements:
        name, _, bound = parse(requirement)
        found[name] = bound
    return found


# ------------------------------------------------------------------ imports


def imported_modules(path):
    """{top-level module: line} of what the file at `path` imports or runs with `python -m`."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = {}
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, (ast.List, ast.Tuple)):  # an argv: [..., "-m", "module", ...]
            values = [e.value if isinstance(e, ast.Constant) else None for e in node.elts]
            names = [
                module
                for flag, module in zip(values, values[1:])
                if flag == "-m" and isinstance(module, str)
            ]
        for name in names:
            found.setdefault(name.split(".")[0], node.lineno)
    return found


def own_modules():
    """The project's own top-level modules: its packages, and the tests' helper modules."""
    return {"bnlab", "autograder", "bench"} | {path.stem for path in (ROOT / "tests").glob("*.py")}


def source_files(where):
    path = ROOT / where
    if path.is_file():
        return [path]
    return sorted(
        file
        for file in path.rglob("*.py")
        if not {"__pycache__", "dist", "build"} & set(file.relative_to(path).parts)
    )


def undeclared_imports(where):
    """Lines of `where` that import a module that is not declared for its scope."""
    scope, place = SCOPES[where]
    allowed = declared(scope)
    own = own_modules() if scope != "student" else {"bnlab"}
    problems = []
    for path in source_files(where):
        for module, line in sorted(imported_modules(path).items()):
            if module in sys.stdlib_module_names or module in own or module in NOT_DECLARED:
                continue
            distribution = canonical(IMPORT_NAMES.get(module, module))
            if distribution not in allowed:
                problems.append(
                    f"{path.relative_to(ROOT)}:{line} uses {module} (distribution "
                    f"{IMPORT_NAMES.get(module, module)}), which is not a {scope} "
                    f"dependency: declare it in {place} and environment.yml (if its "
                    "distribution is named otherwise, add it to IMPORT_NAMES)"
                )
    return problems


@pytest.mark.parametrize("where", list(SCOPES))
def test_every_imported_module_is_declared(where):
    problems = undeclared_imports(where)
    assert not problems, "\n".join(problems)


def test_the_import_scan_sees_imports_and_python_dash_m(tmp_path):
    source = tmp_path / "example.py"
    source.write_text(
        "import os.path\nfrom IPython.core import inputtransformer2\nfrom . import sibling\n"
        "def run():\n    import yaml\n    return [sys.executable, '-m', 'ipykernel_launcher']\n",
        encoding="utf-8",
    )
    assert imported_modules(source) == {
        "os": 1,
        "IPython": 2,
        "yaml": 5,
        "ipykernel_launcher": 6,
    }


def test_dependencies_are_written_down_once():
    """The instructor distribution depends on the student's: nothing is declared twice."""
    student = {parse(r)[0] for r in student_dependencies()}
    instructor = {parse(r)[0] for r in instructor_dependencies()}
    assert not student & instructor, (
        f"declared for the student and the instructor: {student & instructor}"
    )


# ------------------------------------------------------------------ environment.yml


def environment():
    """({conda name: version bound}, [pip requirements]) of environment.yml."""
    data = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    assert data["channels"] == ["conda-forge"]
    conda, pip = {}, []
    for entry in data["dependencies"]:
        if isinstance(entry, dict):
            pip += entry["pip"]
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*(.*)", str(entry).strip())
        assert match, f"cannot read {entry!r} in environment.yml"
        conda[canonical(match.group(1))] = match.group(2).replace(" ", "")
    return conda, pip


def conda_bound(bound):
    """A pip version bound as conda writes it: ==0.9.* is =0.9; >=1.0 stays."""
    bound = bound.replace(" ", "")
    match = re.fullmatch(r"==([0-9.]+)\.\*", bound)
    return f"={match.group(1)}" if match else bound


def test_environment_yml_lists_every_declared_package_with_its_bound():
    conda, _ = environment()
    problems = []
    for name, bound in sorted(declared("dev").items()):
        conda_name = CONDA_NAMES.get(name, name)
        wanted = f"{conda_name}{conda_bound(bound)}"
        if conda_name not in conda:
            problems.append(f"missing: {wanted}")
        elif conda[conda_name] != conda_bound(bound):
            problems.append(f"{conda_name}{conda[conda_name]} where the project declares {wanted}")
    assert not problems, "environment.yml disagrees with the project:\n" + "\n".join(problems)


def test_environment_yml_lists_nothing_the_project_does_not_declare():
    conda, _ = environment()
    known = {CONDA_NAMES.get(name, name) for name in declared("dev")} | set(CONDA_ONLY)
    assert set(conda) <= known, f"not declared by the project: {sorted(set(conda) - known)}"


def test_environment_yml_does_not_install_the_project_itself():
    # Binder installs environment.yml before it copies the repository: a local path (-e .)
    # cannot be installed from there. postBuild installs the project (tests/notebooks/test_binder.py).
    _, pip = environment()
    assert pip == []


# ------------------------------------------------------------------ the memory limit


LIMITS_OF_THE_CHILD = """
import json, resource
print(json.dumps({name: resource.getrlimit(getattr(resource, name))
                  for name in ("RLIMIT_DATA", "RLIMIT_FSIZE", "RLIMIT_CPU", "RLIMIT_NPROC")}))
"""


def limits_of_a_notebook(course, scratch):
    """The resource limits a notebook's child has in the course's grading server (with
    --no-sandbox: this Python, as an ordinary process), as {name: [soft, hard]}."""
    server = NotebookServer(sys.executable, scratch, limits=course.limits, sandboxed=False)
    server.start()
    try:
        server.reset()
        ran = server.run([(0, LIMITS_OF_THE_CHILD)], timeout=30)
        assert ran.status == "ok", (ran.status, ran.log)
        outputs = ran.outputs[0][0]
        return json.loads("".join(o.text for o in outputs if o.output_type == "stream"))
    finally:
        server.close()


def here(name):
    return list(resource.getrlimit(getattr(resource, name)))


@pytest.mark.slow
def test_grading_without_prlimit_stops_and_names_the_fix(tmp_path):
    """PATH without prlimit: `grade` exits 1 before anything is graded, saying what to do."""
    bindir = Path(sys.executable).parent
    if shutil.which("prlimit", path=str(bindir)):
        pytest.skip(f"{bindir} has a prlimit")
    course = tmp_path / "course"
    result = subprocess.run(
        [sys.executable, "-m", "autograder", "grade", "--course", str(course)],
        cwd=ROOT,
        env=headless_environ({"PATH": str(bindir), "HOME": str(tmp_path)}),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    message = result.stderr
    assert message.startswith("grade: "), message
    for words in ("prlimit", "util-linux", "apt-get install util-linux", "--memory-limit 0"):
        assert words in message, message
    assert not course.exists(), "grading started"


@pytest.mark.slow
def test_without_prlimit_a_memory_limit_cannot_be_checked(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name, *args, **kwargs: None)
    course = Course(tmp_path, sandbox=False)
    with pytest.raises(MemoryLimitError, match="apt-get install util-linux"):
        course.check_memory_limit()
    limits = limits_of_a_notebook(course, tmp_path / "K")  # the server runs unlimited
    assert limits["RLIMIT_DATA"] == here("RLIMIT_DATA") != [course.memory_limit] * 2


def test_memory_limit_0_grades_without_a_limit_and_the_summary_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name, *args, **kwargs: None)
    course = Course(tmp_path, memory_limit=0)
    course.check_memory_limit()
    assert "no memory limit" in course.memory_limit_text
    row = {
        "student": "ada",
        "notebooks": {stem: (1.0, 1.0) for stem in NOTEBOOKS},
        "auto": float(len(NOTEBOOKS)),
        "auto_max": float(len(NOTEBOOKS)),
        "manual": 0.0,
        "manual_max": 0.0,
        "pending": 0.0,
        "notes": [],
        "max": float(len(NOTEBOOKS)),
    }
    assert "NO MEMORY LIMIT" not in export.table([{**row, "memory_limit": 3 * 1024**3}])
    text = export.table([{**row, "memory_limit": 0}])
    assert "NO MEMORY LIMIT: 1 student(s)" in text and "--memory-limit 0" in text


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("prlimit") is None, reason="prlimit is not installed")
def test_with_prlimit_the_grading_server_is_memory_limited(tmp_path):
    course = Course(tmp_path, memory_limit=2 * 1024**3, sandbox=False)
    course.check_memory_limit()
    limits = limits_of_a_notebook(course, tmp_path / "K")
    assert limits["RLIMIT_DATA"] == [2 * 1024**3, 2 * 1024**3]
    assert limits["RLIMIT_FSIZE"] == [course.limits.file_size] * 2
    assert limits["RLIMIT_NPROC"] == here("RLIMIT_NPROC")  # no process limit outside a sandbox


def test_the_sandboxed_grading_server_carries_the_limits(tmp_path):
    """The course's limits are on the sandboxed server's command line (that the sandbox
    applies them: tests/sandbox/test_sandbox.py)."""
    course = Course(tmp_path, memory_limit=2 * 1024**3)
    argv = sandbox.server_argv(course.student_python, course.limits, hide=[course.root])
    assert argv[argv.index("-m") + 1] == "autograder.sandbox"
    assert argv[argv.index("--memory") + 1] == str(2 * 1024**3)
    assert argv[argv.index("--python") + 1] == str(course.student_python)
    assert argv[argv.index(str(course.root)) - 1] == "--hide"


IMPORTED = "import sys; {}; import jsonschema; print(sys.modules.get('rfc3987_syntax') is not None)"


@pytest.mark.slow
def test_the_grader_leaves_out_the_iri_grammars_jsonschema_would_build():
    """Where rfc3987-syntax is installed, importing jsonschema imports it (and builds its
    grammars: seconds of every process); after `import autograder` it is left out."""
    pytest.importorskip("rfc3987_syntax", reason="rfc3987-syntax is not installed here")
    found = {}
    for first in ("pass", "import autograder"):
        result = subprocess.run(
            [sys.executable, "-c", IMPORTED.format(first)],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        found[first] = result.stdout.strip()
    assert found == {"pass": "True", "import autograder": "False"}
