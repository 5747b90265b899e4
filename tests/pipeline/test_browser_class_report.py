"""The class report of the shared graded course, opened in a real (headless) Chromium, offline.

The page export wrote (reports/class_report.html) is opened from disk with the browser
offline and every request but a local file's refused and noted: the page asks for
nothing, runs nothing (no dialog, no script element), and its three plots are images
the browser decoded (each with a natural size). A full-page screenshot goes to
artifacts/browser/class-report.png (browser_support.artifacts_dir).
"""

import pytest
from browser_support import artifacts_dir, browser_page, chromium_executable

from bnlab.course import GRADED_FUNCTIONS

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.e2e]


def test_the_class_report_opens_offline_with_its_plots(graded_course):
    chromium = chromium_executable()
    path = graded_course.course / "reports" / "class_report.html"
    requests, dialogs = [], []
    with browser_page(chromium) as page:
        page.context.route("**/*", lambda route: _local_only(route, requests))
        page.on("request", lambda request: requests.append(request.url))
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.context.set_offline(True)
        page.goto(path.as_uri())
        page.wait_for_load_state("load")
        assert page.title() == "Class report: batchnorm"
        sizes = page.eval_on_selector_all(
            "img", "images => images.map(i => [i.complete, i.naturalWidth, i.naturalHeight])"
        )
        assert len(sizes) == 3 and all(done and w > 300 and h > 100 for done, w, h in sizes), sizes
        assert page.locator("script").count() == 0
        rows = page.locator("table#functions tbody tr")
        assert rows.count() == len(GRADED_FUNCTIONS)
        assert page.locator("table#mistakes tbody tr").count() >= 1
        shot = artifacts_dir() / "class-report.png"
        page.screenshot(path=str(shot), full_page=True)
    assert [url for url in requests if not url.startswith("file://")] == []
    assert dialogs == []
    assert shot.stat().st_size > 10_000


def _local_only(route, refused):
    if route.request.url.startswith("file://"):
        route.continue_()
    else:
        refused.append(route.request.url)
        route.abort()
