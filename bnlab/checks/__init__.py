"""Visible checks, one per graded function: ``check_<function>(your_function)``.

Each runs your function on stored, awkward cases, prints a one-line verdict
when everything matches, and otherwise raises CheckFailed with what is wrong
(type, shape or values), where, and -- when it recognises one -- the classic
mistake behind it. In Jupyter a failure shows that message alone, without the
checks' traceback. ``show_case()`` prints the case the last failure stopped at:
the inputs, the expected output, yours, and the first entry that differs.
"""

from bnlab.checks._core import CheckFailed, run_check  # noqa: F401
from bnlab.checks._show import show_case  # noqa: F401
from bnlab.checks.backward_bn import *  # noqa: F403
from bnlab.checks.deep_network import *  # noqa: F403
from bnlab.checks.forward_bn import *  # noqa: F403
from bnlab.checks.layer_norm import *  # noqa: F403
from bnlab.checks.optimizers import *  # noqa: F403
from bnlab.checks.removing_b import *  # noqa: F403
from bnlab.checks.test_time import *  # noqa: F403
