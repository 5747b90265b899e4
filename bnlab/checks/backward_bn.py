"""Visible checks of this notebook; each check_<function> calls run_check."""

from bnlab.checks._core import run_check  # noqa: F401
