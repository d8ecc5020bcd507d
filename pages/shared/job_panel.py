"""The one panel every page shows a background job in: a bar per part (or one for the job), the ETA once there is
something to go by, the queue position, a Cancel button, how it ended, and the current fit's learning curves.

A page says what its job's parts are (`Part`: name, label, status in the job vocabulary) and what to draw beside
the panel (`extra`); while the job works the panel refreshes itself every second in a fragment, and hands over
to one full rerun of the page when the job ends (or when `rerun_key(state)` changes: e.g. a model finished and
the page's results table grows), so results are drawn once, statically.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Sequence

import plotly.graph_objects as go
import streamlit as st

from ginr_core.runs.jobs import Call, Job, JobState, call_task
from ginr_core.viz.rules import LOG_AXIS, R2_AXIS

FINISHED_PART = ("done", "cancelled", "failed")
WAITING_TEXT = {"pending": "waiting", "done": "done", "cancelled": "cancelled", "failed": "failed"}


@dataclass(frozen=True)
class Part:
    """One item of a job (a model, a strategy, a method): `name` keys its records in `JobState.parts` (None: the
    job's own progress, for a job of one part)."""

    name: str | None
    label: str
    status: str = "pending"


def part_statuses(state: JobState, names: Sequence[str], finished: Callable[[str], bool]) -> list[str]:
    """Statuses of parts run one after the other: finished ones as `finished` says, the one reporting last while
    the job runs is running, the rest wait (or, once the job has ended, were never run: cancelled)."""
    current = None if state.progress is None else state.progress.part
    statuses = []
    for name in names:
        if finished(name):
            statuses.append("done")
        elif state.done:
            statuses.append("failed" if state.status == "failed" and name == current else "cancelled")
        else:
            statuses.append("running" if name == current else "pending")
    return statuses


def part_bar(state: JobState, part: Part, budget_s: float | None = None, steps: int | None = None) -> tuple[float, str]:
    """(fraction, markdown) of one part: how far its fit is (its budget, its steps, or its own time to go) and
    its live training R²."""
    if part.status != "running":
        return (1.0 if part.status in FINISHED_PART else 0.0), f"**{part.label}**: {WAITING_TEXT[part.status]}"
    record = state.progress if part.name is None else state.parts.get(part.name)
    values = {} if record is None else record.values
    if "step" not in values:
        return 0.0, f"**{part.label}**: {record.message if record is not None and record.message else 'running'}"
    elapsed, fit_eta = values["fit_elapsed_s"], values.get("fit_eta_s")
    if budget_s:
        fraction, timing = elapsed / budget_s, f"{min(elapsed, budget_s):.0f} / {budget_s:g} s"
    elif steps:
        fraction, timing = values["step"] / steps, f"step {values['step']:,} / {steps:,}"
    else:
        known = fit_eta is not None and math.isfinite(fit_eta)
        fraction = elapsed / (elapsed + fit_eta) if known else 0.0
        timing = f"step {values['step']:,}" + (f", ETA {fit_eta:.0f} s" if known else "")
    return min(fraction, 1.0), f"**{part.label}**: training, {timing} · R² (training) {values['r2']:.4f}"


def job_bar(state: JobState, queued: str | None = None, starting: str = "Starting...") -> None:
    """One bar for the whole job: its message, and its ETA once the job has said enough to estimate one."""
    p = state.progress
    message = starting if p is None else (p.message or starting)
    text = queued or (f"Run {state.run_id}: {state.status} · {message}" if state.run_id else message)
    if queued is None and p is not None and p.eta_s is not None:
        text += f" · about {p.eta_s:.0f} s to go"
    st.progress(0.0 if p is None else p.fraction, text=text)


def ending(state: JobState, cancelled: str) -> None:
    """How a finished job ended, when not plainly done: its error, or what a cancel left."""
    if state.error:
        st.error(state.error)
    elif state.status == "cancelled":
        st.warning(cancelled)


def learning_curves(history: Sequence[dict], title: str = "Learning curves") -> go.Figure:
    """Loss (log scale) and training R² against training time, from a fit's progress rows."""
    curves = go.Figure()
    elapsed = [row["elapsed_s"] for row in history]
    curves.add_scatter(x=elapsed, y=[row["loss"] for row in history], name="loss", yaxis="y")
    curves.add_scatter(x=elapsed, y=[max(row["r2"], 0.0) for row in history], name="R² (training)", yaxis="y2")
    curves.update_layout(title=title, height=380, margin=dict(l=0, r=0, t=40, b=0), xaxis_title="training time (s)",
                         yaxis=dict(LOG_AXIS, title="loss"), yaxis2=dict(R2_AXIS, title="R²", overlaying="y", side="right"),
                         legend=dict(orientation="h", y=-0.2))
    return curves


def draw_panel(job, key: str, parts: Callable[[JobState], Sequence[Part]] | None, budget_s: float | None,
               steps: int | None, cancelled: str, extra: Callable[[JobState], None] | None) -> None:
    state = job.state
    queued = job.queued_text() if hasattr(job, "queued_text") else None
    items = [] if parts is None else list(parts(state))
    if items and queued is None:
        for part in items:
            st.progress(*part_bar(state, part, budget_s, steps))
    else:
        job_bar(state, queued)
    ending(state, cancelled)
    if not state.done and st.button("Cancel", icon=":material/stop_circle:", key=f"{key}-cancel"):
        job.cancel()
    if extra is not None:
        extra(state)


PANEL_REFRESH_S = 1.0  # how often a live panel looks at its job: a result waits up to this long to be shown


@st.fragment(run_every=PANEL_REFRESH_S)
def live_panel(job, key, parts, budget_s, steps, cancelled, extra, rerun_key, shown) -> None:
    """Refreshes every second while the job works; one full rerun when it ends or `rerun_key` moves on."""
    if job.done or (rerun_key is not None and rerun_key(job.state) != shown):
        st.rerun()
    draw_panel(job, key, parts, budget_s, steps, cancelled, extra)


def job_panel(job, key: str, *, parts: Callable[[JobState], Sequence[Part]] | None = None, budget_s: float | None = None,
              steps: int | None = None, cancelled: str = "Cancelled.", extra: Callable[[JobState], None] | None = None,
              rerun_key: Callable[[JobState], Hashable] | None = None) -> JobState:
    """Show `job` (a Job or a FollowedJob): live while it works, once more as it ended; return its state.

    parts: the job's items and their statuses (one bar each), else one bar for the whole job; budget_s / steps:
    what a part's bar fills against; cancelled: what a cancel left (shown once it happened); extra(state): drawn
    below the bars on each refresh (live curves, a preview); rerun_key(state): the page reruns when it changes."""
    if job.done:
        draw_panel(job, key, parts, budget_s, steps, cancelled, extra)
    else:
        live_panel(job, key, parts, budget_s, steps, cancelled, extra, rerun_key,
                   None if rerun_key is None else rerun_key(job.state))
    return job.state


def results_section(job, ready: bool, prompt: str, live: Callable[[], None], show: Callable[[], None]) -> None:
    """A page's "3. Results": `prompt` once its inputs are `ready` and nothing ran yet, `live()` (the job's panel)
    while its job works, `show()` once it has ended."""
    if ready or job is not None:
        st.header("3. Results")
    if job is None:
        if ready:
            st.info(prompt)
    elif not job.done:
        live()
    else:
        show()


def prepare(key: str, text: str, function: Callable, *args, context: Any = None, **kwargs) -> None:
    """Prepare data off the page's script thread: `function(*args, **kwargs, progress=...)` in a job thread of this
    server (a Gray-Scott simulation or a large embedding froze its user's page, with no progress and no cancel).
    `context` (what the page needs with the result: a label, the settings it was started with) is kept with it."""
    st.session_state[f"preparing-{key}"] = (Job(call_task, Call(function, args, kwargs), label=key).start(), text, context)


def prepared(key: str) -> tuple[Any, Any] | None:
    """(result, context) of `key`'s preparation once, when it is done; None before (its bar and Cancel are drawn
    meanwhile) and after. How a failed or cancelled one ended stays on the page until the next one."""
    preparing = st.session_state.get(f"preparing-{key}")
    if preparing is None:
        return None
    job, text, context = preparing
    state = job.state
    if state.status != "done":  # at work (its panel), or how it failed or was cancelled
        state = job_panel(job, f"preparing-{key}", parts=lambda state: [Part(None, text, state.status)],
                          cancelled="Cancelled.")
    if state.status != "done":
        return None
    del st.session_state[f"preparing-{key}"]
    return state.result, context
