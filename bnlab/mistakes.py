"""The classic mistakes, as small edits of the reference solutions.

Instructor-only. Each mistake is a list of (old, new) text replacements in the
source of a reference function, plus the hint a student sees when a visible
check recognises it. One definition serves three purposes:
- ``bnlab.fixtures`` stores each mistake's output beside the expected output,
  so the visible checks can name the mistake;
- the autograder's sample submissions put each mistake into a solution cell;
- the tests show that each mistake fails its visible and hidden checks.
"""

import inspect
from dataclasses import dataclass

from bnlab import reference


@dataclass(frozen=True)
class Mistake:
    function: str
    id: str
    hint: str
    edits: tuple  # ((old, new), ...): each old must occur in the function's source

    def source(self):
        """The reference function's source with the mistake put in."""
        source = inspect.getsource(getattr(reference, self.function))
        for old, new in self.edits:
            if old not in source:
                raise ValueError(f"mistake {self.id}: {old!r} not in {self.function}")
            source = source.replace(old, new)
        return source

    def build(self):
        """The mistaken function, calling the reference for every other graded function."""
        namespace = dict(vars(reference))
        exec(compile(self.source(), f"<mistake {self.id}>", "exec"), namespace)
        return namespace[self.function]


MISTAKES = [
    Mistake(
        "batchnorm_forward",
        "wrong_axis",
        "the statistics are taken over the units (axis=0) instead of over the examples "
        "of the mini-batch (axis=1): each row is one unit, each column one example.",
        (("np.mean(Z, axis=1", "np.mean(Z, axis=0"), ("Z_centered, axis=1", "Z_centered, axis=0")),
    ),
    Mistake(
        "batchnorm_forward",
        "unbiased_variance",
        "the variance divides by m - 1; Batch Norm uses the biased variance, 1/m sum (Z - mu)^2.",
        (
            (
                "var = np.mean(Z_centered * Z_centered, axis=1, keepdims=True)",
                "var = np.var(Z, axis=1, keepdims=True, ddof=1)",
            ),
        ),
    ),
    Mistake(
        "batchnorm_forward",
        "eps_outside_sqrt",
        "eps is added outside the square root; it belongs inside: sqrt(var + eps).",
        (("np.sqrt(var + eps)", "(np.sqrt(var) + eps)"),),
    ),
    Mistake(
        "batchnorm_forward",
        "gamma_beta_swapped",
        "gamma and beta are swapped: Z_tilde = gamma * Z_norm + beta (gamma scales, beta shifts).",
        (("Z_tilde = gamma * Z_norm + beta", "Z_tilde = beta * Z_norm + gamma"),),
    ),
    Mistake(
        "batchnorm_forward",
        "gamma_beta_left_out",
        "gamma and beta are left out: Z_tilde is gamma * Z_norm + beta, not Z_norm.",
        (("Z_tilde = gamma * Z_norm + beta", "Z_tilde = Z_norm"),),
    ),
]


def mistakes_of(function):
    """The mistakes defined for graded function `function`."""
    return [m for m in MISTAKES if m.function == function]
