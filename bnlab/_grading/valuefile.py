"""Values that cross the grading sandbox's wall, in files that hold no code.

While a notebook is graded, the kernel that runs the student's code hands the
grader what each graded function returned; the grader hands the kernel the
inputs to call it with. Both travel as one ``.npz`` file per function: the
arrays as ``.npy`` members (read back with ``allow_pickle=False``, so no object
arrays and no code) and the structure around them as JSON. So whatever a
student's code writes into such a file, reading it back builds only plain
values: numpy arrays and scalars, numbers, strings, None, and tuples, lists and
dicts of them. A value of any other type arrives as an ``Opaque`` instance
whose class has the original type's name (so a check can say "got Foo").

    save(path, value)   write `value` to `path` (a new .npz file)
    load(path)          the value back; raises ValueFileError for anything malformed,
                        too large (MAX_BYTES) or too deeply nested (MAX_DEPTH)

The file is the student's process speaking, so ``load`` is total: it bounds every
part before parsing it (the file, the number of members, each member's declared and
actual size, the JSON structure's bytes and nodes, each array's header, dtype and
shape against its bytes) and any other malformed value -- an int of too many digits,
an unknown tag, a key that cannot be a key, a type name that is no name -- is an
ValueFileError too, never another exception.
"""

import io
import json
import os
import re
import stat
import zipfile

import numpy as np

MAX_BYTES = 256 * 1024**2  # a results file larger than this is not read
MAX_DEPTH = 40  # containers nested deeper than this are not read
MAX_ITEMS = 200_000  # nodes of the structure (arrays, numbers, containers...)
MAX_TREE = 16 * 1024**2  # bytes of the structure's JSON (a real one takes a few KiB)
MAX_MEMBERS = 20_000  # arrays in one file (a real one holds a few hundred)
MAX_DIGITS = 4000  # of an int (Python refuses to convert more than 4300)
ARRAY_KINDS = "biufcSU"  # bool, ints, floats, complex, bytes, text: no objects, records,
# void, times or dates
_TREE = "__tree__"
_INT = re.compile(rf"-?[0-9]{{1,{MAX_DIGITS}}}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,79}(\.[A-Za-z_][A-Za-z0-9_]{0,79}){0,7}")
NEUTRAL_NAME = "UnnamedError"


class ValueFileError(ValueError):
    """A file that does not hold a readable value."""


class Opaque:
    """A value of a type that does not cross the wall; its class carries the type's name."""

    def __repr__(self):
        return f"<{type(self).__name__}>"


def _encode(value, arrays, depth=0):
    if depth > MAX_DEPTH:
        raise ValueFileError(f"nested deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return value if abs(value) < 2**53 else {"int": str(value)}
    if isinstance(value, float):
        return value if np.isfinite(value) else {"float": repr(value)}
    if isinstance(value, (np.ndarray, np.generic)) and value.dtype != object:
        arrays.append(np.asarray(value))
        kind = "array" if isinstance(value, np.ndarray) else "scalar"
        return {kind: len(arrays) - 1}
    if isinstance(value, (tuple, list)):
        items = [_encode(item, arrays, depth + 1) for item in value]
        return {"tuple" if isinstance(value, tuple) else "list": items}
    if isinstance(value, dict):
        return {
            "dict": [
                [_encode(k, arrays, depth + 1), _encode(v, arrays, depth + 1)]
                for k, v in value.items()
            ]
        }
    return {"opaque": type(value).__name__[:80]}


def save(path, value):
    """Write `value` to the .npz file `path` (arrays uncompressed, structure as JSON)."""
    arrays = []
    tree = _encode(value, arrays)
    members = {f"a{i}": array for i, array in enumerate(arrays)}
    members[_TREE] = np.frombuffer(json.dumps(tree).encode("utf-8"), dtype=np.uint8)
    with open(path, "wb") as handle:
        np.savez(handle, **members)


def plain_name(name, default=NEUTRAL_NAME):
    """`name` if it is a plain Python name (ASCII letters, digits and underscores, not
    starting with a digit; dotted parts allowed, e.g. ``numpy.linalg.LinAlgError``),
    else `default`: a name a student's process reports may reach a report or a CSV cell,
    so nothing else (a formula, markup, control characters) passes."""
    return name if isinstance(name, str) and _NAME.fullmatch(name) else default


def _decode(node, arrays, budget, depth=0):
    budget[0] -= 1
    if budget[0] < 0:
        raise ValueFileError(f"more than {MAX_ITEMS} values")
    if depth > MAX_DEPTH:
        raise ValueFileError(f"nested deeper than {MAX_DEPTH} levels")
    if node is None or isinstance(node, (bool, float, str)):
        return node
    if isinstance(node, int):  # save writes larger ints tagged
        if abs(node) >= 2**53:
            raise ValueFileError("an untagged int out of range")
        return node
    if not (isinstance(node, dict) and len(node) == 1):
        raise ValueFileError("malformed structure")
    ((kind, body),) = node.items()
    if kind in ("array", "scalar") and type(body) is int:
        array = arrays(body)
        return array if kind == "array" else array[()]
    if kind in ("tuple", "list") and isinstance(body, list):
        items = [_decode(item, arrays, budget, depth + 1) for item in body]
        return tuple(items) if kind == "tuple" else items
    if kind == "dict" and isinstance(body, list):
        pairs = [
            (_decode(k, arrays, budget, depth + 1), _decode(v, arrays, budget, depth + 1))
            for k, v in (_pair(item) for item in body)
        ]
        try:
            return dict(pairs)
        except Exception:  # unhashable, or a key whose hash or comparison fails
            raise ValueFileError("a dict key that cannot be a key") from None
    if kind == "int" and isinstance(body, str):
        if not _INT.fullmatch(body):
            raise ValueFileError(f"an int that is not up to {MAX_DIGITS} decimal digits")
        return int(body)
    if kind == "float" and isinstance(body, str) and body in ("nan", "inf", "-inf"):
        return float(body)
    if kind == "opaque" and isinstance(body, str):
        return type(plain_name(body[:80], "Opaque"), (Opaque,), {})()
    raise ValueFileError(f"malformed structure ({str(kind)[:40]!r})")


def _pair(item):
    if not (isinstance(item, list) and len(item) == 2):
        raise ValueFileError("malformed dict entry")
    return item


def _members(data):
    """{name without .npy: bytes} of the zip archive `data`, each member bounded before it
    is read: how many, their declared sizes, and the bytes read against the declaration."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
        if len(infos) > MAX_MEMBERS:
            raise ValueFileError(f"more than {MAX_MEMBERS} members")
        if sum(info.file_size for info in infos) > MAX_BYTES:
            raise ValueFileError(f"larger than {MAX_BYTES // 1024**2} MiB")
        members = {}
        for info in infos:
            name = info.filename.removesuffix(".npy")
            limit = MAX_TREE if name == _TREE else MAX_BYTES
            if info.file_size > limit or name in members:
                raise ValueFileError(f"a member too large or repeated ({name[:40]!r})")
            with archive.open(info) as handle:
                content = handle.read(info.file_size + 1)
            if len(content) != info.file_size:
                raise ValueFileError("a member whose size is not the one declared")
            members[name] = content
    return members


def _tree(member):
    """The structure's JSON, bounded before it is parsed: its bytes (MAX_TREE, checked by
    _members) and the containers and separators that make nodes (MAX_ITEMS)."""
    text = _npy(member)
    if text.dtype != np.uint8 or text.ndim != 1:
        raise ValueFileError("a structure that is not bytes")
    raw = text.tobytes()
    marks = sum(raw.count(mark) for mark in (b"[", b"{", b","))
    if marks > 4 * MAX_ITEMS:
        raise ValueFileError(f"more than {MAX_ITEMS} values")
    return json.loads(raw.decode("utf-8"))


def load(path):
    """The value saved at `path`; ValueFileError if it is not a well-formed, bounded file."""
    try:
        members = _members(read_regular_file(path))
        tree = _tree(members[_TREE])
    except ValueFileError:
        raise
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, RecursionError) as error:
        raise ValueFileError(f"not a readable value file ({type(error).__name__})") from None
    except Exception as error:  # noqa: BLE001 -- zipfile and json on hostile bytes
        raise ValueFileError(f"not a readable value file ({type(error).__name__})") from None

    def arrays(index):
        if f"a{index}" not in members:
            raise ValueFileError("a reference to a missing array")
        return _npy(members[f"a{index}"])

    try:
        return _decode(tree, arrays, [MAX_ITEMS])
    except RecursionError:
        raise ValueFileError("nested too deeply") from None


def read_regular_file(path, size=MAX_BYTES, tail=False):
    """The first (or, with tail, the last) `size` bytes of `path`, which must be a regular
    file, not a link: a kernel could point one anywhere its reader may read. Without tail,
    a file larger than `size` is refused (ValueFileError)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    with os.fdopen(os.open(path, flags), "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ValueFileError("not a regular file")
        if tail:
            handle.seek(max(0, info.st_size - size))
        elif info.st_size > size:
            raise ValueFileError(f"larger than {size // 1024**2} MiB")
        return handle.read(size)


def _npy(data):
    """The array in the .npy bytes `data`, its header checked before any of it is read: a
    version numpy knows, a dtype of ARRAY_KINDS (native byte order once read), and a
    shape whose size is exactly the bytes that follow."""
    try:
        handle = io.BytesIO(data)
        version = np.lib.format.read_magic(handle)
        if version not in ((1, 0), (2, 0)):
            raise ValueFileError(f"an array of unknown format {version}")
        read_header = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )
        shape, _, dtype = read_header(handle, max_header_size=10_000)
        if dtype.kind not in ARRAY_KINDS or dtype.fields is not None or dtype.itemsize < 1:
            raise ValueFileError(f"an array of dtype {str(dtype)[:40]} is not read")
        count = 1
        for size in shape:
            if size < 0:
                raise ValueFileError("an array of negative shape")
            count *= size
        if count * dtype.itemsize != len(data) - handle.tell():
            raise ValueFileError("an array whose shape does not match its bytes")
        array = np.load(io.BytesIO(data), allow_pickle=False)
        return array if array.dtype.isnative else array.astype(array.dtype.newbyteorder("="))
    except ValueFileError:
        raise
    except Exception as error:  # noqa: BLE001 -- numpy's header parser on hostile bytes
        raise ValueFileError(f"an unreadable array ({type(error).__name__})") from None
