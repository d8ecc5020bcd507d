"""Train: configure a GINR or a classic INR, train it in the background, watch it learn."""

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from ginr_core.geometry.features import DEFAULT_K, MAX_UI_K, XYZ, max_k
from ginr_core.learning.model_config import ACTIVATIONS, MLPConfig, ModelConfig
from ginr_core.learning.training import TrainConfig
from ginr_core.runs.actions import result_panels
from ginr_core.runs.jobs import FINISHED, JobState
from ginr_core.runs.kinds import listed_kind
from ginr_core.viz.figures import display_mesh, mesh_figure
from pages.shared.job_panel import job_panel, learning_curves
from pages.shared.runs import launch_training, live_jobs, registry, workspace_features, workspace_job
from pages.shared.scene_view import chart
from pages.shared.widgets import current_view, enter_via_app, settings_form, show_error
from pages.shared.workspace import require_signal, show_workspace, workspace

enter_via_app(__file__)

ws = workspace()
st.title("Train")
show_workspace(ws, "combinatorial Laplacian (none chosen on the Data page)" if ws.embedding is None else ws.embedding.laplacian)
require_signal(ws)

# --------------------------------------------------------------------------------------- settings
DEFAULT_BUDGET_S = 30.0
WIDTHS = (32, 64, 128, 256, 512, 1024)


def bounded(field, label: str, low, high, value, **options):
    """A number field or slider (`field`) starting from `value` brought inside its bounds (a remembered setting: a
    re-run of a CLI run may have gone beyond them); ints stay ints."""
    return field(label, low, high, type(low)(min(max(value, low), high)), **options)


# The form starts from the settings of the latest run launched from this workspace (kept with it: a reload or a
# restart shows them again), else from the defaults.
last_launch = ws.last_launch
model_defaults = last_launch.model.mlp if last_launch else MLPConfig()
train_defaults = last_launch.train if last_launch else TrainConfig(time_budget_s=DEFAULT_BUDGET_S)
k_max = max(1, min(MAX_UI_K, max_k(ws.mesh.n_vertices)))
with settings_form("train-settings"):
    st.subheader("Model")
    c = st.columns(4)
    input_kind = c[0].radio("Input", ["spectral", "xyz"], index=int(bool(last_launch) and last_launch.features.input_kind == XYZ),
                            format_func={"spectral": "GINR (spectral embedding)", "xyz": "INR (xyz coordinates)"}.get)
    activation = c[1].selectbox("Activation", ACTIVATIONS, ACTIVATIONS.index(model_defaults.activation),
                                help="sine = SIREN; sine_tanh = sine in the first layer, tanh after")
    n_layers = bounded(c[2].slider, "Layers", 2, 10, model_defaults.n_layers)
    hidden = c[3].select_slider("Width", WIDTHS, min(WIDTHS, key=lambda width: abs(width - model_defaults.hidden)))
    c = st.columns(4)
    omega_0 = bounded(c[0].number_input, "omega_0 (hidden)", 1.0, 200.0, model_defaults.omega_0)
    first_omega_0 = bounded(c[1].number_input, "omega_0 (first layer)", 1.0, 300.0,
                            model_defaults.first_omega_0 or model_defaults.omega_0,
                            help="The spectral features reach about ±5: a higher first-layer frequency resolves fine detail sooner.")
    k_default = min(last_launch.features.k if last_launch and last_launch.features.k else ws.embedding.k if ws.embedding is not None
                    else DEFAULT_K, k_max)
    k = c[2].number_input("Embedding size (k)", 1, k_max, k_default,
                          help="Eigenvectors of the Data page's Laplacian (or spherical harmonics) the GINR reads.")
    skip = c[3].checkbox("Skip connection", model_defaults.skip, help="The network input is fed again to the middle layer.")
    st.subheader("Training")
    c = st.columns(6)
    budget = bounded(c[0].number_input, "Time budget (s)", 2.0, 3600.0, train_defaults.time_budget_s or DEFAULT_BUDGET_S)
    steps = bounded(c[1].number_input, "Max steps (0 = no limit)", 0, 1_000_000, train_defaults.steps or 0)
    lr = bounded(c[2].number_input, "Learning rate", 1e-6, 1.0, train_defaults.lr, format="%.0e")
    batch = bounded(c[3].number_input, "Batch size (0 = all nodes)", 0, 10_000_000, train_defaults.batch_size or 0)
    seed = bounded(c[4].number_input, "Seed", 0, 1_000_000, train_defaults.seed)
    holdout = bounded(c[5].number_input, "Held-out nodes", 0.0, 0.9, last_launch.options.get("fraction", 0.0) if last_launch else 0.0,
                      step=0.05,
                      help="Fraction of the nodes left out of training and scored (generalisation); 0 = fit every node.")
    launched = st.form_submit_button("Launch training", type="primary")

if launched:
    try:
        model_config = ModelConfig(mlp=MLPConfig(n_layers=n_layers, hidden=int(hidden), activation=activation, omega_0=omega_0,
                                                 first_omega_0=first_omega_0, skip=skip))
        train_config = TrainConfig(time_budget_s=budget, steps=int(steps) or None, lr=lr,
                                   batch_size=int(batch) or None, seed=int(seed))
        features = workspace_features(ws, input_kind, int(k))
        st.session_state.following = launch_training(ws, model_config, train_config, features, holdout=float(holdout))
    except Exception as exc:
        show_error(exc)


# ------------------------------------------------------------------------------------ live progress
def elapsed_text(elapsed: float, budget: float | None) -> str:
    """Elapsed training time against the budget, capped at it, with any overrun stated (the budget is checked
    between steps, so the last step can end past it)."""
    if not budget:
        return f"{elapsed:.0f} s"
    over = elapsed - budget
    return f"{min(elapsed, budget):.0f} / {budget:.0f} s" + (f" (+{over:.1f} s)" if over >= 0.5 else "")


def live_r2(run) -> float | None:
    """A run's R²: final when it has one, else the latest training R² (live job, or its saved curves)."""
    if (run.metrics or {}).get("r2") is not None:
        return run.metrics["r2"]
    job = live_jobs().get(run.id)
    if job is not None and job.state.progress is not None:
        return job.state.progress.values.get("r2")
    history = registry().load_history(run.id) if run.status in ("running", "interrupted") else []
    return history[-1]["r2"] if history else None


def live_numbers(state: JobState, request) -> None:
    """The running fit's numbers, its learning curves and its latest prediction, below the job's bar."""
    values = {} if state.progress is None else state.progress.values
    if "step" in values and not state.done:
        c = st.columns(5)
        c[0].metric("Step", f"{values['step']:,}")
        c[1].metric("Loss", f"{values['loss']:.3g}")
        c[2].metric("R² (training)", f"{values['r2']:.4f}")
        elapsed = values["fit_elapsed_s"]
        c[3].metric("Steps / s (average)", f"{values['step'] / max(elapsed, 1e-9):.1f}",
                    help=f"Over the whole run so far; the last few steps ran at {values['steps_per_s']:.1f} / s.")
        c[4].metric("Elapsed", elapsed_text(elapsed, request.train.time_budget_s))
    left, right = st.columns([1, 1])
    if state.history:
        with left:
            chart(learning_curves(state.history), key="curves")
    snapshot = state.snapshot
    if snapshot is not None and len(snapshot) == ws.mesh.n_vertices and request.inputs.mesh is ws.mesh:
        with right:
            chart(preview_figure(snapshot, state.snapshot_step), key="preview")


def preview_figure(snapshot, step: int) -> go.Figure:
    """The live 3D preview, built once per snapshot and view (a new snapshot comes every ~2 s; the page refreshes
    every second, and four sessions rebuilding meshes each second slowed the server's other pages)."""
    view = current_view()
    kept = st.session_state.get("preview_figure")
    if kept is None or kept[0] != (id(snapshot), step, view):
        kept = st.session_state.preview_figure = ((id(snapshot), step, view), mesh_figure(
            display_mesh(ws.mesh), snapshot, view=view, height=380, title=f"Prediction at step {step:,}"))
    return kept[1]


def show_finished(run_id: str) -> None:
    """A finished run, read back from the registry."""
    try:
        run = registry().get(run_id)
    except Exception as exc:
        show_error(exc)
        return
    metrics = run.metrics or {}
    where = "held-out nodes" if "r2_fit" in metrics else "all nodes"
    summary = f"Run {run_id}: {run.status}" + (f" · R² {metrics['r2']:.4f} on {where}" if "r2" in metrics else "")
    (st.success if run.status == "done" else st.warning)(summary)
    if run.error:
        st.error(run.error.strip().splitlines()[-1])
    left, right = st.columns([1, 1])
    history = registry().load_history(run_id)
    if history:
        with left:
            chart(learning_curves(history), key="curves")
    if run.status in ("done", "cancelled") and listed_kind(run.description.get("task")).results:
        inputs, panels = result_panels(registry(), run_id)
        with right:
            chart(mesh_figure(display_mesh(inputs.mesh), panels["prediction"], view=current_view(), height=380,
                              title="Final prediction"), key="preview")
    st.page_link("pages/results.py", label="Open Results", icon=":material/insights:")


def current_run():
    """This session's job while it works, else its workspace's (a reload is a new session: it follows the run its
    workspace launched again); None once it has ended: its run becomes the one watched."""
    following = st.session_state.get("following")
    if following is None and (following := workspace_job(ws)) is not None:
        st.session_state.following = following
    if following is None or not following.done:
        return following
    del st.session_state.following
    st.session_state.pop("preview_figure", None)
    if following.state.run_id is not None:
        st.session_state.watching = following.state.run_id
    elif following.state.error:
        show_error(following.state.error)
    return None


following = current_run()
watching = st.session_state.get("watching")
if following is not None:
    if following.job is None:  # it ended since current_run looked
        st.rerun()
    request = following.job.spec  # the run request: its settings and inputs
    job_panel(following, "train", extra=lambda state: live_numbers(state, request), rerun_key=lambda state: state.run_id)
elif watching is None:
    st.info("Launch a run to watch it train here.")
else:
    show_finished(watching)

# ------------------------------------------------------------------------------------------ all runs
RUNS_REFRESH_S = 2.0
LISTED_RUNS = 50


def any_working(runs) -> bool:
    return any(run.status not in FINISHED for run in runs)


def show_runs(runs) -> None:
    if not runs:
        st.caption("No runs yet.")
        return
    st.dataframe(
        pd.DataFrame([{
            "id": r.id, "created": r.created[:19], "status": r.status,
            "domain": r.description.get("domain", ""), "signal": r.description.get("signal", ""),
            "input": r.description.get("input", ""), "task": r.description.get("task", ""),
            "R²": live_r2(r),
        } for r in runs]),
        hide_index=True, width="stretch",
    )
    st.caption("R² of running and interrupted runs is their latest training R² (on the nodes trained on); of an "
               "interpolation, the best method's on the unobserved nodes.")


@st.fragment(run_every=RUNS_REFRESH_S)
def live_runs() -> None:
    """The run list read again from the registry every RUNS_REFRESH_S while one of its runs works (whoever launched
    it); one full rerun once none does."""
    runs = registry().list_runs(limit=LISTED_RUNS)
    if not any_working(runs):
        st.rerun()
    show_runs(runs)


st.subheader("Runs")
runs = registry().list_runs(limit=LISTED_RUNS)
if any_working(runs):
    live_runs()
else:
    show_runs(runs)
