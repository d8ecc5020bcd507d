"""The classical interpolants (no training): harmonic / biharmonic graph interpolation, Tikhonov smoothing, a
thin-plate-spline RBF and ordinary kriging."""

from __future__ import annotations

import functools
import warnings
from dataclasses import replace

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as sla
from scipy.spatial import cKDTree

from ...errors import GinrError
from ...geometry.mesh import Mesh
from ...geometry.sphere import sphere_center
from .observations import EARTH_RADIUS_KM, Observations

CLASSICAL = ("harmonic", "tikhonov", "biharmonic", "rbf", "kriging")


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


def validation_split(m: int, fraction: float, seed: int) -> np.ndarray:
    """A boolean mask of about `fraction` of m observations (at least one, never all)."""
    rng = np.random.default_rng(seed + 17)
    mask = np.zeros(m, dtype=bool)
    mask[rng.choice(m, int(np.clip(round(fraction * m), 1, m - 1)), replace=False)] = True
    return mask


def observation_subset(observations: Observations, keep: np.ndarray) -> Observations:
    return replace(observations, operator=observations.operator[keep], values=observations.values[keep],
                   points=observations.points[keep])


TIKHONOV_WEIGHTS = (1e-3, 1e-2, 1e-1, 1.0)  # relative to 1 / (mean degree): from nearly exact to strongly smoothed


def tikhonov_interpolate(L: sp.spmatrix, observations: Observations, validation: float = 0.15, seed: int = 0) -> tuple[np.ndarray, str]:
    """Tikhonov graph smoothing, its weight chosen on a validation split of the observations; returns (u, note)."""
    held = validation_split(len(observations.values), validation, seed)
    fit, check = observation_subset(observations, ~held), observation_subset(observations, held)
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
    held = validation_split(len(points), validation, seed)
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


