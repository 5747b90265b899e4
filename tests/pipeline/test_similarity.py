"""The similarity step: pairs of students whose solution cells are unusually alike.

Quick tests build a small class by hand, without nbgrader: a release whose solution
cells are the stubs (each graded function's signature and docstring, then
``raise NotImplementedError()``), and students who hand in notebooks with those cells
filled. Every honest student writes the reference solution (the obvious code the whole
class shares) with one classic mistake of their own; an author writes a few functions
in a style of their own, and a copier hands in the author's code renamed, re-commented
and re-spaced by `disguise` (written here, not the samples' copy). What is held:

- the copy is reported, and no pair of honest students is; with the discount of
  fingerprints common across the class switched off, honest students would be;
- renaming, re-commenting and re-spacing leave the normalized tokens as they were;
- two students who hand in only the release's stubs share nothing, however alike
  their notebooks are;
- the page is inert and offline: a student's id and code carrying markup and script
  read as text, and the CSV holds no formula;
- a notebook that cannot be read is named, and the others are compared; no release
  is a plain error.

The slow tests run the step on the sample submissions: on the session's graded course
(which holds the planted copies copy-a and copy-b) and on every sample; the planted
copies are the only pair.
"""

import csv
import inspect
import io
import json
import re
import shutil
import subprocess
import tokenize

import nbformat
import pytest
from autograder_support import ROOT, SOURCE, command, pipeline_env, read_csv, run
from bs4 import BeautifulSoup
from inert_support import active_markup, markdown_payloads

from autograder.content import copies, reference
from autograder.content.mistakes import all_mistakes
from autograder.pipeline import fingerprints, similarity
from autograder.workspace import Course
from bnlab.course import ASSIGNMENT, NOTEBOOKS

HONEST = [f"honest-{number:02d}" for number in range(12)]
AUTHOR, COPIER = "author", "copier"


# ------------------------------------------------------------------ a small class by hand


def stub(function):
    """The release's solution cell of `function`: its signature and docstring, no body."""
    source = inspect.getsource(getattr(reference, function))
    end = source.index('"""', source.index('"""') + 3) + 3
    return (
        f"# GRADED FUNCTION: {function}\n{source[:end]}\n"
        "    # YOUR CODE HERE\n    raise NotImplementedError()"
    )


def solved(function, body=None):
    """The solution cell of `function`: the reference, or its stub with `body` instead."""
    if body is None:
        return f"# GRADED FUNCTION: {function}\n{inspect.getsource(getattr(reference, function))}"
    return stub(function).replace(
        "    # YOUR CODE HERE\n    raise NotImplementedError()", body.strip("\n")
    )


def write_notebooks(folder, sources):
    """The seven notebooks in `folder`: a given code cell, then the solution cell of each
    graded function, holding sources[function] or its stub."""
    folder.mkdir(parents=True, exist_ok=True)
    for stem, functions in NOTEBOOKS.items():
        cells = [nbformat.v4.new_code_cell("import numpy as np\nfrom bnlab import checks")]
        for function in functions:
            cell = nbformat.v4.new_code_cell(sources.get(function, stub(function)))
            cell.metadata["nbgrader"] = {"grade_id": function, "solution": True, "locked": False}
            cells.append(cell)
        nbformat.write(nbformat.v4.new_notebook(cells=cells), folder / f"{stem}.ipynb")


def hand_in(course, student, sources):
    write_notebooks(course.submitted / student / ASSIGNMENT, sources)


def reference_class():
    """{student: {function: source}}: every function solved with the reference, and one
    classic mistake of the student's own (each in another function)."""
    mistakes = {}
    for mistake in all_mistakes():
        mistakes.setdefault(mistake.function, mistake)
    chosen = list(mistakes.values())
    everything = {f: solved(f) for functions in NOTEBOOKS.values() for f in functions}
    found = {}
    for student, mistake in zip(HONEST, chosen):
        found[student] = dict(everything)
        found[student][mistake.function] = (
            f"# GRADED FUNCTION: {mistake.function}\n{mistake.source()}"
        )
    return found


def disguise(source):
    """`source` as a copier hands it in: every name the code assigns renamed, every comment
    replaced, the spacing around operators and between lines changed."""
    import ast

    tree = ast.parse(source)
    assigned = sorted(
        {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    )
    renamed = {name: f"my_{name.lower()}_{index}" for index, name in enumerate(assigned)}
    out = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.NAME and token.string in renamed:
            token = token._replace(string=renamed[token.string])
        elif token.type == tokenize.COMMENT:
            token = token._replace(string="# (my own comment)")
        out.append((token.type, token.string))
    text = tokenize.untokenize(out)  # its own spacing: one space after most tokens
    lines = []
    for line in text.splitlines():
        lines.append(re.sub(r" ([=+*/-]) ", r"\1", line))
        if line.strip().startswith(("for ", "return")):
            lines.append("")  # a blank line
        lines.append(f"{' ' * (len(line) - len(line.lstrip()))}# note to self")
    return "\n".join(lines) + "\n"


def own_style():
    """The author's submission: the reference, with copy-a's functions in copy-a's style."""
    sources = {f: solved(f) for functions in NOTEBOOKS.values() for f in functions}
    for function, body in copies.BODIES["copy-a"].items():
        sources[function] = solved(function, body)
    return sources


@pytest.fixture
def course(tmp_path):
    """A course with the hand-made release, and no student yet."""
    course = Course(tmp_path / "course")
    write_notebooks(course.release, {})
    return course


def reported(course):
    """The pairs the step reports, as read from reports/similarity.csv."""
    similarity.similarity(course, log=lambda line: None)
    rows = read_csv(course.reports / "similarity.csv")
    return {(row["student_a"], row["student_b"]) for row in rows}


# ------------------------------------------------------------------ what is found


def test_a_disguised_copy_is_reported_and_no_honest_pair(course):
    for student, sources in reference_class().items():
        hand_in(course, student, sources)
    author = own_style()
    hand_in(course, AUTHOR, author)
    hand_in(course, COPIER, {f: disguise(s) for f, s in author.items()})
    assert reported(course) == {(AUTHOR, COPIER)}
    page = (course.reports / "similarity.html").read_text(encoding="utf-8")
    marked = [mark.get_text() for mark in BeautifulSoup(page, "html.parser").find_all("mark")]
    assert len(marked) >= 2 * len(copies.BODIES["copy-a"]), page
    assert "grad_Z = scale * (batch * dZ_tilde - grad_beta - Z_norm * grad_gamma)" in marked
    assert not [text for text in marked if '"""' in text or "\n" in text]  # no docstring


def test_without_the_discount_of_common_code_honest_students_would_be_reported(course, monkeypatch):
    """The test above could fail: counted as evidence, the reference code that every
    honest student wrote makes every pair of them similar."""
    for student, sources in reference_class().items():
        hand_in(course, student, sources)
    assert reported(course) == set()
    monkeypatch.setattr(fingerprints, "common_limit", lambda students: students)
    monkeypatch.setattr(similarity, "SHOWN", 1)  # (no need to mark them all)
    assert len(reported(course)) == len(HONEST) * (len(HONEST) - 1) // 2


def test_renaming_recommenting_and_respacing_leave_the_tokens_as_they_were():
    for function in ("batchnorm_forward", "model_backward", "update_parameters_with_adam"):
        source = solved(function)
        copied = disguise(source)
        assert copied != source and "my_" in copied and "# note to self" in copied
        original = [text for text, _, _ in fingerprints.tokens(source)]
        assert [text for text, _, _ in fingerprints.tokens(copied)] == original, function


def test_the_tokens_keep_what_tells_code_apart():
    texts = [t for t, _, _ in fingerprints.tokens("x = np.mean(Z, axis=1)  # c\ny = 'a' + 2")]
    assert texts == [
        *("N", "=", "N", ".", "mean", "(", "N", ",", "axis", "=", "0", ")"),
        *("N", "=", "S", "+", "0"),
    ]
    assert [t for t, _, _ in fingerprints.tokens("y = np.var(Z)")][4] == "var"


def test_docstrings_and_bare_strings_are_no_tokens():
    """A docstring is given (the release's) or prose: rewording it hides nothing."""
    texts = [t for t, _, _ in fingerprints.tokens('def f(a):\n    """Doc."""\n    "x" "y"\n')]
    assert texts == ["def", "N", "(", "N", ")", ":"]
    assert [t for t, _, _ in fingerprints.tokens("y = 'x'\nf('x')")] == [
        *("N", "=", "S", "N", "(", "S", ")")
    ]


def test_code_python_cannot_tokenize_is_read_on_by_hand():
    """tokenize stops at a bad dedent; the rest of the cell is read all the same."""
    found = fingerprints.tokens("def f():\n        x = 1\n    y = 2 + np.mean(z)\n")
    assert [t for t, _, _ in found] == [
        *("def", "N", "(", ")", ":", "N", "=", "0"),
        *("N", "=", "0", "+", "N", ".", "mean", "(", "N", ")"),
    ]


def test_the_release_stubs_alone_make_no_pair(course, monkeypatch):
    """Not even one fingerprint in common: the pair is not listed at the lowest bar."""
    monkeypatch.setattr(fingerprints, "MIN_SHARED", 1)
    everything = {f: solved(f) for functions in NOTEBOOKS.values() for f in functions}
    for student in HONEST[:6]:
        hand_in(course, student, everything)
    hand_in(course, "lazy-1", {})
    hand_in(course, "lazy-2", {})
    assert reported(course) == set()
    # the test could fail: with the release's code counted, the two stubs are alike
    monkeypatch.setattr(fingerprints, "given_kgrams", lambda sources, hasher: set())
    assert reported(course) == {("lazy-1", "lazy-2")}


def test_an_unreadable_notebook_is_named_and_the_rest_compared(course):
    author = own_style()
    hand_in(course, AUTHOR, author)
    hand_in(course, COPIER, {f: disguise(s) for f, s in author.items()})
    (course.submission(COPIER) / "03_removing_b.ipynb").write_text("{not json")
    assert reported(course) == {(AUTHOR, COPIER)}
    page = (course.reports / "similarity.html").read_text(encoding="utf-8")
    assert "03_removing_b.ipynb was not compared: not a valid notebook (invalid JSON)" in page


def test_code_longer_than_the_limit_is_cut_and_said(course, monkeypatch):
    monkeypatch.setattr(fingerprints, "MAX_TOKENS", 500)
    hand_in(course, AUTHOR, own_style())
    reported(course)
    page = (course.reports / "similarity.html").read_text(encoding="utf-8")
    assert f"{AUTHOR}: only the first 500 tokens of the code were compared" in page


def test_without_a_release_the_step_says_so(tmp_path):
    result = run("similarity", tmp_path / "course", check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("similarity: no release notebook 01_forward_bn.ipynb")
    assert "Traceback" not in result.stderr


def test_similarity_help_says_what_it_writes():
    result = subprocess.run(
        [*command("similarity", "c")[:4], "--help"],
        cwd=ROOT,
        env=pipeline_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    words = " ".join(result.stdout.split())
    assert words.startswith("usage: python -m autograder similarity [-h] [--course DIR]")
    assert "reports/similarity.html, code side by side, and similarity.csv" in words
    listed = set(re.findall(r"^\s+(--[a-z-]+)", result.stdout, flags=re.MULTILINE))
    assert listed == {"--course", "--db-url"}


# ------------------------------------------------------------------ hostile text

PAYLOADS = markdown_payloads(9)  # the port is never listened on: nothing may call it


def attack():
    """Code that carries every payload, in a comment, a string and a docstring."""
    lines = ["    # </pre></div><script>document.title='XSS:comment'</script>"]
    lines += [f"    note_{i} = {json.dumps(p)}" for i, p in enumerate(PAYLOADS.values())]
    lines += ['    """</pre><img src=x onerror="alert(1)">"""', "    return Z, None"]
    return "\n".join(lines)


HOSTILE_IDS = ["<script>alert(1)<", "=HYPERLINK(x)"]


def test_the_page_shows_hostile_ids_and_code_as_text_and_runs_nothing(course):
    for student, sources in reference_class().items():
        hand_in(course, student, sources)
    hostile = own_style()
    hostile["batchnorm_forward"] = solved("batchnorm_forward", attack())
    for student in HOSTILE_IDS:  # a copy, word for word
        hand_in(course, student, hostile)
    assert reported(course) == {("<script>alert(1)<", "'=HYPERLINK(x)")}  # CSV: no formula
    page = (course.reports / "similarity.html").read_text(encoding="utf-8")
    soup = BeautifulSoup(page, "html.parser")
    assert active_markup(page) == []
    assert not soup.find_all(["script", "img", "iframe", "link", "object", "embed", "svg"])
    for element in soup.find_all(True):
        assert not [name for name in element.attrs if name.startswith("on")], element
        assert "src" not in element.attrs
        assert element.get("href", "#").startswith("#"), element
    (csp,) = soup.find_all("meta", attrs={"http-equiv": "Content-Security-Policy"})
    assert csp["content"].startswith("default-src 'none'")
    text = soup.get_text()
    for payload in [*PAYLOADS.values(), *HOSTILE_IDS]:
        shown = json.dumps(payload) if payload in PAYLOADS.values() else payload
        assert shown in text, payload
    assert "</pre></div><script>document.title='XSS:comment'</script>" in text


def test_the_csv_holds_no_formula(course):
    for student in ("=HYPERLINK(x)", "@SUM(1)"):
        hand_in(course, student, own_style())
    assert reported(course) == {("'=HYPERLINK(x)", "'@SUM(1)")}
    with open(course.reports / "similarity.csv", newline="", encoding="utf-8") as handle:
        cells = [cell for row in csv.reader(handle) for cell in row]
    assert not [cell for cell in cells if cell.startswith(("=", "+", "-", "@"))], cells


def test_control_characters_of_a_students_code_are_written_out(course):
    hostile = own_style()
    hostile["batchnorm_forward"] = solved("batchnorm_forward", attack() + "\n    # \x1b]0;T\x07")
    for student in ("a", "b"):
        hand_in(course, student, hostile)
    reported(course)
    page = (course.reports / "similarity.html").read_text(encoding="utf-8")
    assert "\x1b" not in page and "\\x1b]0;T\\x07" in page


# ------------------------------------------------------------------ the samples


def course_of_samples(tmp_path, graded_course, every_sample=False):
    """A course holding the graded course's release and submissions (every sample's with
    `every_sample`, generated from that release), ready for the similarity step."""
    from autograder.content.samples import generate

    root = tmp_path / "course"
    shutil.copytree(graded_course.course / "release", root / "release")
    if every_sample:
        generate(root / "submitted", SOURCE, root / "release" / ASSIGNMENT)
    else:
        shutil.copytree(graded_course.course / "submitted", root / "submitted")
    return root


@pytest.mark.slow
@pytest.mark.parametrize("every_sample", [False, True], ids=["graded", "every-sample"])
def test_the_planted_copies_are_the_only_pair_of_the_samples(graded_course, tmp_path, every_sample):
    assert set(copies.STUDENTS) <= set(graded_course.students)
    root = course_of_samples(tmp_path, graded_course, every_sample)
    result = run("similarity", root)
    rows = read_csv(root / "reports" / "similarity.csv")
    assert [(row["student_a"], row["student_b"]) for row in rows] == [copies.STUDENTS]
    (row,) = rows
    assert set(row["functions"].split()) == set(copies.BODIES["copy-a"])
    assert float(row["score"]) > 0.9
    students = len(list((root / "submitted").iterdir()))
    assert f"1 pair(s) of students share unusually much code, of {students} student" in (
        result.stdout
    )
