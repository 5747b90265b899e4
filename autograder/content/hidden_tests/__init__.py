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

from autograder.content.hidden_tests.backward_bn import *  # noqa: F403
from autograder.content.hidden_tests.deep_network import *  # noqa: F403
from autograder.content.hidden_tests.forward_bn import *  # noqa: F403
from autograder.content.hidden_tests.isolation import isolated  # noqa: F401
from autograder.content.hidden_tests.layer_norm import *  # noqa: F403
from autograder.content.hidden_tests.optimizers import *  # noqa: F403
from autograder.content.hidden_tests.removing_b import *  # noqa: F403
from autograder.content.hidden_tests.test_time import *  # noqa: F403
