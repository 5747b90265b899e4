"""collect reads the zips `python -m bnlab submit` writes, however they reach the instructor.

An LMS's bulk download of those zips is a folder of them (or a zip of them), each named as
submit names it or as the LMS renames it: Canvas puts ``<name>_<user id>_<submission id>_``
(``_LATE_`` too) in front and ``-1`` after a second upload, Moodle
``<full name>_<id>_assignsubmission_file_`` (in front, or as a folder), a browser adds
`` (1)``, Blackboard puts its own ``<assignment>_<user>_attempt_<time>_`` in front. The zips
here are written by submit itself, from the course's notebooks; what each student
should get comes from how the test packed and named the zips, never from collect. Every
member of such a zip is hostile: the rules of autograder.archive hold for them too.
"""

import io
import json
import shutil
import time
import warnings
import zipfile
from pathlib import Path

import pytest
from autograder_support import SOURCE

from autograder.pipeline.collect import CollectError, collect
from autograder.workspace import Course
from bnlab import student
from bnlab.course import NOTEBOOKS

pytestmark = pytest.mark.slow  # submit checks every notebook: seconds, once for the module

PACKED = tuple(NOTEBOOKS)  # the notebooks the students hand in: all, as released
WHEN = {"T1": "2026-03-01 12:30:05", "T2": "2026-03-02 09:00:00"}
ADA, ODD = "ada", "s_2.b-X"  # an id with "_", "." and "-", as submit allows


def stamp(key):
    return WHEN[key].replace(" ", "-").replace(":", "-")


@pytest.fixture(scope="module")
def zips(tmp_path_factory):
    """{(student id, "T1" or "T2"): the path of the zip submit wrote}."""
    base = tmp_path_factory.mktemp("submitted-zips")
    work = base / "work"
    work.mkdir()
    for stem in PACKED:
        shutil.copyfile(SOURCE / f"{stem}.ipynb", work / f"{stem}.ipynb")
    written = {}
    for who, key in ((ADA, "T1"), (ODD, "T1"), (ADA, "T2")):
        dest = base / f"{who}-{key}"
        dest.mkdir()
        now = time.strptime(WHEN[key], "%Y-%m-%d %H:%M:%S")
        written[who, key] = student.submit(who, work, dest=dest, now=now, out=lambda *_: None)
    return written


@pytest.fixture
def course(tmp_path):
    return Course(tmp_path / "course")


def handed_in(course, who):
    """{file name: bytes} collect wrote for `who`, or None."""
    folder = course.submission(who)
    if not folder.is_dir():
        return None
    return {path.name: path.read_bytes() for path in folder.iterdir()}


def expected(key="T1"):
    """What submit packed, as the student's files were, and the time of the attempt."""
    files = {f"{stem}.ipynb": (SOURCE / f"{stem}.ipynb").read_bytes() for stem in PACKED}
    return files | {"timestamp.txt": WHEN[key].encode()}


def place(folder, name, data):
    path = Path(folder) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def quiet(course, source):
    lines = []
    report = collect(course, source=source, log=lines.append)
    return report, "\n".join(lines)


# ------------------------------------------------------------------ the layouts


def test_a_folder_of_the_zips_submit_writes_collects_everyone(zips, course, tmp_path):
    inbox = tmp_path / "inbox"
    for who in (ADA, ODD):
        packed = zips[who, "T1"]
        place(inbox, packed.name, packed.read_bytes())
    report, printed = quiet(course, inbox)
    assert handed_in(course, ADA) == expected() and handed_in(course, ODD) == expected()
    assert report["skipped"] == []
    assert printed.startswith("collect: 2 student(s) from")


def test_a_folder_of_folders_and_a_single_zip(zips, course, tmp_path):
    inbox = tmp_path / "inbox"
    place(inbox / "anything", zips[ADA, "T1"].name, zips[ADA, "T1"].read_bytes())
    moodle = "Bea Odd_4711_assignsubmission_file_"
    place(inbox / moodle, zips[ODD, "T1"].name, zips[ODD, "T1"].read_bytes())
    report, _ = quiet(course, inbox)
    assert handed_in(course, ADA) == expected() and handed_in(course, ODD) == expected()
    assert report["skipped"] == []
    alone = Course(tmp_path / "other")
    quiet(alone, zips[ODD, "T1"])
    assert handed_in(alone, ODD) == expected() and handed_in(alone, ADA) is None


# How an LMS or a browser renames the zip `name` (submit's) of the student `who`; for
# Blackboard, whose own prefix names its user and the time of the upload, what its rule
# takes: (the student, the time). Any other: the id and the time of submit's name.
BLACKBOARD_TIME = "2026-03-03 08:00:00"
RENAMES = {
    "canvas": lambda name, who: f"doe{who}_1234_98765_{name}",
    "canvas late": lambda name, who: f"doe{who}_LATE_1234_98765_{name}",
    "canvas second upload": lambda name, who: f"doe{who}_1234_98765_{name[:-4]}-1.zip",
    "moodle": lambda name, who: f"{who} Doe_4711_assignsubmission_file_{name}",
    "browser copy": lambda name, who: f"{name[:-4]} (1).zip",
    "blackboard": lambda name, who: f"HW3_bb{who}_attempt_2026-03-03-08-00-00_{name}",
}


@pytest.mark.parametrize("lms", sorted(RENAMES))
@pytest.mark.parametrize("as_download", [False, True], ids=["folder", "zip"])
def test_lms_renamed_zips_are_collected_for_the_id_in_their_name(
    zips, course, tmp_path, lms, as_download
):
    members = [
        (RENAMES[lms](zips[who, "T1"].name, who), zips[who, "T1"].read_bytes())
        for who in (ADA, ODD)
    ]
    source = tmp_path / "inbox"
    for name, data in members:
        place(source, name, data)
    if as_download:
        source = tmp_path / "download.zip"
        with zipfile.ZipFile(source, "w") as download:
            for name, data in members:
                download.writestr(name, data)
    report, _ = quiet(course, source)
    files = expected()
    owners = {who: who for who in (ADA, ODD)}
    if lms == "blackboard":
        owners = {who: f"bb{who}" for who in (ADA, ODD)}
        files["timestamp.txt"] = BLACKBOARD_TIME.encode()
    assert sorted(report["students"]) == sorted(owners.values())
    for owner in owners.values():
        assert handed_in(course, owner) == files, owner
    assert report["skipped"] == []


def test_the_newest_attempt_of_a_student_is_collected(zips, course, tmp_path):
    inbox = tmp_path / "inbox"
    for key in ("T1", "T2"):
        place(inbox, f"doeada_1234_98765_{zips[ADA, key].name}", zips[ADA, key].read_bytes())
    report, _ = quiet(course, inbox)
    assert handed_in(course, ADA) == expected("T2")
    (line,) = report["students"][ADA]["not used"]
    assert "an older attempt (2026-03-01 12:30:05)" in line


# ------------------------------------------------------------------ hostile uploads


def test_two_lms_accounts_handing_in_as_one_student_are_a_conflict(zips, course, tmp_path):
    """Eve's account uploads a zip packed with ada's id, at a later time: neither is graded
    as ada's without the instructor deciding."""
    inbox = tmp_path / "inbox"
    place(inbox, f"doeada_1234_98765_{zips[ADA, 'T1'].name}", zips[ADA, "T1"].read_bytes())
    place(inbox, f"roeeve_5678_98766_{zips[ADA, 'T2'].name}", zips[ADA, "T2"].read_bytes())
    place(inbox, f"roeeve_5678_98766_{zips[ODD, 'T1'].name}", zips[ODD, "T1"].read_bytes())
    report, printed = quiet(course, inbox)
    assert handed_in(course, ADA) is None
    (problem,) = report["students"][ADA]["problems"]
    assert "doeada_1234_98765" in problem and "roeeve_5678_98766" in problem
    assert "Not collected" in problem and f"{ADA}: NOT COLLECTED" in printed
    assert handed_in(course, ODD) == expected()
    (warning,) = report["students"][ODD]["warnings"]
    assert "roeeve_5678_98766" in warning and ADA in warning


def link(name, target):
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (0o120777 << 16) & 0xFFFF0000  # a symbolic link, as zip -y stores it
    return info, target.encode()


def test_every_member_of_a_renamed_zip_is_hostile(zips, course, tmp_path):
    """A zip named as submit names it, behind Canvas's prefix, holding one honest notebook
    and members that try to leave the folder, link out, come twice or are too large."""
    from autograder import archive

    first, second = PACKED[:2]
    honest = (SOURCE / f"{first}.ipynb").read_bytes()
    name = zips[ADA, "T1"].name
    marker = tmp_path / "outside"
    hostile = [
        (f"../../{marker.name}_{second}.ipynb", b"{}"),
        (f"{marker}_{second}.ipynb", b"{}"),
        link(f"batchnorm_ada_attempt_x_{second}.ipynb", "/etc/passwd"),
        (f"twice_{second}.ipynb", b"{}"),
        (f"twice_{second}.ipynb", b"{}"),
        ("big_04_deep_network.ipynb", b" " * (archive.NOTEBOOK_BYTES + 1)),
        (f"x_{first}.ipynb", honest),
    ]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as packed, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns of a name given twice: an attack here
        for member, data in hostile:
            packed.writestr(member, data)
    inbox = tmp_path / "inbox"
    renamed = f"doeada_1234_98765_{name}"
    place(inbox, renamed, buffer.getvalue())
    report, _ = quiet(course, inbox)
    assert handed_in(course, ADA) == {
        f"{first}.ipynb": honest,
        "timestamp.txt": b"2026-03-01 12:30:05",
    }
    reasons = {row["path"].partition("!")[2]: row["reason"] for row in report["skipped"]}
    assert "'..'" in reasons[f"../../{marker.name}_{second}.ipynb"]
    assert reasons[f"{marker}_{second}.ipynb"] == "an absolute path"
    assert reasons[f"batchnorm_ada_attempt_x_{second}.ipynb"] == "a link"
    assert "2 members of this name" in reasons[f"twice_{second}.ipynb"]
    assert "zip bomb" in reasons["big_04_deep_network.ipynb"]
    assert not list(tmp_path.glob("outside*"))


def test_a_truncated_zip_is_called_so_and_the_others_are_collected(zips, course, tmp_path):
    inbox = tmp_path / "inbox"
    whole = zips[ADA, "T1"].read_bytes()
    cut = place(inbox, zips[ADA, "T1"].name, whole[: len(whole) // 2])
    place(inbox, zips[ODD, "T1"].name, zips[ODD, "T1"].read_bytes())
    report, printed = quiet(course, inbox)
    assert handed_in(course, ODD) == expected() and handed_in(course, ADA) is None
    (row,) = report["skipped"]
    assert row["path"] == cut.name
    assert "truncated" in row["reason"] and "cannot be read" in row["reason"]
    assert f"{ADA}: NOT COLLECTED" in printed
    # the same zip as the whole source: the step stops, saying what the file is
    with pytest.raises(CollectError) as stopped:
        collect(Course(tmp_path / "other"), source=cut, log=lambda *_: None)
    assert "truncated" in str(stopped.value) and "cannot be read" in str(stopped.value)
    assert "neither a folder nor" not in str(stopped.value)
    text = place(tmp_path, "notes.txt", b"not a zip at all")
    with pytest.raises(CollectError, match="neither a folder nor a zip archive"):
        collect(Course(tmp_path / "other"), source=text, log=lambda *_: None)


def test_the_report_is_written_as_printed(zips, course, tmp_path):
    inbox = tmp_path / "inbox"
    place(inbox, f"doeada_1234_98765_{zips[ADA, 'T1'].name}", zips[ADA, "T1"].read_bytes())
    report, _ = quiet(course, inbox)
    written = json.loads((course.reports / "collect.json").read_text(encoding="utf-8"))
    assert written == report and written["students"][ADA]["collected"]


# ------------------------------------------------------------------ names with no id


def handmade_zip():
    """A zip a student packed by hand: the notebooks under their own names."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as packed:
        for stem in PACKED[:2]:
            packed.writestr(f"{stem}.ipynb", (SOURCE / f"{stem}.ipynb").read_bytes())
    return buffer.getvalue()


# Uploads as Canvas or Moodle hand them out when the student did not use submit: their
# names hold the student's name and the LMS's numbers, no student id. {case: (LMS,
# [(name in the source, "notebook" or "zip")])}. The last Moodle folder holds files
# named for another student, in nbgrader's layout and a folder of their id.
NO_ID = {
    "moodle folder of notebooks": (
        "Moodle",
        [(f"Ada Lovelace_1234_assignsubmission_file_/{stem}.ipynb", "notebook") for stem in PACKED],
    ),
    "moodle folder, lower-case name": (
        "Moodle",
        [(f"lovelace_1234_assignsubmission_file_/{PACKED[0]}.ipynb", "notebook")],
    ),
    "moodle flat names": (
        "Moodle",
        [(f"lovelace_1234_assignsubmission_file_{PACKED[0]}.ipynb", "notebook")],
    ),
    "moodle hand-made zip": (
        "Moodle",
        [("lovelace_1234_assignsubmission_file_/mywork.zip", "zip")],
    ),
    "moodle folder naming another student": (
        "Moodle",
        [
            (f"eve_9_assignsubmission_file_/{ADA}/batchnorm/{PACKED[0]}.ipynb", "notebook"),
            (f"eve_9_assignsubmission_file_/{ADA}/{PACKED[1]}.ipynb", "notebook"),
            (f"eve_9_assignsubmission_file_/{ADA}.zip", "zip"),
        ],
    ),
    "canvas hand-made zip": ("Canvas", [("lovelaceada_12345_67890_mywork.zip", "zip")]),
    "canvas notebooks, late": (
        "Canvas",
        [(f"lovelaceada_LATE_12345_67890_{stem}.ipynb", "notebook") for stem in PACKED[:2]],
    ),
}


@pytest.mark.parametrize("case", sorted(NO_ID))
def test_lms_names_without_a_student_id_collect_nobody_and_say_what_to_do(case, course, tmp_path):
    """Before, such names were collected under a made-up id (the Moodle folder's or the
    whole Canvas name) or skipped as "cannot be a student id" with no advice; now each is
    skipped, naming the LMS, and collect says how students hand in so that their id is
    known."""
    lms, files = NO_ID[case]
    inbox = tmp_path / "inbox"
    for name, kind in files:
        data = handmade_zip() if kind == "zip" else (SOURCE / f"{PACKED[0]}.ipynb").read_bytes()
        place(inbox, name, data)
    report, printed = quiet(course, inbox)
    assert report["students"] == {}
    assert not course.submitted.exists() or not any(course.submitted.iterdir())
    assert sorted(row["path"] for row in report["skipped"]) == sorted(n for n, _ in files)
    for row in report["skipped"]:
        assert row["reason"].startswith(f"named by {lms}, whose names hold no student id")
    assert printed.startswith("collect: 0 student(s)")
    assert f"{len(files)} file(s) name no student id" in printed
    assert "python -m bnlab submit" in printed and "--regexp" in printed


def test_a_folder_named_as_no_id_can_be_gets_the_same_advice(course, tmp_path):
    """Another LMS's folder per student (a name with spaces and commas, as D2L writes):
    no student id, and the same advice."""
    inbox = tmp_path / "inbox"
    folder = "152-3301 - Lovelace, Ada - Mar 1, 2026 1230 PM"
    place(inbox, f"{folder}/{PACKED[0]}.ipynb", (SOURCE / f"{PACKED[0]}.ipynb").read_bytes())
    report, printed = quiet(course, inbox)
    assert report["students"] == {}
    (row,) = report["skipped"]
    assert row["reason"].startswith(f"{folder!r} is no student id (letters, digits")
    assert "1 file(s) name no student id" in printed and "--regexp" in printed


def test_a_regexp_reads_the_id_where_the_lms_put_the_name(course, tmp_path):
    """The instructor who knows that Canvas's squashed name is the student's id in this
    course says so; a Moodle folder's name is read from the path."""
    inbox = tmp_path / "inbox"
    place(inbox, "lovelaceada_12345_67890_mywork.zip", handmade_zip())
    canvas = r"(?P<student_id>[a-z]+)_(?:LATE_)?\d+_\d+_(?P<file_id>.+)"
    report = collect(course, source=inbox, regexp=canvas, log=lambda *_: None)
    assert sorted(report["students"]) == ["lovelaceada"]
    assert sorted(handed_in(course, "lovelaceada")) == [f"{s}.ipynb" for s in PACKED[:2]]
    moodle = tmp_path / "moodle"
    notebook = (SOURCE / f"{PACKED[0]}.ipynb").read_bytes()
    place(moodle, f"lovelace_1234_assignsubmission_file_/{PACKED[0]}.ipynb", notebook)
    other = Course(tmp_path / "other")
    by_folder = r"(?P<student_id>[a-z]+)_\d+_assignsubmission_file_/(?P<file_id>.+)"
    report = collect(other, source=moodle, regexp=by_folder, log=lambda *_: None)
    assert sorted(report["students"]) == ["lovelace"]
    assert sorted(handed_in(other, "lovelace")) == [f"{PACKED[0]}.ipynb"]
