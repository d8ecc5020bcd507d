import numpy as np
import pytest

from ginr_core.geometry.domains import icosphere, latlon_sphere, square_grid
from ginr_core.geometry.laplacian import mesh_laplacian


@pytest.mark.parametrize("kind", ["combinatorial", "normalized", "cotangent"])
def test_laplacians_are_symmetric_psd_with_constant_null_space(kind):
    mesh = icosphere(2)
    L, M = mesh_laplacian(mesh, kind)
    dense = L.toarray()
    np.testing.assert_allclose(dense, dense.T, atol=1e-12)
    assert np.linalg.eigvalsh(dense).min() > -1e-10
    ones = np.ones(mesh.n_vertices)
    if kind == "normalized":  # null vector is D^1/2 1
        ones = np.sqrt(np.asarray(mesh.adjacency().sum(axis=1)).ravel())
    np.testing.assert_allclose(L @ ones, 0, atol=1e-10)
    assert (M is None) == (kind != "cotangent")


def test_combinatorial_laplacian_is_degree_minus_adjacency():
    mesh = square_grid(4)
    L, _ = mesh_laplacian(mesh)
    A = mesh.adjacency().toarray()
    np.testing.assert_array_equal(L.toarray(), np.diag(A.sum(1)) - A)


def test_cotangent_mass_matrix_sums_to_surface_area():
    _, M = mesh_laplacian(latlon_sphere(91, 180), "cotangent")
    assert abs(M.diagonal().sum() - 4 * np.pi) < 0.01


def test_unknown_laplacian():
    with pytest.raises(ValueError, match="Unknown Laplacian"):
        mesh_laplacian(icosphere(1), "spectral")
