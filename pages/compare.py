"""INR vs GINR: the paper's Table 2 (xyz or spectral input, ReLU or sine) on the workspace's mesh and signal."""

from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from ginr_core.errors import GinrError
from ginr_core.geometry.mesh import Mesh
from ginr_core.learning.metrics import first_channel, r2_text
from ginr_core.learning.training import TrainConfig
from ginr_core.runs.actions import submit
from ginr_core.runs.jobs import JobState
from ginr_core.runs.spec import RunInputs
from ginr_core.tasks.compare import TABLE2, ComparisonRequest, comparison_task
from ginr_core.viz.figures import DisplayMesh, display_mesh, figure_html, grid_figure
from ginr_core.viz.rules import LOG_AXIS, View
from pages.shared.backend import session_backend
from pages.shared.job_panel import Part, job_panel, part_statuses
from pages.shared.runs import FollowedJob, registry, workspace_features
from pages.shared.scene_view import chart
from pages.shared.widgets import (
    VIEWERS,
    best_r2_text,
    current_view,
    enter_via_app,
    linked_views,
    plain,
    required,
    show_error,
    show_meshes,
)
from pages.shared.workspace import can_launch, show_workspace, workspace

enter_via_app(__file__)

LABELS = {"inr_relu": "INR · ReLU", "inr_sine": "INR · sine", "ginr_relu": "GINR · ReLU", "ginr_sine": "GINR · sine"}
PAPER_K = 100  # embedding columns the paper gives its GINRs
ALL_FOUR, TWO = "All four (the paper's Table 2)", "Two of them"


@dataclass
class Comparison:
    """A launched comparison and what it learns (the workspace may change while it trains)."""

    job: FollowedJob
    request: ComparisonRequest
    data_label: str
    views: tuple[int, View, go.Figure, DisplayMesh] | None = None  # (results drawn, the view, their figure, the mesh drawn)

    @property
    def mesh(self) -> Mesh:
        return self.request.inputs.mesh

    def parts(self, state: JobState) -> list[Part]:
        """The models, trained one after the other: done once their result is published."""
        names = self.request.models
        return [Part(name, LABELS[name], status)
                for name, status in zip(names, part_statuses(state, names, lambda name: name in (state.result or {})))]

ws = workspace()
st.title("INR vs GINR")
st.caption("A classic INR reads a node's xyz coordinates, a GINR its spectral embedding; each with ReLU or sine "
           "activations, otherwise the same network and the same time budget (Grattarola & Vandergheynst, Table 2).")
show_workspace(ws, "none yet (computed at launch)" if ws.embedding is None else f"{ws.embedding.laplacian}, k = {ws.embedding.k}")
comparison: Comparison | None = st.session_state.get("comparison")
launchable = can_launch(ws, None if comparison is None else comparison.job)

# --------------------------------------------------------------------------------------- settings
c = st.columns([2, 1, 1])
which = c[0].radio("Models", [ALL_FOUR, TWO], horizontal=True)
if which == TWO:
    models = (c[1].selectbox("First model", list(TABLE2), index=list(TABLE2).index("inr_sine"), format_func=LABELS.get),
              c[2].selectbox("Second model", list(TABLE2), index=list(TABLE2).index("ginr_sine"), format_func=LABELS.get))
else:
    models = tuple(TABLE2)
c = st.columns([1, 1, 2])
budget = c[0].number_input("Time budget per model (s)", 1.0, 3600.0, 15.0, step=5.0)
generalise = c[1].toggle("Generalisation mode", help="Train on a random part of the nodes and score on the held-out "
                         "rest: a model that merely memorises the nodes it saw scores badly there.")
holdout = c[2].slider("Held-out fraction", 0.05, 0.9, 0.2, 0.05) if generalise else 0.0
total = len(models) * budget
st.caption(f"About {total:.0f} s in all ({len(models)} models × {budget:g} s). The models train **one after another**, "
           "each alone on the machine: side by side they would share its cores (perhaps only two) unevenly, and "
           "equal budgets would no longer be fair.")

if st.button("Train and compare", type="primary", icon=":material/compare:", disabled=not launchable):
    try:
        if len(set(models)) < len(models):
            raise GinrError("Pick two different models.")
        request = ComparisonRequest(RunInputs(ws.mesh, ws.require_signal()), workspace_features(ws, "spectral", PAPER_K),
                                    budget, models, holdout, 0, TrainConfig(),
                                    domain=ws.domain_source, signal=ws.signal_source)
        job = submit(comparison_task, request, registry(), label="comparison", backend=session_backend())
        st.session_state.comparison = Comparison(FollowedJob(job), request, f"{ws.mesh_label} · {ws.signal_label}")
    except Exception as exc:
        show_error(exc)
    else:
        st.rerun()  # to draw the page as it is while training: this button disabled, live progress below


# ------------------------------------------------------------------------------------ live progress
def loss_curves(comparison: Comparison, state: JobState) -> None:
    """Every model's loss curve in one chart: the finished ones' and the one training now."""
    histories = {name: r.history for name, r in (state.result or {}).items()}
    current = None if state.progress is None else state.progress.part
    if not state.done and current in LABELS and state.history:
        histories[current] = state.history
    curves = go.Figure([go.Scatter(x=[row["elapsed_s"] for row in history], y=[row["loss"] for row in history],
                                   name=LABELS[name]) for name, history in histories.items() if history])
    curves.update_layout(title="Training loss (standardised MSE)", height=360, margin=dict(l=0, r=0, t=40, b=0),
                         xaxis_title="training time (s)", legend=dict(orientation="h", y=-0.2),
                         yaxis=dict(LOG_AXIS, title="loss"))
    chart(curves, key="compare-curves")


required(comparison, "Train and compare to see the models learn here.")
st.subheader(f"Training on {plain(comparison.data_label)}")
state = job_panel(comparison.job, "compare", parts=comparison.parts, budget_s=comparison.request.budget_s,
                  cancelled="Cancelled: the model in training and those after it are left out of the table.",
                  extra=lambda state: loss_curves(comparison, state), rerun_key=lambda state: len(state.result or {}))

# ------------------------------------------------------------------------------------------ results
results = state.result or {}
if not results:
    st.stop()
st.subheader("Scores")
scored_on, n_scored = next((r.scored_on, r.n_scored) for r in results.values())
table = pd.DataFrame({LABELS[name]: {
    f"R² ({scored_on} nodes)": r2_text(r.metrics["r2"]), "MSE": f"{r.metrics['mse']:.3g}",
    "PSNR (dB)": f"{r.metrics['psnr']:.1f}", "training time (s)": f"{r.elapsed_s:.1f}", "steps": f"{r.steps:,}",
} for name, r in results.items()})
st.dataframe(table, width="stretch")
best = best_r2_text({LABELS[name]: r.metrics["r2"] for name, r in results.items()})
if scored_on == "all":
    st.caption(f"Scores on all {n_scored:,} nodes: the paper's fitting task; {best}.")
else:
    st.caption(f"Scores on the {n_scored:,} held-out nodes ({comparison.request.holdout:.0%}), never seen in training: "
               f"how well each model generalises; {best}.")


st.subheader("Predictions and errors")
truth = first_channel(comparison.request.inputs.target)
predictions = {LABELS[name]: first_channel(r.prediction) for name, r in results.items()}
errors = {f"|error| {label}": np.abs(prediction - truth) for label, prediction in predictions.items()}
if st.session_state.get("viewer", VIEWERS[0]) == "Plotly":
    view = current_view()
    if comparison.views is None or comparison.views[:2] != (len(results), view):  # built once per result and view
        shown = display_mesh(comparison.mesh)
        figure = grid_figure(shown, [[("ground truth", truth), *predictions.items()], [None, *errors.items()]],
                             kinds=["signal", "error"], view=view)
        comparison.views = (len(results), view, figure, shown)
    _, _, figure, shown = comparison.views
    if shown.note():
        st.caption(shown.note())
    st.caption("One colour scale per row (errors: white is none). The cameras are linked: rotate, zoom or pan any "
               "view and the others follow; click a vertex to pin it in every view.")
    linked_views(figure, "compare-views", [shown.source_vertex])
    st.download_button("Views (HTML)", lambda: figure_html(figure, link_cameras=True), file_name="inr-vs-ginr.html",
                       icon=":material/download:")
else:
    st.caption("One colour scale per row (errors: white is none). The cameras are linked only in the Plotly viewer "
               "(sidebar).")
    show_meshes(comparison.mesh, {"ground truth": truth} | predictions, key="compare-predictions")
    show_meshes(comparison.mesh, errors, key="compare-errors", kinds=dict.fromkeys(errors, "error"))
if scored_on != "all":
    st.caption("Errors are drawn on every node; the scores use the held-out ones only.")
