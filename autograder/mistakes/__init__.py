"""The classic mistakes, as small edits of the reference solutions.

Instructor-only. Each mistake is a list of (old, new) text replacements in the
source of a reference function, plus the hint a student sees when a visible
check recognises it. One definition serves three purposes:
- ``autograder.fixtures`` stores each mistake's output beside the expected output,
  so the visible checks can name the mistake;
- the autograder's sample submissions put each mistake into a solution cell;
- the tests show that each mistake fails its visible and hidden checks.
"""

import importlib
import inspect
from dataclasses import dataclass

from autograder import reference
from bnlab.course import NOTEBOOKS, topic


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
