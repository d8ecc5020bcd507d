"""A session's own state in a real browser (issue 23): what a user has open stays theirs across other users' runs,
keystrokes, reloads and server restarts."""

import pytest
from test_browser import CHROMIUM, CHROMIUM_FLAGS, _wait_for_app, playwright

from ginr_core.runs.registry import Registry


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


def _open(browser, url: str, heading: str):
    """A fresh session (its own browser context) on `url`, once the page's heading is drawn."""
    page = browser.new_context(viewport={"width": 1400, "height": 1600}).new_page()
    page.goto(url)
    _wait_for_app(page)
    page.get_by_role("heading", name=heading, exact=True).wait_for(timeout=60_000)
    _wait_for_app(page)
    return page


def _run_ids(runs_dir) -> set[str]:
    return {run.id for run in Registry(runs_dir).list_runs()}


def test_enter_in_the_budget_field_launches_nothing(served, browser):
    """Enter in a form's field sends nothing: the one run is the button's, with the budget typed before Enter."""
    server, runs_dir = served
    before = _run_ids(runs_dir)
    page = _open(browser, f"{server}/train", "Train")
    budget = page.get_by_label("Time budget (s)")
    budget.fill("2")
    budget.press("Enter")
    _wait_for_app(page)
    page.get_by_role("button", name="Launch training").click()
    page.get_by_text("Open Results").wait_for(timeout=120_000)  # the run the button launched has finished
    launched = _run_ids(runs_dir) - before
    assert len(launched) == 1, launched
    assert Registry(runs_dir).get(launched.pop()).spec.train.time_budget_s == 2
    page.context.close()
