"""Interpolation from sparse observations: neural fields against classical interpolation, scored alike.

The inr4ssh question on meshes and spheres: a field is known only at some places (random nodes, simulated
satellite ground tracks, scattered points, a coarse mesh's nodes); every method reconstructs it everywhere and
is scored on the nodes that were not observed:

- classical (no training): harmonic and biharmonic graph interpolation (the combinatorial Laplacian's
  Dirichlet / squared energy minimised with the observations fixed; a scipy sparse solve), Tikhonov graph
  smoothing (its weight picked on a validation split), a thin-plate-spline RBF (scipy's RBFInterpolator) and
  ordinary kriging with a fitted variogram (GSTools; great-circle distances on spheres);
- networks: GINR (spectral input) and INR (xyz; spherical harmonics on spheres) trained on the observed
  values, and `ginr_stacked`, the recipe that wins where a network can (see STACKED below).

Scores: RMSE, the data challenges' normalised score 1 - RMSE / RMS(truth), R^2 on the unobserved nodes, and
a resolved scale from the error-to-truth energy per band of an eigenbasis (`SpectralBands`).
"""

from __future__ import annotations

import copy
import csv
import functools
import io
import itertools
import threading
import time
import warnings
from dataclasses import dataclass, field, replace

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as sla
from scipy.spatial import cKDTree

from ..errors import Cancelled, GinrError, error_message
from ..geometry.domains import lat_lon_to_xyz
from ..geometry.features import FeatureSpec
from ..geometry.laplacian import mesh_laplacian
from ..geometry.mesh import Mesh
from ..geometry.operators import DerivedFields
from ..geometry.spectral import spectral_embedding
from ..geometry.sphere import is_sphere, real_sph_harm, sphere_center, sphere_harmonic_embedding
from ..storage.files import read_input
from ..learning.metrics import r2
from ..learning.models import ModelConfig
from ..learning.training import GINRRegressor, Progress, TrainConfig
from ..runs.spec import RunInputs, RunSpec, Source
from ..runs.terminable import call_terminable
from ..settings import check_observations, limits
from .superres import barycentric_operator

EARTH_RADIUS_KM = 6371.0
CLASSICAL = ("harmonic", "tikhonov", "biharmonic", "rbf", "kriging")
NETWORKS = ("ginr", "inr", "ginr_stacked")
METHODS = CLASSICAL + NETWORKS
DEFAULT_METHODS = ("harmonic", "biharmonic", "rbf", "kriging", "ginr", "inr", "ginr_stacked")
PATTERNS = ("random", "tracks", "points", "coarse")


# --- observations -------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Observations:
    """A field seen at m places of a mesh with n nodes.

    `operator` (m, n) reads a node signal at the observations: a selection row for an observation at a node,
    the barycentric weights of its face's three vertices for a point on a face. `points` (m, 3) are the
    observations' positions, `tracks` optional polylines (satellite ground tracks) for drawing.
    """

    operator: sp.csr_matrix
    values: np.ndarray
    points: np.ndarray
    pattern: str
    description: str
    tracks: tuple[np.ndarray, ...] = ()

    @property
    def n_nodes(self) -> int:
        return self.operator.shape[1]

    @property
    def nodes(self) -> np.ndarray | None:
        """The observed node of each observation when every observation sits on a node, else None."""
        P = self.operator
        if P.nnz != P.shape[0] or not np.all(np.diff(P.indptr) == 1) or not np.allclose(P.data, 1.0):
            return None
        return P.indices.astype(np.int64)

    @property
    def observed_mask(self) -> np.ndarray:
        """Nodes that any observation touches (a node itself, or a vertex of an observed point's face)."""
        touched = np.asarray(abs(self.operator).sum(axis=0)).ravel() > 0
        return touched

    @property
    def unobserved(self) -> np.ndarray:
        """The nodes the scores are taken on."""
        return np.flatnonzero(~self.observed_mask)

    @property
    def coverage(self) -> float:
        """Fraction of the nodes observed (touched)."""
        return float(self.observed_mask.mean())


def require_unobserved(observations: Observations) -> None:
    """Refuse observations that touch every node: no node would be left to score a method on."""
    if len(observations.unobserved) == 0:
        raise GinrError(
            f"The observations ({observations.description}) touch all {observations.n_nodes:,} nodes (a point off the "
            "nodes touches its triangle's three vertices), so no node is left to score the methods on. Use fewer "
            "observations or a finer mesh."
        )


def _check_values(values, n: int, what: str = "signal") -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or len(values) != n:
        raise GinrError(f"Interpolation needs one scalar value per node ({n:,}); the {what} has shape {values.shape}.")
    if not np.isfinite(values).all():
        raise GinrError(f"The {what} contains NaN or infinite values.")
    return values


def at_nodes(mesh: Mesh, nodes, truth, pattern: str, description: str) -> Observations:
    """Observations of `truth` (one value per node) at the given nodes (each at most once)."""
    truth = _check_values(truth, mesh.n_vertices)
    nodes = np.unique(np.asarray(nodes, dtype=np.int64))
    if len(nodes) == 0:
        raise GinrError("No node is observed: choose a larger fraction, more tracks or a wider swath.")
    if len(nodes) == mesh.n_vertices:
        raise GinrError("Every node is observed, so nothing is left to interpolate or score.")
    P = sp.csr_matrix((np.ones(len(nodes)), (np.arange(len(nodes)), nodes)), shape=(len(nodes), mesh.n_vertices))
    return Observations(P, truth[nodes], mesh.vertices[nodes], pattern, description)


def random_nodes(mesh: Mesh, truth, fraction: float, seed: int = 0) -> Observations:
    """A random `fraction` of the nodes observed."""
    if not 0 < fraction < 1:
        raise GinrError(f"The observed fraction must lie strictly between 0 and 1, got {fraction}.")
    count = max(1, int(round(fraction * mesh.n_vertices)))
    nodes = np.random.default_rng(seed).choice(mesh.n_vertices, count, replace=False)
    return at_nodes(mesh, nodes, truth, "random", f"{count:,} random nodes ({count / mesh.n_vertices:.1%})")


def coarse_nodes(mesh: Mesh, correspondence, truth) -> Observations:
    """The nodes of a coarse mesh nested in `mesh` (super-resolution): `correspondence[i]` is coarse node i's fine node."""
    nodes = np.asarray(correspondence, dtype=np.int64)
    return at_nodes(mesh, nodes, truth, "coarse", f"the {len(nodes):,} nodes of the coarse mesh")


def _sphere_frame(mesh: Mesh) -> tuple[np.ndarray, float]:
    centre = sphere_center(mesh)
    if centre is None:
        raise GinrError(f"'{mesh.name}' is not a sphere: satellite tracks and latitude / longitude need a sphere domain.")
    return centre, float(np.linalg.norm(mesh.vertices - centre, axis=1).mean())


def track_normals(n_tracks: int, inclination_deg: float, seed: int = 0) -> np.ndarray:
    """Unit normals (n_tracks, 3) of the orbit planes: one great circle per track, inclined to the equator by
    `inclination_deg`, ascending nodes spread evenly over 180 degrees of longitude (each circle crosses the
    equator twice) from a random start."""
    if n_tracks < 1:
        raise GinrError("Give at least one satellite track.")
    if not 0 <= inclination_deg <= 180:
        raise GinrError(f"The inclination must lie between 0 and 180 degrees, got {inclination_deg}.")
    start = np.random.default_rng(seed).uniform(0, np.pi)
    node_lon = start + np.arange(n_tracks) * np.pi / n_tracks
    i = np.deg2rad(inclination_deg)
    return np.stack([np.sin(i) * np.sin(node_lon), -np.sin(i) * np.cos(node_lon), np.full(n_tracks, np.cos(i))], axis=1)


def satellite_tracks(mesh: Mesh, truth, n_tracks: int = 4, inclination_deg: float = 66.0, swath_km: float | None = None,
                     coverage: float | None = None, seed: int = 0) -> Observations:
    """Nodes under simulated satellite ground tracks on a sphere domain (the sphere read as the Earth).

    Each track is the great circle of an orbit of the given inclination (66 degrees: TOPEX / Jason); a node is
    observed when its great-circle distance to a track is at most half the swath. Give the swath width in km,
    or the `coverage` wanted (the fraction of the sphere's area under the swaths; the width is then solved for).
    """
    truth = _check_values(truth, mesh.n_vertices)
    centre, radius = _sphere_frame(mesh)
    normals = track_normals(n_tracks, inclination_deg, seed)
    unit = (mesh.vertices - centre) / radius
    angle = np.abs(np.arcsin(np.clip(unit @ normals.T, -1, 1))).min(axis=1)  # to the nearest track, radians
    if (swath_km is None) == (coverage is None):
        raise GinrError("Give either the swath width (km) or the coverage wanted, not both.")
    if coverage is not None:
        if not 0 < coverage < 1:
            raise GinrError(f"The coverage must lie strictly between 0 and 1, got {coverage}.")
        half = _half_width_for_coverage(mesh, angle, coverage)
    else:
        if swath_km <= 0:
            raise GinrError(f"The swath width must be positive, got {swath_km} km.")
        half = 0.5 * swath_km / EARTH_RADIUS_KM
    nodes = np.flatnonzero(angle <= half)
    width = 2 * half * EARTH_RADIUS_KM
    area = _area_fraction(mesh, angle <= half)
    observations = at_nodes(
        mesh, nodes, truth, "tracks",
        f"{n_tracks} tracks at {inclination_deg:g} degrees, {width:,.0f} km swath: {len(nodes):,} nodes, "
        f"{area:.1%} of the area",
    )
    return replace(observations, tracks=tuple(ground_track(normal, centre, radius) for normal in normals))


def ground_track(normal: np.ndarray, centre: np.ndarray, radius: float, n_points: int = 361) -> np.ndarray:
    """Points (n_points, 3) along the great circle with this plane normal, on the sphere (closed polyline)."""
    a = np.cross(normal, [0.0, 0.0, 1.0])
    a = a / np.linalg.norm(a) if np.linalg.norm(a) > 1e-12 else np.array([1.0, 0.0, 0.0])
    b = np.cross(normal, a)
    theta = np.linspace(0, 2 * np.pi, n_points)[:, None]
    return centre + radius * (np.cos(theta) * a + np.sin(theta) * b)


def _node_areas(mesh: Mesh) -> np.ndarray:
    return mesh_laplacian(mesh, "cotangent")[1].diagonal()


def _area_fraction(mesh: Mesh, mask: np.ndarray) -> float:
    area = _node_areas(mesh)
    return float(area[mask].sum() / area.sum())


def _half_width_for_coverage(mesh: Mesh, angle: np.ndarray, coverage: float) -> float:
    """The smallest swath half-width (radians) whose nodes hold `coverage` of the area: the area-weighted
    quantile of the nodes' distances to the nearest track."""
    area = _node_areas(mesh)
    order = np.argsort(angle)
    cumulative = np.cumsum(area[order]) / area.sum()
    return float(angle[order][min(np.searchsorted(cumulative, coverage), len(order) - 1)])


def scattered_points(mesh: Mesh, points, values, pattern: str = "points", description: str | None = None) -> Observations:
    """Values at points off the nodes: each point is read at the closest point of the surface, as the
    barycentric mix of its face's three vertices (a point on a vertex is that vertex)."""
    points = np.asarray(points, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64).ravel()
    if points.ndim != 2 or points.shape[1] != 3 or len(points) != len(values) or len(points) == 0:
        raise GinrError(f"Give one (x, y, z) point per value; got {points.shape} points and {len(values)} values.")
    if not (np.isfinite(points).all() and np.isfinite(values).all()):
        raise GinrError("The observations contain NaN or infinite coordinates or values.")
    check_observations(len(points))
    P, _ = barycentric_operator(mesh, points)
    P.eliminate_zeros()
    return Observations(P.tocsr(), values, points, pattern, description or f"{len(points):,} scattered points")


def read_observations_csv(source, mesh: Mesh, filename: str | None = None) -> Observations:
    """Observations from a CSV file with a header: `lat, lon, value` (degrees; sphere domains), `x, y, z, value`
    or `vertex, value` (0-based node indices)."""
    data, name, _ = read_input(source, filename, extensions=("csv", "txt"), what="observation file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise GinrError(f"{name} is not a text file (it is not valid UTF-8).") from exc
    rows = (row for row in csv.reader(io.StringIO(text)) if any(c.strip() for c in row))
    header = [h.strip().lower() for h in next(rows, [])]
    limit = limits().max_observations
    try:
        table = [[float(x) for x in row] for row in itertools.islice(rows, limit + 1)]
    except (ValueError, csv.Error) as exc:
        raise GinrError(f"{name}: every value after the header must be a number ({exc}).") from exc
    if not table:
        raise GinrError(f"{name} has no observations (a header line and at least one row are needed).")
    check_observations(len(table), name)
    if any(len(row) != len(header) for row in table):
        raise GinrError(f"{name}: every row needs {len(header)} columns, as the header has.")
    table = np.array(table, dtype=np.float64)
    column = {h: table[:, i] for i, h in enumerate(header)}
    values = column.get("value")
    if values is not None and {"lat", "lon"} <= column.keys():
        centre, radius = _sphere_frame(mesh)
        points = centre + radius * lat_lon_to_xyz(column["lat"], column["lon"])
        return scattered_points(mesh, points, values, description=f"{len(values):,} points (lat / lon) from {name}")
    if values is not None and {"x", "y", "z"} <= column.keys():
        points = np.stack([column["x"], column["y"], column["z"]], axis=1)
        return scattered_points(mesh, points, values, description=f"{len(values):,} points (x / y / z) from {name}")
    if values is not None and "vertex" in column:
        vertex = column["vertex"]
        if np.any(vertex != np.round(vertex)) or vertex.min() < 0 or vertex.max() >= mesh.n_vertices:
            raise GinrError(f"{name}: vertices must be whole numbers from 0 to {mesh.n_vertices - 1}.")
        return scattered_points(mesh, mesh.vertices[vertex.astype(np.int64)], values,
                                description=f"{len(values):,} vertices from {name}")
    raise GinrError(f"{name} needs columns lat, lon, value or x, y, z, value or vertex, value (found {', '.join(header)}).")


# --- classical methods --------------------------------------------------------------------------------


def _node_means(observations: Observations) -> tuple[np.ndarray, np.ndarray] | None:
    """(nodes, mean value per node) when every observation is on a node (repeats averaged), else None."""
    nodes = observations.nodes
    if nodes is None:
        return None
    unique, inverse = np.unique(nodes, return_inverse=True)
    return unique, np.bincount(inverse, weights=observations.values) / np.bincount(inverse)


def graph_interpolate(R: sp.spmatrix, observations: Observations, smoothing: float = 0.0) -> np.ndarray:
    """The node signal u minimising u' R u (R = L: harmonic, L^2: biharmonic) that fits the observations.

    smoothing = 0: exact at the observations (on nodes, the sparse solve R_ff u_f = -R_fo u_o; off the nodes,
    the limit of the penalised problem below with a tiny weight). smoothing > 0: Tikhonov, minimising
    ||P u - y||^2 + smoothing * u' R u, i.e. (P'P + smoothing R) u = P'y.
    """
    R = sp.csr_matrix(R)
    n = R.shape[0]
    observed = _node_means(observations)
    if smoothing == 0 and observed is not None:
        nodes, y = observed
        free = np.setdiff1d(np.arange(n), nodes)
        u = np.empty(n)
        u[nodes] = y
        u[free] = sla.spsolve(R[free][:, free].tocsc(), -(R[free][:, nodes] @ y))
        return u
    P = observations.operator
    PtP = (P.T @ P).tocsr()
    if smoothing == 0:  # off-node points: a weight far below the data term's, relative to the operators' size
        smoothing = 1e-8 * PtP.diagonal().mean() / max(R.diagonal().mean(), 1e-300)
    return sla.spsolve((PtP + smoothing * R).tocsc(), P.T @ observations.values)


def _validation_split(m: int, fraction: float, seed: int) -> np.ndarray:
    """A boolean mask of about `fraction` of m observations (at least one, never all)."""
    rng = np.random.default_rng(seed + 17)
    mask = np.zeros(m, dtype=bool)
    mask[rng.choice(m, int(np.clip(round(fraction * m), 1, m - 1)), replace=False)] = True
    return mask


def _subset(observations: Observations, keep: np.ndarray) -> Observations:
    return replace(observations, operator=observations.operator[keep], values=observations.values[keep],
                   points=observations.points[keep])


TIKHONOV_WEIGHTS = (1e-3, 1e-2, 1e-1, 1.0)  # relative to 1 / (mean degree): from nearly exact to strongly smoothed


def tikhonov_interpolate(L: sp.spmatrix, observations: Observations, validation: float = 0.15, seed: int = 0) -> tuple[np.ndarray, str]:
    """Tikhonov graph smoothing, its weight chosen on a validation split of the observations; returns (u, note)."""
    held = _validation_split(len(observations.values), validation, seed)
    fit, check = _subset(observations, ~held), _subset(observations, held)
    scale = 1.0 / max(float(L.diagonal().mean()), 1e-300)
    errors = []
    for weight in TIKHONOV_WEIGHTS:
        u = graph_interpolate(L, fit, weight * scale)
        errors.append(float(np.mean((check.operator @ u - check.values) ** 2)))
    best = TIKHONOV_WEIGHTS[int(np.argmin(errors))]
    return graph_interpolate(L, observations, best * scale), f"smoothing weight {best:g} / mean degree (validation)"


def _distinct_points(points: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Repeated positions merged (their values averaged): a lat-lon grid's pole row is one point many times,
    and repeated points make RBF and kriging systems singular."""
    scale = max(float(np.ptp(points)), 1e-300)
    _, first, inverse = np.unique(np.round(points / scale, 9), axis=0, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    return points[first], np.bincount(inverse, weights=values) / np.bincount(inverse)


RBF_NEIGHBORS = 64  # above this many observations the RBF is local (the nearest 64), as a global one costs m^3


def rbf_interpolate(mesh: Mesh, observations: Observations, at: np.ndarray | None = None) -> tuple[np.ndarray, str]:
    """Thin-plate-spline RBF with a linear polynomial (scipy.interpolate.RBFInterpolator) in 3D coordinates,
    evaluated at the mesh's nodes (or at the points `at`)."""
    from scipy.interpolate import RBFInterpolator

    targets = mesh.vertices if at is None else at
    points, values = _distinct_points(observations.points, observations.values)
    local = len(points) > 4 * RBF_NEIGHBORS
    note = f"local, {RBF_NEIGHBORS} nearest observations" if local else "global"
    neighbors = RBF_NEIGHBORS if local else None
    try:
        return RBFInterpolator(points, values, kernel="thin_plate_spline", degree=1, neighbors=neighbors)(targets), note
    except np.linalg.LinAlgError:
        # observations on one plane (a satellite track is a great circle: its points and the sphere's centre are
        # coplanar) leave the linear polynomial undetermined; a constant one still makes the system solvable
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            rbf = RBFInterpolator(points, values, kernel="thin_plate_spline", degree=0, neighbors=neighbors)
        return rbf(targets), note + "; constant polynomial (the observations are coplanar)"


KRIGING_POINTS = 3000  # most observations kriging conditions on: its dense system costs m^3 (3,000: a few seconds)
KRIGING_CHUNK = 10_000  # target nodes per kriging product (memory: chunk x conditioning points)
KRIGING_MODELS = ("Stable", "Matern")  # covariance families tried, each with and without a nugget
# Least error variance, relative to the sill: observations 80 km apart along a satellite track make the kriging system
# near-singular (without it, ERA z500 under 4 tracks scored R^2 -44: wild weights far from the tracks)
KRIGING_NOISE_FLOOR = 1e-6


@functools.cache
def ordinary_kriging():
    """GSTools' ordinary kriging, summing the field as (conditions . K^-1) . k(x) instead of the library's loop over
    every (conditioning point, conditioning point, target) triple: the same numbers in O(n m) per chunk rather than
    O(n^2 m) (3,000 observations on the bunny's 35k nodes: seconds instead of most of an hour). The kriging
    variance, which needs the full product, still takes the library's path."""
    import gstools as gs

    class OrdinaryKriging(gs.krige.Ordinary):
        def _summate(self, field, krige_var, c_slice, k_vec, return_var):
            if return_var:
                return super()._summate(field, krige_var, c_slice, k_vec, return_var)
            field[c_slice] = (self._krige_cond @ self._krige_mat) @ k_vec

    return OrdinaryKriging


def _noise(model) -> float:
    """The observations' error variance kriging assumes: the fitted nugget, at least KRIGING_NOISE_FLOOR of the sill."""
    return max(model.nugget, KRIGING_NOISE_FLOOR * model.sill)


def kriging_interpolate(mesh: Mesh, observations: Observations, validation: float = 0.15, seed: int = 0) -> tuple[np.ndarray, str]:
    """Ordinary kriging (optimal interpolation) with a covariance fitted to the empirical variogram (GSTools); on
    spheres in latitude / longitude with great-circle distances (km on the Earth).

    Least-squares variogram fits are fragile (on smooth fields they run to a bound or a pure nugget), so each
    family of KRIGING_MODELS is fitted with and without a nugget and the one that predicts a validation split
    of the observations best is kept, then conditioned on all of them.
    """
    import gstools as gs

    points, values = _distinct_points(observations.points, observations.values)
    note = ""
    if len(points) > KRIGING_POINTS:
        keep = np.sort(np.random.default_rng(seed).choice(len(points), KRIGING_POINTS, replace=False))
        points, values = points[keep], values[keep]
        note = f"conditioned on a random {KRIGING_POINTS:,} of the observations; "
    centre = sphere_center(mesh)
    if centre is not None:
        def position(xyz):
            d = xyz - centre
            return (np.degrees(np.arcsin(np.clip(d[:, 2] / np.linalg.norm(d, axis=1), -1, 1))),
                    np.degrees(np.arctan2(d[:, 1], d[:, 0])))
        options, extent, unit = dict(latlon=True, geo_scale=gs.KM_SCALE), np.pi * EARTH_RADIUS_KM, " km"
    else:
        def position(xyz):
            return tuple(xyz.T)
        options, extent, unit = {}, float(np.linalg.norm(np.ptp(mesh.vertices, axis=0))), ""
    spacing = float(np.median(cKDTree(points).query(points, k=2)[0][:, 1]))  # between neighbouring observations
    if centre is not None:
        spacing *= EARTH_RADIUS_KM / float(np.mean(np.linalg.norm(points - centre, axis=1)))
    # bins from the observations' spacing up, geometric: a texture whose spots span a few nodes decorrelates within
    # the first of 25 equal bins up to half the extent, and the fit then sees only noise
    bins = np.concatenate([[0.0], np.geomspace(max(spacing, extent / 1e4), extent / 2, 30)])
    bins, gamma = gs.vario_estimate(position(points), values, bins,
                                    sampling_size=min(len(points), 2000), sampling_seed=seed, **options)
    ok = np.isfinite(gamma)
    held = _validation_split(len(points), validation, seed)
    best = None
    for family in KRIGING_MODELS:
        for nugget in (False, True):
            model = getattr(gs, family)(**options) if options else getattr(gs, family)(dim=3)
            model.set_arg_bounds(len_scale=[extent / 500, extent])
            try:
                model.fit_variogram(bins[ok], gamma[ok], nugget=nugget)
                krige = ordinary_kriging()(model, cond_pos=position(points[~held]), cond_val=values[~held], cond_err=_noise(model))
                guess = krige(position(points[held]), mesh_type="unstructured", return_var=False, store=False)
            except (RuntimeError, ValueError, np.linalg.LinAlgError):  # a fit that fails is one candidate fewer
                continue
            error = float(np.mean((np.asarray(guess) - values[held]) ** 2))
            if np.isfinite(error) and (best is None or error < best[0]):
                best = (error, model)
    if best is None:
        raise GinrError("No covariance model could be fitted to these observations' variogram.")
    model = best[1]
    krige = ordinary_kriging()(model, cond_pos=position(points), cond_val=values, cond_err=_noise(model))
    field_values = krige(position(mesh.vertices), mesh_type="unstructured", return_var=False, store=False,
                         chunk_size=KRIGING_CHUNK)  # bounded memory: a 116k-node grid at once took 12 GB
    return np.asarray(field_values, dtype=np.float64), (
        f"{note}{model.name} covariance (chosen on a validation split), length scale {model.len_scale:.3g}{unit}, "
        f"nugget {model.nugget / max(model.sill, 1e-300):.1%} of the sill"
    )


# --- networks -----------------------------------------------------------------------------------------


@dataclass
class InterpolationSettings:
    """How the networks are built and trained, and how the observations are split.

    k: spectral columns (GINR) or, on spheres, about that many spherical harmonics (INR).
    steps: optimisation steps per network (equal treatment: every network gets the same).
    first_omega_0: first-layer sine frequency of the GINR (10: interpolates smoothly between the observations;
        the fitting default of 90 memorises them).
    validation: fraction of the observations held out for early stopping and for choosing weights.
    folds: cross-validation folds of the stacked GINR's out-of-fold interpolant.
    time_budget_s: seconds of training per method, shared by the stacked method's networks (None: steps only, as
        the benchmark's equal treatment; super-resolution passes its per-strategy budget).
    """

    k: int = 100
    steps: int = 1500
    first_omega_0: float = 10.0
    validation: float = 0.15
    folds: int = 5
    seed: int = 0
    time_budget_s: float | None = None


class _EarlyStopping:
    """A training callback that keeps the weights with the lowest validation error (checked at every progress
    report) and stops the fit once `patience` steps bring no improvement."""

    def __init__(self, regressor: GINRRegressor, features, target, patience: int, forward=None, cancel=None):
        self.regressor, self.features, self.target = regressor, features, target
        self.patience, self.forward = patience, forward
        self.stop = threading.Event()
        self.outer_cancel = cancel
        self.best_error, self.best_state, self.best_step = np.inf, None, 0

    def __call__(self, progress: Progress) -> None:
        error = float(np.mean((self.regressor.predict(self.features) - self.target) ** 2))
        if error < self.best_error:
            self.best_error, self.best_step = error, progress.step
            self.best_state = copy.deepcopy(self.regressor.model_.state_dict())
        elif progress.step - self.best_step > self.patience:
            self.stop.set()
        if self.outer_cancel is not None and self.outer_cancel.is_set():
            self.stop.set()
        if self.forward is not None:
            self.forward(progress)

    def restore(self) -> None:
        if self.best_state is not None:
            self.regressor.model_.load_state_dict(self.best_state)


def _train_config(settings: InterpolationSettings, steps: int | None = None, share: int = 1) -> TrainConfig:
    """`share`: how many networks split the method's time budget."""
    budget = None if settings.time_budget_s is None else settings.time_budget_s / share
    return TrainConfig(steps=steps or settings.steps, time_budget_s=budget, snapshot_every_s=None,
                       seed=settings.seed, log_every=25)


def _fit_network(model_config: ModelConfig, settings: InterpolationSettings, features, target,
                 callback=None, cancel=None, early_stopping: bool = False, share: int = 1) -> tuple[GINRRegressor, str]:
    """Fit one network on the observations (on 1 / `share` of the time budget); with `early_stopping`, a
    validation split of them picks the step."""
    regressor = GINRRegressor(model_config, _train_config(settings, share=share))
    if not early_stopping:
        regressor.fit(features, target, callback=callback, cancel=cancel)
        return regressor, f"{regressor.history_[-1]['step'] if regressor.history_ else 0} steps"
    held = _validation_split(len(target), settings.validation, settings.seed)
    stopper = _EarlyStopping(regressor, features[held], target[held], patience=max(settings.steps // 4, 100),
                             forward=callback, cancel=cancel)
    regressor.fit(features[~held], target[~held], callback=stopper, cancel=stopper.stop)
    cancelled = cancel is not None and cancel.is_set()
    regressor.stop_reason_ = "cancelled" if cancelled else "early stopping" if stopper.stop.is_set() else regressor.stop_reason_
    stopper.restore()
    return regressor, f"best validation step {stopper.best_step} (of {settings.steps})"


XYZ_FIRST_OMEGA_0 = 10.0  # an INR's first-layer frequency for interpolation (coordinates in [-1, 1])


def _network_inputs(problem: InterpolationProblem, name: str) -> tuple[np.ndarray, ModelConfig, str]:
    s = problem.settings
    if name == "inr" and problem.sphere:
        features = sphere_harmonic_embedding(problem.mesh, max(int(np.ceil(np.sqrt(s.k))) - 1, 1)).features
        return features, ModelConfig(k=None, first_omega_0=s.first_omega_0), f"{features.shape[1]} spherical harmonics"
    if name == "inr":
        return problem.mesh.vertices, ModelConfig(input_kind="xyz", k=None, first_omega_0=XYZ_FIRST_OMEGA_0), "xyz input"
    features = problem.embedding()
    return features, ModelConfig(k=features.shape[1], first_omega_0=s.first_omega_0), f"k = {features.shape[1]} eigenvectors"


def network_interpolate(problem: InterpolationProblem, name: str, callback=None, cancel=None) -> tuple[np.ndarray, str]:
    """GINR or INR trained on the observations' features (the barycentric mix of their face's vertices)."""
    features, config, what = _network_inputs(problem, name)
    obs = problem.observations
    regressor, how = _fit_network(config, problem.settings, obs.operator @ features, obs.values, callback, cancel)
    problem.stop_reason = regressor.stop_reason_
    return regressor.predict(features), f"{what}, {how}"


STACK_BASES = ("harmonic", "biharmonic", "rbf")  # the classical interpolants the stacked network reads
# stacked networks averaged, each on other folds: on ERA z500 under 4 tracks single ones scored R^2 0.956, 0.974, 0.983
STACK_REPEATS = 3


def _gap_miss(points: np.ndarray, folds: np.ndarray, target: float) -> float:
    """log(median distance from an observation to the nearest observation of another fold / `target`): below 0,
    the folds leave narrower gaps than the real ones."""
    gaps = [cKDTree(points[folds != f]).query(points[folds == f])[0] for f in np.unique(folds)]
    return float(np.log(max(float(np.median(np.concatenate(gaps))), 1e-300) / max(target, 1e-300)))


def stacking_folds(observations: Observations, targets: np.ndarray, n_folds: int, seed: int = 0) -> np.ndarray:
    """Each observation's fold (0 .. n_folds - 1) for the out-of-fold interpolants of the stacked network.

    A left-out observation must be as hard to guess as a place to predict (`targets`, the unobserved nodes'
    positions), so the folds leave gaps like the real ones: the median distance from a left-out observation to the
    remaining ones is matched to the median distance from a target to the observations. Random folds leave the
    smallest gaps (right for random nodes or a coarse mesh's nodes); where the real gaps are wider (between
    satellite tracks) the folds are spatial blocks (k-means of the positions, several per fold), the fewer and
    larger the wider the gaps. Measured on ERA z500 under 4 tracks: matched blocks (20) R^2 0.983 against 0.960
    with 40 and 0.953 with 80.
    """
    from scipy.cluster.vq import kmeans2

    points, m = observations.points, len(observations.values)
    n_folds = max(2, min(n_folds, m))
    rng = np.random.default_rng(seed + 5)
    random_folds = rng.permutation(m) % n_folds
    if len(targets) == 0:
        return random_folds
    target = float(np.median(cKDTree(points).query(targets)[0]))
    best, best_miss = random_folds, _gap_miss(points, random_folds, target)
    if best_miss >= 0:  # random folds already leave gaps as wide as the real ones
        return best
    n_blocks = 2 * n_folds
    while n_blocks <= m // 4:  # fewer, larger blocks leave wider gaps: grow the count until they are too narrow
        with warnings.catch_warnings():  # an empty block is harmless: it just has no observations
            warnings.simplefilter("ignore", UserWarning)
            _, block = kmeans2(points, n_blocks, seed=seed + 5, minit="++")
        folds = rng.permutation(n_blocks)[block] % n_folds
        miss = _gap_miss(points, folds, target)
        if abs(miss) < abs(best_miss):
            best, best_miss = folds, miss
        if miss < 0:
            break
        n_blocks *= 2
    return best


def _interpolant(problem: InterpolationProblem, name: str, observations: Observations, at: Observations | None = None) -> np.ndarray:
    """The classical interpolant `name` (one of STACK_BASES) of `observations`, at every node or read at `at`'s places."""
    if name == "rbf":
        return rbf_interpolate(problem.mesh, observations, None if at is None else at.points)[0]
    values = graph_interpolate(problem.operator(name), observations)
    return values if at is None else at.operator @ values


def stacked_interpolate(problem: InterpolationProblem, callback=None, cancel=None) -> tuple[np.ndarray, str]:
    """`ginr_stacked`: a network that reads what every classical interpolant says at a node and corrects the best one.

    Each interpolant errs in its own way: the harmonic one flattens, the biharmonic one smooths a Gray-Scott
    spot's peak away, the RBF one overshoots in wide gaps. The network's inputs at a node are the standardised
    values of the STACK_BASES interpolants there; its target is the error of the interpolant that predicts
    left-out observations best. Trained on exact interpolants' values at their own observations it would see no
    error, so each observation's inputs come from the other folds' observations (`stacking_folds`). A ReLU
    network, early stopping on a validation split, and the correction scaled by the factor alpha in [0, 1] that
    fits that split best (0 when the network found nothing: the result is the best interpolant). Which folds
    matter a great deal, so STACK_REPEATS networks on different folds are averaged.

    Position is not an input: measured on ERA z500 under satellite tracks, adding the first 16 eigenvectors
    (scaled 1 or 0.3) lowered R^2 from 0.971 to 0.961 / 0.936, and sine (SIREN) networks did worse than ReLU
    ones on the bunny (0.924 against 0.927): with position the network learns where the left-out observations
    erred, which does not carry over into the gaps.
    """
    s, obs = problem.settings, problem.observations
    full = np.column_stack([_interpolant(problem, name, obs) for name in STACK_BASES])
    predictions, notes = [], []
    for repeat in range(STACK_REPEATS):
        folds = stacking_folds(obs, problem.mesh.vertices[obs.unobserved], s.folds, s.seed + repeat)
        part = None if callback is None else _within_repeat(callback, repeat)
        result = _stacked_once(problem, folds, full, part, cancel)
        if result is None:
            problem.stop_reason = "cancelled"
            return np.full(problem.mesh.n_vertices, np.nan), "cancelled before training"
        predictions.append(result[0])
        notes.append(result[1])
    return np.mean(predictions, axis=0), (
        f"the mean of {STACK_REPEATS} networks, each on its own {s.folds} folds with gaps like the real ones: "
        + "; ".join(notes))


def _within_repeat(callback, repeat: int):
    """`callback` seeing repeat `repeat`'s progress as its share of all STACK_REPEATS (the bar does not restart)."""
    def forward(p: Progress) -> None:
        one = p.elapsed_s + p.eta_s
        if 0 < one < np.inf:
            elapsed = repeat * one + p.elapsed_s
            p = replace(p, elapsed_s=elapsed, eta_s=STACK_REPEATS * one - elapsed)
        callback(p)
    return forward


def _stacked_once(problem: InterpolationProblem, folds: np.ndarray, full: np.ndarray, callback, cancel) -> tuple[np.ndarray, str] | None:
    """One stacked network on one set of folds: (prediction at every node, a note), or None when cancelled."""
    s, obs = problem.settings, problem.observations
    m = len(obs.values)
    out_of_fold = np.empty((m, len(STACK_BASES)))
    for fold in np.unique(folds):
        if cancel is not None and cancel.is_set():
            return None
        held = folds == fold
        for j, name in enumerate(STACK_BASES):
            out_of_fold[held, j] = _interpolant(problem, name, _subset(obs, ~held), _subset(obs, held))
    best = int(np.argmin(np.mean((out_of_fold - obs.values[:, None]) ** 2, axis=0)))
    mean, std = obs.values.mean(), max(float(obs.values.std()), 1e-300)
    train_inputs = (out_of_fold - mean) / std
    error = obs.values - out_of_fold[:, best]
    config = ModelConfig(k=None, activation="relu", first_omega_0=None)
    regressor, how = _fit_network(config, s, train_inputs, error, callback, cancel, early_stopping=True, share=STACK_REPEATS)
    problem.stop_reason = regressor.stop_reason_
    held = _validation_split(m, s.validation, s.seed)
    guess = regressor.predict(train_inputs[held])
    alpha = float(np.clip(guess @ error[held] / max(float(guess @ guess), 1e-300), 0.0, 1.0))
    correction = regressor.predict((full - mean) / std)
    return full[:, best] + alpha * correction, f"corrects {STACK_BASES[best]}, {how}, alpha {alpha:.2f}"


# --- one problem, every method --------------------------------------------------------------------------


class InterpolationProblem:
    """The mesh, observations and settings of one interpolation, with the operators and features every method
    shares built once."""

    def __init__(self, mesh: Mesh, observations: Observations, settings: InterpolationSettings):
        self.mesh, self.observations, self.settings = mesh, observations, settings
        self.sphere = is_sphere(mesh)
        self.stop_reason = None
        self._cache: dict = {}

    def __getstate__(self) -> dict:
        """What a classical method needs in a child process: the operators, not the networks' embedding (n x k)."""
        return {**self.__dict__, "_cache": {key: value for key, value in self._cache.items() if key != "embedding"}}

    def operator(self, name: str) -> sp.csr_matrix:
        if "laplacian" not in self._cache:
            self._cache["laplacian"] = mesh_laplacian(self.mesh)[0]
        L = self._cache["laplacian"]
        if name == "biharmonic":
            if "biharmonic" not in self._cache:
                self._cache["biharmonic"] = (L @ L).tocsr()
            return self._cache["biharmonic"]
        return L

    def embedding(self) -> np.ndarray:
        if "embedding" not in self._cache:
            k = min(self.settings.k, self.mesh.n_vertices - 2)
            self._cache["embedding"] = spectral_embedding(self.mesh, k).features
        return self._cache["embedding"]


def run_method(problem: InterpolationProblem, name: str, callback=None, cancel=None) -> tuple[np.ndarray, str]:
    """(prediction at every node, a note on what was done) of one method."""
    obs = problem.observations
    if name == "harmonic":
        return graph_interpolate(problem.operator("harmonic"), obs), "combinatorial Laplacian, exact at the observations"
    if name == "biharmonic":
        return graph_interpolate(problem.operator("biharmonic"), obs), "squared combinatorial Laplacian, exact at the observations"
    if name == "tikhonov":
        return tikhonov_interpolate(problem.operator("harmonic"), obs, problem.settings.validation, problem.settings.seed)
    if name == "rbf":
        return rbf_interpolate(problem.mesh, obs)
    if name == "kriging":
        return kriging_interpolate(problem.mesh, obs, problem.settings.validation, problem.settings.seed)
    if name in ("ginr", "inr"):
        return network_interpolate(problem, name, callback, cancel)
    if name == "ginr_stacked":
        return stacked_interpolate(problem, callback, cancel)
    raise GinrError(f"Unknown interpolation method '{name}'; choose from {', '.join(METHODS)}.")


# --- scores -------------------------------------------------------------------------------------------


def interpolation_scores(truth, prediction, nodes) -> dict[str, float]:
    """RMSE, the normalised score 1 - RMSE / RMS(truth) (the SSH data challenges') and R^2 on `nodes`."""
    truth, prediction = np.asarray(truth, dtype=np.float64)[nodes], np.asarray(prediction, dtype=np.float64)[nodes]
    if len(truth) == 0:
        raise GinrError("No node is left to score: every node is observed.")
    rmse = float(np.sqrt(np.mean((truth - prediction) ** 2)))
    rms = float(np.sqrt(np.mean(truth**2)))
    return {"rmse": rmse, "score": 1.0 - rmse / rms if rms > 0 else float("nan"), "r2": r2(truth, prediction)}


@dataclass(frozen=True, eq=False)
class Spectrum:
    """Energy per band of the truth and of an error field, longest wavelength first.

    `score` = 1 - error energy / truth energy per band (the SSH data challenges' spectral score, 1 - PSD(error) /
    PSD(truth)); `resolved`, their effective resolution: the wavelength where the score first falls below 0.5,
    going from long to short (interpolated between bands on a log scale), None when even the longest band fails;
    `fully_resolved` says the score never fell below 0.5 within the analysed bands (the scale is then a bound).
    """

    wavelengths: np.ndarray
    truth_energy: np.ndarray
    error_energy: np.ndarray
    unit: str

    @property
    def score(self) -> np.ndarray:
        """Per band; NaN only where neither the truth nor the error has (almost) any energy. An error where the
        truth has next to none scores far below 0.5: the method put energy at a scale the truth has not."""
        floor = EMPTY_BAND * self.truth_energy.sum()
        score = 1.0 - self.error_energy / np.maximum(self.truth_energy, floor)
        return np.where((self.truth_energy > floor) | (self.error_energy > floor), score, np.nan)

    def _bands(self) -> tuple[np.ndarray, np.ndarray]:
        score = self.score
        keep = np.isfinite(score)
        return self.wavelengths[keep], score[keep]

    @property
    def fully_resolved(self) -> bool:
        return bool(np.all(self._bands()[1] >= 0.5))

    @property
    def resolved(self) -> float | None:
        wavelengths, score = self._bands()
        below = np.flatnonzero(score < 0.5)
        if len(below) == 0:
            return float(wavelengths[-1]) if len(wavelengths) else None
        first = int(below[0])
        if first == 0:
            return None
        s0, s1 = score[first - 1], score[first]
        t = (s0 - 0.5) / (s0 - s1)
        w0, w1 = np.log(wavelengths[first - 1]), np.log(wavelengths[first])
        return float(np.exp(w0 + t * (w1 - w0)))


EMPTY_BAND = 1e-6  # a band where truth and error hold less than this fraction of the truth's energy is not scored
SPHERE_BAND_DEGREE = 48  # spherical-harmonic degrees analysed on spheres (wavelength down to ~820 km)
MESH_BAND_EIGENVECTORS = 200  # cotangent eigenfunctions analysed on meshes
MESH_BANDS = 20


class SpectralBands:
    """A band decomposition of node signals on one mesh, built once and applied to many fields.

    Spheres: spherical-harmonic degree l (the sphere read as the Earth), wavelength 2 pi R / sqrt(l (l + 1)) in km;
    coefficients by area-weighted quadrature. Meshes: the first eigenfunctions of the cotangent Laplacian
    (M-orthonormal), wavelength 2 pi / sqrt(lambda) in mesh units, grouped into bands of similar wavelength.
    Energy beyond the analysed bands (finer than the last one) is not counted.
    """

    def __init__(self, mesh: Mesh, degree: int = SPHERE_BAND_DEGREE, n_eigenvectors: int = MESH_BAND_EIGENVECTORS):
        self.mesh = mesh
        self.area = _node_areas(mesh)
        centre = sphere_center(mesh)
        if centre is not None:
            self.centre, self.unit = centre, "km"
            self.degree = degree
            l = np.arange(1, degree + 1)
            self.wavelengths = 2 * np.pi * EARTH_RADIUS_KM / np.sqrt(l * (l + 1))
            self.basis = None
        else:
            self.centre, self.unit = None, "mesh units"
            k = min(n_eigenvectors, mesh.n_vertices - 2)
            emb = spectral_embedding(mesh, k, "cotangent")
            self.basis = emb.features / np.sqrt(self.area.sum())  # M-orthonormal eigenvectors
            eigenvalues = np.maximum(emb.eigenvalues[1:], 1e-300)  # the constant (lambda = 0) is left out
            wavelength = 2 * np.pi / np.sqrt(eigenvalues)
            edges = np.geomspace(wavelength.max() * 1.0001, wavelength.min() * 0.9999, MESH_BANDS + 1)
            band = np.clip(np.searchsorted(-edges, -wavelength) - 1, 0, MESH_BANDS - 1)
            used = np.unique(band)
            self.band_of_column = np.searchsorted(used, band)
            self.wavelengths = np.array([np.exp(np.log(wavelength[band == b]).mean()) for b in used])

    def energies(self, fields: np.ndarray) -> np.ndarray:
        """(n_bands, F) energy per band of each column of `fields` (n, F)."""
        fields = np.asarray(fields, dtype=np.float64).reshape(self.mesh.n_vertices, -1)
        weighted = fields * self.area[:, None]
        if self.basis is not None:
            coefficients = self.basis[:, 1:].T @ weighted
            out = np.zeros((len(self.wavelengths), fields.shape[1]))
            np.add.at(out, self.band_of_column, coefficients**2)
            return out
        scale = 4 * np.pi / self.area.sum()  # quadrature weights normalised to the unit sphere's area
        coefficients = np.zeros(((self.degree + 1) ** 2, fields.shape[1]))
        for start in range(0, len(fields), 8192):
            rows = slice(start, start + 8192)
            coefficients += real_sph_harm(self.mesh.vertices[rows] - self.centre, self.degree).T @ weighted[rows] * scale
        degree_of = np.repeat(np.arange(self.degree + 1), 2 * np.arange(self.degree + 1) + 1)
        out = np.zeros((self.degree + 1, fields.shape[1]))
        np.add.at(out, degree_of, coefficients**2)
        return out[1:]

    def spectra(self, truth, predictions: dict[str, np.ndarray]) -> dict[str, Spectrum]:
        """The error spectrum of each prediction against the truth (one projection for all of them)."""
        names = list(predictions)
        truth = np.asarray(truth, dtype=np.float64)
        fields = np.column_stack([truth - truth.mean()] + [predictions[n] - truth for n in names])
        energy = self.energies(fields)
        return {n: Spectrum(self.wavelengths, energy[:, 0], energy[:, i + 1], self.unit) for i, n in enumerate(names)}


DERIVED_COLUMNS = ("field", "gradient", "Laplacian", "error")


def derived_field_rows(mesh: Mesh, truth, predictions: dict[str, np.ndarray]) -> dict[str, dict[str, np.ndarray | None]]:
    """The inr4ssh layout as data: for the truth and each prediction, its field, surface gradient magnitude,
    Laplace-Beltrami Laplacian and error (prediction - truth; None for the truth itself), by discrete operators."""
    derived = DerivedFields(mesh)
    truth = _check_values(truth, mesh.n_vertices, "truth")
    rows = {"truth": {"field": truth, "gradient": derived.gradient_magnitude(truth),
                      "Laplacian": derived.laplacian_of(truth), "error": None}}
    for name, values in predictions.items():
        values = _check_values(values, mesh.n_vertices, f"{name} prediction")
        rows[name] = {"field": values, "gradient": derived.gradient_magnitude(values),
                      "Laplacian": derived.laplacian_of(values), "error": values - truth}
    return rows


# --- the whole comparison -----------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class MethodOutcome:
    """One method of an interpolation run, as a UI reads it.

    status: "pending", "running", "done", "cancelled" or "failed" (`error` says why). `prediction` at every
    node; `scores` on the unobserved nodes (when the truth is known); `seconds` of wall-clock time.
    """

    name: str
    status: str = "pending"
    prediction: np.ndarray | None = None
    scores: dict | None = None
    seconds: float = 0.0
    notes: str = ""
    error: str | None = None

    @property
    def network(self) -> bool:
        return self.name.startswith(("ginr", "inr"))


def _check_methods(methods) -> tuple[str, ...]:
    methods = tuple(dict.fromkeys(methods))
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise GinrError(f"Unknown interpolation method(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(METHODS)}.")
    return methods


@dataclass(frozen=True, eq=False)
class InterpolationRequest:
    """Every method in `methods` on one set of observations. `truth` (the field at every node, when known) adds
    the scores on the unobserved nodes and, with `spectra`, the error spectra and resolved scales. `domain` and
    `source` name the mesh and the signal in the recorded run."""

    mesh: Mesh
    observations: Observations
    methods: tuple[str, ...] = DEFAULT_METHODS
    truth: np.ndarray | None = None
    settings: InterpolationSettings = field(default_factory=InterpolationSettings)
    spectra: bool = True
    domain: Source = field(default_factory=Source)
    source: Source = field(default_factory=Source)

    def __post_init__(self):
        if self.observations.n_nodes != self.mesh.n_vertices:
            raise GinrError("The observations were made on another mesh (their node count differs).")
        object.__setattr__(self, "methods", _check_methods(self.methods))
        if self.truth is not None:
            object.__setattr__(self, "truth", _check_values(self.truth, self.mesh.n_vertices, "truth"))
            require_unobserved(self.observations)

    @property
    def spec(self) -> RunSpec:
        """The recorded run's spec: the networks' embedding, architecture and recipe, and the methods."""
        s, obs = self.settings, self.observations
        train = TrainConfig(steps=s.steps, time_budget_s=s.time_budget_s, seed=s.seed)
        options = {"methods": list(self.methods), "observations": obs.description, "pattern": obs.pattern,
                   "n_observations": len(obs.values), "settings": vars(s).copy()}
        return RunSpec("interpolation", self.domain, self.source, FeatureSpec(k=s.k), ModelConfig(first_omega_0=s.first_omega_0),
                       train, options)

    @property
    def inputs(self) -> RunInputs:
        """The mesh, the truth (NaN where unknown) and the observations: points, values and the unobserved nodes."""
        obs = self.observations
        target = self.truth if self.truth is not None else np.full(self.mesh.n_vertices, np.nan)
        return RunInputs(self.mesh, target, {"observation_points": obs.points, "observation_values": obs.values,
                                             "unobserved": obs.unobserved})


@dataclass(frozen=True, eq=False)
class InterpolationResult:
    """The outcomes so far (in the request's order) and, once every method has run, the error spectra by method."""

    outcomes: tuple[MethodOutcome, ...]
    spectra: dict[str, Spectrum] = field(default_factory=dict)

    def outcome(self, name: str) -> MethodOutcome:
        return next(o for o in self.outcomes if o.name == name)


def interpolation_task(request: InterpolationRequest, ctx) -> InterpolationResult:
    """Every method in turn (a method that fails is reported and the next one runs); the outcomes are published
    as they change, networks report their training as parts of the job (`ctx.training_callback`)."""
    outcomes = [MethodOutcome(m) for m in request.methods]
    run_id = ctx.registry.create_run(request.spec, request.inputs) if ctx.registry is not None else None
    ctx.set_run(run_id)
    problem = InterpolationProblem(request.mesh, request.observations, request.settings)
    unobserved = request.observations.unobserved
    n = len(outcomes)

    def update(i: int, **changes) -> None:
        outcomes[i] = replace(outcomes[i], **changes)
        ctx.publish(InterpolationResult(tuple(outcomes)))

    ctx.publish(InterpolationResult(tuple(outcomes)))
    for i, name in enumerate(request.methods):
        if ctx.cancelled():
            ctx.stopped_early = True
            update(i, status="cancelled")
            continue
        update(i, status="running")
        ctx.report(i / n, f"{name}", part=name)
        problem.stop_reason = None
        t0 = time.perf_counter()
        try:
            if name in CLASSICAL:  # one dense or sparse solve never checks a flag: run it where a cancel can stop it
                prediction, notes = call_terminable(run_method, problem, name, cancel=ctx.cancel_event, what=name)
            else:
                prediction, notes = run_method(problem, name, ctx.training_callback(name, i / n, 1 / n), ctx.cancel_event)
            stopped = problem.stop_reason == "cancelled"
            ctx.stopped_early = ctx.stopped_early or stopped
            scores = None if request.truth is None else interpolation_scores(request.truth, prediction, unobserved)
            update(i, status="cancelled" if stopped else "done", prediction=prediction, scores=scores, notes=notes,
                   seconds=time.perf_counter() - t0)
        except Cancelled:
            ctx.stopped_early = True
            update(i, status="cancelled", seconds=time.perf_counter() - t0)
        except Exception as exc:  # one method failing (kriging on degenerate data, say) does not stop the others
            update(i, status="failed", error=error_message(exc), seconds=time.perf_counter() - t0)
    spectra = {}
    finished = {o.name: o.prediction for o in outcomes if o.prediction is not None}
    if request.truth is not None and request.spectra and finished and not ctx.cancelled():
        ctx.report(1.0, "error spectra")
        spectra = SpectralBands(request.mesh).spectra(request.truth, finished)
    if run_id is not None:
        _record(ctx, run_id, outcomes, request.mesh.n_vertices)
    return InterpolationResult(tuple(outcomes), spectra)


def _record(ctx, run_id: str, outcomes: list[MethodOutcome], n: int) -> None:
    """Finish the recorded run: every method's prediction (one row each, NaN for a method that gave none), and as
    metrics each method's status, seconds and scores on the unobserved nodes, and the best method's R² as "r2"."""
    predictions = np.stack([np.full(n, np.nan) if o.prediction is None else np.asarray(o.prediction, dtype=np.float64)
                            for o in outcomes])
    methods = {o.name: {"status": o.status, "seconds": o.seconds, **(o.scores or {})} for o in outcomes}
    scored = [o for o in outcomes if o.scores is not None and np.isfinite(o.scores["r2"])]
    best = max(scored, key=lambda o: o.scores["r2"]) if scored else None
    metrics = {"methods": methods, "best": None if best is None else best.name, "r2": None if best is None else best.scores["r2"]}
    status = "cancelled" if ctx.stopped_early else "done" if any(o.status == "done" for o in outcomes) else "failed"
    ctx.registry.finish(run_id, status, predictions=predictions, metrics=metrics, history=[],  # one curve per network: none kept
                        error=None if status != "failed" else "; ".join(f"{o.name}: {o.error}" for o in outcomes if o.error))


def interpolate(mesh: Mesh, observations: Observations, methods=DEFAULT_METHODS, truth=None,
                settings: InterpolationSettings | None = None, spectra: bool = True) -> InterpolationResult:
    """Every method, synchronously, through the job contract (what the CLI and the benchmark run)."""
    from ..runs.jobs import Job

    request = InterpolationRequest(mesh, observations, tuple(methods), truth, settings or InterpolationSettings(), spectra)
    state = Job(interpolation_task, request, label="interpolation").run()
    if state.status == "failed":
        raise GinrError(f"Interpolation failed: {state.error}")
    return state.result


SUPERRES_CLASSICAL = ("harmonic", "biharmonic", "rbf")  # training-free, seconds: beside every super-resolution


def coarse_observations(coarse: Mesh, fine: Mesh, coarse_values, correspondence=None) -> Observations:
    """A super-resolution problem as observations on the fine mesh: the coarse values at their fine nodes (nested
    meshes), or without a correspondence at the coarse vertices' closest points of the fine surface."""
    values = _check_values(coarse_values, coarse.n_vertices, "coarse signal")
    if correspondence is not None:
        truth = np.zeros(fine.n_vertices)
        truth[np.asarray(correspondence)] = values
        return coarse_nodes(fine, correspondence, truth)
    return scattered_points(fine, coarse.vertices, values, "coarse", f"the {coarse.n_vertices:,} coarse vertices")


def classical_rows(mesh: Mesh, observations: Observations, methods=SUPERRES_CLASSICAL) -> dict[str, tuple[np.ndarray, float]]:
    """{method: (prediction at every node, seconds)} of training-free methods (a super-resolution's honest rows)."""
    problem = InterpolationProblem(mesh, observations, InterpolationSettings())
    rows = {}
    for name in methods:
        t0 = time.perf_counter()
        rows[name] = (run_method(problem, name)[0], time.perf_counter() - t0)
    return rows


__all__ = [
    "CLASSICAL", "DEFAULT_METHODS", "InterpolationRequest", "InterpolationResult", "interpolation_task", "DERIVED_COLUMNS", "derived_field_rows", "SUPERRES_CLASSICAL", "classical_rows", "coarse_observations", "METHODS", "NETWORKS", "PATTERNS", "InterpolationSettings",
    "MethodOutcome", "Observations", "SpectralBands", "Spectrum", "at_nodes", "coarse_nodes", "graph_interpolate",
    "ground_track", "interpolate", "interpolation_scores", "kriging_interpolate", "random_nodes", "rbf_interpolate",
    "read_observations_csv", "require_unobserved", "run_method", "satellite_tracks", "scattered_points",
    "stacked_interpolate", "stacking_folds", "tikhonov_interpolate", "track_normals",
]
