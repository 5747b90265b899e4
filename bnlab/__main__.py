"""``python -m bnlab check [FOLDER]`` and ``python -m bnlab submit [FOLDER] --student ID``:
see bnlab.student."""

import sys

from bnlab.student import main

if __name__ == "__main__":
    sys.exit(main())
