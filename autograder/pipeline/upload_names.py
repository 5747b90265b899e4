"""What the names in a submission source say: whose a file is, which notebook, and when.

The rules of collect (autograder.pipeline.collect) for reading a name, following
nbgrader's zip-collect conventions:
- nbgrader's own layout: <student>/batchnorm/<notebook>.ipynb, with its timestamp.txt;
- one folder per student: <student>/<notebook>.ipynb;
- flat files as an LMS hands them out: ``<student>_<notebook>.ipynb`` or Blackboard's
  ``<assignment>_<student>_attempt_<timestamp>_<notebook>.ipynb``, or a custom regular
  expression with the named groups ``student_id`` and ``file_id`` (and optionally
  ``timestamp``);
- zips that students uploaded, named by the LMS like a file above, or ``<student>.zip``.

An attempt time is read strictly (a real date and time between 2000 and now), and so is
the content of a timestamp.txt, by the rule grade reads it by.
"""

import datetime as dt
import re
from pathlib import Path, PurePosixPath
from typing import NamedTuple

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
    the attempt time as written (or None), and the student folder it is in (or None)."""

    student: str
    stem: str | None
    time: str | None
    folder: str | None


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
        if not match or not match.groupdict().get("student_id"):
            return None
        groups = match.groupdict()
        stem = stem_of(Path(groups.get("file_id") or "").stem) if notebook else None
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
