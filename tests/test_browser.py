"""The dashboard in a real browser: Debian's chromium driven by Playwright against the app on 127.0.0.1.

Runs the one-click demo, waits for the trained result and checks that the 3D plots really show coloured
meshes (a failed WebGL context still leaves a canvas element, so we count coloured pixels). Screenshots
of every page are saved under artifacts/screenshots/ (CI keeps them).
"""

import re
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO

SCREENSHOTS = REPO / "artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
# Component frames are titled by module and name: pages.shared.scene_view.scene_view, ...scene_view.chart_view
SCENE_VIEW = "iframe[title$='.scene_view']"  # the linked scene view (pages/shared/scene_view.py)
CHART = "iframe[title$='.chart_view']"  # a chart (pages.shared.scene_view.chart): the scene view's frontend, no bar
VIEWS = f"{SCENE_VIEW}, {CHART}"  # the linked scene views and the charts, each an iframe
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]

playwright = pytest.importorskip("playwright.sync_api")
if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is not installed", allow_module_level=True)


@contextmanager
def chromium_page():
    """A page of a fresh headless chromium."""
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser.new_page(viewport={"width": 1400, "height": 1000})
        browser.close()


@pytest.fixture(scope="module")
def page(server):
    with chromium_page() as page:
        yield page


def coloured_fraction(png: bytes) -> float:
    """Share of pixels that are clearly coloured (not white, grey or black)."""
    import io

    from PIL import Image

    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    saturation = rgb.max(axis=2) - rgb.min(axis=2)
    return float((saturation > 60).mean())


def _shot(page, name: str) -> None:
    page.mouse.move(0, 0)  # no hover label or pointer over a 3D scene
    page.wait_for_timeout(500)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _wait_for_app(page) -> None:
    page.wait_for_selector("[data-testid='stApp']", timeout=60_000)
    page.wait_for_function("!document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=120_000)


def _scene_frame(page, index: int = 0):
    """The scene view's frame once its plots are drawn, their cameras linked and the frame given their height
    (scene_view.js then sets body.dataset.height: before, a drag could land on a frame about to grow)."""
    element = page.locator(SCENE_VIEW).nth(index)
    element.wait_for(timeout=60_000)
    frame = element.element_handle().content_frame()
    frame.wait_for_function("() => document.body.dataset.height", timeout=60_000)
    height = int(frame.evaluate("() => document.body.dataset.height"))
    page.wait_for_function("([frame, height]) => Math.round(frame.getBoundingClientRect().height) >= height",
                           arg=[element.element_handle(), height], timeout=30_000)
    element.scroll_into_view_if_needed()
    return element, frame


def wait_for_colour(element, fraction: float = 0.05, timeout_s: float = 30) -> float:
    """The coloured share of `element` once it passes `fraction` (WebGL draws a few frames after the plot exists),
    or as it stands after `timeout_s`."""
    element.wait_for(state="visible", timeout=timeout_s * 1000)
    deadline = time.monotonic() + timeout_s
    while (coloured := coloured_fraction(element.screenshot())) <= fraction and time.monotonic() < deadline:
        time.sleep(0.25)
    return coloured


def test_a_page_url_opened_first_gets_the_app_navigation(server, page):
    """The first session after a server start opening a page URL (a reconnecting tab) must not fall back
    to Streamlit's legacy pages/ mode (see pages.shared.widgets.enter_via_app)."""
    page.goto(f"{server}/results")
    _wait_for_app(page)
    page.get_by_role("heading", name="Results", exact=True).wait_for(timeout=60_000)
    nav = page.locator("[data-testid='stSidebarNav']").inner_text()
    assert "Home" in nav and "common" not in nav


@pytest.fixture(scope="module")
def demo(server, page):
    """`page` once the one-click demo has trained its run: the tests that look at a run take this, so that each
    also runs alone or in any order."""
    page.goto(server)
    _wait_for_app(page)
    page.get_by_role("button", name="Run the demo").click()
    page.get_by_text("Trained in").wait_for(timeout=180_000)
    return page


def test_one_click_demo_shows_a_coloured_mesh(demo):
    page = demo
    page.locator("[data-testid='stSidebarNav']").get_by_text("Home", exact=True).click()
    page.get_by_text("Trained in").wait_for(timeout=60_000)
    chart = page.locator(VIEWS).last
    chart.scroll_into_view_if_needed()
    coloured = wait_for_colour(chart)  # WebGL draws after the element appears
    _shot(page, "home-demo")
    assert coloured > 0.05


@pytest.mark.parametrize("title", ["Data", "Train", "Results"])
def test_pages_render_their_3d_views(demo, title):
    """After the demo (same browser session), each page shows its data, run and result in 3D."""
    page = demo
    page.locator("[data-testid='stSidebarNav']").get_by_text(title, exact=True).click()
    page.get_by_role("heading", name=title, exact=True).wait_for(timeout=60_000)
    _wait_for_app(page)
    chart = page.locator(VIEWS).last
    chart.wait_for(timeout=60_000)
    chart.scroll_into_view_if_needed()
    coloured = wait_for_colour(chart)
    _shot(page, title.lower())
    assert not page.locator("[data-testid='stException']").count()
    assert coloured > 0.05


def test_results_pyvista_viewer_renders(demo):
    """The PyVista viewer (a VTK scene drawn by vtk.js) shows the coloured meshes in iframes too."""
    page = demo
    page.locator("[data-testid='stSidebarNav']").get_by_text("Results", exact=True).click()
    _wait_for_app(page)
    page.get_by_text("PyVista", exact=True).click()
    frames = page.locator("iframe:not([title*='scene_view'])")  # not the scene view's nor the histogram chart's
    page.wait_for_function("() => [...document.querySelectorAll('iframe')].filter(f => !f.title.includes('scene_view'))"
                           ".length === 3", timeout=120_000)  # the scene view's frame gone, the three VTK scenes in
    coloured = wait_for_colour(frames.first, timeout_s=60)  # vtk.js renders after the iframe loads
    _shot(page, "results-pyvista")
    assert frames.count() == 3
    assert coloured > 0.05


def _open_page(page, server: str, title: str) -> None:
    """A tall window (the screenshot shows the whole page) and the Plotly viewer, then the page from the sidebar
    (of the app opened first when the browser has not been there yet: a test run alone)."""
    page.set_viewport_size({"width": 1400, "height": 2600})
    if not page.url.startswith(server):
        page.goto(server)
        _wait_for_app(page)
    page.locator("[data-testid='stSidebarNav']").get_by_text(title, exact=True).click()
    _wait_for_app(page)
    page.get_by_role("heading", name=title, exact=True).wait_for(timeout=60_000)
    page.get_by_text("Plotly", exact=True).click()
    _wait_for_app(page)


def _set_number(page, label: str, value: float) -> None:
    box = page.get_by_label(label)
    box.fill(str(value))
    box.press("Enter")
    _wait_for_app(page)


def test_time_series_page_trains_and_plays(server, page):
    _open_page(page, server, "Time series")
    page.get_by_role("button", name="Simulate").click()
    page.get_by_text("600 frames (t = 0").wait_for(timeout=60_000)
    train = page.get_by_role("button", name="Train on the series", exact=True).last  # a rerun can briefly show two
    train.wait_for(timeout=120_000)  # the page below the series is drawn after its summary
    _wait_for_app(page)
    _set_number(page, "Time budget (s)", 6)
    _wait_for_app(page)
    train.click()
    page.get_by_text("R² on held-out frames").wait_for(timeout=300_000)
    _wait_for_app(page)
    animation = page.locator(VIEWS).last  # the linked scene view (an iframe)
    animation.scroll_into_view_if_needed()
    assert wait_for_colour(animation) > 0.05
    frame = animation.element_handle().content_frame()
    slider_position = "() => { const g = document.querySelectorAll('.js-plotly-plot'); return g[g.length - 1]._fullLayout.sliders[0].active; }"
    assert frame.evaluate(slider_position) == 0
    frame.locator(".updatemenu-button").first.click()  # ▶ Play
    frame.wait_for_function(f"() => ({slider_position})() > 0", timeout=30_000)  # the animation runs in the browser
    _shot(page, "time-series")
    assert not page.locator("[data-testid='stException']").count()


def test_super_resolution_page_scores_strategies(server, page):
    _open_page(page, server, "Super-resolution")
    _set_number(page, "Time budget per strategy (s)", 1)  # the least the form takes: the page is tested, not the fit
    page.get_by_role("button", name="Run super-resolution").click()
    page.get_by_text("What each strategy did").wait_for(timeout=180_000)
    _wait_for_app(page)
    views = page.locator(VIEWS).last
    views.scroll_into_view_if_needed()
    coloured = wait_for_colour(views)
    _shot(page, "super-resolution")
    assert not page.locator("[data-testid='stException']").count()
    assert coloured > 0.05


def test_inr_vs_ginr_page_compares_four_models(server, page):
    _open_page(page, server, "INR vs GINR")
    _set_number(page, "Time budget per model (s)", 3)
    page.get_by_role("button", name="Train and compare").click()
    page.get_by_role("button", name="Cancel").wait_for(timeout=60_000)
    page.get_by_role("button", name="Cancel").wait_for(state="detached", timeout=180_000)
    _wait_for_app(page)
    views = page.locator("iframe").last  # the linked-camera figure
    views.scroll_into_view_if_needed()
    coloured = wait_for_colour(views)
    _shot(page, "inr-vs-ginr")
    assert not page.locator("[data-testid='stException']").count()
    assert page.get_by_text("R² (all nodes)").count()
    assert coloured > 0.05


def test_crop_page_draws_the_cropped_parts_as_a_hole(server, page):
    page.goto(server)
    _wait_for_app(page)
    _open_page(page, server, "Crop")
    _set_number(page, "Time budget per model (s)", 2)
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_role("heading", name="3 · Crop").wait_for(timeout=180_000)
    page.get_by_role("button", name="Cancel").wait_for(state="detached", timeout=180_000)
    _wait_for_app(page)
    partition, frame = _scene_frame(page, 0)  # step 1's partition: every part's number over the mesh
    assert frame.evaluate("() => document.querySelector('.js-plotly-plot')._fullLayout.scene.annotations.length") == 8
    box = partition.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    frame.wait_for_selector(".hovertext", timeout=10_000)  # plotly reports the vertex under the pointer on hover
    page.mouse.down()
    page.mouse.up()  # a click on the mesh picks its part
    remove = page.locator("[data-testid='stMultiSelect']").filter(has_text="Parts to remove")
    remove.get_by_text(re.compile(r"^\d$")).first.wait_for(timeout=30_000)
    clicked = remove.get_by_text(re.compile(r"^\d$")).first.inner_text()
    other = "5" if clicked != "5" else "2"
    remove.click()
    page.get_by_role("option", name=other, exact=True).click()
    page.keyboard.press("Escape")
    _wait_for_app(page)
    page.get_by_role("button", name="Crop", exact=True).click()
    page.get_by_text("Largest change on a kept node").wait_for(timeout=60_000)
    _wait_for_app(page)
    views, frame = _scene_frame(page, page.locator(SCENE_VIEW).count() - 1)  # before and cropped, linked
    _shot(page, "crop")
    assert not page.locator("[data-testid='stException']").count()
    faces = frame.evaluate("() => { const g = document.querySelectorAll('.js-plotly-plot'); "
                           "return g[g.length - 1]._fullData.map(t => t.i.length); }")
    assert faces[1] < 0.9 * faces[0]  # the cropped panel lacks the removed parts' triangles
    import io

    from PIL import Image

    assert wait_for_colour(views) > 0.05
    png = views.screenshot()
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    half = rgb.shape[1] // 2
    middle = slice(int(0.2 * half), int(0.8 * half))  # each panel's centre, away from the colour bar
    before, cropped = rgb[:, :half][:, middle], rgb[:, half : 2 * half][:, middle]
    assert (np.abs(before - cropped).max(axis=2) > 60).mean() > 0.01  # the hole shows


def test_the_browser_fetches_nothing_from_the_internet(server, page):
    """Offline and private: a fresh visitor's pages (the PyVista viewer included) load only from the server."""
    visitor = page.context.browser.new_page(viewport={"width": 1400, "height": 1000})
    external = set()
    visitor.on("request", lambda r: external.add(r.url.split("?")[0]) if not r.url.startswith((server, "data:", "blob:", "about:")) else None)
    visitor.goto(f"{server}/data")
    _wait_for_app(visitor)
    visitor.get_by_text("PyVista", exact=True).click()
    visitor.wait_for_function("() => [...document.querySelectorAll('iframe')].length > 0 && [...document.querySelectorAll("
                              "'iframe')].every(f => !f.title.includes('scene_view'))", timeout=120_000)  # the VTK scene in
    _wait_for_app(visitor)
    wait_for_colour(visitor.locator("iframe").first, timeout_s=60)  # the VTK scene drawn: its scripts are in
    for title in ("Home", "Results", "Time series"):
        visitor.locator("[data-testid='stSidebarNav']").get_by_text(title, exact=True).click()
        visitor.get_by_role("heading", name=title if title != "Home" else "GINR Studio", exact=True).wait_for(timeout=60_000)
        _wait_for_app(visitor)
        visitor.wait_for_load_state("networkidle")  # what the page asks for once drawn
    visitor.close()
    assert not external, sorted(external)


def test_interpolation_page_draws_the_derived_field_grid(server, page):
    page.goto(server)
    _wait_for_app(page)
    _open_page(page, server, "Interpolation")
    page.get_by_role("spinbutton", name="Training steps per network").fill("30")  # in a form: sent with the button
    page.get_by_role("button", name="Run every method").click()
    page.get_by_text("Field | gradient | Laplacian | error").wait_for(timeout=300_000)
    _wait_for_app(page)
    grid = page.locator(VIEWS).last  # truth and the best three methods: field, gradient, Laplacian, error
    grid.scroll_into_view_if_needed()
    coloured = wait_for_colour(grid, 0.12)  # the meshes fill their cells (0.05 when each filled a fifth)
    _shot(page, "interpolation")
    assert not page.locator("[data-testid='stException']").count()
    assert page.get_by_text("Resolved scale", exact=True).count()
    assert coloured > 0.12


def test_collections_page_explorer_shows_a_coloured_mesh(server, page, tmp_path):
    """Build a small collection from uploaded files, train it, and look at the explorer's mesh view."""
    from ginr_core.geometry.domains import make_domain

    x, y, _ = make_domain("icosphere", level=4).vertices.T
    files = []
    for q in np.linspace(0, 1, 4):
        files.append(tmp_path / f"p{q:.2f}.npy")
        np.save(files[-1], np.sin(2 * x + q) + np.cos(3 * y - q))
    page.goto(server)  # a fresh session: this test also runs alone
    _wait_for_app(page)
    _open_page(page, server, "Collections")
    page.get_by_text("Signal files", exact=True).click()
    _wait_for_app(page)
    page.locator("input[type='file']").first.set_input_files([str(f) for f in files])
    page.get_by_role("button", name="Use these signals").click()
    page.get_by_text("4 members").wait_for(timeout=60_000)
    for label, value in (("Embedding columns (k)", 16), ("Training budget (s)", 3), ("Fit-new budget per held-out member (s)", 1)):
        page.get_by_label(label).fill(str(value))  # inside a form: the button sends them all
    page.get_by_role("button", name="Train the collection").click()
    page.get_by_text("Latent explorer").wait_for(timeout=180_000)
    _wait_for_app(page)
    member_view = page.locator(VIEWS).nth(2)  # R² bars, code scatter, then the member's truth | prediction | error
    member_view.scroll_into_view_if_needed()
    coloured = wait_for_colour(member_view)
    _shot(page, "collections")
    assert not page.locator("[data-testid='stException']").count()
    assert coloured > 0.05
    budget = page.get_by_label("Budget (s)", exact=True)  # fit-new reads the recorded run: it must work on the
    budget.fill("2")  # server's default backend (worker processes), not only in-process
    budget.press("Enter")
    _wait_for_app(page)
    page.get_by_role("button", name="Fit the new signal").click()
    _scene_frame(page, 2)  # member, walk, then the new signal's views
    _shot(page, "collections-fit-new")
    assert not page.locator("[data-testid='stException']").count()
