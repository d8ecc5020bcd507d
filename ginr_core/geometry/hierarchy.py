"""A mesh at several resolutions, each coarse level read back at the finest vertices: the geometry of a
multiresolution feature encoding (MeshFeat, Mahajan, Hofherr & Cremers, ECCV 2024).

Why: a table of learnable features per vertex fits any signal on the mesh, but a vertex whose value is never seen
(a held-out node) learns nothing from it. Tables on coarser versions of the same surface are shared by the fine
vertices around each coarse one, so they carry the signal's broad shape to every vertex, seen or not, and the
finest table only adds the detail. Coarse levels come from quadric decimation (VTK's, through pyvista, which the
views already need): it keeps the shape of the surface with far fewer vertices, each level decimated from the
mesh itself to `1 / reduction` of its vertices. A coarse level's values reach the fine vertices by barycentric
interpolation at the closest point of the coarse surface (resampling.barycentric_operator): three weights per
row, non-negative and summing to 1, exact for a function linear on the coarse triangle, and cheap to apply
(a gather of three rows per vertex).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..errors import GinrError
from .laplacian import mesh_laplacian
from .mesh import Mesh
from .resampling import barycentric_operator, vtk_surface

DEFAULT_REDUCTIONS = (4, 16, 64)  # each coarse level has 1/4, 1/16, 1/64 of the mesh's vertices
MIN_LEVEL_VERTICES = 8  # a coarser level than this says nothing about the shape


@dataclass(frozen=True)
class MeshHierarchy:
    """The levels of one mesh: `interpolation[i]` (n_vertices x level_sizes[i], CSR) reads coarse level i's values
    at the mesh's vertices; the mesh's own vertices are the finest level and need no matrix. `laplacian` is the
    mesh's combinatorial graph Laplacian (n_vertices x n_vertices): how smooth values on the finest level are."""

    n_vertices: int
    level_sizes: tuple[int, ...]
    interpolation: tuple[sp.csr_matrix, ...]
    laplacian: sp.csr_matrix

    def padded(self, level: int) -> tuple[np.ndarray, np.ndarray]:
        """(indices, weights), both (n_vertices, w): the coarse vertices each vertex reads at `level` and their
        weights, w the most a row holds (3; a shorter row is padded with vertex 0 at weight 0), for a gather."""
        matrix = self.interpolation[level]
        counts = np.diff(matrix.indptr)
        rows = np.repeat(np.arange(self.n_vertices), counts)
        slot = np.arange(matrix.nnz) - np.repeat(matrix.indptr[:-1], counts)
        indices = np.zeros((self.n_vertices, int(counts.max(initial=1))), dtype=np.int64)
        weights = np.zeros(indices.shape)
        indices[rows, slot] = matrix.indices
        weights[rows, slot] = matrix.data
        return indices, weights


def decimate(mesh: Mesh, reduction: float) -> Mesh:
    """`mesh` with about 1 / `reduction` of its vertices, by VTK's quadric decimation."""
    if reduction <= 1:
        raise GinrError(f"A coarser level needs a reduction above 1, got {reduction:g}.")
    coarse = vtk_surface(mesh).decimate(1.0 - 1.0 / reduction)
    faces = coarse.faces.reshape(-1, 4)[:, 1:]
    if coarse.n_points < MIN_LEVEL_VERTICES or not len(faces):
        raise GinrError(f"Decimating {mesh.n_vertices:,} vertices {reduction:g}-fold leaves too few "
                        f"({coarse.n_points}) to describe the surface; use fewer or smaller reductions.")
    return Mesh(np.asarray(coarse.points), faces, name=f"{mesh.name} / {reduction:g}")


def mesh_hierarchy(mesh: Mesh, reductions=DEFAULT_REDUCTIONS) -> MeshHierarchy:
    """The coarse levels of `mesh` (one per reduction, each decimated from the mesh), their interpolation
    matrices onto its vertices and its graph Laplacian."""
    levels = [decimate(mesh, r) for r in reductions]
    matrices = tuple(barycentric_operator(level, mesh.vertices)[0].tocsr() for level in levels)
    for matrix in matrices:
        matrix.sort_indices()
    return MeshHierarchy(mesh.n_vertices, tuple(level.n_vertices for level in levels), matrices,
                         mesh_laplacian(mesh)[0].tocsr())
