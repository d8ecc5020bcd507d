"""Super-resolution: train on the workspace's mesh, predict the signal on a finer mesh of the same surface."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from ginr_core.errors import GinrError
from ginr_core.geometry.features import MAX_UI_K, max_k
from ginr_core.geometry.laplacian import LAPLACIANS
from ginr_core.geometry.mesh import MESH_EXTENSIONS, Mesh
from ginr_core.io.export import ply_bytes
from ginr_core.learning.metrics import first_channel, r2_text
from ginr_core.learning.model_config import MLPConfig, ModelConfig
from ginr_core.learning.recipes import SUPERRES_K
from ginr_core.learning.training import TrainConfig
from ginr_core.runs.actions import submit
from ginr_core.viz.rules import colour_scale
from ginr_core.tasks.superres import (
    METHODS,
    STACKED,
    SUPERRES_FIRST_OMEGA_0,
    StrategyOutcome,
    SuperResolutionRequest,
    coarser_latlon_grid,
    finer_latlon_grid,
    finer_mesh,
    latlon_axes,
    strategies_for,
    subset_correspondence,
    superres_task,
)
from ginr_core.viz.figures import (
    NOMINAL_WIDTH,
    DisplayMesh,
    display_mesh,
    mesh_figure,
    point_cloud_figure,
)
from pages.shared.backend import session_backend
from pages.shared.job_panel import Part, job_panel, results_section
from pages.shared.runs import FollowedJob, registry
from pages.shared.widgets import (
    current_view,
    enter_via_app,
    linked_views,
    plain,
    settings_form,
    show_error,
    show_verdict,
)
from pages.shared.workspace import (
    MAX_UPLOAD_MB,
    Workspace,
    require_signal,
    show_workspace,
    uploaded_mesh,
    workspace,
)

enter_via_app(__file__)


class SuperResolutionRun(FollowedJob):
    """A launched super-resolution job and its request."""

    def __init__(self, job, request: SuperResolutionRequest):
        super().__init__(job)
        self.request = request
        self.coarse, self.fine, self.coarse_target, self.fine_truth = request.coarse, request.fine, request.coarse_target, request.fine_truth

    @property
    def outcomes(self) -> list[StrategyOutcome]:
        return self.state.result or [StrategyOutcome(s) for s in self.request.strategies]


EXPLANATIONS = {
    STACKED: "no feature transfer: the coarse values are observations on the fine mesh; a network reads their "
             "harmonic, biharmonic and RBF interpolants at each node and corrects the best one (trained on left-out "
             "coarse nodes; the interpolation benchmark's winner). Its networks share the budget and stop early.",
    "kl": "the paper's heuristic: eigenvectors of both meshes, each fine one flipped when its value histogram "
          "then matches the coarse one better (fixes signs, not rotations within repeated eigenvalues).",
    "joint": "eigenvectors of the fine mesh only, read at the original vertices for training: the same functions "
             "on both meshes (needs the original vertices inside the fine mesh).",
    "interp": "eigenvectors of the coarse mesh only, interpolated barycentrically onto the fine vertices.",
    "fmap": "cotangent eigenvectors of both meshes, the coarse basis expressed in the fine one by a functional map.",
    "sh": "analytic spherical harmonics: the same functions on any sphere mesh (spheres only).",
}
SUBDIVIDE, UPLOAD, FINER_GRID, HOLD_OUT = (
    "Subdivide this mesh", "Upload a finer mesh", "Finer lat-lon grid (twice the resolution)",
    "Hold out every second row and column of this grid",
)
MAX_SCATTER_POINTS = 120_000  # the point scatter's browser payload stays a few MB
SCORE_COLUMNS = {"r2_fit": "R² fit (training)", "r2": "R² shared nodes", "r2_trimmed_90": "R² shared (< 90th pct)",
                 "r2_trimmed_95": "R² shared (< 95th pct)", "r2_fine_only": "R² fine-only nodes"}


@dataclass(frozen=True, eq=False)
class Target:
    """A super-resolution problem: train on `coarse`, predict on `fine`; `truth_note` explains `fine_truth`."""

    coarse: Mesh
    fine: Mesh
    coarse_target: np.ndarray
    correspondence: np.ndarray | None
    fine_truth: np.ndarray | None
    truth_note: str
    label: str


@st.cache_resource(show_spinner="Building the finer mesh...", max_entries=4)
def refined(_mesh: Mesh, mesh_key: str, recipe: tuple) -> tuple[Mesh, np.ndarray]:
    """(mesh, correspondence) of a recipe: ("subdivide", levels, method), ("finer grid",) or ("coarser grid",)."""
    if recipe[0] == "subdivide":
        return finer_mesh(_mesh, *recipe[1:])
    return finer_latlon_grid(_mesh) if recipe[0] == "finer grid" else coarser_latlon_grid(_mesh)


@st.cache_resource(show_spinner="Preparing the mesh for display...", max_entries=4)
def display_arrays(_mesh: Mesh, mesh_key: str) -> tuple:
    dm = display_mesh(_mesh)
    return dm.vertices, dm.faces, dm.source_vertex, dm.n_original


def shown_mesh(mesh: Mesh) -> DisplayMesh:
    """The mesh ready to draw. Decimating a large one takes seconds, so its arrays are cached; not the object,
    whose class goes stale when Streamlit reloads an edited ginr_core.viz.figures."""
    dm = DisplayMesh(*display_arrays(mesh, mesh.content_hash()))
    if dm.note():
        st.caption(dm.note())
    return dm


def truth_on(ws: Workspace, fine: Mesh, coarse_target: np.ndarray, correspondence) -> tuple[np.ndarray | None, str]:
    """The workspace signal evaluated on the fine mesh, where it is known there, and what to say about it."""
    if ws.signal_function is None:
        return None, (f"The signal ({ws.signal_label}) is only known at the workspace's nodes, so the real "
                      "super-resolution score (R² at the fine-only nodes) is not available; the table scores the "
                      "shared nodes only. Analytic and spherical-harmonic signals (Data page) are known everywhere; "
                      f"on a lat-lon grid, '{HOLD_OUT}' scores any field.")
    try:
        truth = ws.signal_function(fine)
    except GinrError as exc:
        return None, f"The signal cannot be evaluated on the finer mesh ({exc}), so the fine-only R² is not available."
    note = f"The signal ({ws.signal_label}) is evaluated on the finer mesh: R² at the fine-only nodes is the real score."
    if correspondence is not None:
        mismatch = np.abs(truth[correspondence] - coarse_target).max() / max(np.ptp(coarse_target), 1e-300)
        if mismatch > 1e-6:
            note += (f" It differs from the training signal at the shared nodes by up to {mismatch:.1%} of its range "
                     "(the finer mesh moved them, or changed the bounding box the formula is scaled to): approximate.")
    return truth, note


def choose_target(ws: Workspace) -> Target | None:
    """The finer mesh chosen on the page, with what is known about the signal there."""
    mesh, key = ws.mesh, ws.mesh.content_hash()
    sources = [SUBDIVIDE, UPLOAD] + ([FINER_GRID, HOLD_OUT] if latlon_axes(mesh) is not None else [])
    source = st.radio("Finer mesh", sources, horizontal=True)
    if source == HOLD_OUT:
        coarse, correspondence = refined(mesh, key, ("coarser grid",))
        return Target(coarse, mesh, ws.signal[correspondence], correspondence, ws.signal,
                      "Trained on every second latitude and longitude; the workspace signal at the other nodes is "
                      "the truth: R² at the fine-only nodes is the real score.", f"{coarse.name} -> {mesh.name}")
    if source == SUBDIVIDE:
        c = st.columns(2)
        method = c[0].radio("Subdivision", ["midpoint", "loop"], horizontal=True,
                            help="Each triangle becomes four. Midpoint keeps the surface (and the original vertices); "
                                 "loop smooths it, moving the original vertices. On a sphere the new vertices are put "
                                 "on the sphere.")
        levels = c[1].radio("Levels", [1, 2], horizontal=True, help="Each level multiplies the node count by about 4.")
        fine, correspondence = refined(mesh, key, ("subdivide", levels, method))
    elif source == FINER_GRID:
        fine, correspondence = refined(mesh, key, ("finer grid",))
    else:
        upload = st.file_uploader(f"Finer mesh of the same surface ({', '.join(MESH_EXTENSIONS)}; up to "
                                  f"{MAX_UPLOAD_MB} MB)", type=list(MESH_EXTENSIONS))
        if upload is None:
            return None
        fine, report = uploaded_mesh(upload.file_id, upload.getvalue(), upload.name, "largest")
        for message in report.messages():
            st.caption(message)
        if fine.n_vertices <= mesh.n_vertices:
            st.warning(f"{plain(upload.name)} has {fine.n_vertices:,} nodes, no more than the workspace's {mesh.n_vertices:,}: "
                       "it is not finer.")
        try:
            correspondence = subset_correspondence(mesh, fine)
        except GinrError:
            correspondence = None
            st.caption("The uploaded mesh does not contain the workspace's vertices: 'joint' does not apply, and "
                       "shared-node scores read the fine prediction by interpolation at the original vertices.")
    return Target(mesh, fine, ws.signal, correspondence, *truth_on(ws, fine, ws.signal, correspondence),
                  f"{mesh.name} -> {fine.name}")


# ------------------------------------------------------------------------------------------- page
ws = workspace()
st.title("Super-resolution")
st.write("A GINR trained on a mesh can predict the signal on a finer mesh of the same surface: it only needs the "
         "spectral features of the new nodes. Two separate eigen-solves do not agree (signs, rotations within "
         "repeated eigenvalues), so a **transfer strategy** makes the coarse and fine features match.")
show_workspace(ws)
target = None
if require_signal(ws, last_run_below=st.session_state.get("superres_job") is not None):
    st.header("1. Finer mesh")
    try:
        target = choose_target(ws)
    except Exception as exc:  # a bad upload: explain, keep the page
        show_error(exc)
if target is not None:
    c = st.columns(3)
    c[0].metric("Training (coarse) nodes", f"{target.coarse.n_vertices:,}")
    c[1].metric("Fine nodes", f"{target.fine.n_vertices:,}")
    shared = target.coarse.n_vertices if target.correspondence is not None else 0
    c[2].metric("Fine-only nodes", f"{target.fine.n_vertices - shared:,}")
    (st.info if target.fine_truth is not None else st.warning)(target.truth_note, icon=":material/fact_check:")

    # ------------------------------------------------------------------------------------- strategies
    st.header("2. Strategies")
    available = strategies_for(target.coarse, target.fine, target.correspondence is not None)
    st.markdown("\n".join(f"- **{s}**: {EXPLANATIONS[s]}" + ("" if s in available else " *Does not apply here.*")
                          for s in METHODS))
    job = st.session_state.get("superres_job")
    running = job is not None and not job.done
    k_max = max(2, min(MAX_UI_K, max_k(target.coarse.n_vertices)))
    with settings_form("superres-settings"):
        strategies = st.multiselect("Strategies (trained one after the other, same budget each)", available,
                                    default=[s for s in (STACKED, "joint") if s in available])
        c = st.columns(4)
        budget = c[0].number_input("Time budget per strategy (s)", 1.0, 3600.0, 15.0)
        k = c[1].number_input("Embedding size k", 2, k_max, min(SUPERRES_K, k_max),
                              help="Few columns interpolate more smoothly between the training nodes.")
        laplacian = c[2].selectbox("Laplacian", LAPLACIANS, help="Used by kl, joint and interp (fmap: cotangent).")
        first_omega_0 = c[3].number_input("omega_0 (first layer)", 0.5, 300.0, SUPERRES_FIRST_OMEGA_0,
                                          help="Low values interpolate between the training nodes; the fitting "
                                               "default (90) memorises them and predicts poorly in between.")
        launched = st.form_submit_button("Run super-resolution", type="primary", disabled=running,
                                         help="A run is in progress: cancel it first." if running else None)
    if launched:
        try:
            request = SuperResolutionRequest(
                target.coarse, target.fine, target.coarse_target, tuple(strategies), k=int(k), laplacian=laplacian,
                correspondence=target.correspondence, fine_truth=target.fine_truth,
                model=ModelConfig(mlp=MLPConfig(first_omega_0=first_omega_0)),
                train=TrainConfig(time_budget_s=budget, snapshot_every_s=None),
                domain=ws.domain_source, signal=ws.signal_source,
            )
            job = SuperResolutionRun(submit(superres_task, request, registry(), label="super-resolution", backend=session_backend()), request)
            st.session_state.superres_job, st.session_state.superres_label = job, target.label
        except Exception as exc:
            show_error(exc)


# ------------------------------------------------------------------------------------------ progress
def strategy_parts(job: SuperResolutionRun) -> list[Part]:
    """The GINR strategies, run one after the other (the classical rows that follow need no bar)."""
    return [Part(o.name, o.name, o.status) for o in job.outcomes if not o.classical]


# ------------------------------------------------------------------------------------------- results
def score_table(job: SuperResolutionRun) -> pd.DataFrame:
    outcomes, parts = job.outcomes, job.state.parts
    any_failed = any(o.error for o in outcomes)
    rows = []
    for o in outcomes:
        row = {"strategy": o.name, "kind": "classical" if o.classical else "GINR", "status": o.status}
        row.update({name: (o.scores or {}).get(key) for key, name in SCORE_COLUMNS.items()
                    if key != "r2_fine_only" or job.fine_truth is not None})
        steps = parts[o.name].values.get("step") if o.name in parts else None
        row.update({"steps": steps, "seconds": round(o.seconds, 1), "run": o.run_id or ""})
        if any_failed:
            row["error"] = o.error or ""
        rows.append(row)
    return pd.DataFrame(rows)


def verdict(job: SuperResolutionRun) -> None:
    """The best GINR strategy against the best classical row on the fine-only nodes, in words."""
    def best(outcomes):
        scored = [o for o in outcomes if (o.scores or {}).get("r2_fine_only") is not None]
        return max(scored, key=lambda o: o.scores["r2_fine_only"], default=None)

    net = best(o for o in job.outcomes if not o.classical)
    classical = best(o for o in job.outcomes if o.classical)
    if net is None or classical is None:
        return
    text = (f"On the fine-only nodes the best GINR (**{net.name}**) scores R² {r2_text(net.scores['r2_fine_only'])} "
            f"in {net.seconds:.1f} s; **{classical.name}** interpolation of the same coarse values "
            f"{r2_text(classical.scores['r2_fine_only'])} in {classical.seconds:.2f} s.")
    show_verdict(net.scores["r2_fine_only"], classical.scores["r2_fine_only"], text, {
        "network": "The network wins.",
        "tie": "A tie: the network does no better than interpolating the coarse values.",
        "classical": "**Classical interpolation wins here.** The Interpolation page runs more methods, including the "
                     "stacked GINR that corrects the biharmonic interpolant."})


PANEL_WIDTH = NOMINAL_WIDTH // 3  # the three views share the page's width


def show_results(job: SuperResolutionRun) -> None:
    st.caption(f"Results for {st.session_state.get('superres_label', '')}.")
    verdict(job)
    st.dataframe(score_table(job), hide_index=True, width="stretch",
                 column_config={name: st.column_config.NumberColumn(format="%.4f") for name in SCORE_COLUMNS.values()})
    st.caption("Shared nodes: the training nodes, where the truth is known; the fine prediction read there should "
               "match it (self-consistency, the paper's score; trimmed: nodes below the 90th / 95th percentile of "
               "squared error). Fine-only nodes: the new ones, never seen in training."
               + ("" if job.fine_truth is not None else " **R² at the fine-only nodes is not available: the signal "
                                                        "is not known there.**"))
    trained = [o for o in job.outcomes if o.fine_prediction is not None]
    if not trained:
        return
    with st.expander("What each strategy did"):
        st.markdown("\n".join(f"- **{o.name}**: {' '.join(o.notes)}" for o in trained))
    c = st.columns(2)
    by_name = {o.name: o for o in trained}
    outcome = by_name[c[0].radio("Strategy shown", list(by_name), horizontal=True)]
    scatter = c[1].radio("Fine prediction drawn as", ["point scatter", "mesh"], horizontal=True,
                         help="The point scatter shows every fine node, to make the resolution visible.") == "point scatter"
    coarse_values, fine_values = first_channel(outcome.coarse_prediction), first_channel(outcome.fine_prediction)
    view = current_view()
    scale = colour_scale("signal", coarse_values, fine_values, view=view)  # one scale: the panels compare
    error = (first_channel(job.coarse_target) - first_channel(outcome.shared_prediction)) ** 2
    coarse_shown = shown_mesh(job.coarse)
    coarse = mesh_figure(coarse_shown, coarse_values, view=view, scale=scale, height=440, width=PANEL_WIDTH,
                         title=f"Original: {job.coarse.n_vertices:,} nodes")
    if scatter:
        points = np.arange(job.fine.n_vertices)
        if len(points) > MAX_SCATTER_POINTS:
            points = np.sort(np.random.default_rng(0).choice(points, MAX_SCATTER_POINTS, replace=False))
        fine = point_cloud_figure(job.fine.vertices[points], fine_values[points], view=view, scale=scale, height=440,
                                  width=PANEL_WIDTH,
                                  title=f"Super-resolved: {len(points):,} of {job.fine.n_vertices:,} nodes")
        fine_ids = points
    else:
        fine_shown = shown_mesh(job.fine)
        fine = mesh_figure(fine_shown, fine_values, view=view, scale=scale, height=440, width=PANEL_WIDTH,
                           title=f"Super-resolved: {job.fine.n_vertices:,} nodes")
        fine_ids = fine_shown.source_vertex
    errors = mesh_figure(coarse_shown, error, kind="error", view=view, height=440, width=PANEL_WIDTH,
                         title="Squared error at the shared nodes")
    st.caption("The cameras are linked; a click pins the nearest node in every view (the fine mesh's own nodes).")
    linked_views([coarse, fine, errors], "superres-views", [coarse_shown.source_vertex, fine_ids, coarse_shown.source_vertex])
    if st.session_state.get("viewer", "Plotly") != "Plotly":
        st.caption("This page draws with Plotly whatever the 3D viewer: the point scatter needs it.")
    st.download_button("Super-resolved prediction (PLY)", lambda: ply_bytes(job.fine, {"prediction": fine_values}),
                       file_name=f"superres-{outcome.name}.ply",
                       help="The fine mesh with the selected strategy's prediction as a vertex property.")


job = st.session_state.get("superres_job")
results_section(job, target is not None, "Run the strategies to compare them here.",
                lambda: job_panel(job, "superres", parts=lambda state: strategy_parts(job), budget_s=job.request.train.time_budget_s),
                lambda: show_results(job))
