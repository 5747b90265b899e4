"""Which classic mistake a function's wrong values match, decided in the grader.

When a graded function fails its hidden test on the values it returned (not because
it raised, ran out of time or memory, or left results that cannot be read),
autograder.grading.verdicts asks `name_mistake`. Here, in the trusted grader and never
in the process that runs the student's code, every classic mistake of that function
(autograder.content.mistakes) runs on the very calls the hidden test made (the recorded
inputs; the reference answers for every other graded function, as the stand-ins do in
the student's process), and so does the reference. The student's values are then held
against them call by call, the way bnlab's visible checks name a mistake
(bnlab.checks._core.same_output, bnlab.checks._named.first_wrong_part and same_part):

- on a call whose value is right (the reference's, within the checks' tolerances)
  any mistake may be made (it may show on other inputs only);
- on every other call the mistake must give the student's value: the whole of it, or
  the part where the student's value first goes wrong (the mistake in one of its
  natural variants, e.g. the activation applied to Z, with Z in the cache as well);
  where the student's function raised, the mistake must raise the same exception;
- at least one call must have returned a wrong value.

Of the mistakes that agree on every call, the one that gives the student's whole value
on the most calls (the right ones included) is named; on a tie, the first in the catalogue (notebook order, then
each module's order). So two mistakes that give the same values on every hidden input,
which no grader could tell apart, are named as the first of them. When none agrees, the
answer is UNKNOWN.

What the student's process wrote may be crafted: a value that cannot be compared is no
match, and nothing here raises (a comparison that fails is no match; anything else
gives UNKNOWN). The comparisons walk the reference's and the mistakes' values, so a huge
or deeply nested value costs no more than a small one. Each function's mistakes are
built and run once per process, at the first failure that needs them.

What this gives the student is the mistake's hint (`explain`), the words the visible
checks use: never an input of the hidden tests, nor the reference's or a mistake's values.
"""

import copy

from autograder.content import reference
from autograder.content.mistakes import mistakes_of
from bnlab._grading import valuefile
from bnlab.checks._core import same_output
from bnlab.checks._failure import LIKELY
from bnlab.checks._named import first_wrong_part, same_part
from bnlab.harness import quiet

UNKNOWN = "unknown"  # the values match none of the catalogued mistakes
NO_MATCH = (
    "These values match none of the classic mistakes this course knows: go through the "
    "function step by step against the lesson's formulas."
)

_TABLES = {}  # (name, id(calls)) -> (calls, _Table): each function's table, once per process


class _Table:
    """What the reference and each mistake of one graded function give on its recorded
    calls: per call ("returned", value) or ("raised", exception name)."""

    def __init__(self, name, calls):
        self.reference = [_outcome(getattr(reference, name), call) for call in calls]
        self.mistakes = [
            (mistake.id, [_outcome(function, call) for call in calls])
            for mistake, function in _built(name)
        ]


def _built(name):
    """[(mistake, its function)] of graded function `name`; a mistake that cannot be built
    (a catalogue out of step with the reference) is left out."""
    built = []
    for mistake in mistakes_of(name):
        try:
            built.append((mistake, mistake.build()))
        except Exception:  # noqa: BLE001 -- the tests of the catalogue say which
            continue
    return built


def _outcome(function, call):
    """("returned", value) or ("raised", exception name) of `function` on a recorded call."""
    args, kwargs = copy.deepcopy(list(call["args"])), copy.deepcopy(dict(call["kwargs"]))
    try:
        with quiet():
            return "returned", function(*args, **kwargs)
    except Exception as error:  # noqa: BLE001 -- a mistake may raise on some input
        return "raised", type(error).__name__


def _table(name, calls):
    """The _Table of graded function `name` on `calls` (load_calls': the same list each
    time), made at the first call and kept."""
    key = (name, id(calls))
    if key not in _TABLES or _TABLES[key][0] is not calls:
        _TABLES[key] = (calls, _Table(name, calls))
    return _TABLES[key][1]


def name_mistake(name, calls, results):
    """The id of the classic mistake of graded function `name` whose values the student's
    `results` (what the function did on each of the recorded `calls`, as the harness wrote
    it) match, or UNKNOWN (see the module docstring). Never raises."""
    try:
        return _name_mistake(name, calls, results)
    except Exception:  # noqa: BLE001 -- a value no comparison foresaw: no match
        return UNKNOWN


def _name_mistake(name, calls, results):
    table = _table(name, calls)
    alive = {mistake: 0 for mistake, _ in table.mistakes}  # -> calls it gives whole
    outputs = dict(table.mistakes)
    wrong_calls = 0
    for i, result in enumerate(results[: len(calls)]):
        kind, agreement = _compared(result, table.reference[i], {m: outputs[m][i] for m in alive})
        wrong_calls += kind == "wrong"
        for mistake in list(alive):
            if agreement[mistake] is None and kind != "right":
                del alive[mistake]
            else:
                alive[mistake] += agreement[mistake] == "whole"
    if not wrong_calls or not alive:
        return UNKNOWN
    order = [mistake for mistake, _ in table.mistakes]
    return max(alive, key=lambda mistake: (alive[mistake], -order.index(mistake)))


def _compared(result, right, outputs):
    """(kind, {mistake: "whole", "part" or None}) of the student's `result` of one call,
    held against the reference's outcome `right` and the mistakes' `outputs` ({mistake:
    its outcome}). kind: "right" (the reference's value: a mistake that gives it too
    counts "whole", one that does not is not ruled out), "wrong" (a mistake agrees with
    the whole value, or where it first goes wrong, or not at all: None), "raised" (a
    mistake that raised the same exception agrees) or "unreadable" (none agrees)."""
    if not isinstance(result, dict) or not ("raised" in result or "returned" in result):
        return "unreadable", dict.fromkeys(outputs)
    if "raised" in result:
        raised = result["raised"]
        ename = raised[0] if isinstance(raised, (list, tuple)) and raised else None
        ename = valuefile.plain_name(ename, None)
        return "raised", {
            m: "whole" if ename is not None and out[0] == "raised" and out[1] == ename else None
            for m, out in outputs.items()
        }
    got = result["returned"]
    if right[0] == "returned" and same_output(got, right[1]):
        return "right", {
            m: "whole" if out[0] == "returned" and same_output(got, out[1]) else "other"
            for m, out in outputs.items()
        }
    wrong = first_wrong_part(got, right[1]) if right[0] == "returned" else None
    return "wrong", {m: _agreement(got, wrong, out) for m, out in outputs.items()}


def _agreement(got, wrong, outcome):
    """How a mistake's `outcome` of a call agrees with the student's wrong value `got`:
    "whole" (it is `got`), "part" (it holds what `got` holds where `got` first goes wrong;
    `wrong`: first_wrong_part) or None (it does not)."""
    if outcome[0] != "returned":
        return None
    if same_output(got, outcome[1]):
        return "whole"
    if wrong is not None and same_part(wrong, outcome[1]):
        return "part"
    return None


def explain(name, mistake):
    """The line the feedback shows under the failure of graded function `name` whose
    values match `mistake` (an id, or UNKNOWN): the mistake's hint as the visible checks
    show it, or NO_MATCH; "" for an id the catalogue does not hold."""
    if mistake == UNKNOWN:
        return NO_MATCH
    hints = {m.id: m.hint for m in mistakes_of(name)}
    return f"{LIKELY} {hints[mistake]}" if mistake in hints else ""
