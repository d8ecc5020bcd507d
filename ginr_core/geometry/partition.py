"""Partitions of a domain's nodes into parts, for croppable (Local-Global) neural fields.

Each node has one home part (`labels`); with `overlap` > 0 a node within that many mesh-graph hops of
another part also feeds that part's local network (the overlapping coordinates of Local-Global SIRENs,
which soften the seams between parts). `members[i]` lists the parts node i feeds, home part first,
padded with -1.

Methods:
- "spectral": k-means on the first few Laplacian eigenvectors (spectral clustering): parts follow the
  surface, so an ear and the head it touches in space fall apart where the surface is thin.
- "xyz": k-means on the vertex coordinates.
- "latlon": latitude-longitude tiles on a sphere (n_lat x n_lon tiles, about twice as many in longitude).
Every method is deterministic for a seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.spatial.distance import cdist

from ..errors import GinrError
from .mesh import Mesh
from .sphere import sphere_center

PARTITION_METHODS = ("spectral", "xyz", "latlon")
KMEANS_ITERATIONS = 100


@dataclass(frozen=True, eq=False)
class Partition:
    """Which part each node belongs to (`labels`, (n,)) and which parts it feeds (`members`, (n, m), -1 padded)."""

    labels: np.ndarray
    members: np.ndarray
    method: str = "spectral"
    overlap: int = 0
    seed: int = 0

    @property
    def n_parts(self) -> int:
        return int(self.labels.max()) + 1

    @property
    def n_nodes(self) -> int:
        return len(self.labels)

    def sizes(self) -> np.ndarray:
        """Home nodes per part."""
        return np.bincount(self.labels, minlength=self.n_parts)

    def check_parts(self, parts) -> list[int]:
        """`parts` as a sorted list of distinct part ids of this partition (a GinrError names any unknown one)."""
        parts = sorted({int(p) for p in parts})
        unknown = [p for p in parts if not 0 <= p < self.n_parts]
        if unknown:
            raise GinrError(f"No part {unknown[0]}: this partition has parts 0 to {self.n_parts - 1}.")
        return parts

    def kept_nodes(self, removed) -> np.ndarray:
        """Boolean mask of the nodes whose home part is not in `removed` (the domain left after a crop)."""
        return ~np.isin(self.labels, self.check_parts(removed))

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The arrays to store with a run (see `from_arrays`)."""
        return {"part_labels": self.labels, "part_members": self.members,
                "part_settings": np.array([PARTITION_METHODS.index(self.method), self.overlap, self.seed])}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> Partition:
        method, overlap, seed = (int(v) for v in arrays["part_settings"])
        return cls(arrays["part_labels"], arrays["part_members"], PARTITION_METHODS[method], overlap, seed)


def partition_mesh(
    mesh: Mesh,
    n_parts: int,
    method: str = "spectral",
    *,
    features: np.ndarray | None = None,
    overlap: int = 0,
    seed: int = 0,
) -> Partition:
    """Split the mesh's nodes into `n_parts` parts with `method` (see the module docstring).

    "spectral" needs the spectral embedding as `features` (its first n_parts + 1 columns are clustered).
    Parts that come out empty (latitude tiles with no grid node) are dropped and the rest renumbered.
    """
    n = mesh.n_vertices
    if method not in PARTITION_METHODS:
        raise GinrError(f"Unknown partition method {method!r}; use one of {', '.join(PARTITION_METHODS)}.")
    if not 1 <= n_parts <= n:
        raise GinrError(f"The number of parts must be between 1 and the number of nodes ({n:,}), got {n_parts}.")
    if overlap < 0:
        raise GinrError("The overlap is a number of mesh-graph hops: 0 or more.")
    if method == "spectral":
        if features is None or len(features) != n:
            raise GinrError("Spectral partitions need the mesh's spectral embedding (one row per node).")
        labels = kmeans(np.asarray(features, dtype=np.float64)[:, : n_parts + 1], n_parts, seed)
    elif method == "xyz":
        labels = kmeans(mesh.vertices, n_parts, seed)
    else:
        labels = latlon_tiles(mesh, n_parts)
    labels = np.unique(labels, return_inverse=True)[1].astype(np.int64)  # drop empty parts
    return Partition(labels, overlapping_members(mesh, labels, overlap), method, overlap, seed)


def kmeans(points: np.ndarray, n_clusters: int, seed: int = 0, iterations: int = KMEANS_ITERATIONS) -> np.ndarray:
    """Lloyd's k-means with k-means++ seeding; a cluster that empties is re-seeded at the worst-fitted point.

    Returns one label per point. Deterministic for a seed (numpy's default generator).
    """
    rng = np.random.default_rng(seed)
    points = np.asarray(points, dtype=np.float64)
    n = len(points)
    centres = np.empty((n_clusters, points.shape[1]))
    centres[0] = points[rng.integers(n)]
    nearest = cdist(points, centres[:1], "sqeuclidean")[:, 0]
    for c in range(1, n_clusters):
        total = nearest.sum()
        pick = rng.choice(n, p=nearest / total) if total > 0 else rng.integers(n)
        centres[c] = points[pick]
        nearest = np.minimum(nearest, cdist(points, centres[c : c + 1], "sqeuclidean")[:, 0])
    labels = np.full(n, -1)
    for _ in range(iterations):
        distances = cdist(points, centres, "sqeuclidean")  # single-threaded C: BLAS threads thrash on a busy CPU
        new = distances.argmin(axis=1)
        for empty in np.flatnonzero(np.bincount(new, minlength=n_clusters) == 0):
            worst = distances[np.arange(n), new].argmax()
            new[worst] = empty
            distances[worst] = -np.inf  # not picked twice
        if np.array_equal(new, labels):
            break
        labels = new
        counts = np.bincount(labels, minlength=n_clusters)
        centres = np.stack([np.bincount(labels, weights=column, minlength=n_clusters) for column in points.T], axis=1)
        centres /= counts[:, None]
    return labels


def latlon_tiles(mesh: Mesh, n_parts: int) -> np.ndarray:
    """Latitude-longitude tiles of a sphere: n_parts = n_lat x n_lon with n_lon / n_lat as close to 2 as the
    divisors of n_parts allow (a prime n_parts gives longitude slices)."""
    centre = sphere_center(mesh)
    if centre is None:
        raise GinrError(f"'{mesh.name}' is not a sphere: latitude-longitude tiles need a sphere domain.")
    n_lat = min((d for d in range(1, n_parts + 1) if n_parts % d == 0), key=lambda d: abs(np.log(n_parts / d**2 / 2)))
    n_lon = n_parts // n_lat
    v = mesh.vertices - centre
    lat = np.arcsin(np.clip(v[:, 2] / np.linalg.norm(v, axis=1), -1, 1))  # -pi/2 .. pi/2
    lon = np.arctan2(v[:, 1], v[:, 0])  # -pi .. pi
    row = np.minimum(((lat + np.pi / 2) / np.pi * n_lat).astype(int), n_lat - 1)
    col = np.minimum(((lon + np.pi) / (2 * np.pi) * n_lon).astype(int), n_lon - 1)
    return row * n_lon + col


def overlapping_members(mesh: Mesh, labels: np.ndarray, hops: int) -> np.ndarray:
    """(n, m) parts each node feeds: its home part first, then (ascending) every part with a node within `hops`
    mesh-graph hops; -1 padded to the widest row."""
    n, n_parts = len(labels), int(labels.max()) + 1
    if hops == 0:
        return labels.reshape(-1, 1).copy()
    home = sp.csr_matrix((np.ones(n), (np.arange(n), labels)), shape=(n, n_parts))
    step = (mesh.adjacency() + sp.identity(n, format="csr")).tocsr()
    reach = home
    for _ in range(hops):
        reach = (step @ reach).tocsr()
        reach.data[:] = 1.0
    reach = reach.tocoo()
    others = reach.col != labels[reach.row]
    rows, cols = reach.row[others], reach.col[others]
    order = np.lexsort((cols, rows))
    rows, cols = rows[order], cols[order]
    extra = np.bincount(rows, minlength=n)
    members = np.full((n, 1 + int(extra.max(initial=0))), -1, dtype=np.int64)
    members[:, 0] = labels
    position = np.arange(len(rows)) - np.repeat(np.cumsum(extra) - extra, extra)
    members[rows, 1 + position] = cols
    return members
