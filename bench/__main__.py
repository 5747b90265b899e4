"""Run the benchmarks and write bench/results.md.

    python -m bench                 # every bench/bench_*.py, results in bench/results.md
    python -m bench bn_layer        # only bench/bench_bn_layer.py, printed
    python -m bench -o out.md ...   # write the results to out.md

Every module ``bench/bench_<name>.py`` is found by itself (add one and it runs)
and exposes ``run() -> str``: one markdown section. The results file is a
header (machine, versions, threads, method) followed by those sections, in the
order of the module names.
"""

import argparse
import datetime
import importlib
import os
import pkgutil
import platform
import subprocess
import sys
import time
import traceback
from pathlib import Path

import numpy as np

import bench
import bnlab
from bench.timing import METHOD

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results.md"


def discover():
    """Names ("bn_layer", ...) of the modules bench/bench_*.py, sorted."""
    return sorted(
        info.name[len("bench_") :]
        for info in pkgutil.iter_modules(bench.__path__)
        if info.name.startswith("bench_")
    )


def _read(path):
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def cpu_model():
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def physical_cores():
    """Distinct (physical id, core id) pairs in /proc/cpuinfo, or None where unknown."""
    cores, physical = set(), "0"
    for line in _read("/proc/cpuinfo").splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "physical id":
            physical = value
        elif key == "core id":
            cores.add((physical, value))
    return len(cores) or None


def memory_gib():
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 2**20
    return None


def load_average():
    try:
        return "{:.2f} / {:.2f} / {:.2f}".format(*os.getloadavg())
    except OSError:
        return "unknown"


def busy_note():
    """A warning when other processes were already using the CPUs, else ""."""
    try:
        load = os.getloadavg()[0]
    except OSError:
        return ""
    cpus = os.cpu_count() or 1
    if load < 0.5 * cpus:
        return ""
    return (
        f"**The machine was busy when this run started** (load {load:.2f} on {cpus} logical "
        "CPUs). Other processes took CPU time from the measurements: every figure is slower "
        "and noisier than on an idle machine, and multithreaded code (PyTorch's OpenMP pool, "
        "the BLAS) suffers most, since a parallel region waits for its slowest thread to get a "
        "core. Compare the spread columns; rerun `make bench` on an idle machine for figures "
        "that compare the libraries rather than the scheduler."
    )


def git_commit():
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=HERE,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def thread_pools():
    """One line per native thread pool (BLAS, OpenMP) loaded in this process."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return ["threadpoolctl is not installed: thread pools unknown"]
    lines = []
    for pool in threadpool_info():
        version = f" {pool['version']}" if pool.get("version") else ""
        lines.append(
            f"{pool['internal_api']}{version} ({pool['user_api']}, {pool['prefix']}): "
            f"{pool['num_threads']} threads"
        )
    return lines


def torch_parallel_facts(torch):
    """PyTorch's parallel backend and its math library's threads, from its own report."""
    facts = []
    for line in torch.__config__.parallel_info().splitlines():
        line = line.strip()
        if line.startswith("ATen parallel backend:"):
            facts.append("parallel backend " + line.split(":", 1)[1].strip())
        elif line.startswith("mkl_get_max_threads()"):
            facts.append(f"MKL {line.split(':', 1)[1].strip()} threads")
    return facts


def header(load_before, busy):
    try:
        import torch
    except ImportError:
        torch = None
    cores = physical_cores()
    memory = memory_gib()
    commit = git_commit()
    lines = [
        "# bnlab benchmarks",
        "",
        "Written by `python -m bench` (`make bench`) on "
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; "
        "every figure and every verdict below is computed by that run.",
        "",
        "## Machine",
        "",
        f"- CPU: {cpu_model()}",
        f"- Cores: {os.cpu_count()} logical"
        + (f", {cores} physical" if cores else "")
        + f"; this process may run on {len(os.sched_getaffinity(0))}",
        f"- Memory: {memory:.1f} GiB" if memory else "- Memory: unknown",
        f"- OS: {platform.system()} {platform.release()} ({platform.machine()})",
        f"- Load average (1 / 5 / 15 min) when the run started: {load_before}",
        "",
        *([busy, ""] if busy else []),
        "## Versions",
        "",
        f"- Python {platform.python_version()} ({platform.python_implementation()})",
        f"- NumPy {np.__version__}",
        f"- PyTorch {torch.__version__}" if torch else "- PyTorch: not installed",
        f"- bnlab {bnlab.__version__}" + (f" (commit {commit})" if commit else ""),
        "",
        "## Threads",
        "",
        "Every library runs with its defaults; nothing here changes a thread count.",
        "",
    ]
    if torch is not None:
        lines.append(
            f"- PyTorch: `torch.get_num_threads()` = {torch.get_num_threads()} "
            f"(intra-op), `torch.get_num_interop_threads()` = {torch.get_num_interop_threads()}"
            + "".join(f"; {fact}" for fact in torch_parallel_facts(torch))
        )
    lines += [f"- {line}" for line in thread_pools()]
    lines += [
        "- NumPy's element-wise operations and reductions run on one thread; "
        "only its matrix products go to the BLAS above.",
        "",
        "## Method",
        "",
        METHOD,
        "",
    ]
    return "\n".join(lines)


def run_module(name):
    """(section, ok): the markdown section of bench/bench_<name>.py, or a report of its failure."""
    started = time.perf_counter()
    print(f"bench_{name} ...", file=sys.stderr, flush=True)
    try:
        module = importlib.import_module(f"bench.bench_{name}")
        section, ok = module.run().rstrip() + "\n", True
    except Exception:
        # The report names files relative to the repository, never by machine path.
        report = traceback.format_exc().replace(f"{HERE.parent}{os.sep}", "")
        section = f"## bench_{name}: failed\n\n```\n{report}```\n"
        ok = False
    print(
        f"bench_{name} {'done' if ok else 'FAILED'} in {time.perf_counter() - started:.0f} s",
        file=sys.stderr,
        flush=True,
    )
    return section, ok


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument(
        "names", nargs="*", help=f"benchmarks to run (default: all of {', '.join(discover())})"
    )
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        help="results file (default: bench/results.md when every benchmark runs, else print only)",
    )
    args = parser.parse_args(argv)
    available = discover()
    unknown = [name for name in args.names if name not in available]
    if unknown:
        parser.error(f"no benchmark {', '.join(unknown)}; choose from {', '.join(available)}")
    names = args.names or available
    output = args.output or (None if args.names else RESULTS)

    load_before, busy = load_average(), busy_note()
    sections, failed = [], []
    for name in names:
        section, ok = run_module(name)
        sections.append(section)
        if not ok:
            failed.append(name)
    text = header(load_before, busy) + "\n" + "\n".join(sections)
    text += f"\nLoad average (1 / 5 / 15 min) when the run ended: {load_average()}\n"
    if output is None:
        print(text)
    else:
        output.write_text(text)
        print(f"wrote {output.name}", file=sys.stderr)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
