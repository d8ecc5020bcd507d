"""The linked 3D views in a real browser: rotating one Results panel moves the others, a click pins a vertex in
every panel (and the page hears of it), and the README's screenshots (assets/) are taken here.

`GINR_UPDATE_SCREENSHOTS=1 python -m pytest tests/test_browser_scenes.py` rewrites assets/screenshot_*.png.
The server starts with one short run already in its registry, so Results has something to show at once.
"""

import os
import subprocess
import sys

import pytest
from test_browser import REPO, _scene_frame, _wait_for_app, chromium_page, wait_for_colour

ASSETS = REPO / "assets"
UPDATE_SCREENSHOTS = os.environ.get("GINR_UPDATE_SCREENSHOTS") == "1"


def _train_a_run(env: dict) -> None:
    """One 3-second fit on the default workspace's icosphere and signal, in the server's registry."""
    script = (
        "from ginr_core.data.signals import analytic_signal\n"
        "from ginr_core.geometry.domains import make_domain\n"
        "from ginr_core.geometry.features import FeatureSpec\n"
        "from ginr_core.learning.training import TrainConfig\n"
        "from ginr_core.runs.actions import launch\n"
        "from ginr_core.runs.registry import Registry\n"
        "from ginr_core.runs.fitting import RunRequest\n"
        "from ginr_core.runs.spec import RunInputs, RunSpec, Source\n"
        "mesh = make_domain('icosphere', level=4)\n"
        "spec = RunSpec('fit', Source('builtin', 'icosphere', {'level': 4}, label='icosphere (level 4)'),\n"
        "               Source('analytic', 'sines', label='analytic: sines'), FeatureSpec('spherical_harmonics', 36),\n"
        "               train=TrainConfig(time_budget_s=3))\n"
        "launch(RunRequest.from_spec(spec, RunInputs(mesh, analytic_signal(mesh, 'sines'))), Registry()).join()\n"
    )
    subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, check=True, timeout=120)


@pytest.fixture(scope="module")
def page(server):
    with chromium_page() as page:
        yield page


@pytest.fixture(scope="module")
def server(served):
    """The browser tests' shared server (conftest), its registry holding one more run."""
    url, runs = served
    _train_a_run({**os.environ, "GINR_RUNS_DIR": str(runs), "GINR_CACHE_DIR": str(runs.parent / "cache")})
    return url


def _open(page, server: str, path: str, heading: str) -> None:
    page.set_viewport_size({"width": 1400, "height": 1300})  # tall enough for a screenshot's whole section
    page.goto(f"{server}/{path}")
    _wait_for_app(page)
    page.get_by_role("heading", name=heading, exact=True).wait_for(timeout=60_000)
    _wait_for_app(page)


CAMERAS = """() => { const gd = document.querySelector('.js-plotly-plot');
    return Object.keys(gd._fullLayout).filter(k => /^scene[0-9]*$/.test(k))
        .map(k => gd._fullLayout[k]._scene.getCamera().eye).map(e => [e.x, e.y, e.z]); }"""  # the live cameras


def _save(page, top, bottom, name: str) -> None:
    """Rewrite assets/<name>.png when asked (the README shows them): the page from `top` to `bottom` (locators)."""
    if not UPDATE_SCREENSHOTS:
        return
    page.mouse.move(0, 0)
    bottom.scroll_into_view_if_needed()
    main, first, last = (x.bounding_box() for x in (page.locator("[data-testid='stMain']"), top, bottom))
    y = max(first["y"] - 16, 0)
    page.screenshot(path=str(ASSETS / f"{name}.png"),
                    clip=dict(x=main["x"], y=y, width=main["width"], height=last["y"] + last["height"] + 16 - y))


def test_home_screenshot(server, page):
    _open(page, server, "", "GINR Studio")
    element, _ = _scene_frame(page)
    assert wait_for_colour(element) > 0.05
    _save(page, page.get_by_role("heading", name="GINR Studio"), page.get_by_role("button", name="Run the demo"),
          "screenshot_home")


def test_rotating_one_results_panel_moves_the_others_and_a_click_pins_a_vertex(server, page):
    _open(page, server, "results", "Results")
    element, frame = _scene_frame(page)
    start = frame.evaluate(CAMERAS)
    assert len(start) == 3 and start[0] == start[1] == start[2]
    box = element.bounding_box()
    x, y = box["x"] + box["width"] / 6, box["y"] + box["height"] / 2  # the middle of the first panel
    page.mouse.move(x, y)
    page.mouse.down()
    for step in range(1, 11):
        page.mouse.move(x + 12 * step, y + 4 * step)
    page.mouse.up()
    turned = f"() => ({CAMERAS})()[0].some((c, i) => Math.abs(c - {start[0]}[i]) > 1e-3)"
    linked = f"() => {{ const eyes = ({CAMERAS})(); return eyes.every(e => e.every((c, i) => Math.abs(c - eyes[0][i]) < 1e-6)); }}"
    frame.wait_for_function(f"() => ({turned})() && ({linked})()", timeout=10_000)  # the drag turned every panel

    frame.get_by_role("button", name="Reset view").click()
    frame.wait_for_function(f"() => !({turned})() && ({linked})()", timeout=10_000)  # and back, every one

    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)  # the middle panel's sphere
    frame.wait_for_selector(".hovertext", timeout=10_000)  # plotly reports the vertex under the pointer on hover
    page.mouse.down()
    page.mouse.up()
    frame.wait_for_function("() => document.getElementById('pinned').textContent.startsWith('vertex')", timeout=10_000)
    pins = frame.evaluate("() => document.querySelector('.js-plotly-plot')._fullData.filter(t => t.name === 'pinned-vertex').length")
    assert pins == 3  # one marker in each panel
    bar = frame.locator("#pinned").inner_text()
    assert "ground truth" in bar and "prediction" in bar and "error" in bar
    page.get_by_text("Pinned vertex", exact=False).wait_for(timeout=30_000)  # Python got the pin
    _wait_for_app(page)
    _save(page, page.get_by_role("heading", name="Results"), page.get_by_text("Pinned vertex", exact=False),
          "screenshot_results")


def test_inr_vs_ginr_views_are_linked(server, page):
    _open(page, server, "compare", "INR vs GINR")
    page.get_by_label("Time budget per model (s)").fill("1")
    page.get_by_label("Time budget per model (s)").press("Enter")
    _wait_for_app(page)
    page.get_by_role("button", name="Train and compare").click()
    page.get_by_role("button", name="Cancel").wait_for(timeout=60_000)
    page.get_by_role("button", name="Cancel").wait_for(state="detached", timeout=180_000)
    _wait_for_app(page)
    element, frame = _scene_frame(page)
    # truth and four predictions, four errors (the view may still hold the live figure it is about to replace)
    frame.wait_for_function(f"() => ({CAMERAS})().length === 9 && document.body.dataset.height", timeout=60_000)
    assert wait_for_colour(element) > 0.05
    assert not page.locator("[data-testid='stException']").count()
    _save(page, page.get_by_role("heading", name="Predictions and errors"),
          page.get_by_role("button", name="Views (HTML)"), "screenshot_inr_vs_ginr")
