"""Figures of signals on meshes: Plotly for the browser and HTML export, PyVista for VTK rendering.

Plotly 7 sends numpy arrays as binary base64, so vertex data goes out as float32 and faces as the
smallest unsigned integer type that holds them: the Stanford bunny with a signal is ~1.4 MB of JSON
(int32 faces would be 1.9 MB, plain JSON lists ~7 MB). Meshes above `max_vertices` are decimated for
display only (quadric decimation, values carried by nearest vertex), and the figure says so.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import plotly.colors as px_colors
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..geometry.mesh import Mesh
from .rules import (
    DEFAULT_VIEW,
    FLAT_LIGHTING,
    Scale,
    View,
    camera,
    camera_distance,
    colour_scale,
    group_view,
    pyvista_view,
    rgb_colours,
    shown_channel,
    up_axis,
)

DEFAULT_MAX_DISPLAY_VERTICES = 150_000


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


def _hover(dm: DisplayMesh, name: str, shown: np.ndarray) -> dict:
    """Hover text with the value under the cursor and its vertex (of the full mesh, also when decimated): one
    float32 (value..., index) row per vertex, sent as binary (text labels would double the payload)."""
    index = np.arange(len(dm.vertices)) if dm.source_vertex is None else dm.source_vertex
    head = f"<b>{name}</b><br>" if name else ""
    data = np.column_stack([shown, index]).astype(np.float32)
    if shown.ndim == 2:
        return dict(customdata=data, hovertemplate=head + "RGB %{customdata[0]}, %{customdata[1]}, %{customdata[2]}"
                                                          "<br>vertex %{customdata[3]}<extra></extra>")
    return dict(customdata=data, hovertemplate=head + "value %{customdata[0]:.4~g}<br>vertex %{customdata[1]}<extra></extra>")


def _values_trace(dm: DisplayMesh, values, scale: Scale | None, view: View = DEFAULT_VIEW, name: str = "",
                  colorbar: dict | None = None, show_scale: bool = True):
    """One panel's trace: a Mesh3d (or a point scatter when the view draws points) coloured by `values`, unlit so
    the colours read as the colour bar, with the value and vertex on hover. RGB signals colour the vertices."""
    v = dm.vertices
    if values is None:
        return go.Mesh3d(x=v[:, 0], y=v[:, 1], z=v[:, 2], i=dm.faces[:, 0], j=dm.faces[:, 1], k=dm.faces[:, 2],
                         color="#b0b8c4", flatshading=False, hoverinfo="skip",
                         lighting=dict(ambient=0.55, diffuse=0.7, specular=0.15, roughness=0.6))
    values, rgb = shown_channel(values, view)
    if rgb:
        colours = rgb_colours(values if dm.source_vertex is None else values[dm.source_vertex])
        css = np.array([f"rgb({r},{g},{b})" for r, g, b in colours])
        colour = dict(vertexcolor=css) if view.draw_as == "mesh" else dict(marker=dict(color=css, size=_marker_size(dm)))
        hover = _hover(dm, name, colours)
    else:
        shown = dm.values(values)
        cbar = scale.colorbar(**(colorbar or {}))
        if view.draw_as == "mesh":
            colour = dict(intensity=shown, intensitymode="vertex", colorscale=scale.cmap, cmin=scale.lo, cmax=scale.hi,
                          showscale=show_scale, colorbar=cbar)
        else:
            colour = dict(marker=dict(color=shown, colorscale=scale.cmap, cmin=scale.lo, cmax=scale.hi, size=_marker_size(dm),
                                      showscale=show_scale, colorbar=cbar))
        hover = _hover(dm, name, shown)
    if view.draw_as == "points":
        return go.Scatter3d(x=v[:, 0], y=v[:, 1], z=v[:, 2], mode="markers", name=name, showlegend=False, **colour, **hover)
    return go.Mesh3d(x=v[:, 0], y=v[:, 1], z=v[:, 2], i=dm.faces[:, 0], j=dm.faces[:, 1], k=dm.faces[:, 2], name=name,
                     flatshading=False, lighting=FLAT_LIGHTING, **colour, **hover)


def _marker_size(dm: DisplayMesh) -> float:
    """Pixels per marker so the points cover a surface drawn ~300 px wide: gaps would show the far side through."""
    return float(np.clip(400 / np.sqrt(max(len(dm.vertices), 1)), 1.0, 6.0))


NOMINAL_WIDTH = 900  # px: a figure's width on a page (Streamlit stretches it to the column), for fitting cameras
TITLE_ROOM_PX = 60  # top margin of a figure with titles: Plotly's toolbar (~30 px) above, the titles below it
TITLE_FONT = dict(size=14)  # titles fit panels a third of a page wide
COLOUR_BAR_PX = 90  # a colour bar with its labels and title, beside a lone scene (which Plotly narrows for it)


# A 3D axis drawn with nothing: every part off and no ticks. (With visible=False plotly.js still computes its ticks
# and turns them and the axis title into 3D text, ~0.5 s of a page's setup in software WebGL.)
HIDDEN_AXIS = dict(visible=True, showbackground=False, showgrid=False, zeroline=False, showline=False, showspikes=False,
                   ticks="", tickmode="array", tickvals=[], showticklabels=False, showaxeslabels=False, title=dict(text=""))


def _scene_layout(up: str, distance: float = 1.0) -> dict:
    return dict(xaxis=HIDDEN_AXIS, yaxis=HIDDEN_AXIS, zaxis=HIDDEN_AXIS, aspectmode="data", camera=camera(up, distance))


def _fit_scenes(fig: go.Figure, vertices: np.ndarray, up: str, width: int = NOMINAL_WIDTH) -> None:
    """Every scene of `fig` (its height and margins set) laid out with the camera stepped back just enough for
    the shape to fill its panel (camera_distance), the panel's size read from its domain and the figure's `width`."""
    margin = fig.layout.margin
    plot_width = width - (margin.l or 0) - (margin.r or 0)
    plot_height = fig.layout.height - (margin.t or 0) - (margin.b or 0)
    layouts = {}
    for scene in [name for name in fig.layout if name.startswith("scene")]:
        domain = fig.layout[scene].domain
        x, y = domain.x or (0, 1), domain.y or (0, 1)
        aspect = (x[1] - x[0]) * plot_width / max((y[1] - y[0]) * plot_height, 1.0)
        layouts[scene] = _scene_layout(up, camera_distance(vertices, up, aspect))
    fig.update_layout(layouts)  # one update: each one validates the whole layout it is given (0.1 s a scene)


def _panel_scale(kind: str, values, view: View) -> Scale | None:
    """A panel's own scale (None for RGB colours, which need none)."""
    if values is None or shown_channel(values, view)[1]:
        return None
    return colour_scale(kind, shown_channel(values, view)[0], view=view)


def mesh_figure(
    mesh: Mesh | DisplayMesh,
    values: np.ndarray | None = None,
    title: str | None = None,
    kind: str = "signal",
    view: View = DEFAULT_VIEW,
    scale: Scale | None = None,
    height: int = 520,
    width: int = NOMINAL_WIDTH,
) -> go.Figure:
    """A signal on a mesh (or the bare mesh when `values` is None) as an interactive 3D figure.

    `scale` fixes the colour scale (figures that must agree, e.g. a coarse and a fine mesh); by default it follows
    the rules for `kind` and `view`. `width`: about how wide it is drawn (figures side by side are narrower), for
    the camera to fit the shape in it."""
    dm = mesh if isinstance(mesh, DisplayMesh) else display_mesh(mesh)
    scale = scale or _panel_scale(kind, values, view)
    fig = go.Figure(_values_trace(dm, values, scale, view, title or ""))
    fig.update_layout(height=height, margin=dict(l=0, r=0, t=TITLE_ROOM_PX if title else 0, b=0), uirevision="keep-camera",
                      title=dict(text=title, x=0.5, xanchor="center", y=1, yref="paper", yanchor="bottom", font=TITLE_FONT,
                                 pad=dict(b=8)) if title else None)
    _fit_scenes(fig, dm.vertices, up_axis(dm.vertices, view), width - (COLOUR_BAR_PX if scale is not None else 0))
    return fig


def side_by_side_figure(
    mesh: Mesh | DisplayMesh,
    panels: dict[str, np.ndarray],
    kinds: dict[str, str] | None = None,
    shared_scale: list[str] | None = None,
    view: View = DEFAULT_VIEW,
    height: int = 480,
    holes: dict[str, np.ndarray] | None = None,
) -> go.Figure:
    """Several signals on the same mesh next to each other, all with the same camera.

    `kinds` maps a panel to its kind of data (default "signal", see rules.py). The panels named in
    `shared_scale` (default: all) share one colour scale, so truth and prediction read the same; the others (an
    error map, say) get their own scale and colour bar. `holes` maps a panel to a boolean mask of nodes drawn as
    a hole there (a cropped region).
    """
    dm = mesh if isinstance(mesh, DisplayMesh) else display_mesh(mesh)
    holes, kinds = holes or {}, kinds or {}
    names = list(panels)
    scales = panel_scales(panels, kinds, shared_scale, view)
    views = panel_views(panels, shared_scale, view)
    shared = names if shared_scale is None else shared_scale
    fig = make_subplots(rows=1, cols=len(names), specs=[[{"type": "scene"}] * len(names)], subplot_titles=names,
                        horizontal_spacing=0.07)
    scenes = ["scene" if i == 0 else f"scene{i + 1}" for i in range(len(names))]
    last_shared = max((i for i, n in enumerate(names) if n in shared), default=-1)
    for i, name in enumerate(names):
        # one colour bar per scale, just right of the last panel that uses it
        show = name not in shared or i == last_shared
        fig.add_trace(
            _values_trace(dm.without(holes[name]) if name in holes else dm, panels[name], scales[name], views[name], name,
                          colorbar=dict(x=fig.layout[scenes[i]].domain.x[1] + 0.005, xanchor="left", len=0.8),
                          show_scale=show),
            row=1, col=i + 1,
        )
    fig.update_layout(height=height, margin=dict(l=0, r=30, t=TITLE_ROOM_PX, b=0), uirevision="keep-camera")
    fig.update_annotations(font=TITLE_FONT)  # the panel titles
    _fit_scenes(fig, dm.vertices, up_axis(dm.vertices, view))
    return fig


def panel_scales(panels: dict[str, np.ndarray], kinds: dict[str, str] | None = None,
                 shared_scale: list[str] | None = None, view: View = DEFAULT_VIEW) -> dict[str, Scale | None]:
    """Each panel's colour scale: the panels in `shared_scale` (default all) share one, over all their values, of
    the first one's kind; the others have their own. None for a panel drawn in RGB colours."""
    kinds = kinds or {}
    views = panel_views(panels, shared_scale, view)
    shared = [n for n in (list(panels) if shared_scale is None else shared_scale)
              if _panel_scale("signal", panels[n], views[n])]
    common = colour_scale(kinds.get(shared[0], "signal"), *(shown_channel(panels[n], views[n])[0] for n in shared),
                          view=view) if shared else None
    return {name: common if name in shared else _panel_scale(kinds.get(name, "signal"), values, views[name])
            for name, values in panels.items()}


def panel_views(panels: dict[str, np.ndarray], shared_scale: list[str] | None = None,
                view: View = DEFAULT_VIEW) -> dict[str, View]:
    """Each panel's view: the panels sharing a scale are drawn alike (all as colours when one is a colour signal)."""
    shared = list(panels) if shared_scale is None else shared_scale
    together = group_view([panels[n] for n in shared], view)
    return {name: together if name in shared else view for name in panels}


def grid_figure(
    mesh: Mesh | DisplayMesh,
    rows: list[list[tuple[str, np.ndarray] | None]],
    kinds: list[str] | None = None,
    view: View = DEFAULT_VIEW,
    row_height: int = 340,
    share: str = "row",
) -> go.Figure:
    """Signals on the same mesh in a grid of (title, values) panels; None leaves a cell empty.

    share="row": each row shares one colour scale and bar (say predictions in one row, errors in the next);
    share="column": each column does (say one row per method, columns field | gradient | error). `kinds` has one
    kind of data (rules.py) per row or per column accordingly (default "signal").
    """
    if share not in ("row", "column"):
        raise ValueError(f"share must be 'row' or 'column', got {share!r}")
    dm = mesh if isinstance(mesh, DisplayMesh) else display_mesh(mesh)
    n_cols = max(len(row) for row in rows)
    specs = [[{"type": "scene"} if i < len(row) and row[i] is not None else None for i in range(n_cols)] for row in rows]
    titles = [cell[0] for row in rows for cell in row if cell is not None]
    fig = make_subplots(rows=len(rows), cols=n_cols, specs=specs, subplot_titles=titles,
                        horizontal_spacing=0.02, vertical_spacing=0.06 if len(rows) < 6 else 0.02)
    cells = [(r, c, cell) for r, row in enumerate(rows) for c, cell in enumerate(row) if cell is not None]
    group = (lambda r, c: r) if share == "row" else (lambda r, c: c)
    n_groups = len(rows) if share == "row" else n_cols
    kinds = kinds or ["signal"] * n_groups
    for g in range(n_groups):
        members = [(r, c, cell) for r, c, cell in cells if group(r, c) == g]
        if not members:
            continue
        together = group_view([values for _, _, (_, values) in members], view)
        scale = colour_scale(kinds[g], *(shown_channel(values, together)[0] for _, _, (_, values) in members), view=view)
        for r, c, (title, values) in members:
            last = (r, c) == members[-1][:2]
            scene = fig.get_subplot(r + 1, c + 1)
            if share == "row":
                bar = dict(x=scene.domain.x[1], xanchor="left", y=sum(scene.domain.y) / 2, len=0.8 / len(rows))
            else:  # under its column
                bar = dict(orientation="h", x=sum(scene.domain.x) / 2, xanchor="center", y=-0.01,
                           yanchor="top", len=0.9 / n_cols)
            fig.add_trace(_values_trace(dm, values, scale, together, title, colorbar=bar, show_scale=last),
                          row=r + 1, col=c + 1)
    bottom = 60 if share == "column" else 0
    fig.update_annotations(font=TITLE_FONT)  # the panel titles
    fig.update_layout(height=row_height * len(rows) + bottom, margin=dict(l=0, r=40, t=TITLE_ROOM_PX, b=bottom),
                      uirevision="keep-camera")
    _fit_scenes(fig, dm.vertices, up_axis(dm.vertices, view))
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
    `removed` (a boolean mask) are drawn as a hole. The numbers are scene annotations, drawn over the mesh (a
    number as 3D text was hidden behind the surface for most parts from any one camera)."""
    dm = mesh if isinstance(mesh, DisplayMesh) else display_mesh(mesh)
    labels = np.asarray(labels)
    n_parts = int(labels.max()) + 1
    shown = dm if removed is None else dm.without(removed)
    fig = mesh_figure(shown, labels, title, scale=Scale(-0.5, n_parts - 0.5, part_colorscale(n_parts)), height=height)
    face_parts = shown.values(labels)[shown.faces[:, 0]]  # flat per triangle: no blend through other parts' colours
    fig.update_traces(intensity=face_parts, intensitymode="cell", showscale=False, hovertemplate="part %{intensity}<extra></extra>",
                      customdata=None, lighting=dict(ambient=0.85, diffuse=0.4, specular=0.05))  # parts, not shading
    vertices, shown_labels = dm.vertices, dm.values(labels).astype(int)
    kept = np.ones(len(vertices), bool) if removed is None else dm.values(~np.asarray(removed, bool)) > 0.5
    annotations = []
    for part in range(n_parts):
        nodes = np.flatnonzero((shown_labels == part) & kept)
        if len(nodes):
            middle = vertices[nodes].mean(axis=0)
            x, y, z = (float(c) for c in vertices[nodes[np.argmin(((vertices[nodes] - middle) ** 2).sum(axis=1))]])
            annotations.append(dict(x=x, y=y, z=z, text=f"<b>{part}</b>", showarrow=False, font=dict(size=13, color="black"),
                                    bgcolor="rgba(255,255,255,0.75)", borderpad=2))
    fig.update_layout(scene_annotations=annotations)
    return fig


def point_cloud_figure(points: np.ndarray, values: np.ndarray, title: str | None = None, kind: str = "signal",
                       view: View = DEFAULT_VIEW, scale: Scale | None = None, height: int = 520,
                       width: int = NOMINAL_WIDTH) -> go.Figure:
    """Values as a dense scatter on the surface: shows the resolution (the paper's super-resolution plots).
    Drawn with the same rules (scale, hover, camera) as a mesh; `scale` fixes the colour scale."""
    p = np.asarray(points, dtype=np.float32)
    cloud = DisplayMesh(p, np.zeros((0, 3), dtype=np.uint32), None, len(p))
    return mesh_figure(cloud, values, title, kind, replace(view, draw_as="points"), scale, height, width)


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


BAR_TITLE_CHARS = 40  # about what fits on one line over a 400-pixel PyVista panel's colour bar


def label_power(lo: float, hi: float) -> int:
    """The power of ten a PyVista colour bar's values are shown in (0: as they are). vtk.js ignores the bar's
    number format and prints 3e-8 as 0.00000003, so values under 1e-3 or from 1e5 up are divided by 10^power and
    the title says "x 1e<power>"."""
    largest = max(abs(float(lo)), abs(float(hi)))
    if not np.isfinite(largest) or largest == 0 or 1e-3 <= largest < 1e5:
        return 0
    return int(np.floor(np.log10(largest)))


def bar_details(scale: Scale) -> str:
    """What a PyVista colour bar's title says beyond the panel's name: the power of ten its labels are shown in
    (see `label_power`) and the scale's note (clipping)."""
    power = label_power(scale.lo, scale.hi)
    return ", ".join(part for part in (f"x 1e{power}" if power else "", scale.note) if part)


def bar_title(name: str, scale: Scale) -> str:
    """A PyVista colour bar's title: the name and the details, or the details alone when both would not fit
    over the bar (vtk.js cuts a long title at both ends; the page names the panel above it)."""
    details = bar_details(scale)
    title = f"{name} ({details})" if details else name
    return details if len(title) > BAR_TITLE_CHARS and details else title


def vtk_scene_html(mesh: Mesh, values: np.ndarray, name: str, scale: Scale | None = None, kind: str = "signal",
                   view: View = DEFAULT_VIEW, size: tuple[int, int] = (400, 400)) -> str:
    """A standalone interactive page (vtk.js, bundled with trame-vtk) showing `values` on the mesh, with the same
    rules as the Plotly figures: colour scale (`scale`, else the rules for `kind`), unlit colours, RGB vertex
    colours, points or mesh, up axis.

    The VTK scene is serialised in this process, offline: no trame server is started (that one downloads
    VTK's WebAssembly build from gitlab.kitware.com and costs seconds and hundreds of MB per view), and no
    process is forked. Cost per panel on a 2-core CPU: 0.05 s and a 1.4 MB page for an icosphere of 10,242 vertices, 0.16 s and
    2.6 MB for the bunny (34,834); the browser's vtk.js then draws it.
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

    shown, rgb = shown_channel(values, view)
    plotter = pv.Plotter(window_size=list(size), off_screen=True)
    try:
        style = dict(style="points", point_size=4, render_points_as_spheres=False) if view.draw_as == "points" else {}
        if rgb:
            poly = to_pyvista(mesh)
            poly.point_data[name] = rgb_colours(shown)
            plotter.add_mesh(poly, scalars=name, rgb=True, lighting=False, **style)
        else:
            scale = scale or colour_scale(kind, shown, view=view)
            unit = 10.0 ** label_power(scale.lo, scale.hi)
            plotter.add_mesh(to_pyvista(mesh, np.asarray(shown) / unit, name), scalars=name, cmap=scale.cmap,
                             clim=(scale.lo / unit, scale.hi / unit), lighting=False,
                             scalar_bar_args={"title": bar_title(name, scale), "fmt": "%.3g", "n_labels": 4}, **style)
        plotter.view_vector(*pyvista_view(mesh.vertices, view))
        initialize_serializers()
        context = SynchronizationContext()
        window, vtk_camera = plotter.render_window, plotter.renderer.GetActiveCamera()
        scene = serialize(None, window, reference_id(window), context, 1)
        scene["extra"] = {"vtkRefId": reference_id(window), "centerOfRotation": vtk_camera.GetFocalPoint(),
                          "camera": reference_id(vtk_camera)}
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

