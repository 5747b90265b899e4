"""The similarity page in a real (headless) Chromium, opened from disk, offline.

The course holds the session's graded samples (with the planted copies copy-a and
copy-b) and an attacker pair, mallory and mallory-2, who hand in the solution with one
cell of their own full of markup and script in strings and comments (the payloads of
tests/inert_support.py). The page must show the planted copies first, their code side by
side with the shared parts marked, and the attacker's code as text: no dialog, no
request but the page itself, no script element, the title unchanged, and a script put
into the page afterwards refused by its Content-Security-Policy. The screenshot
artifacts/browser/similarity.png shows the top of the page and the first pair.
"""

import json
import shutil

import pytest
from autograder_support import run
from browser_support import browser_page, chromium_executable, screenshot
from inert_support import MARK, markdown_payloads

from autograder.content import copies
from bnlab.course import ASSIGNMENT

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.e2e]

ATTACKERS = ("mallory", "mallory-2")
CELL, NOTEBOOK = "update_running_averages", "06_test_time"
CALLS = "mean sum max min abs sqrt exp square tanh ravel log cos sin prod std var".split()
TITLE = "Similar submissions"


def attack_cell():
    """The attackers' cell: every payload in a string of a line of its own shape, and in a
    comment that closes the page's <pre> first."""
    lines = [
        f"# GRADED FUNCTION: {CELL}",
        "def update_running_averages(running_mean, running_var, mu, var, momentum=0.1):",
        f"    # </pre></div><script>document.title='{MARK}comment'</script>",
    ]
    for number, payload in enumerate(markdown_payloads(9).values()):
        call = CALLS[number % len(CALLS)]
        lines.append(f"    check_{number} = np.{call}(len({json.dumps(payload)}), {number})")
    lines += [
        "    running_mean = (1 - momentum) * running_mean + momentum * mu",
        "    running_var = (1 - momentum) * running_var + momentum * var",
        "    return running_mean, running_var",
    ]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def chromium():
    """Chromium's path; asked for before the course so that a skip costs no grading."""
    return chromium_executable()


@pytest.fixture(scope="module")
def report(chromium, graded_course, tmp_path_factory):
    """reports/similarity.html of the graded samples and the attacker pair."""
    root = tmp_path_factory.mktemp("similarity-browser") / "course"
    shutil.copytree(graded_course.course / "release", root / "release")
    shutil.copytree(graded_course.course / "submitted", root / "submitted")
    for attacker in ATTACKERS:
        folder = root / "submitted" / attacker / ASSIGNMENT
        shutil.copytree(root / "submitted" / "solution" / ASSIGNMENT, folder)
        path = folder / f"{NOTEBOOK}.ipynb"
        notebook = json.loads(path.read_text(encoding="utf-8"))
        for cell in notebook["cells"]:
            if cell["metadata"].get("nbgrader", {}).get("grade_id") == CELL:
                cell["source"] = attack_cell()
        path.write_text(json.dumps(notebook), encoding="utf-8")
    run("similarity", root)
    return root / "reports" / "similarity.html"


def test_the_page_shows_the_pairs_side_by_side_offline_and_runs_nothing(chromium, report):
    requests, dialogs = [], []
    with browser_page(chromium, height=1500) as page:
        page.on("request", lambda request: requests.append(request.url))
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.context.set_offline(True)
        page.goto(report.as_uri())
        page.wait_for_load_state("load")
        page.wait_for_timeout(500)  # time for anything that would run late

        assert requests == [report.as_uri()] and dialogs == []
        assert page.title() == TITLE
        assert page.evaluate("document.scripts.length") == 0
        first = page.locator("table tr").nth(1).inner_text().split()
        assert first[:3] == ["1", *copies.STUDENTS], first
        assert "mallory" in page.locator("table").inner_text()
        assert page.locator("#pair-1 mark").count() >= len(copies.BODIES["copy-a"])
        left, right = page.locator("#pair-1 .side").first.locator(":scope > div").all()
        box_left, box_right = left.bounding_box(), right.bounding_box()
        assert box_left["x"] + box_left["width"] <= box_right["x"]  # side by side
        assert abs(box_left["y"] - box_right["y"]) < 1
        attacked = page.locator("pre", has_text=f"document.title='{MARK}comment'")
        assert attacked.count() == 2  # the attackers' cell, as text, in both columns
        screenshot(page, "similarity")

        page.evaluate(
            "() => { const s = document.createElement('script');"
            f" s.textContent = \"document.title = '{MARK}late'\"; document.body.append(s); }}"
        )
        page.wait_for_timeout(200)
        assert page.title() == TITLE  # the Content-Security-Policy refused it
        page.evaluate(f"() => {{ document.title = '{MARK}test'; }}")
        assert page.title() == f"{MARK}test"  # what a script that ran would have done
