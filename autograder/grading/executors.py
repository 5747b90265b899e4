"""Where submissions are graded: a pool of worker processes here, or a Dask cluster.

Both take the students to grade, a function that reads one student's submission
(only when it is sent: the parent holds no more submissions than are being
graded) and the run's context, and yield (student, result) as results come in,
each student once. A result is autograder.grading.submission's dict, or
``{"student": ..., "crash": why}`` when grading failed as a whole.

local -- `workers` processes of this machine. At most `workers` students are
    in flight, so when a worker process dies (and takes the pool with it) the
    students in flight are the only suspects: the others go on in a fresh pool,
    and each suspect is graded again alone. A student whose grading kills a
    worker even alone is yielded as a crash.
dask -- the workers of a running ``dask.distributed`` scheduler, which need
    nothing of this machine: the submission and the context travel with the
    task, the result comes back. Twice as many tasks as the cluster has threads
    are in flight. When a worker is lost, the scheduler runs its tasks again
    elsewhere; a task whose result is lost all the same (its worker died, or the
    task was cancelled) is sent again, up to MAX_TRIES times, then yielded as a
    crash. The context is sent to every worker once; if every copy of it is lost
    with the workers that held it, it is sent again before the next task. Each
    student is yielded once. A scheduler that cannot be reached, that has no
    workers, or that is lost during the run (the client's connection to it closes:
    no worker could run a task again) is a ClusterUnavailable, said in one sentence.
"""

import contextlib
import traceback
import uuid
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context

from autograder.errors import GraderError
from autograder.grading import submission

KILLED = "the grading process died while grading it (it was retried alone)"
LOST = "the grading process died while grading it, on every Dask worker that tried"
MAX_TRIES = 3  # times a submission is sent to the cluster before it is reported lost


class ClusterUnavailable(GraderError):
    """The Dask scheduler cannot be reached, or it has no workers to grade with."""


def grade_in_worker(student_submission, context):
    """A worker's task: grade one submission; a crash becomes a result that says why."""
    try:
        return submission.grade_submission(student_submission, context)
    except Exception:
        return {"student": student_submission.student, "crash": traceback.format_exc()}


def _worker_init():
    warnings.filterwarnings("ignore")
    with contextlib.suppress(Exception):  # die with the parent (Linux): no orphan graders
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _pool(workers):
    return ProcessPoolExecutor(
        max_workers=max(1, workers), mp_context=get_context("spawn"), initializer=_worker_init
    )


def local(students, read, context, workers=1):
    """Yield (student, result) for every student, graded `workers` at a time here."""
    queue, suspects = list(students), []
    while queue:
        with _pool(workers) as pool:
            running = {}
            while queue or running:
                try:
                    while queue and len(running) < max(1, workers):
                        future = pool.submit(grade_in_worker, read(queue[0]), context)
                        running[future] = queue.pop(0)
                except BrokenProcessPool:  # it broke before a result said so
                    suspects += list(running.values())
                    break
                done = next(as_completed(running))
                student = running.pop(done)
                try:
                    result = done.result()
                except BrokenProcessPool:
                    suspects += [student, *running.values()]
                    break
                yield student, result
        yield from _alone(suspects, read, context)
        suspects = []


def _alone(suspects, read, context):
    for student in suspects:
        with _pool(1) as alone:
            try:
                result = alone.submit(grade_in_worker, read(student), context).result()
            except BrokenProcessPool as error:
                result = {"student": student, "crash": f"{KILLED}: {error}"}
        yield student, result


def dask(address, students, read, context, log=print):
    """Yield (student, result) for every student, graded by the workers of the Dask
    scheduler at `address` (e.g. tcp://10.0.0.5:8786). Raises ClusterUnavailable when the
    scheduler cannot be reached, has no workers, or is lost during the run."""
    from distributed import as_completed as completed

    client = _connect(address, log)
    with client:
        try:
            threads = sum(client.nthreads().values())
            shared = client.scatter(context, broadcast=True) if threads else None
        except (OSError, TimeoutError) as error:  # the connection was lost meanwhile
            raise _lost(address, error) from None
        if not threads:
            raise ClusterUnavailable(f"the Dask scheduler at {address} has no workers")
        students, names, run = iter(students), {}, uuid.uuid4().hex[:8]
        pending, tries = completed(), {}

        def send(student):
            nonlocal shared
            tries[student] = tries.get(student, 0) + 1
            key = f"bnlab-grade-{run}-{student}-{tries[student]}"
            task = read(student)
            try:
                if shared.status != "finished":  # its copies were lost with the workers
                    shared = client.scatter(context, broadcast=True, hash=False)
                future = client.submit(grade_in_worker, task, shared, key=key, pure=False)
            except Exception as error:
                if client.status != "running":  # closed after losing the scheduler
                    raise _lost(address, error) from None
                raise
            names[future.key] = student
            pending.add(future)

        for student in _take(students, 2 * threads):
            send(student)
        for future in pending:
            student = names.pop(future.key)
            try:
                result = future.result()
            except Exception as error:  # noqa: BLE001 -- the task itself never raises: its
                # worker was lost, or its result with it (KilledWorker, cancelled, ...)
                future.release()
                if client.status != "running":  # the scheduler, not a worker, was lost
                    raise _lost(address, error) from None
                if tries[student] < MAX_TRIES:
                    send(student)  # graded again elsewhere; merged once, when it comes back
                    continue
                result = {"student": student, "crash": f"{LOST}: {type(error).__name__}: {error}"}
            future.release()
            tries.pop(student, None)
            yield student, result
            for following in _take(students, 1):
                send(following)


def _connect(address, log):
    """A distributed.Client of the scheduler at `address`; ClusterUnavailable if there is
    none within Dask's connect timeout (or `address` is not one): its setting
    distributed.comm.timeouts.connect, 30 s unless configured (for one run:
    DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT=60s)."""
    import dask
    from distributed import Client

    try:
        client = Client(address, timeout=dask.config.get("distributed.comm.timeouts.connect"))
    except (OSError, TimeoutError, ValueError) as error:  # ValueError: not an address
        raise ClusterUnavailable(f"cannot reach the Dask scheduler at {address}: {error}") from None
    log(f"grade: Dask scheduler {address}; its dashboard: {client.dashboard_link}")
    return client


def _lost(address, error):
    return ClusterUnavailable(
        f"lost the Dask scheduler at {address} ({type(error).__name__}: {error}); the "
        "students graded so far are merged, the next run grades the others"
    )


def _take(iterator, count):
    taken = []
    for item in iterator:
        taken.append(item)
        if len(taken) == count:
            break
    return taken
