"""Home: what a GINR is, a one-click demo, and where to go next."""

import streamlit as st

from ginr_core.learning.models import ModelConfig
from ginr_core.learning.training import TrainConfig
from ginr_core.viz.figures import display_mesh, side_by_side_figure
from pages.shared.runs import launch_training, live_jobs
from pages.shared.widgets import enter_via_app, progress_bar, show_error
from pages.shared.workspace import (
    Workspace,
    builtin_mesh,
    compute_embedding,
    gray_scott_signal,
)

enter_via_app(__file__)

DEMO_DOMAIN = ("torus", (("n_major", 96), ("n_minor", 48)))
DEMO_BUDGET_S = 20.0

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
st.plotly_chart(side_by_side_figure(display_mesh(mesh), eigenvector_panels(),
                                    colorscales={k: "RdBu" for k in ("eigenvector 1", "eigenvector 3", "eigenvector 6")},
                                    shared_scale=[], height=300), key="eigenvectors")

st.header("One-click demo")
st.write(f"Grows a Gray-Scott reaction-diffusion texture on a torus (the paper's bunny recipe), embeds the "
         f"{mesh.n_vertices:,} nodes with k = 100 eigenvectors and trains a GINR for {DEMO_BUDGET_S:.0f} seconds.")
if st.button("Run the demo", type="primary", icon=":material/play_arrow:"):
    try:
        with progress_bar("Growing the texture...") as progress:
            signal = gray_scott_signal(mesh, mesh.content_hash(), 30_000, 0.64, 0.32, 0.060, 0.062, _progress=progress)
        ws = Workspace(mesh, "torus (demo)")
        ws.set_signal(signal, "Gray-Scott v after 30,000 steps")
        ws.embedding = compute_embedding(mesh, 100, "combinatorial")
        st.session_state.workspace = ws
        st.session_state.watching = launch_training(ws, ModelConfig(), TrainConfig(time_budget_s=DEMO_BUDGET_S))
        st.session_state.demo_run = st.session_state.watching
    except Exception as exc:
        show_error(exc)


@st.fragment(run_every=1.0)
def demo_progress(job):
    """Polls the running demo; one full rerun when it ends, so the result is drawn once, statically."""
    if job.done:
        st.rerun()
    p = job.state.progress
    fraction = 0.0 if p is None else p.elapsed_s / max(p.elapsed_s + p.eta_s, 1e-9)
    text = "Starting..." if p is None else f"Training: step {p.step:,}, R² {p.r2:.4f}, ETA {p.eta_s:.0f} s"
    st.progress(min(max(fraction, 0.0), 1.0), text=text)


job = live_jobs().get(st.session_state.get("demo_run"))
if job is not None and not job.done:
    demo_progress(job)
elif job is not None and job.state.status != "done":
    st.error(job.state.error or f"The demo run ended: {job.state.status}.")
elif job is not None:
    ws = st.session_state.workspace
    state = job.state
    prediction = job.regressor.predict(job.features)
    st.success(f"Trained in {state.progress.elapsed_s:.0f} s: R² = {state.metrics['r2']:.4f} over all "
               f"{ws.mesh.n_vertices:,} nodes. The Train and Results pages now hold this run.")
    st.plotly_chart(side_by_side_figure(display_mesh(ws.mesh), {"ground truth": ws.signal, "GINR prediction": prediction},
                                        colorscales={"ground truth": "Reds", "GINR prediction": "Reds"}, height=420),
                    key="demo-result")

st.header("Explore")
c = st.columns(3)
c[0].page_link("pages/data.py", label="**Data**: domains, signals, spectral embeddings", icon=":material/deployed_code:")
c[1].page_link("pages/train.py", label="**Train**: GINR or INR, live preview", icon=":material/model_training:")
c[2].page_link("pages/results.py", label="**Results**: truth vs prediction, metrics, downloads", icon=":material/insights:")
