"""Graph and surface Laplacians of a mesh.

Each builder returns `(L, M)`: a symmetric positive semi-definite sparse `L` and the mass matrix `M` of
the eigenproblem `L u = lambda M u` (`None` for the graph Laplacians, where M = I).

- `combinatorial`: L = D - A on the unweighted mesh graph (the paper's choice).
- `normalized`: L = I - D^-1/2 A D^-1/2.
- `cotangent`: the intrinsic-Delaunay cotangent Laplacian with a lumped mass matrix, from
  robust-laplacian (Sharp & Crane 2020). We use that library rather than our own cotan formula because it
  stays positive semi-definite and well conditioned on the degenerate and non-manifold triangles that real
  scans and uploads contain; it discretises the Laplace-Beltrami operator, so its eigenvectors converge
  as a mesh is refined (what super-resolution needs), unlike the graph Laplacians.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .mesh import Mesh

LAPLACIANS = ("combinatorial", "normalized", "cotangent")


def graph_laplacian(adjacency: sp.spmatrix, kind: str = "combinatorial") -> sp.csr_matrix:
    """Combinatorial (D - A) or symmetric normalised (I - D^-1/2 A D^-1/2) Laplacian of an adjacency."""
    a = sp.csr_matrix(adjacency, dtype=np.float64)
    deg = np.asarray(a.sum(axis=1)).ravel()
    if kind == "combinatorial":
        return (sp.diags(deg) - a).tocsr()
    if kind == "normalized":
        with np.errstate(divide="ignore"):
            d = np.where(deg > 0, deg**-0.5, 0.0)
        dm = sp.diags(d)
        return (sp.eye(a.shape[0]) - dm @ a @ dm).tocsr()
    raise ValueError(f"Unknown graph Laplacian '{kind}'; choose combinatorial or normalized.")


def mesh_laplacian(mesh: Mesh, kind: str = "combinatorial") -> tuple[sp.csr_matrix, sp.csr_matrix | None]:
    """Laplacian of `kind` (one of LAPLACIANS) and its mass matrix (None when it is the identity)."""
    if kind in ("combinatorial", "normalized"):
        return graph_laplacian(mesh.adjacency(), kind), None
    if kind == "cotangent":
        import robust_laplacian

        L, M = robust_laplacian.mesh_laplacian(mesh.vertices, mesh.faces)
        return sp.csr_matrix(L), sp.csr_matrix(M)
    raise ValueError(f"Unknown Laplacian '{kind}'; choose one of {', '.join(LAPLACIANS)}.")
