"""Hidden tests of this notebook."""

__all__ = []
