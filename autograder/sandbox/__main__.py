"""``python -m autograder.sandbox``: the launcher (see autograder.sandbox.launcher)."""

import sys

from autograder.sandbox.launcher import main

if __name__ == "__main__":
    sys.exit(main())
