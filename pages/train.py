"""Train: configure a GINR or a classic INR, train it in the background, watch it learn."""

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from ginr_core.learning.models import ACTIVATIONS, ModelConfig
from ginr_core.learning.training import TrainConfig
from ginr_core.viz.figures import display_mesh, mesh_figure
from pages.shared.runs import launch_training, live_jobs, registry
from pages.shared.widgets import enter_via_app, show_error
from pages.shared.workspace import require_signal, workspace

enter_via_app(__file__)

ws = workspace()
st.title("Train")
st.write(f"**Domain:** {ws.mesh_label} ({ws.mesh.n_vertices:,} nodes) · **Signal:** {ws.signal_label or 'none'} · "
         f"**Embedding:** {'none yet (computed at launch)' if ws.embedding is None else f'{ws.embedding.laplacian}, k = {ws.embedding.k}'}")
require_signal(ws)

# --------------------------------------------------------------------------------------- settings
model_defaults, train_defaults = ModelConfig(), TrainConfig()
with st.form("train-settings"):
    st.subheader("Model")
    c = st.columns(4)
    input_kind = c[0].radio("Input", ["spectral", "xyz"],
                            format_func={"spectral": "GINR (spectral embedding)", "xyz": "INR (xyz coordinates)"}.get)
    activation = c[1].selectbox("Activation", ACTIVATIONS, help="sine = SIREN; sine_tanh = sine in the first layer, tanh after")
    n_layers = c[2].slider("Layers", 2, 10, model_defaults.n_layers)
    hidden = c[3].select_slider("Width", [32, 64, 128, 256, 512, 1024], model_defaults.hidden)
    c = st.columns(4)
    omega_0 = c[0].number_input("omega_0 (hidden)", 1.0, 200.0, model_defaults.omega_0)
    first_omega_0 = c[1].number_input("omega_0 (first layer)", 1.0, 300.0, model_defaults.first_omega_0 or model_defaults.omega_0,
                                      help="The spectral features reach about ±5: a higher first-layer frequency resolves fine detail sooner.")
    k_available = ws.embedding.k if ws.embedding is not None else 100
    k = c[2].number_input("Embedding columns used (k)", 1, max(1, k_available), min(100, k_available))
    skip = c[3].checkbox("Skip connection to the middle layer", True)
    st.subheader("Training")
    c = st.columns(5)
    budget = c[0].number_input("Time budget (s)", 2.0, 3600.0, 30.0)
    steps = c[1].number_input("Max steps (0 = no limit)", 0, 1_000_000, 0)
    lr = c[2].number_input("Learning rate", 1e-6, 1.0, train_defaults.lr, format="%.0e")
    batch = c[3].number_input("Batch size (0 = all nodes)", 0, 10_000_000, 0)
    seed = c[4].number_input("Seed", 0, 1_000_000, 0)
    launched = st.form_submit_button("Launch training", type="primary")

if launched:
    try:
        model_config = ModelConfig(input_kind=input_kind, k=int(k), n_layers=n_layers, hidden=int(hidden),
                                   activation=activation, omega_0=omega_0, first_omega_0=first_omega_0, skip=skip)
        train_config = TrainConfig(time_budget_s=budget, steps=int(steps) or None, lr=lr,
                                   batch_size=int(batch) or None, seed=int(seed))
        run_id = launch_training(ws, model_config, train_config)
        st.session_state.watching = run_id
    except Exception as exc:
        show_error(exc)


# ------------------------------------------------------------------------------------ live progress
def show_job(run_id: str, job) -> None:
    """Progress, metrics, learning curves and the latest prediction of one job."""
    state = job.state
    p = state.progress
    budget_s = job.regressor.train_config.time_budget_s
    fraction = 0.0 if p is None else (1.0 if job.done else p.elapsed_s / max(p.elapsed_s + p.eta_s, 1e-9))
    eta = "" if p is None or job.done else f" · ETA {p.eta_s:.0f} s"
    st.progress(min(max(fraction, 0.0), 1.0), text=f"Run {run_id}: {state.status}{eta}")
    if state.error:
        st.error(state.error)
    if p is not None:
        c = st.columns(5)
        c[0].metric("Step", f"{p.step:,}")
        c[1].metric("Loss", f"{p.loss:.3g}")
        c[2].metric("R²", f"{p.r2:.4f}")
        c[3].metric("Steps / s", f"{p.steps_per_s:.1f}")
        c[4].metric("Elapsed", f"{p.elapsed_s:.0f} / {budget_s or 0:.0f} s")
    if not job.done and st.button("Cancel", icon=":material/stop_circle:"):
        job.cancel()
    left, right = st.columns([1, 1])
    if state.history:
        history = pd.DataFrame(state.history)
        curves = go.Figure()
        curves.add_trace(go.Scatter(x=history["step"], y=history["loss"], name="loss"))
        curves.add_trace(go.Scatter(x=history["step"], y=history["r2"].clip(lower=0), name="R²", yaxis="y2"))
        curves.update_layout(height=380, margin=dict(l=0, r=0, t=30, b=0), title="Learning curves",
                             yaxis=dict(type="log", title="loss"), xaxis_title="step",
                             yaxis2=dict(title="R²", overlaying="y", side="right", range=[0, 1]),
                             legend=dict(orientation="h", y=-0.2))
        left.plotly_chart(curves, key="curves")
    if state.snapshot is not None and job.description.get("mesh_hash") == ws.mesh.content_hash():
        values = state.snapshot if state.snapshot.ndim == 1 else state.snapshot[:, 0]
        right.plotly_chart(mesh_figure(display_mesh(ws.mesh), values, height=380,
                                       title=f"Prediction at step {state.snapshot_step:,}"), key="preview")
    if job.done:
        st.page_link("pages/results.py", label=f"Finished ({state.status}): open Results", icon=":material/insights:")


@st.fragment(run_every=1.0)
def live_view(run_id: str, job) -> None:
    """Refreshes every second while the job runs; one full rerun when it ends, then it stops polling."""
    if job.done:
        st.rerun()
    show_job(run_id, job)


watching = st.session_state.get("watching")
job = live_jobs().get(watching)
if job is None:
    st.info("Launch a run to watch it train here.")
elif job.done:
    show_job(watching, job)
else:
    live_view(watching, job)

# ------------------------------------------------------------------------------------------ all runs
st.subheader("Runs")
runs = registry().list_runs(limit=50)
if runs:
    st.dataframe(
        pd.DataFrame([{
            "id": r.id, "created": r.created[:19], "status": r.status,
            "domain": r.description.get("domain", ""), "signal": r.description.get("signal", ""),
            "input": r.config.get("model", {}).get("input_kind"), "R²": (r.metrics or {}).get("r2"),
        } for r in runs]),
        hide_index=True, width="stretch",
    )
else:
    st.caption("No runs yet.")
