import numpy as np
import pytest
import trimesh
from conftest import shared_file

from ginr_core.errors import GinrError
from ginr_core.geometry.mesh import Mesh, clean_mesh, load_mesh, read_mesh, subdivide


def _sphere(level=2, offset=(0.0, 0.0, 0.0)):
    s = trimesh.creation.icosphere(subdivisions=level)
    return Mesh(s.vertices + np.asarray(offset), s.faces)


def test_bunny_graph_has_the_papers_counts():
    mesh, report = load_mesh(shared_file("bunny.ply"))
    assert mesh.n_vertices == 34_834
    assert len(mesh.edges()) == 104_288
    assert mesh.adjacency().nnz == 2 * 104_288
    assert report.unreferenced_vertices == 35_947 - 34_834
    assert report.faces_out == 69_451
    # PLY vertex properties follow the cleaning through source_index
    raw = read_mesh(shared_file("bunny.ply"))
    np.testing.assert_array_equal(mesh.vertex_data["confidence"], raw.vertex_data["confidence"][mesh.source_index])
    np.testing.assert_array_equal(mesh.vertices, raw.vertices[mesh.source_index])


@pytest.mark.parametrize("ext", ["ply", "obj", "off", "stl", "glb"])
def test_every_format_loads_from_bytes(ext):
    sphere = trimesh.creation.icosphere(subdivisions=2)
    data = sphere.export(file_type=ext)
    data = data.encode() if isinstance(data, str) else data
    mesh, report = load_mesh(data, filename=f"upload.{ext}")
    # STL stores three corners per triangle: merging must give back the shared vertices
    assert mesh.n_vertices == len(sphere.vertices)
    assert mesh.n_faces == len(sphere.faces)
    assert mesh.n_components() == 1
    if ext == "stl":
        assert report.merged_vertices == 3 * len(sphere.faces) - len(sphere.vertices)


def test_scene_with_several_geometries_is_merged():
    scene = trimesh.Scene([trimesh.creation.icosphere(subdivisions=1), trimesh.creation.box()])
    raw = read_mesh(scene.export(file_type="glb"), filename="scene.glb")
    assert raw.n_vertices == 42 + 8
    assert raw.n_faces == 80 + 12


@pytest.mark.parametrize(
    "data, name, match",
    [
        (b"\x00\x01garbage bytes\xff" * 10, "x.obj", "no mesh"),
        (b"\x00\x01garbage bytes\xff" * 10, "x.stl", "no mesh"),
        (b"\x00\x01garbage bytes\xff" * 10, "x.ply", "Could not read"),
        (b"\x00\x01garbage bytes\xff" * 10, "x.off", "Could not read"),
        (b"\x00\x01garbage bytes\xff" * 10, "x.glb", "Could not read"),
        (b"", "x.ply", "empty"),
        (b"v 0 0 0\n", "x.xyz", "Unsupported"),
        (b"v 0 0 0\nv 1 0 0\nv 0 1 0\n", "points.obj", "no triangle mesh"),
        (b"v 0 0 0\nv 1 0 nan\nv 0 1 0\nf 1 2 3\n", "nan.obj", "NaN"),
    ],
)
def test_bad_input_raises_one_clear_error(data, name, match):
    with pytest.raises(GinrError, match=match):
        load_mesh(data, filename=name)


def test_size_limit(tmp_path):
    data = trimesh.creation.icosphere(subdivisions=3).export(file_type="ply")
    with pytest.raises(GinrError, match="limit"):
        load_mesh(data, filename="big.ply", max_bytes=1000)
    path = tmp_path / "big.ply"
    path.write_bytes(data)
    with pytest.raises(GinrError, match="limit"):
        load_mesh(path, max_bytes=1000)
    with pytest.raises(GinrError, match="No such file"):
        load_mesh(tmp_path / "missing.ply")


def test_disconnected_mesh_keeps_largest_or_refuses():
    big, small = _sphere(2), _sphere(1, offset=(5, 0, 0))
    both = Mesh(np.vstack([small.vertices, big.vertices]), np.vstack([small.faces, big.faces + small.n_vertices]))
    mesh, report = clean_mesh(both)
    assert mesh.n_vertices == big.n_vertices
    assert report.components == 2 and report.dropped_component_vertices == small.n_vertices
    assert any("dropped 42 vertices" in m for m in report.messages())
    np.testing.assert_array_equal(mesh.vertices, big.vertices)
    with pytest.raises(GinrError, match="2 disconnected pieces"):
        clean_mesh(both, components="error")


def test_cleaning_drops_bad_faces_and_keeps_signals_aligned():
    s = _sphere(1)
    extra = np.array([[9.0, 9.0, 9.0]])  # unreferenced, placed first so indices shift
    vertices = np.vstack([extra, s.vertices])
    faces = s.faces + 1
    faces = np.vstack([faces, faces[:3][:, ::-1], [[1, 1, 2], [2, 5, 2]]])  # 3 duplicates, 2 degenerate
    signal = np.arange(len(vertices), dtype=float)
    mesh, report = clean_mesh(Mesh(vertices, faces, vertex_data={"value": signal}))
    assert report.unreferenced_vertices == 1
    assert report.duplicate_faces == 3
    assert report.degenerate_faces == 2
    assert mesh.n_vertices == 42 and mesh.n_faces == 80
    np.testing.assert_array_equal(mesh.vertex_data["value"], signal[1:])
    np.testing.assert_array_equal(mesh.signal_from_source(signal), signal[1:])
    with pytest.raises(GinrError, match="values but the mesh file has 43"):
        mesh.signal_from_source(signal[:-1])


def test_faces_out_of_range_are_rejected():
    with pytest.raises(GinrError, match="do not exist"):
        clean_mesh(Mesh(np.zeros((3, 3)), np.array([[0, 1, 5]])))


@pytest.mark.parametrize("method", ["midpoint", "loop"])
def test_subdivision_keeps_original_vertices_first(method):
    coarse = _sphere(1)
    fine = subdivide(coarse, levels=2, method=method)
    n_edges = len(coarse.edges())
    assert fine.n_vertices == 162 * 4 - 6  # icosphere level 3: 642
    assert fine.n_vertices == coarse.n_vertices + n_edges + len(subdivide(coarse, 1, method).edges())
    assert fine.n_faces == 16 * coarse.n_faces
    assert fine.n_components() == 1
    if method == "midpoint":
        np.testing.assert_array_equal(fine.vertices[: coarse.n_vertices], coarse.vertices)
    else:  # loop smooths: originals stay first, close to where they were
        moved = np.linalg.norm(fine.vertices[: coarse.n_vertices] - coarse.vertices, axis=1)
        assert moved.max() < 0.2


def test_content_hash_changes_with_geometry():
    a, b = _sphere(1), _sphere(1, offset=(1e-6, 0, 0))
    assert a.content_hash() == _sphere(1).content_hash()
    assert a.content_hash() != b.content_hash()
