"""Build hook of the instructor distribution (bnlab-instructor).

Its dependencies are the student package's, read from bnlab/pyproject.toml so
they are written down once, and the instructor's own below.
"""

from pathlib import Path

from hatchling.metadata.plugin.interface import MetadataHookInterface

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: hatchling depends on tomli there
    import tomli as tomllib

# Every package the instructor's code (autograder/) uses directly, beyond the student's;
# environment.yml lists the same for conda (tests/test_dependencies.py checks both).
INSTRUCTOR_DEPENDENCIES = [
    "nbgrader==0.9.*",
    "nbclient>=0.10",
    "nbconvert>=7",  # preprocessors named in the nbgrader configuration
    "traitlets>=5.9",
    "jupyter_client>=8",  # kernels over Unix sockets (transport "ipc")
    "ipykernel>=6.25",  # the grading kernel: python -m ipykernel_launcher
    "tqdm>=4.60",
    "latex2mathml>=3.81",  # the feedback pages' formulas, as MathML: no MathJax from a CDN
    # The release builds the student wheel with `pip wheel --no-build-isolation`, and
    # installs it into the student venv with `pip --python` (pip 22.3).
    "hatchling>=1.26",
    "pip>=22.3",
]


class InstructorDependencies(MetadataHookInterface):
    def update(self, metadata):
        student = tomllib.loads((Path(self.root) / "bnlab" / "pyproject.toml").read_text("utf-8"))
        metadata["dependencies"] = student["project"]["dependencies"] + INSTRUCTOR_DEPENDENCIES
