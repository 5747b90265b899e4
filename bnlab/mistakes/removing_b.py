"""Classic mistakes of notebook 03 (removing b)."""

from bnlab.mistakes import Mistake  # noqa: F401

MISTAKES = []
