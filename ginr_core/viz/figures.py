"""Figures of signals on meshes: Plotly for the browser and HTML export, PyVista for VTK rendering.

Plotly 7 sends numpy arrays as binary base64, so vertex data goes out as float32 and faces as the
smallest unsigned integer type that holds them: the Stanford bunny with a signal is ~1.4 MB of JSON
(int32 faces would be 1.9 MB, plain JSON lists ~7 MB). Meshes above `max_vertices` are decimated for
display only (quadric decimation, values carried by nearest vertex), and the figure says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import plotly.colors as px_colors
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..geometry.mesh import Mesh

DEFAULT_MAX_DISPLAY_VERTICES = 150_000
CAMERA = dict(eye=dict(x=1.4, y=1.4, z=1.0), up=dict(x=0, y=0, z=1))


@dataclass(frozen=True)
class DisplayMesh:
    """A mesh ready to draw: float32 vertices, compact faces, and how to map values onto it."""

    vertices: np.ndarray
    faces: np.ndarray
    source_vertex: np.ndarray | None  # for a decimated mesh: the original vertex each display vertex shows
    n_original: int

    @property
    def decimated(self) -> bool:
        return self.source_vertex is not None

    def values(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=np.float32).reshape(-1)
        return values if self.source_vertex is None else values[self.source_vertex]

    def without(self, removed: np.ndarray) -> DisplayMesh:
        """The same vertices with every triangle touching a removed node left out: those nodes show as a hole.
        `removed` is a boolean mask over the original mesh's nodes."""
        removed = np.asarray(removed, dtype=bool)
        shown = removed if self.source_vertex is None else removed[self.source_vertex]
        return DisplayMesh(self.vertices, self.faces[~shown[self.faces].any(axis=1)], self.source_vertex, self.n_original)

    def note(self) -> str | None:
        if not self.decimated:
            return None
        return (
            f"Shown decimated to {len(self.vertices):,} of {self.n_original:,} vertices for display; "
            "all computations use the full mesh."
        )


def _compact_faces(faces: np.ndarray, n_vertices: int) -> np.ndarray:
    return faces.astype(np.uint16 if n_vertices <= np.iinfo(np.uint16).max else np.uint32)


def display_mesh(mesh: Mesh, max_vertices: int = DEFAULT_MAX_DISPLAY_VERTICES) -> DisplayMesh:
    """Prepare `mesh` for drawing, decimating it when it has more than `max_vertices` vertices."""
    if mesh.n_vertices <= max_vertices:
        return DisplayMesh(
            mesh.vertices.astype(np.float32), _compact_faces(mesh.faces, mesh.n_vertices), None, mesh.n_vertices
        )
    import pyvista as pv
    from scipy.spatial import cKDTree

    poly = pv.PolyData(mesh.vertices, np.hstack([np.full((mesh.n_faces, 1), 3), mesh.faces]).ravel())
    reduced = poly.decimate(1.0 - max_vertices / mesh.n_vertices)
    vertices = np.asarray(reduced.points, dtype=np.float64)
    faces = np.asarray(reduced.faces).reshape(-1, 4)[:, 1:]
    source = cKDTree(mesh.vertices).query(vertices)[1]
    return DisplayMesh(vertices.astype(np.float32), _compact_faces(faces, len(vertices)), source, mesh.n_vertices)


def color_range(*arrays: np.ndarray, symmetric: bool = False) -> tuple[float, float]:
    """One colour scale for several panels (robust to a few outliers: 0.5th-99.5th percentiles)."""
    values = np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in arrays])
    values = values[np.isfinite(values)]
    lo, hi = np.percentile(values, [0.5, 99.5]) if len(values) else (0.0, 1.0)
    if symmetric:
        m = max(abs(lo), abs(hi))
        lo, hi = -m, m
    if hi <= lo:
        hi = lo + 1e-12
    return float(lo), float(hi)


def _mesh_trace(dm: DisplayMesh, values, colorscale, cmin, cmax, colorbar_x=None, show_scale=True) -> go.Mesh3d:
    v, f = dm.vertices, dm.faces
    trace = go.Mesh3d(
        x=v[:, 0], y=v[:, 1], z=v[:, 2], i=f[:, 0], j=f[:, 1], k=f[:, 2],
        colorscale=colorscale, cmin=cmin, cmax=cmax, showscale=show_scale,
        flatshading=False, lighting=dict(ambient=0.55, diffuse=0.7, specular=0.15, roughness=0.6),
    )
    if values is None:
        trace.update(color="#b0b8c4")
    else:
        trace.update(intensity=dm.values(values), intensitymode="vertex")
    if colorbar_x is not None:
        trace.update(colorbar=dict(x=colorbar_x, xanchor="left", thickness=12, len=0.8))
    return trace


def _scene_layout() -> dict:
    axis = dict(visible=False, showbackground=False)
    return dict(xaxis=axis, yaxis=axis, zaxis=axis, aspectmode="data", camera=CAMERA)


def mesh_figure(
    mesh: Mesh | DisplayMesh,
    values: np.ndarray | None = None,
    title: str | None = None,
    colorscale: str = "Viridis",
    cmin: float | None = None,
    cmax: float | None = None,
    height: int = 520,
) -> go.Figure:
    """A signal on a mesh (or the bare mesh when `values` is None) as an interactive 3D figure."""
    dm = mesh if isinstance(mesh, DisplayMesh) else display_mesh(mesh)
    if values is not None and cmin is None:
        cmin, cmax = color_range(values)
    fig = go.Figure(_mesh_trace(dm, values, colorscale, cmin, cmax))
    fig.update_layout(
        scene=_scene_layout(), height=height, margin=dict(l=0, r=0, t=40 if title else 0, b=0),
        title=title, uirevision="keep-camera",
    )
    return fig


def side_by_side_figure(
    mesh: Mesh | DisplayMesh,
    panels: dict[str, np.ndarray],
    colorscales: dict[str, str] | None = None,
    shared_scale: list[str] | None = None,
    height: int = 480,
    holes: dict[str, np.ndarray] | None = None,
) -> go.Figure:
    """Several signals on the same mesh next to each other, all with the same camera.

    The panels named in `shared_scale` (default: all) share one colour range, so truth and prediction
    read the same; the others (an error map, say) get their own scale and colour bar. `holes` maps a panel
    to a boolean mask of nodes drawn as a hole there (a cropped region).
    """
    dm = mesh if isinstance(mesh, DisplayMesh) else display_mesh(mesh)
    holes = holes or {}
    names = list(panels)
    shared = names if shared_scale is None else shared_scale
    shared_range = color_range(*(panels[n] for n in shared)) if shared else None
    colorscales = colorscales or {}
    fig = make_subplots(rows=1, cols=len(names), specs=[[{"type": "scene"}] * len(names)], subplot_titles=names,
                        horizontal_spacing=0.07)
    scenes = ["scene" if i == 0 else f"scene{i + 1}" for i in range(len(names))]
    last_shared = max((i for i, n in enumerate(names) if n in shared), default=-1)
    for i, name in enumerate(names):
        lo, hi = shared_range if name in shared else color_range(panels[name])
        # one colour bar per scale, just right of the last panel that uses it
        show = name not in shared or i == last_shared
        fig.add_trace(
            _mesh_trace(dm.without(holes[name]) if name in holes else dm, panels[name], colorscales.get(name, "Viridis"), lo, hi,
                        colorbar_x=fig.layout[scenes[i]].domain.x[1] + 0.005, show_scale=show),
            row=1, col=i + 1,
        )
    # smaller panels need the camera further back for the whole shape to fit
    camera = dict(CAMERA, eye={k: v * (1 + 0.3 * (len(names) - 1)) for k, v in CAMERA["eye"].items()})
    layout = {scene: dict(_scene_layout(), camera=camera) for scene in scenes}
    fig.update_layout(**layout, height=height, margin=dict(l=0, r=30, t=30, b=0), uirevision="keep-camera")
    return fig


def grid_figure(
    mesh: Mesh | DisplayMesh,
    rows: list[list[tuple[str, np.ndarray] | None]],
    colorscales: list[str] | None = None,
    row_height: int = 340,
    share: str = "row",
) -> go.Figure:
    """Signals on the same mesh in a grid of (title, values) panels; None leaves a cell empty.

    share="row": each row shares one colour range, colour scale and bar (say predictions in one row, errors in
    the next); share="column": each column does (say one row per method, columns field | gradient | error).
    `colorscales` has one entry per row or per column accordingly.
    """
    if share not in ("row", "column"):
        raise ValueError(f"share must be 'row' or 'column', got {share!r}")
    dm = mesh if isinstance(mesh, DisplayMesh) else display_mesh(mesh)
    n_cols = max(len(row) for row in rows)
    specs = [[{"type": "scene"} if i < len(row) and row[i] is not None else None for i in range(n_cols)] for row in rows]
    titles = [cell[0] for row in rows for cell in row if cell is not None]
    fig = make_subplots(rows=len(rows), cols=n_cols, specs=specs, subplot_titles=titles,
                        horizontal_spacing=0.02, vertical_spacing=0.06 if len(rows) < 6 else 0.02)
    cells = [(r, c, cell[1]) for r, row in enumerate(rows) for c, cell in enumerate(row) if cell is not None]
    group = (lambda r, c: r) if share == "row" else (lambda r, c: c)
    n_groups = len(rows) if share == "row" else n_cols
    colorscales = colorscales or ["Viridis"] * n_groups
    for g in range(n_groups):
        members = [(r, c, values) for r, c, values in cells if group(r, c) == g]
        if not members:
            continue
        lo, hi = color_range(*(values for _, _, values in members))
        for r, c, values in members:
            last = (r, c) == members[-1][:2]
            fig.add_trace(_mesh_trace(dm, values, colorscales[g], lo, hi, show_scale=last), row=r + 1, col=c + 1)
            if last:
                scene = fig.get_subplot(r + 1, c + 1)
                if share == "row":
                    bar = dict(x=scene.domain.x[1], xanchor="left", y=sum(scene.domain.y) / 2, len=0.8 / len(rows))
                else:  # under its column
                    bar = dict(orientation="h", x=sum(scene.domain.x) / 2, xanchor="center", y=-0.01,
                               yanchor="top", len=0.9 / n_cols)
                fig.data[-1].update(colorbar=dict(thickness=12, **bar))
    # narrow panels cut the shape's sides off unless the camera steps back a little
    camera = dict(CAMERA, eye={k: v * (1 + 0.1 * (n_cols - 1)) for k, v in CAMERA["eye"].items()})
    fig.update_scenes(_scene_layout(), camera=camera)
    bottom = 60 if share == "column" else 0
    fig.update_layout(height=row_height * len(rows) + bottom, margin=dict(l=0, r=40, t=50, b=bottom),
                      uirevision="keep-camera")
    return fig


def part_colorscale(n_parts: int) -> list[list]:
    """A stepped colour scale giving integer values 0 .. n_parts - 1 one distinct colour each (with cmin -0.5 and
    cmax n_parts - 0.5); colours repeat after 24 parts."""
    palette = px_colors.qualitative.Light24
    scale = []
    for part in range(n_parts):
        colour = palette[part % len(palette)]
        scale += [[part / n_parts, colour], [(part + 1) / n_parts, colour]]
    return scale


def partition_figure(mesh: Mesh | DisplayMesh, labels: np.ndarray, removed: np.ndarray | None = None,
                     title: str | None = None, height: int = 520) -> go.Figure:
    """One colour per part, with each part's number written at the node nearest its centre; the nodes in
    `removed` (a boolean mask) are drawn as a hole."""
    dm = mesh if isinstance(mesh, DisplayMesh) else display_mesh(mesh)
    labels = np.asarray(labels)
    n_parts = int(labels.max()) + 1
    shown = dm if removed is None else dm.without(removed)
    fig = mesh_figure(shown, labels, title, part_colorscale(n_parts), -0.5, n_parts - 0.5, height)
    face_parts = shown.values(labels)[shown.faces[:, 0]]  # flat per triangle: no blend through other parts' colours
    fig.update_traces(intensity=face_parts, intensitymode="cell", showscale=False, hovertemplate="part %{intensity}<extra></extra>",
                      lighting=dict(ambient=0.85, diffuse=0.4, specular=0.05))  # flat colours read as parts, not shading
    vertices = mesh.vertices if isinstance(mesh, Mesh) else None
    if vertices is not None:
        centre = vertices.mean(axis=0)
        points, names = [], []
        for part in range(n_parts):
            nodes = np.flatnonzero(labels == part)
            if len(nodes) and (removed is None or not removed[nodes].all()):
                middle = vertices[nodes].mean(axis=0)
                nearest = vertices[nodes[np.argmin(((vertices[nodes] - middle) ** 2).sum(axis=1))]]
                points.append(centre + 1.08 * (nearest - centre))  # just off the surface, so it is not hidden
                names.append(str(part))
        if points:
            p = np.asarray(points)
            fig.add_trace(go.Scatter3d(x=p[:, 0], y=p[:, 1], z=p[:, 2], mode="text", text=names, hoverinfo="skip",
                                       textfont=dict(size=13, color="black"), showlegend=False))
    return fig


def point_cloud_figure(points: np.ndarray, values: np.ndarray, title: str | None = None, size: float = 1.5,
                       colorscale: str = "Viridis", cmin: float | None = None, cmax: float | None = None,
                       height: int = 520) -> go.Figure:
    """Values as a dense scatter on the surface: shows the resolution (the paper's super-resolution plots)."""
    p = np.asarray(points, dtype=np.float32)
    if cmin is None:
        cmin, cmax = color_range(values)
    fig = go.Figure(go.Scatter3d(
        x=p[:, 0], y=p[:, 1], z=p[:, 2], mode="markers",
        marker=dict(size=size, color=np.asarray(values, dtype=np.float32), colorscale=colorscale,
                    cmin=cmin, cmax=cmax, showscale=True),
    ))
    fig.update_layout(scene=_scene_layout(), height=height, margin=dict(l=0, r=0, t=40 if title else 0, b=0),
                      title=title)
    return fig


LINK_CAMERAS_JS = Path(__file__).with_name("link_cameras.js")  # shared with the dashboard's scene view


def figure_html(fig: go.Figure, link_cameras: bool = False) -> str:
    """A standalone interactive HTML page (plotly.js embedded, so it opens offline).

    `link_cameras`: rotating, zooming or panning one 3D scene moves all the others the same way. The page
    is the same for the same figure (fixed div id), so a browser showing it again need not redraw it; it is
    megabytes (plotly.js alone is ~5 MB), so build it once and keep it.
    """
    return fig.to_html(include_plotlyjs=True, full_html=True, div_id="figure",
                       post_script=_link_cameras_script() if link_cameras else None)


def _link_cameras_script() -> str:
    """link_cameras.js applied to the exported figure's div (plotly substitutes {plot_id})."""
    return LINK_CAMERAS_JS.read_text() + "\nlinkCameras([document.getElementById('{plot_id}')]);\n"


def to_pyvista(mesh: Mesh, values: np.ndarray | None = None, name: str = "signal"):
    """The mesh as a pyvista.PolyData with `values` as point data (for VTK rendering or export)."""
    import pyvista as pv

    poly = pv.PolyData(mesh.vertices, np.hstack([np.full((mesh.n_faces, 1), 3), mesh.faces]).ravel())
    if values is not None:
        poly.point_data[name] = np.asarray(values, dtype=np.float32)
    return poly


# vtk.js's viewer page adds favicons from kitware.github.io; a page of ours fetches nothing from the internet.
_VIEWER_FAVICON = "`https://kitware.github.io/vtk-js/icon/favicon-${t}x${t}.png`"


def vtk_scene_html(mesh: Mesh, values: np.ndarray, name: str, cmap: str = "viridis",
                   clim: tuple[float, float] | None = None, size: tuple[int, int] = (400, 400)) -> str:
    """A standalone interactive page (vtk.js, bundled with trame-vtk) showing `values` on the mesh.

    The VTK scene is serialised in this process, offline: no trame server is started (that one downloads
    VTK's WebAssembly build from gitlab.kitware.com and costs seconds and hundreds of MB per view), and no
    process is forked.
    """
    import io
    import json
    import zipfile

    import pyvista as pv
    from trame_vtk.modules.vtk.serializers import (
        SynchronizationContext,
        extract_array_hash,
        initialize_serializers,
        reference_id,
        serialize,
    )
    from trame_vtk.tools.vtksz2html import write_html

    plotter = pv.Plotter(window_size=list(size), off_screen=True)
    try:
        plotter.add_mesh(to_pyvista(mesh, values, name), scalars=name, cmap=cmap, clim=clim,
                         scalar_bar_args={"fmt": "%.2g", "n_labels": 4})
        plotter.view_isometric()
        initialize_serializers()
        context = SynchronizationContext()
        window, camera = plotter.render_window, plotter.renderer.GetActiveCamera()
        scene = serialize(None, window, reference_id(window), context, 1)
        scene["extra"] = {"vtkRefId": reference_id(window), "centerOfRotation": camera.GetFocalPoint(),
                          "camera": reference_id(camera)}
        arrays = {entry["hash"]: {**entry, "content": context.get_cached_data_array(entry["hash"], False)}
                  for entry in extract_array_hash(scene)}
    finally:
        plotter.close()
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("index.json", json.dumps({"hashes": arrays, "scene": scene}))
    page = io.StringIO()
    write_html(archive.getvalue(), page)
    return page.getvalue().replace(_VIEWER_FAVICON, '"data:,"')
