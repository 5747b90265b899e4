"""Classic mistakes of notebook 03 (removing b)."""

from autograder.content.mistakes import Mistake

MISTAKES = [
    Mistake(
        "initialize_parameters",
        "b_in_bn_layers",
        "the hidden layers keep a bias b1, b2, ...: a Batch Norm layer has no b (its mean "
        "subtraction cancels b, and beta takes its role); only the output layer keeps bL.",
        (
            (
                'parameters[f"beta{l}"] = np.zeros((n_l, 1))',
                'parameters[f"beta{l}"] = np.zeros((n_l, 1))\n'
                '            parameters[f"b{l}"] = np.zeros((n_l, 1))',
            ),
        ),
    ),
    Mistake(
        "initialize_parameters",
        "bL_missing",
        "the output layer has no bias: layer L has no Batch Norm, so it keeps bL = 0, shape (n_L, 1).",
        (('parameters[f"b{L}"] = np.zeros((layer_dims[L], 1))', "pass"),),
    ),
    Mistake(
        "initialize_parameters",
        "bn_in_output_layer",
        "the output layer gets gamma and beta: Batch Norm is only in the hidden layers "
        "1..L-1; the softmax layer L has WL and bL.",
        (("if l < L:", "if l <= L:"),),
    ),
    Mistake(
        "initialize_parameters",
        "gamma_zero",
        "gamma starts at 0; it starts at 1 (and beta at 0), so Batch Norm starts as plain "
        "normalization -- with gamma = 0 every hidden unit would output a constant.",
        (
            (
                'parameters[f"gamma{l}"] = np.ones((n_l, 1))',
                'parameters[f"gamma{l}"] = np.zeros((n_l, 1))',
            ),
        ),
    ),
    Mistake(
        "initialize_parameters",
        "no_he_scaling",
        "W is not scaled: He initialization multiplies the standard normal draws by sqrt(2 / n_(l-1)).",
        ((" * np.sqrt(2 / n_prev)", ""),),
    ),
    Mistake(
        "initialize_parameters",
        "xavier_scale",
        "W is scaled by sqrt(1 / n_(l-1)) (Xavier); He initialization, for ReLU, uses sqrt(2 / n_(l-1)).",
        (("np.sqrt(2 / n_prev)", "np.sqrt(1 / n_prev)"),),
    ),
    Mistake(
        "initialize_parameters",
        "scale_by_n_l",
        "W is scaled with the layer's own size n_l; He initialization uses the previous "
        "layer's size: sqrt(2 / n_(l-1)).",
        (("np.sqrt(2 / n_prev)", "np.sqrt(2 / n_l)"),),
    ),
    Mistake(
        "initialize_parameters",
        "W_transposed",
        "W[l] is transposed: it has shape (n_l, n_(l-1)), so that Z = W A_prev works.",
        (("rng.standard_normal((n_l, n_prev))", "rng.standard_normal((n_prev, n_l))"),),
    ),
    Mistake(
        "initialize_parameters",
        "new_generator_per_layer",
        "a new random generator is made for every layer: create rng = np.random.default_rng(seed) "
        "once, then draw W1, W2, ..., WL from it in order.",
        (
            (
                'parameters[f"W{l}"] = rng.standard_normal(',
                'parameters[f"W{l}"] = np.random.default_rng(seed).standard_normal(',
            ),
        ),
    ),
]
