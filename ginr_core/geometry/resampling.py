"""Resampling between two meshes of one surface: which fine vertex is each coarse one (nested meshes), the
barycentric operator reading vertex values at the closest points of a mesh, finer and coarser versions of a mesh
or a lat-lon grid, and values read back at the coarse nodes. Super-resolution and interpolation use them."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree

from ..errors import GinrError
from .domains import latlon_grid
from .mesh import Mesh, subdivide
from .sphere import sphere_center


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


def vtk_surface(mesh: Mesh):
    """The mesh as a pyvista.PolyData of triangles (VTK's closest-point search and decimation work on it)."""
    import pyvista as pv

    return pv.PolyData(mesh.vertices, np.hstack([np.full((mesh.n_faces, 1), 3), mesh.faces]).ravel())


def barycentric_operator(mesh: Mesh, points: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
    """Sparse P (n_points, n_vertices) interpolating vertex values at the closest point of `mesh`, and the
    distance from each point to that closest point.

    Closest points are exact: VTK's static cell locator (through pyvista, a dependency of the views) searches
    every triangle. A search among the triangles with the nearest centroids, used before, missed the closest one
    on the long thin triangles of a decimated mesh (23 bunny vertices against its 1/16 decimation, up to a
    fifth of the mesh size off on a flat square). Each row of P holds the barycentric coordinates of the closest
    point in its triangle (clipped to be non-negative, summing to 1).
    """
    import trimesh

    points = np.asarray(points, dtype=np.float64)
    face, closest = vtk_surface(mesh).find_closest_cell(points, return_closest_point=True)
    face, closest = np.asarray(face, dtype=np.int64).reshape(-1), np.asarray(closest, dtype=np.float64).reshape(-1, 3)
    weights = trimesh.triangles.points_to_barycentric(mesh.vertices[mesh.faces[face]], closest)
    weights = np.clip(np.nan_to_num(weights), 0.0, None)
    weights /= np.maximum(weights.sum(axis=1, keepdims=True), 1e-300)
    rows = np.arange(len(points))
    P = sp.csr_matrix(
        (weights.ravel(), (np.repeat(rows, 3), mesh.faces[face].ravel())), shape=(len(points), mesh.n_vertices)
    )
    return P, np.linalg.norm(closest - points, axis=1)


def check_correspondence(correspondence, coarse: Mesh, fine: Mesh) -> np.ndarray:
    """`correspondence` as int64 fine-vertex indices, one per coarse vertex, all distinct (else a GinrError)."""
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
