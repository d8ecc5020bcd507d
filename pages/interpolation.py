"""Interpolation: the signal seen only at some places, every method's reconstruction scored where it was not seen."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from ginr_core.errors import GinrError
from ginr_core.geometry.sphere import is_sphere
from ginr_core.learning.metrics import first_channel, r2_text
from ginr_core.learning.recipes import default_of
from ginr_core.runs.actions import submit
from ginr_core.runs.spec import Source
from ginr_core.tasks.interpolation import (
    DEFAULT_METHODS,
    DERIVED_COLUMNS,
    METHODS,
    InterpolationRequest,
    InterpolationResult,
    InterpolationSettings,
    MethodOutcome,
    Observations,
    derived_field_rows,
    interpolation_task,
    random_nodes,
    read_observations_csv,
    require_unobserved,
    satellite_tracks,
)
from ginr_core.viz.figures import grid_figure, mesh_figure
from ginr_core.viz.rules import log_axis
from pages.shared.backend import session_backend
from pages.shared.job_panel import Part, job_panel, results_section
from pages.shared.runs import FollowedJob, registry
from pages.shared.scene_view import chart
from pages.shared.widgets import (
    current_view,
    enter_via_app,
    plain,
    settings_form,
    show_error,
    show_verdict,
)
from pages.shared.workspace import require_signal, show_workspace, workspace

enter_via_app(__file__)

RANDOM, TRACKS, UPLOAD = "Random nodes", "Satellite tracks", "Upload observations (CSV)"
EXPLANATIONS = {
    "harmonic": "graph interpolation: the smoothest signal (least Dirichlet energy) through the observations.",
    "tikhonov": "graph smoothing: fits the observations up to a weight chosen on a validation split.",
    "biharmonic": "graph interpolation with the squared Laplacian: smooth gradients, not just smooth values.",
    "rbf": "thin-plate-spline radial basis functions in 3D (scipy).",
    "kriging": "optimal interpolation: ordinary kriging with a covariance fitted to the variogram (GSTools; "
               "great-circle distances on spheres).",
    "ginr": "a GINR (spectral input) trained on the observed values.",
    "inr": "a classic INR (xyz input; spherical harmonics on spheres) trained on the observed values.",
    "ginr_stacked": "a network reading the harmonic, biharmonic and RBF interpolants (not the position) "
                    "at each node, trained on left-out observations to correct the best of them (early stopping "
                    "and the correction's scale chosen on a validation split).",
}
DERIVED_KINDS = ["signal", "signal", "signed", "signed"]  # field, gradient magnitude, Laplacian, signed error


class InterpolationRun(FollowedJob):
    """A launched interpolation job and its request; `result` holds the outcomes so far."""

    def __init__(self, job, request: InterpolationRequest):
        super().__init__(job)
        self.request = request

    @property
    def result(self) -> InterpolationResult:
        return self.state.result or InterpolationResult(tuple(MethodOutcome(m) for m in self.request.methods))


def choose_observations(mesh, signal):
    """The observation pattern chosen on the page, as Observations of `signal` (None until a CSV is uploaded)."""
    patterns = [RANDOM] + ([TRACKS] if is_sphere(mesh) else []) + [UPLOAD]
    pattern = st.radio("Observed", patterns, horizontal=True,
                       help="Satellite tracks need a sphere domain (the sphere is read as the Earth).")
    c = st.columns(4)
    if pattern == RANDOM:
        fraction = c[0].slider("Observed fraction of the nodes", 0.01, 0.9, 0.25, 0.01)
        seed = c[1].number_input("Seed", 0, 10_000, 0)
        return random_nodes(mesh, signal, fraction, int(seed))
    if pattern == TRACKS:
        n_tracks = c[0].number_input("Tracks", 1, 40, default_of(satellite_tracks, "n_tracks"))
        inclination = c[1].number_input("Inclination (degrees)", 0.0, 180.0, default_of(satellite_tracks, "inclination_deg"),
                                        help="66: TOPEX / Jason; 98: sun-synchronous (Sentinel-3).")
        coverage = c[2].slider("Coverage (area under the swaths)", 0.01, 0.5, 0.05, 0.01,
                               help="The swath width is solved for this coverage.")
        seed = c[3].number_input("Seed", 0, 10_000, 0, help="Where the first track crosses the equator.")
        return satellite_tracks(mesh, signal, int(n_tracks), inclination, coverage=coverage, seed=int(seed))
    upload = st.file_uploader("Observations: a CSV with a header lat,lon,value (spheres), x,y,z,value or vertex,value",
                              type=["csv", "txt"])
    if upload is None:
        return None
    st.caption("Points off the nodes are read at the closest point of the surface, as the barycentric mix of "
               "their triangle's vertices. The workspace signal is the truth the methods are scored against.")
    observations = uploaded_observations(upload.file_id, upload.getvalue(), upload.name, mesh, mesh.content_hash())
    if isinstance(observations, GinrError):
        raise observations
    return observations


@st.cache_resource(show_spinner="Reading the observations...", max_entries=2)
def uploaded_observations(file_id: str, _data: bytes, filename: str, _mesh, mesh_key: str) -> Observations | GinrError:
    """Read an observation file once per upload and domain: a rerun (a view toggle) reuses it, and a refusal is kept
    too, so the file is not read again only to be refused again."""
    try:
        return read_observations_csv(_data, _mesh, filename)
    except GinrError as exc:
        return exc


# ------------------------------------------------------------------------------------------- page
ws = workspace()
st.title("Interpolation")
st.write("A field known only at some places: random nodes, satellite ground tracks or your own points. Every "
         "method reconstructs it everywhere and is scored **on the nodes it did not see**, networks beside the "
         "classical interpolation a scientist would use without them, with the time each took.")
show_workspace(ws)
job = st.session_state.get("interp_job")
observations = None
if require_signal(ws, last_run_below=job is not None):
    if ws.signal.ndim != 1:
        st.warning("The signal has several channels: its first channel is interpolated.")
    st.header("1. Observations")
    try:
        observations = choose_observations(ws.mesh, first_channel(ws.signal))
        if observations is not None:
            require_unobserved(observations)
    except Exception as exc:  # a bad upload or setting: explain, keep the page
        observations = None
        show_error(exc)
if observations is not None:
    c = st.columns([1, 2])
    c[0].metric("Observations", f"{len(observations.values):,}")
    c[0].metric("Nodes scored (unobserved)", f"{len(observations.unobserved):,}")
    c[0].caption(observations.description)
    with c[1]:
        chart(mesh_figure(ws.mesh, observations.observed_mask.astype(float), view=current_view(), height=320,
                          title="Observed nodes (dark)"), key="observed-view")

    st.header("2. Methods")
    st.markdown("\n".join(f"- **{m}**: {EXPLANATIONS[m]}" for m in METHODS))
    running = job is not None and not job.done
    with settings_form("interp-settings"):
        methods = st.multiselect("Methods (run one after the other in the background)", METHODS, default=list(DEFAULT_METHODS))
        c = st.columns(3)
        defaults = InterpolationSettings()
        steps = c[0].number_input("Training steps per network", 10, 20_000, defaults.steps,
                                  help="Every network gets the same number of steps.")
        k = c[1].number_input("Spectral features k", 4, 400, min(defaults.k, ws.mesh.n_vertices - 2))
        seed = c[2].number_input("Seed", 0, 10_000, 0)
        launched = st.form_submit_button("Run every method", type="primary", disabled=running,
                                         help="A run is in progress: cancel it first." if running else None)
    if launched:
        try:
            request = InterpolationRequest(ws.mesh, observations, tuple(methods), first_channel(ws.signal),
                                           InterpolationSettings(k=int(k), steps=int(steps), seed=int(seed)),
                                           domain=ws.domain_source, signal=ws.signal_source or Source())
            job = InterpolationRun(submit(interpolation_task, request, registry(), label="interpolation", backend=session_backend()), request)
            st.session_state.interp_job, st.session_state.interp_label = job, f"{ws.mesh_label}: {observations.description}"
        except Exception as exc:
            show_error(exc)


# ------------------------------------------------------------------------------------------ progress
def method_parts(job: InterpolationRun) -> list[Part]:
    """The methods, run one after the other, with their outcomes' statuses."""
    return [Part(o.name, o.name, o.status) for o in job.result.outcomes]


# ------------------------------------------------------------------------------------------- results
def score_table(job: InterpolationRun) -> pd.DataFrame:
    rows = []
    for o in job.result.outcomes:
        spectrum = job.result.spectra.get(o.name)
        scale = None
        if spectrum is not None and spectrum.resolved is not None:
            scale = f"{'≤ ' if spectrum.fully_resolved else ''}{spectrum.resolved:,.3g} {spectrum.unit}"
        rows.append({"method": o.name, "kind": "network" if o.network else "classical", "status": o.status,
                     "score (1 - RMSE/RMS)": (o.scores or {}).get("score"), "R²": (o.scores or {}).get("r2"),
                     "RMSE": (o.scores or {}).get("rmse"), "resolved scale": scale, "seconds": round(o.seconds, 2),
                     "notes": o.error or o.notes})
    return pd.DataFrame(rows)


def verdict(job: InterpolationRun) -> None:
    scored = [o for o in job.result.outcomes if o.scores is not None]
    networks = [o for o in scored if o.network]
    classical = [o for o in scored if not o.network]
    if not networks or not classical:
        return
    net = max(networks, key=lambda o: o.scores["r2"])
    cls = max(classical, key=lambda o: o.scores["r2"])
    text = (f"Best network **{net.name}** R² {r2_text(net.scores['r2'])} ({net.seconds:.1f} s) against best classical "
            f"**{cls.name}** R² {r2_text(cls.scores['r2'])} ({cls.seconds:.1f} s).")
    show_verdict(net.scores["r2"], cls.scores["r2"], text, {
        "network": "The network wins on the unobserved nodes.",
        "tie": "A tie: the network found nothing to correct in the classical interpolant.",
        "classical": "**The classical method wins here**: the network adds nothing on these observations."})


def resolved_scale_figure(job: InterpolationRun) -> go.Figure:
    fig = go.Figure()
    unit = ""
    for name, spectrum in job.result.spectra.items():
        unit = spectrum.unit
        fig.add_trace(go.Scatter(x=spectrum.wavelengths, y=spectrum.score, mode="lines+markers", name=name))
    fig.add_hline(y=0.5, line_dash="dash", annotation_text="resolved above 0.5")
    wavelengths = [spectrum.wavelengths for spectrum in job.result.spectra.values()]
    fig.update_xaxes(log_axis(*wavelengths), autorange="reversed", title=f"wavelength ({unit})")
    fig.update_yaxes(title="1 - error energy / truth energy", range=[-0.5, 1.05])
    fig.update_layout(height=400, margin=dict(l=10, r=10, t=60, b=10),
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0))
    return fig


def show_results(job: InterpolationRun) -> None:
    recorded = f" Recorded as run {job.state.run_id} (`ginr runs`)." if job.state.run_id else ""
    st.caption(f"Results for {plain(st.session_state.get('interp_label', ''))}; scores on the "
               f"{len(job.request.observations.unobserved):,} unobserved nodes.{recorded}")
    verdict(job)
    st.dataframe(score_table(job), hide_index=True, width="stretch",
                 column_config={c: st.column_config.NumberColumn(format="%.5f")
                                for c in ("score (1 - RMSE/RMS)", "R²", "RMSE")})
    st.caption("Score: the SSH data challenges' 1 - RMSE / RMS(truth) (it depends on the field's offset; R² does "
               "not). Resolved scale: the SSH data challenges' effective resolution, the wavelength where the spectral "
               "score 1 - error energy / truth energy first falls below 0.5 going from long to short scales (≤: "
               "every analysed band is resolved). Seconds are wall-clock, training included.")
    if job.result.spectra:
        st.subheader("Resolved scale")
        chart(resolved_scale_figure(job), key="spectrum")
    finished = {o.name: o.prediction for o in job.result.outcomes if o.prediction is not None}
    if not finished or job.request.truth is None:
        return
    st.subheader("Field | gradient | Laplacian | error")
    ranked = sorted(finished, key=lambda n: -(job.result.outcome(n).scores or {}).get("r2", -np.inf))
    shown = st.multiselect("Methods shown (one row each, below the truth)", list(finished), default=ranked[:3])
    rows = derived_field_rows(job.request.mesh, job.request.truth, {n: finished[n] for n in shown})
    grid = [[(f"{name}: {column}", values[column]) if values[column] is not None else None for column in DERIVED_COLUMNS]
            for name, values in rows.items()]
    chart(grid_figure(job.request.mesh, grid, DERIVED_KINDS, current_view(), row_height=260, share="column"), key="derived-grid")
    st.caption("Gradient magnitude and Laplace-Beltrami Laplacian by discrete operators on the mesh (piecewise-linear "
               "gradient, cotangent Laplacian); one colour scale per column, so rows compare at a glance.")


job = st.session_state.get("interp_job")
results_section(job, observations is not None, "Run the methods to compare them here.",
                lambda: job_panel(job, "interpolation", parts=lambda state: method_parts(job), steps=job.request.settings.steps),
                lambda: show_results(job))
