"""Training benchmark: how fast does the default recipe fit the bunny Gray-Scott texture?

    python bench/training.py                  # ~17 min on a 2-core CPU
    python bench/training.py --quick          # ~6 min, shorter budgets in sections 1-4
    python bench/training.py --anytime-only   # ~4 min, section 5 alone (its JSON keys only)
    python bench/training.py --meshfeat-only  # ~4 min, section 6 alone (its JSON keys and the default's beside)

Measures, on all 34,834 nodes (full-domain R^2; the task is fitting, as in the paper):
1. the default recipe (ginr_core.learning.recipes.DEFAULT_FIT): time to R^2 >= 0.99 and >= 0.999 (as Progress
   reports it: a batch estimate between snapshots), snapshot overhead;
2. the paper's reference recipe (recipes.PAPER_FIT) for the same wall time;
3. final MSE / R^2 of a longer default run;
4. Table 2 of the paper at equal budget: INR (xyz input) and GINR (spectral input), ReLU and sine;
5. anytime: what a user gets for a budget, a fresh run per budget (3, 5, 10, 30 s), final R^2 on all nodes and the
   run's wall time over its budget; the held-out R^2 at 10 s (20% of the nodes left out, R^2 there); ERA-Interim
   z500 of January (241 x 480, exact spherical harmonics, k = 100) at 10 s; each beside the previous default
   recipe (recipes.PREVIOUS_FIT) in the same run;
6. MeshFeat (learning/meshfeat.py: feature tables on the bunny and its 1/4, 1/16, 1/64 decimations, a small ReLU
   MLP) at the same budgets, the same held-out nodes and on ERA z500 at 10 s, beside the default recipe run in the
   same process; the hierarchies' build times are reported apart, as the spectral embedding's is; the held-out
   nodes also by harmonic interpolation (no network: the reference a generalisation score should be read against).
Ends with one JSON line (thresholds not reached are null).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ginr_core.tasks.compare import ComparisonRequest, compare_models  # noqa: E402
from ginr_core.data.gridded import open_grid  # noqa: E402
from ginr_core.geometry.features import FeatureSpec  # noqa: E402
from ginr_core.geometry.sphere import SPHERE_EMBEDDING  # noqa: E402
from ginr_core.runs.spec import RunInputs  # noqa: E402
from ginr_core.learning.device import describe_device  # noqa: E402
from ginr_core.geometry.mesh import Mesh, load_mesh  # noqa: E402
from ginr_core.learning.metrics import evaluate  # noqa: E402
from ginr_core.geometry.hierarchy import mesh_hierarchy  # noqa: E402
from ginr_core.learning.meshfeat import MeshFeatConfig, MeshFeatRegressor  # noqa: E402
from ginr_core.geometry.laplacian import mesh_laplacian  # noqa: E402
from ginr_core.tasks.interpolation import at_nodes, graph_interpolate  # noqa: E402
from ginr_core.learning.model_config import EncoderConfig, MLPConfig, ModelConfig  # noqa: E402
from ginr_core.learning.recipes import DEFAULT_FIT, PAPER_FIT, PREVIOUS_FIT, FitRecipe  # noqa: E402
from ginr_core.data.signals import gray_scott  # noqa: E402
from ginr_core.geometry.spectral import spectral_embedding  # noqa: E402
from ginr_core.learning.training import GINRRegressor, Progress, TrainConfig  # noqa: E402

BUNNY = REPO.parent / "shared" / "data" / "bunny.ply"
ERA = REPO.parent / "shared" / "data" / "eraint_uvz.nc"
K = 100
ANYTIME_BUDGETS = (3.0, 5.0, 10.0, 30.0)
HELD_OUT = 0.2  # share of the nodes left out of the held-out fit


def load_bunny_problem() -> tuple[np.ndarray, Mesh, np.ndarray]:
    """(spectral features (n, K), the mesh, Gray-Scott target (n,)) on the bunny, as the paper:
    the cleaned bun_zipper mesh, 30,000 Gray-Scott steps, combinatorial Laplacian embedding."""
    if not BUNNY.is_file():
        sys.exit(f"The Stanford bunny is needed at {BUNNY} (../shared/data beside the repository).")
    mesh, _ = load_mesh(BUNNY)
    t0 = time.perf_counter()
    target = gray_scott(mesh).v
    features = spectral_embedding(mesh, k=K).features
    print(f"Gray-Scott target and k={K} embedding ready in {time.perf_counter() - t0:.1f}s", flush=True)
    return features.astype(np.float32), mesh, target


class Recorder:
    """Progress callback: first times R^2 crosses the thresholds, plus a line every `every_s` seconds."""

    def __init__(self, name: str, thresholds=(0.99, 0.999), every_s: float = 15.0):
        self.name, self.every_s, self.last = name, every_s, -1e9
        self.hits: dict[float, float | None] = dict.fromkeys(thresholds)

    def __call__(self, p: Progress) -> None:
        for threshold, hit in self.hits.items():
            if hit is None and p.r2 >= threshold:
                self.hits[threshold] = round(p.elapsed_s, 1)
        if p.elapsed_s - self.last >= self.every_s:
            self.last = p.elapsed_s
            print(f"  [{self.name}] {p.elapsed_s:6.1f}s step {p.step:5d}  R^2 {p.r2:.5f}  lr {p.lr:.1e}  {p.steps_per_s:.2f} steps/s", flush=True)


def train(name: str, features, target, recipe: FitRecipe, budget_s: float, **changes) -> tuple[GINRRegressor, Recorder, dict]:
    model, config = recipe.configs(time_budget_s=budget_s, log_every=1, **changes)
    recorder = Recorder(name)
    reg = GINRRegressor(model, config).fit(features, target, callback=recorder)
    metrics = evaluate(target, reg.predict(features))
    steps = reg.history_[-1]["step"] if reg.history_ else 0
    print(f"  [{name}] done: {steps} steps, R^2 {metrics['r2']:.5f}, MSE {metrics['mse']:.3e}, PSNR {metrics['psnr']:.1f} dB", flush=True)
    return reg, recorder, metrics


def fresh_fit(recipe: FitRecipe, features, target, budget_s: float, fit_rows=None, score_rows=None) -> tuple[float, float]:
    """(R^2 on `score_rows` (all by default) of a fresh run of `recipe` on `fit_rows`, its wall time / budget)."""
    model, train = recipe.configs(time_budget_s=budget_s)
    fit_rows = slice(None) if fit_rows is None else fit_rows
    score_rows = slice(None) if score_rows is None else score_rows
    t0 = time.perf_counter()
    reg = GINRRegressor(model, train).fit(features[fit_rows], target[fit_rows])
    wall = time.perf_counter() - t0
    return evaluate(target[score_rows], reg.predict(features[score_rows]))["r2"], wall / budget_s


def load_era_problem() -> tuple[np.ndarray, np.ndarray, Mesh]:
    """(spherical-harmonic features (n, K), z500 of January, the grid's mesh) on ERA-Interim's 241 x 480 grid."""
    if not ERA.is_file():
        sys.exit(f"The ERA-Interim file is needed at {ERA} (../shared/data beside the repository).")
    with open_grid(ERA) as grid:
        target = grid.field("z", month=0, level=grid.index_of("level", 500))
        mesh = grid.mesh()
    return FeatureSpec(SPHERE_EMBEDDING, K).build(mesh).astype(np.float32), target, mesh


def anytime(features, target) -> dict:
    """Section 5: the default and the previous recipe side by side, a fresh run per budget (see the docstring)."""
    out: dict = {}
    for key, recipe in (("", DEFAULT_FIT), ("_previous", PREVIOUS_FIT)):
        r2s, walls = {}, {}
        for budget in ANYTIME_BUDGETS:
            r2, wall = fresh_fit(recipe, features, target, budget)
            r2s[f"{budget:g}"], walls[f"{budget:g}"] = round(r2, 6), round(wall, 3)
            print(f"  [{recipe.label}] {budget:4g}s: R^2 {r2:.6f}, wall {wall:.3f} x budget", flush=True)
        out[f"anytime_r2{key}"], out[f"anytime_wall_fraction{key}"] = r2s, walls
    held = np.random.default_rng(0).random(len(target)) < HELD_OUT
    era_features, era_target, _ = load_era_problem()
    for key, recipe in (("", DEFAULT_FIT), ("_previous", PREVIOUS_FIT)):
        out[f"heldout_r2_10s{key}"] = round(fresh_fit(recipe, features, target, 10.0, ~held, held)[0], 6)
        out[f"era_r2_10s{key}"] = round(fresh_fit(recipe, era_features, era_target, 10.0)[0], 6)
        print(f"  [{recipe.label}] held-out R^2 at 10 s {out[f'heldout_r2_10s{key}']:.6f}; "
              f"ERA z500 R^2 at 10 s {out[f'era_r2_10s{key}']:.6f}", flush=True)
    return out


def meshfeat(mesh: Mesh, features, target) -> dict:
    """Section 6: MeshFeat beside the default recipe, a fresh run per budget, and both held out at 10 s."""
    t0 = time.perf_counter()
    hierarchy = mesh_hierarchy(mesh)
    out: dict = {"meshfeat_hierarchy_s": round(time.perf_counter() - t0, 2), "meshfeat_levels": list(hierarchy.level_sizes)}
    print(f"  hierarchy {hierarchy.level_sizes} in {out['meshfeat_hierarchy_s']}s; {MeshFeatConfig()}", flush=True)
    MeshFeatRegressor(hierarchy).fit(target, steps=2)  # warm-up, as the trainer's in main()
    held = np.random.default_rng(0).random(len(target)) < HELD_OUT
    r2s, unexplained, walls, default_r2s = {}, {}, {}, {}
    for budget in ANYTIME_BUDGETS:
        start = time.perf_counter()
        reg = MeshFeatRegressor(hierarchy).fit(target, time_budget_s=budget)
        walls[f"{budget:g}"] = round((time.perf_counter() - start) / budget, 3)
        r2 = evaluate(target, reg.predict())["r2"]
        r2s[f"{budget:g}"], unexplained[f"{budget:g}"] = round(r2, 6), float(f"{1 - r2:.3g}")
        default_r2s[f"{budget:g}"] = round(fresh_fit(DEFAULT_FIT, features, target, budget)[0], 6)
        print(f"  {budget:4g}s: MeshFeat R^2 {r2:.6f} (1 - R^2 = {1 - r2:.2e}; {reg.steps_} steps, wall "
              f"{walls[f'{budget:g}']:.3f} x budget); default recipe {default_r2s[f'{budget:g}']:.6f}", flush=True)
    reg = MeshFeatRegressor(hierarchy).fit(target[~held], np.flatnonzero(~held), time_budget_s=10.0)
    out["meshfeat_heldout_r2_10s"] = round(evaluate(target[held], reg.predict()[held])["r2"], 6)
    heldout_default = round(fresh_fit(DEFAULT_FIT, features, target, 10.0, ~held, held)[0], 6)
    seen = at_nodes(mesh, np.flatnonzero(~held), target, "random", "the held-out fit's nodes")
    out["heldout_harmonic_r2"] = round(evaluate(target[held], graph_interpolate(mesh_laplacian(mesh)[0], seen)[held])["r2"], 6)
    print(f"  held-out R^2 at 10 s: MeshFeat {out['meshfeat_heldout_r2_10s']:.6f}, default recipe {heldout_default:.6f}; "
          f"harmonic interpolation of the same nodes (no training) {out['heldout_harmonic_r2']:.6f}", flush=True)
    era_features, era_target, era_mesh = load_era_problem()
    t0 = time.perf_counter()
    era_hierarchy = mesh_hierarchy(era_mesh)
    out["meshfeat_era_hierarchy_s"] = round(time.perf_counter() - t0, 2)
    reg = MeshFeatRegressor(era_hierarchy).fit(era_target, time_budget_s=10.0)
    out["meshfeat_era_r2_10s"] = round(evaluate(era_target, reg.predict())["r2"], 6)
    era_default = round(fresh_fit(DEFAULT_FIT, era_features, era_target, 10.0)[0], 6)
    print(f"  ERA z500 R^2 at 10 s: MeshFeat {out['meshfeat_era_r2_10s']:.6f} (hierarchy {era_hierarchy.level_sizes} in "
          f"{out['meshfeat_era_hierarchy_s']}s), default recipe {era_default:.6f}", flush=True)
    return {**out, "meshfeat_anytime_r2": r2s, "meshfeat_anytime_1_minus_r2": unexplained,
            "meshfeat_anytime_wall_fraction": walls, "meshfeat_default_anytime_r2": default_r2s, "meshfeat_default_heldout_r2_10s": heldout_default,
            "meshfeat_default_era_r2_10s": era_default}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter budgets in sections 1-4 (~6 min)")
    parser.add_argument("--anytime-only", action="store_true", help="section 5 alone (~4 min; its JSON keys only)")
    parser.add_argument("--meshfeat-only", action="store_true", help="section 6 alone (~4 min; its JSON keys only)")
    args = parser.parse_args()
    budget, long_budget, table_budget = (60.0, None, 15.0) if args.quick else (150.0, 300.0, 45.0)

    features, mesh, target = load_bunny_problem()
    print(f"Bunny: {len(target)} nodes, {features.shape[1]} spectral columns", flush=True)
    GINRRegressor(ModelConfig(EncoderConfig(k=4), MLPConfig(hidden=8)), TrainConfig(steps=2, time_budget_s=None)).fit(features[:64], target[:64])
    # ^ warm-up: the first optimizer of a process imports torch._dynamo (seconds), which no budget should pay

    if args.meshfeat_only:
        print("\n6. MeshFeat beside the default recipe, a fresh run per budget", flush=True)
        print(json.dumps({"device": describe_device(), **meshfeat(mesh, features, target)}))
        return

    print("\n5. Anytime: a fresh run per budget, default and previous recipe", flush=True)
    anytime_figures = anytime(features, target)
    if args.anytime_only:
        print(json.dumps({"device": describe_device(), **anytime_figures}))
        return

    print(f"\n1. Default recipe, {budget:.0f}s budget: {DEFAULT_FIT.model}, {DEFAULT_FIT.train}", flush=True)
    reg, rec, _ = train("default", features, target, DEFAULT_FIT, budget, snapshot_every_s=2.0)
    snapshot_share = reg.snapshot_seconds_ / budget
    device = describe_device()  # after fit(), which sets the CPU thread count
    print(f"  time to R^2 0.99: {rec.hits[0.99]}s, 0.999: {rec.hits[0.999]}s; snapshots every 2 s cost {100 * snapshot_share:.2f}% of the time", flush=True)

    print(f"\n2. Reference recipe ({PAPER_FIT.label}), {budget:.0f}s budget", flush=True)
    _, _, ref_metrics = train("reference", features, target, PAPER_FIT, budget)

    if long_budget:
        print(f"\n3. Longer default run, {long_budget:.0f}s budget", flush=True)
        _, _, final = train("long", features, target, DEFAULT_FIT, long_budget)
    else:
        final = evaluate(target, reg.predict(features))

    print(f"\n4. Table 2 layout, {table_budget:.0f}s each", flush=True)
    results = compare_models(ComparisonRequest(RunInputs(mesh, target), FeatureSpec("combinatorial", K), table_budget))
    for name, result in results.items():
        print(f"  [{name}] {result.elapsed_s:6.1f}s step {result.steps:5d}  R^2 {result.metrics['r2']:.5f}", flush=True)
    table = {name: round(result.metrics["r2"], 5) for name, result in results.items()}
    print("\n  R^2      ReLU     sine\n  INR   " + f"{table['inr_relu']:8.4f} {table['inr_sine']:8.4f}\n  GINR  {table['ginr_relu']:8.4f} {table['ginr_sine']:8.4f}")

    print("\n6. MeshFeat beside the default recipe, a fresh run per budget", flush=True)
    meshfeat_figures = meshfeat(mesh, features, target)

    print(
        json.dumps(
            {
                "device": device,
                "t_r2_099_s": rec.hits[0.99],
                "t_r2_0999_s": rec.hits[0.999],
                "reference_r2_at_budget": round(ref_metrics["r2"], 5),
                "budget_s": budget,
                "snapshot_overhead": round(snapshot_share, 4),
                "final_r2": round(final["r2"], 6),
                "final_mse": final["mse"],
                "table2": table,
                **anytime_figures,
                **meshfeat_figures,
            }
        )
    )


if __name__ == "__main__":
    main()
