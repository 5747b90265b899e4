"""The one root of the errors the tool reports to the user in plain words.

Every error a step raises on purpose -- no release yet, a CSV file that cannot be
used, a sandbox or a memory limit this machine cannot give, a Dask scheduler that
cannot be reached, a release check that failed -- is a GraderError: its message says
what is wrong and, where there is one, the fix. The command line prints such an error
as ``STEP: message`` and exits 1. Any other exception is a bug of the tool and keeps
its traceback.
"""


class GraderError(Exception):
    """An error reported to the user as its message alone (no traceback); exit status 1."""
