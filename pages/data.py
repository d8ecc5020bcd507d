"""Data: choose a domain, a signal on it, and its spectral embedding."""

from dataclasses import replace
from functools import partial

import plotly.graph_objects as go
import streamlit as st

from ginr_core.data.datasets import stanford_bunny
from ginr_core.data.signals import (
    ANALYTIC_SIGNALS,
    PAPER_GRAY_SCOTT,
    analytic_signal,
    gray_scott_texture,
    load_vertex_signal,
    vertex_property_signal,
)
from ginr_core.geometry.domains import BUILTIN_DOMAINS
from ginr_core.geometry.features import DEFAULT_K, MAX_UI_K, FeatureSpec, max_k
from ginr_core.geometry.laplacian import LAPLACIANS
from ginr_core.geometry.mesh import MESH_EXTENSIONS, load_mesh
from ginr_core.geometry.spectral import spectral_embedding
from ginr_core.geometry.sphere import SPHERE_EMBEDDING, is_sphere, random_sh_field
from ginr_core.io.reference_dataset import read_reference_sample, sample_mesh
from ginr_core.runs.signal_sources import analytic_source, gray_scott_source, property_source, sh_field_source
from ginr_core.runs.spec import Source
from ginr_core.settings import VIEW_DRAW_S, busy_seconds, data_path, limits, simulation_seconds
from ginr_core.viz.figures import display_mesh, mesh_figure
from pages.shared.job_panel import PANEL_REFRESH_S, prepare, prepared
from pages.shared.scene_view import chart
from pages.shared.widgets import (
    coordinate_picker,
    enter_via_app,
    plain,
    show_error,
    show_meshes,
)
from pages.shared.workspace import (
    MAX_UPLOAD_MB,
    builtin_mesh,
    netcdf_upload,
    uploaded_mesh,
    workspace,
)

enter_via_app(__file__)

ws = workspace()
st.title("Data")

# ------------------------------------------------------------------------------------------- domain
st.header("1. Domain")
DOMAIN_PARAMS = {  # widget ranges for each built-in domain's parameters
    "icosphere": {"level": (1, 7)},
    "latlon_sphere": {"n_lat": (11, 361), "n_lon": (12, 720)},
    "torus": {"n_major": (12, 400), "n_minor": (6, 200)},
    "trefoil_knot": {"n_along": (60, 800), "n_around": (8, 64)},
    "bumpy_sphere": {"level": (1, 7)},
    "square_grid": {"n": (4, 400)},
}
st.caption("Nothing changes until you load a domain: the current one stays in use on every page.")
REFERENCE = "Reference dataset file (.npz)"
data_dirs = limits().data_dirs  # files on the server are offered only inside the operator's data folders
source = st.radio("Mesh source", ["Built-in", "Upload a file", REFERENCE, *(["Local file path"] if data_dirs else []),
                                  "Stanford bunny (download)"], horizontal=True)


def new_upload(upload) -> bool:
    """True once per uploaded file, so reruns do not re-apply it over a later choice."""
    if upload is None or st.session_state.get(f"applied-{upload.file_id}"):
        return False
    st.session_state[f"applied-{upload.file_id}"] = True
    return True


try:
    if source == "Built-in":
        name = st.selectbox("Domain", list(BUILTIN_DOMAINS), format_func=lambda n: f"{n}: {BUILTIN_DOMAINS[n].description}")
        cols = st.columns(len(DOMAIN_PARAMS[name]))
        params = tuple(
            (p, col.slider(p, lo, hi, BUILTIN_DOMAINS[name].defaults[p], key=f"{name}-{p}"))
            for col, (p, (lo, hi)) in zip(cols, DOMAIN_PARAMS[name].items())
        )
        if st.button("Use this domain", type="primary"):
            label = f"{name} ({', '.join(f'{p}={v}' for p, v in params)})"
            ws.set_mesh(builtin_mesh(name, params), label, [], Source("builtin", name, dict(params), label=label))
    elif source == "Upload a file":
        components = st.radio("Disconnected meshes", ["largest", "error"], horizontal=True,
                              format_func={"largest": "keep the largest piece", "error": "refuse"}.get)
        upload = st.file_uploader(f"Mesh file ({', '.join(MESH_EXTENSIONS)}; up to {MAX_UPLOAD_MB} MB)",
                                  type=list(MESH_EXTENSIONS))
        if new_upload(upload):
            mesh, report = uploaded_mesh(upload.file_id, upload.getvalue(), upload.name, components)
            ws.set_mesh(mesh, upload.name, report.messages(), Source.of_bytes("upload", upload.name, upload.getvalue(),
                                                                              components=components))
    elif source == REFERENCE:
        st.caption("One npz file of the reference implementation's layout (points, faces, fourier, target): its mesh "
                   "becomes the domain and its target the signal; the features are rebuilt from the mesh.")
        upload = st.file_uploader(f"Reference npz (up to {MAX_UPLOAD_MB} MB)", type=["npz"])
        if new_upload(upload):
            sample = read_reference_sample(upload.getvalue(), upload.name, max_bytes=MAX_UPLOAD_MB * 2**20)
            source_of = Source.of_bytes("reference", upload.name, upload.getvalue())
            ws.set_mesh(sample_mesh(sample), upload.name, [], source_of)
            target = sample.target[:, 0] if sample.target.shape[1] == 1 else sample.target
            ws.set_signal(target, f"target of {upload.name}", source=replace(source_of, label=f"target of {upload.name}"))
    elif source == "Local file path":
        path = st.text_input("Path of a mesh file on the server", placeholder="bunny.ply",
                             help="A path inside the data folders, or relative to one of them.")
        st.caption(f"Data folders: {', '.join(map(str, data_dirs))}")
        if st.button("Load", disabled=not path):
            mesh, report = load_mesh(data_path(path))
            ws.set_mesh(mesh, path.strip(), report.messages())
    else:
        st.caption("Downloads bun_zipper.ply from the Stanford 3D Scanning Repository once: the app's only "
                   "connection to the internet, made only when you press the button.")
        if st.button("Download and load the bunny"):
            with st.spinner("Downloading..."):
                mesh, report = load_mesh(stanford_bunny())
            ws.set_mesh(mesh, "Stanford bunny", report.messages())
except Exception as exc:  # bad uploads and paths: explain, keep the previous mesh
    show_error(exc)

mesh = ws.mesh
st.subheader(plain(ws.mesh_label))
c = st.columns(4)
c[0].metric("Vertices", f"{mesh.n_vertices:,}")
c[1].metric("Faces", f"{mesh.n_faces:,}")
c[2].metric("Edges", f"{len(mesh.edges()):,}")
c[3].metric("Components", mesh.n_components())
for note in ws.notes:
    st.info(note, icon=":material/cleaning_services:")

# ------------------------------------------------------------------------------------------- signal
st.header("2. Signal")
sphere = is_sphere(mesh)
kinds = ["Analytic", "Gray-Scott reaction-diffusion", "Upload values (.npy / .csv)"]
if sphere:
    kinds.insert(2, "Spherical-harmonic random field")
if mesh.vertex_data:
    kinds.append("Mesh vertex property")
kinds.append("Lat-lon netCDF grid (replaces the domain)")
kind = st.radio("Signal source", kinds, horizontal=True)
try:
    if kind == "Analytic":
        which = st.selectbox("Function", ANALYTIC_SIGNALS)
        if st.button("Use this signal", type="primary"):
            source = analytic_source(which)
            ws.set_signal(analytic_signal(mesh, which), source.label, partial(analytic_signal, kind=which), source)
    elif kind == "Gray-Scott reaction-diffusion":
        paper = PAPER_GRAY_SCOTT
        st.caption(f"The paper's bunny texture: Du, Dv, F, k = {paper.Du}, {paper.Dv}, {paper.F:.3f}, {paper.k}, "
                   f"{paper.steps:,} explicit steps; the target is v.")
        c = st.columns(5)
        steps = c[0].number_input("Steps", 100, 200_000, paper.steps, step=1000)
        Du = c[1].number_input("Du", 0.0, 2.0, paper.Du, format="%.3f")
        Dv = c[2].number_input("Dv", 0.0, 2.0, paper.Dv, format="%.3f")
        F = c[3].number_input("F", 0.0, 0.2, paper.F, format="%.4f")
        k = c[4].number_input("k", 0.0, 0.2, paper.k, format="%.4f")
        params = replace(paper, steps=int(steps), Du=Du, Dv=Dv, F=F, k=k)
        # the simulation, the panel's next look at it, then the page drawn again with the texture
        idle_s = simulation_seconds(params.steps, mesh.n_vertices) + PANEL_REFRESH_S + VIEW_DRAW_S
        st.caption(f"About {busy_seconds(idle_s):.0f} s on this server now, the simulation and the texture drawn "
                   f"({idle_s:.0f} s on an idle 2-core CPU; a busy one stretches it).")
        if st.button("Generate", type="primary"):
            prepare("gray-scott", "Running the reaction-diffusion model", gray_scott_texture, mesh, params, context=params)
        if (texture := prepared("gray-scott")) is not None:
            values, params = texture
            source = gray_scott_source(params)
            ws.set_signal(values, source.label, source=source)
    elif kind == "Spherical-harmonic random field":
        c = st.columns(2)
        degree = c[0].slider("Maximum degree", 1, 40, 8)
        seed = c[1].number_input("Seed", 0, 10_000, 0)
        if st.button("Use this signal", type="primary"):
            sh_field = partial(random_sh_field, max_degree=degree, seed=int(seed))
            source = sh_field_source(degree, int(seed))
            ws.set_signal(sh_field(mesh), source.label, sh_field, source)
    elif kind == "Upload values (.npy / .csv)":
        upload = st.file_uploader("One value per vertex (or a table with one row per vertex)", type=["npy", "csv", "txt"])
        if new_upload(upload):
            ws.set_signal(load_vertex_signal(upload.getvalue(), upload.name, mesh), f"upload: {upload.name}",
                          source=Source.of_bytes("upload", upload.name, upload.getvalue(), label=f"upload: {upload.name}"))
    elif kind == "Mesh vertex property":
        prop = st.selectbox("Property", list(mesh.vertex_data))
        if st.button("Use this signal", type="primary"):
            source = property_source(prop)
            ws.set_signal(vertex_property_signal(mesh, prop), source.label, source=source)
    else:
        upload, grid = netcdf_upload()
        if grid is not None:
            variable = st.selectbox("Variable", list(grid.variables), format_func=lambda v: grid.variables[v].label())
            selection = {}
            for dim in grid.variables[variable].dims:
                if dim in (grid.lat_name, grid.lon_name) or len(grid.coords.get(dim, [])) <= 1:
                    continue
                selection[dim] = coordinate_picker(grid, dim, key=f"grid-{dim}")
            if st.button("Use this field (and its grid as the domain)", type="primary"):
                values = grid.field(variable, **selection)
                grid_mesh = grid.mesh()
                domain_changed = ws.mesh.content_hash() != grid_mesh.content_hash()
                if domain_changed:
                    ws.set_mesh(grid_mesh, f"{upload.name} grid", grid.notes, Source.of_bytes("netcdf", upload.name, upload.getvalue()))
                ws.set_signal(values, f"{variable} {selection}", source=Source.of_bytes(
                    "netcdf", upload.name, upload.getvalue(), label=f"{variable} {selection}", variable=variable, selection=selection))
                if domain_changed:
                    st.rerun()  # the domain section above shows the old mesh: redraw the page
except Exception as exc:
    show_error(exc)

if ws.signal is None:
    st.warning("No signal yet: generate or upload one above. The mesh as loaded:")
    chart(mesh_figure(display_mesh(mesh), height=520), key="bare-mesh")
else:
    st.caption(f"Signal: {plain(ws.signal_label)}")
    show_meshes(mesh, {ws.signal_label: ws.signal}, key="signal", height=520)

# ----------------------------------------------------------------------------------------- embedding
st.header("3. Spectral embedding")
st.caption("Each node is described by the first k eigenvectors of a Laplacian, scaled by sqrt(n): "
           "the GINR's input. The paper uses the combinatorial Laplacian and k = 100.")
methods = list(LAPLACIANS) + (["spherical harmonics (exact)"] if sphere else [])
c = st.columns(2)
method = c[0].selectbox("Laplacian", methods)
k_max = max(2, min(MAX_UI_K, max_k(mesh.n_vertices)))
k = int(c[1].number_input("Embedding size k", 2, k_max, min(DEFAULT_K, k_max)))
if st.button("Compute embedding", type="primary"):
    try:
        if method.startswith("spherical"):
            ws.embedding = FeatureSpec(SPHERE_EMBEDDING, k).embedding(mesh)
        else:
            prepare("embedding", "Computing the spectral embedding", spectral_embedding, mesh, k=k, laplacian=method,
                    context=mesh)
    except Exception as exc:
        show_error(exc)
if (embedded := prepared("embedding")) is not None and embedded[1] is ws.mesh:  # still the workspace's mesh
    ws.embedding = embedded[0]

emb = ws.embedding
if emb is not None:
    left, right = st.columns([1, 2])
    spectrum = go.Figure(go.Scatter(y=emb.eigenvalues, mode="lines+markers", marker_size=4))
    spectrum.update_layout(title="Eigenvalues", xaxis_title="index", yaxis_title="eigenvalue", height=420,
                           margin=dict(l=0, r=0, t=40, b=0))
    with left:
        chart(spectrum, key="spectrum")
    index = right.slider("Eigenvector", 0, emb.features.shape[1] - 1, min(3, emb.features.shape[1] - 1))
    label = f"eigenvector {index} (eigenvalue {emb.eigenvalues[index]:.4g})"
    with right:
        show_meshes(mesh, {label: emb.features[:, index]}, key="eigenvector", kinds={label: "signed"}, height=420)
