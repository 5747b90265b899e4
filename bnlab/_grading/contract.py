"""The names the grader and the grading sandbox agree on, defined once.

The grader builds the sandbox and drives the fork server in it; inside, the server
(bnlab._grading.forkserver) runs each notebook in a child, and the hidden test cells
record what the student's functions did (bnlab.harness). Every name both sides spell
-- environment variables, where things show inside the sandbox, the folders and
files of the scratch folder, the server's framing -- is here, and each side imports
it from here. Standard library only: it runs on both sides, and is shipped to
students with the rest of bnlab (it names nothing of the instructor's package).

The server's protocol, on its stdin and stdout: frames of a HEADER (the payload's
length) and a payload.

- From the grader, JSON objects: ``{"run": [[index, source], ...]}`` (run these code
  cells in a new child), ``{"interrupt": true}`` (SIGINT to the child: a cell over
  its time limit), ``{"kill": true}`` (SIGKILL to the child).
- To the grader: SERVER_FRAME + JSON, the server's own -- ``{"ready": true}`` once
  imported, ``{"exit": CODE}`` when a child and everything it left are gone (CODE:
  its exit status, or minus the signal that ended it), ``{"poisoned": WHAT}`` -- or
  CHILD_FRAME + a frame the child sent: JSON ``{"cell": i, "event": "start"}`` and
  ``{"cell": i, "event": "done", "outputs": [...], "count": n, "seconds": s}``
  (nbformat outputs). Child frames come from the student's process: the grader
  reads them as untrusted.
"""

import struct

# ------------------------------------------------------------------ environment variables

# Set by the grader for the sandbox's launcher (host paths; none of them reaches the sandbox):
SCRATCH_ENV = "BNLAB_KERNEL_SCRATCH"  # the scratch folder K: the sandbox's only storage
FONTS_ENV = "BNLAB_MPL_CACHE"  # matplotlib's font cache, copied into the home folder
# Set for the grading process (in the sandbox: the paths below), and read by the harness:
CASES_ENV = "BNLAB_GRADING_CASES"  # the inputs the grader prepared, read-only
RESULTS_ENV = "BNLAB_GRADING_RESULTS"  # where the harness writes what the functions did

# ------------------------------------------------------------------ inside the sandbox

USER = "student"  # the user the grading process sees itself as
HOME = "/home/student"  # its home and working folder (K/home)
TMP = "/tmp"  # K/tmp
RESULTS = "/grading/results"  # K/results
CASES = "/grading/cases"  # a copy of the grading cases, read-only
VENV = "/opt/student-venv"  # the student venv, whatever its path on the host
FONT_CONFIG = ".config/matplotlib"  # in the home folder: MPLCONFIGDIR, with the font cache

# ------------------------------------------------------------------ the scratch folder K

# K's folders the sandbox can write, and where each shows inside.
WRITABLE = {"home": HOME, "tmp": TMP, "results": RESULTS}
SERVER_LOG = "kernel.log"  # in K: what the launcher, bwrap and the server print on stderr
CHILD_LOG = "kernel.log"  # in the results folder: what a notebook's child prints directly


def value_file(function):
    """The name of the file of graded function `function`, in the cases folder (its inputs)
    and in the results folder (what the student's function did with them)."""
    return f"{function}.npz"


# ------------------------------------------------------------------ the server

SERVER_MODULE = "bnlab._grading.forkserver"  # run with ``python -I -m``
OWN_PID_NAMESPACE = "--own-pid-namespace"  # the server's option in the sandbox
HEADER = struct.Struct(">I")  # a frame's length: 4 bytes, big-endian
MAX_FRAME = 32 * 1024**2  # bytes of one child frame; a child that sends more is killed
SERVER_FRAME, CHILD_FRAME = b"S", b"C"  # the first byte of a frame to the grader: whose it is
