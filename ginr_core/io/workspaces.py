"""Workspaces kept on disk, so that a dashboard session survives a browser reload or a server restart.

A workspace is what a user has chosen to work on: a mesh, a signal on it, where both came from, the kind
and size of the embedding, and the spec of the latest run launched from it (its settings, for the next one). It is stored under cache_dir()/workspaces/<id>/ as one npz of arrays and one JSON
file, each written atomically. Ids are generated (128 random bits, hex) and checked before any path is built,
so a URL parameter can never name another folder; an unknown, damaged or foreign id loads nothing. A workspace
neither loaded nor saved for GINR_WORKSPACE_DAYS is deleted by `expire_workspaces`.
"""

from __future__ import annotations

import io
import json
import re
import os
import secrets
import shutil
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..geometry.mesh import Mesh
from ..settings import limits
from ..storage.files import atomic_write
from ..storage.paths import cache_dir

_ID = re.compile(r"[0-9a-f]{32}")
_VERTEX_DATA = "vertex_data__"


def new_workspace_id() -> str:
    return secrets.token_hex(16)


def _folder(workspace_id: str) -> Path | None:
    if not isinstance(workspace_id, str) or not _ID.fullmatch(workspace_id):
        return None
    return cache_dir() / "workspaces" / workspace_id


@dataclass
class SavedWorkspace:
    """What a workspace holds, in plain data: `sources` are the run-spec Sources as dicts (domain, signal),
    `embedding` the (kind, k) of its embedding, recomputed (from the embedding cache) when loaded, and `last_launch`
    the RunSpec dict of the latest run launched from it."""

    mesh: Mesh
    mesh_label: str
    notes: list[str] = field(default_factory=list)
    signal: np.ndarray | None = None
    signal_label: str = ""
    sources: dict = field(default_factory=dict)
    embedding: tuple[str, int] | None = None
    last_launch: dict | None = None


def save_workspace(workspace_id: str, saved: SavedWorkspace) -> None:
    folder = _folder(workspace_id)
    if folder is None:
        raise ValueError(f"Not a workspace id: {workspace_id!r}")
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {"vertices": saved.mesh.vertices, "faces": saved.mesh.faces,
              **{_VERTEX_DATA + key: np.asarray(value) for key, value in saved.mesh.vertex_data.items()}}
    if saved.signal is not None:
        arrays["signal"] = np.asarray(saved.signal)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write(folder / "arrays.npz", buffer.getvalue())
    meta = {"mesh_label": saved.mesh_label, "mesh_name": saved.mesh.name, "notes": list(saved.notes),
            "signal_label": saved.signal_label, "sources": saved.sources,
            "embedding": None if saved.embedding is None else list(saved.embedding), "last_launch": saved.last_launch}
    atomic_write(folder / "workspace.json", json.dumps(meta).encode())  # last: a torn save leaves the old meta


def load_workspace(workspace_id: str) -> SavedWorkspace | None:
    """The saved workspace, or None when the id is not a workspace id, unknown, or its files are damaged."""
    folder = _folder(workspace_id)
    if folder is None or not (folder / "workspace.json").is_file():
        return None
    try:
        os.utime(folder / "workspace.json")  # used now: its expiry counts from here
        meta = json.loads((folder / "workspace.json").read_text())
        with np.load(folder / "arrays.npz", allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
        vertex_data = {key[len(_VERTEX_DATA):]: value for key, value in arrays.items() if key.startswith(_VERTEX_DATA)}
        mesh = Mesh(arrays["vertices"], arrays["faces"], name=meta.get("mesh_name", ""), vertex_data=vertex_data)
        embedding = meta.get("embedding")
        return SavedWorkspace(mesh, meta["mesh_label"], list(meta.get("notes", [])), arrays.get("signal"),
                              meta.get("signal_label", ""), dict(meta.get("sources") or {}),
                              None if embedding is None else (str(embedding[0]), int(embedding[1])),
                              meta.get("last_launch"))
    except (OSError, ValueError, KeyError, TypeError, IndexError, zipfile.BadZipFile, EOFError):
        return None


def expire_workspaces(now: float | None = None) -> list[str]:
    """Delete the workspaces neither loaded nor saved for GINR_WORKSPACE_DAYS (their workspace.json's time) and
    folders a torn save left without one; return their ids."""
    oldest = (time.time() if now is None else now) - limits().workspace_days * 86400
    root = cache_dir() / "workspaces"
    expired = []
    for folder in root.iterdir() if root.is_dir() else ():
        if not _ID.fullmatch(folder.name) or not folder.is_dir():
            continue
        meta = folder / "workspace.json"
        used = meta.stat().st_mtime if meta.is_file() else folder.stat().st_mtime
        if used < oldest:
            shutil.rmtree(folder, ignore_errors=True)
            expired.append(folder.name)
    return expired
