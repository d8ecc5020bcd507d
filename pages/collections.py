"""Collections: many signals on one domain, one shared network with a small code per signal; fit a new signal
by its code alone and explore the codes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from ginr_core.data.collections import (
    Collection,
    choose_held_out,
    collection_from_files,
    collection_from_npz,
    default_held_out,
    gray_scott_collection,
    gray_scott_grid,
    grid_collection,
    max_held_out,
)
from ginr_core.data.signals import load_vertex_signal
from ginr_core.errors import GinrError
from ginr_core.geometry.features import XYZ, FeatureSpec, max_k
from ginr_core.geometry.mesh import Mesh
from ginr_core.geometry.sphere import SPHERE_EMBEDDING, is_sphere
from ginr_core.learning.collection_models import (
    DEFAULT_MODULATION,
    DEFAULT_RANDOM_FEATURES,
    MODULATIONS,
    RANDOM_FEATURES_PER_NODE,
    CodeFitConfig,
)
from ginr_core.learning.metrics import r2_text, winner
from ginr_core.learning.recipes import GRAY_SCOTT_FAMILY, comma_list, list_text
from ginr_core.runs.actions import submit
from ginr_core.runs.spec import Source
from ginr_core.settings import check_collection, collection_estimate
from ginr_core.tasks.collections import (
    CollectionRequest,
    FitNewRequest,
    collection_task,
    collection_train_config,
    fit_new_task,
    input_model_config,
    fixed_part_label,
    latent_projection,
    training_adds_little,
    walk,
)
from pages.shared.backend import session_backend
from pages.shared.job_panel import job_panel, prepare, prepared
from pages.shared.runs import FollowedJob, registry
from pages.shared.scene_view import chart
from pages.shared.widgets import (
    enter_via_app,
    plain,
    progress_bar,
    required,
    settings_form,
    show_chosen,
    show_error,
    show_meshes,
)
from pages.shared.workspace import netcdf_upload, workspace

enter_via_app(__file__)

PAGE_FAMILY_STEPS = 10_000  # a third of the paper's steps (GRAY_SCOTT_FAMILY.steps): the family simulates while its user waits
INPUTS = {"combinatorial": "GINR (Laplacian)", SPHERE_EMBEDDING: "GINR (spherical harmonics)", XYZ: "INR (xyz coordinates)"}


@dataclass
class CollectionChoice:
    mesh: Mesh
    collection: Collection
    label: str
    domain: Source
    source: Source


@dataclass
class CollectionRun:
    """A launched collection job and what it trains on (the features are read back once it is done)."""

    job: FollowedJob
    request: CollectionRequest
    features: np.ndarray | None = None


def use_collection(choice: CollectionChoice) -> None:
    st.session_state.collection_choice = choice
    for key in ("collection_run", "collection_new"):
        st.session_state.pop(key, None)


ws = workspace()
st.title("Collections")
st.write("Researchers rarely have one signal: they have a family. A **collection model** learns the family once: "
         "one shared network and a small **code** per signal (its own output row on the shared network, a latent "
         "input, or a low-rank change of the first hidden layer after *Instance Pattern Composers*, CVPR 2023). A new signal on the same domain is then "
         "fitted by learning its code alone. Every score below stands beside the usual single-signal GINR.")

# ------------------------------------------------------------------------------------------ collection
st.subheader("1 · Collection")
GRAY_SCOTT, NETCDF, FILES, NPZ = ("Gray-Scott family on the current domain", "netCDF fields", "Signal files", ".npz stack")
source = st.radio("Source", [GRAY_SCOTT, NETCDF, FILES, NPZ], horizontal=True)
try:
    if source == GRAY_SCOTT:
        st.caption(f"Domain: {plain(ws.mesh_label)} ({ws.mesh.n_vertices:,} nodes). One texture per (F, k, seed); each is "
                   "simulated once and cached on disk.")
        c = st.columns(4)
        preset = GRAY_SCOTT_FAMILY
        feeds = c[0].text_input("F (feed rates)", list_text(preset.F))
        kills = c[1].text_input("k (kill rates)", list_text(preset.k))
        seeds = c[2].text_input("Seeds", list_text(preset.seeds))
        steps = c[3].number_input("Steps", 100, 100_000, PAGE_FAMILY_STEPS, step=1000)
        family = (comma_list(feeds, float, "F", list_text(preset.F)), comma_list(kills, float, "k", list_text(preset.k)),
                  comma_list(seeds, int, "Seeds", list_text(preset.seeds)))
        members = len(gray_scott_grid(*family))
        check_collection(members, int(steps), ws.mesh.n_vertices)  # refused here, before the button
        st.caption(f"Estimate: {collection_estimate(members, int(steps), ws.mesh.n_vertices)} (members simulated "
                   "before are read from the cache).")
        if st.button("Simulate the family", type="primary"):
            params = {"F": feeds, "k": kills, "seeds": seeds, "steps": int(steps)}
            prepare("family", "Simulating Gray-Scott", gray_scott_collection, ws.mesh, *family, int(steps),
                    context=(ws.mesh, f"Gray-Scott family on {ws.mesh_label}", ws.domain_source, params))
        if (simulated := prepared("family")) is not None:
            collection, (mesh, label, domain_source, params) = simulated
            use_collection(CollectionChoice(mesh, collection, label, domain_source,
                                            Source("generated", "gray-scott family", params, label=collection.name)))
    elif source == NETCDF:
        st.caption("Every variable x level x month (or any other dimension) slice of a global lat-lon file is a "
                   "member. ERA-Interim z, u, v gives 18 fields.")
        upload, grid = netcdf_upload("collection-nc")
        if grid is not None:
            c = st.columns(2)
            variables = c[0].multiselect("Variables", list(grid.variables), list(grid.variables))
            stride = c[1].select_slider("Keep every Nth latitude and longitude", [1, 2, 3, 4, 6, 8], 4)
            if st.button("Use these fields", type="primary"):
                mesh, collection = grid_collection(grid, variables, stride)
                label = f"{upload.name}: {collection.n_members} fields"
                grid_source = Source.of_bytes("netcdf", upload.name, upload.getvalue(), label, variables=variables, stride=stride)
                use_collection(CollectionChoice(mesh, collection, label, grid_source, grid_source))
    elif source == FILES:
        st.caption(f"One value per vertex of {plain(ws.mesh_label)} ({ws.mesh.n_vertices:,} nodes) per file; each file is a member.")
        uploads = st.file_uploader("Signal files", type=["npy", "csv", "txt"], accept_multiple_files=True, key="collection-files")
        if uploads and st.button("Use these signals", type="primary"):
            collection = collection_from_files([(u.getvalue(), u.name) for u in uploads], ws.mesh)
            label = f"{len(uploads)} uploaded signals on {ws.mesh_label}"
            use_collection(CollectionChoice(ws.mesh, collection, label, ws.domain_source,
                                            Source("upload", ", ".join(u.name for u in uploads), label=label)))
    else:
        st.caption("An .npz with `values` (members x nodes), optional `names` and `meta_KEY` arrays, and optionally the "
                   f"mesh (`vertices`, `faces`; else {plain(ws.mesh_label)}). `ginr collection build` writes this layout.")
        upload = st.file_uploader("Collection (.npz)", type=["npz"], key="collection-npz")
        if upload is not None and st.button("Use this stack", type="primary"):
            mesh, collection = collection_from_npz(upload.getvalue(), upload.name, ws.mesh)
            npz_source = Source.of_bytes("upload", upload.name, upload.getvalue())
            use_collection(CollectionChoice(mesh, collection, upload.name, npz_source if mesh is not ws.mesh else ws.domain_source,
                                            npz_source))
except Exception as exc:
    show_error(exc)

choice: CollectionChoice = required(st.session_state.get("collection_choice"), "Build a collection to continue.")
collection = choice.collection
show_chosen(choice.label, f"{collection.n_members} members", collection.names, choice.mesh.n_vertices,
            f"; metadata: {plain(', '.join(collection.metadata) or 'none')}")

# ------------------------------------------------------------------------------------------ training
st.subheader("2 · Train")
keys = list(collection.metadata)
run: CollectionRun | None = st.session_state.get("collection_run")
running = run is not None and not run.job.done
kinds = [kind for kind in INPUTS if kind != SPHERE_EMBEDDING or is_sphere(choice.mesh)]
# Outside the form: how many members can be held out depends on this order.
along = st.selectbox("Order members by", keys or ["(member order)"],
                     help="Held-out members are chosen with trained neighbours on both sides along this key, "
                          "and their codes interpolated from those neighbours.")
order_key = along if keys else None
with settings_form("collection-settings"):
    c = st.columns(4)
    kind = c[0].selectbox("Input", kinds, format_func=INPUTS.get)
    modulation = c[1].selectbox("Per-signal code", MODULATIONS, index=MODULATIONS.index(DEFAULT_MODULATION),
                                format_func={"lowrank": "low-rank modulation (IPC)", "latent": "latent input (auto-decoder)",
                                             "heads": "output row per signal (least-squares fit-new)"}.get)
    rank = c[2].number_input("Rank (low-rank)", 1, 64, 8)
    latent_dim = c[3].number_input("Latent size (latent input)", 1, 512, 64)
    c = st.columns(4)
    largest_k = min(256, max_k(choice.mesh.n_vertices))
    k = c[0].number_input("Embedding columns (k)", 1, largest_k, min(64, largest_k))
    n_held = c[1].number_input("Members held out", 0, max_held_out(collection, order_key),
                               default_held_out(collection, order_key),
                               help="At most as many as have trained neighbours on both sides along the order above.")
    budget = c[2].number_input("Training budget (s)", 2.0, 3600.0, 30.0)
    new_budget = c[3].number_input("Fit-new budget per held-out member (s)", 1.0, 600.0, 10.0)
    random_features = st.columns(2)[0].number_input(
        "Random sines (output rows)", 0, 16384, DEFAULT_RANDOM_FEATURES, step=1024,
        help="Output rows per signal only: fixed random sine features of the embedding, read beside the trained "
             "layers; a new member's least-squares code reaches much further with them. At most "
             f"{RANDOM_FEATURES_PER_NODE:.0%} "
             f"of the nodes ({int(choice.mesh.n_vertices * RANDOM_FEATURES_PER_NODE):,} here).")
    launched = st.form_submit_button("Train the collection", type="primary", disabled=running)

if launched:
    try:
        held = choose_held_out(collection, int(n_held), order_key)
        features = FeatureSpec(kind, int(k))
        n_rows = (collection.n_members - len(held)) * collection.n_nodes
        request = CollectionRequest(
            choice.mesh, collection, features,
            input_model_config(features, modulation, rank=int(rank), latent_dim=int(latent_dim),
                               random_features=int(random_features)),
            collection_train_config(n_rows, time_budget_s=budget), tuple(int(i) for i in held), order_key,
            CodeFitConfig(time_budget_s=new_budget), None, domain=choice.domain, signal=choice.source)
        job = submit(collection_task, request, registry(), label="collection", backend=session_backend())
        st.session_state.collection_run = CollectionRun(FollowedJob(job), request)
        st.session_state.pop("collection_new", None)
    except Exception as exc:
        show_error(exc)
    else:
        st.rerun()  # to draw the page as it is while training: the button disabled, live progress below

run = st.session_state.get("collection_run")
if run is None:
    st.stop()


state = job_panel(run.job, "collection", cancelled="Cancelled: these are the scores of the model as it stood.")
if not run.job.done or state.status == "failed":
    st.stop()
fit, collection, mesh = state.result, run.request.collection, run.request.mesh
if run.features is None:
    with progress_bar("Reading the input features...") as progress:
        run.features = run.request.features.build(mesh, progress)

# ------------------------------------------------------------------------------------------ results
st.subheader("3 · Results")
summary = fit.summary()
c = st.columns(3)
c[0].metric("Mean R² (trained members)", f"{summary['mean_r2']:.4f}")
c[1].metric("Worst trained member", f"{summary['worst_r2']:.4f}")
c[2].metric("Compression", f"{summary['compression']:.2f}x",
            help=f"{summary['raw_bytes'] / 1e3:,.0f} kB of raw float32 signals vs {summary['shared_bytes'] / 1e3:,.0f} kB "
                 f"of shared weights + {summary['code_bytes'] / 1e3:,.0f} kB of codes.")
if fit.held_out:
    c = st.columns(3)
    c[0].metric("Held-out R² (fit-new)", f"{summary['heldout_r2']:.4f}", help="Codes fitted with the shared weights frozen.")
    c[1].metric("Held-out R² (trained members' span)", f"{summary['heldout_span_r2']:.4f}",
                help="The classical alternative, no network: each held-out member as the least-squares combination of "
                     "the trained members (a projection on the family's empirical orthogonal functions).")
    interp = summary.get("heldout_interp_r2")
    c[2].metric("Held-out R² (interpolated codes)", "-" if interp is None else f"{interp:.4f}",
                help="The blend of the two trained neighbours' codes, no optimisation.")
    sines = summary.get("heldout_sines_r2")
    if sines is not None:
        st.caption(f"Held-out R² with {fixed_part_label(fit.regressor)} (least squares, no trained layer): "
                   f"**{sines:.4f}**, against {summary['heldout_r2']:.4f} with the trained layers beside them.")
    if winner(summary["heldout_r2"], summary["heldout_span_r2"]) != "network":
        st.warning("On the held-out members the trained members' span (least squares, no network) does as well as "
                   "fit-new or better: the network's codes add nothing here.")
    elif sines is not None and training_adds_little(summary["heldout_r2"], sines):
        st.info(f"On the held-out members {fixed_part_label(fit.regressor)} alone (no trained layer) do about as well "
                "as fit-new: the trained layers add little here.")
if summary["mean_r2"] < 0.99:
    st.caption(f"The model fits its own members to a mean R² of {summary['mean_r2']:.3f} only, and a new member's code "
               "seldom does better: fit-new will hardly reach R² 0.99 here. Train longer"
               + (", or give the output rows more random sines (measured: 28 Gray-Scott textures on the bunny reach a "
                  "mean of 0.996 after 4 minutes of CPU training with 8,192 sines, 0.93 with none)."
                  if fit.regressor.field.config.codes.heads else "."))
if summary["compression"] < 1:
    st.caption("The model is **larger** than the raw signals: on this few nodes and members, storing the values wins.")
st.caption(f"Run {state.run_id} · trained {fit.elapsed_s:.0f} s.")

colors = ["#636efa" if t else "#ef553b" for t in fit.trained]
bars = go.Figure(go.Bar(x=collection.names, y=fit.member_r2, marker_color=colors))
bars.update_layout(height=280, margin=dict(l=0, r=0, t=30, b=0), title="R² of each member (red: held out, after fit-new)",
                   yaxis=dict(range=[max(min(float(np.nanmin(fit.member_r2)), 0.9) - 0.02, -1), 1.005]))
chart(bars, key="member-r2")

# ------------------------------------------------------------------------------------------ explorer
st.subheader("4 · Latent explorer")
codes = fit.codes()
coords, explained = latent_projection(codes)
colour_key = st.selectbox("Colour by", keys or ["member"], key="colour-by")
colour = collection.metadata[colour_key] if keys else np.arange(collection.n_members)
scatter = go.Figure(go.Scatter(
    x=coords[:, 0], y=coords[:, 1], mode="markers+text", text=collection.names, textposition="top center",
    marker=dict(size=12, color=colour, colorscale="Viridis", showscale=True, colorbar=dict(title=colour_key),
                symbol=["circle" if t else "x" for t in fit.trained])))
scatter.update_layout(height=420, margin=dict(l=0, r=0, t=30, b=0), title="Codes, first two principal axes (x: held out)",
                      xaxis_title=f"PC 1 ({explained[0]:.0%})", yaxis_title=f"PC 2 ({explained[1]:.0%})")
picked = chart(scatter, key="latent-scatter")
if picked and picked["at"] != st.session_state.get("latent-click"):  # a new click picks the member; the box stays free
    st.session_state["latent-click"] = picked["at"]
    st.session_state.explorer_member = collection.names[picked["point"]]
member = st.selectbox("Member", collection.names, key="explorer_member")
i = collection.index(member)
truth, prediction = collection.values[i], fit.prediction[i].astype(float)
st.caption(f"**{member}** · R² {fit.member_r2[i]:.4f} ({'trained' if fit.trained[i] else 'held out, fitted by its code'})")
show_meshes(mesh, {"ground truth": truth, "prediction": prediction, "squared error": (prediction - truth) ** 2},
            key="explorer-member", kinds={"squared error": "error"}, shared_scale=["ground truth", "prediction"])

st.markdown("**Walk between two members**: the field decoded from (1 - t) · code A + t · code B.")
c = st.columns([2, 2, 3])
a = collection.index(c[0].selectbox("A", collection.names, index=0, key="walk-a"))
b = collection.index(c[1].selectbox("B", collection.names, index=collection.n_members - 1, key="walk-b"))
t = c[2].slider("t", 0.0, 1.0, 0.5, 0.05, key="walk-t")
show_meshes(mesh, {f"{collection.names[a]}": collection.values[a], f"decoded at t = {t:.2f}": walk(fit, run.features, a, b, t),
                   f"{collection.names[b]}": collection.values[b]}, key="walk")

# ------------------------------------------------------------------------------------------ fit-new
st.subheader("5 · Fit a new signal")
st.write("Learn only a new code (shared weights frozen; an output row is one least-squares solve, other codes take "
         "L-BFGS steps from the best-fitting training member's code) and, "
         "beside it, train the usual single-signal model from scratch on the same signal, with the same time budget. "
         "The from-scratch model is recorded as a run (see Results).")
new_job: FollowedJob | None = st.session_state.get("collection_new")
c = st.columns([3, 1, 1])
upload = c[0].file_uploader("A new signal on this domain (.npy, .csv, .txt)", type=["npy", "csv", "txt"], key="new-signal")
choices = ["(uploaded file)"] + [collection.names[h.member] for h in fit.held_out]
pick = c[1].selectbox("or a held-out member", choices, index=1 if len(choices) > 1 else 0)
fit_budget = c[2].number_input("Budget (s)", 1.0, 600.0, 15.0, key="fit-new-budget")
if st.button("Fit the new signal", type="primary", disabled=new_job is not None and not new_job.done):
    try:
        if state.run_id is None:
            raise GinrError("This collection was not recorded, so a new signal cannot be fitted to it.")
        if pick != "(uploaded file)":
            values, signal = collection.values[collection.index(pick)], Source("member", pick, label=pick)
        elif upload is not None:
            values = load_vertex_signal(upload.getvalue(), upload.name, mesh)
            signal = Source.of_bytes("upload", upload.name, upload.getvalue())
        else:
            raise GinrError("Upload a signal file or pick a held-out member.")
        request = FitNewRequest(state.run_id, values, float(fit_budget), signal=signal)
        job = submit(fit_new_task, request, registry(), label="fit-new")
        st.session_state.collection_new = FollowedJob(job)
    except Exception as exc:
        show_error(exc)
    else:
        st.rerun()

new_job = st.session_state.get("collection_new")
if new_job is None:
    st.stop()
new_state = job_panel(new_job, "collection-new", cancelled="Cancelled: these are the scores of the new member's fit as it stood.")
if not new_job.done or new_state.status == "failed":
    st.stop()
done = new_state.result
new, scratch = done.fit_new, done.scratch


def reached(f):
    return "never" if f.time_to_target_s is None else f"{f.time_to_target_s:.1f} s"


rows = [{"model": "collection: code only (fit-new)", "R²": f"{new.r2:.4f}", "time to R² 0.99": reached(new),
         "time": f"{new.elapsed_s:.1f} s", "steps": new.steps},
        {"model": "trained members' span (least squares, no network)", "R²": f"{done.span.r2:.4f}",
         "time to R² 0.99": reached(done.span), "time": f"{done.span.elapsed_s:.2f} s", "steps": 1}]
if done.sines is not None:
    rows.append({"model": f"{done.fixed_part} (least squares, no trained layer)", "R²": f"{done.sines.r2:.4f}",
                 "time to R² 0.99": reached(done.sines), "time": f"{done.sines.elapsed_s:.2f} s", "steps": 1})
if scratch is not None:
    rows.append({"model": "single-signal model from scratch", "R²": f"{scratch.r2:.4f}", "time to R² 0.99": reached(scratch),
                 "time": f"{scratch.elapsed_s:.1f} s", "steps": scratch.steps})
st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
if done.start_member is not None:
    st.caption(f"The code started near that of **{done.start_member}**, the training member that fitted it best. "
               f"From-scratch run: {done.scratch_run_id or 'not recorded'}.")
if scratch is not None and (new.time_to_target_s is None or
                            (scratch.time_to_target_s is not None and scratch.time_to_target_s < new.time_to_target_s)):
    st.warning("Here the single-signal model from scratch wins: the collection's codes do not span this signal "
               "well enough (a signal unlike the trained members, or a collection trained too briefly).")
elif scratch is not None and new.time_to_target_s is not None:
    gain = "it never did" if scratch.time_to_target_s is None else f"{scratch.time_to_target_s / max(new.time_to_target_s, 1e-9):.1f}x slower"
    st.success(f"Fit-new reached R² 0.99 first; the model from scratch: {gain}.")
if winner(new.r2, done.span.r2) != "network":
    st.warning(f"The trained members' span (no network) fits this signal as well as fit-new or better "
               f"(R² {r2_text(done.span.r2)} vs {r2_text(new.r2)}).")
if done.sines is not None and training_adds_little(new.r2, done.sines.r2):
    st.info(f"Least squares on {done.fixed_part} alone (no trained layer) fits this signal about as well as fit-new "
            f"(R² {done.sines.r2:.4f} vs {new.r2:.4f}): the trained layers add little here.")
panels = {done.label: done.values, "fit-new": new.prediction, "trained members' span": done.span.prediction}
if scratch is not None:
    panels["from scratch"] = scratch.prediction
show_meshes(mesh, panels, key="fit-new-views", shared_scale=list(panels))
