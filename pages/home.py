"""Home: what a GINR is, a one-click demo, and where to go next."""

import streamlit as st

from ginr_core.data.signals import PAPER_GRAY_SCOTT, gray_scott_texture
from ginr_core.geometry.features import DEFAULT_K, FeatureSpec
from ginr_core.geometry.spectral import spectral_embedding
from ginr_core.learning.model_config import ModelConfig
from ginr_core.learning.training import TrainConfig
from ginr_core.runs.actions import result_panels
from ginr_core.runs.signal_sources import gray_scott_source
from ginr_core.runs.spec import Source
from ginr_core.viz.figures import display_mesh, side_by_side_figure
from pages.shared.job_panel import job_panel, prepare, prepared
from pages.shared.runs import launch_training, registry
from pages.shared.widgets import current_view, enter_via_app, linked_views, show_error
from pages.shared.workspace import (
    Workspace,
    builtin_mesh,
    compute_embedding,
    workspace,
)

enter_via_app(__file__)

DEMO_DOMAIN = ("torus", (("n_major", 96), ("n_minor", 48)))
DEMO_BUDGET_S = 5.0  # the default recipe fits the demo texture to R² 0.99999999 in 5 s on a 2-core CPU

st.title("GINR Studio")
st.markdown(
    "A **generalised implicit neural representation** (Grattarola & Vandergheynst, NeurIPS 2022) learns a "
    "signal on a mesh, a sphere or a graph. Each node is described by its **spectral embedding**, the first "
    "*k* eigenvectors of the graph Laplacian scaled by √n, and a small network (a SIREN) maps the "
    "embedding to the signal. A classic INR maps the xyz coordinates instead and does not know the surface."
)


@st.cache_data(show_spinner=False)
def eigenvector_panels():
    mesh = builtin_mesh(*DEMO_DOMAIN)
    emb = compute_embedding(mesh, 8, "combinatorial")
    return {f"eigenvector {i}": emb.features[:, i] for i in (1, 3, 6)}


mesh = builtin_mesh(*DEMO_DOMAIN)
st.caption("Three columns of the spectral embedding of a torus: smooth, surface-aware coordinates.")
linked_views(side_by_side_figure(display_mesh(mesh), eigenvector_panels(),
                                 kinds=dict.fromkeys(("eigenvector 1", "eigenvector 3", "eigenvector 6"), "signed"),
                                 shared_scale=[], view=current_view(), height=300), key="eigenvectors")

st.header("One-click demo")
st.write(f"Grows a Gray-Scott reaction-diffusion texture on a torus (the paper's bunny recipe), embeds the "
         f"{mesh.n_vertices:,} nodes with k = {DEFAULT_K} eigenvectors and trains a GINR for {DEMO_BUDGET_S:.0f} seconds.")


def demo_data(mesh, progress):
    """The demo's texture (the paper's recipe; kept on disk, so a second demo starts training at once) and its k =
    DEFAULT_K embedding, off the page's thread."""
    signal = gray_scott_texture(mesh, PAPER_GRAY_SCOTT, progress=lambda f, m="": progress(0.9 * f, f"Growing the texture: {m}"))
    embedding = spectral_embedding(mesh, DEFAULT_K, progress=lambda f, m="": progress(0.9 + 0.1 * f, f"Embedding: {m}"))
    return signal, embedding


if st.button("Run the demo", type="primary", icon=":material/play_arrow:"):
    prepare("demo", "Preparing the demo", demo_data, mesh)
if (prepared_demo := prepared("demo")) is not None:
    try:
        signal, embedding = prepared_demo[0]
        ws = Workspace(mesh, "torus (demo)", store_id=workspace().store_id,  # the session's saved workspace becomes the demo's
                       domain_source=Source("builtin", "torus", dict(DEMO_DOMAIN[1]), label="torus (demo)"))
        source = gray_scott_source(PAPER_GRAY_SCOTT)
        ws.set_signal(signal, source.label, source=source)
        ws.embedding = embedding
        st.session_state.workspace = ws
        st.session_state.following = st.session_state.demo = launch_training(
            ws, ModelConfig(), TrainConfig(time_budget_s=DEMO_BUDGET_S), FeatureSpec("combinatorial", DEFAULT_K))
    except Exception as exc:
        show_error(exc)


demo = st.session_state.get("demo")
demo_run = None if demo is None else demo.state.run_id
if demo is not None and not demo.done:
    job_panel(demo, "demo", cancelled="The demo was cancelled.")
elif demo is not None and demo_run is None:
    st.error(f"The demo failed: {demo.state.error}")
elif demo_run is not None:
    try:
        run = registry().get(demo_run)
        if run.status != "done":
            st.error(f"The demo run ended: {run.status}.")
        else:
            inputs, panels = result_panels(registry(), demo_run)
            st.success(f"Trained in {registry().load_history(demo_run)[-1]['elapsed_s']:.0f} s: R² = {run.metrics['r2']:.4f} "
                       f"over all {inputs.mesh.n_vertices:,} nodes. The Train and Results pages now hold this run.")
            linked_views(side_by_side_figure(display_mesh(inputs.mesh), {"ground truth": panels["ground truth"],
                                                                         "GINR prediction": panels["prediction"]},
                                             view=current_view(), height=420),
                         key="demo-result")
    except Exception as exc:
        show_error(exc)

st.header("Explore")
c = st.columns(3)
c[0].page_link("pages/data.py", label="**Data**: domains, signals, spectral embeddings", icon=":material/deployed_code:")
c[1].page_link("pages/train.py", label="**Train**: GINR or INR, live preview", icon=":material/model_training:")
c[2].page_link("pages/results.py", label="**Results**: truth vs prediction, metrics, downloads", icon=":material/insights:")
