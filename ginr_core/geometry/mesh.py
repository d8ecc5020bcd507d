"""Triangle meshes: loading, cleaning, graph structure and subdivision.

A `Mesh` is plain numpy: float64 vertices (n, 3), int64 faces (m, 3), optional per-vertex arrays
(`vertex_data`, e.g. PLY properties) and `source_index`, the row of each vertex in the file it was read
from, so a signal given for the file's vertices can follow every cleaning step.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import struct
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from ..errors import GinrError
from ..storage.files import read_input
from ..settings import check_mesh_file, check_nodes

MESH_EXTENSIONS = ("ply", "obj", "off", "stl", "glb")
MIN_VERTICES = 4  # a tetrahedron: the smallest closed surface; fewer nodes leave nothing to learn
SMALL_MESH = 100  # below this many vertices a network fits any signal exactly (the report says so)


@dataclass(frozen=True, eq=False)
class Mesh:
    vertices: np.ndarray
    faces: np.ndarray
    name: str = "mesh"
    vertex_data: dict[str, np.ndarray] = field(default_factory=dict)
    source_index: np.ndarray | None = None
    n_source_vertices: int | None = None

    def __post_init__(self):
        object.__setattr__(self, "vertices", np.ascontiguousarray(self.vertices, dtype=np.float64))
        object.__setattr__(self, "faces", np.ascontiguousarray(self.faces, dtype=np.int64))
        if self.vertices.ndim != 2 or self.vertices.shape[1] != 3:
            raise GinrError(f"Vertices must have shape (n, 3), got {self.vertices.shape}.")
        if self.faces.ndim != 2 or self.faces.shape[1] != 3:
            raise GinrError(f"Faces must be triangles with shape (m, 3), got {self.faces.shape}.")

    @property
    def n_vertices(self) -> int:
        return len(self.vertices)

    @property
    def n_faces(self) -> int:
        return len(self.faces)

    def edges(self) -> np.ndarray:
        """Unique undirected edges (i < j) of the triangles, shape (e, 2)."""
        f = self.faces
        e = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
        e = np.sort(e, axis=1)
        e = e[e[:, 0] != e[:, 1]]
        return np.unique(e, axis=0)

    def adjacency(self) -> sp.csr_matrix:
        """Unweighted symmetric adjacency matrix of the mesh graph (the paper's A)."""
        e = self.edges()
        n = self.n_vertices
        a = sp.coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n))
        return (a + a.T).tocsr()

    def n_components(self) -> int:
        return connected_components(self.adjacency(), directed=False)[0]

    def content_hash(self) -> str:
        """Stable hash of the geometry (vertices and faces), used as a cache key."""
        h = hashlib.sha256()
        h.update(np.asarray(self.vertices.shape, dtype=np.int64).tobytes())
        h.update(self.vertices.tobytes())
        h.update(self.faces.tobytes())
        return h.hexdigest()[:24]

    def signal_from_source(self, values: np.ndarray) -> np.ndarray:
        """Map a per-vertex array given for the original file's vertices onto this mesh's vertices."""
        values = np.asarray(values)
        expected = self.n_vertices if self.source_index is None else self.n_source_vertices
        if len(values) != expected:
            raise GinrError(
                f"The signal has {len(values):,} values but the mesh file has {expected:,} vertices."
            )
        return values if self.source_index is None else values[self.source_index]


@dataclass(frozen=True)
class CleaningReport:
    """What `clean_mesh` changed, in numbers, with `messages()` for people."""

    vertices_in: int
    faces_in: int
    merged_vertices: int = 0
    seam_vertices: int = 0  # of the merged vertices, those the file reader split off at texture seams / normals
    unreferenced_vertices: int = 0
    degenerate_faces: int = 0
    duplicate_faces: int = 0
    components: int = 1
    dropped_component_vertices: int = 0
    non_manifold_edges: int = 0
    vertices_out: int = 0
    faces_out: int = 0

    def messages(self) -> list[str]:
        out = []
        if self.seam_vertices:
            out.append(f"Merged {self.seam_vertices:,} vertices split at texture seams (the file gives a vertex one copy "
                       "per texture coordinate or normal; a graph needs one node per position).")
        if self.merged_vertices > self.seam_vertices:
            out.append(f"Merged {self.merged_vertices - self.seam_vertices:,} duplicate vertices.")
        if self.unreferenced_vertices:
            out.append(f"Dropped {self.unreferenced_vertices:,} vertices not used by any face.")
        if self.degenerate_faces:
            out.append(f"Dropped {self.degenerate_faces:,} degenerate faces.")
        if self.duplicate_faces:
            out.append(f"Dropped {self.duplicate_faces:,} duplicate faces.")
        if self.dropped_component_vertices:
            out.append(
                f"The mesh has {self.components} connected components: kept the largest and dropped "
                f"{self.dropped_component_vertices:,} vertices."
            )
        if self.non_manifold_edges:
            out.append(
                f"{self.non_manifold_edges:,} edges are shared by more than two faces (non-manifold): graph Laplacians "
                "handle them, but the cotangent Laplacian and the mesh's surface area are unreliable there."
            )
        if self.vertices_out < SMALL_MESH:
            out.append(
                f"Only {self.vertices_out} vertices: a network fits any signal on so few nodes exactly, so a high R² "
                "shows memorisation, not learning. Hold nodes out (INR vs GINR, generalisation mode) to measure it."
            )
        return out


def _subset(mesh: Mesh, keep: np.ndarray, faces: np.ndarray) -> Mesh:
    """Keep the vertices `keep` (indices, in order) and reindex `faces` (given in old indices)."""
    remap = np.full(mesh.n_vertices, -1, dtype=np.int64)
    remap[keep] = np.arange(len(keep))
    if mesh.source_index is None:
        source, n_source = keep, mesh.n_vertices
    else:
        source, n_source = mesh.source_index[keep], mesh.n_source_vertices
    return replace(
        mesh,
        vertices=mesh.vertices[keep],
        faces=remap[faces],
        vertex_data={k: v[keep] for k, v in mesh.vertex_data.items()},
        source_index=source,
        n_source_vertices=n_source,
    )


def face_areas(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """The area of each triangle."""
    a, b, c = (vertices[faces[:, i]] for i in range(3))
    return 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)


def clean_mesh(mesh: Mesh, components: str = "largest", merge_digits: int = 10,
               reader_splits: int = 0) -> tuple[Mesh, CleaningReport]:
    """Make a mesh fit for a graph Laplacian and report every change.

    Steps: merge vertices at identical positions (STL stores each triangle's corners separately), drop
    degenerate (repeated index or zero area) and duplicate faces, drop unreferenced vertices, then handle
    disconnected meshes: `components="largest"` keeps the largest component, `"error"` refuses.
    Per-vertex data and `source_index` follow; where vertices are merged, the first one's row is kept.
    `reader_splits`: copies of file vertices the reader made (see `seam_splits`); merging them back is reported
    as such, not as duplicates.
    """
    if components not in ("largest", "error"):
        raise ValueError("components must be 'largest' or 'error'")
    _check_geometry(mesh)
    n_in, m_in = mesh.n_vertices, mesh.n_faces

    # 1. merge duplicate positions (scale-relative rounding so units do not matter)
    scale = float(np.abs(mesh.vertices).max()) or 1.0
    key = np.round(mesh.vertices / scale, merge_digits)
    _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    merged = n_in - len(first)
    faces = mesh.faces
    if merged:
        # representative of each vertex = first vertex at its position; keep original order
        rep = first[inverse]
        faces = rep[faces]

    # 2. degenerate and duplicate faces
    repeated = (faces[:, 0] == faces[:, 1]) | (faces[:, 1] == faces[:, 2]) | (faces[:, 0] == faces[:, 2])
    zero_area = face_areas(mesh.vertices, faces) <= 1e-14 * scale**2
    degenerate = repeated | zero_area
    faces = faces[~degenerate]
    _, unique_rows = np.unique(np.sort(faces, axis=1), axis=0, return_index=True)
    duplicates = len(faces) - len(unique_rows)
    faces = faces[np.sort(unique_rows)]
    if len(faces) == 0:
        raise GinrError("The mesh has no valid triangles left after removing degenerate faces.")

    # 3. unreferenced vertices (includes the merged-away copies)
    used = np.unique(faces)
    unreferenced = n_in - merged - len(used)
    cleaned = _subset(mesh, used, faces)

    # 4. connected components
    n_comp, labels = connected_components(cleaned.adjacency(), directed=False)
    dropped = 0
    if n_comp > 1:
        sizes = np.bincount(labels)
        if components == "error":
            raise GinrError(
                f"The mesh has {n_comp} disconnected pieces (sizes {', '.join(map(str, sorted(sizes)[::-1][:5]))}"
                f"{', ...' if n_comp > 5 else ''} vertices). A graph Laplacian needs one connected surface: "
                "keep the largest piece or repair the mesh."
            )
        keep_mask = labels == np.argmax(sizes)
        keep = np.flatnonzero(keep_mask)
        dropped = cleaned.n_vertices - len(keep)
        kept_faces = cleaned.faces[keep_mask[cleaned.faces[:, 0]]]
        cleaned = _subset(cleaned, keep, kept_faces)

    if cleaned.n_vertices < MIN_VERTICES:
        raise GinrError(
            f"The mesh has only {cleaned.n_vertices} vertices after cleaning: at least {MIN_VERTICES} (a tetrahedron) are "
            "needed for a spectral embedding to tell nodes apart."
        )
    report = CleaningReport(
        vertices_in=n_in,
        faces_in=m_in,
        merged_vertices=merged,
        seam_vertices=min(merged, reader_splits),
        unreferenced_vertices=unreferenced,
        degenerate_faces=int(degenerate.sum()),
        duplicate_faces=duplicates,
        components=n_comp,
        dropped_component_vertices=dropped,
        non_manifold_edges=_non_manifold_edges(cleaned.faces),
        vertices_out=cleaned.n_vertices,
        faces_out=cleaned.n_faces,
    )
    return cleaned, report


def _non_manifold_edges(faces: np.ndarray) -> int:
    """How many edges more than two triangles share."""
    edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    return int((counts > 2).sum())


def _check_geometry(mesh: Mesh) -> None:
    if mesh.n_vertices == 0 or mesh.n_faces == 0:
        raise GinrError(
            f"The mesh has {mesh.n_vertices} vertices and {mesh.n_faces} faces: a triangle mesh is needed "
            "(point clouds and line sets are not supported)."
        )
    if not np.isfinite(mesh.vertices).all():
        bad = int((~np.isfinite(mesh.vertices).all(axis=1)).sum())
        raise GinrError(f"{bad:,} vertices have NaN or infinite coordinates.")
    missing = mesh.faces[(mesh.faces < 0) | (mesh.faces >= mesh.n_vertices)]
    if len(missing):
        raise GinrError(f"Some faces refer to vertices that do not exist: vertex {int(missing[0])} (the mesh has "
                        f"{mesh.n_vertices:,}, numbered from 0).")


def declared_size(data: bytes, ext: str) -> tuple[int, int]:
    """(vertices, faces) a mesh file says it holds, read from its header or counted lines without parsing it:
    what parsing would cost. (0, 0) when the header cannot be read (the parser then reports the problem)."""
    try:
        if ext == "ply":
            header = data[: data.find(b"end_header")].decode("ascii", "replace") if b"end_header" in data[:65536] else ""
            counts = dict(re.findall(r"^element\s+(vertex|face)\s+(\d+)", header, re.MULTILINE))
            return int(counts.get("vertex", 0)), int(counts.get("face", 0))
        if ext == "obj":
            lines = lambda tag: data.count(b"\n" + tag) + data.startswith(tag)  # noqa: E731
            return lines(b"v "), lines(b"f ")
        if ext == "off":
            words = [w for line in data[:4096].decode("ascii", "replace").splitlines()
                     for w in line.split("#", 1)[0].split()]
            words = words[1:] if words and words[0].upper().endswith("OFF") else words
            return int(words[0]), int(words[1])
        if ext == "stl":
            if data[:5].lower() == b"solid" and b"facet" in data[:1024]:
                faces = data.count(b"endfacet")
            else:  # binary: a count that does not match the length is no binary STL (the parser says so)
                faces = struct.unpack("<I", data[80:84])[0]
                faces = faces if len(data) == 84 + 50 * faces else 0
            return 3 * faces, faces
        if ext == "glb":
            length, kind = struct.unpack("<I4s", data[12:20])
            gltf = json.loads(data[20 : 20 + length]) if kind == b"JSON" else {}
            accessors = gltf.get("accessors", [])
            primitives = [p for m in gltf.get("meshes", []) for p in m.get("primitives", [])]
            count = lambda i: int(accessors[i]["count"]) if isinstance(i, int) and 0 <= i < len(accessors) else 0  # noqa: E731
            return (sum(count(p.get("attributes", {}).get("POSITION")) for p in primitives),
                    sum(count(p.get("indices")) for p in primitives) // 3)
    except (ValueError, IndexError, KeyError, TypeError, AttributeError, struct.error):
        pass
    return 0, 0


def obj_vertex_lines(data: bytes) -> list[bytes]:
    """The payload of every `v` line of an OBJ file ("x y z [r g b]"), in file order: the file's own vertices."""
    return re.findall(rb"(?m)^v[ \t]+([^\r\n#]*)", data)


def seam_splits(data: bytes, ext: str, n_read: int) -> int:
    """How many vertices a reader added to an OBJ file's own: trimesh gives a vertex one copy per texture coordinate
    (or normal) it carries, so a UV seam splits every vertex along it. 0 for other formats."""
    if ext != "obj" or not re.search(rb"(?m)^v[tn]\s", data):
        return 0
    corners = re.findall(rb"(?m)^f[ \t]+([^\r\n#]*)", data)
    positions = {int(c.split(b"/", 1)[0]) for line in corners for c in line.split()}
    n_file = len(obj_vertex_lines(data))
    resolved = {p if p > 0 else n_file + 1 + p for p in positions}  # OBJ counts negative indices from the end
    return max(0, n_read - len(resolved))


def read_mesh(
    source: str | os.PathLike | bytes,
    filename: str | None = None,
    max_bytes: int | None = None,
) -> Mesh:
    """Read a ply / obj / off / stl / glb file exactly as stored (no cleaning).

    `source` is a path, or the file's bytes with `filename` giving its extension (as a browser upload
    does). Scenes with several geometries are merged into one mesh. PLY vertex properties other than
    x, y, z land in `vertex_data`.
    """
    return _read_with_splits(source, filename, max_bytes)[0]


def _read_with_splits(source, filename: str | None, max_bytes: int | None) -> tuple[Mesh, int]:
    """`read_mesh`, and how many of the vertices read are the reader's copies of a file vertex (`seam_splits`)."""
    import trimesh

    data, name, ext = read_input(source, filename, max_bytes, MESH_EXTENSIONS, what="mesh")
    check_mesh_file(name, *declared_size(data, ext))

    try:
        loaded = trimesh.load(io.BytesIO(data), file_type=ext, process=False)
    except Exception as exc:  # trimesh raises many types for corrupt files
        detail = str(exc) or type(exc).__name__
        out_of_bounds = re.search(r"index (-?\d+) is out of bounds for axis 0 with size (\d+)", detail)
        if isinstance(exc, IndexError) and out_of_bounds:
            index, size = int(out_of_bounds[1]), int(out_of_bounds[2])
            first = 1 if ext == "obj" else 0  # OBJ numbers its vertices from 1: name the index as the file writes it
            raise GinrError(f"Some faces of {name} refer to vertices that do not exist: vertex {index + first if index >= 0 else index} "
                            f"(the file has {size:,}, numbered from {first}).") from exc
        raise GinrError(f"Could not read {name} as a .{ext} mesh: the file is truncated or corrupt ({detail}).") from exc

    vertex_data: dict[str, np.ndarray] = {}
    if isinstance(loaded, trimesh.Scene):
        if not loaded.geometry:
            raise GinrError(f"{name} contains no mesh (the file is empty or not a valid .{ext} file).")
        meshes = [g for g in loaded.dump() if isinstance(g, trimesh.Trimesh)]
        if not meshes:
            raise GinrError(f"{name} contains no triangle mesh (only points or lines).")
        loaded = trimesh.util.concatenate(meshes) if len(meshes) > 1 else meshes[0]
    elif not isinstance(loaded, trimesh.Trimesh):
        raise GinrError(f"{name} contains no triangle mesh (got a {type(loaded).__name__}).")
    else:
        raw = loaded.metadata.get("_ply_raw", {}).get("vertex", {}).get("data")
        if isinstance(raw, np.ndarray) and raw.dtype.names:  # binary PLY: a structured array
            raw = {key: raw[key] for key in raw.dtype.names}
        if isinstance(raw, dict):  # ASCII PLY: one (n, 1) array per property
            for key, values in raw.items():
                values = np.asarray(values)
                if values.ndim == 2 and values.shape[1] == 1:
                    values = values[:, 0]
                if key not in ("x", "y", "z") and values.ndim == 1 and len(values) == len(loaded.vertices):
                    vertex_data[key] = values.astype(np.float64)

    vertices = np.asarray(loaded.vertices, dtype=np.float64)
    faces = np.asarray(loaded.faces, dtype=np.int64)
    if faces.ndim != 2 or faces.shape[-1] != 3:
        faces = faces.reshape(-1, 3) if faces.size else np.zeros((0, 3), dtype=np.int64)
    splits = seam_splits(data, ext, len(vertices))
    lines = obj_vertex_lines(data) if splits else []
    file_rows = obj_file_rows(lines, vertices) if splits else None
    mesh = Mesh(vertices, faces, name=Path(name).stem, vertex_data=vertex_data, source_index=file_rows,
                n_source_vertices=None if file_rows is None else len(lines))
    _check_geometry(mesh)
    return mesh, splits


def obj_file_rows(lines: list[bytes], vertices: np.ndarray) -> np.ndarray | None:
    """For each vertex the reader returned, the row of the OBJ file's `v` line (`obj_vertex_lines`) at its position
    (the first such line), so a signal given per file vertex maps onto a mesh whose reader split vertices at seams.
    None when a vertex matches no line exactly."""
    try:
        positions = np.array([[float(x) for x in line.split()[:3]] for line in lines], dtype=np.float64)
    except ValueError:
        return None
    if positions.ndim != 2 or positions.shape[1] != 3:
        return None
    both = np.concatenate([positions, vertices])
    _, first, inverse = np.unique(both, axis=0, return_index=True, return_inverse=True)
    rows = first[inverse.reshape(-1)[len(positions):]]
    return rows if (rows < len(positions)).all() else None


def load_mesh(
    source: str | os.PathLike | bytes,
    filename: str | None = None,
    components: str = "largest",
    max_bytes: int | None = None,
) -> tuple[Mesh, CleaningReport]:
    """Read a mesh file and clean it (see `read_mesh` and `clean_mesh`), within GINR_MAX_NODES nodes."""
    mesh, splits = _read_with_splits(source, filename, max_bytes)
    mesh, report = clean_mesh(mesh, components=components, reader_splits=splits)
    check_nodes(mesh.n_vertices, f"The mesh in {mesh.name}")
    return mesh, report


def subdivide(mesh: Mesh, levels: int = 1, method: str = "midpoint") -> Mesh:
    """Refine every triangle into four, `levels` times, for super-resolution targets.

    The original vertices keep their indices (they come first), so a signal on the coarse mesh is a
    signal on the first rows of the fine one. `midpoint` keeps them in place (same surface); `loop`
    smooths the surface and so moves them. Per-vertex data is not carried (new vertices have none).
    """
    import trimesh

    if method not in ("midpoint", "loop"):
        raise ValueError("method must be 'midpoint' or 'loop'")
    check_nodes(mesh.n_vertices * 4**levels, f"{mesh.name} subdivided {levels} times")  # each level about quadruples it
    v, f = mesh.vertices, mesh.faces
    for _ in range(levels):
        if method == "midpoint":
            v, f = trimesh.remesh.subdivide(v, f)
        else:
            v, f = trimesh.remesh.subdivide_loop(v, f, iterations=1)
    return Mesh(v, f, name=f"{mesh.name} ({method} x{levels})")
