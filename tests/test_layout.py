"""The packages' layout and the direction of their imports, read from the source.

    cli -> pipeline -> grading -> sandbox, content -> shared modules -> bnlab

A module may import from its own package and from any layer to its right; never to its
left (grading never imports pipeline), never sideways (sandbox and content do not import
each other), and bnlab never imports autograder. Imports inside functions count: they hide
an edge, they do not remove it. No two modules import each other, directly or in a ring.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("autograder", "bnlab")

# Each module's layer: the first rule whose prefix its dotted name starts with.
LAYERS = (
    ("autograder.__main__", 5, "cli"),
    ("autograder.cli", 5, "cli"),
    ("autograder.pipeline", 4, "pipeline"),
    ("autograder.grading", 3, "grading"),
    ("autograder.sandbox", 2, "sandbox"),
    ("autograder.content", 2, "content"),
    ("autograder", 1, "shared"),
    ("bnlab", 0, "bnlab"),
)


def module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def modules():
    """{dotted name: path} of every module of both packages."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "__pycache__" not in path.parts:
                found[module_name(path)] = path
    return found


def imported(tree, name, is_package, known):
    """The project modules `tree` imports, wherever the import statement stands."""
    here = name if is_package else name.rpartition(".")[0]
    targets = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                child = f"{base}.{alias.name}"
                targets.add(child if child in known else base)
    return {t for t in targets if t.split(".")[0] in PACKAGES}


def graph():
    known = modules()
    edges = {}
    for name, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found = imported(tree, name, path.name == "__init__.py", known)
        edges[name] = {_existing(t, known) for t in found} - {name}
    return edges


def _existing(target, known):
    """The module an import names: itself, or the nearest package that exists."""
    while target not in known and "." in target:
        target = target.rpartition(".")[0]
    return target


def layer(name):
    for prefix, rank, room in LAYERS:
        if name == prefix or name.startswith(prefix + "."):
            return rank, room
    raise AssertionError(f"{name} is in no layer")


def wrong_way(edges):
    """(importer, imported) pairs that go against the direction."""
    wrong = []
    for source, targets in edges.items():
        for target in targets:
            if target in ("autograder", "bnlab") and source.startswith(target):
                continue  # a module's own top package (its __init__ holds only a docstring)
            (rank_s, room_s), (rank_t, room_t) = layer(source), layer(target)
            if room_s == room_t:
                continue
            if rank_t >= rank_s:
                wrong.append((source, target))
    return sorted(wrong)


def cycles(edges):
    """Strongly connected groups of more than one module (Tarjan), sorted."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on.add(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return sorted(found)


def test_every_module_sits_in_a_layer():
    for name in modules():
        layer(name)


def test_imports_go_one_way():
    assert wrong_way(graph()) == []


def test_no_import_cycle():
    assert cycles(graph()) == []


def test_bnlab_never_imports_autograder():
    edges = graph()
    assert not [
        (s, t) for s, t in _pairs(edges) if s.startswith("bnlab") and t.startswith("autograder")
    ]


def _pairs(edges):
    return [(s, t) for s, targets in edges.items() for t in targets]


# ------------------------------------------------ the rules catch what they are for


@pytest.mark.parametrize(
    "edges, expected",
    [
        (
            {"autograder.grading.x": {"autograder.pipeline.grade"}},
            [("autograder.grading.x", "autograder.pipeline.grade")],
        ),
        (
            {"autograder.sandbox.x": {"autograder.content.reference"}},
            [("autograder.sandbox.x", "autograder.content.reference")],
        ),
        ({"bnlab.harness": {"autograder.workspace"}}, [("bnlab.harness", "autograder.workspace")]),
        (
            {"autograder.workspace": {"autograder.grading.x"}},
            [("autograder.workspace", "autograder.grading.x")],
        ),
        ({"autograder.pipeline.grade": {"autograder.grading.x", "bnlab.course"}}, []),
        ({"autograder.cli": {"autograder.pipeline.grade"}}, []),
    ],
)
def test_the_direction_rule_flags_a_wrong_way_import(edges, expected):
    assert wrong_way(edges) == expected


def test_the_cycle_rule_finds_a_ring_through_a_function_level_import(tmp_path):
    source = "def f():\n    from autograder.pipeline import release\n"
    tree = ast.parse(source)
    found = imported(tree, "autograder.pipeline.grade", False, {"autograder.pipeline.release"})
    assert found == {"autograder.pipeline.release"}
    ring = {"a.x": {"a.y"}, "a.y": {"a.z"}, "a.z": {"a.x"}, "a.w": {"a.x"}}
    assert cycles(ring) == [["a.x", "a.y", "a.z"]]
