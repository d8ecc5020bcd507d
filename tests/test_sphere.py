import numpy as np
import pytest
from scipy.special import roots_legendre

from ginr_core.errors import GinrError
from ginr_core.geometry.domains import icosphere, latlon_sphere, torus
from ginr_core.geometry.laplacian import mesh_laplacian
from ginr_core.geometry.mesh import Mesh
from ginr_core.geometry.spectral import Embedding
from ginr_core.geometry.sphere import (
    is_sphere,
    random_sh_field,
    real_sph_harm,
    sh_index,
    sphere_center,
    sphere_harmonic_embedding,
)


def _gauss_grid(degree):
    """Points and weights integrating products of two degree-`degree` harmonics exactly over the sphere."""
    x, w = roots_legendre(degree + 1)
    phi = np.arange(2 * degree + 2) * (2 * np.pi / (2 * degree + 2))
    ct, ph = np.meshgrid(x, phi, indexing="ij")
    st = np.sqrt(1 - ct**2)
    xyz = np.stack([st * np.cos(ph), st * np.sin(ph), ct], -1).reshape(-1, 3)
    weights = np.repeat(w, len(phi)) * (2 * np.pi / len(phi))
    return xyz, weights


@pytest.mark.parametrize("degree", [6, 40])
def test_real_harmonics_are_orthonormal(degree):
    xyz, w = _gauss_grid(degree)
    Y = real_sph_harm(xyz, degree)
    assert Y.shape == (len(xyz), (degree + 1) ** 2)
    gram = Y.T @ (w[:, None] * Y)
    np.testing.assert_allclose(gram, np.eye(len(gram)), atol=1e-9)


def test_addition_theorem_holds_at_high_degree():
    # sum_m Y_lm(x)^2 = (2l + 1) / (4 pi) at every point: checks every band, whatever the sign convention
    rng = np.random.default_rng(0)
    xyz = rng.standard_normal((500, 3)) * 3.0  # not unit: directions are normalised
    Y = real_sph_harm(xyz, 60)
    for l in (0, 1, 17, 60):
        band = Y[:, l * l : (l + 1) ** 2]
        np.testing.assert_allclose((band**2).sum(axis=1), (2 * l + 1) / (4 * np.pi), rtol=1e-9)


def test_low_degree_harmonics_have_the_textbook_form():
    rng = np.random.default_rng(1)
    xyz = rng.standard_normal((50, 3))
    xyz /= np.linalg.norm(xyz, axis=1, keepdims=True)
    x, y, z = xyz.T
    Y = real_sph_harm(xyz, 2)
    c1 = np.sqrt(3 / (4 * np.pi))
    np.testing.assert_allclose(Y[:, sh_index(0, 0)], np.sqrt(1 / (4 * np.pi)))
    np.testing.assert_allclose(Y[:, sh_index(1, 0)], c1 * z)
    np.testing.assert_allclose(Y[:, sh_index(1, 1)], c1 * x)
    np.testing.assert_allclose(Y[:, sh_index(1, -1)], c1 * y)
    np.testing.assert_allclose(Y[:, sh_index(2, 0)], np.sqrt(5 / (16 * np.pi)) * (3 * z**2 - 1))


def test_harmonics_are_eigenfunctions_of_the_cotangent_laplacian():
    degree = 4
    ls = np.repeat(np.arange(degree + 1), 2 * np.arange(degree + 1) + 1)
    errors = []
    for level in (3, 4):
        mesh = icosphere(level)
        L, M = mesh_laplacian(mesh, "cotangent")
        Y = real_sph_harm(mesh.vertices, degree)
        rayleigh = np.einsum("ij,ij->j", Y, L @ Y) / np.einsum("ij,ij->j", Y, M @ Y)
        errors.append(np.abs(rayleigh - ls * (ls + 1)).max())
    np.testing.assert_allclose(rayleigh, ls * (ls + 1), rtol=0.02, atol=1e-8)
    assert errors[1] < errors[0] / 2  # and they converge as the mesh is refined


def test_is_sphere():
    assert is_sphere(icosphere(2))
    assert is_sphere(latlon_sphere(19, 36))
    shifted = Mesh(icosphere(2).vertices * 3 + [1.0, -2.0, 0.5], icosphere(2).faces)
    assert is_sphere(shifted)
    np.testing.assert_allclose(sphere_center(shifted), [1.0, -2.0, 0.5], atol=1e-9)
    assert not is_sphere(torus(24, 12))
    squashed = Mesh(icosphere(2).vertices * [1.0, 1.0, 0.9], icosphere(2).faces)
    assert not is_sphere(squashed)


def test_sphere_embedding_shape_order_and_scale():
    mesh = latlon_sphere(61, 120)
    emb = sphere_harmonic_embedding(mesh, 9)
    assert isinstance(emb, Embedding) and emb.k == 100 and emb.laplacian == "spherical_harmonics"
    features, eigenvalues = emb.features, emb.eigenvalues
    assert features.shape == (mesh.n_vertices, 100) and emb.n_vertices == mesh.n_vertices
    assert np.all(np.diff(eigenvalues) >= 0)
    np.testing.assert_array_equal(np.unique(eigenvalues), [l * (l + 1) for l in range(10)])
    np.testing.assert_allclose(features[:, 0], 1.0)
    # mean square 1 over the sphere (area-weighted by cos(latitude) on the grid)
    w = np.cos(np.deg2rad(mesh.vertex_data["lat"]))
    mean_square = (w[:, None] * features**2).sum(axis=0) / w.sum()
    np.testing.assert_allclose(mean_square, 1.0, atol=0.05)
    # exact at any resolution: a node shared by two grids gets the same features
    coarse = sphere_harmonic_embedding(latlon_sphere(31, 60), 9).features
    np.testing.assert_allclose(coarse[5 * 60 + 7], features[10 * 120 + 14], atol=1e-12)


def test_sphere_embedding_and_field_refuse_other_shapes():
    with pytest.raises(GinrError, match="not a sphere"):
        sphere_harmonic_embedding(torus(24, 12), 3)
    with pytest.raises(GinrError, match="not a sphere"):
        random_sh_field(torus(24, 12))
    with pytest.raises(GinrError):
        real_sph_harm(np.zeros((3, 3)), 2)


def test_random_field_is_reproducible_smooth_and_mesh_independent():
    mesh = icosphere(4)
    a = random_sh_field(mesh, max_degree=8, seed=3)
    np.testing.assert_array_equal(a, random_sh_field(mesh, max_degree=8, seed=3))
    assert not np.allclose(a, random_sh_field(mesh, max_degree=8, seed=4))
    assert a.shape == (mesh.n_vertices,) and np.isfinite(a).all() and a.std() > 0.1
    # icosphere(3)'s vertices are the first ones of icosphere(4): same field there
    coarse = icosphere(3)
    np.testing.assert_allclose(coarse.vertices, mesh.vertices[: coarse.n_vertices], atol=1e-12)
    np.testing.assert_allclose(random_sh_field(coarse, max_degree=8, seed=3), a[: coarse.n_vertices], atol=1e-10)
    # zero mean and only degrees 1..8: orthogonal to Y_00 and to degree 9
    xyz, w = _gauss_grid(10)
    sphere_points = Mesh(xyz, np.array([[0, 1, 2]]))
    field = random_sh_field(sphere_points, max_degree=8, seed=3)
    coefficients = real_sph_harm(xyz, 10).T @ (w * field)
    assert abs(coefficients[0]) < 1e-9
    np.testing.assert_allclose(coefficients[81:], 0.0, atol=1e-9)
    assert np.abs(coefficients[1:81]).max() > 0.01
