"""Training benchmark: how fast does the default recipe fit the bunny Gray-Scott texture?

    python bench/training.py           # ~13 min on a 2-core CPU
    python bench/training.py --quick   # ~3 min, shorter budgets

Measures, on all 34,834 nodes (full-domain R^2; the task is fitting, as in the paper):
1. the default recipe (ginr_core.learning.training defaults): time to R^2 >= 0.99 and >= 0.999, snapshot overhead;
2. the reference recipe (6 x 512 sine, skip, AdamW 1e-4, 5000-node batches, plateau) for the same wall time;
3. final MSE / R^2 of a longer default run;
4. Table 2 of the paper at equal budget: INR (xyz input) and GINR (spectral input), ReLU and sine.
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
from ginr_core.geometry.features import FeatureSpec  # noqa: E402
from ginr_core.runs.spec import RunInputs  # noqa: E402
from ginr_core.learning.device import describe_device  # noqa: E402
from ginr_core.geometry.mesh import Mesh, load_mesh  # noqa: E402
from ginr_core.learning.metrics import evaluate  # noqa: E402
from ginr_core.learning.models import ModelConfig  # noqa: E402
from ginr_core.data.signals import gray_scott  # noqa: E402
from ginr_core.geometry.spectral import spectral_embedding  # noqa: E402
from ginr_core.learning.training import GINRRegressor, Progress, TrainConfig  # noqa: E402

BUNNY = REPO.parent / "shared" / "data" / "bunny.ply"
K = 100


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


def train(name: str, features, target, model: ModelConfig, budget_s: float, **train) -> tuple[GINRRegressor, Recorder, dict]:
    config = TrainConfig(time_budget_s=budget_s, log_every=1, **train)
    recorder = Recorder(name)
    reg = GINRRegressor(model, config).fit(features, target, callback=recorder)
    metrics = evaluate(target, reg.predict(features))
    steps = reg.history_[-1]["step"] if reg.history_ else 0
    print(f"  [{name}] done: {steps} steps, R^2 {metrics['r2']:.5f}, MSE {metrics['mse']:.3e}, PSNR {metrics['psnr']:.1f} dB", flush=True)
    return reg, recorder, metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter budgets (~3 min)")
    args = parser.parse_args()
    budget, long_budget, table_budget = (60.0, None, 15.0) if args.quick else (150.0, 300.0, 45.0)

    features, mesh, target = load_bunny_problem()
    print(f"Bunny: {len(target)} nodes, {features.shape[1]} spectral columns", flush=True)

    default = ModelConfig()
    print(f"\n1. Default recipe, {budget:.0f}s budget: {default}", flush=True)
    reg, rec, _ = train("default", features, target, default, budget, snapshot_every_s=2.0)
    snapshot_share = reg.snapshot_seconds_ / budget
    device = describe_device()  # after fit(), which sets the CPU thread count
    print(f"  time to R^2 0.99: {rec.hits[0.99]}s, 0.999: {rec.hits[0.999]}s; snapshots every 2 s cost {100 * snapshot_share:.2f}% of the time", flush=True)

    print(f"\n2. Reference recipe (6 x 512 sine, AdamW 1e-4, batch 5000, plateau), {budget:.0f}s budget", flush=True)
    reference = ModelConfig(n_layers=6, hidden=512, omega_0=30.0, first_omega_0=30.0, skip=True)
    _, _, ref_metrics = train("reference", features, target, reference, budget, lr=1e-4, batch_size=5000, schedule="plateau", optimizer="adamw")

    if long_budget:
        print(f"\n3. Longer default run, {long_budget:.0f}s budget", flush=True)
        _, _, final = train("long", features, target, default, long_budget)
    else:
        final = evaluate(target, reg.predict(features))

    print(f"\n4. Table 2 layout, {table_budget:.0f}s each", flush=True)
    results = compare_models(ComparisonRequest(RunInputs(mesh, target), FeatureSpec("combinatorial", K), table_budget))
    for name, result in results.items():
        print(f"  [{name}] {result.elapsed_s:6.1f}s step {result.steps:5d}  R^2 {result.metrics['r2']:.5f}", flush=True)
    table = {name: round(result.metrics["r2"], 5) for name, result in results.items()}
    print("\n  R^2      ReLU     sine\n  INR   " + f"{table['inr_relu']:8.4f} {table['inr_sine']:8.4f}\n  GINR  {table['ginr_relu']:8.4f} {table['ginr_sine']:8.4f}")

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
            }
        )
    )


if __name__ == "__main__":
    main()
