"""collect against hostile uploads: an upload speaks only for its uploader.

One LMS download (a zip, as Blackboard hands it out) holds honest students and one
attack per student: a zip named for its uploader whose members are named like another
student's files, bad attempt times, a corrupt and a truncated zip, a damaged member,
members that clash as file and folder, path traversal, link members, zip bombs by
ratio and by total, an oversized notebook, one with too many cells, zips nested too
deep, an encrypted member, members given twice, too many members, two attempts of one
student, and two uploads of one student without a time. A second source, a folder,
holds links, a FIFO and forged timestamp.txt files. Each is collected once through the
command line; each test then checks one attack: the rest collected byte for byte, the
reason in reports/collect.json, nothing written outside the course's own folders, exit 0.
What each upload should give comes from how the test built it, never from collect.
"""

import io
import json
import os
import random
import uuid
import warnings
import zipfile
from pathlib import Path

import nbformat
import pytest
from autograder_support import SOURCE, run, tree_digest

from autograder import archive
from bnlab.course import ASSIGNMENT, NOTEBOOKS
from bnlab.student import member_name, zip_name

pytestmark = pytest.mark.slow

HONEST = {stem: (SOURCE / f"{stem}.ipynb").read_bytes() for stem in NOTEBOOKS}
STEMS = list(NOTEBOOKS)
FIRST, SECOND = STEMS[0], STEMS[1]
MARKER = f"bnlab-pwned-{uuid.uuid4().hex[:8]}"  # a name no file outside the course may take
# What collect writes in the course: its output, its report, its scratch, and the course's
# nbgrader settings (every step writes them, naming the course's folder).
WRITTEN_BY_COLLECT = ("submitted/", "reports/", ".work/", "nbgrader_config.json")


def forged(text):
    """A small valid notebook that says `text`: what an attacker hands in."""
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_markdown_cell(text, id="forged")]
    return nbformat.writes(notebook).encode()


def filler(size):
    """`size` bytes of JSON-safe text that compresses about 45:1: under the ratio limit."""
    rng = random.Random(size)
    letters = "abcdefghijklmnopqrstuvwxyz0123456789"
    block = "".join("".join(rng.choice(letters) for _ in range(40)) + " " * 2000 for _ in range(64))
    return (block * (size // len(block) + 1)).encode()[:size]


def zipped(members, compression=zipfile.ZIP_DEFLATED):
    """The bytes of a zip of `members`: [(name or ZipInfo, bytes)]."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as handle, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns of a name given twice: an attack here
        for name, data in members:
            if isinstance(name, zipfile.ZipInfo):
                name.compress_type = compression
            handle.writestr(name, data)
    return buffer.getvalue()


def blackboard(student, time, rest):
    return f"{ASSIGNMENT}_{student}_attempt_{time}_{rest}"


def with_good_second(members):
    return members + [(f"{SECOND}.ipynb", HONEST[SECOND])]


def link(name, target):
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (0o120777 << 16) & 0xFFFF0000  # a symbolic link, as zip -y stores it
    return info, target.encode()


def encrypted(data):
    """`data` (a zip) with its first member marked encrypted, in the local header and in
    the central directory."""
    data = bytearray(data)
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.index(signature) + offset
        data[at] |= 0x1
    return bytes(data)


def damaged(data, name):
    """`data` (a zip) with a few bytes of member `name`'s compressed data changed."""
    with zipfile.ZipFile(io.BytesIO(data)) as handle:
        info = handle.getinfo(name)
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data = bytearray(data)
    for at in range(start + 100, start + 110):
        data[at] ^= 0xFF
    return bytes(data)


T1, T2 = "2026-03-01-10-00-00", "2026-03-02-10-00-00"


def download_members():
    """[(member name, bytes)] of the LMS download, and {student: what collect should do}."""
    members = []
    # bob: honest, Blackboard's flat files. ann: her zip's members are named like bob's
    # files, at a later attempt time.
    members += [(blackboard("bob", T1, f"{stem}.ipynb"), HONEST[stem]) for stem in NOTEBOOKS]
    posing = [(blackboard("bob", T2, f"{stem}.ipynb"), forged("ann as bob")) for stem in NOTEBOOKS]
    members.append((blackboard("ann", T1, "work.zip"), zipped(posing)))
    # ray: honest, the zip `python -m bnlab submit` packs, as the LMS hands it out
    packed = [(member_name("ray", T1, stem), HONEST[stem]) for stem in NOTEBOOKS]
    members.append((blackboard("ray", T1, zip_name("ray", T1)), zipped(packed)))
    # cat: bad attempt times, one good
    for time, stem in (
        ("2026-02-30-10-00-00", STEMS[0]),
        ("2099-01-01-00-00-00", STEMS[1]),
        ("soon", STEMS[2]),
        (T1, STEMS[3]),
    ):
        members.append((blackboard("cat", time, f"{stem}.ipynb"), HONEST[stem]))
    # dan: garbage named .zip; dot: a real zip cut in half; dee: a damaged member
    members.append((blackboard("dan", T1, "work.zip"), b"PK\x03\x04" + os.urandom(2000)))
    whole = zipped([(f"{stem}.ipynb", HONEST[stem]) for stem in NOTEBOOKS])
    members.append((blackboard("dot", T1, "work.zip"), whole[: len(whole) // 2]))
    dee = zipped(with_good_second([(f"{FIRST}.ipynb", HONEST[FIRST])]))
    members.append((blackboard("dee", T1, "work.zip"), damaged(dee, f"{FIRST}.ipynb")))
    # eve: a file that is also a folder
    clash = [(f"{FIRST}.ipynb", HONEST[FIRST]), (f"{FIRST}.ipynb/{SECOND}.ipynb", HONEST[SECOND])]
    members.append((blackboard("eve", T1, "work.zip"), zipped(clash)))
    # fred: path traversal, inside his zip and in the download itself
    escaping = [
        (f"../../../../../../../../tmp/{MARKER}_{STEMS[0]}.ipynb", forged("up")),
        (f"/tmp/{MARKER}_{STEMS[1]}.ipynb", forged("absolute")),
        (f"..\\..\\{MARKER}_{STEMS[2]}.ipynb", forged("backslash")),
        (f"C:/{MARKER}_{STEMS[3]}.ipynb", forged("drive")),
        (f"\x1b[2J\x1b]0;{MARKER}\x07_{STEMS[5]}.ipynb", forged("terminal")),  # clears a terminal
        (f"{STEMS[4]}.ipynb", HONEST[STEMS[4]]),
    ]
    members.append((blackboard("fred", T1, "work.zip"), zipped(escaping)))
    members.append(("../" + blackboard("fred", T1, f"{STEMS[5]}.ipynb"), forged("up")))
    # gus: a link member
    members.append(
        (
            blackboard("gus", T1, "work.zip"),
            zipped(with_good_second([link(f"{FIRST}.ipynb", "/etc/passwd")])),
        )
    )
    # hal: a zip bomb by ratio: 10 MiB of blanks in a notebook (under the size limit)
    bomb = forged("x")[:-2] + b" " * (10 * archive.MiB) + b"}\n"
    members.append(
        (blackboard("hal", T1, "work.zip"), zipped(with_good_second([(f"{FIRST}.ipynb", bomb)])))
    )
    # ivy: a zip bomb by total: two nested zips of 130 MiB, each under the ratio limit
    big = zipped([("filler.bin", filler(130 * archive.MiB))], zipfile.ZIP_STORED)
    nested = with_good_second([("a.zip", big), ("b.zip", big)])
    members.append((blackboard("ivy", T1, "work.zip"), zipped(nested)))
    # jan: a notebook over the size limit (not a bomb: it compresses 45:1)
    large = filler(archive.NOTEBOOK_BYTES + archive.MiB)
    members.append(
        (blackboard("jan", T1, "work.zip"), zipped(with_good_second([(f"{FIRST}.ipynb", large)])))
    )
    # kim: a notebook with too many cells
    many = nbformat.v4.new_notebook()
    many.cells = [nbformat.v4.new_code_cell("pass") for _ in range(archive.NOTEBOOK_CELLS + 1)]
    crowded = [(f"{FIRST}.ipynb", nbformat.writes(many).encode())]
    members.append((blackboard("kim", T1, "work.zip"), zipped(with_good_second(crowded))))
    # lee: zips nested four deep (the upload, then three more)
    inner = zipped([(f"{FIRST}.ipynb", HONEST[FIRST])])
    third = zipped([("deeper.zip", inner), (f"{SECOND}.ipynb", HONEST[SECOND])])
    second = zipped([("deep.zip", third)])
    members.append((blackboard("lee", T1, "work.zip"), zipped([("nested.zip", second)])))
    # mo: an encrypted member; nan: a name given twice
    secret = zipped(with_good_second([(f"{FIRST}.ipynb", HONEST[FIRST])]), zipfile.ZIP_STORED)
    members.append((blackboard("mo", T1, "work.zip"), encrypted(secret)))
    twice = with_good_second(
        [(f"{FIRST}.ipynb", HONEST[FIRST]), (f"{FIRST}.ipynb", forged("other"))]
    )
    members.append((blackboard("nan", T1, "work.zip"), zipped(twice)))
    # oli: too many members
    crowd = [(f"{FIRST}.ipynb", HONEST[FIRST])] + [
        (f"n/{i}", b"") for i in range(archive.ZIP_MEMBERS)
    ]
    members.append((blackboard("oli", T1, "work.zip"), zipped(crowd, zipfile.ZIP_STORED)))
    # pat: two attempts, the newer with one notebook only
    members += [(blackboard("pat", T1, f"{stem}.ipynb"), HONEST[stem]) for stem in NOTEBOOKS]
    members.append(
        (blackboard("pat", T2, "again.zip"), zipped([(f"{FIRST}.ipynb", forged("pat v2"))]))
    )
    # quinn: two uploads without a time
    members.append(("quinn.zip", zipped([(f"{FIRST}.ipynb", forged("quinn a"))])))
    members.append((f"quinn_{FIRST}.ipynb", forged("quinn b")))
    return members


@pytest.fixture(scope="module")
def from_download(course_copy):
    """The course after `collect --from download.zip`: (course, the CLI's result, report)."""
    course = course_copy("collect-hostile")
    download = course.parent / "download.zip"
    with zipfile.ZipFile(download, "w", zipfile.ZIP_DEFLATED) as handle:
        for name, data in download_members():
            handle.writestr(name, data)
    before = outside(course)
    result = run("collect", course, "--from", download, check=False)
    report = json.loads((course / "reports" / "collect.json").read_text(encoding="utf-8"))
    return course, result, report, before


def outside(course):
    """Digest of everything under the course's parent folder that collect may not write."""
    digest = tree_digest(course.parent)
    return {
        path: value
        for path, value in digest.items()
        if not any(path.startswith(f"course/{mine}") for mine in WRITTEN_BY_COLLECT)
    }


def submitted(course, student):
    folder = course / "submitted" / student / ASSIGNMENT
    if not folder.is_dir():
        return None
    return {path.name: path.read_bytes() for path in folder.iterdir()}


def reasons(report, prefix):
    """{path: reason} of the skipped files whose path starts with `prefix`."""
    return {
        row["path"]: row["reason"] for row in report["skipped"] if row["path"].startswith(prefix)
    }


def test_the_run_completes_and_writes_nothing_outside_the_course(from_download):
    course, result, report, before = from_download
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert outside(course) == before
    assert not list(Path("/tmp").glob(f"{MARKER}*")) and not list(Path("/").glob(f"{MARKER}*"))
    assert not list((course / ".work").glob("collect-*")), "collect's scratch is left behind"
    expected = {"ann", "bob", "ray", "cat", "dee", "eve", "fred", "gus", "hal", "ivy", "jan"}
    expected |= {"kim", "lee", "mo", "nan", "pat"}
    assert set(os.listdir(course / "submitted")) == expected
    found = {"dan", "dot", "oli", "quinn"} | expected
    assert set(report["students"]) == found
    for student in found - expected:
        assert not report["students"][student]["collected"], student
        assert "NOT COLLECTED" in result.stdout


def test_an_upload_speaks_only_for_its_uploader(from_download):
    course, _, report, _ = from_download
    bob = submitted(course, "bob")
    assert {name: bob[name] for name in bob if name != "timestamp.txt"} == {
        f"{stem}.ipynb": HONEST[stem] for stem in NOTEBOOKS
    }
    assert bob["timestamp.txt"] == b"2026-03-01 10:00:00"
    ann = submitted(course, "ann")
    assert set(ann) == {f"{stem}.ipynb" for stem in NOTEBOOKS} | {"timestamp.txt"}
    assert all(ann[f"{stem}.ipynb"] == forged("ann as bob") for stem in NOTEBOOKS)
    warnings = report["students"]["ann"]["warnings"]
    assert len(warnings) == len(NOTEBOOKS) and all(
        "named like a file of bob" in w for w in warnings
    )
    assert (
        report["students"]["bob"]["warnings"] == [] and report["students"]["bob"]["problems"] == []
    )


def test_the_zip_submit_packs_is_collected_byte_for_byte(from_download):
    course, _, report, _ = from_download
    ray = submitted(course, "ray")
    assert ray == {f"{stem}.ipynb": HONEST[stem] for stem in NOTEBOOKS} | {
        "timestamp.txt": b"2026-03-01 10:00:00"
    }
    assert report["students"]["ray"]["missing"] == []


def test_a_bad_attempt_time_is_a_problem_of_that_student(from_download):
    course, _, report, _ = from_download
    cat = submitted(course, "cat")
    assert cat == {
        f"{STEMS[3]}.ipynb": HONEST[STEMS[3]],
        "timestamp.txt": b"2026-03-01 10:00:00",
    }
    skipped = reasons(report, f"{ASSIGNMENT}_cat_")
    assert len(skipped) == 3
    assert "no real date" in skipped[blackboard("cat", "2026-02-30-10-00-00", f"{STEMS[0]}.ipynb")]
    assert "not between" in skipped[blackboard("cat", "2099-01-01-00-00-00", f"{STEMS[1]}.ipynb")]
    assert "not a date" in skipped[blackboard("cat", "soon", f"{STEMS[2]}.ipynb")]
    assert len(report["students"]["cat"]["problems"]) == 3


def test_a_corrupt_zip_is_skipped_and_the_rest_collected(from_download):
    course, _, report, _ = from_download
    for student in ("dan", "dot"):
        assert submitted(course, student) is None
        (reason,) = reasons(report, blackboard(student, T1, "work.zip")).values()
        assert "damaged" in reason, reason
    dee = submitted(course, "dee")
    assert (
        set(dee) == {f"{SECOND}.ipynb", "timestamp.txt"}
        and dee[f"{SECOND}.ipynb"] == HONEST[SECOND]
    )
    (reason,) = reasons(report, blackboard("dee", T1, "work.zip!")).values()
    assert "damaged" in reason


def test_a_file_that_is_also_a_folder_is_skipped(from_download):
    course, _, report, _ = from_download
    assert submitted(course, "eve") == {
        f"{SECOND}.ipynb": HONEST[SECOND],
        "timestamp.txt": b"2026-03-01 10:00:00",
    }
    assert (
        "also a folder"
        in reasons(report, blackboard("eve", T1, f"work.zip!{FIRST}.ipynb"))[
            blackboard("eve", T1, f"work.zip!{FIRST}.ipynb")
        ]
    )


def test_path_traversal_is_skipped(from_download):
    course, result, report, _ = from_download
    fred = submitted(course, "fred")
    assert fred == {
        f"{STEMS[4]}.ipynb": HONEST[STEMS[4]],
        "timestamp.txt": b"2026-03-01 10:00:00",
    }
    skipped = reasons(report, blackboard("fred", T1, "work.zip!"))
    assert sorted(skipped.values()) == sorted(
        [
            "'..' in its path (it would leave the folder)",
            "an absolute path",
            "a backslash in its name (a Windows path)",
            "a drive letter in its name",
            "a control character in its name",
        ]
    )
    assert "\x1b" not in result.stdout and "\\x1b[2J" in result.stdout  # shown escaped
    assert "'..'" in reasons(report, "../")["../" + blackboard("fred", T1, f"{STEMS[5]}.ipynb")]


def test_a_link_member_is_skipped(from_download):
    course, _, report, _ = from_download
    assert set(submitted(course, "gus")) == {f"{SECOND}.ipynb", "timestamp.txt"}
    assert reasons(report, blackboard("gus", T1, "work.zip!")) == {
        blackboard("gus", T1, f"work.zip!{FIRST}.ipynb"): "a link"
    }


def test_zip_bombs_by_ratio_and_by_total_are_refused(from_download):
    course, _, report, _ = from_download
    assert set(submitted(course, "hal")) == {f"{SECOND}.ipynb", "timestamp.txt"}
    (reason,) = reasons(report, blackboard("hal", T1, "work.zip!")).values()
    assert f"over the limit of {archive.RATIO}:1" in reason
    assert set(submitted(course, "ivy")) == {f"{SECOND}.ipynb", "timestamp.txt"}
    skipped = reasons(report, blackboard("ivy", T1, "work.zip!"))
    assert "read or extracted for one student" in skipped[blackboard("ivy", T1, "work.zip!b.zip")]
    # a.zip, just as large, was read (its member is no notebook): the sum is over, not a zip
    assert "not a course notebook" in skipped[blackboard("ivy", T1, "work.zip!a.zip!filler.bin")]


def test_an_oversized_notebook_and_one_with_too_many_cells_are_refused(from_download):
    course, _, report, _ = from_download
    for student, words in (
        ("jan", "for a notebook"),
        ("kim", f"over the limit of {archive.NOTEBOOK_CELLS}"),
    ):
        assert set(submitted(course, student)) == {f"{SECOND}.ipynb", "timestamp.txt"}
        (reason,) = reasons(report, blackboard(student, T1, "work.zip!")).values()
        assert words in reason, reason


def test_zips_nested_too_deep_are_refused(from_download):
    course, _, report, _ = from_download
    assert submitted(course, "lee") == {
        f"{SECOND}.ipynb": HONEST[SECOND],
        "timestamp.txt": b"2026-03-01 10:00:00",
    }
    deepest = blackboard("lee", T1, "work.zip!nested.zip!deep.zip!deeper.zip")
    assert "nested over" in reasons(report, deepest)[deepest]


def test_encrypted_and_duplicated_members_are_skipped(from_download):
    course, _, report, _ = from_download
    for student, words in (("mo", "encrypted"), ("nan", "2 members of this name")):
        assert submitted(course, student)[f"{SECOND}.ipynb"] == HONEST[SECOND]
        assert f"{FIRST}.ipynb" not in submitted(course, student)
        skipped = reasons(report, blackboard(student, T1, "work.zip!"))
        assert skipped and all(words in reason for reason in skipped.values()), skipped


def test_a_zip_with_too_many_members_is_refused_whole(from_download):
    course, _, report, _ = from_download
    (reason,) = reasons(report, blackboard("oli", T1, "work.zip")).values()
    assert f"over {archive.ZIP_MEMBERS} members" in reason
    assert submitted(course, "oli") is None


def test_the_newest_attempt_is_collected_whole(from_download):
    course, _, report, _ = from_download
    assert submitted(course, "pat") == {
        f"{FIRST}.ipynb": forged("pat v2"),
        "timestamp.txt": b"2026-03-02 10:00:00",
    }
    (line,) = report["students"]["pat"]["not used"]
    assert "an older attempt (2026-03-01 10:00:00)" in line
    older = reasons(report, blackboard("pat", T1, ""))
    assert len(older) == len(NOTEBOOKS)


def test_two_uploads_without_a_time_are_a_conflict(from_download):
    course, _, report, _ = from_download
    assert submitted(course, "quinn") is None
    (problem,) = report["students"]["quinn"]["problems"]
    assert "2 uploads claim quinn" in problem and "Not collected" in problem
    assert set(reasons(report, "quinn")) == {"quinn.zip", f"quinn_{FIRST}.ipynb"}


# ------------------------------------------------------------------ a folder as the source


def test_a_folder_source_never_follows_a_link(course_copy, tmp_path):
    course = course_copy("collect-folder")
    inbox = course.parent / "inbox"
    honest = inbox / "ada" / ASSIGNMENT
    honest.mkdir(parents=True)
    for stem in NOTEBOOKS:
        (honest / f"{stem}.ipynb").write_bytes(HONEST[stem])
    (honest / "timestamp.txt").write_text("2026-03-01 12:30:05.123456 UTC")
    secret = course.parent / "secret"
    secret.mkdir()
    (secret / f"{FIRST}.ipynb").write_bytes(forged("the instructor's own notebook"))
    bea = inbox / "bea" / ASSIGNMENT
    bea.mkdir(parents=True)
    (bea / f"{FIRST}.ipynb").symlink_to(secret / f"{FIRST}.ipynb")
    (bea / f"{SECOND}.ipynb").write_bytes(HONEST[SECOND])
    (inbox / "cal").symlink_to(secret, target_is_directory=True)
    dov = inbox / "dov" / ASSIGNMENT
    dov.mkdir(parents=True)
    os.mkfifo(dov / f"{FIRST}.ipynb")  # opening it would wait for a writer forever
    (dov / f"{SECOND}.ipynb").write_bytes(HONEST[SECOND])
    for student, stamp in (("eli", '=HYPERLINK("http://x")'), ("fia", "2026-02-30 10:00:00")):
        folder = inbox / student / ASSIGNMENT
        folder.mkdir(parents=True)
        (folder / f"{SECOND}.ipynb").write_bytes(HONEST[SECOND])
        (folder / "timestamp.txt").write_text(stamp)
    before = outside(course)
    result = run("collect", course, "--from", inbox, check=False, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert outside(course) == before
    report = json.loads((course / "reports" / "collect.json").read_text(encoding="utf-8"))
    skipped = {row["path"]: row["reason"] for row in report["skipped"]}
    assert submitted(course, "ada") == {f"{s}.ipynb": HONEST[s] for s in NOTEBOOKS} | {
        "timestamp.txt": b"2026-03-01 12:30:05.123456 UTC"
    }
    assert submitted(course, "bea") == {f"{SECOND}.ipynb": HONEST[SECOND]}
    assert skipped[f"bea/{ASSIGNMENT}/{FIRST}.ipynb"] == "a link"
    assert submitted(course, "cal") is None and skipped["cal"] == "a link"
    assert submitted(course, "dov") == {f"{SECOND}.ipynb": HONEST[SECOND]}
    assert skipped[f"dov/{ASSIGNMENT}/{FIRST}.ipynb"] == "not a regular file"
    for student in ("eli", "fia"):
        assert submitted(course, student) == {f"{SECOND}.ipynb": HONEST[SECOND]}
        assert skipped[f"{student}/{ASSIGNMENT}/timestamp.txt"].startswith(
            "not used: timestamp.txt"
        )
        assert report["students"][student]["problems"]


def test_an_unusable_source_stops_with_a_message(from_download, tmp_path):
    course = from_download[0]
    before = tree_digest(course)
    broken = tmp_path / "download.zip"
    broken.write_bytes(b"PK\x03\x04" + b"\0" * 100)
    result = run("collect", course, "--from", broken, check=False, timeout=120)
    assert result.returncode == 1
    assert result.stderr.startswith("collect: ")
    assert "truncated zip archive" in result.stderr and "cannot be read" in result.stderr
    assert "neither a folder nor" not in result.stderr
    assert "Traceback" not in result.stderr
    assert tree_digest(course) == before
