"""What the dashboard pages share: the current workspace (mesh + signal + embedding) and cached heavy work.

Pages stay thin: every computation is a `ginr_core` call; this module only caches those calls and keeps
the user's choices in `st.session_state` so that moving between pages loses nothing.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np
import streamlit as st

from ginr_core.geometry.domains import make_domain
from ginr_core.errors import GinrError
from ginr_core.geometry.laplacian import LAPLACIANS
from ginr_core.geometry.mesh import Mesh, load_mesh
from ginr_core.learning.models import ModelConfig
from ginr_core.runs.registry import Registry
from ginr_core.data.signals import analytic_signal, gray_scott
from ginr_core.geometry.spectral import Embedding, spectral_embedding
from ginr_core.learning.training import GINRRegressor, TrainConfig, TrainingJob
from ginr_core.viz.figures import color_range, display_mesh, side_by_side_figure, to_pyvista

MAX_UPLOAD_MB = 200


def enter_via_app(page_file: str) -> None:
    """Run every page through app.py's navigation.

    Streamlit quirk: with a pages/ folder beside the entry point, the first session after a server start
    that opens a page URL directly (a reconnecting tab, a bookmark) runs that page alone in the legacy
    multipage mode: no navigation, no page config. Such a page hands over to app.py, which comes back here.
    """
    if not st.session_state.get("entered_via_app"):
        st.session_state.return_to = f"pages/{Path(page_file).name}"
        st.switch_page("app.py")


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

    def set_signal(self, values: np.ndarray, label: str, function: Callable[[Mesh], np.ndarray] | None = None) -> None:
        self.signal, self.signal_label, self.signal_function = values, label, function

    def set_mesh(self, mesh: Mesh, label: str, notes: list[str]) -> None:
        if mesh is not self.mesh:
            self.signal, self.signal_label, self.signal_function, self.embedding = None, "", None, None
        self.mesh, self.mesh_label, self.notes = mesh, label, notes


def workspace() -> Workspace:
    """The session's workspace; starts on a built-in icosphere so every page works without setup."""
    if "workspace" not in st.session_state:
        mesh = builtin_mesh("icosphere", (("level", 4),))
        ws = Workspace(mesh, "icosphere (level 4)")
        ws.set_signal(analytic_signal(mesh, "sines"), "analytic: sines", partial(analytic_signal, kind="sines"))
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


@contextmanager
def progress_bar(text: str):
    """A Streamlit progress bar as the core's `progress(fraction, message)` callback; removed when done."""
    bar = st.progress(0.0, text=text)
    try:
        yield lambda fraction, message="": bar.progress(min(max(fraction, 0.0), 1.0), text=message or text)
    finally:
        bar.empty()


def compute_embedding(mesh: Mesh, k: int, laplacian: str) -> Embedding:
    """The spectral embedding with a progress bar (the core caches it on disk, so repeats are instant)."""
    with progress_bar("Computing the spectral embedding...") as progress:
        return spectral_embedding(mesh, k=k, laplacian=laplacian, progress=progress)


def ensure_embedding(ws: Workspace, k: int) -> Embedding:
    """The workspace's embedding, computed when missing or narrower than `k` columns (at most n - 2).

    A recomputation keeps the workspace's Laplacian; the exact spherical-harmonic embedding has none to
    keep, so it gets the combinatorial one.
    """
    k = min(k, ws.mesh.n_vertices - 2)
    if ws.embedding is None or ws.embedding.k < k:
        kept = "combinatorial" if ws.embedding is None else ws.embedding.laplacian
        ws.embedding = compute_embedding(ws.mesh, k, kept if kept in LAPLACIANS else "combinatorial")
    return ws.embedding


VIEWERS = ("Plotly", "PyVista")
_PYVISTA_COLORMAPS = {"Viridis": "viridis", "Hot_r": "hot_r"}  # Plotly name -> matplotlib name where they differ


def show_meshes(mesh: Mesh, panels: dict[str, np.ndarray], key: str, colorscales: dict[str, str] | None = None,
                shared_scale: list[str] | None = None, height: int = 460):
    """Signals on a mesh side by side, drawn with the 3D viewer chosen in the sidebar.

    Plotly renders in the browser (returns the figure, e.g. for an HTML download); PyVista renders with
    VTK through stpyvista (trame), imported only when chosen since its import takes seconds.
    """
    dm = display_mesh(mesh)
    if dm.note():
        st.caption(dm.note())
    colorscales = colorscales or {}
    if st.session_state.get("viewer", VIEWERS[0]) == "Plotly":
        fig = side_by_side_figure(dm, panels, colorscales, shared_scale, height=height)
        st.plotly_chart(fig, key=key)
        return fig
    import pyvista as pv
    from stpyvista import stpyvista

    shared = list(panels) if shared_scale is None else shared_scale
    shared_range = color_range(*(panels[n] for n in shared)) if shared else None
    shown = Mesh(dm.vertices, dm.faces)
    for col, (name, values) in zip(st.columns(len(panels)), panels.items()):
        plotter = pv.Plotter(window_size=[400, height - 60])
        cmap = colorscales.get(name, "Viridis")
        plotter.add_mesh(to_pyvista(shown, dm.values(values), name), scalars=name,
                         clim=shared_range if name in shared else color_range(values),
                         cmap=_PYVISTA_COLORMAPS.get(cmap, cmap), scalar_bar_args={"fmt": "%.2g", "n_labels": 4})
        plotter.view_isometric()
        with col:
            st.caption(name)
            stpyvista(plotter, key=f"{key}-{name}")
    return None


def first_channel(values: np.ndarray) -> np.ndarray:
    """A multi-channel signal is drawn by its first channel."""
    return values if values.ndim == 1 else values[:, 0]


def show_error(exc: Exception) -> None:
    """Bad input is explained, never a traceback; anything else is shown as an unexpected error."""
    if isinstance(exc, GinrError):
        st.error(str(exc), icon=":material/error:")
    else:
        st.error(f"Unexpected error: {type(exc).__name__}: {exc}", icon=":material/bug_report:")


@st.cache_resource
def registry() -> Registry:
    """The run registry (opening it marks runs left 'running' by a dead server as interrupted)."""
    return Registry()


@st.cache_resource
def live_jobs() -> dict[str, TrainingJob]:
    """Training jobs of this server process by run id: they outlive page reruns and browser sessions."""
    return {}


def launch_training(ws: Workspace, model_config: ModelConfig, train_config: TrainConfig) -> str:
    """Start a background training run on the workspace's signal; return its run id."""
    if ws.signal is None:
        raise GinrError("Choose a signal on the Data page first.")
    if model_config.input_kind == "spectral":
        features = ensure_embedding(ws, model_config.k or 100).features
        input_label = f"GINR ({ws.embedding.laplacian}, k = {model_config.k})"
    else:
        features, input_label = ws.mesh.vertices, "INR (xyz)"
    description = {"domain": ws.mesh_label, "signal": ws.signal_label, "input": input_label}
    if ws.embedding is not None:
        description.update(laplacian=ws.embedding.laplacian, k=ws.embedding.k)
    job = TrainingJob.on_mesh(GINRRegressor(model_config, train_config), ws.mesh, features, ws.signal,
                              registry=registry(), description=description)
    job.start()
    while job.state.run_id is None and not job.done:  # the run is registered within milliseconds
        time.sleep(0.01)
    if job.state.run_id is None:
        raise GinrError(job.state.error or "The training run could not start.")
    live_jobs()[job.state.run_id] = job
    return job.state.run_id
