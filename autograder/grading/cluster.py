"""A Dask cluster on this machine, started as an instructor would start one by hand.

`LocalCluster(folder, workers)` runs ``dask scheduler`` and ``dask worker``
processes on 127.0.0.1 (one thread each, no nanny, each worker in a folder of
its own, so that they share no files with a course) and stops them on
``close()``. The tests and the benchmarks grade on it; an instructor can try
``grade --scheduler`` with it before setting up a real cluster::

    python -m autograder.grading.cluster --workers 2      # prints the address; Ctrl-C stops it
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LocalCluster:
    """`dask scheduler` and `workers` x `dask worker` on 127.0.0.1, logs in `folder`."""

    def __init__(self, folder, workers=2, env=None):
        self.folder, self.env, self.processes = Path(folder), env, []
        port, dashboard = free_port(), free_port()
        self.address = f"tcp://127.0.0.1:{port}"
        self.scheduler = self._start(
            "scheduler",
            ["scheduler", "--host", "127.0.0.1", "--port", str(port)]
            + ["--dashboard-address", f"127.0.0.1:{dashboard}"],
        )
        self.workers = []
        for _ in range(workers):
            self.add_worker(wait=False)
        self.wait_for_workers(workers)

    def add_worker(self, wait=True):
        """Start one more `dask worker` (named w<number>); with `wait`, return once the
        scheduler has it. Its process."""
        number = len(self.workers)
        self.workers.append(self._start(f"worker-{number}", self._worker_args(number)))
        if wait:
            self.wait_for_workers(number + 1)
        return self.workers[-1]

    def _worker_args(self, number):
        return ["worker", self.address, "--nthreads", "1", "--no-nanny", "--host", "127.0.0.1"] + [
            "--dashboard-address",
            ":0",
            "--name",
            f"w{number}",
        ]

    def _start(self, name, args):
        cwd = self.folder / name
        cwd.mkdir(parents=True, exist_ok=True)
        env = dict(self.env if self.env is not None else os.environ)
        with open(cwd / "log.txt", "ab") as log:
            process = subprocess.Popen(
                [str(Path(sys.executable).parent / "dask"), *args],
                cwd=cwd,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append(process)
        return process

    def wait_for_workers(self, count, timeout=120):
        from distributed import Client

        with Client(self.address, timeout="60s") as client:
            client.wait_for_workers(count, timeout=timeout)

    def busy_worker(self):
        """The pid of a worker that is running a task now (None if none is)."""
        from distributed import Client

        with Client(self.address, timeout="30s") as client:
            busy = {address for address, keys in client.processing().items() if keys}
            names = {client.scheduler_info()["workers"][a]["name"] for a in busy}
        for number, process in enumerate(self.workers):
            if f"w{number}" in names and process.poll() is None:
                return process.pid
        return None

    def close(self):
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m autograder.grading.cluster", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bnlab-cluster-") as folder:
        with LocalCluster(folder, args.workers) as cluster:
            print(f"scheduler: {cluster.address} (grade --scheduler {cluster.address})")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
