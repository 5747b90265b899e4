"""The grading sandbox (bubblewrap): what a grading process may see and do.

The host side builds the sandbox's command line and checks that one can run; the
launcher (``python -m autograder.sandbox``) stages the mounts as root and becomes
the sandbox user before it executes bubblewrap.
"""

from autograder.sandbox.bwrap import (
    KERNEL_LOG,
    Limits,
    MiB,
    SandboxUnavailable,
    bwrap_command,
    check,
    describe,
    kernel_argv,
    limited,
    prepare_matplotlib_cache,
    sandbox_environ,
    unsandboxed_argv,
)

__all__ = [
    "KERNEL_LOG",
    "Limits",
    "MiB",
    "SandboxUnavailable",
    "bwrap_command",
    "check",
    "describe",
    "kernel_argv",
    "limited",
    "prepare_matplotlib_cache",
    "sandbox_environ",
    "unsandboxed_argv",
]
