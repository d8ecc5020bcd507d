import numpy as np
import pytest

from ginr_core.errors import GinrError
from ginr_core.geometry.domains import (
    BUILTIN_DOMAINS,
    latlon_grid,
    latlon_sphere,
    make_domain,
)
from ginr_core.geometry.mesh import face_areas


def _directed_edge_counts(faces):
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    _, counts = np.unique(e, axis=0, return_counts=True)
    return e, counts


@pytest.mark.parametrize("name", list(BUILTIN_DOMAINS))
def test_builtin_domains_are_valid_connected_surfaces(name):
    mesh = make_domain(name)
    assert mesh.n_components() == 1
    assert face_areas(mesh.vertices, mesh.faces).min() > 0
    # consistent orientation: no directed edge is used by two faces
    _, counts = _directed_edge_counts(mesh.faces)
    assert counts.max() == 1


@pytest.mark.parametrize("name", ["icosphere", "torus", "trefoil_knot", "bumpy_sphere"])
def test_closed_domains_are_outward_and_watertight(name):
    mesh = make_domain(name)
    e, _ = _directed_edge_counts(mesh.faces)
    forward = {tuple(x) for x in e}
    assert all((b, a) in forward for a, b in e)  # every edge has its twin: closed surface
    a, b, c = (mesh.vertices[mesh.faces[:, i]] for i in range(3))
    assert np.einsum("ij,ij->i", a, np.cross(b, c)).sum() > 0  # positive volume: normals point out


@pytest.mark.parametrize("n_lat, n_lon", [(181, 360), (241, 480)])
def test_latlon_sphere_node_counts_match_the_data_grids(n_lat, n_lon):
    mesh = latlon_sphere(n_lat, n_lon)
    assert mesh.n_vertices == n_lat * n_lon
    np.testing.assert_allclose(np.linalg.norm(mesh.vertices, axis=1), 1.0)
    area = face_areas(mesh.vertices, mesh.faces)
    assert area.min() > 0
    assert abs(area.sum() - 4 * np.pi) < 1e-3 * 4 * np.pi


def test_latlon_grid_is_row_major_lat_by_lon():
    lat = np.array([60.0, 0.0, -60.0])
    lon = np.array([0.0, 90.0, 180.0, 270.0])
    mesh = latlon_grid(lat, lon)
    i, j = 2, 1  # (-60, 90)
    node = i * len(lon) + j
    assert mesh.vertex_data["lat"][node] == -60 and mesh.vertex_data["lon"][node] == 90
    np.testing.assert_allclose(mesh.vertices[node], [0, np.cos(np.pi / 3), -np.sin(np.pi / 3)], atol=1e-12)


@pytest.mark.parametrize(
    "lat, lon, match",
    [
        ([0.0, 10.0, 5.0], [0, 120, 240], "strictly"),
        ([100.0, 0.0], [0, 120, 240], r"\[-90, 90\]"),
        ([10.0, 0.0], [0, 180, 360], "repeats the first"),
        ([10.0], [0, 120, 240], "at least"),
    ],
)
def test_latlon_grid_rejects_bad_coordinates(lat, lon, match):
    with pytest.raises(GinrError, match=match):
        latlon_grid(np.array(lat), np.array(lon))


def test_make_domain_overrides_defaults_and_rejects_unknown_names():
    assert make_domain("icosphere", level=2).n_vertices == 162
    with pytest.raises(GinrError, match="Unknown domain"):
        make_domain("teapot")
