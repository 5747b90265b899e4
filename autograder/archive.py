"""Reading what students hand in without trusting it: files, zip archives, notebooks.

collect reads every file and every archive member on its own, through this module:
one that is unsafe, damaged or too large raises Refused, whose message says why in
plain words; collect lists it as skipped and goes on with the rest. Nothing here
writes under a member's own name, follows a link, or reads more than a limit allows.
The limits are here, in one place.
"""

import json
import os
import re
import stat
import zipfile
from collections import Counter

MiB = 1024**2

# The limits, measured on the course's notebooks: the source notebooks are 24-78 KB
# with 25-60 cells; executed, with their figures, the largest (04_deep_network) is
# 1.1 MB. They compress about 4:1 (4.3:1 at most; executed ones with figures 1.5:1).
# Each limit leaves a wide margin over that.
NOTEBOOK_BYTES = 16 * MiB  # one notebook: 14 times the largest executed one
NOTEBOOK_CELLS = 2000  # cells of one notebook: 33 times the most a course notebook has (60)
RATIO = 100  # uncompressed : compressed size of a member: 23 times the most measured ...
RATIO_FROM = 1 * MiB  # ... checked for members larger than this (a smaller one weighs nothing)
STUDENT_BYTES = 256 * MiB  # read or extracted for one student in all (their notebooks and the
#                            zips nested in their upload): room for 7 notebooks at the limit, twice
ZIP_DEPTH = 3  # zips one inside another in a student's upload, the upload itself included
ZIP_MEMBERS = 100_000  # members of one zip (an LMS download of a class of 1000 with 7
#                        notebooks and a few attempts each holds some 20 000)
_DIRECTORY_BYTES = ZIP_MEMBERS * 1024  # size of a zip's central directory (its list of members)

# How a zip archive starts (a member, or the end record of an empty archive), and what is
# said of one that starts so but has no end: a download or a copy cut short.
ZIP_STARTS = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
TRUNCATED = (
    "a damaged or truncated zip archive: its end, the list of its members, is missing, so it "
    "cannot be read (download or copy it again)"
)

_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Refused(Exception):
    """A file or member that is not used; the message says why, in plain words."""


class NotAZip(Refused):
    """A file that is no zip archive at all (not a damaged one)."""


def size_text(size):
    """A size in bytes, in words: '12.5 MiB'."""
    return f"{size / MiB:.1f} MiB" if size >= MiB else f"{size} bytes"


class Budget:
    """The bytes one student's files may take in all (STUDENT_BYTES)."""

    def __init__(self, limit=STUDENT_BYTES):
        self.left = limit
        self.limit = limit

    def take(self, size):
        """Count `size` bytes, or raise Refused when they do not fit."""
        if size > self.left:
            raise Refused(
                f"{size_text(size)} more would pass the limit of {size_text(self.limit)} "
                "read or extracted for one student"
            )
        self.left -= size


# ------------------------------------------------------------------ files of a folder


def open_file(path):
    """A binary file object of the regular file `path`, opened without following a link."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        raise Refused(f"cannot be opened ({error.strerror or error})") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise Refused("not a regular file")
    return os.fdopen(fd, "rb")


def read_file(path, limit, budget):
    """The bytes of the regular file `path` (no link followed): at most `limit` bytes,
    counted in `budget`."""
    with open_file(path) as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > limit:
            raise Refused(f"{size_text(size)}, over the limit of {size_text(limit)} for a notebook")
        budget.take(size)
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise Refused(f"over the limit of {size_text(limit)} for a notebook")
    return data


# ------------------------------------------------------------------ zip archives


def open_zip(handle):
    """zipfile.ZipFile reading the binary file object `handle` (closed with it), once its
    list of members is known to be within ZIP_MEMBERS. Raises Refused for a damaged
    archive."""
    try:
        end = zipfile._EndRecData(handle)  # the end record: member count, directory size
        if end is None:
            handle.seek(0)
            if handle.read(4) in ZIP_STARTS:
                raise Refused(TRUNCATED)
            raise NotAZip("not a zip archive")
        entries, directory = end[zipfile._ECD_ENTRIES_TOTAL], end[zipfile._ECD_SIZE]
        if entries > ZIP_MEMBERS or directory > _DIRECTORY_BYTES:
            raise Refused(f"holds over {ZIP_MEMBERS} members (the limit)")
        handle.seek(0)
        archive = zipfile.ZipFile(handle)
    except Refused:
        handle.close()
        raise
    except Exception as error:  # whatever a damaged archive makes zipfile raise
        handle.close()
        raise Refused(f"a damaged zip archive, it cannot be read ({error})") from None
    archive._filePassed = False  # the archive owns `handle`: its close() closes it
    if len(archive.infolist()) > ZIP_MEMBERS:
        archive.close()
        raise Refused(f"holds over {ZIP_MEMBERS} members (the limit)")
    return archive


def unsafe_name(name):
    """Why the member name `name` is unsafe (it could name a place outside the folder it
    is unpacked in, or hide what it is), or None."""
    if not name:
        return "an empty name"
    if _CONTROL.search(name):
        return "a control character in its name"
    if "\\" in name:
        return "a backslash in its name (a Windows path)"
    if name.startswith("/"):
        return "an absolute path"
    if _DRIVE.match(name):
        return "a drive letter in its name"
    parts = name[:-1].split("/") if name.endswith("/") else name.split("/")
    if ".." in parts:
        return "'..' in its path (it would leave the folder)"
    if "" in parts or "." in parts:
        return "an empty or '.' folder in its path"
    return None


def members(archive):
    """([member usable as a file], [(name, why it is skipped)]) of the open zip `archive`:
    each member judged on its own. Folders are left out (they hold nothing); unsafe names,
    links, encrypted members, names given twice and files that are also a folder are
    skipped."""
    infos = archive.infolist()
    counts = Counter(info.filename for info in infos)
    folders = set()
    for info in infos:
        parts = info.filename.rstrip("/").split("/")
        folders.update("/".join(parts[:i]) for i in range(1, len(parts) + info.is_dir()))
    usable, skipped = [], []
    for info in infos:
        name = info.filename
        why = unsafe_name(name)
        if why is None and counts[name] > 1:
            why = f"the archive holds {counts[name]} members of this name: none is used"
        if why is None and info.is_dir():
            continue
        if why is None and name in folders:
            why = "also a folder in the archive (a file and a folder of the same name)"
        if why is None and stat.S_ISLNK(info.external_attr >> 16):
            why = "a link"
        if why is None and info.flag_bits & 0x1:
            why = "encrypted"
        if why:
            skipped.append((name, why))
        else:
            usable.append(info)
    return usable, skipped


def check_member(info, limit=None, what=""):
    """Refused when the member `info` is a zip bomb (compression ratio over RATIO) or
    larger than `limit` bytes (if given; for `what`, e.g. 'a notebook')."""
    size = info.file_size
    if size > RATIO_FROM and size > RATIO * max(info.compress_size, 1):
        ratio = size / max(info.compress_size, 1)
        raise Refused(
            f"compressed {ratio:.0f}:1, over the limit of {RATIO}:1 "
            f"({size_text(size)} from {size_text(info.compress_size)}: a zip bomb?)"
        )
    if limit is not None and size > limit:
        raise Refused(f"{size_text(size)}, over the limit of {size_text(limit)} for {what}")


def read_member(archive, info, limit, budget):
    """The bytes of member `info` of `archive`, checked (check_member) and counted in
    `budget`; never more than `limit` bytes are read."""
    check_member(info, limit, "a notebook")
    budget.take(info.file_size)
    try:
        with archive.open(info) as member:
            data = member.read(limit + 1)  # to its end: zipfile then checks its CRC
    except Exception as error:  # whatever damaged data makes a decompressor raise
        raise Refused(f"damaged, it cannot be read ({error})") from None
    if len(data) > limit:
        raise Refused(f"over the limit of {size_text(limit)} for a notebook")
    return data


def extract_member(archive, info, target, budget):
    """Copy member `info` of `archive` (a nested zip) to the new file `target`, checked
    (check_member) and counted in `budget`."""
    check_member(info)
    budget.take(info.file_size)
    written = 0
    try:
        with archive.open(info) as member, open(target, "xb") as sink:
            while chunk := member.read(MiB):
                written += len(chunk)
                if written > info.file_size:
                    raise Refused("longer than its archive says")
                sink.write(chunk)
    except Refused:
        raise
    except Exception as error:  # whatever damaged data makes a decompressor raise
        raise Refused(f"damaged, it cannot be read ({error})") from None


# ------------------------------------------------------------------ notebooks


def notebook_problem(data):
    """Why the bytes `data` (within NOTEBOOK_BYTES) are not taken as a notebook -- too many
    cells -- or None. Bytes that are no JSON notebook are taken as they are: grade reports
    them as not a valid notebook."""
    try:
        notebook = json.loads(data)
    except (ValueError, RecursionError):
        return None
    if not isinstance(notebook, dict):
        return None
    cells = notebook.get("cells")
    count = len(cells) if isinstance(cells, list) else 0
    worksheets = notebook.get("worksheets")  # nbformat 3
    if isinstance(worksheets, list):
        for sheet in worksheets:
            if isinstance(sheet, dict) and isinstance(sheet.get("cells"), list):
                count += len(sheet["cells"])
    if count > NOTEBOOK_CELLS:
        return f"{count} cells, over the limit of {NOTEBOOK_CELLS} for a notebook"
    return None
