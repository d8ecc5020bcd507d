"""Pieces every page draws with: navigation guard, progress bars, errors, 3D views."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import numpy as np
import streamlit as st
import streamlit.components.v1 as components

from ginr_core.errors import GinrError
from ginr_core.geometry.mesh import Mesh
from ginr_core.viz.figures import (
    color_range,
    display_mesh,
    side_by_side_figure,
    vtk_scene_html,
)
from pages.shared.scene_view import pinned_caption, scene_view


def enter_via_app(page_file: str) -> None:
    """Run every page through app.py's navigation.

    Streamlit quirk: with a pages/ folder beside the entry point, the first session after a server start
    that opens a page URL directly (a reconnecting tab, a bookmark) runs that page alone in the legacy
    multipage mode: no navigation, no page config. Such a page hands over to app.py, which comes back here.
    """
    if not st.session_state.get("entered_via_app"):
        st.session_state.return_to = f"pages/{Path(page_file).name}"
        st.switch_page("app.py")


@contextmanager
def progress_bar(text: str):
    """A Streamlit progress bar as the core's `progress(fraction, message)` callback; removed when done."""
    bar = st.progress(0.0, text=text)
    try:
        yield lambda fraction, message="": bar.progress(min(max(fraction, 0.0), 1.0), text=message or text)
    finally:
        bar.empty()


VIEWERS = ("Plotly", "PyVista")


_PYVISTA_COLORMAPS = {"Viridis": "viridis", "Hot_r": "hot_r"}  # Plotly name -> matplotlib name where they differ


def show_meshes(mesh: Mesh, panels: dict[str, np.ndarray], key: str, colorscales: dict[str, str] | None = None,
                shared_scale: list[str] | None = None, height: int = 460):
    """Signals on a mesh side by side, drawn with the 3D viewer chosen in the sidebar.

    Plotly renders in the browser (returns the figure, e.g. for an HTML download); PyVista builds a VTK scene
    on the server and draws it with vtk.js in the browser (`vtk_scene_html`: offline, no trame server).
    """
    dm = display_mesh(mesh)
    if dm.note():
        st.caption(dm.note())
    colorscales = colorscales or {}
    if st.session_state.get("viewer", VIEWERS[0]) == "Plotly":
        fig = side_by_side_figure(dm, panels, colorscales, shared_scale, height=height)
        linked_views(fig, key, [dm.source_vertex])
        return fig
    shared = list(panels) if shared_scale is None else shared_scale
    shared_range = color_range(*(panels[n] for n in shared)) if shared else None
    shown = Mesh(dm.vertices, dm.faces)
    for col, (name, values) in zip(st.columns(len(panels)), panels.items()):
        cmap = colorscales.get(name, "Viridis")
        html = vtk_scene_html(shown, dm.values(values), name, cmap=_PYVISTA_COLORMAPS.get(cmap, cmap),
                              clim=shared_range if name in shared else color_range(values), size=(400, height - 60))
        with col:
            st.caption(name)
            components.html(html, height=height - 60)
    return None


def linked_views(figures, key: str, vertex_ids: list[np.ndarray | None] | None = None) -> dict | None:
    """Plotly figures (or one with several scenes) with linked cameras, a reset button and a pinned vertex, the pin
    also written under the views; returns the pin (see `scene_view`)."""
    pin = scene_view(figures, key, vertex_ids)
    caption = pinned_caption(pin)
    if caption:
        st.caption(caption)
    return pin


LONG_AXIS = 200  # a coordinate with more values than this is picked by index, not from a list


def coordinate_picker(grid, dim: str, key: str) -> int:
    """An index along a gridded file's dimension: a select box of its values, or a number box for long axes
    (a select box of a million time stamps takes the browser and the server tens of seconds per rerun)."""
    values = grid.coords[dim]
    if len(values) <= LONG_AXIS:
        return st.selectbox(dim, range(len(values)), format_func=lambda i: str(values[i]), key=key)
    index = int(st.number_input(f"{dim} (index 0 to {len(values) - 1:,})", 0, len(values) - 1, 0, key=key))
    st.caption(f"{dim} = {values[index]}")
    return index



def show_error(exc: Exception) -> None:
    """Bad input is explained, never a traceback; anything else is shown as an unexpected error."""
    if isinstance(exc, GinrError):
        st.error(str(exc), icon=":material/error:")
    else:
        st.error(f"Unexpected error: {type(exc).__name__}: {exc}", icon=":material/bug_report:")


def job_progress(job, bars: list[tuple[float, str]]) -> None:
    """One progress bar per part of a background job (fraction, markdown text), and a button that cancels it."""
    for fraction, text in bars:
        st.progress(min(max(fraction, 0.0), 1.0), text=text)
    if st.button("Cancel", icon=":material/stop_circle:"):
        job.cancel()


@st.fragment(run_every=1.0)
def live_progress(job, show) -> None:
    """Refreshes every second while a background job runs (`show(job)` draws its progress); one full rerun when
    it ends, to draw the results."""
    if job.done:
        st.rerun()
    show(job)
