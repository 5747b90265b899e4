"""python -m autograder: the instructor's command line (autograder.cli), also installed as
the console script ``bnlab-grade``."""

import sys

from autograder.cli import main, parse_args

__all__ = ["main", "parse_args"]

if __name__ == "__main__":
    sys.exit(main())
