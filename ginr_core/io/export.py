"""Files to hand to other tools: meshes with per-vertex scalars, reference-layout samples, checkpoints.

Each function returns bytes, so the dashboard can offer them as downloads and the CLI can write them.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import numpy as np

from ..errors import GinrError
from ..geometry.mesh import Mesh


def ply_bytes(mesh: Mesh, scalars: dict[str, np.ndarray]) -> bytes:
    """Binary little-endian PLY with one float property per scalar (readable by MeshLab, ParaView...)."""
    names = list(scalars)
    for name in names:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise GinrError(f"'{name}' is not a valid PLY property name (letters, digits, underscores).")
        if np.asarray(scalars[name]).shape != (mesh.n_vertices,):
            raise GinrError(f"Scalar '{name}' must have one value per vertex ({mesh.n_vertices:,}).")
    header = "\n".join(
        ["ply", "format binary_little_endian 1.0", f"element vertex {mesh.n_vertices}",
         "property float x", "property float y", "property float z"]
        + [f"property float {name}" for name in names]
        + [f"element face {mesh.n_faces}", "property list uchar int vertex_indices", "end_header"]
    ) + "\n"
    vertex_dtype = np.dtype([(c, "<f4") for c in ("x", "y", "z", *names)])
    vertices = np.empty(mesh.n_vertices, dtype=vertex_dtype)
    for i, c in enumerate("xyz"):
        vertices[c] = mesh.vertices[:, i]
    for name in names:
        vertices[name] = scalars[name]
    faces = np.empty(mesh.n_faces, dtype=np.dtype([("n", "u1"), ("v", "<i4", (3,))]))
    faces["n"] = 3
    faces["v"] = mesh.faces
    return header.encode("ascii") + vertices.tobytes() + faces.tobytes()


def reference_npz_bytes(points: np.ndarray, fourier: np.ndarray, target: np.ndarray,
                        faces: np.ndarray | None = None, time: float | None = None) -> bytes:
    """One sample in the reference implementation's `npz_files/*.npz` layout (target as (n, p))."""
    target = np.asarray(target)
    arrays = {"points": np.asarray(points), "fourier": np.asarray(fourier),
              "target": target[:, None] if target.ndim == 1 else target}
    if faces is not None:
        arrays["faces"] = np.asarray(faces)
    if time is not None:
        arrays["time"] = np.asarray(time)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def checkpoint_zip_bytes(run_dir: str | Path) -> bytes:
    """The run's checkpoint and configuration (model.pt, model.json, config.json, metrics) as a zip."""
    run_dir = Path(run_dir)
    names = ["model.pt", "model.json", "config.json", "metrics.json", "history.json"]
    present = [n for n in names if (run_dir / n).is_file()]
    if "model.pt" not in present:
        raise GinrError(f"{run_dir.name} has no checkpoint (the run did not finish).")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in present:
            archive.write(run_dir / name, arcname=f"{run_dir.name}/{name}")
    return buffer.getvalue()
