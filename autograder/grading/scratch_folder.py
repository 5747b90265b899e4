"""A grading run's scratch folder, and what a killed run left behind.

Each run grades in a scratch folder of its own outside the course (`new_scratch`),
in the system's temporary folder: the sandbox's mount table shows where its folders
come from, and the course's path need not be short. Its path is recorded in the
course, so that the next run removes the folder of a run that was killed
(`cleanup_stale`, with the other half-written leftovers); a run that ends removes
its own (`remove_scratch`). Both are called under the grading lock.
"""

import shutil
import tempfile
from pathlib import Path

from autograder.grading import gradebook_writer, notebook_server
from autograder.workspace import write_atomic

SCRATCH_PREFIX = "bnlab-grading-"  # a grading run's scratch folder, in the system's temp folder


def _scratch_record(course):
    return course.work / "grading-scratch"


def new_scratch(course):
    """A new scratch folder for one grading run (called under the grading lock), outside the
    course, its path recorded in the course so that a killed run's is removed by the next."""
    scratch = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX))
    write_atomic(_scratch_record(course), str(scratch) + "\n")
    return scratch


def remove_scratch(course, scratch):
    """Remove a run's scratch folder as its sandboxes left it (notebook_server.remove_scratch:
    links never followed, folders they made unreadable opened), then its record."""
    notebook_server.remove_scratch(scratch)
    Path(_scratch_record(course)).unlink(missing_ok=True)


def cleanup_stale(course):
    """What a killed run left half-written (called under the grading lock): its working
    folders in the course, its scratch folder (only one of ours: a record is no
    instruction to delete anything else) and half-swapped autograded folders."""
    for folder in [*course.work.glob("grade-*"), *course.work.glob(".template-*")]:
        shutil.rmtree(folder, ignore_errors=True)
    record = _scratch_record(course)
    if record.is_file():
        scratch = Path(record.read_text(encoding="utf-8").strip())
        if scratch.parent == Path(tempfile.gettempdir()) and scratch.name.startswith(
            SCRATCH_PREFIX
        ):
            remove_scratch(course, scratch)
        record.unlink(missing_ok=True)
    gradebook_writer.remove_half_swapped(course)
