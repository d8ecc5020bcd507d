"""Spheres, analytically: real spherical harmonics, a sphere test and the exact spectral embedding.

The spherical harmonics are the Laplace-Beltrami eigenfunctions of the sphere (eigenvalue l (l + 1) on
the unit sphere), so on a sphere domain they replace the graph eigenvectors with features that are exact
at any resolution: the same point gets the same features on a coarse and on a fine grid, which is what
super-resolution needs.
"""

from __future__ import annotations

import numpy as np

from ..errors import GinrError
from .mesh import Mesh
from .spectral import Embedding

MAX_DEGREE = 200
SPHERE_EMBEDDING = "spherical_harmonics"  # the `laplacian` label of the analytic embedding


def _check_degree(degree: int) -> int:
    degree = int(degree)
    if not 0 <= degree <= MAX_DEGREE:
        raise GinrError(f"The spherical-harmonic degree must be between 0 and {MAX_DEGREE}.")
    return degree


def sh_index(l: int, m: int) -> int:
    """Column of Y_l^m in `real_sph_harm`'s output: degree by degree, m = -l .. l within a degree."""
    return l * l + l + m


def real_sph_harm(xyz: np.ndarray, degree: int) -> np.ndarray:
    """Real spherical harmonics up to `degree` at the directions `xyz` (n, 3), shape (n, (degree + 1)^2).

    Orthonormal on the unit sphere (the integral of Y_i Y_j over the sphere is delta_ij), without the
    Condon-Shortley phase: Y_l^0 = P_l^0, Y_l^m = sqrt(2) P_l^m cos(m phi), Y_l^-m = sqrt(2) P_l^m sin(m phi),
    with P the fully normalised associated Legendre functions of cos(theta) (theta from +z). Computed by
    the standard stable three-term recurrences, accurate far beyond degree 40. Rows need not be unit
    vectors (they are normalised) but must be non-zero.
    """
    degree = _check_degree(degree)
    xyz = np.asarray(xyz, dtype=np.float64)
    if xyz.ndim != 2 or xyz.shape[1] != 3:
        raise GinrError(f"Directions must have shape (n, 3), got {xyz.shape}.")
    r = np.linalg.norm(xyz, axis=1)
    if np.any(r == 0) or not np.isfinite(r).all():
        raise GinrError("Spherical harmonics need non-zero, finite directions.")
    x, y, z = (xyz / r[:, None]).T
    cos_t = np.clip(z, -1.0, 1.0)
    sin_t = np.hypot(x, y)
    phi = np.arctan2(y, x)

    out = np.empty((len(xyz), (degree + 1) ** 2))
    p_mm = np.full(len(xyz), np.sqrt(1.0 / (4 * np.pi)))  # P_m^m, updated as m grows
    for m in range(degree + 1):
        if m > 0:
            p_mm = np.sqrt((2 * m + 1) / (2.0 * m)) * sin_t * p_mm
        if m == 0:
            cos_m, sin_m = 1.0, None
        else:
            cos_m, sin_m = np.sqrt(2.0) * np.cos(m * phi), np.sqrt(2.0) * np.sin(m * phi)
        p_prev, p_cur = None, p_mm
        for l in range(m, degree + 1):
            if l == m + 1:
                p_prev, p_cur = p_cur, np.sqrt(2 * m + 3.0) * cos_t * p_cur
            elif l > m + 1:
                a = np.sqrt((4.0 * l * l - 1) / (l * l - m * m))
                b = np.sqrt(((l - 1.0) ** 2 - m * m) / (4.0 * (l - 1) ** 2 - 1))
                p_prev, p_cur = p_cur, a * (cos_t * p_cur - b * p_prev)
            out[:, sh_index(l, m)] = p_cur * cos_m
            if m > 0:
                out[:, sh_index(l, -m)] = p_cur * sin_m
    return out


def sphere_center(mesh: Mesh, tol: float = 1e-3) -> np.ndarray | None:
    """Centre of the sphere the vertices lie on (the origin, else their centroid), or None.

    A sphere here: every vertex's distance to the centre is within `tol` (relative) of the mean distance.
    """
    v = mesh.vertices
    if len(v) < 4:
        return None
    for centre in (np.zeros(3), v.mean(axis=0)):
        r = np.linalg.norm(v - centre, axis=1)
        mean = r.mean()
        if mean > 0 and np.abs(r - mean).max() <= tol * mean:
            return centre
    return None


def is_sphere(mesh: Mesh, tol: float = 1e-3) -> bool:
    """True when all vertices lie on one sphere centred at the origin or at their centroid."""
    return sphere_center(mesh, tol) is not None


def _directions(mesh: Mesh, tol: float) -> np.ndarray:
    centre = sphere_center(mesh, tol)
    if centre is None:
        raise GinrError(
            f"'{mesh.name}' is not a sphere (its vertices are not all at the same distance from the centre), "
            "so spherical harmonics do not apply. Use the graph embedding instead."
        )
    return mesh.vertices - centre


def sphere_harmonic_embedding(mesh: Mesh, degree: int, tol: float = 1e-3) -> Embedding:
    """Exact spectral embedding of a sphere domain: its (degree + 1)^2 spherical harmonics.

    Features are ordered by degree (eigenvalue l (l + 1) on the unit sphere) and scaled by sqrt(4 pi),
    so each has mean square 1 over the sphere, like the paper's sqrt(n) * unit-norm graph eigenvectors.
    degree = 9 gives the paper's k = 100 features. The result is the graph embedding's `Embedding`, with
    laplacian = "spherical_harmonics" and k = (degree + 1)^2.
    """
    degree = _check_degree(degree)
    features = np.sqrt(4 * np.pi) * real_sph_harm(_directions(mesh, tol), degree)
    degrees = np.repeat(np.arange(degree + 1), 2 * np.arange(degree + 1) + 1)
    eigenvalues = (degrees * (degrees + 1)).astype(np.float64)
    return Embedding(eigenvalues=eigenvalues, features=features, laplacian=SPHERE_EMBEDDING, k=features.shape[1])


def random_sh_field(mesh: Mesh, max_degree: int = 8, power: float = 2.0, seed: int = 0, tol: float = 1e-3) -> np.ndarray:
    """A smooth random field on a sphere domain: random spherical-harmonic coefficients.

    Coefficients of degrees 1..max_degree (no mean) are Gaussian with variance proportional to
    (l + 1)^-power (larger power = smoother), normalised so the field's expected mean square is 1.
    The field is a function of direction only, so a seed gives the same field on any sphere mesh.
    """
    max_degree = _check_degree(max_degree)
    if max_degree < 1:
        raise GinrError("A random spherical-harmonic field needs max_degree of at least 1.")
    directions = _directions(mesh, tol)
    degrees = np.repeat(np.arange(max_degree + 1), 2 * np.arange(max_degree + 1) + 1)
    variance = np.where(degrees > 0, (degrees + 1.0) ** -float(power), 0.0)
    variance /= variance.sum()  # sum over (l, m) of the variances = expected mean square of sqrt(4 pi) Y a
    coefficients = np.random.default_rng(seed).standard_normal(len(degrees)) * np.sqrt(variance)
    return np.sqrt(4 * np.pi) * real_sph_harm(directions, max_degree) @ coefficients


__all__ = [
    "SPHERE_EMBEDDING",
    "is_sphere",
    "random_sh_field",
    "real_sph_harm",
    "sh_index",
    "sphere_center",
    "sphere_harmonic_embedding",
]
