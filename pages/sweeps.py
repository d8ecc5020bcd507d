"""Sweeps: which k, activation, width, depth, omega_0, learning rate... suit this signal, on Ray Tune with ASHA."""

from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from ginr_core.learning.model_config import ACTIVATIONS, MLPConfig
from ginr_core.learning.recipes import SWEEP_GRID, comma_list, list_text
from ginr_core.runs.actions import submit
from ginr_core.runs.jobs import JobState
from ginr_core.runs.spec import RunInputs
from ginr_core.settings import sweep_estimate
from ginr_core.tasks.sweep import (
    SCORES,
    SWEEP_PARAMETERS,
    SweepRequest,
    SweepResult,
    sweep_task,
    sweep_train_config,
)
from pages.shared.backend import ray_backend
from pages.shared.job_panel import job_panel
from pages.shared.runs import FollowedJob, registry, workspace_features
from pages.shared.scene_view import chart
from pages.shared.widgets import enter_via_app, plain, required, settings_form, show_error
from pages.shared.workspace import can_launch, show_workspace, workspace

enter_via_app(__file__)

NUMERIC = {  # parameter -> (label, help); the values to try start at SWEEP_GRID's
    "k": ("k (embedding size)", "eigenvectors the GINR reads"),
    "width": ("Width", "hidden units per layer"),
    "depth": ("Depth", "linear layers in total"),
    "omega_0": ("omega_0", "sine frequency of the hidden layers"),
    "first_omega_0": ("First-layer omega_0", "sine frequency of the first layer"),
    "lr": ("Learning rate", "Adam's learning rate"),
    "seed": ("Seed", "initial weights"),
}
DEFAULTS = {"width": MLPConfig.hidden, "depth": MLPConfig.n_layers, "omega_0": MLPConfig.omega_0,
            "first_omega_0": MLPConfig.first_omega_0, "activation": MLPConfig.activation,
            "lr": sweep_train_config().lr, "seed": 0}  # the default recipe, to set beside the best trial


@dataclass
class Sweep:
    """A launched sweep and its request (the workspace may change while it runs)."""

    job: FollowedJob
    request: SweepRequest
    data_label: str


def parse_values(name: str, text: str) -> tuple:
    return comma_list(text, SWEEP_PARAMETERS[name][1], NUMERIC[name][0], list_text(SWEEP_GRID[name]))


ws = workspace()
st.title("Sweeps")
st.caption("Train many models on the same signal, one per combination of settings, on Ray Tune; ASHA stops the trials "
           "that trail the others early. Every trial is a registered run. Choose by the held-out score to pick a "
           "model that generalises, not one that merely memorises the nodes it saw.")
show_workspace(ws)
sweep: Sweep | None = st.session_state.get("sweep")
launchable = can_launch(ws, None if sweep is None else sweep.job)

# --------------------------------------------------------------------------------------- settings
with settings_form("sweep-settings"):
    st.markdown("**Values to try** (comma-separated)")
    cols = st.columns(4)
    texts = {name: cols[i % 4].text_input(label, list_text(SWEEP_GRID[name]), help=help_text)
             for i, (name, (label, help_text)) in enumerate(NUMERIC.items())}
    activations = cols[len(NUMERIC) % 4].multiselect("Activation", ACTIVATIONS, list(SWEEP_GRID["activation"]))
    c = st.columns(4)
    score = c[0].radio("Score", list(SCORES), index=list(SCORES).index("heldout"), format_func=SCORES.get)
    holdout = c[1].slider("Held-out fraction", 0.05, 0.9, 0.2, 0.05, help="for the held-out score")
    search = c[2].radio("Search", ["grid", "random"], horizontal=True,
                        help="grid: every combination; random: trials draw each setting from its values")
    samples = c[3].number_input("Trials (random) / repeats (grid)", 1, 1000, 1)
    c = st.columns(4)
    steps = c[0].number_input("Steps per trial", 10, 100_000, 300, step=50)
    asha = c[1].toggle("ASHA early stopping", True)
    grace = c[2].number_input("Grace steps", 1, 100_000, 50, help="no trial is stopped before this many steps")
    concurrent = c[3].number_input("Trials at once (0: as many as Ray's CPUs allow)", 0, 1000, 0)
    launched = st.form_submit_button("Launch the sweep", type="primary", disabled=not launchable)
trials_on = ray_backend()
st.caption(f"Trials run on **{trials_on.label}** (the operator's Ray; its own process, started with the first Ray "
           "job), one CPU each" + (" and one GPU" if trials_on.gpu else "") + ".")

request = None
if ws.signal is not None:  # the request of the settings above, with its estimate (or its refusal) before anything is launched
    try:
        grid = {name: parse_values(name, text) for name, text in texts.items()}
        grid["activation"] = tuple(activations)
        request = SweepRequest(RunInputs(ws.mesh, ws.require_signal()), grid, workspace_features(ws, "spectral", 64),
                               train=sweep_train_config(int(steps)), score=score, holdout=holdout, search=search,
                               samples=int(samples), asha=asha, report_every=max(1, min(25, int(steps) // 4)),
                               grace_steps=int(grace), max_concurrent=int(concurrent) or None, backend=trials_on,
                               domain=ws.domain_source, signal=ws.signal_source)
        st.caption(f"Estimate: {sweep_estimate(request.n_trials, int(steps), ws.mesh.n_vertices)} (every trial run to "
                   "the end; ASHA stops some sooner).")
    except Exception as exc:
        show_error(exc)

if launched and request is not None:
    try:
        job = submit(sweep_task, request, registry(), label="sweep")  # in the Ray driver process; its trials on Ray
        st.session_state.sweep = Sweep(FollowedJob(job), request, f"{ws.mesh_label} · {ws.signal_label}")
    except Exception as exc:
        show_error(exc)
    else:
        st.rerun()


# ------------------------------------------------------------------------------------------ results
def trials_table(result: SweepResult) -> pd.DataFrame:
    table = pd.DataFrame(result.rows, columns=[*result.parameters, "score", "step", "status", "run_id"])
    return table.sort_values("score", ascending=False, na_position="last")


def parallel_coordinates(result: SweepResult) -> go.Figure:
    """One line per trial across the settings that vary to its score: which settings the good scores share."""
    table = pd.DataFrame([r for r in result.rows if r["score"] is not None])
    dimensions = []
    for name in result.parameters:
        values = table[name]
        if values.nunique() < 2:
            continue
        if values.map(lambda v: isinstance(v, str)).any():
            levels = sorted(values.unique())
            dimensions.append(dict(label=name, values=values.map(levels.index), tickvals=list(range(len(levels))),
                                   ticktext=levels))
        else:
            dimensions.append(dict(label=name, values=values))
    scores = table["score"].clip(lower=max(table["score"].min(), -1.0))
    dimensions.append(dict(label=SCORES[result.score], values=scores))
    figure = go.Figure(go.Parcoords(line=dict(color=scores, colorscale="Viridis", showscale=True), dimensions=dimensions))
    figure.update_layout(height=380, margin=dict(l=60, r=60, t=50, b=20))
    return figure


def trials(state: JobState) -> None:
    """The trials so far: their table and, once some are scored, the parallel coordinates."""
    result = state.result
    if result is None or not result.rows:
        return
    st.dataframe(trials_table(result), width="stretch", hide_index=True)
    if any(r["score"] is not None for r in result.rows):
        chart(parallel_coordinates(result), key="sweep-parcoords")


required(sweep, "Set the values to try and launch: the trials and their scores appear here as they train.")
st.subheader(f"{sweep.request.n_trials} trials on {plain(sweep.data_label)}")
job_panel(sweep.job, "sweep", cancelled="Cancelled: the trials still training were stopped and recorded as cancelled.",
          extra=trials)
if not sweep.job.done:
    st.stop()
result: SweepResult | None = sweep.job.state.result
best = result.best if result else None
if best is None:
    st.stop()
settings = ", ".join(f"{name} {best[name]:g}" if not isinstance(best[name], str) else f"{name} {best[name]}"
                     for name in result.parameters)
stopped = sum(r["status"] == "stopped by ASHA" for r in result.rows)
st.success(f"Best: **{SCORES[result.score]} {best['score']:.4f}** with {settings} (run {best['run_id']}). "
           f"{stopped} of {len(result.rows)} trials were stopped early by ASHA; the sweep took {result.seconds:.0f} s.")
default = [r for r in result.rows if all(r[name] == DEFAULTS[name] for name in result.parameters if name in DEFAULTS)]
default_done = [r for r in default if r["status"] == "done"]
if default_done:
    gap = best["score"] - max(r["score"] for r in default_done)
    st.caption(f"The default recipe's best trial scored {max(r['score'] for r in default_done):.4f}: the sweep's best is "
               f"{gap:+.4f} {'better' if gap > 0 else '(the default is as good as anything tried)'}.")
elif default:
    st.caption("The default recipe was in the grid but ASHA stopped it early: other settings did better here.")
else:
    st.caption("The default recipe (sine, width 128, depth 4, omega_0 30 / 90, lr 0.002) is not in this grid: add its "
               "values to compare against it.")
if st.button("Open the best run in Results", icon=":material/insights:"):
    st.session_state.watching = best["run_id"]
    st.switch_page("pages/results.py")
scores = np.array([r["score"] for r in result.rows if r["status"] == "done"])
if len(scores) > 1:
    st.caption(f"Finished trials: scores from {scores.min():.4f} to {scores.max():.4f} (median {np.median(scores):.4f}).")
