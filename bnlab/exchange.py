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
    load(path)          the value back; raises ExchangeError for anything malformed,
                        too large (MAX_BYTES) or too deeply nested (MAX_DEPTH)
"""

import io
import json
import os
import stat
import zipfile

import numpy as np

MAX_BYTES = 256 * 1024**2  # a results file larger than this is not read
MAX_DEPTH = 40  # containers nested deeper than this are not read
MAX_ITEMS = 200_000  # nodes of the structure (arrays, numbers, containers...)
_TREE = "__tree__"


class ExchangeError(ValueError):
    """A file that does not hold a readable value."""


class Opaque:
    """A value of a type that does not cross the wall; its class carries the type's name."""

    def __repr__(self):
        return f"<{type(self).__name__}>"


def _encode(value, arrays, depth=0):
    if depth > MAX_DEPTH:
        raise ExchangeError(f"nested deeper than {MAX_DEPTH} levels")
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


def _decode(node, arrays, budget, depth=0):
    budget[0] -= 1
    if budget[0] < 0:
        raise ExchangeError(f"more than {MAX_ITEMS} values")
    if depth > MAX_DEPTH:
        raise ExchangeError(f"nested deeper than {MAX_DEPTH} levels")
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if not (isinstance(node, dict) and len(node) == 1):
        raise ExchangeError("malformed structure")
    ((kind, body),) = node.items()
    if kind in ("array", "scalar"):
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
        except TypeError:
            raise ExchangeError("a dict key that cannot be a key") from None
    if kind == "int" and isinstance(body, str) and body.lstrip("-").isdigit():
        return int(body[:5000])
    if kind == "float" and body in ("nan", "inf", "-inf"):
        return float(body)
    if kind == "opaque" and isinstance(body, str):
        return type(body[:80] or "Opaque", (Opaque,), {})()
    raise ExchangeError(f"malformed structure ({kind!r})")


def _pair(item):
    if not (isinstance(item, list) and len(item) == 2):
        raise ExchangeError("malformed dict entry")
    return item


def load(path):
    """The value saved at `path`; ExchangeError if it is not a well-formed, bounded file."""
    try:
        with zipfile.ZipFile(io.BytesIO(read_regular_file(path))) as archive:
            total = sum(info.file_size for info in archive.infolist())
            if total > MAX_BYTES:
                raise ExchangeError(f"larger than {MAX_BYTES // 1024**2} MiB")
            members = {
                info.filename.removesuffix(".npy"): archive.read(info)
                for info in archive.infolist()
            }
        tree = json.loads(_npy(members[_TREE]).tobytes().decode("utf-8"))
    except ExchangeError:
        raise
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, RecursionError) as error:
        raise ExchangeError(f"not a readable exchange file ({type(error).__name__})") from None

    def arrays(index):
        if not isinstance(index, int) or f"a{index}" not in members:
            raise ExchangeError("a reference to a missing array")
        return _npy(members[f"a{index}"])

    try:
        return _decode(tree, arrays, [MAX_ITEMS])
    except RecursionError:
        raise ExchangeError("nested too deeply") from None


def read_regular_file(path, size=MAX_BYTES, tail=False):
    """The first (or, with tail, the last) `size` bytes of `path`, which must be a regular
    file, not a link: a kernel could point one anywhere its reader may read. Without tail,
    a file larger than `size` is refused (ExchangeError)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    with os.fdopen(os.open(path, flags), "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ExchangeError("not a regular file")
        if tail:
            handle.seek(max(0, info.st_size - size))
        elif info.st_size > size:
            raise ExchangeError(f"larger than {size // 1024**2} MiB")
        return handle.read(size)


def _npy(data):
    try:
        return np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise ExchangeError(f"an unreadable array ({error})"[:200]) from None
