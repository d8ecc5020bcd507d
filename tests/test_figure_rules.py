"""The figure rules (ginr_core.viz.rules): ranges, maps per kind, ticks, RGB, up axis, and that figures obey them."""

import numpy as np
import pytest

from ginr_core.geometry.domains import icosphere, make_domain
from ginr_core.learning.metrics import per_channel
from ginr_core.viz.figures import mesh_figure, side_by_side_figure
from ginr_core.viz.rules import (
    ERROR_MAP,
    LOG_AXIS,
    TICK_FORMAT,
    View,
    camera_distance,
    colour_map,
    colour_scale,
    detect_up,
    is_rgb,
    log_axis,
    rgb_colours,
    shown_channel,
)


def test_range_modes_and_the_stated_percentiles():
    values = np.r_[np.linspace(0, 1, 999), 50.0]  # one outlier
    auto = colour_scale("signal", values)
    assert auto.hi < 1.5 and "clipped to 0.5–99.5th pct" in auto.note
    full = colour_scale("signal", values, view=View(range_mode="full"))
    assert (full.lo, full.hi, full.note) == (0.0, 50.0, "")
    manual = colour_scale("signal", values, view=View().with_range("-2,3"))
    assert (manual.lo, manual.hi) == (-2.0, 3.0)
    with pytest.raises(ValueError):
        View().with_range("3,2")


def test_maps_per_kind_diverging_centred_and_errors_from_zero():
    view = View(cmap="cividis")
    assert colour_map("signal", view) == "cividis" and colour_map("error", view) == ERROR_MAP
    signed = colour_scale("signed", np.array([-0.2, 0.1, 1.0]), view=View(range_mode="full"))
    assert signed.lo == -signed.hi == -1.0 and signed.cmap.startswith("RdBu")
    error = colour_scale("error", np.array([0.3, 0.5, 0.9]), view=View(range_mode="full"))
    assert error.lo == 0 and error.hi == 0.9


def test_tick_labels_have_no_si_prefix():
    bar = colour_scale("error", np.array([0.0, 1.6e-9])).colorbar("error")
    assert bar["tickformat"] == TICK_FORMAT and "s" not in TICK_FORMAT and bar["exponentformat"] == "e"
    fig = mesh_figure(icosphere(1), np.linspace(0, 1e-9, 42))
    assert fig.data[0].colorbar.tickformat == TICK_FORMAT and fig.data[0].colorbar.exponentformat == "e"


def test_rgb_detection_and_channels():
    rng = np.random.default_rng(0)
    assert is_rgb(rng.random((10, 3))) and is_rgb(rng.integers(0, 256, (10, 3)).astype(float))
    assert not is_rgb(rng.random((10, 3)) * 300) and not is_rgb(rng.random((10, 2))) and not is_rgb(rng.random(10))
    assert not is_rgb(rng.random((10, 3)) * 200)  # not whole numbers: not 0-255 colour
    np.testing.assert_array_equal(rgb_colours(np.array([[0, 0.5, 1.0]])), [[0, 128, 255]])
    values = rng.random((5, 3)) * 7
    np.testing.assert_array_equal(shown_channel(values, View(channel=2))[0], values[:, 2])
    mesh = icosphere(1)
    fig = mesh_figure(mesh, rng.random((mesh.n_vertices, 3)))
    assert fig.data[0].vertexcolor is not None and fig.data[0].intensity is None
    assert len(per_channel(values, values + 1)) == 3


def test_up_axis_detection():
    rng = np.random.default_rng(0)
    cow = rng.random((500, 3)) * [1.6, 1.0, 0.7]  # y-up: long in x, tall in y, narrow in z
    assert detect_up(cow) == "y"
    standing = rng.random((500, 3)) * [0.5, 1.0, 1.25]  # an OBJ cow on its feet: y up, a little longer in z
    assert detect_up(standing) == "y"
    assert detect_up(rng.random((500, 3)) * [0.6, 0.5, 2.0]) == "z"  # a statue standing along z
    assert detect_up(make_domain("torus").vertices) == "z" and detect_up(make_domain("icosphere").vertices) == "z"
    assert detect_up(make_domain("trefoil_knot").vertices) == "z"
    fig = mesh_figure(icosphere(1), np.zeros(42), view=View(up="x"))
    assert fig.layout.scene.camera.up.x == 1 and fig.layout.scene.camera.up.z == 0


def test_hover_shows_value_and_vertex_and_points_look_like_the_mesh():
    mesh = icosphere(1)
    values = mesh.vertices[:, 2]
    fig = side_by_side_figure(mesh, {"truth": values, "error": values ** 2}, {"error": "error"}, ["truth"])
    assert "value %{customdata[0]" in fig.data[0].hovertemplate and "vertex" in fig.data[0].hovertemplate
    assert fig.data[0].lighting.ambient == 1.0 and fig.data[0].lighting.diffuse == 0  # unlit: colours read as the bar
    points = mesh_figure(mesh, values, view=View(draw_as="points"))
    assert points.data[0].type == "scatter3d" and points.data[0].marker.cmin == mesh_figure(mesh, values).data[0].cmin


def test_a_short_log_axis_gets_ticks_within_its_decade():
    short = log_axis(np.array([6.19, 2.38, 0.335]))  # mesh wavelengths: decades alone give one tick
    assert short["tickvals"] == [0.5, 1.0, 2.0, 5.0] and short["type"] == "log"
    assert log_axis(np.array([820.0, 20015.0]))["tickvals"] == [1000.0, 2000.0, 5000.0, 10000.0, 20000.0]
    assert log_axis(np.array([1e-7, 3e-2])) == LOG_AXIS  # many decades: decades only


def test_one_outlying_panel_does_not_wash_out_a_shared_scale():
    rng = np.random.default_rng(0)
    smooth = [np.sin(np.linspace(0, 6, 500)) * 3 for _ in range(3)]
    spiky = rng.standard_normal(500) * 100  # a method's Laplacian with spikes at its observations
    scale = colour_scale("signed", *smooth, spiky)
    assert scale.lo == -scale.hi and 2.5 < scale.hi < 10
    assert "clipped" in scale.note


def test_the_camera_fits_the_shape_to_its_panel():
    torus = make_domain("torus").vertices  # wider than tall from the camera
    square = camera_distance(torus, "z", 1.0)
    assert camera_distance(torus * 7 + 3, "z", 1.0) == pytest.approx(square, rel=1e-6)  # units and place do not matter
    assert camera_distance(torus, "z", 0.5) > 1.6 * square  # a narrow cell: step back for the width
    assert camera_distance(torus, "z", 4.0) < square  # a wide panel: the height binds
