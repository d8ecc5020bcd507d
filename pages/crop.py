"""Crop: partition the domain, train a Local-Global GINR, cut parts out of it (deleting their weights, no retraining)
and train parts back (only their new weights)."""

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import streamlit as st

from ginr_core.geometry.partition import Partition, partition_mesh
from ginr_core.geometry.sphere import is_sphere
from ginr_core.learning.metrics import first_channel, r2_text
from ginr_core.learning.model_config import EncoderConfig, ModelConfig
from ginr_core.learning.fields import config_parameters, equal_size_configs
from ginr_core.learning.training import TrainConfig
from ginr_core.runs.actions import submit
from ginr_core.runs.jobs import JobState
from ginr_core.runs.spec import RunInputs
from ginr_core.tasks.crop import (
    MODEL_LABELS,
    CroppableRequest,
    CropReport,
    ExtendReport,
    ExtendRequest,
    crop_run,
    croppable_task,
    extend_task,
    with_partition,
)
from ginr_core.viz.figures import display_mesh, mesh_figure, partition_figure, side_by_side_figure
from pages.shared.backend import session_backend
from pages.shared.job_panel import Part, job_panel, part_statuses
from pages.shared.runs import FollowedJob, registry, workspace_features
from pages.shared.scene_view import chart, scene_view
from pages.shared.widgets import best_r2_text, current_view, enter_via_app, linked_views, plain, required, show_error
from pages.shared.workspace import can_launch, embedding_columns, show_workspace, workspace

enter_via_app(__file__)

K = 100  # embedding columns, as the paper's GINRs
METHODS = {"spectral": "spectral k-means", "xyz": "xyz k-means", "latlon": "latitude-longitude tiles"}


@dataclass
class CropSession:
    """What this page has done on one domain and signal: the partition, the trained models, a crop, an extension."""

    mesh: object
    target: object
    partition: Partition
    data_label: str
    training: FollowedJob
    configs: dict
    budget_s: float
    crop: tuple[str, str, CropReport] | None = None  # (source run, cropped run, report)
    extension: FollowedJob | None = None
    extension_budget_s: float = 0.0


ws = workspace()
st.title("Crop")
st.caption("A Local-Global GINR splits the domain into parts: a small global network shared by all nodes, plus one "
           "small local network per part, their outputs summed. Cropping a part deletes its local weights and "
           "leaves every other weight as it was, so the rest of the model needs no retraining; a part is added "
           "back by training only its new local network (after Local-Global SIRENs, “Towards Croppable Implicit "
           "Neural Representations”).")
show_workspace(ws)
session: CropSession | None = st.session_state.get("crop_session")
launchable = can_launch(ws, None if session is None else session.training)

# ------------------------------------------------------------------------------------------ partition
st.subheader("1 · Partition")
methods = [m for m in METHODS if m != "latlon" or is_sphere(ws.mesh)]
c = st.columns([2, 1, 1, 1])
method = c[0].selectbox("Partition", methods, format_func=METHODS.get,
                        help="Spectral k-means clusters the first eigenvectors, so parts follow the surface (an ear "
                        "and the head it touches in space fall apart); xyz k-means clusters the coordinates; "
                        "latitude-longitude tiles are offered on spheres.")
n_parts = int(c[1].number_input("Parts", 2, 64, 8))
overlap = int(c[2].number_input("Overlap (mesh hops)", 0, 3, 0, help="A node this many hops from another part also "
                                "feeds that part's local network: softer seams, and a crop then changes the nodes "
                                "bordering the removed parts a little."))
seed = int(c[3].number_input("Seed", 0, 10_000, 0))
try:
    key = (id(ws.mesh), method, n_parts, overlap, seed, ws.embedding is None)
    if st.session_state.get("crop_partition_key") != key:
        # spectral k-means reads the first n_parts + 1 eigenvectors: a first visit computes those, not K
        features = embedding_columns(ws, n_parts + 1) if method == "spectral" else None
        st.session_state.crop_partition = partition_mesh(ws.mesh, n_parts, method, features=features, overlap=overlap, seed=seed)
        st.session_state.crop_partition_key = key
        st.session_state.crop_picked = []  # part numbers of another partition
    partition: Partition | None = st.session_state.crop_partition
except Exception as exc:
    show_error(exc)
    partition = None
if partition is not None:
    sizes = partition.sizes()
    st.caption(f"{partition.n_parts} parts of {sizes.min():,} to {sizes.max():,} nodes"
               + (f"; {(partition.members[:, 1:] >= 0).any(axis=1).sum():,} nodes also feed a neighbouring part"
                  if partition.overlap else "") + ". Each part's number is written on it; click a part to add it "
               "to the parts to remove in step 3, or take it out again.")
    shown = display_mesh(ws.mesh)
    pin = scene_view(partition_figure(shown, partition.labels, title="Parts", height=460), key="crop-partition",
                     vertex_ids=[shown.source_vertex])
    if pin is not None and pin != st.session_state.get("crop_last_pin"):  # a new click: toggle its part
        part = int(partition.labels[pin["vertex"]])
        picked = st.session_state.setdefault("crop_picked", [])
        st.session_state.crop_picked = sorted(set(picked) ^ {part})
    st.session_state.crop_last_pin = pin

# -------------------------------------------------------------------------------------------- train
st.subheader("2 · Train")
c = st.columns([1, 1, 1, 2])
budget = c[0].number_input("Time budget per model (s)", 1.0, 3600.0, 15.0, step=5.0)
local_layers = int(c[1].number_input("Local network layers", 2, 6, 3))
global_share = c[2].number_input("Global share of the weights", 0.0, 0.9, 0.1, step=0.05, help="Measured on the bunny: "
                                 "more global weights learn more per step but a crop then removes fewer weights.")
custom = c[3].toggle("Choose the widths myself", help="Otherwise the widths are the largest that keep the weights "
                     "at the plain 4 × 128 GINR's count, so the models compare at equal size.")
sized = equal_size_configs(ModelConfig(EncoderConfig(k=K)), K, n_parts, global_share=global_share, local_layers=local_layers)
if custom:
    c = st.columns([1, 1, 2])
    sized_lg = sized["local_global"]
    global_hidden = int(c[0].number_input("Global width", 1, 1024, sized_lg.mlp.hidden))
    local_hidden = int(c[1].number_input("Local width (each part)", 1, 512, sized_lg.partition.local_hidden))
    c[2].caption("The baselines are sized against the plain GINR, so with widths of your own only the "
                 "Local-Global model trains.")
    configs = {"local_global": replace(sized_lg, mlp=replace(sized_lg.mlp, hidden=global_hidden),
                                       partition=replace(sized_lg.partition, local_hidden=local_hidden))}
else:
    baselines = st.toggle("Also train the baselines at the same size", True,
                          help="A network per part (no global network) and the plain 4 × 128 GINR, with the same "
                          "number of weights and the same budget, one after another.")
    configs = {kind: sized[kind] for kind in (("local_global", "per_part", "mlp") if baselines else ("local_global",))}
size_rows = {MODEL_LABELS[kind]: {
    "weights": f"{config_parameters(cfg, K, n_parts):,}",
    "shape": (f"{cfg.mlp.n_layers} × {cfg.mlp.hidden}" if kind == "mlp" else
              (f"global {cfg.mlp.n_layers} × {cfg.mlp.hidden} + " if kind == "local_global" else "")
              + f"{n_parts} × local {cfg.partition.local_layers} × {cfg.partition.local_hidden}"),
} for kind, cfg in configs.items()}
st.table(pd.DataFrame(size_rows))
if st.button("Train", type="primary", icon=":material/model_training:", disabled=not launchable or partition is None):
    try:
        request = CroppableRequest(with_partition(RunInputs(ws.mesh, ws.require_signal()), partition), configs,
                                   workspace_features(ws, "spectral", K), TrainConfig(time_budget_s=budget),
                                   domain=ws.domain_source, signal=ws.signal_source)
        job = FollowedJob(submit(croppable_task, request, registry(), label="croppable", backend=session_backend()))
        st.session_state.crop_session = CropSession(ws.mesh, ws.signal, partition, f"{ws.mesh_label} · {ws.signal_label}",
                                                    job, configs, budget)
    except Exception as exc:
        show_error(exc)
    else:
        st.rerun()


def training_parts(session: CropSession, state: JobState) -> list[Part]:
    """The three models, trained one after the other: done once their result is published."""
    names = list(session.configs)
    return [Part(kind, MODEL_LABELS[kind], status)
            for kind, status in zip(names, part_statuses(state, names, lambda kind: kind in (state.result or {})))]


def live_preview(session: CropSession, state: JobState) -> None:
    """The model in training's latest prediction."""
    if not state.done and state.snapshot is not None and state.progress is not None and state.progress.part in MODEL_LABELS:
        chart(mesh_figure(session.mesh, state.snapshot, view=current_view(), height=380,
                          title=f"{MODEL_LABELS[state.progress.part]} at step {state.snapshot_step}"), key="crop-live")


required(session, "Train to see the models learn here; then crop parts out and add them back.")
st.caption(f"Trained on {plain(session.data_label)}.")
job_panel(session.training, "crop-training", parts=lambda state: training_parts(session, state), budget_s=session.budget_s,
          cancelled="Cancelled: the model in training and those after it are left out.",
          extra=lambda state: live_preview(session, state), rerun_key=lambda state: len(state.result or {}))
results = session.training.state.result or {}
if not results:
    st.stop()

rows = {}
for kind, r in results.items():
    reach = {t: r.seconds_to(t) for t in (0.99, 0.999)}
    rows[MODEL_LABELS[kind]] = {"R²": r2_text(r.metrics["r2"]), "weights": f"{r.params:,}",
                                "s to R² 0.99": "–" if reach[0.99] is None else f"{reach[0.99]:.1f}",
                                "s to R² 0.999": "–" if reach[0.999] is None else f"{reach[0.999]:.1f}",
                                "steps": f"{r.history[-1]['step']:,}" if r.history else "0", "run": r.run_id}
st.table(pd.DataFrame(rows))
best = best_r2_text({MODEL_LABELS[kind]: r.metrics["r2"] for kind, r in results.items()})
st.caption(f"Same budget and recipe for each; {best}. On a busy CPU the times are noisy.")

# --------------------------------------------------------------------------------------------- crop
croppable = [kind for kind in results if kind != "mlp"]
if not croppable:
    st.stop()
st.subheader("3 · Crop")
c = st.columns([1, 2, 1])
source_kind = c[0].selectbox("Model", croppable, format_func=MODEL_LABELS.get)
st.session_state.crop_remove = [p for p in st.session_state.get("crop_picked", []) if p < session.partition.n_parts]
remove = c[1].multiselect("Parts to remove", list(range(session.partition.n_parts)), key="crop_remove",
                          on_change=lambda: st.session_state.update(crop_picked=st.session_state.crop_remove),
                          help="Pick them here or click them on the partition above. Their local networks are "
                          "deleted; nothing is retrained.")
c[2].write("")
if c[2].button("Crop", type="primary", icon=":material/content_cut:", disabled=not remove):
    try:
        source = results[source_kind].run_id
        cropped_id, report = crop_run(registry(), source, remove)
        session.crop, session.extension = (source, cropped_id, report), None
    except Exception as exc:
        show_error(exc)
if session.crop is None:
    st.stop()
source_id, cropped_id, report = session.crop
c = st.columns(4)
c[0].metric("Weights", f"{report.params_after:,}", f"{report.params_before - report.params_after:,} removed "
            f"({report.param_reduction:.0%})", delta_color="off", delta_arrow="off")
c[1].metric("R² on the kept nodes, before", f"{report.r2_before:.6f}")
c[2].metric("after the crop", f"{report.r2_after:.6f}", f"{report.r2_change:+.1e}", delta_color="off", delta_arrow="off")
c[3].metric("Largest change on a kept node", f"{report.max_change:.1e}")
source_result = next(r for r in results.values() if r.run_id == source_id)
st.caption(f"Parts {', '.join(map(str, report.removed))} removed from run {source_id}; the cropped model is run "
           f"**{cropped_id}**, made in no time. Retraining a model on the kept nodes instead would take about "
           f"{source_result.elapsed_s:.0f} s (this one's training). "
           + ("Without overlap the kept nodes never read the removed weights: their predictions are unchanged but for "
              "float32 rounding (the batched products change shape with the number of parts)."
              if session.partition.overlap == 0 else
              "With overlap, the nodes bordering a removed part lose that part's share of their prediction."))
before = first_channel(source_result.prediction)
linked_views(side_by_side_figure(session.mesh, {"before": before, "cropped": first_channel(report.prediction)},
                                 holes={"cropped": np.isnan(report.prediction)}, view=current_view(), height=420), "crop-views")

# ------------------------------------------------------------------------------------------- extend
st.subheader("4 · Extend")
c = st.columns([2, 1, 1])
add = c[0].multiselect("Parts to train back", list(report.removed), default=list(report.removed),
                       help="Only their new local weights train; every other weight stays as it is.")
extension_budget = c[1].number_input("Time budget (s)", 1.0, 3600.0, min(session.budget_s, 15.0), step=5.0)
extending = session.extension is not None and not session.extension.done
c[2].write("")
if c[2].button("Extend", type="primary", icon=":material/add_circle:", disabled=not add or extending):
    request = ExtendRequest(cropped_id, tuple(add), TrainConfig(time_budget_s=extension_budget))
    session.extension = FollowedJob(submit(extend_task, request, registry(), label="extend"))
    session.extension_budget_s = extension_budget
    st.rerun()


if session.extension is None:
    st.stop()
extension_state = job_panel(session.extension, "crop-extension", parts=lambda state: [Part("extend", "Training the new parts",
                            state.status)], budget_s=session.extension_budget_s, cancelled="Cancelled: no part was added.")
if extension_state.status != "done":
    st.stop()
extended_id, extension = session.extension.state.result
extension: ExtendReport
c = st.columns(4)
c[0].metric("Weights", f"{extension.params_after:,}", f"{extension.params_after - extension.params_before:,} added",
            delta_color="off", delta_arrow="off")
original = extension.r2_reference
c[1].metric(f"R² on part{'s' if len(extension.added) > 1 else ''} {', '.join(map(str, extension.added))}",
            r2_text(extension.r2_added), None if original is None else f"original: {r2_text(original)}",
            delta_color="off", delta_arrow="off")
back = extension.seconds_to_reference
c[2].metric("Back to the original accuracy after", "not within the budget" if back is None else f"{back:.1f} s",
            f"the whole model trained {source_result.elapsed_s:.0f} s", delta_color="off", delta_arrow="off",
            help="When the R² on the new parts' nodes first reached the uncropped model's R² there, as shown.")
c[3].metric("Other weights unchanged", "yes" if extension.others_unchanged else "NO")
st.caption(f"Run **{extended_id}**: {extension.nodes:,} nodes learnt by {extension.params_after - extension.params_before:,} "
           f"new weights in {extension.steps:,} steps ({extension.seconds:.1f} s), against {source_result.elapsed_s:.0f} s "
           f"to train the whole model. R² over all the nodes it represents now: {r2_text(extension.r2_represented)} (the "
           f"original: {r2_text(source_result.metrics['r2'])}).")
linked_views(side_by_side_figure(session.mesh, {"cropped": first_channel(report.prediction),
                                                "extended": first_channel(extension.prediction)},
                                 holes={"cropped": np.isnan(report.prediction), "extended": np.isnan(extension.prediction)},
                                 view=current_view(), height=420), "extend-views")
