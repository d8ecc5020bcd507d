"""Time series: learn a signal over time (time as an extra model input), score the frames it never saw,
and play ground truth against prediction."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from ginr_core.geometry.features import FeatureSpec
from ginr_core.geometry.mesh import Mesh
from ginr_core.learning.recipes import comma_list, default_of
from ginr_core.runs.actions import submit
from ginr_core.runs.jobs import JobState
from ginr_core.runs.spec import Source
from ginr_core.settings import simulation_seconds
from ginr_core.tasks.temporal import (
    AnimationRequest,
    SeriesRequest,
    TimeSeries,
    animation_task,
    gray_scott_series,
    grid_series,
    series_from_files,
    series_model_config,
    series_task,
    series_train_config,
)
from ginr_core.viz.animation import (
    FORMATS,
    MAX_EXPORT_FRAMES,
    MAX_FPS,
    animated_figure,
    browser_frames,
    evenly_spaced,
)
from pages.shared.backend import session_backend
from pages.shared.job_panel import Part, job_panel, prepare, prepared
from pages.shared.runs import FollowedJob, registry
from pages.shared.scene_view import chart
from pages.shared.widgets import (
    coordinate_picker,
    current_view,
    enter_via_app,
    linked_views,
    plain,
    required,
    settings_form,
    show_chosen,
    show_error,
)
from pages.shared.workspace import netcdf_upload, workspace

enter_via_app(__file__)


@dataclass
class SeriesChoice:
    """The series being studied and the domain it lives on."""

    mesh: Mesh
    series: TimeSeries
    label: str
    source: str


@dataclass
class SeriesRun:
    """A training job on a series (the job scores every frame when training ends) and, once drawn, its animation."""

    job: FollowedJob
    request: SeriesRequest
    choice: SeriesChoice
    animation: go.Figure | None = None


def use_series(choice: SeriesChoice) -> None:
    """Study a new series: the results of the previous one no longer apply."""
    st.session_state.series_choice = choice
    st.session_state.pop("series_run", None)
    st.session_state.pop("series_export", None)


ws = workspace()
st.title("Time series")
st.write("A signal that changes over time on a fixed domain. A GINR with **time as an extra input** learns every "
         "*N*-th frame and predicts all of them; the frames in between are never seen in training, so their error "
         "measures how well the model interpolates in time. The paper: Gray-Scott on the bunny, trained on "
         "t = 0 mod 10, shown at t = 0 mod 5.")

# ------------------------------------------------------------------------------------------ series
st.subheader("1 · Series")
GRAY_SCOTT, FILES, NETCDF = ("Gray-Scott on the current domain", "Signal files, one per time",
                             "netCDF field along a dimension")
source = st.radio("Series source", [GRAY_SCOTT, FILES, NETCDF], horizontal=True)
try:
    if source == GRAY_SCOTT:
        st.caption(f"Domain: {plain(ws.mesh_label)} ({ws.mesh.n_vertices:,} nodes); change it on the Data page.")
        c = st.columns(3)
        steps = c[0].number_input("Simulation steps", 10, 100_000, default_of(gray_scott_series, "steps"), step=500)
        save_every = c[1].number_input("Keep every Nth step as a frame", 1, 1000, default_of(gray_scott_series, "save_every"))
        c[2].metric("Frames", f"{len(range(0, int(steps), int(save_every))):,}",
                    help=f"Simulating takes about {simulation_seconds(int(steps), ws.mesh.n_vertices):.0f} s on a 2-core CPU.")
        if st.button("Simulate", type="primary"):
            mesh = ws.mesh
            prepare("series", "Simulating Gray-Scott", lambda progress: (mesh, gray_scott_series(
                mesh, steps=int(steps), save_every=int(save_every), progress=progress)), context=(f"Gray-Scott on {ws.mesh_label}", False, source))
    elif source == FILES:
        st.caption(f"One value per vertex of the current domain ({plain(ws.mesh_label)}, {ws.mesh.n_vertices:,} nodes) "
                   "in each file (.npy, .csv or .txt), one file per time.")
        uploads = st.file_uploader("Signal files", type=["npy", "csv", "txt"], accept_multiple_files=True, key="series-files")
        stamps = st.text_input("Time stamps (comma-separated, one per file in upload order; empty: 0, 1, 2, ...)")
        if uploads and st.button("Use these signals", type="primary"):
            times = list(comma_list(stamps, float, "Time stamps", "0, 1, 2")) if stamps.strip() else None
            series = series_from_files([(u.getvalue(), u.name) for u in uploads], ws.mesh, times)
            use_series(SeriesChoice(ws.mesh, series, f"{len(uploads)} uploaded signals on {ws.mesh_label}", source))
    else:
        st.caption("Any global latitude-longitude netCDF file; one of its dimensions (time, month, level...) plays "
                   "the role of time. Example: ERA-Interim z, u, v (months x pressure levels).")
        upload, grid = netcdf_upload("series-upload")
        if grid is not None:
            c = st.columns(4)
            variable = c[0].selectbox("Variable", list(grid.variables), format_func=lambda v: grid.variables[v].label())
            dims = [d for d in grid.other_dims(variable) if len(grid.coords.get(d, [])) > 1]
            if not dims:
                st.warning(f"'{variable}' has no dimension besides latitude and longitude to play the role of time.")
            else:
                over = c[1].selectbox("Dimension used as time", dims)
                selection = {}
                for i, dim in enumerate(d for d in dims if d != over):
                    with c[2 + i % 2]:
                        selection[dim] = coordinate_picker(grid, dim, key=f"series-{dim}")
                stride = st.select_slider("Keep every Nth latitude and longitude", [1, 2, 3, 4, 6, 8], 2,
                                          help="Coarser grids train faster; 1 keeps the file's full resolution.")
                if st.button("Use this series", type="primary"):
                    prepare("series", "Reading the series", grid_series, grid, variable, over, stride=stride,
                            context=(upload.name, True, source), **selection)
    if (read := prepared("series")) is not None:
        (mesh, series), (label, with_name, launched_from) = read
        use_series(SeriesChoice(mesh, series, f"{label}: {series.name}" if with_name else label, launched_from))
except Exception as exc:
    show_error(exc)

choice: SeriesChoice = required(st.session_state.get("series_choice"), "Simulate or load a series to continue.")
series = choice.series
show_chosen(choice.label, f"{series.n_frames:,} frames", series.labels, choice.mesh.n_vertices)

# ------------------------------------------------------------------------------------------ training
st.subheader("2 · Train")
model_defaults, train_defaults = series_model_config(), series_train_config()
with settings_form("series-settings"):
    c = st.columns(4)
    stride = c[0].number_input("Train on every Nth frame", 1, max(1, series.n_frames),
                               min(default_of(SeriesRequest, "stride"), series.n_frames),
                               help="2 = the paper's setting: train on t = 0 mod 10, predict the frames at t = 5 mod 10. The last "
                                    "frame is always trained on, so held-out frames are interpolated, never extrapolated.")
    k = c[1].number_input("Embedding columns (k)", 2, max(2, min(256, choice.mesh.n_vertices - 2)),
                          min(default_of(SeriesRequest, "features").k, choice.mesh.n_vertices - 2))
    budget = c[2].number_input("Time budget (s)", 2.0, 3600.0, 30.0)
    batch = c[3].number_input("(frame, node) pairs per step", 256, 1_000_000, train_defaults.batch_size)
    launched = st.form_submit_button("Train on the series", type="primary")

trained = series.training_frames(int(stride))
if (~trained).sum() == 0:
    st.caption("Every frame is trained on: the scores below measure fitting, not interpolation in time.")
elif series.n_frames < 5:
    st.caption(f"Only {series.n_frames} frames: a held-out frame has little around it to interpolate from.")

if launched:
    try:
        run = st.session_state.get("series_run")
        if run is not None and not run.job.done:
            run.job.cancel()
        request = SeriesRequest(choice.mesh, series, FeatureSpec("combinatorial", int(k)), int(stride), series_model_config(),
                                series_train_config(time_budget_s=budget, batch_size=int(batch)),
                                domain=Source("series", choice.label, label=choice.label),
                                signal=Source("series", series.name, label=series.name))
        job = submit(series_task, request, registry(), label="series", backend=session_backend())
        st.session_state.series_run = SeriesRun(FollowedJob(job), request, choice)
        st.session_state.pop("series_export", None)
    except Exception as exc:
        show_error(exc)

run: SeriesRun | None = st.session_state.get("series_run")
if run is None:
    st.stop()


def series_parts(run: SeriesRun, state: JobState) -> list[Part]:
    """The whole job as one part: the training on the kept frames, then the prediction of every frame."""
    trained = run.choice.series.training_frames(run.request.stride)
    return [Part(None, f"Training on {int(trained.sum())} of {len(trained)} frames", state.status)]


state = job_panel(run.job, "series", parts=lambda state: series_parts(run, state),
                  budget_s=run.request.train.time_budget_s,
                  cancelled="Training was cancelled; these are the scores of the model as it stood.")
if not run.job.done or state.status == "failed":
    st.stop()
fit, series, mesh = state.result, run.choice.series, run.choice.mesh

# ------------------------------------------------------------------------------------------ results
st.subheader("3 · Results")
frame_r2 = fit.frame_r2()
c = st.columns(4)
if fit.held_out is not None:
    held = np.flatnonzero(~fit.trained)
    worst = held[np.argmin(frame_r2[held])]
    c[0].metric("R² on held-out frames", f"{fit.held_out['r2']:.4f}", help="Pooled over every frame not trained on.")
    c[1].metric("Worst held-out frame", f"{frame_r2[worst]:.3f}", series.labels[worst], delta_color="off")
else:
    c[0].metric("R² on held-out frames", "none held out")
c[2].metric("Mean R² on trained frames", f"{frame_r2[fit.trained].mean():.4f}")
history = fit.regressor.history_
c[3].metric("Training", f"{history[-1]['elapsed_s']:.0f} s · {history[-1]['step']:,} steps" if history else "-")

scores = go.Figure()
x = series.times
scores.add_trace(go.Scatter(x=x[fit.trained], y=frame_r2[fit.trained], mode="lines+markers", name="trained frames",
                            marker=dict(size=4)))
scores.add_trace(go.Scatter(x=x[~fit.trained], y=frame_r2[~fit.trained], mode="markers", name="held-out frames",
                            marker=dict(symbol="x", size=7)))
low = max(float(frame_r2.min()), -1.0)
scores.update_layout(height=300, margin=dict(l=0, r=0, t=30, b=0), title="R² of each frame", xaxis_title="time",
                     yaxis=dict(title="R²", range=[low - 0.02, 1.01]),
                     legend=dict(orientation="h", x=1, xanchor="right", y=1.02, yanchor="bottom"))
chart(scores, key="frame-scores")
if frame_r2.min() < -1:
    st.caption(f"Frames below R² = -1 are off the chart (lowest: {frame_r2.min():.2f} at {series.labels[int(np.argmin(frame_r2))]})."
               + (" A Gray-Scott series starts from random noise, which no smooth model can predict between frames."
                  if run.choice.source == GRAY_SCOTT else ""))

st.markdown("**Ground truth vs prediction over time** (press ▶ Play or drag the slider; ✕ = held-out frame)")
shown = browser_frames(series.n_frames, 3 * mesh.n_vertices)
if run.animation is None:  # built once per run: it holds every shown frame of three panels
    labels = [f"{series.labels[i]}{'' if fit.trained[i] else ' ✕'}" for i in shown]
    run.animation = animated_figure(
        mesh, {"ground truth": series.values[shown], "prediction": fit.prediction[shown],
               "squared error": (series.values[shown] - fit.prediction[shown]) ** 2}, labels,
        shared_scale=["ground truth", "prediction"], kinds={"squared error": "error"}, view=current_view())
if len(shown) < series.n_frames:
    st.caption(f"Showing {len(shown)} of {series.n_frames} frames, evenly spaced, to keep the page light.")
linked_views(run.animation, "series-animation")

# ------------------------------------------------------------------------------------------ export
st.subheader("4 · Export the animation")
c = st.columns([1, 1, 2])
fmt = c[0].radio("Format", FORMATS, horizontal=True, format_func=str.upper)
fps = c[1].number_input("Frames per second", 1, MAX_FPS, 12)
export_frames = evenly_spaced(series.n_frames, MAX_EXPORT_FRAMES)
export = st.session_state.get("series_export")  # (format, FollowedJob) of the latest export
rendering = export is not None and not export[1].done
if c[2].button(f"Render {len(export_frames)} frames as {fmt.upper()}", disabled=rendering):
    request = AnimationRequest(mesh, {"ground truth": series.values[export_frames], "prediction": fit.prediction[export_frames]},
                               [series.labels[i] for i in export_frames], fmt, fps)
    export = st.session_state.series_export = (fmt, FollowedJob(submit(animation_task, request, None, label="animation", backend=session_backend())))


if export is not None:
    fmt_done, job = export
    if job_panel(job, "series-export", cancelled="Rendering was cancelled.").status == "done":
        data = job.state.result
        st.download_button(f"Download {fmt_done.upper()} ({len(data) / 2**20:.1f} MB)", data, f"ginr-series.{fmt_done}",
                           mime="image/gif" if fmt_done == "gif" else "video/mp4")
