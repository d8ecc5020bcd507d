"""Results: truth, prediction and error of a finished run, its metrics, downloads, and a re-run."""

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from ginr_core.geometry.mesh import Mesh
from ginr_core.learning.metrics import ERROR_KINDS, error_map, evaluate, first_channel, per_channel
from ginr_core.runs.actions import (
    EXPORT_FORMATS,
    export_run,
    rerun_request,
    result_panels,
)
from ginr_core.runs.kinds import listed_kind, task_kind
from ginr_core.viz.rules import LOG_AXIS, PLAIN_AXIS
from pages.shared.scene_view import chart
from pages.shared.runs import launch_request, registry
from pages.shared.widgets import current_view, enter_via_app, show_error, show_meshes
from pages.shared.workspace import workspace

enter_via_app(__file__)

st.title("Results")
runs = [r for r in registry().list_runs() if r.status in ("done", "cancelled", "interrupted")
        and listed_kind(r.description.get("task", "fit")).results and "features" in r.config]
if not runs:
    st.info("No finished run yet: train one on the Train page.")
    st.page_link("pages/train.py", label="Go to Train", icon=":material/model_training:")
    st.stop()

labels = {r.id: f"{r.id} · {r.description.get('domain', '')} · {r.description.get('signal', '')} · "
                f"{r.description.get('input', '')} · {r.description.get('task', '')} · "
                f"R² {(r.metrics or {}).get('r2') or float('nan'):.4f}" for r in runs}
# The run on screen is the session's (`watching`): chosen here, or opened on another page. A session that has none
# (or one Results cannot show) gets the newest, kept from then on; a run registered later never takes its place.
if st.session_state.get("watching") not in labels:
    st.session_state.watching = runs[0].id
run_id = st.session_state.watching = st.selectbox("Run", list(labels), index=list(labels).index(st.session_state.watching),
                                                  format_func=labels.get)
run = registry().get(run_id)
spec = run.spec
kind = task_kind(spec.task)


def learning_curves(history: list[dict]) -> go.Figure:
    curves = go.Figure(go.Scatter(x=[row["step"] for row in history], y=[row["loss"] for row in history], name="loss"))
    curves.update_layout(title="Learning curve", height=320, margin=dict(l=0, r=0, t=40, b=0), xaxis_title="step",
                         yaxis=dict(LOG_AXIS, title="loss (standardised MSE)"))
    return curves


if run.status == "interrupted":
    st.warning("This run was interrupted (its server or process stopped while it trained): it has no final model or "
               "prediction. Its signal and the learning curve saved while it trained are shown; re-run it below.")
    inputs = registry().load_inputs(run_id)
    show_meshes(inputs.mesh, {"ground truth": first_channel(inputs.target)}, key="interrupted-truth")
    history = registry().load_history(run_id)
    if history:
        chart(learning_curves(history), key="interrupted-curves")


@st.cache_data(show_spinner=False, max_entries=4)
def run_panels(run_id: str):
    inputs, panels = result_panels(registry(), run_id)
    return inputs.mesh.vertices, inputs.mesh.faces, np.asarray(inputs.target), panels


def show_trained_run() -> None:
    """Truth, prediction and error in 3D, the metrics, the error histogram and the downloads of a trained run."""
    try:
        vertices, faces, target, panels = run_panels(run_id)
    except Exception as exc:
        show_error(exc)
        return
    mesh = Mesh(vertices, faces, name=run.description.get("domain", "mesh"))
    truth1, pred1 = panels["ground truth"], panels["prediction"]

    # ---------------------------------------------------------------------------------------- 3D views
    error_kind = st.radio("Error", ERROR_KINDS, horizontal=True)
    if target.ndim == 2 and spec.task != "superres":  # every channel: the view draws RGB or the chosen channel
        truth1, pred1 = target, np.asarray(registry().load_predictions(run_id))
    error = error_map(truth1, pred1, error_kind)
    if np.ndim(truth1) == 2:
        st.caption(f"The {error_kind} error is averaged over the {np.shape(truth1)[1]} channels.")
    show_meshes(mesh, {"ground truth": truth1, "prediction": pred1, f"{error_kind} error": error}, key="results",
                kinds={f"{error_kind} error": "error"}, shared_scale=["ground truth", "prediction"])

    # ------------------------------------------------------------------------------------------ metrics
    left, right = st.columns([1, 1])
    metrics = run.metrics or {}
    left.subheader("Metrics")
    left.caption(f"Scored on {kind.where_scored(metrics)}.")
    names = {"mse": "MSE", "r2": "R²", "psnr": "PSNR (dB)", "max_abs_error": "max |error|",
             "r2_trimmed_90": "R² (nodes below 90th pct. error)", "r2_trimmed_95": "R² (nodes below 95th pct. error)",
             "r2_fit": "R² on the training nodes", "r2_fine_only": "R² on the fine-only nodes", "n_scored": "nodes scored"}
    left.dataframe(pd.DataFrame([{"metric": names.get(k, k), "value": "n/a" if v is None else f"{v:.6g}"}
                                 for k, v in metrics.items()]), hide_index=True, width="stretch")
    if target.ndim == 2 and spec.task != "superres":
        left.caption("Per channel, over all nodes:")
        left.dataframe(pd.DataFrame([{"channel": c, "R²": m["r2"], "MSE": m["mse"], "PSNR (dB)": m["psnr"]}
                                     for c, m in enumerate(per_channel(truth1, pred1))]).style.format(precision=4),
                       hide_index=True, width="stretch")
    model = spec.model.mlp
    left.caption(f"Model: {spec.features.label}, {model.n_layers} x {model.hidden} {model.activation}; status {run.status}.")
    errors = (np.asarray(registry().load_predictions(run_id)) - target) ** 2 if spec.task != "superres" else (pred1 - truth1) ** 2
    hist = go.Figure(go.Histogram(x=np.ravel(errors), nbinsx=60))
    hist.update_layout(title="Per-node squared error", yaxis=LOG_AXIS, height=360, margin=dict(l=0, r=0, t=40, b=0),
                       xaxis=dict(PLAIN_AXIS, title="squared error"), yaxis_title="nodes")
    with right:
        chart(hist, key="error-histogram")
    if spec.task == "fit" and "r2" in metrics:
        right.caption(f"Every node was trained on: R² {evaluate(target, registry().load_predictions(run_id))['r2']:.4f} measures memorisation. "
                      "Hold out nodes on the Train page to measure generalisation.")

    # ---------------------------------------------------------------------------------------- downloads
    st.subheader("Downloads")
    described = {"ply": ("Prediction (PLY)", "Mesh with truth, prediction and error as vertex properties."),
                 "npz": ("Prediction (reference npz)", "The GINR reference layout: points, fourier (the run's features), "
                                                       "target (the prediction), faces."),
                 "checkpoint": ("Checkpoint (zip)", "model.pt (a plain state_dict) and model.json."),
                 "html": ("Interactive figure (HTML)", "Truth, prediction and error in one standalone page.")}
    for column, fmt in zip(st.columns(len(EXPORT_FORMATS)), EXPORT_FORMATS):
        label, help_text = described[fmt]
        if fmt not in kind.exports:
            continue
        column.download_button(label, lambda fmt=fmt: export_run(registry(), run_id, fmt, current_view(), error_kind)[0],
                               file_name=f"{run_id}.{EXPORT_FORMATS[fmt]}", help=help_text)


if run.status != "interrupted":
    show_trained_run()

# ------------------------------------------------------------------------------------------ re-run
st.subheader("Re-run")
st.caption(f"Train the same spec again: {spec.label}, {spec.train.time_budget_s or 0:g} s budget, seed {spec.train.seed}.")
if kind.rerun and st.button("Re-run this run", icon=":material/replay:"):
    try:
        st.session_state.following = launch_request(rerun_request(registry(), run_id), workspace())
        st.switch_page("pages/train.py")
    except Exception as exc:
        show_error(exc)
