"""Classic mistakes of notebook 02 (backward BN)."""

from bnlab.mistakes import Mistake  # noqa: F401

MISTAKES = []
