"""`ginr train`, `ginr rerun`, `ginr predict`, `ginr export`, `ginr runs`: single-signal runs and the registry."""

from __future__ import annotations

import argparse
import os
import sys

from ..errors import GinrError
from .common import (
    ProgressBar,
    add_backend_options,
    add_input_options,
    add_mesh_options,
    add_signal_options,
    follow,
    input_features,
    load_signal,
    mesh_and_source,
    mesh_from_args,
)


def print_fit(state) -> None:
    outcome, m = state.result, state.result.metrics
    where = "all nodes" if "r2_fit" not in m else f"{m['n_scored']:,} held-out nodes (R2 on the training nodes {m['r2_fit']:.6f})"
    print(f"run {outcome.run_id}: {state.status} after {outcome.steps} steps, {outcome.elapsed_s:.1f} s of training "
          f"({state.progress.elapsed_s:.1f} s in all, with the embedding, the final evaluation and saving)")
    print(f"scored on {where}")
    print(f"R2 {m['r2']:.6f}  MSE {m['mse']:.3g}  PSNR {m['psnr']:.2f} dB  max|err| {m['max_abs_error']:.3g}  "
          f"trimmed R2 (90/95) {m['r2_trimmed_90']:.6f} / {m['r2_trimmed_95']:.6f}")


def reference_sample(path: str):
    """(mesh, target, domain source, signal source) of one npz file in the reference implementation's layout."""
    from ..io.reference_dataset import read_reference_sample, sample_mesh
    from ..runs.spec import Source

    sample = read_reference_sample(path)
    mesh = sample_mesh(sample)
    target = sample.target[:, 0] if sample.target.shape[1] == 1 else sample.target
    data = open(path, "rb").read()
    return mesh, target, Source.of_bytes("reference", os.path.basename(path), data), Source.of_bytes(
        "reference", os.path.basename(path), data, label=f"target of {os.path.basename(path)}")


def cmd_train(args) -> None:
    from dataclasses import replace

    from ..learning.device import describe_device
    from ..learning.recipes import FIT_RECIPES
    from ..runs.actions import launch
    from ..runs.registry import Registry
    from ..runs.fitting import RunRequest
    from ..runs.spec import RunInputs

    if args.reference:
        mesh, target, domain, signal = reference_sample(args.reference)
    else:
        mesh, domain = mesh_and_source(args)
        target, signal = load_signal(args, mesh)
    recipe = FIT_RECIPES[args.recipe]  # the flags given change the recipe's model and training
    model_changes = {"n_layers": args.layers, "hidden": args.hidden, "activation": args.activation, "omega_0": args.omega0,
                     "first_omega_0": args.first_omega0, "skip": False if args.no_skip else None}
    model_config = replace(recipe.model, mlp=replace(recipe.model.mlp, **{key: value for key, value in model_changes.items()
                                                                          if value is not None}))
    train_changes = {"lr": args.lr} if args.lr is not None else {}
    if args.batch_size is not None:
        train_changes["batch_size"] = args.batch_size or None  # 0: all nodes
    _, train_config = recipe.configs(time_budget_s=args.budget, steps=args.steps, seed=args.seed, device=args.device,
                                     **train_changes)
    options = {"fraction": args.holdout, "seed": args.seed} if args.holdout else {}
    request = RunRequest(RunInputs(mesh, target), "heldout" if args.holdout else "fit", input_features(args), model_config,
                         train_config, options, domain=domain, signal=signal)
    print(f"training on {describe_device(args.device)}: {mesh.n_vertices:,} nodes, {request.spec().label}", file=sys.stderr)
    print_fit(follow(launch(request, Registry(), start=False), "Training"))


def cmd_rerun(args) -> None:
    from dataclasses import replace

    from ..runs.actions import launch, rerun_request
    from ..runs.registry import Registry

    registry = Registry()
    request = rerun_request(registry, args.run)
    if args.budget is not None:
        request = replace(request, train=replace(request.train, time_budget_s=args.budget))
    print(f"re-running {args.run}: {request.spec().label}", file=sys.stderr)
    print_fit(follow(launch(request, registry, start=False), "Training"))


def cmd_predict(args) -> None:
    import numpy as np

    from ..runs.actions import predict_run
    from ..runs.registry import Registry

    mesh = mesh_from_args(args) if (args.mesh or args.domain) else None
    with ProgressBar("Predicting") as bar:
        mesh, prediction = predict_run(Registry(), args.run, mesh, progress=bar)
    np.save(args.out, prediction)
    print(f"wrote {args.out}: {prediction.shape} predictions on {mesh.n_vertices:,} nodes")


def cmd_export(args) -> None:
    from pathlib import Path

    from ..runs.actions import export_run
    from ..runs.registry import Registry
    from ..viz.rules import View

    try:
        view = View(cmap=args.colour_map, up=args.up, draw_as=args.draw_as).with_range(args.colour_range)
    except ValueError as exc:
        raise GinrError(str(exc)) from None
    data, name = export_run(Registry(), args.run, args.format, view, args.error)
    out = Path(args.out or name)
    out.write_bytes(data)
    print(f"wrote {out} ({len(data) / 2**20:.2f} MB)")


def cmd_runs(args) -> None:
    import json

    from ..runs.kinds import listed_kind
    from ..runs.registry import Registry

    registry = Registry()
    if args.run:
        run = registry.get(args.run)
        print(json.dumps({"id": run.id, "created": run.created, "status": run.status, "path": str(run.path),
                          "description": run.description, "config": run.config, "metrics": run.metrics,
                          "error": run.error}, indent=2))
        return
    runs = registry.list_runs(status=args.status, limit=args.limit)
    if not runs:
        print("no runs")
        return
    print(f"{'id':26s} {'created':19s} {'status':11s} {'R2':>9s}  domain / signal / input / task")
    for r in runs:
        r2 = (r.metrics or {}).get("r2")
        d = r.description
        print(f"{r.id:26s} {r.created[:19]:19s} {r.status:11s} {'' if r2 is None else f'{r2:.6f}':>9s}  "
              f"{d.get('domain', '')} / {d.get('signal', '')} / {d.get('input', '')} / {listed_kind(d.get('task')).label}")


def _add_view_options(parser: argparse.ArgumentParser) -> None:
    """How figures are drawn (html export): the dashboard's View settings, through ginr_core.viz.rules."""
    from ..viz.rules import DRAW_AS, SEQUENTIAL_MAPS, UP_AXES

    parser.add_argument("--colour-map", choices=SEQUENTIAL_MAPS, default=SEQUENTIAL_MAPS[0],
                        help="colour map of signals (errors: white to dark; signed values: diverging at 0)")
    parser.add_argument("--colour-range", default="auto", metavar="auto|full|MIN,MAX",
                        help="auto: 0.5-99.5th percentiles (stated on the colour bar); full: min to max; or MIN,MAX")
    parser.add_argument("--up", choices=UP_AXES, default="auto", help="up axis (auto: from the mesh's extent)")
    parser.add_argument("--draw-as", choices=DRAW_AS, default="mesh", help="draw the values on the mesh or as points")


def register(sub) -> None:
    from ..learning.metrics import ERROR_KINDS
    from ..learning.model_config import ACTIVATIONS, MLPConfig
    from ..learning.recipes import FIT_RECIPES
    from ..learning.training import TrainConfig
    from ..runs.actions import EXPORT_FORMATS

    mdef, tdef = MLPConfig(), TrainConfig()
    p = sub.add_parser("train", help="train a GINR (or a classic INR) on a signal; the run is saved in the registry",
                       description="Train a neural field on a per-vertex signal. Defaults are the measured CPU recipe "
                       f"({mdef.n_layers} x {mdef.hidden} {mdef.activation} MLP, first-layer omega_0 {mdef.first_omega_0:g}, "
                       f"{tdef.batch_size}-node batches, Adam {tdef.lr:g}, {tdef.schedule} schedule, then the output layer "
                       "solved by least squares); --recipe picks another, and the other flags change it.")
    add_mesh_options(p)
    add_signal_options(p)
    p.add_argument("--reference", metavar="FILE.npz",
                   help="train on a file of the reference implementation's dataset layout (points, faces, target; its "
                   "features are rebuilt from the mesh) instead of --mesh/--domain and --signal")
    add_input_options(p)
    p.add_argument("--holdout", type=float, default=0.0,
                   help="fraction of nodes held out of training and scored (generalisation); default 0 = fit all nodes")
    p.add_argument("--recipe", choices=list(FIT_RECIPES), default="default",
                   help="; ".join(f"{name}: {recipe.label}" for name, recipe in FIT_RECIPES.items()))
    p.add_argument("--layers", type=int, default=None, help=f"linear layers in total (default {mdef.n_layers})")
    p.add_argument("--hidden", type=int, default=None, help=f"hidden width (default {mdef.hidden})")
    p.add_argument("--activation", choices=ACTIVATIONS, default=None, help="activation (default sine = SIREN)")
    p.add_argument("--omega0", type=float, default=None, help=f"sine frequency of hidden layers (default {mdef.omega_0:g})")
    p.add_argument("--first-omega0", type=float, default=None,
                   help=f"sine frequency of the first layer (default {mdef.first_omega_0:g})")
    p.add_argument("--no-skip", action="store_true", help="no skip connection to the middle layer")
    p.add_argument("--budget", type=float, default=tdef.time_budget_s, help="time budget in seconds (default %(default)g)")
    p.add_argument("--steps", type=int, default=tdef.steps, help="maximum steps (default: none, the budget decides)")
    p.add_argument("--lr", type=float, default=None, help=f"learning rate (default {tdef.lr:g})")
    p.add_argument("--batch-size", type=int, default=None, help=f"nodes per step, 0 = all nodes (default {tdef.batch_size})")
    p.add_argument("--device", default=tdef.device, help="auto (cuda, then mps, else cpu), cpu, cuda, cuda:1, mps")
    add_backend_options(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("rerun", help="train a registered run again from its spec (same data, model and recipe)")
    p.add_argument("run", help="run id (see `ginr runs`)")
    p.add_argument("--budget", type=float, default=None, help="a new time budget in seconds (default: the run's own)")
    add_backend_options(p)
    p.set_defaults(func=cmd_rerun)

    p = sub.add_parser("predict", help="predict a trained run's signal on its mesh (or another) and save .npy")
    p.add_argument("run", help="run id (see `ginr runs`)")
    add_mesh_options(p, default_domain=None)
    p.add_argument("--out", default="prediction.npy", help="output file (default %(default)s)")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("export", help="export a run: mesh with scalars (ply), reference npz, checkpoint, html figure")
    p.add_argument("run", help="run id (see `ginr runs`)")
    p.add_argument("--format", choices=list(EXPORT_FORMATS), default="ply",
                   help="what to write (default %(default)s); npz is the reference implementation's dataset layout")
    p.add_argument("--out", help="output file (default RUN_ID.EXT)")
    p.add_argument("--error", choices=ERROR_KINDS, default="squared",
                   help="the error the html figure maps per node (default %(default)s)")
    _add_view_options(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("runs", help="list runs, or show one run's configuration and metrics")
    p.add_argument("run", nargs="?", help="a run id to show in full")
    p.add_argument("--status", choices=["running", "done", "failed", "cancelled", "interrupted"], help="only runs with this status")
    p.add_argument("--limit", type=int, default=30, help="most recent N runs (default %(default)s)")
    p.set_defaults(func=cmd_runs)
