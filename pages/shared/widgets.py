"""Pieces every page draws with: navigation guard, progress bars, errors, 3D views."""

from __future__ import annotations

import hashlib
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Sequence

import numpy as np
import streamlit as st
import streamlit.components.v1 as components

from ginr_core.errors import GinrError
from ginr_core.geometry.mesh import Mesh
from ginr_core.learning.metrics import best_r2, winner
from ginr_core.viz.figures import (
    display_mesh,
    panel_scales,
    side_by_side_figure,
    vtk_scene_html,
)
from ginr_core.viz.rules import DIVERGING_MAPS, DRAW_AS, RANGE_MODES, SEQUENTIAL_MAPS, UP_AXES, View
from pages.shared.scene_view import pinned_caption, scene_view


WORD_JOINER = "\u2060"  # invisible; around a "." ":" or "@" it stops GFM from reading www.x, https://x or a@x as links


BARE_ADDRESS = re.compile(r"(?i)www\.|(?:https?|ftp)://|mailto:|xmpp:|@")  # what GFM turns into a link unasked


def plain(text: str) -> str:
    """A name (an upload's, a label made from one) shown as written inside Streamlit markdown: every ASCII punctuation
    mark escaped, so "[x](y)" is no link, "# x" no heading and ":icon:" no icon; in a name with a bare address (www.,
    a scheme, an @), which is found as a link whatever its escapes, word joiners around each "." ":" "@" too (only
    there: they would also stop a reader's search for "colours.npy" on the page)."""
    escaped = re.sub(r"([!-/:-@\[-`{-~])", r"\\\1", text)
    if not BARE_ADDRESS.search(text):
        return escaped
    return re.sub(r"(\\[.:@])", WORD_JOINER + r"\1" + WORD_JOINER, escaped)


def enter_via_app(page_file: str) -> None:
    """Run every page through app.py's navigation.

    Streamlit quirk: with a pages/ folder beside the entry point, the first session after a server start
    that opens a page URL directly (a reconnecting tab, a bookmark) runs that page alone in the legacy
    multipage mode: no navigation, no page config. Such a page hands over to app.py, which comes back here. The
    URL's query parameters go along both ways (a switch drops them): app.py restores the workspace from `?ws=`.
    """
    if not st.session_state.get("entered_via_app"):
        st.session_state.return_to = f"pages/{Path(page_file).name}"
        st.switch_page("app.py", query_params=st.query_params.to_dict())


def return_to_page() -> None:
    """Back to the page that handed over to app.py (`enter_via_app`), if one did, with the URL's query parameters."""
    if "return_to" in st.session_state:
        st.switch_page(st.session_state.pop("return_to"), query_params=st.query_params.to_dict())


@contextmanager
def progress_bar(text: str):
    """A Streamlit progress bar as the core's `progress(fraction, message)` callback; removed when done."""
    bar = st.progress(0.0, text=text)
    try:
        yield lambda fraction, message="": bar.progress(min(max(fraction, 0.0), 1.0), text=message or text)
    finally:
        bar.empty()


VIEWERS = ("Plotly", "PyVista")


MAX_CHANNEL_CHOICE = 16  # channels offered by the sidebar's channel selector (a higher one shows the last)


def view_settings() -> None:
    """The sidebar's "View settings": colour maps, colour range, up axis, mesh or points, channel. Every 3D view
    reads them through `current_view()` (state in st.session_state, so they hold across pages)."""
    with st.sidebar.expander("View settings", icon=":material/palette:"):
        st.selectbox("Colour map (signals)", SEQUENTIAL_MAPS, key="view_cmap",
                     help="Perceptually uniform; viridis reads with every common colour-vision deficiency.")
        st.selectbox("Colour map (signed values)", DIVERGING_MAPS, key="view_diverging",
                     help="Eigenvectors and signed errors: diverging, centred at 0. Errors are white (0) to dark.")
        mode = st.radio("Colour range", RANGE_MODES, key="view_range", horizontal=True,
                        help="auto: 0.5-99.5th percentiles (said on the colour bar when values lie beyond); "
                             "full: min to max; manual: your min and max (signal panels).")
        if mode == "manual":
            c = st.columns(2)
            c[0].number_input("min", value=0.0, key="view_vmin", format="%.6g")
            c[1].number_input("max", value=1.0, key="view_vmax", format="%.6g")
        st.radio("Up axis", UP_AXES, key="view_up", horizontal=True, help="auto: from the mesh's extent.")
        st.radio("Draw as", DRAW_AS, key="view_draw_as", horizontal=True)
        st.selectbox("Channel (multi-channel signals)", ["auto", "rgb", *range(MAX_CHANNEL_CHOICE)], key="view_channel",
                     help="auto: three channels in [0, 1] or 0-255 are drawn as RGB colours, others by channel 0.")


def current_view() -> View:
    """The View the sidebar's settings describe (defaults until they are touched; a bad manual range falls back
    to auto, with a warning)."""
    get = st.session_state.get
    settings = dict(cmap=get("view_cmap", SEQUENTIAL_MAPS[0]), diverging=get("view_diverging", DIVERGING_MAPS[0]),
                    range_mode=get("view_range", "auto"), vmin=get("view_vmin"), vmax=get("view_vmax"),
                    up=get("view_up", "auto"), draw_as=get("view_draw_as", "mesh"), channel=get("view_channel", "auto"))
    try:
        return View(**settings)
    except ValueError as exc:
        st.warning(f"View settings: {exc}; using the automatic range.")
        return View(**dict(settings, range_mode="auto"))


def show_meshes(mesh: Mesh, panels: dict[str, np.ndarray], key: str, kinds: dict[str, str] | None = None,
                shared_scale: list[str] | None = None, height: int = 460):
    """Signals on a mesh side by side, drawn with the 3D viewer chosen in the sidebar and its view settings.

    `kinds` maps a panel to its kind of data (ginr_core.viz.rules: signal, signed, error). Plotly renders in the
    browser (returns the figure, e.g. for an HTML download); PyVista builds a VTK scene on the server and draws it
    with vtk.js in the browser (`vtk_scene_html`: offline, no trame server).
    """
    view = current_view()
    if st.session_state.get("viewer", VIEWERS[0]) == "Plotly":
        fig, dm = drawn_views(mesh, panels, kinds, shared_scale, view, height, key)
        if dm.note():
            st.caption(dm.note())
        linked_views(fig, key, [dm.source_vertex])
        return fig
    dm = display_mesh(mesh)
    if dm.note():
        st.caption(dm.note())
    scales = panel_scales(panels, kinds, shared_scale, view)
    shown = Mesh(dm.vertices, dm.faces)
    for col, (name, values) in zip(st.columns(len(panels)), panels.items()):
        values = np.asarray(values)
        picked = values if dm.source_vertex is None else values[dm.source_vertex]
        html = vtk_scene_html(shown, picked, name, scales[name], view=view, size=(400, height - 60))
        with col:
            st.caption(name)
            components.html(html, height=height - 60)
    return None


def drawn_views(mesh: Mesh, panels: dict[str, np.ndarray], kinds, shared_scale, view, height: int, key: str):
    """The side-by-side figure of `show_meshes` and its display mesh, built again only when what it shows changed
    (a rerun for another widget, or a page's refresh, reuses it: a bunny's three panels take ~0.2 s to build)."""
    digest = hashlib.blake2b(mesh.content_hash().encode(), digest_size=16)
    for name, values in panels.items():
        values = np.ascontiguousarray(values)
        digest.update(f"{name}|{values.dtype}|{values.shape}".encode())
        digest.update(values.tobytes())
    signature = (digest.hexdigest(), repr(kinds), repr(shared_scale), view, height)
    drawn = st.session_state.setdefault("drawn_views", {})
    if key not in drawn or drawn[key][0] != signature:
        dm = display_mesh(mesh)
        drawn[key] = (signature, side_by_side_figure(dm, panels, kinds, shared_scale, view, height=height), dm)
    return drawn[key][1:]


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


def best_r2_text(scores: dict[str, float]) -> str:
    """"best R²: **A**", or "best R²: a tie between **A** and **B**" when the best scores read the same."""
    best = [f"**{label}**" for label in best_r2(scores)]
    if len(best) == 1:
        return f"best R²: {best[0]}"
    return f"best R²: a tie between {', '.join(best[:-1])} and {best[-1]}"


VERDICT_LOOKS = {"network": (st.success, ":material/trophy:"), "tie": (st.info, ":material/balance:"),
                 "classical": (st.warning, ":material/balance:")}


def show_verdict(network_r2: float, classical_r2: float, text: str, words: dict[str, str]) -> None:
    """`text` and the words for the core's verdict (`winner`: "network", "tie" or "classical") in its colours."""
    outcome = winner(network_r2, classical_r2)
    show, icon = VERDICT_LOOKS[outcome]
    show(f"{text} {words[outcome]}", icon=icon)


def settings_form(key: str):
    """A form of settings sent by its button alone: Enter in one of its fields sends nothing (an Enter that
    submitted a form launched its work, a second run beside the one its button then launched)."""
    return st.form(key, enter_to_submit=False)


def required(value, prompt: str):
    """`value`; while it is None, `prompt` instead and the page stops here (what follows needs it)."""
    if value is None:
        st.info(prompt)
        st.stop()
    return value


def show_chosen(label: str, count: str, names: Sequence[str], n_nodes: int, more: str = "") -> None:
    """The data a page goes on with, in one line: its label, how many items it holds (the first … the last, names
    shown as written: they come from uploads), on how many nodes, and `more` (markdown)."""
    st.success(f"**{plain(label)}**: {count} ({plain(names[0])} … {plain(names[-1])}) on {n_nodes:,} nodes{more}.")


def show_error(exc: Exception) -> None:
    """Bad input is explained, never a traceback; anything else is shown as an unexpected error."""
    if isinstance(exc, GinrError):
        st.error(str(exc), icon=":material/error:")
    else:
        st.error(f"Unexpected error: {type(exc).__name__}: {exc}", icon=":material/bug_report:")
