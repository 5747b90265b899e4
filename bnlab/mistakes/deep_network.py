"""Classic mistakes of notebook 04 (deep network)."""

from bnlab.mistakes import Mistake  # noqa: F401

MISTAKES = []
