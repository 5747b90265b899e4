"""The student wheel: bnlab without its reference solutions and grader-only modules.

Built straight from the package files (a wheel is a zip with a dist-info
folder), so it needs no build backend and comes out byte-identical each time:
safe to rebuild. It keeps every public module and the visible checks' stored
cases (bnlab/data/checks/*.npz); it leaves out bnlab/reference.py, sync.py,
demo.py and the packages grading/, mistakes/ and fixtures/ (and the autograder).
"""

import base64
import hashlib
import re
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "bnlab"
EXCLUDED_FILES = {"reference.py", "sync.py", "demo.py"}
EXCLUDED_PACKAGES = {"grading", "mistakes", "fixtures"}
DATA_SUFFIXES = {".npz"}
TIMESTAMP = (1980, 1, 1, 0, 0, 0)


def project_metadata():
    """(name, version, summary, requires_python, dependencies) from pyproject.toml."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    try:
        import tomllib

        project = tomllib.loads(text)["project"]
    except ModuleNotFoundError:  # Python 3.10: read the few fields by hand
        project = {}
        for key in ("name", "version", "description", "requires-python"):
            match = re.search(rf'^{key}\s*=\s*"([^"]*)"', text, re.MULTILINE)
            project[key] = match.group(1) if match else ""
        deps = re.search(r"^dependencies\s*=\s*\[(.*?)\]", text, re.MULTILINE | re.DOTALL)
        project["dependencies"] = re.findall(r'"([^"]+)"', deps.group(1)) if deps else []
    return (
        project["name"],
        project["version"],
        project.get("description", ""),
        project.get("requires-python", ""),
        list(project.get("dependencies", [])),
    )


def student_files(package=PACKAGE):
    """{path inside the wheel: file} of the public part of bnlab."""
    package = Path(package)
    files = {}
    for path in sorted(package.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        relative = path.relative_to(package)
        if relative.parts[0] in EXCLUDED_PACKAGES or relative.as_posix() in EXCLUDED_FILES:
            continue
        if path.suffix == ".py" or (relative.parts[0] == "data" and path.suffix in DATA_SUFFIXES):
            files[f"bnlab/{relative.as_posix()}"] = path
    return files


def _record_hash(data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return f"sha256={digest.decode()}"


def build_student_wheel(dest, package=PACKAGE):
    """Write the student wheel into folder `dest`; returns its path."""
    name, version, summary, requires_python, dependencies = project_metadata()
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    dist_info = f"{name}-{version}.dist-info"
    metadata = [
        "Metadata-Version: 2.1",
        f"Name: {name}",
        f"Version: {version}",
        f"Summary: {summary} (student edition: no solutions)",
    ]
    if requires_python:
        metadata.append(f"Requires-Python: {requires_python}")
    metadata += [f"Requires-Dist: {dependency}" for dependency in dependencies]
    members = {path: file.read_bytes() for path, file in student_files(package).items()}
    members[f"{dist_info}/METADATA"] = ("\n".join(metadata) + "\n").encode()
    members[f"{dist_info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: bnlab-autograder\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    members[f"{dist_info}/top_level.txt"] = b"bnlab\n"
    record = [f"{path},{_record_hash(data)},{len(data)}" for path, data in members.items()]
    record.append(f"{dist_info}/RECORD,,")
    members[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()

    wheel = dest / f"{name}-{version}-py3-none-any.whl"
    tmp = wheel.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in members.items():
            info = zipfile.ZipInfo(path, TIMESTAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    tmp.replace(wheel)
    return wheel
