"""A session's own state in a real browser (issue 23): what a user has open stays theirs across other users' runs,
keystrokes, reloads and server restarts."""

import re

import pytest
from conftest import SERVER_LOG, streamlit_server
from test_browser import CHROMIUM, CHROMIUM_FLAGS, SCENE_VIEW, _wait_for_app, playwright

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


def _register_run(runs_dir, seed: int) -> str:
    """A 20-step fit on a small sphere, trained here and recorded in the server's registry (as the CLI would)."""
    from ginr_core.data.signals import analytic_signal
    from ginr_core.geometry.domains import make_domain
    from ginr_core.geometry.features import FeatureSpec
    from ginr_core.learning.training import TrainConfig
    from ginr_core.runs.actions import launch
    from ginr_core.runs.fitting import RunRequest
    from ginr_core.runs.spec import RunInputs, RunSpec, Source

    mesh = make_domain("icosphere", level=2)
    spec = RunSpec("fit", Source("builtin", "icosphere", {"level": 2}, label="icosphere (level 2)"),
                   Source("analytic", "sines", label="analytic: sines"), FeatureSpec("spherical_harmonics", 9),
                   train=TrainConfig(steps=20, seed=seed))
    return launch(RunRequest.from_spec(spec, RunInputs(mesh, analytic_signal(mesh, "sines"))), Registry(runs_dir),
                  start=False).run().run_id


def test_results_stays_on_its_run_while_another_registers(served, browser):
    """The run a user opened in Results stays on screen when a newer run is registered and a view option changes."""
    server, runs_dir = served
    opened, _ = _register_run(runs_dir, seed=1), _register_run(runs_dir, seed=2)
    page = _open(browser, f"{server}/results", "Results")
    chooser = page.get_by_role("combobox", name="Run", exact=True)
    chooser.click()
    page.get_by_role("option").filter(has_text=opened).click()
    _wait_for_app(page)
    assert opened in chooser.input_value()
    _register_run(runs_dir, seed=3)  # someone else's run, newer than every other
    page.get_by_text("squared", exact=True).click()
    page.frame_locator(SCENE_VIEW).first.get_by_text("squared error").first.wait_for(timeout=60_000)
    _wait_for_app(page)
    assert opened in chooser.input_value()
    page.context.close()


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


def test_a_reload_during_training_follows_the_live_run_again(served, browser):
    """A reload is a new session: the workspace in its URL leads it back to the run it launched, with the form's
    values that run was launched with; the runs table reads the run's status from the registry."""
    server, runs_dir = served
    page = _open(browser, f"{server}/train", "Train")
    budget = page.get_by_label("Time budget (s)")
    budget.fill("40")  # long enough to reload during the run (on a loaded machine too): it is cancelled below
    budget.press("Tab")
    page.get_by_role("button", name="Launch training").click()
    running = page.get_by_text(re.compile(r"Run \S+: running"))
    running.wait_for(timeout=120_000)
    run_id = re.search(r"Run (\S+): running", running.inner_text())[1]
    page.reload()
    _wait_for_app(page)
    page.get_by_text(f"Run {run_id}: running").wait_for(timeout=60_000)
    assert page.get_by_label("Time budget (s)").input_value() == "40.00"
    page.get_by_role("button", name="Cancel").click()  # the followed job is the live one: cancelling it ends the run
    ended = page.get_by_text(re.compile(rf"Run {run_id}: (cancelled|done)"))  # done: the budget ran out first
    ended.wait_for(timeout=120_000)
    status = Registry(runs_dir).get(run_id).status
    assert f"Run {run_id}: {status}" in ended.inner_text()
    rows = page.locator("[data-testid='stDataFrame'] tr")  # the table's cells, as the grid gives them to screen readers
    rows.filter(has_text=run_id).filter(has_text=status).wait_for(state="attached", timeout=30_000)
    page.context.close()


def test_the_runs_table_follows_someone_elses_run_to_its_end(tmp_path, browser):
    """A run that another process trains (the CLI) is listed running, then done with its R², without a click.
    On a server of its own: on the shared one, after the other browser files, its row stayed "running" in two full
    runs (2026-12-07; not yet understood, see the session note) while it passed alone and after test_browser_ray."""
    from ginr_core.geometry.features import FeatureSpec
    from ginr_core.runs.spec import RunSpec

    with streamlit_server(tmp_path) as server:
        registry = Registry(tmp_path / "runs")
        run_id = registry.create_run(RunSpec("fit", features=FeatureSpec("spherical_harmonics", 9)))  # this process's
        page = _open(browser, f"{server}/train", "Train")
        rows = page.locator("[data-testid='stDataFrame'] tr")
        rows.filter(has_text=run_id).filter(has_text="running").wait_for(state="attached", timeout=30_000)
        registry.finish(run_id, "done", metrics={"r2": 0.9641})
        rows.filter(has_text=run_id).filter(has_text="done").filter(has_text="0.9641").wait_for(state="attached",
                                                                                              timeout=30_000)
        page.context.close()


def test_a_training_leaves_no_streamlit_call_outside_a_session_in_the_server_log(served, browser):
    """The server's worker processes (spawned: each runs app.py again) and its job threads call no Streamlit API:
    a training leaves no "missing ScriptRunContext!" line in the log."""
    server, runs_dir = served
    page = _open(browser, f"{server}/train", "Train")
    page.get_by_label("Time budget (s)").fill("2")
    page.get_by_role("button", name="Launch training").click()
    page.get_by_text("Open Results").wait_for(timeout=120_000)
    page.context.close()
    log = (runs_dir.parent / SERVER_LOG).read_text()
    assert "missing ScriptRunContext" not in log, log[-2000:]


def test_a_page_url_restores_its_workspace_on_the_first_load_after_a_server_start(tmp_path, browser):
    """A workspace saved by an earlier server (its files are all a server keeps) comes back on the first load of
    its page URL: that first session runs the page alone, which hands over to app.py and back, the URL's `?ws=`
    included."""
    from ginr_core.geometry.domains import make_domain
    from ginr_core.io.workspaces import SavedWorkspace, new_workspace_id, save_workspace

    store_id = new_workspace_id()  # the test's GINR_CACHE_DIR is the server's (both tmp_path/cache)
    save_workspace(store_id, SavedWorkspace(make_domain("icosphere", level=2), "a saved small sphere"))
    with streamlit_server(tmp_path) as server:
        page = _open(browser, f"{server}/train?ws={store_id}", "Train")
        assert page.get_by_text("a saved small sphere (162 nodes)").count() == 1
        assert page.url.endswith(f"/train?ws={store_id}")
        page.context.close()
