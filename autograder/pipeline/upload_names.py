"""What the names in a submission source say: whose a file is, which notebook, and when.

The rules of collect (autograder.pipeline.collect) for reading a name, following
nbgrader's zip-collect conventions:
- nbgrader's own layout: <student>/batchnorm/<notebook>.ipynb, with its timestamp.txt;
- one folder per student: <student>/<notebook>.ipynb;
- flat files as an LMS hands them out: ``<student>_<notebook>.ipynb`` or Blackboard's
  ``<assignment>_<student>_attempt_<timestamp>_<notebook>.ipynb``, or a custom regular
  expression with the named groups ``student_id`` and ``file_id`` (and optionally
  ``timestamp``);
- zips that students uploaded, named by the LMS like a file above, or ``<student>.zip``;
- the names ``python -m bnlab submit`` writes, ``<assignment>_<ID>_attempt_<time>_submission.zip``
  (members ``<assignment>_<ID>_attempt_<time>_<notebook>.ipynb``), as they are or as an LMS
  renames them: behind Canvas's ``<name>_<user id>_<submission id>_`` (``_LATE_`` too), Moodle's
  ``<full name>_<id>_assignsubmission_file_`` or any other prefix, with a copy's mark at the
  end (Canvas's ``-1``, a browser's `` (1)``), or in a Moodle folder
  ``<full name>_<id>_assignsubmission_file_/``. The student and the time are the ID and the
  time of that name; what the LMS put in front of it (or the Moodle folder) is the uploader,
  so that two LMS accounts handing in work as one student can be told apart. Behind
  Blackboard's own ``<assignment>_<student>_attempt_<time>_``, Blackboard's student and time
  count, as for any file.

Canvas's and Moodle's names hold no student id of the course (Canvas's squashed name and
its ids, Moodle's full name and participant number): a file they renamed, or anything in a
Moodle folder, that is no name `bnlab submit` wrote says nobody (renamed_by names the LMS,
for the reason collect gives); a --regexp may still say who, matched against the name or
the whole path in the source.

An attempt time is read strictly (a real date and time between 2000 and now), and so is
the content of a timestamp.txt, by the rule grade reads it by.
"""

import datetime as dt
import re
from pathlib import Path, PurePosixPath
from typing import NamedTuple

from bnlab.course import ASSIGNMENT, NOTEBOOKS
from bnlab.student import member_name, zip_name

STEMS = sorted(NOTEBOOKS, key=len, reverse=True)
# nbgrader: 128 characters; \Z, not $: "$" also matches before a final line break
STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+\-]{0,127}\Z")
IGNORED_PARTS = {"__MACOSX", ".ipynb_checkpoints"}
TIMESTAMP = "timestamp.txt"
ATTEMPT = "_attempt_"
# An LMS attempt time: Blackboard's 2024-03-01-12-30-00, or any six numbers with one
# separator each (a --regexp's timestamp group), or 20240301123000.
ATTEMPT_TIME = re.compile(
    r"(\d{4})[-_.: T]?(\d\d)[-_.: T]?(\d\d)[-_.: T]?(\d\d)[-_.: T]?(\d\d)[-_.: T]?(\d\d)"
)
# The time in the names `python -m bnlab submit` writes: 2026-03-01-12-30-05.
SUBMIT_TIME = r"\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d"


def _submit_pattern(template):
    """A regular expression that finds, at the end of a name (its stem) and after "_" or at
    its start, the stem of a name bnlab.student writes; `template`: that stem written with
    the characters 0, 1 and 2 (chr) in place of the student id (never holding "_attempt_",
    which submit refuses), the time and the notebook."""
    parts = {
        "\x00": rf"(?P<student>(?:(?!{ATTEMPT})[A-Za-z0-9._-])+)",
        "\x01": rf"(?P<time>{SUBMIT_TIME})",
        "\x02": rf"(?P<stem>{'|'.join(map(re.escape, STEMS))})",
    }
    pieces = re.split("([\x00-\x02])", template)
    return re.compile("(?:^|(?<=_))" + "".join(parts.get(p, re.escape(p)) for p in pieces) + "$")


# The names of the zip submit writes and of the notebooks in it (bnlab.student's own
# functions say what they are).
SUBMITTED_ZIP = _submit_pattern(PurePosixPath(zip_name("\x00", "\x01")).stem)
SUBMITTED_NOTEBOOK = _submit_pattern(PurePosixPath(member_name("\x00", "\x01", "\x02")).stem)
# The mark an LMS or a browser adds to the name of a second file of the same name:
# Canvas's "-1", a browser's " (1)" or "(1)".
COPY_MARK = re.compile(r"(?:-\d{1,4}| ?\(\d{1,4}\))$")
NAME_MAX = 255  # the longest file name most file systems allow
BLACKBOARD_PREFIX = re.compile(rf"^.+_.+{ATTEMPT}{SUBMIT_TIME}_$")
# Moodle's folder <full name>_<participant>_assignsubmission_file_, or the same in front of
# a name; Canvas's <squashed name>_<user id>_<submission id>_ (or _LATE_) in front.
MOODLE_FOLDER = re.compile(r"^.+_\d+_assign(?:submission|feedback)_[a-z]+_?$")
MOODLE_PREFIX = re.compile(r"^.+_\d+_assign(?:submission|feedback)_[a-z]+_.")
CANVAS_PREFIX = re.compile(r"^[a-z]+_(?:LATE_)?\d+_\d+_.")
EARLIEST = dt.datetime(2000, 1, 1)
CLOCK_SLACK = dt.timedelta(days=2)  # an LMS in another time zone, a clock a little off
TIMESTAMP_BYTES = 100


def stem_of(name):
    """The course notebook a file name (without .ipynb) refers to, or None."""
    for stem in STEMS:
        if name == stem or name.endswith(("_" + stem, "-" + stem)):
            return stem
    return None


def ignored(path):
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
    the attempt time as written (or None), the student folder it is in (or None), and who
    uploaded it as far as the LMS's renaming says (or None): the prefix an LMS put in front
    of a name `bnlab submit` wrote, or the Moodle folder it is in."""

    student: str
    stem: str | None
    time: str | None
    folder: str | None
    uploader: str | None = None


def _moodle_folder(path):
    """The first folder of `path` (a PurePosixPath) that is a Moodle student's, or None."""
    return next((part for part in path.parts[:-1] if MOODLE_FOLDER.match(part)), None)


def renamed_by(relative):
    """ "Moodle" or "Canvas" when the LMS's renaming of the file at `relative` in the source
    (or its Moodle folder) is all that could say whose it is: such names hold no student id.
    None for any other name, and for the names `bnlab submit` writes (they hold the id)."""
    path = PurePosixPath(relative)
    return None if _submitted(path, path.suffix.lower() == ".ipynb") else _lms_of(path)


def _lms_of(path):
    """ "Moodle" or "Canvas" when that LMS named `path` (a PurePosixPath) or its folder."""
    if _moodle_folder(path) or MOODLE_PREFIX.match(path.stem):
        return "Moodle"
    if CANVAS_PREFIX.match(path.stem):
        return "Canvas"
    return None


NO_ID = "no student id"  # in the reasons below: collect's summary gives its advice on them


def no_id_reason(lms):
    """Why a file named by `lms` ("Moodle" or "Canvas") is not collected."""
    return f"named by {lms}, whose names hold {NO_ID}"


def bad_id_reason(student):
    """Why a file whose name or folder says `student`, which cannot be an id, is not
    collected."""
    return f"{shown(student)!r} is {NO_ID} (letters, digits and . _ @ + -, at most 128)"


def _submitted(path, notebook):
    """The Claim of a name `bnlab submit` wrote (path: a PurePosixPath), as it is or renamed
    by an LMS, or None; None too behind Blackboard's own prefix, whose student and time are
    the LMS's (the Blackboard rule reads them)."""
    stem = path.stem
    if len(stem) > NAME_MAX or ATTEMPT not in stem:  # longer: no LMS's, and slow to search
        return None
    pattern = SUBMITTED_NOTEBOOK if notebook else SUBMITTED_ZIP
    for name in (stem, COPY_MARK.sub("", stem)):
        if match := pattern.search(name):
            break
    else:
        return None
    prefix = name[: match.start()]
    if BLACKBOARD_PREFIX.match(prefix):
        return None
    uploader = prefix.rstrip("_") or None
    if uploader is None and (folder := _moodle_folder(path)):
        uploader = folder.rstrip("_")
    stem_name = match["stem"] if notebook else None
    return Claim(match["student"], stem_name, match["time"], None, uploader)


def claim_of(relative, regexp=None):
    """The Claim of a notebook or a zip at `relative` in the source, or None."""
    path = PurePosixPath(relative)
    suffix = path.suffix.lower()
    if suffix not in (".ipynb", ".zip") or ignored(path):
        return None
    notebook = suffix == ".ipynb"
    name, parts = path.stem, path.parts
    if regexp is not None:
        match = re.match(regexp, path.name) or re.match(regexp, name)
        match = match or re.match(regexp, str(path))
        if not match or not match.groupdict().get("student_id"):
            return None
        groups = match.groupdict()
        stem = stem_of(Path(groups.get("file_id") or "").stem) if notebook else None
        if notebook and not stem:
            return None
        return Claim(groups["student_id"], stem, groups.get("timestamp"), None)
    submitted = _submitted(path, notebook)
    if submitted is None and _lms_of(path):  # renamed_by: no student id in such a name
        return None
    if len(parts) >= 3 and parts[-2] == ASSIGNMENT and (name in NOTEBOOKS or not notebook):
        return Claim(parts[-3], name if notebook else None, None, "/".join(parts[:-1]))
    if notebook and len(parts) >= 2 and name in NOTEBOOKS:
        return Claim(parts[-2], name, None, "/".join(parts[:-1]))
    if submitted:
        return submitted
    lms = _lms_name(name)
    if lms:
        student, time, rest = lms
        stem = stem_of(rest) if notebook else None
        if stem or not notebook:
            return Claim(student, stem, time, None)
    if not notebook:
        return Claim(name, None, None, None)
    stem = stem_of(name)
    if stem and name != stem:
        return Claim(name[: -len(stem) - 1], stem, None, None)
    return None


def classify(relative, regexp=None):
    """(student, notebook stem, timestamp or None) for a notebook's path inside the source,
    or None."""
    claim = claim_of(relative, regexp)
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
    reads it by (gradebook_writer.attempt_time, strict: never a general date parser); ValueError
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


def shown(text):
    """`text` safe to print and to write as JSON: escapes for control characters and bytes
    that are not UTF-8."""
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return re.sub(r"[\x00-\x1f\x7f]", lambda m: f"\\x{ord(m.group()):02x}", text)
