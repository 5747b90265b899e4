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
  (``<assignment>_<student>_attempt_<timestamp>_<name>.zip``) or ``<student>.zip``.

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
"""

import datetime as dt
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import NamedTuple

from autograder import archive, boundary
from autograder.archive import Refused
from autograder.workspace import write_atomic
from bnlab.course import ASSIGNMENT, NOTEBOOKS

STEMS = sorted(NOTEBOOKS, key=len, reverse=True)
STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+\-]{0,127}$")  # nbgrader: 128 characters
IGNORED_PARTS = {"__MACOSX", ".ipynb_checkpoints"}
TIMESTAMP = "timestamp.txt"
ATTEMPT = "_attempt_"
# An LMS attempt time: Blackboard's 2024-03-01-12-30-00, or any six numbers with one
# separator each (a --regexp's timestamp group), or 20240301123000.
ATTEMPT_TIME = re.compile(
    r"(\d{4})[-_.: T]?(\d\d)[-_.: T]?(\d\d)[-_.: T]?(\d\d)[-_.: T]?(\d\d)[-_.: T]?(\d\d)"
)
EARLIEST = dt.datetime(2000, 1, 1)
CLOCK_SLACK = dt.timedelta(days=2)  # an LMS in another time zone, a clock a little off
TIMESTAMP_BYTES = 100


def _stem_of(name):
    """The course notebook a file name (without .ipynb) refers to, or None."""
    for stem in STEMS:
        if name == stem or name.endswith(("_" + stem, "-" + stem)):
            return stem
    return None


def _ignored(path):
    """Whether `path` is a copy an editor or an archiver leaves beside the real files."""
    return bool(IGNORED_PARTS & set(path.parts)) or path.name.startswith(".")


def _lms_name(name):
    """(student, attempt time as written, the rest) of a Blackboard name
    <assignment>_<student>_attempt_<time>_<rest>, or None. The first "_attempt_" is the
    LMS's: what follows it is the uploader's own file name and cannot change who or when."""
    head, found, tail = name.partition(ATTEMPT)
    if not found or not head or "_" not in tail:
        return None
    time, _, rest = tail.partition("_")
    student = head.split("_", 1)[1] if "_" in head else head
    return student, time, rest


class Claim(NamedTuple):
    """What the source's name of a file says: whose it is, which notebook (None for a zip),
    the attempt time as written (or None), and the student folder it is in (or None)."""

    student: str
    stem: str | None
    time: str | None
    folder: str | None


def _claim(relative, regexp=None):
    """The Claim of a notebook or a zip at `relative` in the source, or None."""
    path = PurePosixPath(relative)
    suffix = path.suffix.lower()
    if suffix not in (".ipynb", ".zip") or _ignored(path):
        return None
    notebook = suffix == ".ipynb"
    name, parts = path.stem, path.parts
    if regexp is not None:
        match = re.match(regexp, path.name) or re.match(regexp, name)
        if not match or not match.groupdict().get("student_id"):
            return None
        groups = match.groupdict()
        stem = _stem_of(Path(groups.get("file_id") or "").stem) if notebook else None
        if notebook and not stem:
            return None
        return Claim(groups["student_id"], stem, groups.get("timestamp"), None)
    if len(parts) >= 3 and parts[-2] == ASSIGNMENT and (name in NOTEBOOKS or not notebook):
        return Claim(parts[-3], name if notebook else None, None, "/".join(parts[:-1]))
    if notebook and len(parts) >= 2 and name in NOTEBOOKS:
        return Claim(parts[-2], name, None, "/".join(parts[:-1]))
    lms = _lms_name(name)
    if lms:
        student, time, rest = lms
        stem = _stem_of(rest) if notebook else None
        if stem or not notebook:
            return Claim(student, stem, time, None)
    if not notebook:
        return Claim(name, None, None, None)
    stem = _stem_of(name)
    if stem and name != stem:
        return Claim(name[: -len(stem) - 1], stem, None, None)
    return None


def classify(relative, regexp=None):
    """(student, notebook stem, timestamp or None) for a notebook's path inside the source,
    or None."""
    claim = _claim(relative, regexp)
    if claim is None or claim.stem is None:
        return None
    return claim.student, claim.stem, claim.time


def attempt_time(text):
    """The datetime an LMS attempt time such as 2024-03-01-12-30-00 stands for; ValueError
    saying why when it is no real date and time between 2000 and now."""
    match = ATTEMPT_TIME.fullmatch(text or "")
    if not match:
        raise ValueError(f"attempt time {text!r} is not a date and time (2024-03-01-12-30-00)")
    try:
        when = dt.datetime(*map(int, match.groups()))
    except ValueError as error:
        raise ValueError(f"attempt time {text!r} is no real date and time ({error})") from None
    return _in_range(when, dt.datetime.now(), f"attempt time {text!r}")


def stamp_time(data):
    """The UTC datetime in the bytes of an nbgrader timestamp.txt, read by the one rule grade
    reads it by (merge.attempt_time, strict: never a general date parser); ValueError
    saying why when they hold no date and time between 2000 and now."""
    from autograder.grading.gradebook_writer import MergeError
    from autograder.grading.gradebook_writer import attempt_time as read_time

    text = data[: TIMESTAMP_BYTES + 1].decode("utf-8", "replace").strip()
    shown = text if len(text) <= 40 else text[:40] + "..."
    try:
        if len(data) > TIMESTAMP_BYTES:
            raise MergeError("too long")
        when = read_time(text)
    except MergeError:
        raise ValueError(
            f"{TIMESTAMP} holds {shown!r}, not a date and time (2024-03-01 12:30:05)"
        ) from None
    return _in_range(when, dt.datetime.utcnow(), f"{TIMESTAMP} time {shown!r}")


def _in_range(when, now, what):
    if not EARLIEST <= when <= now + CLOCK_SLACK:
        raise ValueError(f"{what} is not between {EARLIEST:%Y-%m-%d} and now")
    return when


def _shown(text):
    """`text` safe to print and to write as JSON: escapes for control characters and bytes
    that are not UTF-8."""
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return re.sub(r"[\x00-\x1f\x7f]", lambda m: f"\\x{ord(m.group()):02x}", text)


# ------------------------------------------------------------------ reading the source


class _Folder:
    """The files of a source folder, walked without following a link."""

    def __init__(self, path):
        self.path = Path(path)

    def items(self, skipped):
        """[(path relative to the folder, absolute path)] of its regular files; links and
        other special files go to `skipped`."""
        found = []

        def unreadable(error):
            skipped.append((self._relative(error.filename), f"unreadable ({error.strerror})"))

        for top, folders, files in os.walk(self.path, onerror=unreadable):
            for name in list(folders):
                if os.path.islink(os.path.join(top, name)):
                    folders.remove(name)
                    skipped.append((self._relative(os.path.join(top, name)), "a link"))
            folders.sort()
            for name in sorted(files):
                full = os.path.join(top, name)
                relative = self._relative(full)
                if os.path.islink(full):
                    skipped.append((relative, "a link"))
                elif not os.path.isfile(full):
                    skipped.append((relative, "not a regular file"))
                else:
                    found.append((relative, full))
        return found

    def _relative(self, full):
        return Path(os.path.relpath(full, self.path)).as_posix()

    def read(self, item, budget):
        return archive.read_file(item, archive.NOTEBOOK_BYTES, budget)

    def open_zip(self, item, scratch, budget):
        return archive.open_zip(archive.open_file(item))


class _Zip:
    """The members of an open zip archive, each judged on its own."""

    def __init__(self, handle):
        self.handle = handle

    def items(self, skipped):
        usable, refused = archive.members(self.handle)
        skipped.extend(refused)
        return [(info.filename, info) for info in usable]

    def read(self, item, budget):
        return archive.read_member(self.handle, item, archive.NOTEBOOK_BYTES, budget)

    def open_zip(self, item, scratch, budget):
        target = Path(tempfile.mkstemp(suffix=".zip", dir=scratch)[1])
        target.unlink()
        archive.extract_member(self.handle, item, target, budget)
        return archive.open_zip(open(target, "rb"))


@dataclass
class _Upload:
    """What the source attributes to one student in one go: an attempt with its time, or
    one folder, zip or set of flat files without a time."""

    student: str
    time: dt.datetime | None
    where: str
    stamp: bytes | None = None  # its timestamp.txt
    items: list = field(default_factory=list)  # (origin, container, item, stem or None)


class Candidate(NamedTuple):
    """A notebook collected: its bytes in scratch, the timestamp.txt of its upload (bytes,
    or None), where it came from in the source."""

    path: Path
    timestamp: bytes | None
    origin: str


class Gathered(NamedTuple):
    """What gather found: {student: {stem: Candidate}}, {student: report entry},
    [{"path", "reason"}] of every file or member not used."""

    found: dict
    students: dict
    skipped: list


class _Gatherer:
    """One reading of a source: its uploads, the one collected per student, the notebooks
    of those, and what was not used (skipped) with the reason."""

    def __init__(self, scratch, regexp):
        Path(scratch).mkdir(parents=True, exist_ok=True)
        self.scratch = Path(tempfile.mkdtemp(prefix="gather-", dir=scratch))
        self.regexp = regexp
        self.skipped = []
        self.students = {}

    def skip(self, origin, reason, student=None):
        """List `origin` as not used, for `reason`; a problem of `student` when given."""
        origin, reason = _shown(origin), _shown(reason)
        self.skipped.append({"path": origin, "reason": reason})
        if student is not None:
            self.entry(student)["problems"].append(f"{origin}: {reason}")

    def entry(self, student):
        return self.students.setdefault(
            student,
            {"found": [], "missing": list(NOTEBOOKS), "from": [], "attempt": None,
             "collected": False, "not used": [], "problems": [], "warnings": []},
        )  # fmt: skip

    def uploads(self, container):
        """{key: _Upload} of the files and zips of `container` (the source)."""
        refused = []
        items = container.items(refused)
        for name, why in refused:
            self.skip(name, why)
        stamps = {}  # {nbgrader folder: (time, bytes) of its valid timestamp.txt}
        for relative, item in items:
            parts = PurePosixPath(relative).parts
            if parts[-1] == TIMESTAMP and len(parts) >= 3 and parts[-2] == ASSIGNMENT:
                student = parts[-3] if STUDENT_ID.match(parts[-3]) else None
                stamps["/".join(parts[:-1])] = self._stamp(container, student, relative, item)
        uploads = {}
        for relative, item in items:
            if PurePosixPath(relative).name == TIMESTAMP and relative.rpartition("/")[0] in stamps:
                continue
            claim = _claim(relative, self.regexp)
            if claim is None:
                self.skip(relative, "not a course notebook, nor a zip of one")
                continue
            if not STUDENT_ID.match(claim.student):
                self.skip(relative, f"{_shown(claim.student)!r} cannot be a student id")
                continue
            time, stamp = None, None
            if claim.time is not None:
                try:
                    time = attempt_time(claim.time)
                except ValueError as error:
                    self.skip(relative, str(error), claim.student)
                    continue
            elif claim.folder in stamps:
                time, stamp = stamps[claim.folder]
            if time is not None:
                key, where = (claim.student, time), f"attempt {time}"
                stamp = stamp or f"{time:%Y-%m-%d %H:%M:%S}".encode()
            elif claim.folder is not None:
                key, where = claim.folder + "/", f"folder {claim.folder}/"
            elif claim.stem is None:
                key = where = relative
            else:
                folder = relative.rpartition("/")[0]
                key = (claim.student, "flat", folder)
                where = f"files named for {claim.student} in {folder or 'the top folder'}"
            upload = uploads.setdefault(key, _Upload(claim.student, time, _shown(where)))
            upload.stamp = upload.stamp or stamp
            upload.items.append((relative, container, item, claim.stem))
        return uploads

    def _stamp(self, container, student, relative, item):
        """(time, bytes) of the timestamp.txt `item`, or (None, None) when it is invalid
        (reported as that student's problem)."""
        try:
            data = container.read(item, archive.Budget(archive.NOTEBOOK_BYTES))
            return stamp_time(data), data
        except (Refused, ValueError) as error:
            self.skip(relative, f"not used: {error}", student)
            return None, None

    def choose(self, uploads):
        """{student: the _Upload collected}; the others are listed as not used."""
        by_student = {}
        for upload in uploads.values():
            by_student.setdefault(upload.student, []).append(upload)
        chosen = {}
        for student, mine in sorted(by_student.items()):
            entry = self.entry(student)
            if len(mine) == 1:
                chosen[student] = mine[0]
            elif all(upload.time is not None for upload in mine):
                mine.sort(key=lambda upload: upload.time)
                chosen[student] = newest = mine[-1]
                for upload in mine[:-1]:
                    why = f"an older attempt ({upload.time}); the newest ({newest.time}) is used"
                    entry["not used"].append(f"{upload.where}: {why}")
                    for origin, *_ in upload.items:
                        self.skip(origin, why)
            else:
                wheres = "; ".join(upload.where for upload in mine)
                why = (
                    f"{len(mine)} uploads claim {student} and their order is unknown (no "
                    f"attempt time to tell the newest): {wheres}. Not collected: keep one "
                    "of them in the source and collect again (what was collected before, if "
                    "anything, is kept)"
                )
                entry["problems"].append(why)
                for upload in mine:
                    entry["not used"].append(f"{upload.where}: conflict")
                    for origin, *_ in upload.items:
                        self.skip(origin, f"conflict: {len(mine)} uploads claim {student}")
        return chosen

    def notebooks(self, upload, known):
        """{stem: Candidate} of the upload collected for its student; `known`: every
        student of the source (to name a member of a zip named for another)."""
        opened = []
        try:
            return self._notebooks(upload, known, opened)
        finally:
            for handle in opened:
                handle.close()

    def _notebooks(self, upload, known, opened):
        budget = archive.Budget()
        offers = {}  # stem: [(origin, container, item)]
        for origin, container, item, stem in upload.items:
            if stem is not None:
                offers.setdefault(stem, []).append((origin, container, item))
                continue
            try:
                handle = container.open_zip(item, self.scratch, budget)
            except Refused as error:
                self.skip(origin, str(error), upload.student)
                continue
            opened.append(handle)
            self._unpack(_Zip(handle), origin, 1, upload, known, offers, budget, opened)
        found = {}
        for stem, copies in sorted(offers.items()):
            copies.sort(key=lambda copy: copy[0])
            origin, container, item = copies[-1]
            for other, *_ in copies[:-1]:
                self.skip(other, f"another copy of {stem}.ipynb in this upload: {origin} is used")
            try:
                data = container.read(item, budget)
                problem = archive.notebook_problem(data)
                if problem:
                    raise Refused(problem)
            except Refused as error:
                self.skip(origin, str(error), upload.student)
                continue
            path = Path(tempfile.mkstemp(suffix=".ipynb", dir=self.scratch)[1])
            path.write_bytes(data)
            found[stem] = Candidate(path, upload.stamp, _shown(origin))
        return found

    def _unpack(self, zipped, origin, depth, upload, known, offers, budget, opened):
        """Add the notebooks of the student's zip `zipped` (at `origin`, `depth` zips
        deep) to `offers`: each member is the notebook its name ends with, nothing more.
        The zips it opens go to `opened`."""
        refused = []
        for name, item in zipped.items(refused):
            inner = f"{origin}!{name}"
            path = PurePosixPath(name)
            if _ignored(path) or path.suffix.lower() not in (".ipynb", ".zip"):
                self.skip(inner, "not a course notebook, nor a zip of one")
            elif path.suffix.lower() == ".zip":
                if depth >= archive.ZIP_DEPTH:
                    self.skip(inner, f"zips nested over {archive.ZIP_DEPTH} deep (the limit)")
                    continue
                try:
                    handle = zipped.open_zip(item, self.scratch, budget)
                except Refused as error:
                    self.skip(inner, str(error), upload.student)
                    continue
                opened.append(handle)
                self._unpack(_Zip(handle), inner, depth + 1, upload, known, offers, budget, opened)
            elif (stem := _stem_of(path.stem)) is None:
                self.skip(inner, "not a course notebook")
            else:
                try:
                    archive.check_member(item, archive.NOTEBOOK_BYTES, "a notebook")
                except Refused as error:
                    self.skip(inner, str(error), upload.student)
                    continue
                self._named_for_another(inner, name, stem, upload, known)
                offers.setdefault(stem, []).append((inner, zipped, item))
        for name, why in refused:
            self.skip(f"{origin}!{name}", why, upload.student)

    def _named_for_another(self, inner, name, stem, upload, known):
        """Warn when a member of a student's zip is named like another student's file."""
        claim = _claim(name, self.regexp)
        if claim and claim.student != upload.student and (claim.time or claim.student in known):
            self.entry(upload.student)["warnings"].append(
                f"{_shown(inner)} is named like a file of {_shown(claim.student)}: in "
                f"{upload.student}'s upload it counts as {upload.student}'s {stem}.ipynb"
            )


def gather(source, scratch, regexp=None):
    """Gathered: the notebooks each student handed in, read from `source` (a folder or a
    zip) into the folder `scratch`. Raises ValueError when the source itself is unusable."""
    source = Path(source)
    if regexp is not None:
        try:
            pattern = re.compile(regexp)
        except re.error as error:
            raise ValueError(f"--regexp {regexp!r} is not a regular expression: {error}") from None
        if "student_id" not in pattern.groupindex or "file_id" not in pattern.groupindex:
            raise ValueError("--regexp needs the named groups student_id and file_id")
    gatherer = _Gatherer(scratch, regexp)
    if source.is_dir():
        uploads = gatherer.uploads(_Folder(source))
        return _gathered(gatherer, uploads)
    try:
        handle = archive.open_zip(archive.open_file(source.resolve()))
    except Refused as error:
        raise ValueError(
            f"{source} is neither a folder nor a usable zip archive: {error}"
        ) from None
    with handle:
        return _gathered(gatherer, gatherer.uploads(_Zip(handle)))


def _gathered(gatherer, uploads):
    chosen = gatherer.choose(uploads)
    known = {upload.student for upload in uploads.values()}
    found = {}
    for student, upload in chosen.items():
        notebooks = gatherer.notebooks(upload, known)
        entry = gatherer.entry(student)
        entry["attempt"] = upload.time and f"{upload.time:%Y-%m-%d %H:%M:%S}"
        if notebooks:
            found[student] = notebooks
        else:
            entry["problems"].append(f"{upload.where}: no course notebook could be collected")
    return Gathered(found, gatherer.students, gatherer.skipped)


# ------------------------------------------------------------------ the step


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
        from autograder.content.samples import generate

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
        found, students, skipped = gather(source, Path(scratch) / "in", regexp)
        report = {"source": str(source), "students": {}, "skipped": skipped}
        for student, entry in sorted(students.items()):
            report["students"][student] = entry
            notebooks = found.get(student)
            if not notebooks:
                continue
            files = {f"{stem}.ipynb": info.path.read_bytes() for stem, info in notebooks.items()}
            stamp = next(iter(notebooks.values())).timestamp
            if stamp is not None:
                files[TIMESTAMP] = stamp
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
        f"collect: {len(collected)} student(s) from {_shown(report['source'])}: "
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
