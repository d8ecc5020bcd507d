"""`ginr sweep`: one model per combination of settings on Ray Tune, ASHA stopping the trials that trail."""

from __future__ import annotations

import sys

from ..errors import GinrError
from .common import add_backend_options, add_laplacian_option, add_mesh_options, add_signal_options, follow, load_signal, mesh_and_source

OPTIONS = {"k": "k", "activation": "activation", "width": "width", "depth": "depth", "omega_0": "omega0",
           "first_omega_0": "first-omega0", "lr": "lr", "seed": "seeds"}  # sweep parameter -> its option
HELP = {"k": "embedding sizes", "activation": "activations, e.g. sine,relu", "width": "hidden widths",
        "depth": "linear layers in total", "omega_0": "hidden-layer omega_0 values", "first_omega_0": "first-layer omega_0 values",
        "lr": "learning rates", "seed": "seeds of the models' initial weights"}


def cmd_sweep(args) -> None:
    import numpy as np

    from ..geometry.features import FeatureSpec
    from ..learning.recipes import SWEEP_GRID, comma_list, list_text
    from ..runs.actions import submit
    from ..runs.backend_config import BackendConfig, operator_backend
    from ..runs.backends import configured_backend
    from ..runs.registry import Registry
    from ..runs.spec import RunInputs
    from ..tasks.sweep import SCORES, SWEEP_PARAMETERS, SweepRequest, sweep_task, sweep_train_config

    grid = {name: comma_list(getattr(args, option.replace("-", "_")), SWEEP_PARAMETERS[name][1], f"--{option}",
                             list_text(SWEEP_GRID[name], ","))
            for name, option in OPTIONS.items()}  # checked before the signal is computed
    mesh, domain = mesh_and_source(args)
    target, signal = load_signal(args, mesh)
    backend, ray = configured_backend(), operator_backend("ray")  # the trials always run on Ray
    backend = backend if backend.name == "ray" else BackendConfig("ray", ray.address, args.gpu or ray.gpu)
    request = SweepRequest(RunInputs(mesh, target), grid, FeatureSpec(args.laplacian, grid["k"][0]),
                           train=sweep_train_config(args.steps), score=args.score, holdout=args.holdout,
                           search=args.search, samples=args.samples, asha=not args.no_asha,
                           report_every=args.report_every, grace_steps=args.grace, max_concurrent=args.max_concurrent,
                           backend=backend, domain=domain, signal=signal)
    print(f"{request.n_trials} trials of {args.steps} steps on {backend.label}, scored by {SCORES[args.score]}", file=sys.stderr)
    state = follow(submit(sweep_task, request, Registry(), label="sweep", start=False), "Sweep")  # trials on Ray
    result = state.result
    names = result.parameters
    print("  ".join(f"{n:>13s}" for n in (*names, "score", "step", "status")) + "  run")
    for row in sorted(result.rows, key=lambda r: np.inf if r["score"] is None else -r["score"]):
        cells = [f"{row[n]:>13}" if isinstance(row[n], str) else f"{row[n]:>13g}" for n in names]
        score = "" if row["score"] is None else f"{row['score']:.5f}"
        print("  ".join([*cells, f"{score:>13s}", f"{row['step']:>13d}", f"{row['status']:>13s}"]) + f"  {row['run_id']}")
    best = result.best
    if best is None:
        raise GinrError("No trial trained to the end: nothing to recommend.")
    print(f"best: {SCORES[args.score]} {best['score']:.5f}, run {best['run_id']} (`ginr runs {best['run_id']}`); "
          f"{sum(r['status'] == 'stopped by ASHA' for r in result.rows)} trials stopped early by ASHA, {result.seconds:.0f} s")


def register(sub) -> None:
    from ..learning.recipes import SWEEP_GRID, default_of, list_text
    from ..tasks.sweep import SCORES, SEARCHES, SweepRequest, sweep_train_config

    p = sub.add_parser("sweep", help="sweep k, activation, width, depth, omega_0, lr, seed on Ray Tune (each trial a run)",
                       description="Train one model per combination of the given values (comma-separated) on Ray Tune, "
                       "each for --steps steps; ASHA stops the trials that trail. Every trial is a registered run.")
    add_mesh_options(p)
    add_signal_options(p)
    for name, option in OPTIONS.items():
        p.add_argument(f"--{option}", default=list_text(SWEEP_GRID[name], ","), help=f"{HELP[name]} (default %(default)s)")
    add_laplacian_option(p)
    request = {name: default_of(SweepRequest, name) for name in ("score", "holdout", "search", "samples", "report_every",
                                                                 "grace_steps", "max_concurrent")}
    p.add_argument("--score", choices=list(SCORES), default=request["score"],
                   help="heldout: R² on held-out nodes (generalisation; default); fit: R² on all nodes (memorisation)")
    p.add_argument("--holdout", type=float, default=request["holdout"], help="held-out fraction for --score heldout (default %(default)s)")
    p.add_argument("--search", choices=SEARCHES, default=request["search"], help="grid: every combination; random: --samples draws")
    p.add_argument("--samples", type=int, default=request["samples"], help="random: trials; grid: repeats of the grid (default %(default)s)")
    p.add_argument("--steps", type=int, default=default_of(sweep_train_config, "steps"),
                   help="training steps per trial (default %(default)s)")
    p.add_argument("--no-asha", action="store_true", help="train every trial to the end (no early stopping)")
    p.add_argument("--grace", type=int, default=request["grace_steps"], help="steps before ASHA may stop a trial (default %(default)s)")
    p.add_argument("--report-every", type=int, default=request["report_every"], help="steps between a trial's scores (default %(default)s)")
    p.add_argument("--max-concurrent", type=int, default=request["max_concurrent"],
                   help="trials at once (default: what Ray's CPUs allow)")
    add_backend_options(p)
    p.set_defaults(func=cmd_sweep)
