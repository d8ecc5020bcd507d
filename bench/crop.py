"""Croppable GINRs on the bunny's Gray-Scott texture: Local-Global vs a network per part vs the plain GINR at equal
parameter counts, a crop of 25% of the parts, and an extension against retraining everything.

    python bench/crop.py            # 16 spectral parts, 120 s per model; ~12 min on a 2-core CPU
    python bench/crop.py --quick    # 40 s per model; ~5 min

1. Time (and steps) to R² 0.99 and 0.999 for each model, the default recipe (Adam 2e-3, cosine over the budget,
   one CPU thread; the plain GINR on 8192-node batches with its output layer solved at the end, the partitioned
   models on full batches, see TrainConfig.batch_size): the plain 4 x 128 GINR, a Local-Global model of the same size (global 3 x H holding
   ~10% of the weights, plus 3-layer local networks) and a network per part of the same size.
2. Crop 25% of the parts (chosen at random, seeded) from the Local-Global model, without overlap and with a
   one-hop overlap (a second Local-Global model): weights removed, kept-node R² before and after.
3. Extend: train the cropped parts' local networks back (everything else frozen): the time until their nodes'
   error is back to the uncropped model's error there (shortest of budget / 8, / 4, / 2, 1 that gets there),
   against the whole model's training time (extend_speedup).
The Gray-Scott texture (~20 s) is cached on disk. Wall-clock figures on a shared CPU are noisy; steps are not.
Ends with one JSON line: kept_r2_delta, param_reduction, extend_speedup and the per-model times.
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

from ginr_core.data.signals import gray_scott  # noqa: E402
from ginr_core.geometry.mesh import load_mesh  # noqa: E402
from ginr_core.geometry.partition import partition_mesh  # noqa: E402
from ginr_core.geometry.spectral import spectral_embedding  # noqa: E402
from ginr_core.storage.paths import cache_dir  # noqa: E402
from ginr_core.learning.metrics import r2  # noqa: E402
from ginr_core.learning.model_config import EncoderConfig, ModelConfig  # noqa: E402
from ginr_core.learning.fields import equal_size_configs, parameter_count  # noqa: E402
from ginr_core.learning.training import GINRRegressor, TrainConfig  # noqa: E402
from ginr_core.tasks.crop import crop, extend  # noqa: E402

BUNNY = REPO.parent / "shared" / "data" / "bunny.ply"
THRESHOLDS = (0.99, 0.999)
LABELS = {"mlp": "plain GINR", "local_global": "Local-Global", "per_part": "network per part"}


def cached_gray_scott(mesh) -> np.ndarray:
    path = cache_dir() / "bench" / f"gray-scott-{mesh.content_hash()}.npy"
    if path.exists():
        return np.load(path)
    t0 = time.perf_counter()
    values = np.asarray(gray_scott(mesh).v, dtype=np.float64)
    print(f"Gray-Scott texture in {time.perf_counter() - t0:.1f} s (cached at {path})", flush=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, values)
    return values


def first_reaching(history: list[dict], threshold: float, key: str) -> float | None:
    return next((row[key] for row in history if row["r2"] >= threshold), None)


def r2_at(history: list[dict], key: str, value: float) -> float:
    """R² of the last row at or before `value` of `key` (step or elapsed_s)."""
    return max((row for row in history if row[key] <= value), key=lambda row: row[key])["r2"]


def train(config: ModelConfig, features, target, parts, budget: float) -> GINRRegressor:
    reg = GINRRegressor(config, TrainConfig(time_budget_s=budget, threads=1, snapshot_every_s=None, log_every=1))
    return reg.fit(features, target, parts=parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="40 s per model instead of 120")
    parser.add_argument("--parts", type=int, default=16, help="number of parts (default 16)")
    args = parser.parse_args()
    if not BUNNY.is_file():
        sys.exit(f"The Stanford bunny is needed at {BUNNY} (../shared/data beside the repository).")
    budget = 40.0 if args.quick else 120.0
    mesh, _ = load_mesh(BUNNY)
    target = cached_gray_scott(mesh)
    features = spectral_embedding(mesh, k=100).features
    t0 = time.perf_counter()
    partition = partition_mesh(mesh, args.parts, "spectral", features=features)
    print(f"bunny: {mesh.n_vertices:,} nodes, {args.parts} spectral parts ({partition.sizes().min()}..{partition.sizes().max()} "
          f"nodes) in {time.perf_counter() - t0:.1f} s", flush=True)

    # 1. time to R^2 at equal parameter counts
    configs = equal_size_configs(ModelConfig(EncoderConfig(k=100)), 100, args.parts)
    models, times = {}, {}
    for kind, config in configs.items():
        reg = train(config, features, target, None if kind == "mlp" else partition, budget)
        models[kind] = reg
        h = reg.history_
        times[kind] = {f"s_to_{t}": first_reaching(h, t, "elapsed_s") for t in THRESHOLDS}
        times[kind].update({f"steps_to_{t}": first_reaching(h, t, "step") for t in THRESHOLDS})
        times[kind].update(params=parameter_count(reg.model_), steps=h[-1]["step"], steps_per_s=h[-1]["step"] / h[-1]["elapsed_s"],
                           final_r2=reg.score(features, target, parts=None if kind == "mlp" else partition))
        mlp, local = config.mlp, config.partition
        shape = f"{mlp.n_layers} x {mlp.hidden}" if kind == "mlp" else (
            f"global {mlp.n_layers} x {mlp.hidden} + {args.parts} x local {local.local_layers} x {local.local_hidden}"
            if kind == "local_global" else f"{args.parts} x local {local.local_layers} x {local.local_hidden}")
        t = times[kind]
        print(f"{LABELS[kind]:17s} {t['params']:6,} weights ({shape}): R² 0.99 after {t['s_to_0.99']} s / {t['steps_to_0.99']} steps, "
              f"0.999 after {t['s_to_0.999']} s / {t['steps_to_0.999']} steps; final R² {t['final_r2']:.6f} "
              f"({t['steps']} steps, {t['steps_per_s']:.2f} steps/s)", flush=True)

    fewest = min(t["steps"] for t in times.values())
    for kind, reg in models.items():  # equal steps (what each step learns) and equal time (what a step costs)
        times[kind].update({f"r2_at_step_{fewest}": r2_at(reg.history_, "step", fewest),
                            f"r2_at_{budget / 2:g}_s": r2_at(reg.history_, "elapsed_s", budget / 2)})
        print(f"{LABELS[kind]:17s} R² after {fewest} steps {times[kind][f'r2_at_step_{fewest}']:.5f}, "
              f"after {budget / 2:g} s {times[kind][f'r2_at_{budget / 2:g}_s']:.5f}", flush=True)

    # 2. crop 25% of the parts, without and with overlap
    remove = sorted(np.random.default_rng(0).choice(args.parts, args.parts // 4, replace=False).tolist())
    overlapping = partition_mesh(mesh, args.parts, "spectral", features=features, overlap=1)
    lg_overlap = train(configs["local_global"], features, target, overlapping, budget)
    crops = {}
    for name, reg, part in (("no overlap", models["local_global"], partition), ("1-hop overlap", lg_overlap, overlapping)):
        cropped, report = crop(reg, features, target, part, remove)
        crops[name] = report
        print(f"crop parts {remove} ({name}): weights {report.params_before:,} -> {report.params_after:,} "
              f"(-{report.param_reduction:.1%}); kept-node R² {report.r2_before:.6f} -> {report.r2_after:.6f} "
              f"(change {report.r2_change:+.2e}, largest prediction change {report.max_change:.2e})", flush=True)
        if name == "no overlap":
            cropped_lg = cropped

    # 3. extend the cropped parts back until their nodes are as accurate as in the uncropped model, against the
    # time the whole model trained to get there. The cosine schedule decays over the budget given, so the shortest
    # budget that gets there is found by trying budget / 8, / 4, / 2 and the whole budget in turn.
    full = models["local_global"]
    full_time = full.history_[-1]["elapsed_s"]
    full_prediction = full.predict(features, parts=partition)
    home = np.isin(partition.labels, remove)
    for fraction in (0.125, 0.25, 0.5, 1.0):
        extended, report = extend(cropped_lg, features, target, partition, remove,
                                  TrainConfig(time_budget_s=fraction * budget, threads=1, snapshot_every_s=None, log_every=1),
                                  reference=full_prediction)
        print(f"extend parts {remove} with {fraction * budget:g} s: {report.nodes:,} nodes, "
              f"{report.params_after - report.params_before:,} new weights ({report.steps} steps), others unchanged: "
              f"{report.others_unchanged}; back to the uncropped accuracy on them after {report.seconds_to_reference} s; "
              f"R² on them {report.r2_added:.6f} (uncropped {r2(target[home], full_prediction[home]):.6f}), on all nodes "
              f"{report.r2_represented:.6f}", flush=True)
        if report.seconds_to_reference is not None:
            break
    extend_time = report.seconds_to_reference
    print(f"extension back to the uncropped accuracy: {extend_time} s; the whole model trained {full_time:.0f} s", flush=True)
    speedup = None if extend_time is None else full_time / extend_time
    print(json.dumps({
        "kept_r2_delta": max(abs(r.r2_change) for r in crops.values()),
        "kept_r2_delta_no_overlap": abs(crops["no overlap"].r2_change),
        "param_reduction": crops["no overlap"].param_reduction,
        "extend_speedup": speedup,
        "extend_others_unchanged": report.others_unchanged,
        "models": times,
        "budget_s": budget,
    }))


if __name__ == "__main__":
    main()
