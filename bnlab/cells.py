"""Notebook cells as Python code: what IPython runs for a cell, line for line.

A notebook cell may hold IPython's own syntax (``%time``, ``!pip``, ``x = !ls``,
``np.mean?``, a ``%%capture`` cell magic) that Python cannot compile or parse.
``python_source`` gives the Python code of a cell, with its lines where they
were, for everything that reads cells as code: the loader (bnlab.loader) runs
graded cells with it, the autograder analyses students' cells with it. ``text_field``
reads a text field of a notebook as one string, for everything that reads saved or handed-in
notebooks without nbformat.
"""

from functools import cache, lru_cache


def _blank_cell_magic(lines):
    """A cell magic's %% line blanked; its body stays code (see python_source)."""
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first].startswith("%%"):
        lines = [*lines[:first], "\n", *lines[first + 1 :]]
    return lines


@cache
def _transformer():
    from IPython.core.inputtransformer2 import TransformerManager, leading_empty_lines

    class LineKeeping(TransformerManager):
        """IPython's transformer, changed so that line n of a cell stays line n."""

        def __init__(self):
            super().__init__()
            self.cleanup_transforms.remove(leading_empty_lines)
            self.line_transforms = [_blank_cell_magic]

        def do_one_token_transform(self, lines):
            # A magic continued over several lines (with \) becomes one call: pad it.
            changed, new = super().do_one_token_transform(lines)
            missing = len(lines) - len(new)
            if changed and missing > 0:
                at = next((i for i, (a, b) in enumerate(zip(lines, new)) if a != b), len(new))
                new[at + 1 : at + 1] = ["\n"] * missing
            return changed, new

    return LineKeeping()


@lru_cache(maxsize=4096)  # the grader reads the same released cells for every student
def python_source(source):
    """The Python code of a notebook cell's `source`, line for line.

    IPython's own syntax becomes what IPython runs for it (its TransformerManager):
    ``%time f()`` becomes ``get_ipython().run_line_magic('time', 'f()')``, ``!ls`` and
    ``x = !ls`` calls of ``get_ipython().system`` / ``.getoutput``, ``np.mean?`` a help
    call; text in strings is left alone. Two differences, so that the result can be
    compiled or parsed in place of the cell: line n of the result is line n of the cell
    (leading blank lines are kept, a magic continued with backslashes is padded), and a
    cell magic's ``%%`` line is blanked with its body kept as code (IPython would pass
    the body as a string: ``%%time`` runs it as Python, and code that runs must be
    seen). A source IPython cannot read is returned as it is.
    """
    try:
        return _transformer().transform_cell(source)
    except Exception:  # the compiler or parser of the caller reports it
        return source


def text_field(value):
    """A text field of a notebook (a cell's source, an output's text) as one str: nbformat
    writes a str or a list of str; None for anything else (a hostile or damaged file)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(part, str) for part in value):
        return "".join(value)
    return None
