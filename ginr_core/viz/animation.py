"""Animations of signals over time on a mesh, side by side (e.g. ground truth | prediction), as GIF or MP4.

Frames are rendered off screen with PyVista (VTK falls back to OSMesa/EGL without a display), one panel
per signal with linked cameras and a shared colour scale, so the panels can be compared frame by frame.
MP4 is encoded with PyAV (H.264, bundled FFmpeg: no system ffmpeg needed); GIF with Pillow.
"""

from __future__ import annotations

import io
from typing import Callable, Iterator

import numpy as np

from ..errors import GinrError
from ..geometry.mesh import Mesh
from .figures import bar_details, display_mesh, label_power, panel_scales, side_by_side_figure, to_pyvista
from .rules import DEFAULT_VIEW, View, pyvista_view

FORMATS = ("gif", "mp4")
MAX_FRAMES = 2000
MAX_FPS = 50  # GIF delays are whole hundredths of a second, and browsers slow delays under 2 to 10
MAX_BROWSER_VALUES = 2_000_000  # per-vertex values sent to the browser for an interactive animation (~10 MB)


MAX_EXPORT_FRAMES = 300  # a GIF / MP4 export renders at most this many frames
PANEL_MARGIN_PX = 8  # nothing drawn in an exported frame comes nearer a panel's edge than this
TEXT_PT, TEXT_PX = 9, 14  # the panel names and time label (points), and the colour bars' text (pixels)
MESH_ZOOM = 0.8  # the fitted mesh, shrunk to leave room for the name above it and the colour bar below


def evenly_spaced(n_frames: int, most: int) -> np.ndarray:
    """At most `most` frame indices, evenly spaced, first and last included."""
    return np.unique(np.linspace(0, n_frames - 1, max(1, min(n_frames, most))).round().astype(int))


def browser_frames(n_frames: int, n_values_per_frame: int, max_frames: int = 120) -> np.ndarray:
    """Frame indices that keep an interactive animation light (see MAX_BROWSER_VALUES)."""
    return evenly_spaced(n_frames, min(max_frames, max(2, MAX_BROWSER_VALUES // max(n_values_per_frame, 1))))


def animated_figure(
    mesh: Mesh,
    panels: dict[str, np.ndarray],
    labels: list[str],
    shared_scale: list[str] | None = None,
    kinds: dict[str, str] | None = None,
    view: View = DEFAULT_VIEW,
    frame_ms: int = 120,
    height: int = 520,
):
    """An interactive Plotly figure of (T, n) panels over time: play / pause buttons and a time slider.

    Only the colours change from frame to frame (the geometry is sent once), and each panel's colour scale
    covers all its frames, so colours mean the same value throughout. Thin out frames with `browser_frames`.
    """
    import plotly.graph_objects as go

    dm = display_mesh(mesh)
    names = list(panels)
    shared = names if shared_scale is None else shared_scale
    fig = side_by_side_figure(dm, {name: panels[name][0] for name in names}, kinds, shared, view, height=height)
    # each scale covers every frame (the values flattened: one column, not T channels)
    scales = panel_scales({name: np.ravel(panels[name]) for name in names}, kinds, shared, view)
    for trace, name in zip(fig.data, names):
        trace.update(cmin=scales[name].lo, cmax=scales[name].hi, colorbar_title_text=scales[name].colorbar(name)["title"]["text"])
    fig.frames = [
        go.Frame(name=str(i), traces=list(range(len(names))),
                 data=[go.Mesh3d(intensity=dm.values(panels[name][i]).astype(np.float32)) for name in names])
        for i in range(len(labels))
    ]
    play = dict(frame=dict(duration=frame_ms, redraw=True), transition=dict(duration=0), fromcurrent=True, mode="immediate")
    pause = dict(frame=dict(duration=0, redraw=False), mode="immediate")
    fig.update_layout(
        updatemenus=[dict(type="buttons", direction="left", x=0.0, y=0.0, xanchor="left", yanchor="top", pad=dict(t=10),
                          buttons=[dict(label="▶ Play", method="animate", args=[None, play]),
                                   dict(label="❚❚ Pause", method="animate", args=[[None], pause])])],
        sliders=[dict(x=0.16, y=0.0, len=0.84, yanchor="top", pad=dict(t=10), currentvalue=dict(prefix="", font=dict(size=14, color="#333")),
                      font=dict(color="rgba(0,0,0,0)" if len(labels) > 12 else "#444"),  # many tick labels would overlap
                      steps=[dict(label=label, method="animate",
                                  args=[[str(i)], dict(frame=dict(duration=0, redraw=True), mode="immediate")])
                             for i, label in enumerate(labels)])],
        margin=dict(l=0, r=30, t=30, b=90), height=height + 60,
    )
    return fig


def render_frames(
    mesh: Mesh,
    panels: dict[str, np.ndarray],
    labels: list[str],
    panel_size: tuple[int, int] = (420, 400),
    kinds: dict[str, str] | None = None,
    shared_scale: bool = True,
    view: View = DEFAULT_VIEW,
) -> Iterator[np.ndarray]:
    """Yield one RGB image (h, w, 3) per frame; every panel is a (T, n) array over the mesh's nodes.

    Colour scales, maps and the up axis follow rules.py, as in the interactive figures; `shared_scale`: all
    panels share one scale (of the first panel's kind)."""
    import pyvista as pv

    arrays = {name: np.asarray(values, dtype=np.float64) for name, values in panels.items()}
    n_frames = len(labels)
    for name, values in arrays.items():
        if values.shape != (n_frames, mesh.n_vertices):
            raise GinrError(f"Panel '{name}' has shape {values.shape}; expected ({n_frames}, {mesh.n_vertices}).")
    if not 0 < n_frames <= MAX_FRAMES:
        raise GinrError(f"An animation needs 1 to {MAX_FRAMES:,} frames, got {n_frames:,}.")
    dm = display_mesh(mesh)
    shown = Mesh(dm.vertices, dm.faces)
    flat = {name: values.ravel() for name, values in arrays.items()}
    scales = panel_scales(flat, kinds, None if shared_scale else [], view)
    width, height = panel_size
    plotter = pv.Plotter(shape=(1, len(arrays)), off_screen=True, window_size=(width * len(arrays), height),
                         border=False)
    surfaces, top = [], height - PANEL_MARGIN_PX - 2 * TEXT_PX  # the baseline of a panel's first line of text
    for col, (name, values) in enumerate(arrays.items()):
        plotter.subplot(0, col)
        scale = scales[name]
        unit = 10.0 ** label_power(scale.lo, scale.hi)
        surface = to_pyvista(shown, dm.values(values[0]) / unit, name)
        # a bar per panel: PyVista shares one between meshes whose bars have the same title, so titles differ by
        # trailing spaces (the name is written above the panel)
        plotter.add_mesh(surface, scalars=name, cmap=scale.cmap, clim=(scale.lo / unit, scale.hi / unit), lighting=False,
                         scalar_bar_args={"title": bar_details(scale) + " " * (col + 1), "fmt": "%.3g", "n_labels": 3, "width": 0.7,
                                          "position_x": 0.15, "position_y": 0.04, "title_font_size": TEXT_PX,
                                          "label_font_size": TEXT_PX})
        plotter.add_text(name, position=(width // 2, top), font_size=TEXT_PT).GetTextProperty().SetJustificationToCentered()
        plotter.view_vector(*pyvista_view(shown.vertices, view))
        plotter.camera.zoom(MESH_ZOOM)  # room around the mesh for the name above and the colour bar below
        surfaces.append((surface, unit))
    plotter.link_views()
    plotter.subplot(0, 0)
    time_label = plotter.add_text(labels[0], position=(PANEL_MARGIN_PX, top - 2 * TEXT_PX), font_size=TEXT_PT)
    try:
        for i in range(n_frames):
            for (surface, unit), (name, values) in zip(surfaces, arrays.items()):
                surface.point_data[name] = dm.values(values[i]) / unit
            time_label.SetInput(labels[i])
            plotter.render()
            yield np.asarray(plotter.screenshot(return_img=True))[..., :3]
    finally:
        plotter.close()


def encode(frames: Iterator[np.ndarray], fmt: str = "gif", fps: float = 10.0) -> bytes:
    """Encode RGB frames as a looping GIF or an H.264 MP4 (even-sized, yuv420p: plays in every browser)."""
    if fmt not in FORMATS:
        raise GinrError(f"Unknown animation format '{fmt}'; choose gif or mp4.")
    if not 0 < fps <= MAX_FPS:
        raise GinrError(f"Frames per second must be between 0 and {MAX_FPS}.")
    buffer = io.BytesIO()
    if fmt == "gif":
        from PIL import Image

        images = [Image.fromarray(frame).quantize(256) for frame in frames]  # palette images: a third of RGB
        if not images:
            raise GinrError("No frames to encode.")
        images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
        return buffer.getvalue()
    import av

    with av.open(buffer, mode="w", format="mp4") as container:
        stream = None
        for frame in frames:
            frame = frame[: frame.shape[0] // 2 * 2, : frame.shape[1] // 2 * 2]
            if stream is None:
                stream = container.add_stream("libx264", rate=round(fps))
                stream.width, stream.height, stream.pix_fmt = frame.shape[1], frame.shape[0], "yuv420p"
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                container.mux(packet)
        if stream is None:
            raise GinrError("No frames to encode.")
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def animation_bytes(
    mesh: Mesh,
    panels: dict[str, np.ndarray],
    labels: list[str],
    fmt: str = "gif",
    fps: float = 10.0,
    progress: Callable[[float, str], None] | None = None,
    **render_options,
) -> bytes:
    """Render and encode an animation of the panels over time (see `render_frames`)."""

    def reporting() -> Iterator[np.ndarray]:
        for i, frame in enumerate(render_frames(mesh, panels, labels, **render_options)):
            if progress is not None:
                progress((i + 1) / len(labels), f"Rendering frame {i + 1:,} / {len(labels):,}")
            yield frame

    return encode(reporting(), fmt, fps)
