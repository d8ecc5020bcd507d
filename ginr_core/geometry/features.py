"""What a model reads at each node, as a small spec from which the features are rebuilt exactly.

A GINR reads a spectral embedding: the first k eigenvectors of a graph or cotangent Laplacian, or on a sphere
the exact spherical harmonics; a classic INR reads xyz. `FeatureSpec(kind, k).build(mesh)` is the one place
where any run's features are made, so every run of every kind can be predicted, exported and re-run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import GinrError
from .laplacian import LAPLACIANS
from .mesh import Mesh
from .spectral import Embedding, spectral_embedding
from .sphere import MAX_DEGREE, SPHERE_EMBEDDING, is_sphere, sphere_harmonic_embedding

XYZ = "xyz"
FEATURE_KINDS = (*LAPLACIANS, SPHERE_EMBEDDING, XYZ)
KIND_LABELS = {"combinatorial": "combinatorial Laplacian", "normalized": "normalised Laplacian",
               "cotangent": "cotangent Laplacian", SPHERE_EMBEDDING: "spherical harmonics (exact)", XYZ: "xyz (classic INR)"}
DEFAULT_K = 100  # the paper's embedding size
MAX_UI_K = 400  # the largest k offered in the dashboard (eigen-solves beyond take minutes)


def max_k(n_vertices: int) -> int:
    """The largest embedding a mesh of n vertices allows: the solver needs k below n, and the constant
    eigenvector plus one spare keep it well posed."""
    return max(1, n_vertices - 2)


def sh_degree(k: int) -> int:
    """The spherical-harmonic degree whose (degree + 1)^2 functions first cover k features."""
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not 1 <= k <= (MAX_DEGREE + 1) ** 2:
        raise GinrError(f"k must be an integer between 1 and {(MAX_DEGREE + 1) ** 2}, got {k!r}.")
    return int(np.ceil(np.sqrt(k))) - 1


def sh_features(mesh: Mesh, k: int) -> np.ndarray:
    """The first k real spherical harmonics (degree by degree) at the mesh's vertices."""
    return np.ascontiguousarray(sphere_harmonic_embedding(mesh, sh_degree(k)).features[:, :k])


@dataclass(frozen=True)
class FeatureSpec:
    """kind: a Laplacian in LAPLACIANS, "spherical_harmonics" (sphere domains) or "xyz"; k: the embedding size
    (None for xyz)."""

    kind: str = "combinatorial"
    k: int | None = DEFAULT_K

    def __post_init__(self):
        if self.kind not in FEATURE_KINDS:
            raise GinrError(f"Unknown features '{self.kind}'; choose one of {', '.join(FEATURE_KINDS)}.")
        if self.kind == XYZ:
            object.__setattr__(self, "k", None)
        elif not isinstance(self.k, (int, np.integer)) or isinstance(self.k, bool) or self.k < 1:
            raise GinrError(f"The embedding size k must be a positive whole number, got {self.k!r}.")
        else:
            object.__setattr__(self, "k", int(self.k))

    @property
    def input_kind(self) -> str:
        """The model input this spec feeds: "xyz" for a classic INR, "spectral" for a GINR."""
        return XYZ if self.kind == XYZ else "spectral"

    @property
    def label(self) -> str:
        return "INR (xyz)" if self.kind == XYZ else f"GINR ({self.kind}, k = {self.k})"

    def check(self, mesh: Mesh) -> None:
        """Refuse, before any work, a spec this mesh cannot give."""
        if self.kind == SPHERE_EMBEDDING:
            if not is_sphere(mesh):
                raise GinrError(f"'{mesh.name}' is not a sphere, so spherical harmonics do not apply; use a Laplacian.")
            sh_degree(self.k)
        elif self.kind != XYZ and self.k > max_k(mesh.n_vertices):
            raise GinrError(f"k = {self.k} is too large for a mesh of {mesh.n_vertices:,} vertices "
                            f"(at most {max_k(mesh.n_vertices):,}).")

    def embedding(self, mesh: Mesh, progress=None) -> Embedding:
        """The spectral embedding (cached on disk for Laplacians); not for xyz."""
        self.check(mesh)
        if self.kind == XYZ:
            raise GinrError("xyz coordinates are not a spectral embedding.")
        if self.kind == SPHERE_EMBEDDING:
            emb = sphere_harmonic_embedding(mesh, sh_degree(self.k))
            return Embedding(emb.eigenvalues[: self.k], np.ascontiguousarray(emb.features[:, : self.k]), SPHERE_EMBEDDING, self.k)
        return spectral_embedding(mesh, k=self.k, laplacian=self.kind, progress=progress)

    def build(self, mesh: Mesh, progress=None) -> np.ndarray:
        """The (n, d) features of every node of `mesh`."""
        if self.kind == XYZ:
            return mesh.vertices
        return self.embedding(mesh, progress).features

    def to_dict(self) -> dict:
        return {"kind": self.kind, "k": self.k}

    @classmethod
    def from_dict(cls, data: dict) -> FeatureSpec:
        return cls(data.get("kind", "combinatorial"), data.get("k", DEFAULT_K))
