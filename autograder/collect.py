"""Step 2, collect: bring submissions into submitted/<student>/batchnorm/.

Accepted sources (a folder or a .zip of one):
- nbgrader's own layout: <student>/batchnorm/<notebook>.ipynb (timestamp.txt kept);
- one folder per student: <student>/<notebook>.ipynb;
- flat files as an LMS hands them out, following nbgrader's zip-collect
  conventions: the file name carries the student id and the notebook, e.g.
  ``<student>_<notebook>.ipynb`` or Blackboard's
  ``<assignment>_<student>_attempt_<timestamp>_<notebook>.ipynb``; a custom
  regular expression with the named groups ``student_id`` and ``file_id``
  (and optionally ``timestamp``) can be given with --regexp.
When one student has several copies of a notebook, the newest (by timestamp,
then by name) wins. Files are copied byte for byte; a student's folder is
replaced only when what was collected differs. The report lists, per student,
the notebooks found and the ones missing, and every file that was skipped.
"""

import json
import re
import shutil
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from autograder import boundary
from autograder.workspace import write_atomic
from bnlab.course import ASSIGNMENT, NOTEBOOKS

STEMS = sorted(NOTEBOOKS, key=len, reverse=True)
BLACKBOARD = re.compile(
    r"^(?:.*?_)?(?P<student_id>[^_]+(?:_[^_]+)*?)_attempt_(?P<timestamp>[0-9\-]+)_(?P<file_id>.+)$"
)
STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+\-]*$")
IGNORED_PARTS = {"__MACOSX", ".ipynb_checkpoints"}


def _stem_of(name):
    """The course notebook a file name (without .ipynb) refers to, or None."""
    for stem in STEMS:
        if name == stem or name.endswith(("_" + stem, "-" + stem)):
            return stem
    return None


def classify(relative, regexp=None):
    """(student, notebook stem, timestamp or None) for a file's path inside the source, or None."""
    path = PurePosixPath(relative)
    if path.suffix != ".ipynb" or IGNORED_PARTS & set(path.parts) or path.name.startswith("."):
        return None
    name = path.stem
    if regexp is not None:
        match = re.match(regexp, path.name) or re.match(regexp, name)
        if not match:
            return None
        groups = match.groupdict()
        stem = _stem_of(Path(groups.get("file_id", "")).stem)
        student = groups.get("student_id")
        return (student, stem, groups.get("timestamp")) if stem and student else None
    parts = path.parts
    if len(parts) >= 3 and parts[-2] == ASSIGNMENT and name in NOTEBOOKS:
        return parts[-3], name, None
    if len(parts) >= 2 and name in NOTEBOOKS:
        return parts[-2], name, None
    match = BLACKBOARD.match(name)
    if match:
        stem = _stem_of(match.group("file_id"))
        if stem:
            return match.group("student_id"), stem, match.group("timestamp")
    stem = _stem_of(name)
    if stem and name != stem:
        student = name[: -len(stem) - 1]
        return student, stem, None
    return None


def _extract(archive, dest):
    """Extract a zip safely (no absolute paths, no ..), nested zips included."""
    with zipfile.ZipFile(archive) as handle:
        for member in handle.infolist():
            target = PurePosixPath(member.filename)
            if member.is_dir() or target.is_absolute() or ".." in target.parts:
                continue
            out = Path(dest) / target
            out.parent.mkdir(parents=True, exist_ok=True)
            with handle.open(member) as source, open(out, "wb") as sink:
                shutil.copyfileobj(source, sink)
            if out.suffix == ".zip":
                _extract(out, out.with_suffix(""))
                out.unlink()


def _files(folder):
    folder = Path(folder)
    return sorted(
        (path.relative_to(folder).as_posix(), path) for path in folder.rglob("*") if path.is_file()
    )


def gather(source, regexp=None):
    """({student: {stem: (path, timestamp)}}, {student: timestamp.txt path}, skipped) from a folder."""
    found, stamps, skipped = {}, {}, []
    for relative, path in _files(source):
        parts = PurePosixPath(relative).parts
        if path.name == "timestamp.txt" and len(parts) >= 3 and parts[-2] == ASSIGNMENT:
            stamps[parts[-3]] = path
            continue
        what = classify(relative, regexp)
        if what is None or not STUDENT_ID.match(what[0] or ""):
            skipped.append(relative)
            continue
        student, stem, timestamp = what
        previous = found.setdefault(student, {}).get(stem)
        key = (timestamp or "", relative)
        if previous is None or key > (previous[1] or "", previous[2]):
            found[student][stem] = (path, timestamp, relative)
    return found, stamps, skipped


def _same(folder, files):
    """Whether `folder` holds exactly `files` ({name: bytes})."""
    if not folder.is_dir():
        return False
    present = {path.name: path for path in folder.iterdir() if path.is_file()}
    if set(present) != set(files):
        return False
    return all(present[name].read_bytes() == data for name, data in files.items())


def collect(course, source=None, samples=False, regexp=None, log=print):
    """Run step 2. Returns the report (also written to reports/collect.json)."""
    course.prepare()
    if samples:
        from autograder.samples import generate

        if not course.release.is_dir():
            raise FileNotFoundError("no release yet: run `python -m autograder release` first")
        source = course.work / "samples"
        written = generate(source, boundary.source_notebooks(), course.release)
        log(f"collect: {len(written)} sample submissions generated in {source}")
    if source is None:
        raise ValueError("collect needs --from FOLDER_OR_ZIP or --samples")
    source = Path(source)
    if not source.exists():
        raise FileNotFoundError(f"{source} does not exist")
    with tempfile.TemporaryDirectory(prefix="collect-", dir=course.work) as scratch:
        folder = source
        if source.is_file():
            if not zipfile.is_zipfile(source):
                raise ValueError(f"{source} is neither a folder nor a zip archive")
            folder = Path(scratch) / "extracted"
            _extract(source, folder)
        found, stamps, skipped = gather(folder, regexp)
        report = {"source": str(source), "students": {}, "skipped": skipped}
        for student in sorted(found):
            notebooks = found[student]
            files = {f"{stem}.ipynb": info[0].read_bytes() for stem, info in notebooks.items()}
            timestamps = [info[1] for info in notebooks.values() if info[1]]
            if student in stamps:
                files["timestamp.txt"] = stamps[student].read_bytes()
            elif timestamps:
                files["timestamp.txt"] = _nbgrader_timestamp(max(timestamps)).encode()
            dest = course.submission(student)
            changed = not _same(dest, files)
            if changed:
                staging = Path(scratch) / "out" / student
                staging.mkdir(parents=True)
                for name, data in files.items():
                    (staging / name).write_bytes(data)
                if dest.exists():
                    shutil.rmtree(dest)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(str(staging), str(dest))
            report["students"][student] = {
                "found": sorted(notebooks),
                "missing": [stem for stem in NOTEBOOKS if stem not in notebooks],
                "from": sorted(info[2] for info in notebooks.values()),
                "updated": changed,
            }
    write_atomic(course.reports / "collect.json", json.dumps(report, indent=1) + "\n")
    _print(report, log)
    return report


def _nbgrader_timestamp(text):
    """An LMS timestamp like 2024-03-01-12-30-00 in a form nbgrader parses."""
    digits = re.findall(r"\d+", text)
    if len(digits) >= 6:
        y, mo, d, h, mi, s = digits[:6]
        return f"{y}-{mo}-{d} {h}:{mi}:{s}"
    return text


def _print(report, log):
    students = report["students"]
    complete = [s for s, info in students.items() if not info["missing"]]
    log(f"collect: {len(students)} student(s) from {report['source']}: {len(complete)} complete")
    for student, info in students.items():
        if info["missing"]:
            log(f"  {student}: missing {', '.join(m + '.ipynb' for m in info['missing'])}")
    if report["skipped"]:
        shown = ", ".join(report["skipped"][:10])
        more = len(report["skipped"]) - 10
        log(
            f"  skipped {len(report['skipped'])} file(s) that are no course notebook: {shown}"
            + (f" and {more} more" if more > 0 else "")
        )
