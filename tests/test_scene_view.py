"""The scene view component's wiring: the frontend it serves (plotly.js from the plotly package, the shared camera
link), the panel names it shows, and the pages that draw side-by-side panels with it."""

import json
from pathlib import Path

import numpy as np
import plotly.graph_objects as go

from ginr_core.geometry.domains import make_domain
from ginr_core.viz.figures import LINK_CAMERAS_JS, figure_html, grid_figure, mesh_figure, side_by_side_figure
from pages.shared import scene_view

REPO = Path(__file__).resolve().parents[1]


def test_the_frontend_serves_plotly_and_the_camera_link_locally():
    folder = scene_view.served_folder()
    page = (folder / "index.html").read_text()
    assert f'<script src="{scene_view.CACHED_PLOTLY_SRC}">' in page and '<script src="link_cameras.js">' in page
    assert "http" not in page  # nothing from a CDN: the app works offline
    # plotly.js from the app's static folder, which the server serves (with the headers that let a browser cache it)
    assert (scene_view.APP_STATIC / "plotly.min.js").read_bytes() == scene_view.PLOTLY_JS.read_bytes()
    assert "enableStaticServing = true" in (REPO / ".streamlit" / "config.toml").read_text()
    assert scene_view.APP_STATIC == REPO / "static"
    assert (folder / "link_cameras.js").read_text() == LINK_CAMERAS_JS.read_text()
    script = (folder / "scene_view.js").read_text()
    assert "streamlit:componentReady" in script and "streamlit:setComponentValue" in script


def test_one_camera_link_for_the_dashboard_and_the_html_export():
    fig = side_by_side_figure(make_domain("icosphere", level=1), {"a": np.zeros(42), "b": np.ones(42)})
    assert LINK_CAMERAS_JS.read_text() in figure_html(fig, link_cameras=True)
    assert "linkCameras([document.getElementById('figure')])" in figure_html(fig, link_cameras=True)


def test_scene_labels_are_the_panel_titles():
    mesh = make_domain("icosphere", level=1)
    panels = {"ground truth": np.zeros(42), "prediction": np.ones(42), "absolute error": np.ones(42)}
    assert scene_view.scene_labels(side_by_side_figure(mesh, panels)) == {
        "scene": "ground truth", "scene2": "prediction", "scene3": "absolute error"}
    grid = grid_figure(mesh, [[("truth", np.zeros(42)), ("a", np.ones(42))], [None, ("|error| a", np.ones(42))]])
    assert sorted(scene_view.scene_labels(grid).values()) == ["a", "truth", "|error| a"]
    assert scene_view.scene_labels(mesh_figure(mesh, np.zeros(42), title="Original")) == {"scene": "Original"}
    assert scene_view.scene_labels(go.Figure(go.Scatter3d(x=[0], y=[0], z=[0]))) == {"scene": "scene"}


def test_pinned_caption():
    assert scene_view.pinned_caption(None) is None
    pin = {"vertex": 12, "values": {"ground truth": 0.4123, "prediction": 0.39, "absolute error": None}}
    assert scene_view.pinned_caption(pin) == "Pinned vertex 12: ground truth 0.4123 · prediction 0.39 · absolute error n/a"


def test_side_by_side_pages_draw_with_the_scene_view():
    """Pages with panels side by side go through show_meshes / linked_views, not st.plotly_chart."""
    for page in ("results.py", "compare.py", "home.py", "collections.py"):
        source = (REPO / "pages" / page).read_text()
        assert "show_meshes(" in source or "linked_views(" in source, page
    assert "st.iframe(" not in (REPO / "pages" / "compare.py").read_text()


def test_panels_of_one_mesh_send_its_geometry_once_and_rebuildable_hover_rows_not_at_all():
    mesh = make_domain("icosphere", level=3)
    values = np.linspace(0.0, 1.0, mesh.n_vertices)
    panels = {"ground truth": values, "prediction": values ** 2, "absolute error": values - values ** 2}
    fig = side_by_side_figure(mesh, panels, kinds={"absolute error": "error"})
    packed = json.loads(scene_view.packed_figures([fig], [None])[0])
    first, *others = packed["data"]
    assert all("bdata" in first[key] for key in scene_view.GEOMETRY)
    for trace in others:
        assert all(trace[key] == {"same_as": [0, 0, key]} for key in scene_view.GEOMETRY)
    assert all(trace["customdata"] == {"from_intensity": True} for trace in packed["data"])
    for sent, drawn in zip(packed["data"], fig.data):  # what is still sent is the figure's own
        np.testing.assert_array_equal(scene_view.typed_array(sent["intensity"]), drawn.intensity)
    assert len(scene_view.packed_figures([fig], [None])[0]) < 0.5 * len(fig.to_json())
    # hover rows that are not the values beside the vertex ids (a decimated mesh's ids differ) are sent as they are
    other_ids = np.arange(mesh.n_vertices)[::-1]
    assert all("bdata" in t["customdata"] for t in json.loads(scene_view.packed_figures([fig], [other_ids])[0])["data"])
