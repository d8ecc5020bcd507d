"""Super-resolution benchmark: train on a coarse mesh, predict on a fine one, score the nodes only the fine one has.

    python bench/superres.py           # k=100, 60 s per strategy; ~13 min on a 2-core CPU
    python bench/superres.py --quick   # k=36, 20 s per strategy; ~5 min

Two setups with ground truth, every strategy of ginr_core.tasks.superres at the same model and training budget:
- bunny: fine = the cleaned bunny with the paper's Gray-Scott texture (computed on the fine mesh); coarse =
  a pyvista decimation to ~25% of the vertices, each vertex snapped to its nearest fine vertex, so the coarse
  vertices are a subset of the fine ones. "sh" does not apply (not a sphere).
- era: fine = eraint_uvz.nc z at 500 hPa, January, 241 x 480; coarse = every second latitude and longitude
  (121 x 240), coarse node (i, j) = fine node (2i, 2j).
Reported per strategy: R^2 on the fine-only nodes (the score), R^2 on the coarse training nodes, seconds.
Training goes through ginr_core.tasks.superres.super_resolve with its low first-layer omega_0 (the fitting
default, 90, memorises the coarse nodes and generalises badly to the nodes between them; --first-omega).
Ends with one JSON line {"bunny": {strategy: R^2 fine-only, ...}, "era": {...}} (null: does not apply / failed).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ginr_core.geometry.domains import latlon_grid  # noqa: E402
from ginr_core.data.gridded import open_grid  # noqa: E402
from ginr_core.geometry.mesh import Mesh, clean_mesh, load_mesh  # noqa: E402
from ginr_core.learning.metrics import r2  # noqa: E402
from ginr_core.learning.model_config import EncoderConfig, MLPConfig, ModelConfig  # noqa: E402
from ginr_core.data.signals import gray_scott  # noqa: E402
from ginr_core.tasks.superres import SUPERRES_FIRST_OMEGA_0, STRATEGIES, strategies_for, subset_correspondence, super_resolve  # noqa: E402
from ginr_core.learning.training import TrainConfig  # noqa: E402

DATA = REPO.parent / "shared" / "data"
BUNNY = DATA / "bunny.ply"
ERA = DATA / "eraint_uvz.nc"


# --- setups ---------------------------------------------------------------------------------------------


def decimated_subset(fine: Mesh, reduction: float = 0.75) -> tuple[Mesh, np.ndarray]:
    """A coarse mesh whose vertices are fine vertices: pyvista decimation, then each vertex snapped to the
    nearest fine vertex (vertices snapping to the same one merged, degenerate faces dropped, largest component
    kept). Returns (coarse, correspondence)."""
    import pyvista as pv

    faces = np.hstack([np.full((fine.n_faces, 1), 3), fine.faces]).ravel()
    dec = pv.PolyData(fine.vertices, faces).decimate(reduction)
    dec_faces = np.asarray(dec.faces).reshape(-1, 4)[:, 1:]
    _, nearest = cKDTree(fine.vertices).query(np.asarray(dec.points))
    used, remap = np.unique(nearest, return_inverse=True)  # merge vertices that snap to the same fine vertex
    new_faces = remap[dec_faces]
    ok = (new_faces[:, 0] != new_faces[:, 1]) & (new_faces[:, 1] != new_faces[:, 2]) & (new_faces[:, 0] != new_faces[:, 2])
    coarse, _ = clean_mesh(Mesh(fine.vertices[used], new_faces[ok], name="bunny-decimated"))
    return coarse, subset_correspondence(coarse, fine)


def bunny_setup() -> tuple[Mesh, Mesh, np.ndarray, np.ndarray]:
    if not BUNNY.is_file():
        sys.exit(f"The Stanford bunny is needed at {BUNNY} (../shared/data beside the repository).")
    fine, _ = load_mesh(BUNNY)
    t0 = time.perf_counter()
    truth = np.asarray(gray_scott(fine).v, dtype=np.float64)
    print(f"bunny: Gray-Scott truth on the fine mesh in {time.perf_counter() - t0:.1f}s", flush=True)
    coarse, corr = decimated_subset(fine)
    return coarse, fine, corr, truth


def era_setup() -> tuple[Mesh, Mesh, np.ndarray, np.ndarray]:
    if not ERA.is_file():
        sys.exit(f"The ERA-Interim file is needed at {ERA} (../shared/data beside the repository).")
    grid = open_grid(ERA)
    truth = grid.field("z", month=0, level=grid.index_of("level", 500))
    lat, lon = np.asarray(grid.lat), np.asarray(grid.lon)
    fine = latlon_grid(lat, lon)
    coarse = latlon_grid(lat[::2], lon[::2])
    ii, jj = np.meshgrid(np.arange(0, len(lat), 2), np.arange(0, len(lon), 2), indexing="ij")
    corr = (ii * len(lon) + jj).ravel().astype(np.int64)
    # the correspondence is built from indices: pole rows repeat one position, so a position match cannot be used
    assert np.allclose(coarse.vertices, fine.vertices[corr])
    return coarse, fine, corr, truth


# --- one strategy ---------------------------------------------------------------------------------------


def run_strategy(strategy, coarse, fine, corr, truth, model: ModelConfig, budget_s: float) -> dict | None:
    fine_only = np.setdiff1d(np.arange(fine.n_vertices), corr)
    t0 = time.perf_counter()
    try:
        reg, pred_fine, tr = super_resolve(coarse, fine, truth[corr], strategy, k=model.encoder.k, correspondence=corr,
                                           model_config=model,
                                           train_config=TrainConfig(time_budget_s=budget_s, snapshot_every_s=None))
    except Exception as exc:  # a strategy that fails is reported, not fatal
        print(f"  [{strategy}] failed: {exc}", flush=True)
        traceback.print_exc()
        return None
    pred_coarse = reg.predict(tr.coarse_features)
    steps = reg.history_[-1]["step"] if reg.history_ else 0
    out = {
        "r2_fine_only": float(r2(truth[fine_only], pred_fine[fine_only])),
        "r2_coarse_train": float(r2(truth[corr], pred_coarse)),
        "r2_fine_at_coarse": float(r2(truth[corr], pred_fine[corr])),  # fine features at the shared nodes
                "elapsed_s": round(time.perf_counter() - t0, 1),
        "steps": steps,
    }
    print(
        f"  [{strategy:6s}] R^2 fine-only {out['r2_fine_only']:.5f}   R^2 coarse (train) {out['r2_coarse_train']:.5f}   "
        f"R^2 fine@coarse {out['r2_fine_at_coarse']:.5f}   total {out['elapsed_s']:.1f}s, {steps} steps",
        flush=True,
    )
    return out


def run_setup(name, setup, model, budget_s, only) -> tuple[dict, dict]:
    t0 = time.perf_counter()
    coarse, fine, corr, truth = setup()
    n_only = fine.n_vertices - len(corr)
    print(
        f"\n{name}: coarse {coarse.n_vertices:,} vertices / {coarse.n_faces:,} faces, fine {fine.n_vertices:,} vertices, "
        f"{n_only:,} fine-only nodes scored; setup {time.perf_counter() - t0:.1f}s", flush=True,
    )
    applicable = strategies_for(coarse, fine, has_correspondence=True)
    scores, details = {}, {}
    for strategy in STRATEGIES:
        if strategy not in applicable or (only and strategy not in only):
            scores[strategy] = None
            if strategy not in applicable:
                print(f"  [{strategy:6s}] does not apply", flush=True)
            continue
        d = run_strategy(strategy, coarse, fine, corr, truth, model, budget_s)
        details[strategy] = d
        scores[strategy] = None if d is None else round(d["r2_fine_only"], 5)
    return scores, details


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="k=36, 20 s per strategy")
    parser.add_argument("--k", type=int, default=None, help="embedding size (default 100; 36 with --quick)")
    parser.add_argument("--budget", type=float, default=None, help="training seconds per strategy (default 60; 20 with --quick)")
    parser.add_argument("--first-omega", type=float, default=SUPERRES_FIRST_OMEGA_0,
                        help=f"first-layer omega_0 (default {SUPERRES_FIRST_OMEGA_0:g}, the library's super-resolution default)")
    parser.add_argument("--setups", default="bunny,era", help="comma-separated: bunny, era")
    parser.add_argument("--strategies", default="", help="comma-separated subset of strategies (default all)")
    args = parser.parse_args()
    k = args.k or (36 if args.quick else 100)
    budget = args.budget or (20.0 if args.quick else 60.0)
    only = [s for s in args.strategies.split(",") if s]
    model = ModelConfig(EncoderConfig(k=k), MLPConfig(first_omega_0=args.first_omega, omega_0=30.0))
    print(f"k={k}, {budget:.0f}s training per strategy, first_omega_0={args.first_omega}, omega_0=30", flush=True)

    t0 = time.perf_counter()
    result, details = {}, {}
    setups = {"bunny": bunny_setup, "era": era_setup}
    for name in [s for s in args.setups.split(",") if s]:
        result[name], details[name] = run_setup(name, setups[name], model, budget, only)
    print(f"\ntotal {time.perf_counter() - t0:.0f}s; details: {json.dumps(details)}", flush=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
