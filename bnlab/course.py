"""The course's layout: its notebooks, in order, and the graded functions of each.

This is the graded-function contract of the design notes in one place; the
loader, the checks, the sync command and the autograder all read it.
"""

ASSIGNMENT = "batchnorm"

NOTEBOOKS = {
    "01_forward_bn": ["batchnorm_forward", "linear_bn_activation_forward"],
    "02_backward_bn": [
        "batchnorm_backward_staged",
        "batchnorm_backward",
        "linear_bn_activation_backward",
    ],
    "03_removing_b": ["initialize_parameters"],
    "04_deep_network": ["random_mini_batches", "model_forward", "model_backward"],
    "05_optimizers": [
        "update_parameters_with_gd",
        "update_parameters_with_momentum",
        "update_parameters_with_rmsprop",
        "update_parameters_with_adam",
    ],
    "06_test_time": [
        "update_running_averages",
        "batchnorm_forward_inference",
        "model_forward_inference",
        "fold_batchnorm",
    ],
    "07_layer_norm": ["layernorm_forward", "layernorm_backward"],
}

GRADED_FUNCTIONS = [name for names in NOTEBOOKS.values() for name in names]


def topic(stem):
    """The topic of a notebook, e.g. "forward_bn" for "01_forward_bn": the name of its
    module in each package that is split by notebook (bnlab.checks, for one)."""
    return stem.split("_", 1)[1]


def notebook_of(function_name):
    """The notebook (stem, no .ipynb) whose solution cell defines `function_name`."""
    for stem, names in NOTEBOOKS.items():
        if function_name in names:
            return stem
    raise KeyError(f"{function_name!r} is not a graded function of this course.")


# The written answers, graded by hand: {grade_id of the answer cell: its notebook}.
WRITTEN_ANSWERS = {
    "why_no_b": "03_removing_b",
    "running_or_recomputed": "06_test_time",
    "b_before_layer_norm": "07_layer_norm",
}
