"""Derived fields of a signal on a mesh: surface gradient and Laplace-Beltrami operator.

The gradient is that of the piecewise-linear function the vertex values define: constant on each triangle,
then averaged onto the vertices with the triangle areas as weights. The Laplacian is -M^-1 L u with the
intrinsic-Delaunay cotangent Laplacian L and lumped mass M of robust-laplacian (the one `laplacian.py` uses,
positive semi-definite on the degenerate triangles of real scans): it converges to the Laplace-Beltrami
operator under refinement, so gradient and Laplacian maps of two reconstructions are comparable in units of
the surface (value per mesh unit, per mesh unit squared).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..errors import GinrError
from .laplacian import mesh_laplacian
from .mesh import Mesh


def gradient_operator(mesh: Mesh) -> sp.csr_matrix:
    """Sparse (3 n, n) matrix G with (G u).reshape(3, n).T the area-weighted vertex gradients of u (n, 3).

    On a triangle with unit normal N and area A, grad u = sum_i u_i (N x e_i) / (2 A), e_i the edge opposite
    vertex i taken counter-clockwise. Degenerate triangles (zero area) are skipped.
    """
    v, f = mesh.vertices, mesh.faces
    p0, p1, p2 = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    normal = np.cross(p1 - p0, p2 - p0)
    double_area = np.linalg.norm(normal, axis=1)
    ok = double_area > 1e-14 * max(float(double_area.max(initial=0.0)), 1e-300)
    f, p0, p1, p2 = f[ok], p0[ok], p1[ok], p2[ok]
    unit = normal[ok] / double_area[ok, None]
    # per face, the gradient of each of its three hat functions: (N x e_i) / (2 A)
    hats = [np.cross(unit, edge) / double_area[ok, None] for edge in (p2 - p1, p0 - p2, p1 - p0)]
    area = 0.5 * double_area[ok]
    vertex_area = np.bincount(f.ravel(), weights=np.repeat(area, 3), minlength=mesh.n_vertices)
    vertex_area = np.where(vertex_area > 0, vertex_area, 1.0)
    rows, cols, vals = [], [], []
    for corner in range(3):  # the face gradient is spread to each of its three vertices, weighted by area
        target = f[:, corner]
        for i, hat in enumerate(hats):
            for axis in range(3):
                rows.append(axis * mesh.n_vertices + target)
                cols.append(f[:, i])
                vals.append(hat[:, axis] * area / vertex_area[target])
    n = mesh.n_vertices
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(3 * n, n))


def laplace_beltrami_operator(mesh: Mesh) -> sp.csr_matrix:
    """Sparse (n, n) matrix of the Laplace-Beltrami operator, -M^-1 L (negative semi-definite: a bump's top has
    a negative Laplacian)."""
    L, M = mesh_laplacian(mesh, "cotangent")
    mass = M.diagonal()
    mass = np.where(mass > 0, mass, 1.0)
    return (-sp.diags(1.0 / mass) @ L).tocsr()


class DerivedFields:
    """Gradient magnitude and Laplacian of any number of signals on one mesh (the operators are built once)."""

    def __init__(self, mesh: Mesh):
        self.mesh = mesh
        self.gradient = gradient_operator(mesh)
        self.laplacian = laplace_beltrami_operator(mesh)

    def _check(self, values) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64)
        if values.shape != (self.mesh.n_vertices,):
            raise GinrError(f"Derived fields need one value per vertex ({self.mesh.n_vertices:,}), got shape {values.shape}.")
        return values

    def gradient_vectors(self, values) -> np.ndarray:
        """(n, 3) surface gradient at each vertex, tangent to the surface."""
        return (self.gradient @ self._check(values)).reshape(3, -1).T

    def gradient_magnitude(self, values) -> np.ndarray:
        return np.linalg.norm(self.gradient_vectors(values), axis=1)

    def laplacian_of(self, values) -> np.ndarray:
        return self.laplacian @ self._check(values)


__all__ = ["DerivedFields", "gradient_operator", "laplace_beltrami_operator"]
