"""Classic mistakes of notebook 05 (optimizers)."""

from bnlab.mistakes import Mistake  # noqa: F401

MISTAKES = []
