"""An OBJ whose texture seam splits vertices (same position, different UV): the cleaning report calls the merge what
it is, not "duplicate vertices"."""

import numpy as np
from conftest import charts

from ginr_core.geometry.mesh import load_mesh


def seamed_cylinder_obj(around: int = 8, rings: int = 3, duplicate: bool = False) -> bytes:
    """An open cylinder whose UVs wrap once around: the seam's `rings` vertices carry two texture coordinates each.
    `duplicate` adds one real duplicate: a second `v` line at the first vertex's position, used by one face."""
    lines = [f"v {np.cos(a):.6f} {np.sin(a):.6f} {z}" for z in range(rings)
             for a in 2 * np.pi * np.arange(around) / around]
    lines += [f"vt {i / around} {j / (rings - 1)}" for j in range(rings) for i in range(around + 1)]
    for j in range(rings - 1):
        for i in range(around):
            v = [j * around + i, j * around + (i + 1) % around, (j + 1) * around + (i + 1) % around, (j + 1) * around + i]
            t = [j * (around + 1) + i, j * (around + 1) + i + 1, (j + 1) * (around + 1) + i + 1, (j + 1) * (around + 1) + i]
            corner = lambda n: f"{v[n] + 1}/{t[n] + 1}"  # noqa: E731
            lines += [f"f {corner(0)} {corner(1)} {corner(2)}", f"f {corner(0)} {corner(2)} {corner(3)}"]
    if duplicate:
        lines += [lines[0], f"f {around * rings + 1}/1 {around + 2}/{around + 3} {around + 1}/{around + 2}"]
    return "\n".join(lines).encode()


def test_texture_seam_splits_are_not_called_duplicates():
    mesh, report = load_mesh(seamed_cylinder_obj(), "cylinder.obj")
    assert mesh.n_vertices == 24
    assert report.merged_vertices == report.seam_vertices == 3
    assert report.messages()[0].startswith("Merged 3 vertices split at texture seams")
    assert not any("duplicate vertices" in m for m in report.messages())


def test_real_duplicates_are_still_reported_beside_seams():
    mesh, report = load_mesh(seamed_cylinder_obj(duplicate=True), "cylinder.obj")
    assert mesh.n_vertices == 24
    assert (report.merged_vertices, report.seam_vertices) == (4, 3)
    assert "Merged 1 duplicate vertices." in report.messages()


def test_plain_obj_and_other_formats_have_no_seams():
    plain = b"v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nf 1 2 3\nf 1 2 4\nf 1 3 4\nf 2 3 4\n"
    _, report = load_mesh(plain, "tetra.obj")
    assert report.seam_vertices == 0 and report.merged_vertices == 0


def test_data_page_reports_the_seams_and_draws_the_uploaded_mesh_at_once(app):
    at = app.switch_page("pages/data.py").run()
    at.radio[0].set_value("Upload a file").run()
    at.file_uploader[0].upload("cylinder.obj", seamed_cylinder_obj(around=40, rings=6)).run()
    assert not at.exception
    assert any("split at texture seams" in i.value for i in at.info), [i.value for i in at.info]
    assert at.metric[0].value == "240"
    drawn = charts(at)
    assert len(drawn) == 1 and drawn[0]["data"][0]["type"] == "mesh3d"  # the bare mesh, drawn before any signal is chosen


def test_a_signal_per_file_vertex_maps_onto_a_seamed_obj():
    """One value per `v` line of the file (25: 24 used and one stray), though the reader split the seam's vertices
    (28 read) and cleaning dropped the stray one (24 kept): each mesh vertex gets the value of its file line."""
    from ginr_core.data.signals import load_vertex_signal

    data = seamed_cylinder_obj() + b"\nv 5 5 5\n"
    mesh, _ = load_mesh(data, "cylinder.obj")
    assert (mesh.n_vertices, mesh.n_source_vertices) == (24, 25)
    lines = [line.split() for line in data.decode().splitlines() if line.startswith("v ")]
    file_positions = np.array([[float(x) for x in line[1:4]] for line in lines])
    per_file_vertex = np.arange(25.0) * 10
    values = load_vertex_signal(_npy(per_file_vertex), "signal.npy", mesh)
    nearest = np.argmin(np.linalg.norm(mesh.vertices[:, None] - file_positions[None], axis=2), axis=1)
    np.testing.assert_array_equal(values, per_file_vertex[nearest])


def _npy(values) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, values)
    return buffer.getvalue()
