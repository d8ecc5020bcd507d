"""Ray from the dashboard (issues 23 and 24, item 1): a visitor picks Ray for their session and runs a two-trial sweep
from the Sweeps page, then opens its best run in Results; the server still answers long after (its Ray lives in a
driver process of its own, which outlives the threads that started and used it), the driver's Ray is still up, a
new Train run works on it, and another visitor's session still runs its jobs on the operator's default backend."""

import re
import time
import urllib.request

from test_browser import CHROMIUM, CHROMIUM_FLAGS, _shot, _wait_for_app, playwright

AFTER_SWEEP_S = 8  # the served server sets RAY_gcs_rpc_server_reconnect_timeout_s=3: a lost GCS shows within this


def _fill(page, label: str, value) -> None:
    box = page.get_by_label(label, exact=True).and_(page.locator("input"))
    box.fill(str(value))
    box.press("Tab")


def _sidebar_backend(page) -> str:
    return page.locator("[data-testid='stSidebar']").get_by_text("Jobs run on:").inner_text()


def test_a_sweep_on_ray_leaves_the_server_and_its_ray_running(served):
    from ginr_core.runs.registry import Registry

    server, runs_dir = served
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page, other = browser.new_page(viewport={"width": 1400, "height": 1400}), browser.new_page()
        page.goto(f"{server}/sweeps")
        _wait_for_app(page)
        page.locator("[data-testid='stSidebar']").get_by_text("Ray", exact=True).click()
        page.get_by_text("Jobs run on: Ray (local)").wait_for(timeout=30_000)

        other.goto(server)  # another visitor: the choice above is not theirs
        _wait_for_app(other)
        assert "worker processes" in _sidebar_backend(other)

        _fill(page, "k (embedding size)", 8)
        _fill(page, "Width", 32)
        _fill(page, "Depth", 3)
        _fill(page, "First-layer omega_0", "30, 60")
        _fill(page, "Steps per trial", 20)
        page.get_by_role("button", name="Launch the sweep").click()
        best = page.get_by_text(re.compile(r"Best: .* \(run \S+\)")).first
        best.wait_for(timeout=300_000)
        best_run = re.search(r"\(run (\S+)\)", best.inner_text()).group(1)
        page.get_by_text("2 of 2 trials trained to the end").wait_for(timeout=10_000)
        _shot(page, "sweeps-ray")
        page.get_by_role("button", name="Open the best run in Results").click()
        page.get_by_role("heading", name="Results", exact=True).wait_for(timeout=60_000)
        _shot(page, "results-best-trial")
        page.wait_for_function("id => [...document.querySelectorAll('[data-testid=stSelectbox]')].some(box => "
                               "box.textContent.includes(id) || [...box.querySelectorAll('input')].some(i => "
                               "i.value.includes(id)))", arg=best_run, timeout=60_000)
        assert "Ray (local)" in _sidebar_backend(page)  # the session's choice held across the page switch

        time.sleep(AFTER_SWEEP_S)
        assert urllib.request.urlopen(f"{server}/_stcore/health", timeout=5).read() == b"ok"
        page.locator("[data-testid='stSidebarNav']").get_by_text("Train", exact=True).click()
        page.get_by_role("heading", name="Train", exact=True).wait_for(timeout=60_000)
        assert re.search(r"Ray \(local\) · \d+ CPUs", _sidebar_backend(page))  # the same Ray, still up
        _fill(page, "Time budget (s)", 2)
        page.get_by_role("button", name="Launch training").click()
        summary = page.get_by_text(re.compile(r"Run \S+: done")).first
        summary.wait_for(timeout=180_000)
        run_id = re.search(r"Run (\S+): done", summary.inner_text()).group(1)
        browser.close()
    assert Registry(runs_dir).get(run_id).status == "done"
