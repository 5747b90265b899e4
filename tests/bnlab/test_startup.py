"""The course's commands start without jsonschema's unused format checkers
(bnlab._startup), and notebooks validate exactly as before.

Each process here is a new Python: the first runs as a command's process does (the
instructor's command line imported, or bnlab's), the other as any other process."""

import json
import subprocess
import sys

import pytest
from autograder_support import SOURCE

PROBE = """
import json, sys
{setup}
import jsonschema, nbformat
verdicts = []
for text in sys.stdin.read().split("\\0"):
    try:
        nbformat.validate(nbformat.reads(text, as_version=4))
        verdicts.append("valid")
    except Exception as error:
        verdicts.append(type(error).__name__ + ": " + str(error).splitlines()[0])
print(json.dumps({{
    "skipped": [n for n in ("rfc3987_syntax", "webcolors") if sys.modules.get(n, 0) is None],
    "checkers": sorted(jsonschema.FormatChecker.checkers),
    "verdicts": verdicts,
}}))
"""
SETUPS = {
    "instructor's command": "import autograder.cli",
    "python -m bnlab": "import runpy; runpy.run_module('bnlab.__main__', run_name='probe')",
    "any other process": "",
}


def notebooks():
    """Valid, damaged and wrongly typed notebooks, as text."""
    good = (SOURCE / "01_forward_bn.ipynb").read_text(encoding="utf-8")
    nb = json.loads(good)
    nb["cells"][0]["cell_type"] = "picture"
    wrong_type = json.dumps(nb)
    nb = json.loads(good)
    nb["cells"][1]["source"] = 42
    wrong_source = json.dumps(nb)
    nb = json.loads(good)
    nb["metadata"]["kernelspec"] = {"name": 1}
    return [good, wrong_type, wrong_source, json.dumps(nb)]


def probe(setup):
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(setup=setup)],
        input="\0".join(notebooks()),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def probes():
    return {name: probe(setup) for name, setup in SETUPS.items()}


def test_the_checkers_are_installed_here(probes):
    """Else the rest would prove nothing: JupyterLab (the dev extra) brings them."""
    assert {"iri", "color"} <= set(probes["any other process"]["checkers"])
    assert probes["any other process"]["skipped"] == []


@pytest.mark.parametrize("command", ["instructor's command", "python -m bnlab"])
def test_a_commands_process_goes_without_them(probes, command):
    found = probes[command]
    assert found["skipped"] == ["rfc3987_syntax", "webcolors"]
    assert not {"iri", "iri-reference", "color"} & set(found["checkers"])
    # every other format checker is still there
    expected = set(probes["any other process"]["checkers"]) - {"iri", "iri-reference", "color"}
    assert set(found["checkers"]) == expected


@pytest.mark.parametrize("command", ["instructor's command", "python -m bnlab"])
def test_notebooks_validate_as_before(probes, command):
    verdicts = probes[command]["verdicts"]
    assert verdicts == probes["any other process"]["verdicts"]
    assert verdicts[0] == "valid" and all(v != "valid" for v in verdicts[1:])
