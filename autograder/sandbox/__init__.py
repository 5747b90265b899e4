"""The grading sandbox (bubblewrap): what the grader's fork server may see and do.

- host      -- the grader's side: check, describe, server_argv (the server's command
               line in the sandbox), unsandboxed_argv (with --no-sandbox),
               prepare_matplotlib_cache
- mounts    -- what the sandbox shows: system folders, the student venv, the hidden paths
- command   -- bwrap's command line, the sandbox's environment and its scratch folder K
- launcher  -- ``python -m autograder.sandbox``: stages the mounts as root, becomes the
               sandbox user, filters the keyring calls and executes bubblewrap

The names the sandbox shares with what runs inside it (environment variables, mount
points, log files) are bnlab._grading.contract's; a grading process's Limits are
autograder.workspace's.
"""

from autograder.sandbox.command import bwrap_command, sandbox_environ
from autograder.sandbox.host import (
    SandboxUnavailable,
    check,
    describe,
    prepare_matplotlib_cache,
    server_argv,
    unsandboxed_argv,
)
from autograder.workspace import Limits, MiB

__all__ = [
    "Limits",
    "MiB",
    "SandboxUnavailable",
    "bwrap_command",
    "check",
    "describe",
    "prepare_matplotlib_cache",
    "sandbox_environ",
    "server_argv",
    "unsandboxed_argv",
]
