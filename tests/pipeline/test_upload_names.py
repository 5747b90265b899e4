"""What collect reads from a name `python -m bnlab submit` wrote, as it is or as an LMS
renamed it: whose it is, when, and who uploaded it (the LMS's prefix). Fast: names only.
What each name should say is written here, from how the LMS renames, never computed by the
code under test."""

import time

import pytest

from autograder.pipeline.upload_names import STUDENT_ID, claim_of, renamed_by

T = "2026-03-01-12-30-05"
ZIP = f"batchnorm_s_2.b-X_attempt_{T}_submission.zip"
NOTEBOOK = f"batchnorm_s_2.b-X_attempt_{T}_01_forward_bn.ipynb"


@pytest.mark.parametrize(
    ("name", "student", "stem", "when", "uploader"),
    [
        (ZIP, "s_2.b-X", None, T, None),
        (f"some/folder/{ZIP}", "s_2.b-X", None, T, None),
        (f"doebea_1234_98765_{ZIP}", "s_2.b-X", None, T, "doebea_1234_98765"),
        (f"doebea_LATE_1234_98765_{ZIP}", "s_2.b-X", None, T, "doebea_LATE_1234_98765"),
        (f"doebea_1234_98765_{ZIP[:-4]}-1.zip", "s_2.b-X", None, T, "doebea_1234_98765"),
        (f"{ZIP[:-4]} (2).zip", "s_2.b-X", None, T, None),
        (
            f"Bea Doe_4711_assignsubmission_file_{ZIP}",
            "s_2.b-X",
            None,
            T,
            "Bea Doe_4711_assignsubmission_file",
        ),
        (
            f"Bea Doe_4711_assignsubmission_file_/{ZIP}",
            "s_2.b-X",
            None,
            T,
            "Bea Doe_4711_assignsubmission_file",
        ),
        (f"doebea_1234_98765_{NOTEBOOK}", "s_2.b-X", "01_forward_bn", T, "doebea_1234_98765"),
        # behind Blackboard's own prefix, Blackboard's user and time (its rule, as before)
        (
            f"HW3_bbuser_attempt_2026-03-02-10-00-00_{ZIP}",
            "bbuser",
            None,
            "2026-03-02-10-00-00",
            None,
        ),
        # an id that holds the assignment's name
        (
            f"doebea_1_2_batchnorm_batchnorm_x_attempt_{T}_submission.zip",
            "batchnorm_x",
            None,
            T,
            "doebea_1_2",
        ),
    ],
)
def test_the_names_submit_writes_as_an_lms_renames_them(name, student, stem, when, uploader):
    claim = claim_of(name)
    assert (claim.student, claim.stem, claim.time, claim.uploader) == (
        student,
        stem,
        when,
        uploader,
    )


def test_a_name_built_to_make_the_search_slow_is_read_at_once():
    started = time.monotonic()
    for name in (
        "batchnorm_" * 6000 + ".zip",
        "batchnorm_" * 6000 + f"x_attempt_{T}_submission.zip",
        "a" + "_1" * 10000 + "_assignsubmission_.zip",  # a zip member's name has no limit
        "a" + "_1" * 10000 + "_assignsubmission_file/x.ipynb",
        "a_" + "1" * 20000 + "_1_2_x.zip",
    ):
        claim_of(name)
        renamed_by(name)
    assert time.monotonic() - started < 1


@pytest.mark.parametrize("name", ["ada\n", "ada\r", "ada\n\n", "ada\r\n", "\nada", "a da", "ada\t"])
def test_a_student_id_holds_no_line_break_nor_space(name):
    """A folder or member named "ada" and a line break is no student id (a regular
    expression's $ would take it: it also matches before a final line break)."""
    assert STUDENT_ID.match(name) is None
    assert STUDENT_ID.match("ada") is not None


# Names Canvas or Moodle gave that are no name submit wrote: they hold the student's name
# and the LMS's numbers, never a student id, so they say nobody (and which LMS, for the
# reason collect gives). Anything in a Moodle folder speaks for that folder only.
@pytest.mark.parametrize(
    ("name", "lms"),
    [
        ("Ada Lovelace_1234_assignsubmission_file_/01_forward_bn.ipynb", "Moodle"),
        ("lovelace_1234_assignsubmission_file_/01_forward_bn.ipynb", "Moodle"),
        ("lovelace_1234_assignsubmission_file_/mywork.zip", "Moodle"),
        ("lovelace_1234_assignsubmission_file_/work/02_backward_bn.ipynb", "Moodle"),
        ("eve_9_assignsubmission_file_/bob/batchnorm/01_forward_bn.ipynb", "Moodle"),
        ("eve_9_assignsubmission_file_/bob/01_forward_bn.ipynb", "Moodle"),
        ("download/eve_9_assignsubmission_file_/bob.zip", "Moodle"),
        ("lovelace_1234_assignsubmission_file_01_forward_bn.ipynb", "Moodle"),
        ("Ada Lovelace_1234_assignsubmission_file_mywork.zip", "Moodle"),
        ("lovelaceada_12345_67890_mywork.zip", "Canvas"),
        ("lovelaceada_12345_67890_mywork-1.zip", "Canvas"),
        ("lovelaceada_LATE_12345_67890_01_forward_bn.ipynb", "Canvas"),
        ("lovelaceada_12345_67890_01_forward_bn.ipynb", "Canvas"),
        ("lovelaceada_12345_67890_bob_01_forward_bn.ipynb", "Canvas"),
    ],
)
def test_lms_names_that_hold_no_student_id_say_nobody(name, lms):
    assert claim_of(name) is None
    assert renamed_by(name) == lms


@pytest.mark.parametrize(
    ("name", "student"),
    [
        ("ada_01_forward_bn.ipynb", "ada"),
        ("ada.zip", "ada"),
        ("ada/01_forward_bn.ipynb", "ada"),
        ("ada/batchnorm/01_forward_bn.ipynb", "ada"),
        ("HW3_bbuser_attempt_2026-03-02-10-00-00_01_forward_bn.ipynb", "bbuser"),
        (f"lovelace_1234_assignsubmission_file_/{ZIP}", "s_2.b-X"),
        (f"d/lovelace_1234_assignsubmission_file_/sub/{ZIP}", "s_2.b-X"),
        (f"lovelaceada_12345_67890_{ZIP}", "s_2.b-X"),
    ],
)
def test_names_that_hold_a_student_id_are_no_lms_renaming(name, student):
    assert renamed_by(name) is None
    assert claim_of(name).student == student


@pytest.mark.parametrize(
    ("name", "regexp", "student"),
    [
        (
            "lovelace_1234_assignsubmission_file_/01_forward_bn.ipynb",
            r"(?P<student_id>[a-z]+)_\d+_assignsubmission_file_/(?P<file_id>.+)",
            "lovelace",
        ),
        (
            "lovelaceada_12345_67890_mywork.zip",
            r"(?P<student_id>[a-z]+)_(?:LATE_)?\d+_\d+_(?P<file_id>.+)",
            "lovelaceada",
        ),
    ],
)
def test_a_regexp_may_read_the_id_from_the_name_or_the_path(name, regexp, student):
    assert claim_of(name, regexp).student == student
