"""Observations of a field on a mesh: where it is known (random nodes, satellite ground tracks, scattered points,
a coarse mesh's nodes, an uploaded CSV) and the sparse operator that reads node values at those places."""

from __future__ import annotations

import csv
import io
import itertools
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp

from ...errors import GinrError
from ...geometry.domains import lat_lon_to_xyz
from ...geometry.laplacian import mesh_laplacian
from ...geometry.mesh import Mesh
from ...geometry.resampling import barycentric_operator
from ...geometry.sphere import sphere_center
from ...settings import check_observations, limits
from ...storage.files import read_input

EARTH_RADIUS_KM = 6371.0
PATTERNS = ("random", "tracks", "points", "coarse")


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


def check_values(values, n: int, what: str = "signal") -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or len(values) != n:
        raise GinrError(f"Interpolation needs one scalar value per node ({n:,}); the {what} has shape {values.shape}.")
    if not np.isfinite(values).all():
        raise GinrError(f"The {what} contains NaN or infinite values.")
    return values


def at_nodes(mesh: Mesh, nodes, truth, pattern: str, description: str) -> Observations:
    """Observations of `truth` (one value per node) at the given nodes (each at most once)."""
    truth = check_values(truth, mesh.n_vertices)
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
    truth = check_values(truth, mesh.n_vertices)
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


def node_areas(mesh: Mesh) -> np.ndarray:
    return mesh_laplacian(mesh, "cotangent")[1].diagonal()


def _area_fraction(mesh: Mesh, mask: np.ndarray) -> float:
    area = node_areas(mesh)
    return float(area[mask].sum() / area.sum())


def _half_width_for_coverage(mesh: Mesh, angle: np.ndarray, coverage: float) -> float:
    """The smallest swath half-width (radians) whose nodes hold `coverage` of the area: the area-weighted
    quantile of the nodes' distances to the nearest track."""
    area = node_areas(mesh)
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


def coarse_observations(coarse: Mesh, fine: Mesh, coarse_values, correspondence=None) -> Observations:
    """A super-resolution problem as observations on the fine mesh: the coarse values at their fine nodes (nested
    meshes), or without a correspondence at the coarse vertices' closest points of the fine surface."""
    values = check_values(coarse_values, coarse.n_vertices, "coarse signal")
    if correspondence is not None:
        truth = np.zeros(fine.n_vertices)
        truth[np.asarray(correspondence)] = values
        return coarse_nodes(fine, correspondence, truth)
    return scattered_points(fine, coarse.vertices, values, "coarse", f"the {coarse.n_vertices:,} coarse vertices")
