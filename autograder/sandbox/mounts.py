"""What the grading sandbox shows: the mounts of bwrap's command line.

Not the host's root: a fresh read-only tmpfs holding read-only binds of /usr (and
/bin, /lib, ... as on the host: links on a merged-/usr system), a few harmless files
of /etc, the Python installation the student venv runs on, and the real targets of
the venv's ``borrowed/`` links -- only they: never the rest of the site-packages they
come from, which may hold the instructor-only package. The student venv itself
(under the course) and the grading cases are not bound but copied into the
sandbox's own root, at /opt/student-venv and /grading/cases (contract.VENV,
contract.CASES): the mount table (/proc/self/mountinfo shows where each bind comes
from) names neither, and the venv's files that name its host path (pyvenv.cfg's
command, scripts, bytecode, pip's record) are left out or rewritten. Any path that
must stay invisible (the instructor package, the checkout, the course workspace)
and still lies under a bound folder is covered by an empty read-only tmpfs.

The writable folders of the scratch folder K are added by
autograder.sandbox.command, which builds the whole command line from these.
"""

import os
from dataclasses import dataclass
from pathlib import Path

from bnlab._grading.contract import VENV

# The host's system folders a Python process needs, read-only (symlinks stay symlinks).
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32")
# Harmless files of /etc: the dynamic linker's cache and configuration, the time zone, and
# fontconfig's configuration (matplotlib asks fc-list for fonts when it builds its cache).
ETC_FILES = (
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/fonts",
)


def under(path, folder):
    """Whether `path` is `folder` or lies inside it (both absolute, normalized)."""
    return path == folder or path.startswith(folder.rstrip("/") + "/")


@dataclass
class Mount:
    """One bwrap operation. kind: ro or rw (a bind of source at dest), cover (a read-only
    bind of the empty file source over the file dest), tmpfs (an empty read-only folder over
    dest), symlink (dest links to source), dir (a folder at dest), file (a file at dest in
    the sandbox's own root, with the bytes of the descriptor source: no mount)."""

    kind: str
    source: str
    dest: str

    def args(self):
        if self.kind == "symlink":
            return ["--symlink", self.source, self.dest]
        if self.kind == "tmpfs":  # made read-only once everything is mounted
            return ["--tmpfs", self.dest]
        if self.kind == "dir":
            return ["--dir", self.dest]
        if self.kind == "file":
            return ["--file", self.source, self.dest]
        return ["--bind" if self.kind == "rw" else "--ro-bind", self.source, self.dest]


def bind(mounts, path, dest=None, kind="ro"):
    """Show host `path` (its real target) at `dest` (default: `path` as written), and also at
    its real path when that differs: Python may reach the folder either way."""
    real = os.path.realpath(path)
    as_written = os.path.normpath(os.path.abspath(path))
    dest = os.path.normpath(dest or as_written)
    mounts.append(Mount(kind, real, dest))
    if dest != real and dest == as_written and not under(real, "/usr"):
        mounts.append(Mount(kind, real, real))


def system_mounts():
    """/usr and friends (links kept as links), and the harmless files of /etc."""
    mounts = []
    for path in SYSTEM_DIRS:
        if os.path.islink(path):
            mounts.append(Mount("symlink", os.readlink(path), path))
        elif os.path.isdir(path):
            mounts.append(Mount("ro", path, path))
    for path in ETC_FILES:
        if os.path.exists(path):
            bind(mounts, path)
    return mounts


def installation(python):
    """The folders of the Python installation `python` runs on (outside /usr, which is
    shown anyway): for a venv's, the folder above its `home` in pyvenv.cfg, as written (it
    may go through a link); and the folder above the real bin/ of `python`."""
    python = os.path.abspath(python)
    paths = {os.path.dirname(os.path.dirname(os.path.realpath(python)))}
    cfg = os.path.join(os.path.dirname(os.path.dirname(python)), "pyvenv.cfg")
    if os.path.isfile(cfg):
        with open(cfg, encoding="utf-8") as handle:
            for line in handle:
                key, _, value = line.partition("=")
                if key.strip() == "home" and value.strip():
                    paths.add(os.path.dirname(os.path.normpath(value.strip())))
    paths = {path for path in paths if not under(os.path.realpath(path), "/usr")}
    return sorted(path for path in paths if not any(under(path, o) for o in paths - {path}))


def memory_file(content):
    """An inheritable descriptor holding `content` (bytes), for bwrap's --file: a memory
    file, so that it names nothing of the host."""
    fd = os.memfd_create("sandbox-file", 0)
    os.write(fd, content)
    os.lseek(fd, 0, os.SEEK_SET)
    os.set_inheritable(fd, True)
    return fd


def file_mounts(source, dest, skip=lambda path, data: False, rewrite=lambda path, data: data):
    """Mounts that copy the folder `source` (its regular files, its links as links) to
    `dest` in the sandbox's own root: no bind, so the sandbox's mount table does not show
    where it came from. A file for which skip(path, bytes) is true is left out; the others
    get rewrite(path, bytes)."""
    mounts = [Mount("dir", "", dest)]
    for folder, dirs, files in os.walk(source):
        inside = os.path.normpath(os.path.join(dest, os.path.relpath(folder, source)))
        for name in sorted(dirs + files):
            path = os.path.join(folder, name)
            if os.path.islink(path):
                mounts.append(Mount("symlink", os.readlink(path), os.path.join(inside, name)))
            elif os.path.isdir(path):
                mounts.append(Mount("dir", "", os.path.join(inside, name)))
            elif os.path.isfile(path):
                with open(path, "rb") as handle:
                    data = handle.read()
                if not skip(path, data):
                    fd = memory_file(rewrite(path, data))
                    mounts.append(Mount("file", str(fd), os.path.join(inside, name)))
        dirs[:] = [name for name in dirs if not os.path.islink(os.path.join(folder, name))]
    return mounts


def shown_python(python):
    """The path of `python` inside the sandbox: in VENV when it is a venv's."""
    python = os.path.abspath(python)
    venv = os.path.dirname(os.path.dirname(python))
    if os.path.isfile(os.path.join(venv, "pyvenv.cfg")):
        return os.path.join(VENV, "bin", os.path.basename(python))
    return python


def venv_mounts(python, empty=None, hide=()):
    """The student venv of `python` (if it is one), copied to VENV, and the real targets of
    the links of the folders its .pth files put on the path (the `borrowed/` folder of
    autograder.grading.student_venv): only those targets, never their neighbours; a .pth
    folder outside the venv is shown whole. The venv's host path shows nowhere: in the .pth files it is rewritten
    to VENV; a file that names it or a hidden path otherwise (pyvenv.cfg's command, scripts,
    its kernelspec, bytecode, pip's record of the wheel's path) is left out, and pyvenv.cfg
    keeps only the lines that name neither. Its bin/ holds only `python`, a link to the
    interpreter. empty -- an empty file, to cover files with (see targets_mounts)."""
    python = os.path.abspath(python)
    venv = os.path.dirname(os.path.dirname(python))
    if not os.path.isfile(os.path.join(venv, "pyvenv.cfg")):
        return []
    real_venv = os.path.realpath(venv)
    names = {os.path.normpath(venv).encode(), real_venv.encode()}
    secret = names | {os.path.realpath(path).encode() for path in hide}

    def skip(path, data):
        if os.sep + "__pycache__" + os.sep in path or path.endswith(".pyc"):
            return True
        if under(path, os.path.join(real_venv, "bin")):
            return True
        rewritten = path.endswith(".pth") or os.path.basename(path) == "pyvenv.cfg"
        return any(name in data for name in secret) and not rewritten

    def rewrite(path, data):
        for name in sorted(names, key=len, reverse=True):
            data = data.replace(name, VENV.encode())
        if os.path.basename(path) == "pyvenv.cfg":
            lines = [line for line in data.splitlines(True) if VENV.encode() not in line]
            data = b"".join(line for line in lines if not any(n in line for n in secret))
        return data

    bin_folder = os.path.join(VENV, "bin")
    mounts = [m for m in file_mounts(real_venv, VENV, skip, rewrite) if m.dest != bin_folder]
    mounts = [m for m in mounts if not under(m.dest, bin_folder)]
    mounts += [
        Mount("dir", "", bin_folder),
        Mount("symlink", os.path.realpath(python), shown_python(python)),
    ]
    links = []
    for pth in sorted(Path(venv).glob("lib/python*/site-packages/*.pth")):
        for line in pth.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if not line or line.startswith(("#", "import ", "import\t")):
                continue
            folder = os.path.join(str(pth.parent), line)
            if not os.path.isdir(folder):
                continue
            if not under(os.path.realpath(folder), real_venv):
                bind(mounts, folder)
                continue
            for entry in sorted(os.scandir(folder), key=lambda e: e.name):
                if entry.is_symlink() and os.path.exists(entry.path):
                    target = os.path.join(folder, os.readlink(entry.path))
                    links.append((os.path.normpath(target), os.path.realpath(entry.path)))
    return mounts + targets_mounts(links, empty)


def targets_mounts(links, empty=None):
    """Mounts that show exactly the link targets `links` ([(path linked to, real path)]),
    where they are linked to.

    One bind per target costs bwrap time that grows with the square of the number of
    mounts (about 0.35 s for the 300 entries of a course environment). So where the
    targets are most of one folder's entries (a site-packages: everything but the course's
    own distributions), the folder is bound once and each of its other entries -- the ones
    no link points to, listed now -- is covered: an empty read-only tmpfs over a folder,
    the file `empty` over a file. What shows is the same either way: the targets, nothing
    else. A folder with more others than targets, or with an other that cannot be covered
    (a link; a file when there is no `empty`), gets one bind per target."""
    mounts, by_folder = [], {}
    for linked, real in links:
        folder, name = os.path.split(linked)
        if os.path.join(os.path.realpath(folder), name) == real:
            by_folder.setdefault(folder, set()).add(name)
        else:  # the entry linked to is itself a link: shown where it is linked to
            mounts.append(Mount("ro", real, linked))
    for folder, names in sorted(by_folder.items()):
        real = os.path.realpath(folder)
        others = [entry for entry in os.scandir(real) if entry.name not in names]
        coverable = all(
            entry.is_dir(follow_symlinks=False) or (empty and entry.is_file(follow_symlinks=False))
            for entry in others
        )
        if len(others) < len(names) and coverable:
            mounts.append(Mount("ro", real, folder))
            for entry in others:
                dest = os.path.join(folder, entry.name)
                if entry.is_dir(follow_symlinks=False):
                    mounts.append(Mount("tmpfs", "", dest))
                else:
                    mounts.append(Mount("cover", empty, dest))
        else:
            for name in sorted(names):
                mounts.append(Mount("ro", os.path.join(real, name), os.path.join(folder, name)))
    return mounts


def masks(mounts, hidden):
    """An empty read-only tmpfs over each hidden folder that a bind would show. (One inside
    another mask needs none of its own, unless a bind inside the outer mask shows it again.)"""
    binds = [mount for mount in mounts if mount.kind in ("ro", "rw")]
    dests = set()
    for real in {os.path.realpath(path) for path in hidden}:
        for mount in binds:
            if under(real, mount.source) and os.path.isdir(real):
                relative = os.path.relpath(real, mount.source)
                dests.add(os.path.normpath(os.path.join(mount.dest, relative)))

    def needed(dest):
        outer = [other for other in dests if other != dest and under(dest, other)]
        return not outer or any(
            under(dest, shown.dest) and any(under(shown.dest, o) and shown.dest != o for o in outer)
            for shown in binds
        )

    return [Mount("tmpfs", "", dest) for dest in sorted(dests) if needed(dest)]


def ordered(mounts):
    """Parents before children (a bind inside a mask shows again), masks after the binds
    at their own depth; one operation per destination."""
    seen, unique = set(), []
    for mount in mounts:
        key = (mount.kind, mount.dest)
        if key not in seen:
            seen.add(key)
            unique.append(mount)
    return sorted(
        unique, key=lambda m: (m.dest.rstrip("/").count("/"), m.kind in ("tmpfs", "cover"))
    )
