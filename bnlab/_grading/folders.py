"""Emptying a folder that a notebook's code could write, without following its links:
the grader empties its scratch folders with this, and the notebook server /dev/shm.
"""

import os

_FOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
MAX_DEPTH = 32  # folders held open at once by empty_folder; deeper ones are moved up first


def _open_folder(name, parent, mode):
    """A descriptor of the folder `name` in the open folder `parent`, after giving it
    `mode` (it may have been made unreadable). Raises NotADirectoryError for anything but a
    folder -- a link included: it is never followed."""
    handle = os.open(name, os.O_PATH | _FOLDER, dir_fd=parent)
    try:
        os.chmod(f"/proc/self/fd/{handle}", mode)  # this very folder, found without links
        return os.open(f"/proc/self/fd/{handle}", _FOLDER & ~os.O_NOFOLLOW)
    finally:
        os.close(handle)


def empty_folder(folder, keep=(), mode=0o755):
    """Remove everything inside `folder` but the folders of `keep` (paths, emptied too),
    whatever modes and depth another process gave them; `folder` and the kept folders get
    `mode`. Every step goes through a descriptor of a folder already opened without
    following links (openat, unlinkat, renameat), so a link is removed, never followed, and
    nothing outside `folder` is touched even if the tree changes meanwhile. Folders nested
    deeper than MAX_DEPTH are moved up to `folder` and removed from there. Raises OSError
    when something cannot be removed."""
    folder = os.path.abspath(folder)
    keep = {os.path.abspath(path) for path in keep}
    parent = os.open(os.path.dirname(folder) or "/", _FOLDER)
    try:
        top = _open_folder(os.path.basename(folder) or ".", parent, mode)
    finally:
        os.close(parent)
    try:
        moved = [0]
        while _empty_into(top, top, folder, keep, mode, 0, moved):
            pass  # folders were moved up: another pass
    finally:
        os.close(top)


def _free_name(top, moved):
    """A name not taken in the open folder `top`."""
    while True:
        moved[0] += 1
        try:
            os.stat(f".emptying-{moved[0]}", dir_fd=top, follow_symlinks=False)
        except FileNotFoundError:
            return f".emptying-{moved[0]}"


def _empty_into(top, fd, path, keep, mode, depth, moved):
    """empty_folder's pass over the open folder `fd` (at `path`); whether it moved a folder
    up to `top` (then another pass is needed)."""
    again = False
    for entry in list(os.scandir(fd)):
        name, inner = entry.name, os.path.join(path, entry.name)
        kept = inner in keep
        try:
            child = _open_folder(name, fd, mode if kept else 0o700)
        except NotADirectoryError:
            os.unlink(name, dir_fd=fd)
            continue
        try:
            if depth >= MAX_DEPTH and not kept:
                os.rename(name, _free_name(top, moved), src_dir_fd=fd, dst_dir_fd=top)
                again = True
                continue
            again |= _empty_into(top, child, inner, keep, mode, depth + 1, moved)
        finally:
            os.close(child)
        if not kept:
            os.rmdir(name, dir_fd=fd)
    return again
