"""Signal collections: one shared network + a code per member, against a single-signal GINR per member.

(a) Gray-Scott textures on the Stanford bunny over a grid of F x k: 8 x 4 = 32 after 30,000 steps, 4 held out
along F (~12 s per texture on one core, cached on disk once made; --textures 8 --gs-steps 10000 is a quicker
4 x 2 grid with 2 held out);
(b) the 18 ERA-Interim fields (z, u, v x 3 levels x 2 months) on the 121 x 240 grid (3 held out: level 500,
January);
(c) a smooth synthetic one-parameter family (12 members, 2 held out) on the 61 x 120 grid: the kind of family
where a code can stand for a member, to show where the idea pays and where it does not.

Each setup runs `collection_task` (the job behind the Collections page and `ginr collection train`): mean /
worst R² over the trained members after a fixed training budget; for each held-out member, fit-new (its code
only, shared weights frozen: L-BFGS from the best-fitting training member's code, with the layers the code does
not reach cached; a heads model solves for its output row) against a single-signal GINR trained from scratch on
the same member, both stopped at R² 0.99 or at the same budget, same machine, same threads; also fit-new with
the plain recipe (Adam from the mean code) at that budget; the R² of the code interpolated from the member's
neighbours (no optimisation); the classical alternative with no network, the least-squares combination of the
trained members (their span: an EOF / POD reconstruction); for a heads model, least squares on the fixed part of
its basis alone (the input and its random sines, no trained layer: what the trained layers add); the compression
ratio (raw float32 signals / (shared weights + codes)). Needs ../shared/data. Wall-clock times on a
shared CPU are noisy: each row also gives the passes over the member's nodes (forward + backward) each needed.

    python bench/collections.py [--budget 240] [--new-budget 45] [--textures 32] [--gs-steps 30000] [--only bunny|era|smooth]
        [--random-features 8192]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ginr_core.data.collections import Collection, choose_held_out, gray_scott_collection, grid_collection  # noqa: E402
from ginr_core.data.gridded import open_grid  # noqa: E402
from ginr_core.geometry.domains import latlon_grid  # noqa: E402
from ginr_core.geometry.features import FeatureSpec  # noqa: E402
from ginr_core.geometry.mesh import load_mesh  # noqa: E402
from ginr_core.learning.collection_models import DEFAULT_MODULATION, DEFAULT_RANDOM_FEATURES, MODULATIONS, CodeFitConfig  # noqa: E402
from ginr_core.runs.actions import submit  # noqa: E402
from ginr_core.tasks.collections import (  # noqa: E402
    TARGET_R2,
    CollectionRequest,
    collection_task,
    collection_train_config,
    fit_new_member,
    input_model_config,
)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TEXTURE_GRIDS = {8: (np.round(np.linspace(0.046, 0.058, 4), 4), [0.061, 0.063], 2),
                 32: (np.round(np.linspace(0.044, 0.058, 8), 4), [0.061, 0.062, 0.063, 0.064], 4)}


def run_setup(name, mesh, collection, along, held, args) -> dict:
    features = FeatureSpec("combinatorial", 100)
    print(f"\n== {name}: {collection.n_members} members on {mesh.n_vertices:,} nodes; held out: "
          f"{', '.join(collection.names[i] for i in held)}", flush=True)
    n_rows = (collection.n_members - len(held)) * collection.n_nodes
    model_config = input_model_config(features, args.modulation, rank=args.rank, random_features=args.random_features)
    request = CollectionRequest(mesh, collection, features, model_config,
                                collection_train_config(n_rows, time_budget_s=args.budget), tuple(int(i) for i in held),
                                along, CodeFitConfig(time_budget_s=args.new_budget, stop_at=TARGET_R2),
                                scratch_budget_s=args.new_budget)
    state = submit(collection_task, request, None, label=name, start=False).run()
    if state.status != "done":
        raise SystemExit(f"{name}: {state.status} {state.error}")
    fit = state.result
    summary = fit.summary()
    steps = fit.regressor.history_[-1]["step"] if fit.regressor.history_ else 0
    print(f"training: {args.budget:g} s budget, {steps} steps of {request.train.batch_size or n_rows:,} rows "
          f"({fit.elapsed_s:.0f} s); R² over trained members: mean {summary['mean_r2']:.4f}, worst {summary['worst_r2']:.4f}")
    feats = features.build(mesh)
    config = fit.regressor.field.config
    print(f"code: {fit.regressor.codes_.shape[1]:,} numbers per member"
          + (f" (random sines: {config.mlp.random_features:,})" if config.codes.heads else ""))
    adam_config = CodeFitConfig(time_budget_s=args.new_budget, stop_at=TARGET_R2, optimizer="adam", start="mean")
    print(f"  {'held-out member':22s} {'fit-new R²':>10s} {'t(0.99)':>8s} {'passes':>7s} {'Adam R²':>8s} {'t(0.99)':>8s} "
          f"{'interp R²':>9s} {'span R²':>8s} {'sines R²':>8s} {'scratch R²':>10s} {'t(0.99)':>8s} {'steps':>6s}")
    adam_speedups = []
    for h in fit.held_out:
        adam, _ = fit_new_member(fit.regressor, feats, collection.values[h.member], adam_config)
        new, scratch = h.fit_new, h.scratch
        t_scratch = scratch.time_to_target_s
        adam_speedups.append(0.0 if adam.time_to_target_s is None else
                             (np.inf if t_scratch is None else t_scratch / adam.time_to_target_s))
        interp = h.interpolated.r2 if h.interpolated else float("nan")
        print(f"  {collection.names[h.member]:22s} {new.r2:10.4f} {_t(new.time_to_target_s):>8s} {new.steps:7d} "
              f"{adam.r2:8.4f} {_t(adam.time_to_target_s):>8s} {interp:9.4f} {h.span.r2:8.4f} {_r2(h.sines):>8s} {scratch.r2:10.4f} {_t(t_scratch):>8s} "
              f"{scratch.steps:6d}", flush=True)
    speedups = fit.speedups()
    print(f"fit-new speed-up to R² 0.99 (median over held-out members; 0 = fit-new never got there within "
          f"{args.new_budget:g} s, inf = only fit-new did): L-BFGS {np.median(speedups):.2f}x, Adam from the mean code "
          f"{np.median(adam_speedups):.2f}x")
    print(f"compression: {summary['shared_bytes'] / 1e3:.0f} kB shared + {summary['code_bytes'] / 1e3:.0f} kB codes vs "
          f"{summary['raw_bytes'] / 1e6:.1f} MB raw: {summary['compression']:.2f}x", flush=True)
    return {"members": collection.n_members, "nodes": mesh.n_vertices, "held_out": len(held), "train_steps": steps,
            "mean_r2": summary["mean_r2"], "worst_r2": summary["worst_r2"], "heldout_r2": summary["heldout_r2"],
            "heldout_interp_r2": summary["heldout_interp_r2"], "heldout_span_r2": summary["heldout_span_r2"],
            "heldout_fit_new_r2": [h.fit_new.r2 for h in fit.held_out], "heldout_span_r2s": [h.span.r2 for h in fit.held_out],
            "heldout_sines_r2": summary.get("heldout_sines_r2"),
            "heldout_sines_r2s": [h.sines.r2 if h.sines else None for h in fit.held_out], "code_size": int(fit.regressor.codes_.shape[1]),
            "fit_new_s": [h.fit_new.time_to_target_s for h in fit.held_out],
            "scratch_s": [h.scratch.time_to_target_s for h in fit.held_out],
            "speedups": speedups, "fit_new_speedup": float(np.median(speedups)),
            "fit_new_adam_speedup": float(np.median(adam_speedups)), "compression": summary["compression"]}


def smooth_family(n: int = 12):
    """A travelling pattern whose phase and amplitude change smoothly with one parameter p, on a 61 x 120 grid."""
    mesh = latlon_grid(np.linspace(-90, 90, 61), np.arange(-180, 180, 3.0))
    x, y, z = mesh.vertices.T
    p = np.linspace(0, 1, n)
    values = np.stack([np.sin(3 * x + 2 * q) * np.cos(2 * y - q) + (0.5 + q) * z**2 + 0.3 * np.sin(5 * z + 3 * q) for q in p])
    return mesh, Collection(values, [f"p={q:.3f}" for q in p], {"p": p}, "smooth family")


def _r2(fit):
    return "-" if fit is None else f"{fit.r2:.4f}"


def _t(seconds):
    return "never" if seconds is None else f"{seconds:.1f}s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--textures", type=int, choices=sorted(TEXTURE_GRIDS), default=32,
                        help="bunny textures: 32 (8 F x 4 k, 4 held out; default) or 8 (4 x 2, 2 held out)")
    parser.add_argument("--gs-steps", type=int, default=30_000, help="Gray-Scott steps per texture (default 30000, cached)")
    parser.add_argument("--budget", type=float, default=240.0, help="training budget per setup in seconds (default 240)")
    parser.add_argument("--new-budget", type=float, default=45.0,
                        help="seconds for each held-out member's fit-new, and the same for its from-scratch model (default 45)")
    parser.add_argument("--modulation", default=DEFAULT_MODULATION, choices=MODULATIONS)
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--random-features", type=int, default=DEFAULT_RANDOM_FEATURES,
                        help=f"heads: random sines beside the trained layers (default {DEFAULT_RANDOM_FEATURES})")
    parser.add_argument("--only", choices=["bunny", "era", "smooth"])
    args = parser.parse_args()
    results = {"modulation": args.modulation, "random_features": args.random_features, "budget_s": args.budget,
               "new_budget_s": args.new_budget}
    if args.only in (None, "bunny"):
        mesh, _ = load_mesh(DATA / "bunny.ply")
        feeds, kills, n_held = TEXTURE_GRIDS[args.textures]
        # 32 textures x 30,000 steps on the bunny pass a server's default GINR_MAX_NODE_STEPS: the benchmark needs them
        node_steps = len(feeds) * len(kills) * args.gs_steps * mesh.n_vertices
        os.environ["GINR_MAX_NODE_STEPS"] = str(max(node_steps, float(os.environ.get("GINR_MAX_NODE_STEPS", 0))))
        t0 = time.perf_counter()
        collection = gray_scott_collection(mesh, F=feeds, k=kills, steps=args.gs_steps)
        print(f"Gray-Scott family: {time.perf_counter() - t0:.0f} s (cached after the first run)")
        held = choose_held_out(collection, n_held, "F")
        results["bunny_gray_scott"] = {**run_setup("bunny Gray-Scott", mesh, collection, "F", held, args),
                                       "textures": args.textures, "gs_steps": args.gs_steps}
    if args.only in (None, "era"):
        with open_grid(DATA / "eraint_uvz.nc") as grid:
            mesh, collection = grid_collection(grid, stride=2)
        held = [i for i, name in enumerate(collection.names) if "level=500" in name and "month=1" in name]
        results["era_fields"] = run_setup("ERA-Interim fields", mesh, collection, "level", held, args)
    if args.only in (None, "smooth"):
        mesh, collection = smooth_family()
        results["smooth_family"] = run_setup("smooth family", mesh, collection, "p", choose_held_out(collection, 2, "p"), args)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
