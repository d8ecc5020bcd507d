"""The scene view: Plotly figures side by side with linked cameras, "Reset view" and a pinned vertex, live in the
dashboard (a Streamlit component; the exported HTML links its cameras with the same script).

The frontend is plain HTML and JS (scene_view_frontend/, no build step). The camera link comes from
ginr_core/viz/link_cameras.js, copied beside it when this module is imported; plotly.js comes from the plotly
Python package, copied into the app's static folder (served at app/static/, server.enableStaticServing). There it
is sent with Last-Modified and an ETag, so the browser keeps it and its compiled code: files on the component
route come without either, and every scene view fetched and compiled its 4.8 MB anew. The Streamlit server
serves everything; the browser fetches nothing from the internet.
"""

from __future__ import annotations

import base64
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import plotly
import plotly.graph_objects as go
import streamlit as st
import streamlit.components.v1 as components

from ginr_core.viz.figures import LINK_CAMERAS_JS

FRONTEND = Path(__file__).with_name("scene_view_frontend")
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
APP_STATIC = Path(__file__).resolve().parents[2] / "static"  # beside app.py: served at app/static/
CACHED_PLOTLY_SRC = "../../app/static/plotly.min.js"  # index.html's plotly.js, seen from component/<name>/


def _copy_if_stale(source: Path, target: Path) -> None:
    """Copy with the source's modification time (a browser's cache lifetime for a file grows with its age)."""
    if not target.exists() or target.stat().st_size != source.stat().st_size or target.stat().st_mtime < source.stat().st_mtime:
        shutil.copy2(source, target)


def served_folder() -> Path:
    """The folder the component is served from: the frontend with the camera link beside it, plotly.js in the app's
    static folder. When the checkout is read-only: a temporary copy with plotly.js beside it (not cached)."""
    try:
        _copy_if_stale(LINK_CAMERAS_JS, FRONTEND / "link_cameras.js")
        APP_STATIC.mkdir(exist_ok=True)
        _copy_if_stale(PLOTLY_JS, APP_STATIC / "plotly.min.js")
        return FRONTEND
    except OSError:
        folder = Path(tempfile.mkdtemp(prefix="ginr-scene-view-"))
        shutil.copytree(FRONTEND, folder, dirs_exist_ok=True)
        shutil.copy2(LINK_CAMERAS_JS, folder / "link_cameras.js")
        shutil.copy2(PLOTLY_JS, folder / "plotly.min.js")
        index = folder / "index.html"
        index.write_text(index.read_text().replace(CACHED_PLOTLY_SRC, "plotly.min.js"))
        return folder


_component = components.declare_component("scene_view", path=str(served_folder()))
_chart_component = components.declare_component("chart_view", path=str(served_folder()))  # the same frontend, named apart


def scene_labels(fig: go.Figure) -> dict[str, str]:
    """Each 3D scene's name as a reader sees it: the subplot title above it (make_subplots centres titles over
    their cells), the figure's title for a single scene, else the scene's own name."""
    layout = fig.layout
    scenes = [name for name in layout if name.startswith("scene")] or ["scene"]
    titles = [a for a in (layout.annotations or ()) if a.xref == "paper" and a.yref == "paper" and a.text]
    labels = {}
    for scene in scenes:
        domain = layout[scene].domain
        x = sum(domain.x or (0, 1)) / 2
        y = (domain.y or (0, 1))[1]
        near = [a for a in titles if abs(a.x - x) < 1e-6 and abs(a.y - y) < 0.05]
        labels[scene] = near[0].text if near else (layout.title.text if len(scenes) == 1 and layout.title.text else scene)
    return labels


GEOMETRY = ("x", "y", "z", "i", "j", "k")


def typed_array(encoded: dict) -> np.ndarray:
    """A Plotly JSON typed array ({"dtype", "bdata", "shape"}) as numpy."""
    values = np.frombuffer(base64.b64decode(encoded["bdata"]), dtype=np.dtype(encoded["dtype"]))
    shape = encoded.get("shape")
    return values.reshape([int(n) for n in shape.split(",")]) if shape else values


def _hover_is_value_and_vertex(trace: dict, vertex_ids: np.ndarray | None) -> bool:
    """Whether a mesh's hover data is its own intensity beside each vertex's id: then the browser rebuilds it."""
    custom, intensity = trace.get("customdata"), trace.get("intensity")
    if not (isinstance(custom, dict) and isinstance(intensity, dict) and "bdata" in custom and "bdata" in intensity):
        return False
    rows, values = typed_array(custom), typed_array(intensity)
    ids = np.arange(len(values)) if vertex_ids is None else np.asarray(vertex_ids)
    return (rows.ndim == 2 and rows.shape == (len(values), 2) and len(ids) == len(values)
            and np.array_equal(rows[:, 0], values.astype(rows.dtype), equal_nan=True)
            and np.array_equal(rows[:, 1], ids.astype(rows.dtype)))


def packed_figures(figures: list[go.Figure], vertex_ids: list) -> list[str]:
    """The figures as JSON with each mesh's geometry sent once: panels of one mesh repeat the same vertices and
    triangles (a bunny's are 1.1 MB per panel), so a repeat becomes {"same_as": [figure, trace, key]}, and hover
    rows that are the panel's values beside the vertex ids become {"from_intensity": true}; scene_view.js puts
    both back before drawing. A bunny's three Results panels went from 5.4 MB to 1.7 MB."""
    seen: dict[tuple, list] = {}
    packed = []
    for f, fig in enumerate(figures):
        data = json.loads(fig.to_json())
        for t, trace in enumerate(data["data"]):
            for key in GEOMETRY:
                encoded = trace.get(key)
                if not (isinstance(encoded, dict) and "bdata" in encoded):
                    continue
                signature = (encoded["dtype"], encoded.get("shape"), encoded["bdata"])
                if signature in seen:
                    trace[key] = {"same_as": seen[signature]}
                else:
                    seen[signature] = [f, t, key]
            if trace.get("type") == "mesh3d" and _hover_is_value_and_vertex(trace, vertex_ids[f]):
                trace["customdata"] = {"from_intensity": True}
        packed.append(json.dumps(data, separators=(",", ":")))
    return packed


def _packed(key: str, figures: list[go.Figure], vertex_ids: list) -> list[str]:
    """The figures packed once while the page keeps the same figure objects (a rerun that draws them again)."""
    sent = st.session_state.setdefault("packed_views", {})
    drawn = tuple(id(f) for f in figures)
    if key not in sent or sent[key][0] != drawn:
        sent[key] = (drawn, figures, packed_figures(figures, vertex_ids))
    return sent[key][2]


def chart(fig: go.Figure, key: str) -> dict | None:
    """A Plotly chart drawn by the scene view's frontend without its bar, with the app's one plotly.js: the
    browser keeps that file and its compiled code, while st.plotly_chart loads Streamlit's own Plotly bundle
    (4.7 MB, uncompressed) and compiles it again on each page's first chart (2-3 s of the Results page).
    Returns the last point clicked, {"trace", "point" (its index in the trace), "at" (ms, new for each click)}.
    The figure gets the "plotly_white" template: Streamlit's own, the default once streamlit is imported, leaves
    the colours to Streamlit's frontend (without it, bars and lines are black)."""
    fig.update_layout(template="plotly_white")
    return _chart_component(figures=_packed(key, [fig], [None]), labels=[scene_labels(fig)], vertex_ids=[None], bar=False,
                      key=key, default=None)


def scene_view(figures: go.Figure | list[go.Figure], key: str, vertex_ids: list[np.ndarray | None] | None = None) -> dict | None:
    """Draw `figures` (one with several scenes, or several side by side) with every camera linked; a click pins
    the nearest vertex in every panel. Returns the pin, {"vertex": index, "values": {panel: value}}, or None.

    `vertex_ids` gives, per figure, the index each drawn vertex has in the full mesh (a decimated display mesh);
    None where the drawn vertices are the mesh's own.
    """
    figures = [figures] if isinstance(figures, go.Figure) else list(figures)
    vertex_ids = list(vertex_ids or [None] * len(figures))
    ids = [None if v is None else np.asarray(v).tolist() for v in vertex_ids]
    return _component(figures=_packed(key, figures, vertex_ids), labels=[scene_labels(f) for f in figures], vertex_ids=ids,
                      key=key, default=None)


def pinned_caption(pin: dict | None) -> str | None:
    """The pinned vertex in words, for the page under the view."""
    if not pin:
        return None
    values = " · ".join(f"{name} {value:.4g}" if value is not None else f"{name} n/a" for name, value in pin["values"].items())
    return f"Pinned vertex {pin['vertex']}: {values}"
