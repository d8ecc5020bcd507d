"""Four users training at once on one server (issue 12, item 5): each browser context launches a short run on the
Train page; all four finish, and each page shows its own run. The jobs run in the server's worker processes (as
many at once as GINR_WORKERS, the rest queued), so a page navigation during the load stays quick: its time is
printed, not asserted (this machine's speed varies)."""

import re
import time

from test_browser import CHROMIUM, CHROMIUM_FLAGS, _shot, _wait_for_app, playwright

USERS = 4
BUDGET_S = 5.0


def _fill(page, label: str, value: float) -> None:
    """Type into a form's number box (the form's button sends it)."""
    box = page.get_by_label(label)
    box.fill(str(value))
    box.press("Tab")


def _launch(context, server: str, seed: int):
    """A new tab on the Train page that launches a run with its own seed (to tell the runs apart)."""
    page = context.new_page()
    page.set_viewport_size({"width": 1400, "height": 1600})
    page.goto(f"{server}/train")
    _wait_for_app(page)
    page.get_by_role("heading", name="Train", exact=True).wait_for(timeout=60_000)
    _fill(page, "Time budget (s)", BUDGET_S)
    _fill(page, "Seed", seed)
    page.get_by_role("button", name="Launch training").click()
    return page


def test_four_users_train_at_once_and_each_sees_its_own_run(served):
    from ginr_core.runs.registry import Registry

    server, runs_dir = served
    before = {run.id for run in Registry(runs_dir).list_runs(limit=1000)}  # the shared server's earlier runs
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        contexts = [browser.new_context() for _ in range(USERS)]
        pages = [_launch(context, server, seed) for seed, context in enumerate(contexts)]
        pages[-1].get_by_text(re.compile(r"Queued: \d+ ahead|Run \S+: running")).first.wait_for(timeout=60_000)
        queued = [page.get_by_text(re.compile(r"Queued: \d+ ahead")).count() > 0 for page in pages]

        start = time.perf_counter()  # a fifth user opens the app while the four train
        visitor = browser.new_page()
        visitor.goto(server)
        visitor.get_by_role("heading", name="GINR Studio").wait_for(timeout=60_000)
        home_s = time.perf_counter() - start
        start = time.perf_counter()
        visitor.locator("[data-testid='stSidebarNav']").get_by_text("Data", exact=True).click()
        visitor.get_by_role("heading", name="Data", exact=True).wait_for(timeout=60_000)
        data_s = time.perf_counter() - start
        print(f"\nduring {USERS} trainings: Home loaded in {home_s:.1f} s, then Data in {data_s:.1f} s; "
              f"pages showing 'Queued: N ahead': {sum(queued)}")

        shown = []
        for page in pages:
            summary = page.get_by_text(re.compile(r"Run \S+: done")).first
            summary.wait_for(timeout=180_000)
            shown.append(re.search(r"Run (\S+): done", summary.inner_text()).group(1))
        _shot(pages[0], "train-concurrent")
        assert all("ws=" in page.url for page in pages)  # each session's workspace, kept for a reload
        browser.close()

    registry = Registry(runs_dir)
    launched = {run.id for run in registry.list_runs(limit=1000)} - before
    assert len(launched) == USERS and set(shown) == launched  # one run per user, each page showing its own
    assert [registry.get(run_id).spec.train.seed for run_id in shown] == list(range(USERS))  # the one it launched
    assert all(registry.get(run_id).status == "done" for run_id in shown)
