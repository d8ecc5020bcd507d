"""Backends benchmark: what does running on Ray cost, and what does a sweep on Ray Tune gain?

    python bench/backends.py           # ~8 min on a 2-core CPU
    python bench/backends.py --quick   # ~3 min: 8 s runs, shorter trials

1. The same training run (the bunny Gray-Scott texture when ../shared/data/bunny.ply is there, else a Gray-Scott
   texture on the built-in torus; default recipe, k = 100, 20 s budget) on the local backend and on a local Ray,
   timed from submit to done in this process. The Ray figure is given cold (the first Ray job of the process
   starts a worker, which imports torch) and warm (a worker already running, as for every later job).
2. An 8-trial sweep (4 learning rates x 2 seeds, held-out R²) on Ray Tune with ASHA against the same 8 trials
   trained one after another on the local backend.
Figures taken on a shared machine are noisy. Ends with one JSON line: ray_overhead (warm Ray wall time / local
wall time - 1), ray_overhead_cold, sweep_speedup (serial time / sweep time) and the figures behind them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ginr_core.data.signals import gray_scott  # noqa: E402
from ginr_core.geometry.domains import torus  # noqa: E402
from ginr_core.geometry.features import FeatureSpec  # noqa: E402
from ginr_core.geometry.mesh import load_mesh  # noqa: E402
from ginr_core.learning.model_config import ModelConfig  # noqa: E402
from ginr_core.learning.training import TrainConfig  # noqa: E402
from ginr_core.runs.actions import launch, submit  # noqa: E402
from ginr_core.runs.backend_config import BackendConfig  # noqa: E402
from ginr_core.runs.backends import resources  # noqa: E402
from ginr_core.runs.registry import Registry  # noqa: E402
from ginr_core.runs.fitting import RunRequest  # noqa: E402
from ginr_core.runs.spec import RunInputs, RunSpec, Source  # noqa: E402
from ginr_core.tasks.sweep import SweepRequest, sweep_task, sweep_train_config  # noqa: E402

BUNNY = REPO.parent / "shared" / "data" / "bunny.ply"
LOCAL, RAY = BackendConfig("local"), BackendConfig("ray")
SWEEP_GRID = {"lr": (5e-4, 1e-3, 2e-3, 4e-3), "seed": (0, 1)}


def problem():
    if BUNNY.is_file():
        mesh, _ = load_mesh(BUNNY)
        name = "bunny"
    else:
        mesh, name = torus(), "torus"
    t0 = time.perf_counter()
    target = gray_scott(mesh).v
    print(f"{name}: {mesh.n_vertices:,} nodes, Gray-Scott texture in {time.perf_counter() - t0:.1f} s", flush=True)
    return name, mesh, target


def timed_run(request: RunRequest, registry: Registry, backend: BackendConfig) -> dict:
    t0 = time.perf_counter()
    state = launch(request, registry, backend=backend).join()
    wall = time.perf_counter() - t0
    assert state.status == "done", state.error
    return {"wall_s": wall, "r2": state.result.metrics["r2"], "steps": state.result.steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 s runs and 30-step trials")
    args = parser.parse_args()
    budget, trial_steps = (8.0, 30) if args.quick else (20.0, 60)
    name, mesh, target = problem()
    registry = Registry()
    features = FeatureSpec("combinatorial", 100)
    features.build(mesh)  # the embedding is cached on disk for both backends (same machine)
    spec = RunSpec("fit", Source("bench", name), Source("generated", "gray-scott"), features, ModelConfig(),
                   TrainConfig(time_budget_s=budget, snapshot_every_s=2.0))
    request = RunRequest.from_spec(spec, RunInputs(mesh, target))

    t0 = time.perf_counter()
    seen = resources(RAY)  # the Ray driver process, and a local Ray in it
    print(f"local Ray started in {time.perf_counter() - t0:.1f} s: {seen['CPU']:g} CPUs, {seen['GPU']:g} GPUs", flush=True)
    warm_up = RunRequest.from_spec(replace(spec, train=TrainConfig(steps=5, time_budget_s=None)), request.inputs)
    timed_run(warm_up, registry, LOCAL)  # the process's first training (torch's own start-up) is timed for neither
    local = timed_run(request, registry, LOCAL)
    cold = timed_run(request, registry, RAY)
    warm = timed_run(request, registry, RAY)
    for label, r in (("local", local), ("ray (cold worker)", cold), ("ray (warm worker)", warm)):
        print(f"{budget:g} s run on {label:18s}: {r['wall_s']:6.1f} s wall, {r['steps']:5d} steps, R² {r['r2']:.5f}")
    overhead, overhead_cold = warm["wall_s"] / local["wall_s"] - 1, cold["wall_s"] / local["wall_s"] - 1
    print(f"Ray overhead: {overhead:+.1%} warm, {overhead_cold:+.1%} cold (goal <= +10%)", flush=True)

    sweep = SweepRequest(RunInputs(mesh, target), SWEEP_GRID, FeatureSpec("combinatorial", 64),
                         train=sweep_train_config(trial_steps), score="heldout", report_every=max(10, trial_steps // 6),
                         grace_steps=max(10, trial_steps // 3), backend=RAY, domain=spec.domain, signal=spec.signal)
    t0 = time.perf_counter()
    state = submit(sweep_task, sweep, registry, label="sweep").join()
    sweep_s = time.perf_counter() - t0
    assert state.status == "done", state.error
    rows = state.result.rows
    stopped = sum(r["status"] == "stopped by ASHA" for r in rows)
    print(f"sweep on Ray Tune (ASHA, {int(seen['CPU'])} trials at once): {sweep_s:.1f} s, {stopped} of {len(rows)} "
          f"stopped early, best held-out R² {state.result.best['score']:.4f}", flush=True)

    t0 = time.perf_counter()
    serial_scores = []
    for lr in SWEEP_GRID["lr"]:
        for seed in SWEEP_GRID["seed"]:
            trial = sweep.spec({"lr": lr, "seed": seed})
            done = launch(RunRequest.from_spec(trial, sweep.inputs), registry, backend=LOCAL).join()
            assert done.status == "done", done.error
            serial_scores.append(done.result.metrics["r2"])
    serial_s = time.perf_counter() - t0
    print(f"the same 8 trials one after another (local, to the end): {serial_s:.1f} s, best held-out R² "
          f"{max(serial_scores):.4f}")
    speedup = serial_s / sweep_s
    print(f"sweep speedup: {speedup:.2f}x (concurrency and early stopping; Tune's start-up included)")
    print("note: wall-clock figures on a machine shared with other work are noisy")
    print(json.dumps({
        "problem": name, "nodes": mesh.n_vertices, "budget_s": budget,
        "local_wall_s": round(local["wall_s"], 2), "ray_wall_s": round(warm["wall_s"], 2),
        "ray_cold_wall_s": round(cold["wall_s"], 2), "ray_overhead": round(overhead, 4),
        "ray_overhead_cold": round(overhead_cold, 4), "local_steps": local["steps"], "ray_steps": warm["steps"],
        "sweep_trials": len(rows), "trial_steps": trial_steps, "sweep_s": round(sweep_s, 2),
        "sweep_stopped_early": stopped, "serial_s": round(serial_s, 2), "sweep_speedup": round(speedup, 3),
        "sweep_best_r2": round(state.result.best["score"], 5), "serial_best_r2": round(max(serial_scores), 5),
    }))


if __name__ == "__main__":
    main()
