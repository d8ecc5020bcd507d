"""The session's workspace (mesh + signal + embedding, chosen on the Data page) and the cached heavy work behind it."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Callable

import numpy as np
import streamlit as st

from ginr_core.data.gridded import open_grid
from ginr_core.data.signals import analytic_signal
from ginr_core.errors import GinrError
from ginr_core.geometry.domains import make_domain
from ginr_core.geometry.features import FeatureSpec, max_k
from ginr_core.geometry.laplacian import LAPLACIANS
from ginr_core.geometry.mesh import Mesh, load_mesh
from ginr_core.geometry.spectral import Embedding, spectral_embedding
from ginr_core.geometry.sphere import random_sh_field
from ginr_core.io.workspaces import (
    SavedWorkspace,
    expire_workspaces,
    load_workspace,
    new_workspace_id,
    save_workspace,
)
from ginr_core.runs.signal_sources import analytic_source
from ginr_core.runs.spec import RunSpec, Source
from ginr_core.settings import UPLOAD_MB as MAX_UPLOAD_MB
from pages.shared.widgets import plain, progress_bar


@dataclass
class Workspace:
    """The data the Train page learns from, chosen on the Data page.

    `signal_function(mesh)` evaluates the signal on another mesh of the same surface, where it is known
    everywhere (analytic signals): the Super-resolution page's ground truth on finer meshes. None otherwise.
    """

    mesh: Mesh
    mesh_label: str
    signal: np.ndarray | None = None
    signal_label: str = ""
    embedding: Embedding | None = None
    notes: list[str] = field(default_factory=list)
    signal_function: Callable[[Mesh], np.ndarray] | None = None
    domain_source: Source | None = None
    signal_source: Source | None = None
    store_id: str | None = None  # where it is kept on disk (ginr_core.io.workspaces), so a reload finds it
    last_launch: RunSpec | None = None  # the latest run launched from it: the Train page's settings after a reload
    _saved_state: tuple = ()

    def __post_init__(self):
        self.domain_source = self.domain_source or Source("dashboard", self.mesh_label, label=self.mesh_label)

    def _state(self) -> tuple:
        embedding = None if self.embedding is None else (self.embedding.laplacian, self.embedding.k)
        return id(self.mesh), id(self.signal), self.mesh_label, self.signal_label, embedding, id(self.last_launch)

    def persist(self) -> None:
        """Save the workspace if it changed since it was last saved (a few MB at most, written atomically)."""
        if self.store_id is None or self._saved_state == self._state():
            return
        sources = {"domain": self.domain_source.to_dict(),
                   "signal": None if self.signal_source is None else self.signal_source.to_dict()}
        embedding = None if self.embedding is None else (self.embedding.laplacian, self.embedding.k)
        last_launch = None if self.last_launch is None else self.last_launch.to_dict()
        save_workspace(self.store_id, SavedWorkspace(self.mesh, self.mesh_label, self.notes, self.signal,
                                                     self.signal_label, sources, embedding, last_launch))
        self._saved_state = self._state()

    @classmethod
    def restore(cls, store_id: str, saved: SavedWorkspace) -> Workspace:
        """A saved workspace back in a session; analytic and SH signals get their function back from their source
        (what super-resolution evaluates on finer meshes), the embedding comes from the embedding cache."""
        signal_source = Source.from_dict(saved.sources["signal"]) if saved.sources.get("signal") else None
        ws = cls(saved.mesh, saved.mesh_label, saved.signal, saved.signal_label, None, saved.notes,
                 signal_function(signal_source), Source.from_dict(saved.sources.get("domain")), signal_source, store_id)
        if saved.last_launch is not None:
            try:
                ws.last_launch = RunSpec.from_dict(saved.last_launch)
            except (GinrError, KeyError, TypeError, ValueError):
                pass  # settings that no longer read are simply not restored
        if saved.embedding is not None:
            try:
                ws.embedding = FeatureSpec(*saved.embedding).embedding(saved.mesh)
            except GinrError:
                pass  # an embedding that no longer computes is simply not restored
        ws._saved_state = ws._state()
        return ws

    def set_signal(self, values: np.ndarray, label: str, function: Callable[[Mesh], np.ndarray] | None = None,
                   source: Source | None = None) -> None:
        """`source` says where the signal came from, for the run spec (by default: its label)."""
        self.signal, self.signal_label, self.signal_function = values, label, function
        self.signal_source = source or Source("dashboard", label, label=label)
        self.persist()

    def set_mesh(self, mesh: Mesh, label: str, notes: list[str], source: Source | None = None) -> None:
        if mesh is not self.mesh:
            self.signal, self.signal_label, self.signal_function, self.embedding = None, "", None, None
            self.signal_source = None
        self.mesh, self.mesh_label, self.notes = mesh, label, notes
        self.domain_source = source or Source("dashboard", label, label=label)
        self.persist()

    def remember_launch(self, spec: RunSpec) -> None:
        self.last_launch = spec
        self.persist()

    def require_signal(self) -> np.ndarray:
        if self.signal is None:
            raise GinrError("Choose a signal on the Data page first.")
        return self.signal


def signal_function(source: Source | None) -> Callable[[Mesh], np.ndarray] | None:
    """The signal as a function of the mesh, where its source defines one everywhere (analytic, SH fields)."""
    if source is None:
        return None
    if source.kind == "analytic":
        return partial(analytic_signal, kind=source.name)
    if source.kind == "sh-field":
        return partial(random_sh_field, **source.params)
    return None


WORKSPACE_EXPIRY_EVERY_S = 86400


@st.cache_resource(show_spinner=False)
def workspace_expiry() -> threading.Thread:
    """Once per server: delete the workspaces unused for GINR_WORKSPACE_DAYS now, then once a day."""
    def expire_daily() -> None:
        while True:
            try:
                expire_workspaces()
            except OSError:
                pass  # an unreadable cache folder: try again tomorrow
            time.sleep(WORKSPACE_EXPIRY_EVERY_S)

    thread = threading.Thread(target=expire_daily, name="ginr-workspace-expiry", daemon=True)
    thread.start()
    return thread


def workspace() -> Workspace:
    """The session's workspace, kept on disk under an id in the page URL (`?ws=...`), so a browser reload or a
    bookmark brings it back. A new session starts on a built-in icosphere so every page works without setup."""
    workspace_expiry()
    if "workspace" not in st.session_state:
        store_id = st.query_params.get("ws")
        saved = load_workspace(store_id) if store_id else None
        if saved is not None:
            ws = Workspace.restore(store_id, saved)
        else:
            mesh = builtin_mesh("icosphere", (("level", 4),))
            ws = Workspace(mesh, "icosphere (level 4)", store_id=new_workspace_id(),
                           domain_source=Source("builtin", "icosphere", {"level": 4}, label="icosphere (level 4)"))
            source = analytic_source("sines")
            ws.set_signal(analytic_signal(mesh, "sines"), source.label, signal_function(source), source)
        st.session_state.workspace = ws
    ws = st.session_state.workspace
    ws.persist()  # changes made outside set_mesh / set_signal (a new embedding) are saved at the next rerun
    if ws.store_id is not None and st.query_params.get("ws") != ws.store_id:
        st.query_params["ws"] = ws.store_id
    return ws


def show_workspace(ws: Workspace, embedding: str | None = None) -> None:
    """The data a page works on, in one line: the domain and its nodes, the signal, and the embedding when the
    page reads one (`embedding`: how the page names it)."""
    line = f"**Domain:** {plain(ws.mesh_label)} ({ws.mesh.n_vertices:,} nodes) · **Signal:** {plain(ws.signal_label or 'none')}"
    st.write(line + ("" if embedding is None else f" · **Embedding:** {embedding}"))


def require_signal(ws: Workspace, last_run_below: bool = False) -> bool:
    """Whether the workspace has a signal. Without one, point to the Data page and stop the page, unless the
    page still has a previous run to show below (changing the domain clears the signal; a run goes on)."""
    if ws.signal is not None:
        return True
    st.warning("Choose a signal on the Data page to start a new run." + (" The last run is shown below." if last_run_below else ""))
    st.page_link("pages/data.py", label="Go to Data", icon=":material/deployed_code:")
    if not last_run_below:
        st.stop()
    return False


def can_launch(ws: Workspace, last_job) -> bool:
    """Whether the page may start a new run: the workspace has a signal (`require_signal`: without one the page
    stops, unless it has `last_job`, its previous run, to show below) and that previous run no longer works."""
    return require_signal(ws, last_run_below=last_job is not None) and (last_job is None or last_job.done)


@st.cache_resource(show_spinner=False, max_entries=16)
def builtin_mesh(name: str, params: tuple) -> Mesh:
    return make_domain(name, **dict(params))


@st.cache_resource(show_spinner=False, max_entries=4)
def uploaded_mesh(file_id: str, _data: bytes, filename: str, components: str):
    """Load an upload once per file (keyed by the uploader's file id, not by hashing megabytes)."""
    return load_mesh(_data, filename=filename, components=components, max_bytes=MAX_UPLOAD_MB * 2**20)


@st.cache_resource(show_spinner=False, max_entries=2)
def uploaded_grid(file_id: str, _data: bytes, filename: str):
    """Open an uploaded netCDF file once per upload (reruns reuse it)."""
    return open_grid(_data, filename, max_bytes=MAX_UPLOAD_MB * 2**20)


def netcdf_upload(key: str | None = None) -> tuple:
    """A global latitude-longitude netCDF file from the user: (the upload, its grid), or (None, None) before one."""
    upload = st.file_uploader("Global latitude-longitude netCDF file", type=["nc", "nc4", "netcdf"], key=key)
    if upload is None:
        return None, None
    return upload, uploaded_grid(upload.file_id, upload.getvalue(), upload.name)


def compute_embedding(mesh: Mesh, k: int, laplacian: str) -> Embedding:
    """The spectral embedding with a progress bar (the core caches it on disk, so repeats are instant)."""
    with progress_bar("Computing the spectral embedding...") as progress:
        return spectral_embedding(mesh, k=k, laplacian=laplacian, progress=progress)


def embedding_columns(ws: Workspace, k: int) -> np.ndarray:
    """The first `k` columns (at most n - 2) of the workspace's embedding, or of one computed with its Laplacian
    (combinatorial when it has none: the exact spherical harmonics have none to keep) when it has fewer: the
    workspace's own embedding stays as the Data page set it."""
    k = min(k, max_k(ws.mesh.n_vertices))
    if ws.embedding is not None and ws.embedding.k >= k:
        return ws.embedding.features[:, :k]
    kept = "combinatorial" if ws.embedding is None else ws.embedding.laplacian
    return compute_embedding(ws.mesh, k, kept if kept in LAPLACIANS else "combinatorial").features
