"""Binder: the repository follows repo2docker's conventions, as far as they can be checked
without the network, and its postBuild builds the self-study release that Binder opens.

repo2docker reads its configuration files from a folder binder/ (or .binder/) when there
is one, else from the root; it installs environment.yml before it copies the rest of the
repository (so nothing there may name a local path), then copies the repository and runs
postBuild in it, once, as an executable.
"""

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml
from autograder_support import ROOT
from test_distributions import checkout_copy

from bnlab.course import NOTEBOOKS

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

POST_BUILD = ROOT / "postBuild"


def commands():
    """postBuild's commands, one list of words each (comments and blank lines left out)."""
    lines = POST_BUILD.read_text(encoding="utf-8").splitlines()[1:]
    return [shlex.split(line) for line in lines if line.strip() and not line.startswith("#")]


def build_step():
    """The command of postBuild that builds the self-study release, and its folder."""
    (command,) = [
        c for c in commands() if c[:3] == ["python", "-m", "autograder.pipeline.selfstudy"]
    ]
    return command, command[3]


def test_the_configuration_files_are_read_from_the_root():
    # A binder/ folder would make repo2docker ignore environment.yml and postBuild here.
    assert not (ROOT / "binder").exists() and not (ROOT / ".binder").exists()
    assert (ROOT / "environment.yml").is_file() and POST_BUILD.is_file()
    assert not (ROOT / "Dockerfile").exists()  # it would override every other file


def test_post_build_is_an_executable_bash_script_that_stops_on_error():
    assert os.access(POST_BUILD, os.X_OK)
    text = POST_BUILD.read_text(encoding="utf-8")
    assert text.startswith("#!/bin/bash\n")
    assert "set -euo pipefail" in text.splitlines()
    result = subprocess.run(["bash", "-n", str(POST_BUILD)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_environment_yml_pins_python_and_names_its_channel():
    data = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    assert data["channels"] == ["conda-forge"]
    entries = [e for e in data["dependencies"] if isinstance(e, str)]
    (python,) = [e for e in entries if re.match(r"python\s*([=<>!~]|$)", e)]
    match = re.fullmatch(r"python=3\.(\d+)", python)
    assert match, f"Python is not pinned to one version: {python!r}"
    for project in (ROOT / "pyproject.toml", ROOT / "bnlab" / "pyproject.toml"):
        needed = tomllib.loads(project.read_text(encoding="utf-8"))["project"]["requires-python"]
        assert int(match.group(1)) >= int(re.fullmatch(r">=3\.(\d+)", needed).group(1))
    # What postBuild runs needs these from the environment: JupyterLab to open, nbformat to
    # build, hatchling to install the project without build isolation.
    names = {re.match(r"[A-Za-z0-9_.-]+", e).group(0) for e in entries}
    assert {"jupyterlab", "nbformat", "hatchling", "pip"} <= names
    # Installed before the repository is copied: no local path may be named there.
    for entry in data["dependencies"]:
        if isinstance(entry, dict):
            for requirement in entry.get("pip", []):
                assert not requirement.startswith(("-e", ".", "/")), requirement


def test_post_build_commands_name_files_that_exist():
    found = commands()
    assert found, "postBuild runs nothing"
    for command in found:
        if command[0] == "set":
            continue
        assert command[:2] == ["python", "-m"], command
        module = command[2]
        if module != "pip":
            parts = module.split(".")
            assert (ROOT / Path(*parts)).with_suffix(".py").is_file(), module
        for word in command[3:]:
            if word.startswith(("-", "selfstudy")) or word == "install":
                continue
            assert (ROOT / word).exists(), (command, word)
    installs = [c for c in found if c[2] == "pip"]
    assert installs and all("--no-deps" in c for c in installs), installs  # conda installs them
    assert any(c[-1] == "." for c in installs), installs  # the project, from the checkout
    assert (ROOT / "pyproject.toml").is_file()


@pytest.mark.slow
def test_post_build_installs_the_project_offline(tmp_path):
    """pip resolves postBuild's install in a clean copy of the checkout, without the network
    and without installing (--dry-run): the build backend comes from the environment."""
    source = checkout_copy(tmp_path / "checkout")
    (install,) = [c for c in commands() if c[2] == "pip"]
    result = subprocess.run(
        [sys.executable, *install[1:3], install[3], "--dry-run", "--no-index", *install[4:]],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "Would install bnlab-instructor" in result.stdout, result.stdout


@pytest.mark.slow
def test_post_build_builds_the_selfstudy_release_in_a_clean_copy(tmp_path):
    source = checkout_copy(tmp_path / "checkout")
    command, folder = build_step()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    result = subprocess.run(
        [sys.executable, *command[1:]], cwd=source, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    built = source / folder
    assert sorted(p.name for p in built.iterdir()) == sorted(
        [f"{stem}.ipynb" for stem in NOTEBOOKS] + ["solutions.bnlab"]
    )
    for stem, names in NOTEBOOKS.items():
        cells = nbformat.read(built / f"{stem}.ipynb", as_version=4).cells
        reveals = [c.source.splitlines()[-1] for c in cells if "reveal(" in c.source]
        assert reveals == [f'reveal("{name}")' for name in names], stem
    shutil.rmtree(source)


def test_the_readme_gives_the_binder_link_to_the_built_folder():
    _, folder = build_step()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"https://mybinder\.org/v2/gh/\S+?\?urlpath=lab/tree/(\S+?)[)`\s]", readme)
    assert links, "README.md has no Binder link with urlpath=lab/tree/..."
    for target in links:
        assert target.split("/")[0] == folder, target
        assert target == folder or target[len(folder) + 1 :] in {
            f"{stem}.ipynb" for stem in NOTEBOOKS
        }
