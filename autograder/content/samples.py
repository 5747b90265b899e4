"""Sample submissions: every kind of notebook the autograder must grade right.

Instructor and test tooling. The samples are generated from the notebooks --
never edited by hand -- so they follow the notebooks as these change:

- the *release* notebooks (what ``nbgrader generate_assignment`` hands the
  students) are the starting point of every sample, as they are for a student;
- the *source* notebooks give the solution: each solution cell's source with
  nbgrader's ``### BEGIN SOLUTION`` / ``### END SOLUTION`` lines removed;
- ``autograder.content.mistakes.all_mistakes()`` gives one sample per classic mistake: the
  full solution with that function's cell replaced by the mistaken source
  (the ``# GRADED FUNCTION`` header line kept). Mistakes added later are picked
  up without a change here.

Each sample carries what a careful human grader would give it (``Sample``):
which graded functions lose their points, which notebooks are missing or
unreadable, whether the written answers (``workspace.MANUAL_ANSWERS``) were
written, and whether the code must be flagged for review. The tests compute the
expected points from this and the notebooks' own test-cell points, never from
the pipeline's output.

    python -m autograder.content.samples DEST [--source notebooks] [--release course/release/batchnorm]

writes DEST/<student>/batchnorm/<notebook>.ipynb: DEST plays the role of
nbgrader's ``submitted/`` folder. The output is deterministic: the same
notebooks give byte-identical samples.
"""

import argparse
import json
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder import boundary
from autograder.content import copies
from bnlab.course import ASSIGNMENT, NOTEBOOKS, notebook_of

BEGIN, END = boundary.SOLUTION_DELIMITERS
# What the samples write in each written answer (workspace.MANUAL_ANSWERS, graded by hand).
ANSWERS = {
    "why_no_b": (
        "Batch Norm subtracts the mini-batch mean of each unit, so a constant b[l] added "
        "to Z[l] cancels out: Z_norm is the same with or without it. The shift beta[l] "
        "of Batch Norm takes over its role, and it is learned like W[l]."
    ),
    "running_or_recomputed": (
        "The running averages mix the statistics of many earlier mini-batches, taken with "
        "older weights, and with a small momentum they still hold much of their start values. "
        "One pass over the training set measures the final network itself. Running averages "
        "come free during training, so frameworks keep them."
    ),
    "b_before_layer_norm": (
        "No. Layer Norm subtracts each example's mean over the units, which removes only the "
        "average of b[l]; the rest changes how the units differ and what the example's "
        "variance is, so the output changes."
    ),
}

# Where the adversarial samples put their code. Every cell that calls the
# looping function costs a full cell timeout, so the loop goes in a function
# few cells call (its check, its test, one experiment); the memory hog goes in
# one no later notebook's training uses.
LOOP_FUNCTION = "update_parameters_with_rmsprop"
MEMHOG_FUNCTION = "batchnorm_backward_staged"
STDERR_FUNCTION = "linear_bn_activation_forward"
IMPORT_FUNCTION = "batchnorm_forward"
PATCH_FUNCTION = "batchnorm_forward"
DELETED_TEST = "batchnorm_backward"
TAMPERED_TEST = "model_forward"
INVALID_NOTEBOOK = "01_forward_bn"
MISSING_NOTEBOOK = "05_optimizers"
PARTIAL_SOLVED = ("01_forward_bn", "02_backward_bn", "03_removing_b")


@dataclass(frozen=True)
class Sample:
    """One sample submission and the grade a careful human grader would give it.

    student -- the student id (a folder name under submitted/)
    description -- one line saying what the submission is
    zero -- graded functions that earn 0 points; every other one earns full points
    answered -- True when the written answers were written (each then needs manual
                grading, unless its notebook is in `broken` or `unanswered`); False when
                they were all left as released
    unanswered -- notebooks (stems) whose written answers were left as released
    broken -- notebooks (stems) that are missing or unreadable and must be reported
    flagged -- True when the code must be flagged for review
    """

    student: str
    description: str
    zero: frozenset = field(default_factory=frozenset)
    answered: bool = True
    unanswered: tuple = ()
    broken: tuple = ()
    flagged: bool = False

    def expected_fraction(self, function):
        """1.0 or 0.0: the share of `function`'s points this sample should earn."""
        return 0.0 if function in self.zero else 1.0


def _functions(*stems):
    return frozenset(name for stem in stems for name in NOTEBOOKS[stem])


def samples():
    """Every sample, in a fixed order: the basic ones, one per classic mistake, the adversarial ones."""
    from autograder.content.mistakes import all_mistakes

    everything = _functions(*NOTEBOOKS)
    unsolved = tuple(stem for stem in NOTEBOOKS if stem not in PARTIAL_SOLVED)
    found = [
        Sample("solution", "the full solution"),
        Sample("release", "the release, untouched", zero=everything, answered=False),
        Sample(
            "partial",
            f"notebooks {', '.join(PARTIAL_SOLVED)} solved, the others untouched",
            zero=_functions(*unsolved),
            unanswered=unsolved,
        ),
    ]
    for mistake in all_mistakes():
        found.append(
            Sample(
                f"mistake-{mistake.function}-{mistake.id}",
                f"the solution with the classic mistake {mistake.id} in {mistake.function}",
                zero=frozenset([mistake.function]),
            )
        )
    found += [
        Sample(
            "loop",
            f"{LOOP_FUNCTION} never returns: a loop whose counter is never incremented",
            zero=frozenset([LOOP_FUNCTION]),
        ),
        Sample(
            "memhog",
            f"{MEMHOG_FUNCTION} allocates memory without bound",
            zero=frozenset([MEMHOG_FUNCTION]),
        ),
        Sample("deleted-test", f"the solution with the test cell of {DELETED_TEST} deleted"),
        Sample(
            "tampered-test",
            f"the solution with the test cell of {TAMPERED_TEST} replaced by `pass`",
        ),
        Sample(
            "invalid-json",
            f"the solution with {INVALID_NOTEBOOK}.ipynb cut off halfway (invalid JSON)",
            zero=_functions(INVALID_NOTEBOOK),
            broken=(INVALID_NOTEBOOK,),
        ),
        Sample(
            "missing-notebook",
            f"the solution without {MISSING_NOTEBOOK}.ipynb",
            zero=_functions(MISSING_NOTEBOOK),
            broken=(MISSING_NOTEBOOK,),
        ),
        Sample(
            "stderr",
            f"the solution, with {STDERR_FUNCTION} writing to stderr when defined and when called",
        ),
        Sample(
            "imports-reference",
            f"the solution, with {IMPORT_FUNCTION} imported from autograder.content.reference "
            "(not there in the grading kernel)",
            zero=frozenset([IMPORT_FUNCTION]),
            flagged=True,
        ),
        Sample(
            "patches-numpy",
            f"a wrong {PATCH_FUNCTION} that replaces np.allclose to fake a pass "
            "(the verdict is not decided where it runs)",
            zero=frozenset([PATCH_FUNCTION]),
            flagged=True,
        ),
    ]
    found += [
        Sample(
            "copy-a",
            f"the solution, with {', '.join(copies.BODIES['copy-a'])} written in a style of "
            "their own (correct)",
        ),
        Sample(
            "copy-b",
            "copy-a's own functions copied, with the variables renamed, the comments and the "
            "spacing changed",
        ),
    ]
    return found


# ------------------------------------------------------------- notebook edits


def _read_notebooks(folder, what):
    folder = Path(folder)
    notebooks = {}
    for stem in NOTEBOOKS:
        path = folder / f"{stem}.ipynb"
        if not path.exists():
            raise FileNotFoundError(f"the {what} notebook {path} does not exist")
        notebooks[stem] = nbformat.read(path, as_version=4)
    return notebooks


def _grade_id(cell):
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def _cell(notebook, grade_id):
    for cell in notebook.cells:
        if _grade_id(cell) == grade_id:
            return cell
    raise KeyError(f"no cell with grade_id {grade_id!r}")


def _inject(source, lines):
    """`source` with `lines` inserted after the BEGIN SOLUTION line, at its indentation."""
    out = []
    for line in source.splitlines():
        out.append(line)
        if line.strip() == BEGIN:
            indent = line[: len(line) - len(line.lstrip())]
            out += [indent + extra if extra else "" for extra in lines]
    return "\n".join(out)


def _strip_markers(source):
    return "\n".join(line for line in source.splitlines() if line.strip() not in (BEGIN, END))


def _copy(notebook):
    return nbformat.from_dict(json.loads(json.dumps(notebook)))


def _solved(source_notebooks, release_notebooks, stems):
    """Copies of the release notebooks `stems` with every solution cell filled in."""
    solved = {}
    for stem in stems:
        notebook = _copy(release_notebooks[stem])
        for cell in notebook.cells:
            meta = cell.metadata.get("nbgrader", {})
            if not meta.get("solution"):
                continue
            if cell.cell_type == "markdown":
                cell.source = ANSWERS[meta["grade_id"]]
            else:
                cell.source = _strip_markers(_cell(source_notebooks[stem], meta["grade_id"]).source)
        solved[stem] = notebook
    return solved


def _replace_function(notebooks, function, source):
    _cell(notebooks[notebook_of(function)], function).source = source


def _with_body_lines(source_notebooks, function, lines):
    """The solution cell of `function` with `lines` run first in its body."""
    source = _cell(source_notebooks[notebook_of(function)], function).source
    return _strip_markers(_inject(source, lines))


def _build(sample, source_notebooks, release_notebooks):
    """{stem: NotebookNode, or str (raw, unreadable text), or None (missing)} for `sample`."""
    stems = list(NOTEBOOKS)
    student = sample.student
    if student == "release":
        return {stem: _copy(release_notebooks[stem]) for stem in stems}
    if student == "partial":
        release = {stem: _copy(release_notebooks[stem]) for stem in stems}
        return {**release, **_solved(source_notebooks, release_notebooks, PARTIAL_SOLVED)}
    solution = _solved(source_notebooks, release_notebooks, stems)
    if student == "solution":
        return solution
    edit = _mistake if student.startswith("mistake-") else _EDITS.get(student)
    if edit is None:
        raise ValueError(f"no sample named {student!r}")
    edit(student, solution, source_notebooks)
    return solution


# Each edit changes the full solution, in place, into one sample: (student, solution, source).


def _mistake(student, solution, source_notebooks):
    from autograder.content.mistakes import all_mistakes

    mistake = next(m for m in all_mistakes() if student == f"mistake-{m.function}-{m.id}")
    header = f"# GRADED FUNCTION: {mistake.function}"
    _replace_function(solution, mistake.function, f"{header}\n{mistake.source().rstrip()}")


def _body_lines(function, lines):
    """An edit that runs `lines` first in the body of `function`'s solution."""

    def edit(student, solution, source_notebooks):
        _replace_function(solution, function, _with_body_lines(source_notebooks, function, lines))

    return edit


def _test_cell(student, solution, source_notebooks):
    function = DELETED_TEST if student == "deleted-test" else TAMPERED_TEST
    notebook = solution[notebook_of(function)]
    test = _cell(notebook, f"test_{function}")
    if student == "deleted-test":
        notebook.cells.remove(test)
    else:
        test.source = "pass"


def _invalid_json(student, solution, source_notebooks):
    text = nbformat.writes(solution[INVALID_NOTEBOOK])
    solution[INVALID_NOTEBOOK] = text[: len(text) // 2]


def _missing_notebook(student, solution, source_notebooks):
    solution[MISSING_NOTEBOOK] = None


def _stderr(student, solution, source_notebooks):
    body = _with_body_lines(
        source_notebooks,
        STDERR_FUNCTION,
        [f'print("{STDERR_FUNCTION} called, A_prev", A_prev.shape, file=sys.stderr)'],
    )
    header, rest = body.split("\n", 1)
    defining = f'import sys\n\nprint("defining {STDERR_FUNCTION}", file=sys.stderr)\n\n'
    _replace_function(solution, STDERR_FUNCTION, f"{header}\n{defining}{rest}")


def _imports_reference(student, solution, source_notebooks):
    header = f"# GRADED FUNCTION: {IMPORT_FUNCTION}"
    line = f"from autograder.content.reference import {IMPORT_FUNCTION}"
    _replace_function(solution, IMPORT_FUNCTION, f"{header}\n{line}")


PATCHES_NUMPY = [
    f"# GRADED FUNCTION: {PATCH_FUNCTION}",
    "np.allclose = lambda *args, **kwargs: True",
    "",
    "",
    "def batchnorm_forward(Z, gamma, beta, eps=1e-5):",
    "    mu = np.zeros((Z.shape[0], 1))",
    "    var = np.ones((Z.shape[0], 1))",
    "    return Z, (Z, Z, mu, var, gamma, beta, eps)",
]


def _patches_numpy(student, solution, source_notebooks):
    _replace_function(solution, PATCH_FUNCTION, "\n".join(PATCHES_NUMPY))


def _with_body(source, body):
    """The solution cell `source` with the code between its solution markers replaced by
    `body` (lines already indented), the markers removed."""
    lines = source.splitlines()
    begin = next(i for i, line in enumerate(lines) if line.strip() == BEGIN)
    end = next(i for i, line in enumerate(lines) if line.strip() == END)
    return "\n".join(lines[:begin] + body.strip("\n").splitlines() + lines[end + 1 :])


def _planted_copy(student, solution, source_notebooks):
    for function, body in copies.BODIES[student].items():
        source = _cell(source_notebooks[notebook_of(function)], function).source
        _replace_function(solution, function, _with_body(source, body))


_EDITS = {
    "loop": _body_lines(
        LOOP_FUNCTION,
        ["k = 0", "while k < 1:  # the counter is never incremented", "    k + 1  # meant: k += 1"],
    ),
    "memhog": _body_lines(
        MEMHOG_FUNCTION,
        [
            "kept = []",
            "while True:  # keeps every copy it ever made",
            "    kept.append(np.ones((4096, 4096)))",
        ],
    ),
    "deleted-test": _test_cell,
    "tampered-test": _test_cell,
    "invalid-json": _invalid_json,
    "missing-notebook": _missing_notebook,
    "stderr": _stderr,
    "imports-reference": _imports_reference,
    "patches-numpy": _patches_numpy,
    "copy-a": _planted_copy,
    "copy-b": _planted_copy,
}


def _write(path, notebook):
    if notebook is None:
        return
    if isinstance(notebook, str):
        path.write_text(notebook, encoding="utf-8")
    else:
        nbformat.write(notebook, path)


def generate(dest, source_notebooks_dir, release_notebooks_dir, students=None):
    """Write the sample submissions in nbgrader's submitted/ layout.

    Arguments:
    dest -- the folder that plays nbgrader's ``submitted/``: each sample goes to
            dest/<student>/batchnorm/<notebook>.ipynb (a sample's folder is
            replaced if it exists; other folders in dest are left alone)
    source_notebooks_dir -- the instructor's source notebooks (notebooks/)
    release_notebooks_dir -- the release notebooks nbgrader generated
                             (course/release/batchnorm/)
    students -- the student ids to write (default: all samples)

    Returns:
    the list of Sample written, in order
    """
    source = _read_notebooks(source_notebooks_dir, "source")
    release = _read_notebooks(release_notebooks_dir, "release")
    chosen = samples()
    if students is not None:
        known = {sample.student for sample in chosen}
        unknown = sorted(set(students) - known)
        if unknown:
            raise ValueError(f"no samples named {unknown}; known: {sorted(known)}")
        chosen = [sample for sample in chosen if sample.student in set(students)]
    for sample in chosen:
        folder = Path(dest) / sample.student / ASSIGNMENT
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        for stem, notebook in _build(sample, source, release).items():
            _write(folder / f"{stem}.ipynb", notebook)
    return chosen


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", help="folder to write <student>/batchnorm/*.ipynb into")
    parser.add_argument("--source", default=boundary.source_notebooks(), help="source notebooks")
    parser.add_argument(
        "--release",
        default=Path("course") / "release" / ASSIGNMENT,
        help="release notebooks (nbgrader generate_assignment's output)",
    )
    parser.add_argument("--student", action="append", help="only this sample (repeatable)")
    args = parser.parse_args(argv)
    try:
        written = generate(args.dest, args.source, args.release, args.student)
    except (FileNotFoundError, ValueError) as error:
        print(f"samples: {error}", file=sys.stderr)
        return 1
    width = max(len(sample.student) for sample in written)
    for sample in written:
        print(f"  {sample.student:<{width}}  {sample.description}")
    print(f"{len(written)} sample submissions written to {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
