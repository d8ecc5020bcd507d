import io

import numpy as np
import pytest
from conftest import shared_file

from ginr_core.data.signals import (
    ANALYTIC_SIGNALS,
    analytic_signal,
    gray_scott,
    load_vertex_signal,
    validate_signal,
    vertex_property_signal,
)
from ginr_core.errors import GinrError
from ginr_core.geometry.domains import icosphere
from ginr_core.geometry.laplacian import graph_laplacian
from ginr_core.geometry.mesh import Mesh, clean_mesh, load_mesh


def _reference_gray_scott(mesh, steps):
    """The reference script's loop, verbatim (float64, global numpy seed)."""
    n = mesh.n_vertices
    state = np.random.get_state()
    np.random.seed(1234)
    lap = -graph_laplacian(mesh.adjacency(), "normalized")
    Du, Dv, F, k = 0.16 * 4, 0.08 * 4, 0.060, 0.062
    u = 0.2 * np.random.random(n) + 1
    v = 0.2 * np.random.random(n)
    np.random.set_state(state)
    for _ in range(steps):
        uvv = u * v * v
        u += Du * lap.dot(u) - uvv + F * (1 - u)
        v += Dv * lap.dot(v) + uvv - (F + k) * v
    return u, v


@pytest.fixture(scope="module")
def sphere():
    return icosphere(3)


@pytest.fixture(scope="module")
def bunny():
    return load_mesh(shared_file("bunny.ply"))[0]


def test_gray_scott_matches_the_reference_loop(sphere):
    u_ref, v_ref = _reference_gray_scott(sphere, 2000)
    fast = gray_scott(sphere, steps=2000)
    assert fast.v.dtype == np.float32
    np.testing.assert_allclose(fast.v, v_ref, atol=1e-3)
    np.testing.assert_allclose(fast.u, u_ref, atol=1e-3)
    exact = gray_scott(sphere, steps=2000, dtype=np.float64)
    np.testing.assert_allclose(exact.v, v_ref, atol=1e-10)
    assert fast.target is fast.v
    assert v_ref.std() > 0.01  # a pattern formed: the comparison is not between two constants


def test_gray_scott_leaves_global_random_state_alone(sphere):
    np.random.seed(7)
    expected = np.random.random(3)
    np.random.seed(7)
    a = gray_scott(sphere, steps=50)
    np.testing.assert_array_equal(np.random.random(3), expected)
    b = gray_scott(sphere, steps=50)
    np.testing.assert_array_equal(a.v, b.v)
    assert not np.array_equal(a.v, gray_scott(sphere, steps=50, seed=1).v)


def test_gray_scott_time_series_follows_the_reference(sphere):
    run = gray_scott(sphere, steps=300, save_every=10)
    assert run.frames.shape == (30, sphere.n_vertices)
    np.testing.assert_array_equal(run.frame_steps, np.arange(0, 300, 10) + 1)
    np.testing.assert_allclose(run.frame_times, np.arange(0, 300, 10) / 300)
    # frame j is the state after frame_steps[j] updates
    for j in (0, 7, 29):
        np.testing.assert_array_equal(run.frames[j], gray_scott(sphere, steps=int(run.frame_steps[j])).v)
    assert gray_scott(sphere, steps=300).frames is None


def test_gray_scott_progress_and_argument_checks(sphere):
    calls = []
    gray_scott(sphere, steps=1000, progress=lambda f, msg: calls.append((f, msg)))
    assert 1 <= len(calls) <= 250
    assert calls[-1][0] == pytest.approx(1.0)
    assert all(isinstance(m, str) for _, m in calls)
    with pytest.raises(GinrError):
        gray_scott(sphere, steps=-1)
    with pytest.raises(GinrError):
        gray_scott(sphere, steps=10, save_every=0)
    with pytest.raises(GinrError, match="GINR_MAX_FRAMES"):  # refused before the first step
        gray_scott(sphere, steps=3000, save_every=1)
    with pytest.raises(GinrError, match="blew up"):
        gray_scott(sphere, steps=200, Du=5.0, Dv=5.0)


def test_gray_scott_on_the_bunny_is_finite(bunny):
    mesh = bunny
    assert mesh.n_vertices == 34_834
    run = gray_scott(mesh, steps=2000)
    assert run.v.shape == (34_834,)
    assert np.isfinite(run.v).all() and np.isfinite(run.u).all()
    assert run.v.std() > 0


@pytest.mark.parametrize("kind", ANALYTIC_SIGNALS)
def test_analytic_signals_are_deterministic_and_scale_free(sphere, kind):
    values = analytic_signal(sphere, kind)
    assert values.shape == (sphere.n_vertices,)
    assert np.isfinite(values).all() and values.std() > 0
    moved = Mesh(sphere.vertices * 7.0 + 3.0, sphere.faces)
    np.testing.assert_allclose(analytic_signal(moved, kind), values, atol=1e-9)
    validate_signal(values, sphere)


def test_analytic_signal_kinds_differ_and_unknown_kind_fails(sphere):
    rough = analytic_signal(sphere, "checker")
    assert set(np.unique(rough)) == {-1.0, 1.0}
    assert np.corrcoef(analytic_signal(sphere, "height"), sphere.vertices[:, 2])[0, 1] > 0.999
    with pytest.raises(GinrError, match="Unknown analytic signal"):
        analytic_signal(sphere, "nope")


def _npy_bytes(array, **kwargs):
    buf = io.BytesIO()
    np.save(buf, array, **kwargs)
    return buf.getvalue()


def test_load_npy_and_csv(sphere, tmp_path):
    n = sphere.n_vertices
    values = np.linspace(-1, 2, n)
    np.testing.assert_allclose(load_vertex_signal(_npy_bytes(values), "s.npy", sphere), values)
    path = tmp_path / "s.npy"
    np.save(path, values.astype(np.float32))
    np.testing.assert_allclose(load_vertex_signal(path, None, sphere), values, rtol=1e-6)

    one_col = "\n".join(f"{x:.17g}" for x in values).encode()
    np.testing.assert_allclose(load_vertex_signal(one_col, "s.csv", sphere), values)
    with_header = b"value\n" + one_col + b"\n\n"
    np.testing.assert_allclose(load_vertex_signal(with_header, "s.csv", sphere), values)

    table = np.stack([values, values**2], axis=1)
    text = "a;b\n" + "\n".join(f"{a:.17g};{b:.17g}" for a, b in table)
    loaded = load_vertex_signal(text.encode(), "t.csv", sphere)
    assert loaded.shape == (n, 2)
    np.testing.assert_allclose(loaded, table)
    np.testing.assert_allclose(load_vertex_signal(text.encode(), "t.csv", sphere, column="b"), values**2)
    np.testing.assert_allclose(load_vertex_signal(text.encode(), "t.csv", sphere, column=0), values)
    with pytest.raises(GinrError, match="no column 'c'"):
        load_vertex_signal(text.encode(), "t.csv", sphere, column="c")


@pytest.mark.parametrize(
    "data, filename, message",
    [
        (b"", "s.npy", "empty"),
        (b"\x00\x01garbage\xff" * 20, "s.npy", "not a .npy file"),
        (b"\xff\xfe\x00garbage", "s.csv", "not a text file"),
        (b"1\n2\nthree\n", "s.csv", "Could not read the numbers"),
        (b"header only\n", "s.csv", "no values"),
        (b"1,2,3", "s.json", "Unsupported signal format"),
    ],
)
def test_bad_signal_files(sphere, data, filename, message):
    with pytest.raises(GinrError, match=message):
        load_vertex_signal(data, filename, sphere)


def test_pickled_object_arrays_are_refused(sphere):
    objects = np.array([{"a": 1}] * sphere.n_vertices, dtype=object)
    with pytest.raises(GinrError, match="pickled"):
        load_vertex_signal(_npy_bytes(objects, allow_pickle=True), "s.npy", sphere)


def test_validate_signal_messages(sphere):
    n = sphere.n_vertices
    with pytest.raises(GinrError, match=f"has 1,000 values but the mesh has {n:,} vertices"):
        validate_signal(np.arange(1000.0), sphere)
    bad = np.arange(float(n))
    bad[:12] = np.nan
    bad[20] = np.inf
    with pytest.raises(GinrError, match="13 values are NaN or infinite"):
        validate_signal(bad, sphere)
    with pytest.raises(GinrError, match="constant"):
        validate_signal(np.full(n, 3.0), sphere)
    with pytest.raises(GinrError, match="empty"):
        validate_signal([], sphere)
    with pytest.raises(GinrError, match="numbers"):
        validate_signal(np.array(["a"] * n), sphere)
    with pytest.raises(GinrError, match="transposed"):
        validate_signal(np.ones((3, n)) * np.arange(n), sphere)
    ok = validate_signal(np.arange(n, dtype=np.int32), sphere)
    assert ok.dtype == np.float64 and ok.shape == (n,)
    assert validate_signal(np.arange(n)[None, :], sphere).shape == (n,)


def _mesh_with_extra_vertex():
    """A tetrahedron-like fan with one unreferenced vertex (index 2) and a per-vertex property."""
    vertices = np.array([[0, 0, 0], [1, 0, 0], [9, 9, 9], [0, 1, 0], [0, 0, 1]], dtype=float)
    faces = np.array([[0, 1, 3], [0, 3, 4], [0, 4, 1], [1, 4, 3]])
    quality = np.array([10.0, 11.0, 12.0, 13.0, 14.0])
    return Mesh(vertices, faces, vertex_data={"quality": quality})


def test_signals_follow_mesh_cleaning():
    raw = _mesh_with_extra_vertex()
    mesh, report = clean_mesh(raw)
    assert report.unreferenced_vertices == 1 and mesh.n_vertices == 4
    np.testing.assert_array_equal(vertex_property_signal(mesh, "quality"), [10.0, 11.0, 13.0, 14.0])
    # a file with one value per original vertex is mapped, one per cleaned vertex is taken as is
    np.testing.assert_array_equal(validate_signal([0.0, 1.0, np.nan, 3.0, 4.0], mesh), [0.0, 1.0, 3.0, 4.0])
    np.testing.assert_array_equal(validate_signal([5.0, 6.0, 7.0, 8.0], mesh), [5.0, 6.0, 7.0, 8.0])
    csv = b"v\n0\n1\n2\n3\n4\n"
    np.testing.assert_array_equal(load_vertex_signal(csv, "s.csv", mesh), [0.0, 1.0, 3.0, 4.0])
    with pytest.raises(GinrError, match=r"4 vertices \(5 in the original file\)"):
        validate_signal(np.arange(3.0), mesh)
    with pytest.raises(GinrError, match="no vertex property 'colour'.*quality"):
        vertex_property_signal(mesh, "colour")


def test_bunny_ply_property_is_a_signal(bunny):
    confidence = vertex_property_signal(bunny, "confidence")
    assert confidence.shape == (bunny.n_vertices,)
