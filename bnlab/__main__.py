"""``python -m bnlab check [FOLDER]`` and ``python -m bnlab submit [FOLDER] --student ID``:
see bnlab.student."""

import sys

from bnlab._startup import skip_unused_format_checkers
from bnlab.student import main

skip_unused_format_checkers()

if __name__ == "__main__":
    sys.exit(main())
