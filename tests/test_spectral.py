"""Laplacian eigenpairs and spectral embeddings: accuracy, conventions, cache and errors."""

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import trimesh

from ginr_core.errors import GinrError
from ginr_core.geometry import spectral
from ginr_core.geometry.laplacian import graph_laplacian, mesh_laplacian
from ginr_core.geometry.mesh import Mesh, load_mesh
from ginr_core.geometry.spectral import Embedding, eigenpairs, spectral_embedding

BUNNY = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "bunny.ply"


def torus(rows: int = 30, cols: int = 20) -> Mesh:
    """A triangulated torus: closed and connected; its symmetry repeats eigenvalues up to 6 times (30x20),
    more than the solver's block size, which the solver must notice (it then retries a larger block)."""
    i, j = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    u, v = 2 * np.pi * i.ravel() / rows, 2 * np.pi * j.ravel() / cols
    vertices = np.stack([(3 + np.cos(v)) * np.cos(u), (3 + np.cos(v)) * np.sin(u), 1.3 * np.sin(v)], axis=1)
    index = lambda a, b: (a % rows) * cols + (b % cols)  # noqa: E731
    quads = [(index(a, b), index(a + 1, b), index(a + 1, b + 1), index(a, b + 1)) for a in range(rows) for b in range(cols)]
    faces = [f for q in quads for f in ((q[0], q[1], q[2]), (q[0], q[2], q[3]))]
    return Mesh(vertices, np.array(faces), name="torus")


def icosphere(subdivisions: int = 3) -> Mesh:
    sphere = trimesh.creation.icosphere(subdivisions=subdivisions)
    return Mesh(sphere.vertices, sphere.faces, name="icosphere")


@pytest.fixture(autouse=True)
def single_threaded_blas():
    """The dense reference solutions below use BLAS too: on a busy 2-core machine its threads, waiting
    for each other, made a 600 x 600 eigh take seconds instead of milliseconds."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture
def krylov(monkeypatch):
    """Send even small problems through the shift-invert Lanczos path (not the dense shortcut)."""
    monkeypatch.setattr(spectral, "DENSE_LIMIT", 0)


@pytest.fixture(params=["cholmod", "superlu"])
def factorization(request, monkeypatch):
    """Run a test with each sparse factorisation (cholespy when installed, and SuperLU)."""
    if request.param == "cholmod" and spectral.cholespy is None:
        pytest.skip("cholespy is not installed")
    if request.param == "superlu":
        monkeypatch.setattr(spectral, "cholespy", None)
    return request.param


def residuals(L, values, vectors, M=None):
    Mv = vectors if M is None else M @ vectors
    return np.linalg.norm(L @ vectors - Mv * values, axis=0)


def subspace_gap(A: np.ndarray, B: np.ndarray) -> float:
    """Largest sine of the principal angles between the column spans of orthonormal A and B."""
    return float(np.linalg.norm(A - B @ (B.T @ A), 2))


@pytest.mark.parametrize("kind", ["combinatorial", "normalized"])
def test_graph_laplacian_eigenpairs(kind, krylov, factorization):
    L, _ = mesh_laplacian(torus(), kind)
    k = 24
    values, vectors = eigenpairs(L, k)
    assert values.shape == (k,) and vectors.shape == (L.shape[0], k)
    assert residuals(L, values, vectors).max() < 1e-8
    assert np.abs(vectors.T @ vectors - np.eye(k)).max() < 1e-10
    assert np.all(np.diff(values) >= -1e-12)
    assert abs(values[0]) < 1e-10  # connected graph: one zero eigenvalue
    assert values[1] > 1e-4
    dense = np.linalg.eigh(L.toarray())[0][:k]
    np.testing.assert_allclose(values, dense, rtol=0, atol=1e-10)


def test_cotangent_generalised_problem(krylov, factorization):
    mesh = icosphere(3)
    L, M = mesh_laplacian(mesh, "cotangent")
    k = 20
    values, vectors = eigenpairs(L, k, M)
    scale = abs(L).sum(axis=1).max()
    assert residuals(L, values, vectors, M).max() < 1e-10 * scale
    assert np.abs(vectors.T @ (M @ vectors) - np.eye(k)).max() < 1e-10  # M-orthonormal
    # Same eigenvalues as the dense symmetric form M^-1/2 L M^-1/2.
    d = 1 / np.sqrt(M.diagonal())
    dense = np.linalg.eigh(d[:, None] * L.toarray() * d[None, :])[0][:k]
    np.testing.assert_allclose(values, dense, rtol=1e-9, atol=1e-9 * scale)


def test_repeated_eigenvalues_give_the_whole_eigenspace(krylov):
    """On a sphere eigenvalues come in clusters; cut at a gap, the span must match the dense one."""
    L, _ = mesh_laplacian(icosphere(3), "combinatorial")
    values_all, vectors_all = np.linalg.eigh(L.toarray())
    gaps = np.flatnonzero(np.diff(values_all[:40]) > 1e-3) + 1
    k = int(gaps[gaps >= 12][0])  # just after a cluster, 12 or more vectors in
    assert np.diff(values_all[:k]).min() < 1e-8  # the test needs a repeated eigenvalue inside
    values, vectors = eigenpairs(L, k)
    np.testing.assert_allclose(values, values_all[:k], atol=1e-10)
    assert subspace_gap(vectors, vectors_all[:, :k]) < 1e-8
    assert np.abs(vectors.T @ vectors - np.eye(k)).max() < 1e-10


def test_dense_path_for_small_matrices():
    L, _ = mesh_laplacian(torus(12, 10), "combinatorial")
    values, vectors = eigenpairs(L, 8)
    np.testing.assert_allclose(values, np.linalg.eigh(L.toarray())[0][:8], atol=1e-10)
    assert residuals(L, values, vectors).max() < 1e-10


def test_invariant_krylov_space_is_handled(krylov):
    """The complete graph has two distinct eigenvalues, so the Krylov space closes after one step."""
    n = 200
    L = graph_laplacian(sp.csr_matrix(np.ones((n, n)) - np.eye(n)))
    values, vectors = eigenpairs(L, 6)
    np.testing.assert_allclose(values, [0, n, n, n, n, n], atol=1e-8)
    assert residuals(L, values, vectors).max() < 1e-8
    assert np.abs(vectors.T @ vectors - np.eye(6)).max() < 1e-10


def test_thick_restart_when_the_basis_is_capped(krylov, monkeypatch):
    L, _ = mesh_laplacian(torus(), "combinatorial")
    monkeypatch.setattr(spectral, "BASIS_BYTES", 8 * L.shape[0] * 40)  # room for 40 vectors only
    values, vectors = eigenpairs(L, 16)
    np.testing.assert_allclose(values, np.linalg.eigh(L.toarray())[0][:16], atol=1e-10)
    assert residuals(L, values, vectors).max() < 1e-8


def test_signs_are_deterministic(krylov):
    L, _ = mesh_laplacian(icosphere(3), "combinatorial")
    first = eigenpairs(L, 16)[1]
    second = eigenpairs(L.copy(), 16)[1]
    np.testing.assert_array_equal(first, second)
    # A flipped input vector set is flipped back by the convention.
    np.testing.assert_array_equal(spectral.fix_signs(-first), first)


def test_progress_reports_fractions_in_order(krylov):
    L, _ = mesh_laplacian(torus(), "combinatorial")
    calls = []
    eigenpairs(L, 10, progress=lambda fraction, message: calls.append((fraction, message)))
    fractions = [f for f, _ in calls]
    assert fractions == sorted(fractions) and 0 <= fractions[0] and fractions[-1] == 1.0
    assert all(isinstance(message, str) and message for _, message in calls)


@pytest.mark.parametrize("kind", ["combinatorial", "normalized"])
def test_embedding_graph_scaling(kind, tmp_path, monkeypatch):
    monkeypatch.setenv("GINR_CACHE_DIR", str(tmp_path))
    mesh = torus()
    embedding = spectral_embedding(mesh, k=12, laplacian=kind, cache=False)
    values, vectors = eigenpairs(mesh_laplacian(mesh, kind)[0], 12)
    assert isinstance(embedding, Embedding) and embedding.k == 12 and embedding.laplacian == kind
    np.testing.assert_allclose(embedding.features, vectors * np.sqrt(mesh.n_vertices))
    np.testing.assert_allclose((embedding.features**2).mean(axis=0), 1.0)
    np.testing.assert_allclose(embedding.eigenvalues, values)


def test_embedding_cotangent_scaling_is_resolution_independent(tmp_path, monkeypatch):
    """Area-weighted mean square 1, and about the same feature sizes on a finer sphere."""
    monkeypatch.setenv("GINR_CACHE_DIR", str(tmp_path))
    coarse = spectral_embedding(icosphere(3), k=4, laplacian="cotangent", cache=False)
    fine = spectral_embedding(icosphere(4), k=4, laplacian="cotangent", cache=False)
    for mesh, embedding in ((icosphere(3), coarse), (icosphere(4), fine)):
        area = mesh_laplacian(mesh, "cotangent")[1].diagonal()
        np.testing.assert_allclose(area @ embedding.features**2 / area.sum(), 1.0)
    # The first eigenvector is constant: 1 at every vertex whatever the resolution.
    np.testing.assert_allclose(np.abs(coarse.features[:, 0]), 1.0, rtol=1e-8)
    np.testing.assert_allclose(np.abs(fine.features[:, 0]), 1.0, rtol=1e-8)
    np.testing.assert_allclose(np.abs(fine.features).max(axis=0), np.abs(coarse.features).max(axis=0), rtol=0.05)


def test_cache_hit_skips_the_solver(tmp_path, monkeypatch):
    monkeypatch.setenv("GINR_CACHE_DIR", str(tmp_path))
    mesh = torus()
    first = spectral_embedding(mesh, k=10)
    files = list((tmp_path / "embeddings").glob("*.npz"))
    assert len(files) == 1

    def no_solver(*args, **kwargs):
        raise AssertionError("the solver ran although the embedding is cached")

    monkeypatch.setattr(spectral, "eigenpairs", no_solver)
    calls = []
    second = spectral_embedding(mesh, k=10, progress=lambda f, m: calls.append(f))
    np.testing.assert_array_equal(second.features, first.features)
    np.testing.assert_array_equal(second.eigenvalues, first.eigenvalues)
    assert calls[-1] == 1.0
    # Another k, another Laplacian or no cache each need the solver.
    for kwargs in ({"k": 11}, {"k": 10, "laplacian": "normalized"}, {"k": 10, "cache": False}):
        with pytest.raises(AssertionError, match="solver ran"):
            spectral_embedding(mesh, **kwargs)


def test_corrupt_cache_file_is_recomputed(tmp_path, monkeypatch):
    monkeypatch.setenv("GINR_CACHE_DIR", str(tmp_path))
    mesh = torus()
    reference = spectral_embedding(mesh, k=10)
    (path,) = (tmp_path / "embeddings").glob("*.npz")
    for damage in (b"not a zip file", path.read_bytes()[:200]):
        path.write_bytes(damage)
        again = spectral_embedding(mesh, k=10)
        np.testing.assert_array_equal(again.features, reference.features)
        with np.load(path) as data:  # rewritten whole
            np.testing.assert_array_equal(data["features"], reference.features)
    assert not list((tmp_path / "embeddings").glob("*.tmp"))


def test_cache_file_of_the_wrong_shape_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setenv("GINR_CACHE_DIR", str(tmp_path))
    mesh = torus()
    reference = spectral_embedding(mesh, k=10)
    (path,) = (tmp_path / "embeddings").glob("*.npz")
    np.savez(path, eigenvalues=np.zeros(10), features=np.zeros((5, 10)), laplacian=np.array("combinatorial"), k=np.array(10))
    np.testing.assert_array_equal(spectral_embedding(mesh, k=10).features, reference.features)


@pytest.mark.parametrize("k", [0, -3, 600, 601, 2.5, True])
def test_bad_k_raises(k):
    L, _ = mesh_laplacian(torus(), "combinatorial")  # 600 vertices
    with pytest.raises(GinrError, match="k"):
        eigenpairs(L, k)


def test_embedding_rejects_k_at_least_n_and_unknown_laplacian():
    mesh = torus(12, 10)
    with pytest.raises(GinrError, match="120 vertices"):
        spectral_embedding(mesh, k=120, cache=False)
    with pytest.raises(GinrError, match="Unknown Laplacian"):
        spectral_embedding(mesh, k=5, laplacian="spectral", cache=False)


def test_invalid_matrices_raise():
    L, M = mesh_laplacian(icosphere(2), "cotangent")
    n = L.shape[0]
    with pytest.raises(GinrError, match="square"):
        eigenpairs(sp.random(10, 12, density=0.5, format="csr"), 3)
    with pytest.raises(GinrError, match="symmetric"):
        eigenpairs(L + sp.random(n, n, density=0.01, random_state=0), 3)
    bad = L.copy()
    bad.data[0] = np.nan
    with pytest.raises(GinrError, match="NaN"):
        eigenpairs(bad, 3)
    with pytest.raises(GinrError, match="diagonal"):
        eigenpairs(L, 3, M + sp.eye(n, k=1) + sp.eye(n, k=-1))
    with pytest.raises(GinrError, match="positive"):
        eigenpairs(L, 3, -M)
    with pytest.raises(GinrError, match="entries"):
        eigenpairs(L, 3, np.ones(n - 1))
    with pytest.raises(GinrError, match="zero"):
        eigenpairs(sp.csr_matrix((n, n)), 3)


@pytest.mark.parametrize("dense", [True, False])
def test_negative_definite_matrix_raises(dense, monkeypatch, factorization):
    if not dense:
        monkeypatch.setattr(spectral, "DENSE_LIMIT", 0)
    L, _ = mesh_laplacian(torus(), "combinatorial")
    with pytest.raises(GinrError, match="positive semi-definite"):
        eigenpairs(-L, 10)


@pytest.mark.skipif(not BUNNY.is_file(), reason="../shared/data/bunny.ply is not available")
def test_bunny_k100_residuals():
    mesh, _ = load_mesh(BUNNY)
    L, _ = mesh_laplacian(mesh, "combinatorial")
    values, vectors = eigenpairs(L, 100)
    assert residuals(L, values, vectors).max() < 1e-8
    assert np.abs(vectors.T @ vectors - np.eye(100)).max() < 1e-9
    assert abs(values[0]) < 1e-10 and np.all(np.diff(values) >= -1e-12)
