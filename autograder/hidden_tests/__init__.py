"""Hidden tests: the logic behind the autograder's hidden test cells.

Grader-only: left out of the student wheel and the release. A hidden test cell
holds nothing but a call, e.g. ``hidden_tests.test_batchnorm_forward(batchnorm_forward)``,
because nbgrader's feedback shows hidden cells to students.

Each ``test_<function>(student_function)`` raises AssertionError with a short,
plain message when the function is wrong, and prints nothing to stderr (any
stderr scores the cell 0). It grades the function in isolation: the reference is
swapped in for every other graded function it calls (see ``isolated``), so one
early mistake is not punished twice. Inputs are drawn fresh (seeded), not the
visible checks' stored cases.
"""

import contextlib

from autograder import reference
from bnlab.course import GRADED_FUNCTIONS
from bnlab.harness import quiet, swapped


@contextlib.contextmanager
def isolated(function):
    """Run `function` with the reference in place of every other graded function it may call.

    The swap happens in the function's own globals (the notebook's namespace,
    or the namespace the loader built) and is undone afterwards. Warnings are
    silenced and numpy errors ignored, so nothing reaches stderr.
    """
    own = getattr(function, "__name__", None)
    references = {name: getattr(reference, name) for name in GRADED_FUNCTIONS if name != own}
    with swapped(function, references), quiet():
        yield function


from autograder.hidden_tests.backward_bn import *  # noqa: E402, F403
from autograder.hidden_tests.deep_network import *  # noqa: E402, F403
from autograder.hidden_tests.forward_bn import *  # noqa: E402, F403
from autograder.hidden_tests.layer_norm import *  # noqa: E402, F403
from autograder.hidden_tests.optimizers import *  # noqa: E402, F403
from autograder.hidden_tests.removing_b import *  # noqa: E402, F403
from autograder.hidden_tests.test_time import *  # noqa: E402, F403
