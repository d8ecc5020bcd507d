"""The view rules in a real browser (chromium via Playwright, the app on 127.0.0.1, one server for the file):
hover shows the value, an RGB signal is drawn in colours, the up-axis control turns the view."""

import io
import re
import time

import numpy as np
import pytest
from test_browser import CHROMIUM, CHROMIUM_FLAGS, SCREENSHOTS, _scene_frame, _wait_for_app, playwright  # noqa: F401

from ginr_core.data.signals import analytic_signal
from ginr_core.geometry.domains import make_domain

SIGNAL_CHART = "() => document.querySelectorAll('.js-plotly-plot')[0]"


@pytest.fixture(scope="module")
def data_page(server):  # noqa: F811
    """The Data page of a fresh session (its default icosphere and signal), in a tall window."""
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1400})
        page.goto(server)
        _wait_for_app(page)
        page.locator("[data-testid='stSidebarNav']").get_by_text("Data", exact=True).click()
        _wait_for_app(page)
        _scene_frame(page)
        yield page
        browser.close()


def _hue_bins(png: bytes) -> int:
    """How many of 12 hue bins hold at least 1% of the clearly coloured pixels."""
    from PIL import Image

    hsv = np.asarray(Image.open(io.BytesIO(png)).convert("RGB").convert("HSV")).reshape(-1, 3).astype(int)
    coloured = hsv[(hsv[:, 1] > 80) & (hsv[:, 2] > 60)]
    if len(coloured) < 500:
        return 0
    counts = np.bincount(coloured[:, 0] * 12 // 256, minlength=12)
    return int((counts > 0.01 * len(coloured)).sum())


def test_hover_shows_the_value_under_the_cursor(data_page):
    _, frame = _scene_frame(data_page)
    chart = frame.locator(".js-plotly-plot").first
    box = chart.bounding_box()
    for dx in (0, 15, -15, 30):  # the centre of the scene is on the mesh; try a few pixels around it
        data_page.mouse.move(box["x"] + box["width"] / 2 + dx, box["y"] + box["height"] / 2)
        try:
            frame.wait_for_function("() => [...document.querySelectorAll('.hovertext')].some(t => t.textContent.includes('value'))",
                                    timeout=5_000)
            break
        except playwright.TimeoutError:
            continue
    text = " ".join(chart.locator(".hovertext").all_text_contents())
    found = re.search(r"value ([-0-9.e]+)vertex (\d+)", text)
    assert found and "trace" not in text, text
    value, vertex = float(found[1]), int(found[2])
    truth = analytic_signal(make_domain("icosphere"), "sines")  # the page's default signal
    assert value == pytest.approx(truth[vertex], rel=1e-3, abs=1e-3)  # the value of that very vertex


def test_up_axis_control_turns_the_view(data_page):
    data_page.mouse.move(0, 0)
    element, _ = _scene_frame(data_page)
    before = element.screenshot()
    data_page.get_by_text("View settings", exact=True).click()
    data_page.locator("[data-testid='stSidebar']").get_by_text("x", exact=True).first.click()
    _wait_for_app(data_page)
    element, frame = _scene_frame(data_page)
    frame.wait_for_function(f"() => ({SIGNAL_CHART})()._fullLayout.scene.camera.up.x === 1", timeout=30_000)
    up = frame.evaluate(f"({SIGNAL_CHART})()._fullLayout.scene.camera.up")
    assert up == {"x": 1, "y": 0, "z": 0}
    deadline = time.monotonic() + 10  # WebGL draws the turned view a few frames later
    while (after := element.screenshot()) == before and time.monotonic() < deadline:
        time.sleep(0.25)
    assert after != before
    data_page.locator("[data-testid='stSidebar']").get_by_text("auto", exact=True).last.click()  # back to auto
    _wait_for_app(data_page)


def test_an_rgb_signal_is_drawn_in_colours(data_page, tmp_path):
    mesh = make_domain("icosphere")
    colours = (mesh.vertices + 1) / 2  # three channels in [0, 1]: every hue around the sphere
    path = tmp_path / "colours.npy"
    np.save(path, colours)
    data_page.get_by_text("Upload values (.npy / .csv)", exact=True).click()
    _wait_for_app(data_page)
    data_page.locator("input[type='file']").last.set_input_files(str(path))
    data_page.get_by_text("upload: colours.npy").first.wait_for(timeout=60_000)
    _wait_for_app(data_page)
    element, frame = _scene_frame(data_page)
    data_page.mouse.move(0, 0)
    png = element.screenshot()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / "data-rgb-signal.png").write_bytes(png)
    assert frame.evaluate(f"({SIGNAL_CHART})().data[0].vertexcolor !== undefined")
    assert _hue_bins(png) >= 4
