"""Plumbing of the browser tests: Chromium, a Jupyter server, a Playwright page, screenshots.

- chromium_executable(): the path of Debian's Chromium, installed with apt-get when this
  is root (as `make browser` does); otherwise the test skips and says why.
- jupyter_server(argv, cwd, env): a Jupyter server (`jupyter lab`, `jupyter server`, ...)
  on 127.0.0.1, on a free port, with a random token; yields a Server once it answers and
  ends it with every process it started (kernels, terminals) afterwards.
- browser_page(): headless Chromium driven by Playwright (from PyPI, without its own
  browser download), with a fresh profile; yields a page.
- screenshot(target, name): a PNG of a page or of a locator into the artifacts folder,
  artifacts/browser/ at the repository root, or $BNLAB_ARTIFACTS/browser/.
"""

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from autograder_support import apt_install, free_port

ROOT = Path(__file__).resolve().parent.parent
DEBIAN_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Generous: the first start of JupyterLab and of a kernel on a busy two-core machine.
SERVER_TIMEOUT = 90  # seconds
PAGE_TIMEOUT = 60_000  # milliseconds, Playwright's unit


# ------------------------------------------------------------------ Chromium


def _find_chromium():
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return DEBIAN_CHROMIUM if os.access(DEBIAN_CHROMIUM, os.X_OK) else None


def chromium_executable(install=True):
    """The path of Chromium. Missing, it is installed with apt-get (Debian's package
    `chromium`) when this is root on a machine with apt-get; otherwise pytest.skip
    says so. Playwright (the dev extra) must be importable too, or the test skips."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("Playwright is not installed: pip install playwright (the dev extra)")
    found = _find_chromium()
    if found or not install:
        if found:
            return found
        pytest.skip("Chromium is not installed: apt-get install chromium (or `make browser`)")
    why = apt_install("chromium")
    found = _find_chromium()
    if found:
        return found
    pytest.skip(
        f"Chromium is not installed, and {why or 'the chromium package installed no browser'}"
        " (as root: apt-get install chromium, or `make browser`)"
    )


# ------------------------------------------------------------------ a Jupyter server


@dataclass
class Server:
    url: str  # the base URL, ending with /
    token: str
    log: Path  # the server's stdout and stderr

    def link(self, path=""):
        """The URL of `path` under the server (e.g. "lab/tree/x.ipynb"), with the token."""
        return f"{self.url}{path}?token={self.token}"

    def log_text(self):
        return self.log.read_text(encoding="utf-8", errors="replace")


def _descendants(pid):
    """The pids of every process below `pid` (read from /proc; empty where there is none).
    Kernels and terminals start sessions of their own: killing the server's process
    group does not reach them."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), ()):
            found.append(child)
            todo.append(child)
    return found


def _kill(pids, sig):
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _answers(url, timeout=5):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


@contextlib.contextmanager
def jupyter_server(argv, cwd, env=None, timeout=SERVER_TIMEOUT):
    """Run `argv` (a Jupyter server command, e.g. [python, "-m", "jupyter", "lab"]) in `cwd`
    with `env`, on 127.0.0.1, a free port and a random token, without opening a browser;
    yield a Server once /api/status answers. Afterwards the server is stopped (SIGTERM,
    then SIGKILL) with its process group and every process it started."""
    token = secrets.token_hex(24)
    port = free_port()
    argv = [
        *map(str, argv),
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--port-retries=0",
        f"--ServerApp.token={token}",
    ]
    if os.geteuid() == 0:
        argv.append("--allow-root")  # Jupyter refuses root without it (containers, CI)
    folder = Path(tempfile.mkdtemp(prefix="bnlab-jupyter-"))
    log = folder / "server.log"
    server = Server(f"http://127.0.0.1:{port}/", token, log)
    with open(log, "wb") as output:
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + timeout
        while not _answers(f"{server.url}api/status?token={token}"):
            if process.poll() is not None:
                raise RuntimeError(
                    f"the Jupyter server exited ({process.returncode}):\n{server.log_text()[-3000:]}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the Jupyter server did not answer within {timeout} s:\n"
                    f"{server.log_text()[-3000:]}"
                )
            time.sleep(0.25)
        yield server
    finally:
        started = _descendants(process.pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)  # the server shuts its kernels down
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        _kill(started + _descendants(process.pid), signal.SIGKILL)
        process.wait(timeout=20)
        shutil.rmtree(folder, ignore_errors=True)


# ------------------------------------------------------------------ Chromium, driven


@contextlib.contextmanager
def browser_page(executable=None, width=1400, height=1000):
    """Headless Chromium (`executable`, default chromium_executable()) with a fresh,
    throw-away profile, driven by Playwright; yields a page whose waits time out after
    PAGE_TIMEOUT."""
    from playwright.sync_api import sync_playwright

    executable = executable or chromium_executable()
    with tempfile.TemporaryDirectory(prefix="bnlab-chromium-") as profile:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile,
                executable_path=executable,
                headless=True,
                args=CHROMIUM_ARGS,
                viewport={"width": width, "height": height},
            )
            try:
                context.set_default_timeout(PAGE_TIMEOUT)
                page = context.pages[0] if context.pages else context.new_page()
                yield page
            finally:
                context.close()


# ------------------------------------------------------------------ artifacts


def artifacts_dir():
    """The folder of the browser tests' screenshots: artifacts/browser/ at the repository
    root, or $BNLAB_ARTIFACTS/browser/ when BNLAB_ARTIFACTS is set. Made if missing."""
    base = Path(os.environ.get("BNLAB_ARTIFACTS") or ROOT / "artifacts")
    folder = base / "browser"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def screenshot(target, name):
    """A PNG of `target` (a Playwright Page, or a Locator for one element) written to
    artifacts_dir()/<name>.png; its path."""
    path = artifacts_dir() / f"{name}.png"
    target.screenshot(path=str(path))
    return path
