"""The session's workspace (mesh + signal + embedding, chosen on the Data page) and the cached heavy work behind it."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Callable

import numpy as np
import streamlit as st

from ginr_core.data.signals import analytic_signal, gray_scott
from ginr_core.errors import GinrError
from ginr_core.geometry.domains import make_domain
from ginr_core.geometry.features import max_k
from ginr_core.geometry.laplacian import LAPLACIANS
from ginr_core.geometry.mesh import Mesh, load_mesh
from ginr_core.geometry.spectral import Embedding, spectral_embedding
from ginr_core.runs.spec import Source
from pages.shared.widgets import progress_bar

MAX_UPLOAD_MB = 200


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

    def __post_init__(self):
        self.domain_source = self.domain_source or Source("dashboard", self.mesh_label, label=self.mesh_label)

    def set_signal(self, values: np.ndarray, label: str, function: Callable[[Mesh], np.ndarray] | None = None,
                   source: Source | None = None) -> None:
        """`source` says where the signal came from, for the run spec (by default: its label)."""
        self.signal, self.signal_label, self.signal_function = values, label, function
        self.signal_source = source or Source("dashboard", label, label=label)

    def set_mesh(self, mesh: Mesh, label: str, notes: list[str], source: Source | None = None) -> None:
        if mesh is not self.mesh:
            self.signal, self.signal_label, self.signal_function, self.embedding = None, "", None, None
            self.signal_source = None
        self.mesh, self.mesh_label, self.notes = mesh, label, notes
        self.domain_source = source or Source("dashboard", label, label=label)

    def require_signal(self) -> np.ndarray:
        if self.signal is None:
            raise GinrError("Choose a signal on the Data page first.")
        return self.signal


def workspace() -> Workspace:
    """The session's workspace; starts on a built-in icosphere so every page works without setup."""
    if "workspace" not in st.session_state:
        mesh = builtin_mesh("icosphere", (("level", 4),))
        ws = Workspace(mesh, "icosphere (level 4)", domain_source=Source("builtin", "icosphere", {"level": 4}, label="icosphere (level 4)"))
        ws.set_signal(analytic_signal(mesh, "sines"), "analytic: sines", partial(analytic_signal, kind="sines"),
                      Source("analytic", "sines", label="analytic: sines"))
        st.session_state.workspace = ws
    return st.session_state.workspace


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


@st.cache_resource(show_spinner=False, max_entries=16)
def builtin_mesh(name: str, params: tuple) -> Mesh:
    return make_domain(name, **dict(params))


@st.cache_resource(show_spinner=False, max_entries=4)
def uploaded_mesh(file_id: str, _data: bytes, filename: str, components: str):
    """Load an upload once per file (keyed by the uploader's file id, not by hashing megabytes)."""
    return load_mesh(_data, filename=filename, components=components, max_bytes=MAX_UPLOAD_MB * 2**20)


@st.cache_data(show_spinner=False, max_entries=8)
def gray_scott_signal(_mesh: Mesh, mesh_key: str, steps: int, Du: float, Dv: float, F: float, k: float,
                      _progress=None) -> np.ndarray:
    return gray_scott(_mesh, steps=steps, Du=Du, Dv=Dv, F=F, k=k, progress=_progress).v


def compute_embedding(mesh: Mesh, k: int, laplacian: str) -> Embedding:
    """The spectral embedding with a progress bar (the core caches it on disk, so repeats are instant)."""
    with progress_bar("Computing the spectral embedding...") as progress:
        return spectral_embedding(mesh, k=k, laplacian=laplacian, progress=progress)


def ensure_embedding(ws: Workspace, k: int) -> Embedding:
    """The workspace's embedding, computed when missing or narrower than `k` columns (at most n - 2).

    A recomputation keeps the workspace's Laplacian; the exact spherical-harmonic embedding has none to
    keep, so it gets the combinatorial one.
    """
    k = min(k, max_k(ws.mesh.n_vertices))
    if ws.embedding is None or ws.embedding.k < k:
        kept = "combinatorial" if ws.embedding is None else ws.embedding.laplacian
        ws.embedding = compute_embedding(ws.mesh, k, kept if kept in LAPLACIANS else "combinatorial")
    return ws.embedding
