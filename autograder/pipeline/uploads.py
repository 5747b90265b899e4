"""Reading a submission source: the uploads in it, the one collected per student, and
the notebooks of those.

An upload speaks only for its uploader: the source's own names (the LMS's, read by
autograder.pipeline.upload_names) say who handed a file in and when; inside a student's
zip only the notebook a member is (the end of its name) counts, whatever else its name
or folder says. A student's attempts are compared as wholes: the newest attempt is
collected and the others are listed; uploads of one student whose order is unknown (no
attempt time, or the same one in different layouts) are a conflict and that student is
not collected; so are uploads of one student that came from different LMS accounts (the
prefixes an LMS puts in front of the names bnlab submit writes), and one account that
hands in work as several students is warned of. Every file and archive member is read on
its own (autograder.archive) and one that is unsafe, damaged or over a limit is skipped
with its reason.
"""

import datetime as dt
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import NamedTuple

from autograder import archive
from autograder.archive import Refused
from autograder.errors import GraderError
from autograder.pipeline.upload_names import (
    STUDENT_ID,
    TIMESTAMP,
    attempt_time,
    bad_id_reason,
    claim_of,
    ignored,
    no_id_reason,
    renamed_by,
    shown,
    stamp_time,
    stem_of,
)
from bnlab.course import ASSIGNMENT, NOTEBOOKS

NOT_OURS = "not a course notebook, nor a zip of one"


class CollectError(GraderError, ValueError):
    """The source cannot be collected from (missing, not a folder nor a usable zip, a bad
    --regexp, ...); the message says why."""


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
    uploader: str | None = None  # the LMS account its name says uploaded it, if it says one
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
        origin, reason = shown(origin), shown(reason)
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
            claim = claim_of(relative, self.regexp)
            if claim is None:
                lms = renamed_by(relative) if self.regexp is None else None
                self.skip(relative, no_id_reason(lms) if lms else NOT_OURS)
                continue
            if not STUDENT_ID.match(claim.student):
                self.skip(relative, bad_id_reason(claim.student))
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
                key, where = (claim.student, time, claim.uploader), f"attempt {time}"
                if claim.uploader is not None:
                    where += f" uploaded by {claim.uploader}"
                stamp = stamp or f"{time:%Y-%m-%d %H:%M:%S}".encode()
            elif claim.folder is not None:
                key, where = claim.folder + "/", f"folder {claim.folder}/"
            elif claim.stem is None:
                key = where = relative
            else:
                folder = relative.rpartition("/")[0]
                key = (claim.student, "flat", folder)
                where = f"files named for {claim.student} in {folder or 'the top folder'}"
            upload = uploads.setdefault(
                key, _Upload(claim.student, time, shown(where), uploader=claim.uploader)
            )
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
        self._one_uploader_several_students(uploads)
        chosen = {}
        for student, mine in sorted(by_student.items()):
            entry = self.entry(student)
            uploaders = {upload.uploader for upload in mine}
            if len(uploaders) > 1:
                self._several_uploaders(student, mine, uploaders)
            elif len(mine) == 1:
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

    def _one_uploader_several_students(self, uploads):
        """Warn when one LMS account uploaded work under several student ids."""
        by_uploader = {}
        for upload in uploads.values():
            if upload.uploader is not None:
                by_uploader.setdefault(upload.uploader, set()).add(upload.student)
        for uploader, students in sorted(by_uploader.items()):
            if len(students) > 1:
                for student in sorted(students):
                    others = ", ".join(sorted(students - {student}))
                    self.entry(student)["warnings"].append(
                        f"uploaded by {shown(uploader)}, who also handed in work as {others}: "
                        "check whose work each is"
                    )

    def _several_uploaders(self, student, mine, uploaders):
        """Not collected: uploads of `student` (`mine`) come from several LMS accounts (or
        some from an LMS account and some not): one of them hands in work as another."""
        entry = self.entry(student)
        names = "; ".join(
            sorted(shown(u) if u else "a file the LMS did not rename" for u in uploaders)
        )
        entry["problems"].append(
            f"uploads from {len(uploaders)} different LMS accounts hand in work as {student} "
            f"({names}). Not collected: find out whose work it is, keep only that upload in "
            "the source and collect again (what was collected before, if anything, is kept)"
        )
        for upload in mine:
            entry["not used"].append(f"{upload.where}: conflict")
            for origin, *_ in upload.items:
                self.skip(origin, f"conflict: {len(uploaders)} LMS accounts claim {student}")

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
            found[stem] = Candidate(path, upload.stamp, shown(origin))
        return found

    def _unpack(self, zipped, origin, depth, upload, known, offers, budget, opened):
        """Add the notebooks of the student's zip `zipped` (at `origin`, `depth` zips
        deep) to `offers`: each member is the notebook its name ends with, nothing more.
        The zips it opens go to `opened`."""
        refused = []
        for name, item in zipped.items(refused):
            inner = f"{origin}!{name}"
            path = PurePosixPath(name)
            if ignored(path) or path.suffix.lower() not in (".ipynb", ".zip"):
                self.skip(inner, NOT_OURS)
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
            elif (stem := stem_of(path.stem)) is None:
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
        claim = claim_of(name, self.regexp)
        if claim and claim.student != upload.student and (claim.time or claim.student in known):
            self.entry(upload.student)["warnings"].append(
                f"{shown(inner)} is named like a file of {shown(claim.student)}: in "
                f"{upload.student}'s upload it counts as {upload.student}'s {stem}.ipynb"
            )


def gather(source, scratch, regexp=None):
    """Gathered: the notebooks each student handed in, read from `source` (a folder or a
    zip) into the folder `scratch`. Raises CollectError when the source itself is unusable."""
    source = Path(source)
    if regexp is not None:
        try:
            pattern = re.compile(regexp)
        except re.error as error:
            raise CollectError(
                f"--regexp {regexp!r} is not a regular expression: {error}"
            ) from None
        if "student_id" not in pattern.groupindex or "file_id" not in pattern.groupindex:
            raise CollectError("--regexp needs the named groups student_id and file_id")
    gatherer = _Gatherer(scratch, regexp)
    if source.is_dir():
        uploads = gatherer.uploads(_Folder(source))
        return _gathered(gatherer, uploads)
    try:
        handle = archive.open_zip(archive.open_file(source.resolve()))
    except archive.NotAZip:
        raise CollectError(f"{source} is neither a folder nor a zip archive") from None
    except Refused as error:
        raise CollectError(f"{source} cannot be collected from: {error}") from None
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
