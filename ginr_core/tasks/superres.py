"""Features for super-resolution: train on a coarse mesh, predict on a finer mesh of the same surface.

A GINR's inputs are Laplacian eigenvectors, and two separate eigen-solves (coarse and fine) do not agree:
each eigenvector's sign is arbitrary and, where eigenvalues repeat (symmetric shapes, spheres), any
rotation within the eigenspace is as valid as another. A model trained on the coarse features then sees
unrelated inputs on the fine mesh. `transfer_features` returns a pair of feature matrices that DO agree,
by one of these strategies:

- "kl": the paper's heuristic. Solve both meshes; flip each fine eigenvector when that brings its value
  histogram closer (KL divergence) to the coarse one. Fixes signs only, and only where the histogram is
  not symmetric; rotations within repeated eigenvalues are left as they are.
- "joint": solve the FINE mesh only and read the coarse features off it at the coarse vertices (needs a
  vertex correspondence). Both are then samples of the same functions: exact agreement by construction.
- "interp": solve the COARSE mesh only and interpolate its eigenvectors onto the fine vertices
  (barycentric, from the closest point on the coarse surface). Exact at coarse vertices, piecewise
  linear in between; no new eigen-solve on the fine mesh.
- "fmap": solve both with the cotangent Laplacian (which converges under refinement, unlike the graph
  Laplacians), then express the coarse basis in the fine one with a least-squares functional map C, so
  the fine features are smooth fine eigenfunction combinations that match the coarse ones.
- "sh": sphere domains only; analytic spherical harmonics, the same functions at any resolution.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field, replace

import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree

from ..errors import GinrError, error_message
from ..geometry.domains import latlon_grid
from ..geometry.features import FeatureSpec, sh_degree, sh_features
from ..geometry.laplacian import LAPLACIANS, mesh_laplacian
from ..geometry.mesh import Mesh, subdivide
from ..geometry.spectral import spectral_embedding
from ..geometry.sphere import is_sphere, sphere_center
from ..learning.metrics import evaluate, r2
from ..learning.models import ModelConfig
from ..learning.recipes import SUPERRES_K
from ..learning.training import GINRRegressor, TrainConfig
from ..runs.jobs import JobContext
from ..runs.spec import RunInputs, RunSpec, Source

STRATEGIES = ("kl", "joint", "interp", "fmap", "sh")
STACKED = "stacked"  # not a feature transfer: the interpolation's stacked network on the coarse values (the default)
METHODS = (STACKED, *STRATEGIES)
KL_AMBIGUOUS = 0.1  # relative KL margin below which a "kl" sign decision is reported as a guess
KL_SMOOTHING = 0.5  # pseudo-count added to every bin, so empty bins do not make KL infinite
CANDIDATE_TRIANGLES = 16  # nearest triangles (by centroid) searched for each closest-point query


@dataclass(frozen=True, eq=False)
class TransferResult:
    """Features to train on (coarse_features, (n_coarse, k)) and to predict on (fine_features, (n_fine, k)).

    `notes` are plain-language remarks on what was done (solver, scale convention, ambiguous signs...).
    """

    coarse_features: np.ndarray
    fine_features: np.ndarray
    strategy: str
    notes: tuple[str, ...] = ()

    @property
    def k(self) -> int:
        return self.coarse_features.shape[1]


def strategies_for(coarse: Mesh, fine: Mesh, has_correspondence: bool) -> list[str]:
    """The methods that apply to this pair of meshes, in METHODS order.

    "joint" needs a vertex correspondence; "sh" needs both meshes to be spheres. The others always apply.
    """
    out = []
    for strategy in METHODS:
        if strategy == "joint" and not has_correspondence:
            continue
        if strategy == "sh" and not (is_sphere(coarse) and is_sphere(fine)):
            continue
        out.append(strategy)
    return out


def subset_correspondence(coarse: Mesh, fine: Mesh, tol: float | None = None) -> np.ndarray:
    """For each coarse vertex, the index of the fine vertex at the same position, as an int64 array.

    Meant for meshes refined without moving the original vertices (midpoint subdivision, nested grids).
    `tol` is an absolute distance; None means 1e-6 of the fine mesh's bounding-box diagonal (mesh files often
    store float32 coordinates, rounded to ~1e-7 of the mesh size). A coarse
    vertex with no fine vertex within `tol`, or two coarse vertices sharing one, is a GinrError: the
    meshes are then not nested and "joint" does not apply.
    """
    if tol is None:
        extent = fine.vertices.max(axis=0) - fine.vertices.min(axis=0)
        tol = 1e-6 * max(float(np.linalg.norm(extent)), 1e-300)
    if tol < 0:
        raise GinrError("The correspondence tolerance must be non-negative.")
    distance, index = cKDTree(fine.vertices).query(coarse.vertices)
    missing = int((distance > tol).sum())
    if missing:
        raise GinrError(
            f"{missing:,} of the {coarse.n_vertices:,} coarse vertices have no fine vertex at the same position "
            f"(within {tol:.3g}): the fine mesh does not contain the coarse one, so there is no correspondence."
        )
    if len(np.unique(index)) < len(index):
        raise GinrError("Several coarse vertices match the same fine vertex: the coarse mesh has duplicate vertices.")
    return index.astype(np.int64)


def transfer_features(
    coarse: Mesh,
    fine: Mesh,
    k: int,
    strategy: str,
    laplacian: str = "combinatorial",
    correspondence: np.ndarray | None = None,
    *,
    cache: bool = True,
) -> TransferResult:
    """Coarse features to train on and fine features to predict on, made to agree by `strategy`.

    `laplacian` is used by "kl", "joint" and "interp" ("fmap" always uses the cotangent Laplacian, "sh" no
    Laplacian). `correspondence[i]` is the fine vertex at coarse vertex i; "joint" needs it, "fmap" uses it
    when given (see `subset_correspondence`; for `subdivide(..., method="midpoint")` it is arange(n_coarse)).
    `cache` is passed on to `spectral_embedding`.
    """
    if strategy not in STRATEGIES:
        raise GinrError(f"Unknown super-resolution strategy '{strategy}'; choose one of {', '.join(STRATEGIES)}.")
    if correspondence is not None:
        correspondence = _check_correspondence(correspondence, coarse, fine)
    if strategy == "kl":
        return _kl(coarse, fine, k, laplacian, cache)
    if strategy == "joint":
        return _joint(coarse, fine, k, laplacian, correspondence, cache)
    if strategy == "interp":
        return _interp(coarse, fine, k, laplacian, cache)
    if strategy == "fmap":
        return _fmap(coarse, fine, k, correspondence, cache)
    return _sh(coarse, fine, k)


# --- strategies ---------------------------------------------------------------------------------------


def _kl(coarse: Mesh, fine: Mesh, k: int, laplacian: str, cache: bool) -> TransferResult:
    """Separate solves; each fine eigenvector flipped when its flipped histogram is closer to the coarse one."""
    fc = spectral_embedding(coarse, k, laplacian, cache=cache).features
    ff = spectral_embedding(fine, k, laplacian, cache=cache).features.copy()
    flipped, ambiguous = 0, 0
    for j in range(k):
        keep, flip = kl_sign_scores(fc[:, j], ff[:, j])
        if flip < keep:
            ff[:, j] = -ff[:, j]
            flipped += 1
        if abs(flip - keep) <= KL_AMBIGUOUS * max(keep, flip, 1e-12):
            ambiguous += 1
    notes = [
        f"Solved both meshes with the {laplacian} Laplacian and flipped {flipped} of {k} fine eigenvectors "
        "by the KL divergence of their value histograms.",
    ]
    if ambiguous:
        notes.append(
            f"{ambiguous} of {k} eigenvectors have (nearly) symmetric histograms, so their sign is a guess; "
            "rotations within repeated eigenvalues are not corrected at all."
        )
    return TransferResult(fc, ff, "kl", tuple(notes))


def kl_sign_scores(coarse_values: np.ndarray, fine_values: np.ndarray, bins: int | None = None) -> tuple[float, float]:
    """(KL(coarse || fine), KL(coarse || -fine)) between value histograms on shared, symmetric bins.

    The bins span [-r, r] with r the largest magnitude in either vector, so flipping maps bins onto bins;
    a pseudo-count in every bin keeps the divergence finite where a histogram is empty. The default bin
    count is about sqrt(n_coarse) (fewer samples need wider bins to be more than noise; measured on bumpy
    spheres, 32+ bins made confident wrong decisions) and odd, so zero is a bin centre and an exactly
    symmetric histogram gives a tie (no flip) rather than a decision driven by noise.
    """
    if bins is None:
        bins = int(np.clip(np.sqrt(len(coarse_values)), 9, 63)) // 2 * 2 + 1
    r = max(float(np.abs(coarse_values).max()), float(np.abs(fine_values).max()), 1e-300)
    edges = np.linspace(-r, r, bins + 1)
    p = _smoothed_histogram(coarse_values, edges)
    q = _smoothed_histogram(fine_values, edges)
    return float(np.sum(p * np.log(p / q))), float(np.sum(p * np.log(p / q[::-1])))


def _smoothed_histogram(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    counts = np.histogram(values, bins=edges)[0].astype(np.float64) + KL_SMOOTHING
    return counts / counts.sum()


def _joint(coarse: Mesh, fine: Mesh, k: int, laplacian: str, correspondence, cache: bool) -> TransferResult:
    """One solve on the fine mesh; the coarse features are its rows at the coarse vertices.

    Scale: both keep the fine embedding's convention (sqrt(n_fine) * unit vectors for graph Laplacians),
    i.e. the same functions sampled at two sets of nodes. On a roughly uniform refinement the mean square
    over the coarse rows is still about 1, the paper's sqrt(n_coarse) convention, so nothing is rescaled:
    rescaling one side would break the agreement that is the point of this strategy.
    """
    if correspondence is None:
        raise GinrError(
            "The 'joint' strategy needs a correspondence (which fine vertex each coarse vertex is); "
            "use subset_correspondence(coarse, fine) for nested meshes."
        )
    ff = spectral_embedding(fine, k, laplacian, cache=cache).features
    fc = ff[correspondence]
    rms = float(np.sqrt(np.mean(fc[:, 1:] ** 2))) if k > 1 else 1.0
    notes = (
        f"Solved the fine mesh only ({laplacian} Laplacian); the coarse features are its rows at the coarse "
        f"vertices, in the fine embedding's scale (root mean square on the coarse rows: {rms:.3g}).",
    )
    return TransferResult(np.ascontiguousarray(fc), ff, "joint", notes)


def _interp(coarse: Mesh, fine: Mesh, k: int, laplacian: str, cache: bool) -> TransferResult:
    """One solve on the coarse mesh, interpolated linearly onto the fine vertices."""
    fc = spectral_embedding(coarse, k, laplacian, cache=cache).features
    P, distance = barycentric_operator(coarse, fine.vertices)
    notes = [f"Solved the coarse mesh only ({laplacian} Laplacian) and interpolated it barycentrically."]
    size = _mesh_size(coarse)
    if distance.max() > 1e-3 * size:
        notes.append(
            f"Some fine vertices lie off the coarse surface (up to {distance.max():.3g}, mesh size {size:.3g}): "
            "they take the features of the closest coarse surface point."
        )
    return TransferResult(fc, P @ fc, "interp", tuple(notes))


def _fmap(coarse: Mesh, fine: Mesh, k: int, correspondence, cache: bool) -> TransferResult:
    """Cotangent eigenbases of both meshes, the coarse one expressed in the fine one by least squares.

    With a correspondence, C minimises sum_i m_i |(F_fine C)(corr_i) - F_coarse(i)|^2 (m: coarse vertex
    areas), i.e. agreement at the shared vertices. Without, the coarse features are first carried to every
    fine vertex by barycentric interpolation (P) and C minimises ||F_fine C - P F_coarse|| in the fine mass
    inner product, i.e. C = (F^T M F)^-1 F^T M P F_coarse, the classical functional map. Either way the
    fine features F_fine C stay in the span of the first k fine eigenfunctions: smooth, and in the same
    sqrt(area) scale as the coarse features.
    """
    fc = spectral_embedding(coarse, k, "cotangent", cache=cache).features
    phi = spectral_embedding(fine, k, "cotangent", cache=cache).features
    if correspondence is not None:
        rows, target, weights = phi[correspondence], fc, mesh_laplacian(coarse, "cotangent")[1].diagonal()
        how = "at the corresponding vertices"
    else:
        P, _ = barycentric_operator(coarse, fine.vertices)
        rows, target, weights = phi, P @ fc, mesh_laplacian(fine, "cotangent")[1].diagonal()
        how = "over the fine mesh (coarse features interpolated barycentrically)"
    w = np.sqrt(weights)[:, None]  # weighted least squares: argmin_C ||w * (rows C - target)||
    C = np.linalg.lstsq(w * rows, w * target, rcond=None)[0]
    ff = phi @ C
    residual = np.linalg.norm(w * (rows @ C - target), axis=0) / np.linalg.norm(w * target, axis=0)
    notes = (
        f"Solved both meshes with the cotangent Laplacian and mapped the coarse basis into the fine one {how}.",
        f"Relative fit error per column: median {np.median(residual):.2g}, worst {residual.max():.2g} "
        f"(column {int(residual.argmax())}); high columns fit worst, as the coarse mesh resolves them least.",
    )
    return TransferResult(fc, ff, "fmap", notes)


def _sh(coarse: Mesh, fine: Mesh, k: int) -> TransferResult:
    """The first k real spherical harmonics (degree by degree) evaluated on both spheres."""
    for mesh in (coarse, fine):
        if not is_sphere(mesh):
            raise GinrError(
                f"'{mesh.name}' is not a sphere, so the spherical-harmonic strategy does not apply; "
                "choose another strategy."
            )
    degree = sh_degree(k)
    fc, ff = sh_features(coarse, k), sh_features(fine, k)
    notes = [f"Spherical harmonics up to degree {degree}: the same functions on both meshes."]
    if (degree + 1) ** 2 != k:
        notes.append(f"k = {k} cuts degree {degree} short, so the features are not rotation invariant.")
    return TransferResult(fc, ff, "sh", tuple(notes))


# --- geometry helpers ---------------------------------------------------------------------------------


def barycentric_operator(mesh: Mesh, points: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
    """Sparse P (n_points, n_vertices) interpolating vertex values at the closest point of `mesh`, and the
    distance from each point to that closest point.

    Closest points are searched among the CANDIDATE_TRIANGLES triangles with the nearest centroids (a
    KD-tree, as trimesh's exact query needs the optional rtree package), which finds the true closest
    triangle for points on or near a reasonable mesh. Each row of P holds the barycentric coordinates of
    the closest point in its triangle (clipped to be non-negative, summing to 1).
    """
    import trimesh

    points = np.asarray(points, dtype=np.float64)
    triangles = mesh.vertices[mesh.faces]
    n_candidates = min(CANDIDATE_TRIANGLES, mesh.n_faces)
    _, candidates = cKDTree(triangles.mean(axis=1)).query(points, k=n_candidates)
    candidates = candidates.reshape(len(points), n_candidates)
    # also the triangles around the nearest vertex, which the centroid search can miss on skinny triangles
    _, nearest_vertex = cKDTree(mesh.vertices).query(points)
    around = _incident_faces(mesh)[nearest_vertex]
    candidates = np.concatenate([candidates, np.where(around < 0, candidates[:, :1], around)], axis=1)
    repeated = np.repeat(points, candidates.shape[1], axis=0)
    closest = trimesh.triangles.closest_point(triangles[candidates.ravel()], repeated)
    distance = np.linalg.norm(closest - repeated, axis=1).reshape(candidates.shape)
    best = distance.argmin(axis=1)
    rows = np.arange(len(points))
    face = candidates[rows, best]
    closest = closest.reshape(*candidates.shape, 3)[rows, best]
    weights = trimesh.triangles.points_to_barycentric(triangles[face], closest)
    weights = np.clip(np.nan_to_num(weights), 0.0, None)
    weights /= np.maximum(weights.sum(axis=1, keepdims=True), 1e-300)
    P = sp.csr_matrix(
        (weights.ravel(), (np.repeat(rows, 3), mesh.faces[face].ravel())), shape=(len(points), mesh.n_vertices)
    )
    return P, distance[rows, best]


def _incident_faces(mesh: Mesh) -> np.ndarray:
    """(n_vertices, max valence) faces around each vertex, padded with -1."""
    vertex = mesh.faces.ravel()
    face = np.repeat(np.arange(mesh.n_faces), 3)
    order = np.argsort(vertex, kind="stable")
    vertex, face = vertex[order], face[order]
    counts = np.bincount(vertex, minlength=mesh.n_vertices)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    slot = np.arange(len(vertex)) - starts[vertex]
    out = np.full((mesh.n_vertices, max(int(counts.max()), 1)), -1, dtype=np.int64)
    out[vertex, slot] = face
    return out


def _mesh_size(mesh: Mesh) -> float:
    return float(np.linalg.norm(mesh.vertices.max(axis=0) - mesh.vertices.min(axis=0)))


def _check_correspondence(correspondence, coarse: Mesh, fine: Mesh) -> np.ndarray:
    c = np.asarray(correspondence)
    if c.shape != (coarse.n_vertices,) or not np.issubdtype(c.dtype, np.integer):
        raise GinrError(
            f"The correspondence must be {coarse.n_vertices:,} integer fine-vertex indices (one per coarse "
            f"vertex), got an array of shape {c.shape} and type {c.dtype}."
        )
    if c.size and (c.min() < 0 or c.max() >= fine.n_vertices):
        raise GinrError(f"The correspondence refers to fine vertices outside 0..{fine.n_vertices - 1}.")
    if len(np.unique(c)) < len(c):
        raise GinrError("The correspondence maps two coarse vertices to the same fine vertex.")
    return c.astype(np.int64)


__all__ = [
    "STRATEGIES",
    "StrategyOutcome",
    "SuperResolutionRequest",
    "TransferResult",
    "barycentric_operator",
    "coarser_latlon_grid",
    "finer_latlon_grid",
    "finer_mesh",
    "kl_sign_scores",
    "latlon_axes",
    "strategies_for",
    "subset_correspondence",
    "transfer_features",
    "values_at_coarse_nodes",
]


# First-layer sine frequency for super-resolution. The fitting default (90) memorises the coarse nodes and
# scores R^2 ~0 between them. R^2 on the fine-only nodes, first-layer omega_0 3 vs 10 (bench/superres.py,
# 60 s per strategy, 2-core CPU): bunny Gray-Scott, k = 100: joint 0.475 / 0.823, interp 0.694 / 0.845,
# fmap 0.718 / 0.808; k = 36: joint 0.699 / 0.689, interp 0.764 / 0.822, fmap 0.640 / 0.633; ERA z500,
# k = 100: every strategy 0.999+ at both. A smooth analytic field at small k prefers 3 (bumpy sphere,
# k = 16, joint: 0.998 at 3, 0.959 at 10), a real texture does not: 10 is the default.
SUPERRES_FIRST_OMEGA_0 = 10.0


def super_resolve(
    coarse: Mesh,
    fine: Mesh,
    coarse_target: np.ndarray,
    strategy: str,
    k: int = 100,
    laplacian: str = "combinatorial",
    correspondence: np.ndarray | None = None,
    model_config=None,
    train_config=None,
    callback=None,
    cancel: threading.Event | None = None,
):
    """Train a GINR on the coarse mesh and predict the signal on the fine one; returns (regressor, prediction,
    TransferResult). Without `model_config`, the network uses a low first-layer frequency
    (SUPERRES_FIRST_OMEGA_0), which interpolates smoothly between the training nodes. Setting `cancel` stops
    the training early (checked between steps; the feature transfer runs to its end), as in GINRRegressor.fit."""
    transfer = transfer_features(coarse, fine, k, strategy, laplacian, correspondence)
    model_config = model_config or ModelConfig(k=transfer.k, first_omega_0=SUPERRES_FIRST_OMEGA_0)
    regressor = GINRRegressor(model_config, train_config or TrainConfig())
    regressor.fit(transfer.coarse_features, coarse_target, callback=callback, cancel=cancel)
    return regressor, regressor.predict(transfer.fine_features), transfer


# --- fine targets -------------------------------------------------------------------------------------


def finer_mesh(coarse: Mesh, levels: int = 1, method: str = "midpoint") -> tuple[Mesh, np.ndarray]:
    """`coarse` subdivided (mesh.subdivide) and its correspondence: the original vertices come first.

    On a sphere domain the new vertices are put on the sphere: midpoints of its chords lie inside it, so a
    plain subdivision is not the same surface, and "sh" would not apply. Midpoint subdivision leaves the
    original vertices where they are; loop subdivision moves them (it smooths), here back onto the sphere.
    """
    fine = subdivide(coarse, levels, method)
    centre = sphere_center(coarse)
    if centre is not None:
        radius = float(np.linalg.norm(coarse.vertices - centre, axis=1).mean())
        vertices = fine.vertices.copy()
        moved = slice(coarse.n_vertices, None) if method == "midpoint" else slice(None)
        offset = vertices[moved] - centre
        vertices[moved] = centre + radius * offset / np.linalg.norm(offset, axis=1, keepdims=True)
        fine = Mesh(vertices, fine.faces, name=f"{fine.name} on the sphere")
    return fine, np.arange(coarse.n_vertices, dtype=np.int64)


def latlon_axes(mesh: Mesh) -> tuple[np.ndarray, np.ndarray] | None:
    """The (lat, lon) axes of a mesh built by domains.latlon_grid (a built-in lat-lon sphere, a netCDF grid),
    read from its "lat" / "lon" vertex data; None for any other mesh."""
    lat, lon = mesh.vertex_data.get("lat"), mesh.vertex_data.get("lon")
    if lat is None or lon is None or len(lat) != mesh.n_vertices or mesh.n_vertices < 6:
        return None
    n_lon = int(np.argmax(lat != lat[0]))
    if n_lon < 3 or mesh.n_vertices % n_lon:
        return None
    lat_axis, lon_axis = lat[::n_lon], lon[:n_lon]
    try:
        grid = latlon_grid(lat_axis, lon_axis, float(np.linalg.norm(mesh.vertices[0])))
    except GinrError:
        return None
    if grid.n_vertices != mesh.n_vertices or not np.allclose(grid.vertices, mesh.vertices, atol=1e-9):
        return None
    return lat_axis, lon_axis


def finer_latlon_grid(grid: Mesh, factor: int = 2) -> tuple[Mesh, np.ndarray]:
    """A lat-lon grid `factor` times finer along both axes, containing every node of `grid`; returns
    (fine, correspondence).

    New latitudes are inserted between the given ones (the first and last stay, so 181 x 360 becomes 361 x 720)
    and new longitudes between neighbours, across the wrap too. The correspondence is built from the grid
    indices (coarse (i, j) is fine (factor i, factor j)): pole rows repeat one position, so matching positions
    (subset_correspondence) cannot tell their nodes apart.
    """
    axes = latlon_axes(grid)
    if axes is None:
        raise GinrError(f"'{grid.name}' is not a latitude-longitude grid, so it has no finer grid.")
    if not isinstance(factor, (int, np.integer)) or factor < 2:
        raise GinrError(f"The refinement factor must be a whole number of at least 2, got {factor!r}.")
    lat, lon = axes
    steps = np.arange(factor) / factor
    fine_lat = np.append((lat[:-1, None] + np.diff(lat)[:, None] * steps).ravel(), lat[-1])
    lon_step = (np.roll(lon, -1) - lon + 180.0) % 360.0 - 180.0  # signed step to the next longitude, wrapping
    fine_lon = (lon[:, None] + lon_step[:, None] * steps).ravel()
    fine = latlon_grid(fine_lat, fine_lon, float(np.linalg.norm(grid.vertices[0])))
    rows, cols = np.meshgrid(factor * np.arange(len(lat)), factor * np.arange(len(lon)), indexing="ij")
    return fine, (rows * len(fine_lon) + cols).ravel().astype(np.int64)


def coarser_latlon_grid(grid: Mesh, step: int = 2) -> tuple[Mesh, np.ndarray]:
    """Every `step`-th latitude and longitude of a lat-lon grid, and where its nodes are in `grid`; returns
    (coarse, correspondence). Training on the coarse grid and predicting `grid` scores super-resolution on
    data whose finer values are known (the held-out rows and columns)."""
    axes = latlon_axes(grid)
    if axes is None:
        raise GinrError(f"'{grid.name}' is not a latitude-longitude grid, so it has no coarser grid.")
    lat, lon = axes
    if not isinstance(step, (int, np.integer)) or step < 2 or len(lat[::step]) < 2 or len(lon[::step]) < 3:
        raise GinrError(f"Every {step!r}-th row and column of a {len(lat)} x {len(lon)} grid is not a grid.")
    coarse = latlon_grid(lat[::step], lon[::step], float(np.linalg.norm(grid.vertices[0])))
    rows, cols = np.meshgrid(np.arange(0, len(lat), step), np.arange(0, len(lon), step), indexing="ij")
    return coarse, (rows * len(lon) + cols).ravel().astype(np.int64)


# --- scoring and background runs ----------------------------------------------------------------------


def values_at_coarse_nodes(coarse: Mesh, fine: Mesh, fine_values: np.ndarray,
                           correspondence: np.ndarray | None = None) -> np.ndarray:
    """Fine-mesh values read at the coarse nodes, where the training signal is known: the corresponding fine
    nodes, or without a correspondence, barycentric interpolation at the closest points of the fine surface."""
    if correspondence is not None:
        return fine_values[correspondence]
    P, _ = barycentric_operator(fine, coarse.vertices)
    return P @ fine_values


@dataclass(frozen=True, eq=False)
class StrategyOutcome:
    """One strategy of a super-resolution job, as a UI reads it.

    status: "pending", "running" (transferring the features, then training), "done", "cancelled" (stopped early,
    or never started) or "failed" (`error` says why). Once trained: the model's prediction on the coarse mesh
    (`coarse_prediction`) and the fine one (`fine_prediction`), the fine one read at the coarse nodes
    (`shared_prediction`), and `scores`: metrics.evaluate of the shared prediction against the coarse target
    (self-consistency: the paper's score), "r2_fit" (the coarse prediction, i.e. training fit) and, when the
    fine truth is known, "r2_fine_only" on the fine nodes that are not coarse nodes. `run_id`: its registered run.
    """

    strategy: str
    status: str = "pending"
    coarse_prediction: np.ndarray | None = None
    fine_prediction: np.ndarray | None = None
    shared_prediction: np.ndarray | None = None
    scores: dict | None = None
    notes: tuple[str, ...] = ()
    error: str | None = None
    seconds: float = 0.0
    run_id: str | None = None
    classical: bool = False  # a training-free interpolation of the same coarse values, not a strategy


@dataclass(frozen=True, eq=False)
class SuperResolutionRequest:
    """Several strategies at equal budget on one coarse -> fine pair. `fine_truth` (the signal on the fine nodes,
    when known) adds the real super-resolution score."""

    coarse: Mesh
    fine: Mesh
    coarse_target: np.ndarray
    strategies: tuple[str, ...]
    k: int = SUPERRES_K
    laplacian: str = "combinatorial"
    correspondence: np.ndarray | None = None
    fine_truth: np.ndarray | None = None
    model_config: ModelConfig | None = None
    train_config: TrainConfig = field(default_factory=TrainConfig)
    domain: Source = field(default_factory=Source)
    signal: Source = field(default_factory=Source)

    def __post_init__(self):
        if not self.strategies:
            raise GinrError("Choose at least one strategy.")

    @property
    def fine_only(self) -> np.ndarray:
        if self.correspondence is None:
            return np.arange(self.fine.n_vertices)
        return np.setdiff1d(np.arange(self.fine.n_vertices), self.correspondence)

    def spec(self, strategy: str, k: int, group: str) -> RunSpec:
        model = self.model_config or ModelConfig(first_omega_0=SUPERRES_FIRST_OMEGA_0)
        features = FeatureSpec(self.laplacian if self.laplacian in LAPLACIANS else "combinatorial", k)
        return RunSpec("superres", self.domain, self.signal, features, model, self.train_config,
                       {"strategy": strategy, "group": group, "fine_nodes": self.fine.n_vertices})

    def inputs(self) -> RunInputs:
        extra = {"fine_vertices": self.fine.vertices, "fine_faces": self.fine.faces}
        if self.correspondence is not None:
            extra["correspondence"] = self.correspondence
        return RunInputs(self.coarse, np.asarray(self.coarse_target), extra)

    def scores(self, coarse_prediction, shared_prediction, fine_prediction) -> dict:
        scores = {**evaluate(self.coarse_target, shared_prediction), "r2_fit": r2(self.coarse_target, coarse_prediction)}
        fine_only = self.fine_only
        if self.fine_truth is not None and len(fine_only):
            scores["r2_fine_only"] = r2(self.fine_truth[fine_only], fine_prediction[fine_only])
        return scores


def _classical_outcomes(request: SuperResolutionRequest) -> list[StrategyOutcome]:
    """Training-free interpolation of the coarse values on the fine mesh (interpolation.SUPERRES_CLASSICAL;
    sparse solves, seconds), scored like the strategies: what a network must beat."""
    from .interpolation import SUPERRES_CLASSICAL, classical_rows, coarse_observations

    try:
        observations = coarse_observations(request.coarse, request.fine, request.coarse_target, request.correspondence)
        rows = classical_rows(request.fine, observations, SUPERRES_CLASSICAL)
    except Exception as exc:  # the strategies still run; the table says why the rows are missing
        return [StrategyOutcome("classical", status="failed", error=error_message(exc), classical=True)]
    outcomes = []
    for name, (fine_prediction, seconds) in rows.items():
        shared = values_at_coarse_nodes(request.coarse, request.fine, fine_prediction, request.correspondence)
        outcomes.append(StrategyOutcome(
            name, status="done", coarse_prediction=shared, fine_prediction=fine_prediction, shared_prediction=shared,
            scores=request.scores(shared, shared, fine_prediction), seconds=seconds, classical=True,
            notes=("Classical interpolation of the coarse values on the fine graph (no training).",)))
    return outcomes


def _stacked_outcome(request: SuperResolutionRequest, ctx: JobContext, start: float, span: float) -> dict:
    """The fields of a StrategyOutcome for STACKED: the coarse values as observations on the fine mesh, completed by
    the interpolation's `ginr_stacked` (networks correcting the classical interpolants, early stopping within the
    strategy's time budget, which they share)."""
    from .interpolation import InterpolationSettings, InterpolationProblem, coarse_observations, stacked_interpolate

    try:
        observations = coarse_observations(request.coarse, request.fine, request.coarse_target, request.correspondence)
        settings = InterpolationSettings(k=request.k, steps=request.train_config.steps or InterpolationSettings.steps,
                                         seed=request.train_config.seed, time_budget_s=request.train_config.time_budget_s)
        problem = InterpolationProblem(request.fine, observations, settings)
        fine_prediction, note = stacked_interpolate(problem, ctx.training_callback(STACKED, start, span), ctx.cancel_event)
    except Exception as exc:
        return dict(status="failed", error=error_message(exc))
    if problem.stop_reason == "cancelled":
        ctx.stopped_early = True
        return dict(status="cancelled", notes=(note,))
    shared = values_at_coarse_nodes(request.coarse, request.fine, fine_prediction, request.correspondence)
    return dict(status="done", coarse_prediction=shared, fine_prediction=fine_prediction, shared_prediction=shared,
                scores=request.scores(shared, shared, fine_prediction),
                notes=(f"Classical interpolants of the coarse values on the fine graph, corrected by a network: {note}.",))


def superres_task(request: SuperResolutionRequest, ctx: JobContext) -> list[StrategyOutcome]:
    """Every strategy in turn, each one registered run trained on the coarse mesh (so the dashboard runs what
    `ginr superres` runs); a strategy that fails is reported and the next one runs. The outcomes so far are
    published as they change; after the strategies come the classical rows (`classical=True`)."""
    outcomes = [StrategyOutcome(s) for s in request.strategies]
    group = f"superres-{secrets.token_hex(4)}"
    n = len(outcomes)

    def update(i: int, **changes) -> None:
        outcomes[i] = replace(outcomes[i], **changes)
        ctx.publish(list(outcomes))

    ctx.publish(list(outcomes))
    outcomes += _classical_outcomes(request)  # seconds: shown beside the strategies from the start
    ctx.publish(list(outcomes))
    for i, outcome in enumerate(outcomes[:n]):
        if ctx.cancelled():
            ctx.stopped_early = True
            update(i, status="cancelled")
            continue
        t0 = time.perf_counter()
        update(i, status="running")
        ctx.report(i / n, "Transferring the features", part=outcome.strategy)
        run_id = None
        if outcome.strategy == STACKED:
            update(i, **_stacked_outcome(request, ctx, i / n, 1 / n), seconds=time.perf_counter() - t0)
            continue
        try:
            transfer = transfer_features(request.coarse, request.fine, request.k, outcome.strategy, request.laplacian,
                                         request.correspondence)
            spec = request.spec(outcome.strategy, transfer.k, group)
            run_id = ctx.registry.create_run(spec, request.inputs()) if ctx.registry is not None else None
            ctx.set_run(run_id)
            regressor = GINRRegressor(spec.model, spec.train)
            regressor.fit(transfer.coarse_features, request.coarse_target, cancel=ctx.cancel_event,
                          callback=ctx.training_callback(outcome.strategy, i / n, 1 / n))
            stopped = regressor.stop_reason_ == "cancelled"
            ctx.stopped_early = ctx.stopped_early or stopped
            if stopped and not regressor.history_:  # cancelled before training
                if run_id is not None:
                    ctx.registry.finish(run_id, "cancelled")
                update(i, status="cancelled", notes=transfer.notes, seconds=time.perf_counter() - t0, run_id=run_id)
                continue
            coarse_prediction = regressor.predict(transfer.coarse_features)
            fine_prediction = regressor.predict(transfer.fine_features)
            shared = values_at_coarse_nodes(request.coarse, request.fine, fine_prediction, request.correspondence)
            scores = request.scores(coarse_prediction, shared, fine_prediction)
            if run_id is not None:
                ctx.registry.finish(run_id, "cancelled" if stopped else "done", regressor=regressor,
                                    predictions=coarse_prediction, metrics=scores, history=regressor.history_)
            update(i, status="cancelled" if stopped else "done", coarse_prediction=coarse_prediction,
                   fine_prediction=fine_prediction, shared_prediction=shared, scores=scores, notes=transfer.notes,
                   seconds=time.perf_counter() - t0, run_id=run_id)
        except Exception as exc:  # one strategy failing (say "sh" with too large a k) does not stop the others
            if run_id is not None:
                ctx.registry.finish(run_id, "failed", error=error_message(exc))
            update(i, status="failed", error=error_message(exc), seconds=time.perf_counter() - t0, run_id=run_id)
    return outcomes

