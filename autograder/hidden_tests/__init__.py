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
from bnlab.harness import quiet


@contextlib.contextmanager
def isolated(function):
    """Run `function` with the reference in place of every other graded function it may call.

    The swap happens in the function's own globals (the notebook's namespace,
    or the namespace the loader built) and is undone afterwards. Warnings are
    silenced and numpy errors ignored, so nothing reaches stderr.
    """
    namespace = getattr(function, "__globals__", {})
    own = getattr(function, "__name__", None)
    saved = {}
    for name in GRADED_FUNCTIONS:
        if name != own:
            saved[name] = namespace.get(name, _MISSING)
            namespace[name] = getattr(reference, name)
    try:
        with quiet():
            yield function
    finally:
        for name, value in saved.items():
            if value is _MISSING:
                namespace.pop(name, None)
            else:
                namespace[name] = value


_MISSING = object()


from autograder.hidden_tests.backward_bn import *  # noqa: E402, F403
from autograder.hidden_tests.deep_network import *  # noqa: E402, F403
from autograder.hidden_tests.forward_bn import *  # noqa: E402, F403
from autograder.hidden_tests.optimizers import *  # noqa: E402, F403
from autograder.hidden_tests.removing_b import *  # noqa: E402, F403
from autograder.hidden_tests.test_time import *  # noqa: E402, F403
