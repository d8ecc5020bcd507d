import numpy as np
import pytest
from conftest import shared_file

from ginr_core.geometry.domains import icosphere
from ginr_core.geometry.mesh import load_mesh
from ginr_core.viz.figures import (
    display_mesh,
    figure_html,
    grid_figure,
    mesh_figure,
    point_cloud_figure,
    side_by_side_figure,
    to_pyvista,
)


def test_bunny_figure_payload_stays_small():
    mesh, _ = load_mesh(shared_file("bunny.ply"))
    values = np.sin(10 * mesh.vertices[:, 0])
    payload = mesh_figure(mesh, values).to_json()
    assert len(payload) <= 1.9e6
    assert '"dtype":"u2"' in payload and '"dtype":"f4"' in payload  # binary, compact


def test_large_meshes_are_decimated_for_display_only():
    mesh = icosphere(5)  # 10,242 vertices
    dm = display_mesh(mesh, max_vertices=2_000)
    assert dm.decimated and len(dm.vertices) <= 2_200
    assert "decimated" in dm.note()
    values = mesh.vertices[:, 2]
    shown = dm.values(values)
    # each display vertex shows the value of the original vertex nearest to it
    np.testing.assert_allclose(shown, dm.vertices[:, 2], atol=0.05)
    assert display_mesh(mesh).note() is None


def test_side_by_side_shares_one_scale_for_truth_and_prediction():
    mesh = icosphere(2)
    truth = mesh.vertices[:, 0]
    pred = truth * 1.5
    err = (pred - truth) ** 2
    fig = side_by_side_figure(mesh, {"truth": truth, "prediction": pred, "error": err}, {"error": "error"},
                              shared_scale=["truth", "prediction"])
    t, p, e = fig.data
    assert (t.cmin, t.cmax) == (p.cmin, p.cmax)
    # auto range: the median of each panel's 0.5-99.5th percentiles, so 1.25 x the truth's (pred is 1.5 x truth)
    assert (t.cmin, t.cmax) == pytest.approx(1.25 * np.percentile(truth, [0.5, 99.5]))
    assert (e.cmin, e.cmax) == pytest.approx((0.0, np.percentile(err, 99.5)))  # errors start at 0
    assert not t.showscale and p.showscale and e.showscale  # shared bar beside the last shared panel
    assert fig.layout.scene.camera == fig.layout.scene3.camera


def test_scene_axes_give_plotly_no_ticks_or_titles_to_draw():
    """plotly.js turns every tick and axis title of a 3D scene into 3D text, even on an axis with visible=False."""
    mesh = icosphere(1)
    fig = side_by_side_figure(mesh, {"a": mesh.vertices[:, 0], "b": mesh.vertices[:, 1]})
    for scene in ("scene", "scene2"):
        for axis in ("xaxis", "yaxis", "zaxis"):
            drawn = fig.layout[scene][axis]
            assert drawn.tickmode == "array" and drawn.tickvals == () and not drawn.title.text
            assert not (drawn.showbackground or drawn.showgrid or drawn.showline or drawn.zeroline or drawn.showspikes)


def test_exports():
    mesh = icosphere(1)
    html = figure_html(point_cloud_figure(mesh.vertices, mesh.vertices[:, 1]))
    assert "<html>" in html[:100] and "plotly" in html.lower() and len(html) > 1e6  # plotly.js embedded
    poly = to_pyvista(mesh, mesh.vertices[:, 0])
    assert poly.n_points == mesh.n_vertices and poly.n_cells == mesh.n_faces
    np.testing.assert_allclose(poly.point_data["signal"], mesh.vertices[:, 0], rtol=1e-6)


def test_grid_rows_share_one_scale_each_and_empty_cells_stay_empty():
    mesh = icosphere(2)
    truth = mesh.vertices[:, 0]
    pred = 2 * truth
    err = np.abs(pred - truth)
    fig = grid_figure(mesh, [[("truth", truth), ("model", pred)], [None, ("|error|", err)]], ["signal", "error"])
    t, p, e = fig.data
    assert [a.text for a in fig.layout.annotations] == ["truth", "model", "|error|"]
    assert (t.cmin, t.cmax) == (p.cmin, p.cmax)
    assert (t.cmin, t.cmax) == pytest.approx(1.5 * np.percentile(truth, [0.5, 99.5]))  # median of the two ranges
    assert (e.cmin, e.cmax) == pytest.approx((0.0, np.percentile(err, 99.5))) and e.colorscale != t.colorscale
    assert [d.showscale for d in fig.data] == [False, True, True]  # one colour bar per row, beside its row
    assert p.colorbar.y > 0.5 > e.colorbar.y
    assert [d.scene for d in fig.data] == ["scene", "scene2", "scene3"]  # no scene in the empty cell
    assert fig.layout.scene.camera == fig.layout.scene3.camera


def test_linked_cameras_html():
    fig = grid_figure(icosphere(1), [[("a", np.zeros(42)), ("b", np.ones(42))]])
    linked = figure_html(fig, link_cameras=True)
    assert "function linkCameras" in linked and "linkCameras([document.getElementById('figure')])" in linked
    assert linked == figure_html(fig, link_cameras=True)  # the same page each time (cheap to re-send)
    assert "function linkCameras" not in figure_html(fig)
