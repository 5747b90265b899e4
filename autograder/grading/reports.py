"""What grading says about each student: reports/grade/<student>.json, in plain words.

A student's report is written last, after the gradebook and the autograded
notebooks: it is the marker that the student is done (autograder.pipeline.grade skips a
student whose report matches the submission and the source notebooks).
"""

import json
from datetime import datetime

from autograder.grading import inert
from autograder.workspace import MANUAL_ANSWERS, write_atomic
from bnlab.course import NOTEBOOKS


def report_path(course, student):
    return course.reports / "grade" / f"{student}.json"


def read_report(course, student):
    """The student's report (a dict), or None if there is none or it cannot be read."""
    try:
        return json.loads(report_path(course, student).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_report(course, result, source):
    """Write the report of one merged result (see autograder.grading.submission); returns it."""
    report = {key: value for key, value in result.items() if key != "autograded"}
    report["source"] = source
    report["graded_at"] = datetime.now().isoformat(timespec="seconds")
    report["messages"] = messages(result)
    report["memory_limit"] = course.memory_limit  # bytes per notebook run; 0: without one
    report["sandbox"] = course.sandbox  # False: graded with --no-sandbox
    report["inert"] = inert.VERSION  # the rules its autograded notebooks were written under
    rewrite_report(course, report)
    return report


def rewrite_report(course, report):
    """Write back a report read with read_report, changed."""
    text = json.dumps(report, indent=1, sort_keys=True) + "\n"
    write_atomic(report_path(course, report["student"]), text)


def could_not_grade(student, digest, why):
    """The result of a student whose grading failed as a whole: every notebook scores 0,
    with the reason, so the student is still in every report and export; regraded by
    the next run."""
    first = [line for line in str(why).strip().splitlines() if line.strip()]
    reason = first[0][:200] if first else "unknown reason"
    return {
        "student": student,
        "digest": digest,
        "timestamp": None,
        "notebooks": {
            stem: {"status": "error", "message": f"{stem}.ipynb could not be graded ({reason})"}
            for stem in NOTEBOOKS
        },
        "grades": [],
        "flags": [],
        "extra_files": [],
        "crashed": True,
        "crash": str(why)[-4000:],
        "autograded": {},
    }


def messages(result):
    """Plain-words notes about one graded submission."""
    notes = _notebook_problems(result["notebooks"])
    for stem, info in result["notebooks"].items():
        if info.get("budget"):
            notes.append(info["budget"])
        for grade_id in info.get("restored_tests", []):
            notes.append(
                f"{stem}: the test cell {grade_id} was deleted; it was put back and graded"
            )
        for grade_id in info.get("changed_tests", []):
            notes.append(f"{stem}: the test cell {grade_id} was changed; the original was graded")
        for grade_id, outcome in sorted(info.get("cells", {}).items()):
            status, detail = outcome[:2]
            if status in ("timeout", "memory"):
                notes.append(f"{stem} {grade_id}: {detail}")
    if result.get("extra_files"):
        notes.append(
            "ignored files that are not part of the assignment: " + ", ".join(result["extra_files"])
        )
    for flag in result["flags"]:
        notes.append(
            f"REVIEW {flag['notebook']} {flag['cell']} line {flag['line']}: "
            f"{flag['reason']}: {flag['code']}"
        )
    return notes


def _notebook_problems(notebooks):
    notes = []
    problems = [(stem, info) for stem, info in notebooks.items() if info["status"] != "ok"]
    for stem, info in problems:
        count = len(NOTEBOOKS[stem])
        manual = [name for name, where in MANUAL_ANSWERS.items() if where == stem]
        what = f"{count} function{'s' if count != 1 else ''}" + (
            f" and the written answer{'s' if len(manual) > 1 else ''} {', '.join(manual)}"
            if manual
            else ""
        )
        notes.append(f"{info['message']}: graded 0 for its {what}")
    if problems:
        others = len(NOTEBOOKS) - len(problems)
        notes.append(f"the other {others} notebook{'s' if others != 1 else ''} were graded")
    return notes
