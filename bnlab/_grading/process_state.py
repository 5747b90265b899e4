"""What another process of the same user can change about the notebook server from
outside, and what a notebook can leave in shared memory: the server reads both before
each fork (bnlab._grading.forkserver) and stops when either differs from its start.
"""

import os
import platform
import resource

from bnlab._grading.folders import empty_folder

# Syscall numbers (by machine) of the calls Python does not wrap: ioprio_get(which, who)
# and sched_getattr(pid, attr, size, flags).
IOPRIO_GET = {"x86_64": 252, "aarch64": 31}
SCHED_GETATTR = {"x86_64": 315, "aarch64": 275}
IOPRIO_WHO_PROCESS = 1


def _syscall(numbers, *args):
    """The result of the syscall numbered `numbers[this machine]` with integer `args`, or
    None where its number is not known here."""
    import ctypes

    number = numbers.get(platform.machine())
    if number is None:
        return None
    result = ctypes.CDLL(None, use_errno=True).syscall(number, *args)
    return result if result >= 0 else -ctypes.get_errno()


def _sched_attributes():
    """sched_getattr(2) of this process as bytes (policy, nice, priority, deadline
    parameters, utilization clamps, flags), or None where it is not known here."""
    import ctypes

    if platform.machine() not in SCHED_GETATTR:
        return None
    attributes = ctypes.create_string_buffer(56)  # struct sched_attr, with the clamps
    code = _syscall(SCHED_GETATTR, 0, ctypes.addressof(attributes), 56, 0)
    return attributes.raw if code == 0 else code


def process_state():
    """What another process of the same user can change about this one from outside:
    resource limits (prlimit), nice value (setpriority), scheduling policy, priority and
    attributes (sched_setscheduler, sched_setattr), I/O priority (ioprio_set), CPU set
    (sched_setaffinity). (Its memory, descriptors and /proc files need ptrace access: it
    is not dumpable.)"""
    limits = {
        name: resource.getrlimit(getattr(resource, name))
        for name in dir(resource)
        if name.startswith("RLIMIT_")
    }
    return {
        "limits": limits,
        "priority": os.getpriority(os.PRIO_PROCESS, 0),
        "scheduler": [os.sched_getscheduler(0), os.sched_getparam(0).sched_priority],
        "scheduling attributes": _sched_attributes(),
        "I/O priority": _syscall(IOPRIO_GET, IOPRIO_WHO_PROCESS, 0),
        "cpus": sorted(os.sched_getaffinity(0)),
    }


def changes(started_with, shared=False):
    """What differs now from `started_with` (process_state()), and with `shared` (the
    sandbox's IPC namespace and /dev/shm are this server's own) what the last child left
    in shared memory that could not be removed: a list of words, empty if nothing."""
    now = process_state()
    changed = [name for name in started_with if now[name] != started_with[name]]
    return changed + (
        [f"left in shared memory: {w}" for w in shared_memory_left()] if shared else []
    )


def _sysv_objects():
    """[(kind, id)] of the System V IPC objects of this IPC namespace."""
    found = []
    for kind in ("shm", "msg", "sem"):
        try:
            with open(f"/proc/sysvipc/{kind}", encoding="ascii") as handle:
                rows = handle.read().splitlines()[1:]
        except OSError:
            continue
        found += [(kind, int(row.split()[1])) for row in rows]
    return found


def clear_shared_memory():
    """Remove the System V IPC objects and everything in /dev/shm the last child left:
    they outlive processes (whatever modes the child gave them, links not followed:
    empty_folder). What could not be removed is found before the next fork
    (shared_memory_left). (POSIX message queues cannot be listed without a mount of
    their file system; nothing the next child runs opens one it did not create.)"""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    ipc_rmid = 0
    for kind, ident in _sysv_objects():
        if kind == "sem":
            libc.semctl(ident, 0, ipc_rmid)
        elif kind == "shm":
            libc.shmctl(ident, ipc_rmid, None)
        else:
            libc.msgctl(ident, ipc_rmid, None)
    if os.path.isdir("/dev/shm"):
        try:
            empty_folder("/dev/shm")
        except OSError:
            pass


def shared_memory_left():
    """What is left in shared memory (System V objects, names in /dev/shm): a list."""
    left = [f"System V {kind} {ident}" for kind, ident in _sysv_objects()]
    try:
        left += [f"/dev/shm/{name}" for name in os.listdir("/dev/shm")]
    except FileNotFoundError:
        pass
    except OSError as error:
        left.append(f"/dev/shm ({error.strerror})")
    return left
