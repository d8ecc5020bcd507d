"""Built-in domains that need no download: spheres, a torus and a few shapes that make good demos.

Every builder returns a `Mesh` with outward-facing triangles. `BUILTIN_DOMAINS` lists them with their
default parameters for the dashboard and the CLI (`make_domain(name, **params)`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import GinrError
from ..settings import check_nodes
from .mesh import Mesh


def _grid_faces(n_rows: int, n_cols: int, wrap_rows: bool, wrap_cols: bool) -> np.ndarray:
    """Two triangles per cell of a row-major (n_rows, n_cols) vertex grid, optionally periodic."""
    rows = np.arange(n_rows if wrap_rows else n_rows - 1)
    cols = np.arange(n_cols if wrap_cols else n_cols - 1)
    r, c = (a.ravel() for a in np.meshgrid(rows, cols, indexing="ij"))
    r1, c1 = (r + 1) % n_rows, (c + 1) % n_cols
    v00, v01, v10, v11 = r * n_cols + c, r * n_cols + c1, r1 * n_cols + c, r1 * n_cols + c1
    return np.concatenate([np.stack([v00, v10, v11], 1), np.stack([v00, v11, v01], 1)])


def _orient_outward(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Flip all faces if the signed volume is negative (the grids above are built one way round)."""
    a, b, c = (vertices[faces[:, i]] for i in range(3))
    volume = np.einsum("ij,ij->i", a, np.cross(b, c)).sum()
    return faces[:, ::-1] if volume < 0 else faces


def icosphere(level: int = 4, radius: float = 1.0) -> Mesh:
    """Subdivided icosahedron: 10 * 4**level + 2 nearly uniform vertices."""
    import trimesh

    if not 0 <= level <= 8:
        raise GinrError("Icosphere level must be between 0 and 8.")
    s = trimesh.creation.icosphere(subdivisions=level, radius=radius)
    return Mesh(s.vertices, s.faces, name=f"icosphere-{level}")


def lat_lon_to_xyz(lat_deg: np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
    """Unit vectors for latitudes / longitudes in degrees (same broadcasting as numpy)."""
    lat, lon = np.deg2rad(lat_deg), np.deg2rad(lon_deg)
    return np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=-1)


def latlon_grid(lat_deg: np.ndarray, lon_deg: np.ndarray, radius: float = 1.0) -> Mesh:
    """Sphere mesh whose vertex i * n_lon + j sits at (lat[i], lon[j]): a row-major grid, as data is stored.

    Longitudes wrap around. A pole row (|lat| = 90) keeps one node per longitude so gridded data maps
    one to one (181 x 360 gives the paper's 65,160 nodes); as those nodes coincide, only the non-degenerate
    triangle of each polar cell is kept, so every triangle has positive area. `vertex_data` holds the
    "lat" and "lon" of each node.
    """
    lat = np.asarray(lat_deg, dtype=np.float64).ravel()
    lon = np.asarray(lon_deg, dtype=np.float64).ravel()
    if len(lat) < 2 or len(lon) < 3:
        raise GinrError("A latitude-longitude grid needs at least 2 latitudes and 3 longitudes.")
    if not (np.all(np.diff(lat) > 0) or np.all(np.diff(lat) < 0)):
        raise GinrError("Latitudes must be strictly increasing or strictly decreasing.")
    if np.abs(lat).max() > 90 + 1e-9:
        raise GinrError("Latitudes must lie in [-90, 90] degrees.")
    if np.isclose((lon[-1] - lon[0]) % 360, 0) or np.isclose((lon[-1] - lon[0]) % 360, 360):
        raise GinrError("The last longitude repeats the first (e.g. 0 and 360): drop the last column.")
    n_lat, n_lon = len(lat), len(lon)
    check_nodes(n_lat * n_lon, f"The {n_lat:,} x {n_lon:,} latitude-longitude grid")
    lat_grid, lon_grid = np.meshgrid(lat, lon, indexing="ij")
    vertices = radius * lat_lon_to_xyz(lat_grid, lon_grid).reshape(-1, 3)
    faces = _grid_faces(n_lat, n_lon, wrap_rows=False, wrap_cols=True)
    row = faces // n_lon
    pole_rows = np.flatnonzero(np.isclose(np.abs(lat), 90.0))
    for p in pole_rows:
        faces = faces[(row == p).sum(axis=1) < 2]
        row = faces // n_lon
    faces = _orient_outward(vertices, faces)
    return Mesh(
        vertices,
        faces,
        name=f"lat-lon {n_lat}x{n_lon}",
        vertex_data={"lat": lat_grid.ravel(), "lon": lon_grid.ravel()},
    )


def latlon_sphere(n_lat: int = 91, n_lon: int = 180, radius: float = 1.0) -> Mesh:
    """Equiangular grid: latitudes from 90 to -90 inclusive, longitudes 0, 360/n_lon, ... (as ERA / GFS files)."""
    if n_lat < 3 or n_lon < 3:
        raise GinrError("A latitude-longitude sphere needs at least 3 x 3 nodes.")
    lat = np.linspace(90.0, -90.0, n_lat)
    lon = np.arange(n_lon) * (360.0 / n_lon)
    return latlon_grid(lat, lon, radius)


def torus(n_major: int = 96, n_minor: int = 48, major_radius: float = 1.0, minor_radius: float = 0.4) -> Mesh:
    if minor_radius >= major_radius:
        raise GinrError("The torus's minor radius must be smaller than its major radius.")
    u = np.arange(n_major) * (2 * np.pi / n_major)
    v = np.arange(n_minor) * (2 * np.pi / n_minor)
    uu, vv = np.meshgrid(u, v, indexing="ij")
    ring = major_radius + minor_radius * np.cos(vv)
    vertices = np.stack([ring * np.cos(uu), ring * np.sin(uu), minor_radius * np.sin(vv)], -1).reshape(-1, 3)
    faces = _orient_outward(vertices, _grid_faces(n_major, n_minor, True, True))
    return Mesh(vertices, faces, name=f"torus {n_major}x{n_minor}")


def trefoil_knot(n_along: int = 240, n_around: int = 24, tube_radius: float = 0.35) -> Mesh:
    """A tube around a trefoil knot: a surface whose intrinsic and extrinsic geometry disagree."""
    t = np.arange(n_along) * (2 * np.pi / n_along)
    curve = np.stack([np.sin(t) + 2 * np.sin(2 * t), np.cos(t) - 2 * np.cos(2 * t), -np.sin(3 * t)], -1)
    d1 = np.stack([np.cos(t) + 4 * np.cos(2 * t), -np.sin(t) + 4 * np.sin(2 * t), -3 * np.cos(3 * t)], -1)
    d2 = np.stack([-np.sin(t) - 8 * np.sin(2 * t), -np.cos(t) + 8 * np.cos(2 * t), 9 * np.sin(3 * t)], -1)
    tangent = d1 / np.linalg.norm(d1, axis=1, keepdims=True)
    binormal = np.cross(d1, d2)
    binormal /= np.linalg.norm(binormal, axis=1, keepdims=True)
    normal = np.cross(binormal, tangent)
    a = np.arange(n_around) * (2 * np.pi / n_around)
    offset = np.cos(a)[None, :, None] * normal[:, None] + np.sin(a)[None, :, None] * binormal[:, None]
    vertices = (curve[:, None] + tube_radius * offset).reshape(-1, 3)
    faces = _orient_outward(vertices, _grid_faces(n_along, n_around, True, True))
    return Mesh(vertices, faces, name="trefoil knot")


def bumpy_sphere(level: int = 4, amplitude: float = 0.25) -> Mesh:
    """An icosphere with smooth bumps (radius 1 + amplitude * a fixed low-frequency field)."""
    base = icosphere(level)
    x, y, z = base.vertices.T
    bumps = np.sin(3 * x) * np.cos(2 * y) + 0.5 * np.sin(4 * z + x)
    vertices = base.vertices * (1 + amplitude * bumps / np.abs(bumps).max())[:, None]
    return Mesh(vertices, base.faces, name=f"bumpy sphere-{level}")


def square_grid(n: int = 64) -> Mesh:
    """A flat [-1, 1]^2 sheet with a boundary: the classic image-INR domain seen as a mesh."""
    if n < 2:
        raise GinrError("A square grid needs at least 2 x 2 nodes.")
    s = np.linspace(-1.0, 1.0, n)
    xx, yy = np.meshgrid(s, s, indexing="ij")
    vertices = np.stack([xx, yy, np.zeros_like(xx)], -1).reshape(-1, 3)
    return Mesh(vertices, _grid_faces(n, n, False, False), name=f"square {n}x{n}")


@dataclass(frozen=True)
class Domain:
    build: Callable[..., Mesh]
    defaults: dict
    description: str


BUILTIN_DOMAINS: dict[str, Domain] = {
    "icosphere": Domain(icosphere, {"level": 4}, "Nearly uniform sphere (subdivided icosahedron)."),
    "latlon_sphere": Domain(latlon_sphere, {"n_lat": 91, "n_lon": 180}, "Equiangular latitude-longitude grid, as weather data."),
    "torus": Domain(torus, {"n_major": 96, "n_minor": 48}, "Torus: a surface with a hole."),
    "trefoil_knot": Domain(trefoil_knot, {"n_along": 240, "n_around": 24}, "Tube around a trefoil knot."),
    "bumpy_sphere": Domain(bumpy_sphere, {"level": 4}, "Sphere with smooth bumps."),
    "square_grid": Domain(square_grid, {"n": 64}, "Flat square sheet with a boundary."),
}


def make_domain(name: str, **params) -> Mesh:
    """Build a built-in domain by name, with its defaults overridden by `params`."""
    if name not in BUILTIN_DOMAINS:
        raise GinrError(f"Unknown domain '{name}'. Built-in domains: {', '.join(BUILTIN_DOMAINS)}.")
    domain = BUILTIN_DOMAINS[name]
    mesh = domain.build(**{**domain.defaults, **params})
    check_nodes(mesh.n_vertices, f"The {name} domain")
    return mesh
