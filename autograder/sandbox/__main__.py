"""``python -m autograder.sandbox``: the launcher (see autograder.sandbox.bwrap)."""

import sys

from autograder.sandbox.bwrap import main

if __name__ == "__main__":
    sys.exit(main())
