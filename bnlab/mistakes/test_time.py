"""Classic mistakes of notebook 06 (BN at test time)."""

from bnlab.mistakes import Mistake  # noqa: F401

MISTAKES = []
