"""The classic mistakes, as small edits of the reference solutions.

Instructor-only. Each mistake is a list of (old, new) text replacements in the
source of a reference function, plus the hint a student sees when a visible
check recognises it. One definition serves three purposes:
- ``autograder.content.fixtures`` stores each mistake's output beside the expected output,
  so the visible checks can name the mistake;
- the autograder's sample submissions put each mistake into a solution cell;
- the tests show that each mistake fails its visible and hidden checks.

A mistake is named in its natural variants too, without an entry of its own: a
visible check that finds no stored mistake equal to the whole output names the one
whose output equals the student's at the first part that is wrong (the activation
applied to Z, with Z in the activation cache as well, is ``activation_of_Z``), and
names a lost ``keepdims``, a transposed part or a matrix product that does not fit
from the shapes (``bnlab.checks._named``; tests/bnlab/test_natural_mistakes.py). Add
an entry for a mistake those cannot name: each entry is also a sample student.

Beside the mistakes, each module lists ``CORRECT_VARIANTS``: other ways students
write a function right (np.var for the mean of squares, a division for a product
by the inverse, a term that is zero in exact arithmetic left out...). They are
edits of the reference too, and the tests show that they pass both checks: a
check that names more mistakes must not start failing correct code.
"""

import importlib
import inspect
from dataclasses import dataclass

from autograder.content import reference
from bnlab.course import NOTEBOOKS, topic


def _edited_source(function, edits, what):
    """The source of reference function `function` with the text `edits` made."""
    source = inspect.getsource(getattr(reference, function))
    for old, new in edits:
        if old not in source:
            raise ValueError(f"{what}: {old!r} not in {function}")
        source = source.replace(old, new)
    return source


def _built(function, source, what):
    """Function `function` defined by `source`, calling the reference for every other one."""
    namespace = dict(vars(reference))
    exec(compile(source, f"<{what}>", "exec"), namespace)
    return namespace[function]


@dataclass(frozen=True)
class Mistake:
    function: str
    id: str
    hint: str
    edits: tuple  # ((old, new), ...): each old must occur in the function's source

    def source(self):
        """The reference function's source with the mistake put in."""
        return _edited_source(self.function, self.edits, f"mistake {self.id}")

    def build(self):
        """The mistaken function, calling the reference for every other graded function."""
        return _built(self.function, self.source(), f"mistake {self.id}")


@dataclass(frozen=True)
class CorrectVariant:
    """Another right way to write a graded function: both checks must pass it."""

    function: str
    id: str
    why: str  # why it is right, in a few words
    edits: tuple  # ((old, new), ...), as for a Mistake

    def source(self):
        return _edited_source(self.function, self.edits, f"variant {self.id}")

    def build(self):
        return _built(self.function, self.source(), f"variant {self.id}")


def topic_modules(package):
    """The per-notebook modules of `package` (this one, or the fixtures), in notebook order."""
    return [importlib.import_module(f"{package}.{topic(stem)}") for stem in NOTEBOOKS]


def _collect():
    mistakes = [m for module in topic_modules(__name__) for m in module.MISTAKES]
    ids = [(m.function, m.id) for m in mistakes]
    assert len(ids) == len(set(ids)), "two mistakes share a function and an id"
    return mistakes


def mistakes_of(function):
    """The mistakes defined for graded function `function`."""
    return [m for m in all_mistakes() if m.function == function]


def all_mistakes():
    """Every mistake of the course, in notebook order."""
    return _collect()


def all_correct_variants():
    """Every correct variant of the course, in notebook order."""
    variants = [
        v for module in topic_modules(__name__) for v in getattr(module, "CORRECT_VARIANTS", [])
    ]
    ids = [(v.function, v.id) for v in variants]
    assert len(ids) == len(set(ids)), "two correct variants share a function and an id"
    return variants
