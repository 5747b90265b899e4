"""Step 2, collect: bring submissions into submitted/<student>/batchnorm/.

Accepted sources (a folder or a .zip of one, e.g. an LMS download):
- nbgrader's own layout: <student>/batchnorm/<notebook>.ipynb (timestamp.txt kept);
- one folder per student: <student>/<notebook>.ipynb;
- flat files as an LMS hands them out, following nbgrader's zip-collect
  conventions: the file name carries the student id and the notebook, e.g.
  ``<student>_<notebook>.ipynb`` or Blackboard's
  ``<assignment>_<student>_attempt_<timestamp>_<notebook>.ipynb``; a custom
  regular expression with the named groups ``student_id`` and ``file_id``
  (and optionally ``timestamp``) can be given with --regexp;
- zips that students uploaded, named by the LMS like a file above
  (``<assignment>_<student>_attempt_<timestamp>_<name>.zip``) or ``<student>.zip``;
- the zips ``python -m bnlab submit`` writes, in a folder (or a folder of folders, or a
  zip: an LMS's bulk download), or one such zip alone, named as submit names them or as
  an LMS renames them (Canvas's and Moodle's prefixes, a copy's "-1" or " (1)"): the
  student is the ID in that name (autograder.pipeline.upload_names). Other files as Canvas
  or Moodle name them (or in a Moodle folder) hold no student id: they are skipped, naming
  the LMS, and the summary says how students hand in so that their id is known, or how
  --regexp (matched against a file's name or its path) says where it is.

An upload speaks only for its uploader: the source's own names (the LMS's) say who
handed a file in and when; inside a student's zip only the notebook a member is (the
end of its name) counts, whatever else its name or folder says. Attempt times are
validated. A student's attempts are compared as wholes: the newest attempt is
collected and the others are listed; uploads of one student whose order is unknown
(no attempt time, or the same one in different layouts) are a conflict and that
student is not collected. Every file and archive member is read on its own
(autograder.archive) and one that is unsafe, damaged or over a limit is skipped with
its reason. Files are copied byte for byte; a student's folder is replaced only when
what was collected differs. The report lists every student found (notebooks found and
missing, where they came from, what was not used and why) and every skipped file.
A source that cannot be used at all (missing, neither a folder nor a zip, a zip that is
damaged or truncated, a bad --regexp) stops the step with a CollectError; a damaged or
truncated zip inside the source is skipped with that reason and the others are collected.

The parts, one module each: autograder.pipeline.upload_names (what a name in the source
says), autograder.pipeline.uploads (reading the source: each upload, whose it is, the one
collected per student and its notebooks), and this module, the step (submitted/ and the
report).
"""

import json
import shutil
import tempfile
from pathlib import Path

from autograder import boundary
from autograder.pipeline.upload_names import NO_ID, TIMESTAMP, classify, shown
from autograder.pipeline.uploads import CollectError, gather
from autograder.workspace import write_atomic
from bnlab.course import NOTEBOOKS

__all__ = ["CollectError", "classify", "collect", "gather"]


def _same(folder, files):
    """Whether `folder` holds exactly `files` ({name: bytes})."""
    if not folder.is_dir():
        return False
    present = {path.name: path for path in folder.iterdir() if path.is_file()}
    if set(present) != set(files):
        return False
    return all(present[name].read_bytes() == data for name, data in files.items())


def _store(dest, notebooks, staging):
    """Make the folder `dest` hold the `notebooks` ({stem: Candidate}) and their upload's
    timestamp.txt, replacing it whole (through a folder in `staging`) only when what it
    holds differs. Whether it changed."""
    files = {f"{stem}.ipynb": info.path.read_bytes() for stem, info in notebooks.items()}
    stamp = next(iter(notebooks.values())).timestamp
    if stamp is not None:
        files[TIMESTAMP] = stamp
    if _same(dest, files):
        return False
    staging = Path(staging) / dest.parent.name
    staging.mkdir(parents=True)
    for name, data in files.items():
        (staging / name).write_bytes(data)
    if dest.exists():
        shutil.rmtree(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(staging), str(dest))
    return True


def collect(course, source=None, samples=False, regexp=None, log=print):
    """Run step 2. Returns the report (also written to reports/collect.json)."""
    course.prepare()
    if samples:
        from autograder.content.samples import generate

        if not course.release.is_dir():
            raise CollectError("no release yet: run `python -m autograder release` first")
        source = course.work / "samples"
        try:
            written = generate(source, boundary.source_notebooks(), course.release)
        except FileNotFoundError as error:  # a notebook missing from the release
            raise CollectError(str(error)) from None
        log(f"collect: {len(written)} sample submissions generated in {source}")
    if source is None:
        raise CollectError("collect needs --from FOLDER_OR_ZIP or --samples")
    source = Path(source)
    if not source.exists():
        raise CollectError(f"{source} does not exist")
    with tempfile.TemporaryDirectory(prefix="collect-", dir=course.work) as scratch:
        found, students, skipped = gather(source, Path(scratch) / "in", regexp)
        report = {"source": str(source), "students": {}, "skipped": skipped}
        for student, entry in sorted(students.items()):
            report["students"][student] = entry
            notebooks = found.get(student)
            if not notebooks:
                continue
            changed = _store(course.submission(student), notebooks, Path(scratch) / "out")
            entry.update(
                found=sorted(notebooks),
                missing=[stem for stem in NOTEBOOKS if stem not in notebooks],
                collected=True,
                updated=changed,
            )
            entry["from"] = sorted(info.origin for info in notebooks.values())
    write_atomic(course.reports / "collect.json", json.dumps(report, indent=1) + "\n")
    _print(report, log)
    return report


def _print(report, log):
    students = report["students"]
    collected = [s for s, info in students.items() if info["collected"]]
    complete = [s for s in collected if not students[s]["missing"]]
    log(
        f"collect: {len(collected)} student(s) from {shown(report['source'])}: "
        f"{len(complete)} complete"
    )
    for student, info in students.items():
        if not info["collected"]:
            log(f"  {student}: NOT COLLECTED")
        elif info["missing"]:
            log(f"  {student}: missing {', '.join(m + '.ipynb' for m in info['missing'])}")
        for line in info["problems"] + info["warnings"] + info["not used"]:
            log(f"    {line}")
    skipped = report["skipped"]
    if skipped:
        log(f"  skipped {len(skipped)} file(s):")
        for row in skipped[:10]:
            log(f"    {row['path']}: {row['reason']}")
        if len(skipped) > 10:
            log(f"    and {len(skipped) - 10} more (reports/collect.json)")
    unnamed = sum(NO_ID in row["reason"] for row in skipped)
    if unnamed:
        log(
            f"  {unnamed} file(s) name {NO_ID}. An LMS's own names hold a student's name "
            "and the LMS's numbers: have students hand in the zip `python -m bnlab submit` "
            "writes (its name holds their id, also as the LMS renames it), or say where the "
            "id is with --regexp "
            "'(?P<student_id>...)...(?P<file_id>...)', matched against each file's name or "
            "its path in the source."
        )
