"""The `ginr` command line: the same core the dashboard uses, one subcommand per capability.

User errors (bad files, wrong signal lengths...) print one line to stderr and exit with status 2;
no traceback is shown for them.
"""

from __future__ import annotations

import argparse
import os
import sys

from .errors import GinrError


def _mesh_from_args(args):
    """A mesh from `--mesh FILE` or `--domain NAME` (built-in), with cleaning messages printed."""
    return _mesh_and_source(args)[0]


def _mesh_and_source(args):
    """(mesh, Source) from `--mesh FILE` or `--domain NAME`: the run spec records where the domain came from."""
    from .geometry.domains import make_domain
    from .geometry.mesh import load_mesh
    from .runs.spec import Source

    if args.mesh:
        mesh, report = load_mesh(args.mesh, components=args.components)
        for message in report.messages():
            print(f"note: {message}", file=sys.stderr)
        return mesh, Source("file", args.mesh, {"components": args.components}, mesh.content_hash(), os.path.basename(args.mesh))
    return make_domain(args.domain), Source("builtin", args.domain, {}, None, args.domain)


def _add_view_options(parser: argparse.ArgumentParser) -> None:
    """How figures are drawn (html export): the dashboard's View settings, through ginr_core.viz.rules."""
    from .viz.rules import DRAW_AS, SEQUENTIAL_MAPS, UP_AXES

    parser.add_argument("--colour-map", choices=SEQUENTIAL_MAPS, default=SEQUENTIAL_MAPS[0],
                        help="colour map of signals (errors: white to dark; signed values: diverging at 0)")
    parser.add_argument("--colour-range", default="auto", metavar="auto|full|MIN,MAX",
                        help="auto: 0.5-99.5th percentiles (stated on the colour bar); full: min to max; or MIN,MAX")
    parser.add_argument("--up", choices=UP_AXES, default="auto", help="up axis (auto: from the mesh's extent)")
    parser.add_argument("--draw-as", choices=DRAW_AS, default="mesh", help="draw the values on the mesh or as points")


def _add_mesh_options(parser: argparse.ArgumentParser, default_domain: str | None = "icosphere") -> None:
    from .geometry.domains import BUILTIN_DOMAINS

    group = parser.add_mutually_exclusive_group()
    group.add_argument("--mesh", metavar="FILE", help="mesh file (ply, obj, off, stl, glb)")
    group.add_argument(
        "--domain",
        default=default_domain,
        choices=sorted(BUILTIN_DOMAINS),
        help=f"built-in domain used when no --mesh is given (default: {default_domain or 'the run’s own mesh'})",
    )
    parser.add_argument(
        "--components",
        choices=["largest", "error"],
        default="largest",
        help="disconnected meshes: keep the largest piece (default) or stop with an error",
    )


class _ProgressBar:
    """A tqdm bar driven by the core's `progress(fraction, message)` callbacks."""

    def __init__(self, description: str):
        from tqdm import tqdm

        self.bar = tqdm(total=1000, desc=description, file=sys.stderr, disable=None,  # silent when not a terminal
                        bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining} {postfix}")

    def __call__(self, fraction: float, message: str = "") -> None:
        if message:
            self.bar.set_postfix_str(message[:60], refresh=False)
        target = int(1000 * min(max(fraction, 0.0), 1.0))
        if target > self.bar.n:
            self.bar.update(target - self.bar.n)  # update() honours tqdm's refresh interval

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.bar.close()


def _load_signal(args, mesh):
    """A per-vertex signal: a file, a PLY property, or a generated one (see `ginr signal`)."""
    from pathlib import Path

    from .data.signals import (
        ANALYTIC_SIGNALS,
        analytic_signal,
        gray_scott,
        load_vertex_signal,
        vertex_property_signal,
    )
    from .geometry.sphere import random_sh_field

    spec = args.signal
    if spec == "gray-scott":
        with _ProgressBar("Gray-Scott") as bar:
            return gray_scott(mesh, steps=args.gs_steps, progress=bar).v
    if spec == "sh-field":
        return random_sh_field(mesh, max_degree=args.sh_degree, seed=args.seed)
    if spec in ANALYTIC_SIGNALS:
        return analytic_signal(mesh, spec)
    if spec.startswith("property:"):
        return vertex_property_signal(mesh, spec.split(":", 1)[1])
    if Path(spec).suffix.lower() in (".npy", ".csv", ".txt"):
        return load_vertex_signal(spec, None, mesh)
    raise GinrError(
        f"Unknown signal '{spec}'. Use gray-scott, sh-field, {', '.join(ANALYTIC_SIGNALS)}, property:NAME "
        "or a .npy / .csv file."
    )


def _add_signal_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--signal",
        default="gray-scott",
        help="gray-scott (the paper's texture; default), sh-field (sphere domains), an analytic kind "
        "(sines, height, bumps, checker), property:NAME (a PLY vertex property) or a .npy/.csv file",
    )
    parser.add_argument("--gs-steps", type=int, default=30_000, help="Gray-Scott steps (default 30000, as the paper)")
    parser.add_argument("--sh-degree", type=int, default=8, help="maximum degree of an sh-field (default 8)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of an sh-field (default 0)")


def cmd_embed(args) -> None:
    import numpy as np

    from .geometry.spectral import spectral_embedding

    mesh = _mesh_from_args(args)
    with _ProgressBar(f"Embedding {mesh.n_vertices:,} nodes, k={args.k}") as bar:
        emb = spectral_embedding(mesh, k=args.k, laplacian=args.laplacian, cache=not args.no_cache, progress=bar)
    np.savez(args.out, features=emb.features, eigenvalues=emb.eigenvalues, vertices=mesh.vertices, faces=mesh.faces)
    print(f"eigenvalues {emb.eigenvalues[0]:.3g} .. {emb.eigenvalues[-1]:.4g} ({args.laplacian} Laplacian)")
    print(f"wrote {args.out}: features ({mesh.n_vertices}, {args.k}), eigenvalues, vertices, faces")


def cmd_signal(args) -> None:
    import numpy as np

    mesh = _mesh_from_args(args)
    values = _load_signal(args, mesh)
    np.save(args.out, values)
    print(f"wrote {args.out}: {values.shape} values, range {values.min():.4g} .. {values.max():.4g}")


def _features_for(mesh, kind: str, k: int | None):
    """A run's features (FeatureSpec.build: the spectral embedding, cached on disk, or xyz) with a progress bar."""
    from .geometry.features import FeatureSpec

    spec = FeatureSpec(kind, k)
    with _ProgressBar(f"Features of {mesh.n_vertices:,} nodes: {spec.label}") as bar:
        return spec.build(mesh, progress=bar)


def _follow(job, what: str):
    """Run a job in the background with a progress bar until it ends (Ctrl-C cancels it); its final state."""
    import time

    job.start()
    with _ProgressBar(what) as bar:
        try:
            while not job.done:
                p = job.state.progress
                if p is not None:
                    bar(p.fraction, p.message)
                time.sleep(0.2)
        except KeyboardInterrupt:
            print("\ncancelling...", file=sys.stderr)
            job.cancel()
        state = job.join()
        bar(1.0)
    if state.status == "failed":
        raise GinrError(f"{what.lower()} failed: {state.error}")
    return state


def _print_fit(state) -> None:
    outcome, m = state.result, state.result.metrics
    where = "all nodes" if "r2_fit" not in m else f"{m['n_scored']:,} held-out nodes (R2 on the training nodes {m['r2_fit']:.6f})"
    print(f"run {outcome.run_id}: {state.status} after {outcome.steps} steps, {outcome.elapsed_s:.1f} s of training "
          f"({state.progress.elapsed_s:.1f} s in all, with the embedding, the final evaluation and saving)")
    print(f"scored on {where}")
    print(f"R2 {m['r2']:.6f}  MSE {m['mse']:.3g}  PSNR {m['psnr']:.2f} dB  max|err| {m['max_abs_error']:.3g}  "
          f"trimmed R2 (90/95) {m['r2_trimmed_90']:.6f} / {m['r2_trimmed_95']:.6f}")


def cmd_train(args) -> None:
    from dataclasses import replace

    from .geometry.features import SPHERE_EMBEDDING, XYZ, FeatureSpec
    from .learning.device import describe_device
    from .learning.recipes import FIT_RECIPES
    from .runs.actions import launch
    from .runs.registry import Registry
    from .runs.spec import RunInputs, RunRequest, RunSpec, Source

    if args.reference:
        mesh, target, domain, signal = _reference_sample(args.reference)
    else:
        mesh, domain = _mesh_and_source(args)
        target, signal = _load_signal(args, mesh), Source("generated", args.signal, {}, None, args.signal)
    kind = XYZ if args.input == "xyz" else {"sh": SPHERE_EMBEDDING}.get(args.embedding, args.embedding)
    recipe = FIT_RECIPES[args.recipe]  # the flags given change the recipe's model and training
    model_changes = {"n_layers": args.layers, "hidden": args.hidden, "activation": args.activation, "omega_0": args.omega0,
                     "first_omega_0": args.first_omega0, "skip": False if args.no_skip else None}
    model_config = replace(recipe.model, **{key: value for key, value in model_changes.items() if value is not None})
    train_changes = {"lr": args.lr} if args.lr is not None else {}
    if args.batch_size is not None:
        train_changes["batch_size"] = args.batch_size or None  # 0: all nodes
    _, train_config = recipe.configs(time_budget_s=args.budget, steps=args.steps, seed=args.seed, device=args.device,
                                     **train_changes)
    options = {"fraction": args.holdout, "seed": args.seed} if args.holdout else {}
    spec = RunSpec("heldout" if args.holdout else "fit", domain, signal, FeatureSpec(kind, args.k), model_config,
                   train_config, options)
    print(f"training on {describe_device(args.device)}: {mesh.n_vertices:,} nodes, {spec.label}", file=sys.stderr)
    _print_fit(_follow(launch(RunRequest(spec, RunInputs(mesh, target)), Registry(), start=False), "Training"))


def _reference_sample(path: str):
    """(mesh, target, domain source, signal source) of one npz file in the reference implementation's layout."""
    from .io.reference_dataset import read_reference_sample, sample_mesh
    from .runs.spec import Source

    sample = read_reference_sample(path)
    mesh = sample_mesh(sample)
    target = sample.target[:, 0] if sample.target.shape[1] == 1 else sample.target
    data = open(path, "rb").read()
    return mesh, target, Source.of_bytes("reference", os.path.basename(path), data), Source.of_bytes(
        "reference", os.path.basename(path), data, label=f"target of {os.path.basename(path)}")


def cmd_rerun(args) -> None:
    from dataclasses import replace

    from .runs.actions import launch, rerun_request
    from .runs.registry import Registry

    registry = Registry()
    request = rerun_request(registry, args.run)
    if args.budget is not None:
        request = replace(request, spec=replace(request.spec, train=replace(request.spec.train, time_budget_s=args.budget)))
    print(f"re-running {args.run}: {request.spec.label}", file=sys.stderr)
    _print_fit(_follow(launch(request, registry, start=False), "Training"))


def cmd_predict(args) -> None:
    import numpy as np

    from .runs.actions import predict_run
    from .runs.registry import Registry

    mesh = _mesh_from_args(args) if (args.mesh or args.domain) else None
    with _ProgressBar("Predicting") as bar:
        mesh, prediction = predict_run(Registry(), args.run, mesh, progress=bar)
    np.save(args.out, prediction)
    print(f"wrote {args.out}: {prediction.shape} predictions on {mesh.n_vertices:,} nodes")


def cmd_export(args) -> None:
    from pathlib import Path

    from .runs.actions import export_run
    from .runs.registry import Registry
    from .viz.rules import View

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

    from .runs.registry import Registry

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
              f"{d.get('domain', '')} / {d.get('signal', '')} / {d.get('input', '')} / {d.get('task', '')}")


def cmd_superres(args) -> None:
    import numpy as np

    from .geometry.mesh import load_mesh
    from .learning.training import TrainConfig
    from .runs.actions import submit
    from .runs.registry import Registry
    from .runs.spec import Source
    from .tasks.superres import (
        SuperResolutionRequest,
        finer_mesh,
        strategies_for,
        subset_correspondence,
        superres_task,
    )

    coarse, domain = _mesh_and_source(args)
    if args.fine:
        fine, _ = load_mesh(args.fine)
        try:
            correspondence = subset_correspondence(coarse, fine)
        except GinrError:
            correspondence = None
    else:
        fine, correspondence = finer_mesh(coarse, args.subdivide)  # on a sphere, new vertices go onto the sphere
    allowed = strategies_for(coarse, fine, correspondence is not None)
    if args.strategy not in allowed:
        raise GinrError(f"Strategy '{args.strategy}' does not apply to these meshes; choose one of {', '.join(allowed)}.")
    target = _load_signal(args, coarse)
    known = args.signal in ("sines", "height", "bumps", "checker", "sh-field") and correspondence is not None
    fine_truth = _load_signal(args, fine) if known else None  # resolution-independent signals: the truth is known on the fine mesh
    print(f"coarse {coarse.n_vertices:,} nodes -> fine {fine.n_vertices:,} nodes, strategy {args.strategy}", file=sys.stderr)
    request = SuperResolutionRequest(coarse, fine, target, (args.strategy,), k=args.k, laplacian=args.laplacian,
                                     correspondence=correspondence, fine_truth=fine_truth,
                                     train_config=TrainConfig(time_budget_s=args.budget), domain=domain,
                                     signal=Source("generated", args.signal, {}, None, args.signal))
    state = _follow(submit(superres_task, request, Registry(), label="super-resolution", start=False), "Training on the coarse mesh")
    outcome = state.result[0]
    if outcome.status == "failed":
        raise GinrError(outcome.error)
    for note in outcome.notes:
        print(f"note: {note}", file=sys.stderr)
    np.save(args.out, outcome.fine_prediction)
    run = f"run {outcome.run_id}: " if outcome.run_id else ""  # the stacked network is not a registered run
    print(f"{run}wrote {args.out}: prediction on {fine.n_vertices:,} fine nodes ({outcome.seconds:.1f} s)")
    classical = [o for o in state.result if o.classical and o.fine_prediction is not None]
    for o in classical:  # interpolation of the same coarse values: the honest alternative
        np.save(f"{os.path.splitext(args.out)[0]}.{o.strategy}.npy", o.fine_prediction)
    print(f"classical interpolation of the same coarse values beside it: "
          f"{', '.join(f'{o.strategy} ({o.seconds:.1f} s)' for o in classical)}")
    if "r2_fine_only" in outcome.scores:
        print(f"R2 on the {len(request.fine_only):,} fine-only nodes:")
        for o in [outcome, *classical]:
            print(f"  {o.strategy:11s} {o.scores['r2_fine_only']:.5f}")


def cmd_compare(args) -> None:
    from .geometry.features import FeatureSpec
    from .learning.training import TrainConfig
    from .runs.actions import submit
    from .runs.registry import Registry
    from .runs.spec import RunInputs, Source
    from .tasks.compare import TABLE2, ComparisonRequest, comparison_task

    mesh, domain = _mesh_and_source(args)
    target = _load_signal(args, mesh)
    models = tuple(args.models.split(",")) if args.models else tuple(TABLE2)
    request = ComparisonRequest(RunInputs(mesh, target), FeatureSpec(args.laplacian, args.k), args.budget, models,
                                args.holdout, args.seed, TrainConfig(), domain, Source("generated", args.signal, {}, None, args.signal))
    state = _follow(submit(comparison_task, request, Registry(), label="comparison", start=False),
                    f"{len(models)} models x {args.budget:g} s")
    results = state.result
    scored = next(iter(results.values())).scored_on if results else "no"
    print(f"R2 on {scored} nodes ({args.budget:g} s each):")
    for name, result in results.items():
        print(f"  {name:10s} {result.metrics['r2']:9.5f}   MSE {result.metrics['mse']:.3g}   {result.elapsed_s:.1f} s   run {result.run_id}")


def _series_from_args(args):
    """The mesh and time series of `ginr timeseries`: a netCDF field along one dimension, or Gray-Scott frames."""
    from .tasks.temporal import gray_scott_series, grid_series, series_from_files

    if args.netcdf:
        from .data.gridded import open_grid

        selection = {}
        for item in args.select or []:
            dim, _, index = item.partition("=")
            if not index.lstrip("-").isdigit():
                raise GinrError(f"--select takes DIM=INDEX (a whole number), got '{item}'.")
            selection[dim] = int(index)
        with open_grid(args.netcdf) as grid:
            return grid_series(grid, args.variable, args.over, stride=args.grid_stride, **selection)
    mesh = _mesh_from_args(args)
    if args.signals:
        try:
            times = [float(t) for t in args.times.split(",")] if args.times else None
        except ValueError:
            raise GinrError(f"--times takes comma-separated numbers, got '{args.times}'.") from None
        return mesh, series_from_files([(path, os.path.basename(path)) for path in args.signals], mesh, times)
    with _ProgressBar("Gray-Scott") as bar:
        return mesh, gray_scott_series(mesh, steps=args.gs_steps, save_every=args.save_every, progress=bar)


def cmd_timeseries(args) -> None:
    import numpy as np

    from .geometry.features import FeatureSpec
    from .runs.actions import submit
    from .runs.registry import Registry
    from .runs.spec import Source
    from .tasks.temporal import SeriesRequest, series_task, series_train_config
    from .viz.animation import (
        FORMATS,
        MAX_EXPORT_FRAMES,
        animation_bytes,
        evenly_spaced,
    )

    fmt = args.animation.rsplit(".", 1)[-1].lower() if args.animation else None
    if fmt is not None and fmt not in FORMATS:
        raise GinrError(f"--animation must end in .gif or .mp4, got '{args.animation}'.")
    mesh, series = _series_from_args(args)
    trained = series.training_frames(args.stride)
    print(f"{series.name}: {series.n_frames} frames on {mesh.n_vertices:,} nodes; training on {int(trained.sum())}, "
          f"holding out {int((~trained).sum())}", file=sys.stderr)
    request = SeriesRequest(mesh, series, FeatureSpec(args.laplacian, args.k), args.stride,
                            train_config=series_train_config(time_budget_s=args.budget),
                            domain=Source("netcdf" if args.netcdf else "series", args.netcdf or args.mesh or args.domain),
                            signal=Source("series", series.name, {}, None, series.name))
    state = _follow(submit(series_task, request, Registry(), label="series", start=False), "Training")
    fit = state.result
    np.savez_compressed(args.out, prediction=fit.prediction, truth=series.values, times=series.times, trained=fit.trained)
    print(f"run {state.run_id}: wrote {args.out}: prediction at {series.n_frames} times")
    if fit.held_out is not None:
        worst = int(np.argmin(np.where(fit.trained, np.inf, fit.frame_r2())))
        print(f"R2 on the held-out frames: {fit.held_out['r2']:.5f} (worst: {series.labels[worst]}, {fit.frame_r2()[worst]:.4f})")
    if fmt is not None:
        frames = evenly_spaced(series.n_frames, MAX_EXPORT_FRAMES)
        with _ProgressBar(f"Rendering {len(frames)} frames") as bar:
            data = animation_bytes(mesh, {"truth": series.values[frames], "prediction": fit.prediction[frames]},
                                   [series.labels[i] for i in frames], fmt, args.fps, progress=bar)
        with open(args.animation, "wb") as f:
            f.write(data)
        print(f"wrote {args.animation}")


# --- ginr interpolate ---------------------------------------------------------------------------------


def cmd_interpolate(args) -> None:
    import json

    import numpy as np

    from .runs.actions import submit
    from .runs.registry import Registry
    from .runs.spec import Source
    from .tasks.interpolation import (
        InterpolationRequest,
        InterpolationSettings,
        interpolation_task,
        random_nodes,
        read_observations_csv,
        satellite_tracks,
    )

    mesh, domain = _mesh_and_source(args)
    truth = None if args.observations and args.signal == "none" else _load_signal(args, mesh)
    if args.observations:
        observations = read_observations_csv(args.observations, mesh)
    elif args.pattern == "tracks":
        coverage, swath = (None, args.swath_km) if args.swath_km else (args.coverage, None)
        observations = satellite_tracks(mesh, truth, args.tracks, args.inclination, swath, coverage, args.seed)
    else:
        observations = random_nodes(mesh, truth, args.fraction, args.seed)
    print(f"{mesh.n_vertices:,} nodes; observed: {observations.description}", file=sys.stderr)
    signal = (Source("file", args.observations, {}, None, os.path.basename(args.observations)) if args.observations
              else Source("generated", args.signal, {}, None, args.signal))
    request = InterpolationRequest(mesh, observations, tuple(args.methods.split(",")), truth,
                                   InterpolationSettings(k=args.k, steps=args.steps, seed=args.seed), domain=domain, source=signal)
    state = _follow(submit(interpolation_task, request, Registry(), label="interpolation", start=False), "Interpolating")
    result = state.result
    print(f"recorded as run {state.run_id} (`ginr runs`)", file=sys.stderr)
    rows = {}
    for o in result.outcomes:
        spectrum = result.spectra.get(o.name)
        rows[o.name] = {"status": o.status, "seconds": round(o.seconds, 2), "notes": o.notes, "error": o.error,
                        **(o.scores or {}),
                        "resolved_scale": None if spectrum is None else spectrum.resolved,
                        "scale_unit": None if spectrum is None else spectrum.unit,
                        "all_bands_resolved": None if spectrum is None else spectrum.fully_resolved}
        if o.prediction is not None:
            np.save(f"{args.out_prefix}.{o.name}.npy", o.prediction)
    if truth is not None:
        print(f"scores on the {len(observations.unobserved):,} unobserved nodes:")
        print(f"  {'method':13s} {'score':>9s} {'R2':>9s} {'RMSE':>10s} {'resolved':>14s} {'seconds':>8s}")
    for name, row in rows.items():
        if row["status"] != "done" or "r2" not in row:
            print(f"  {name:13s} {row['status']}{': ' + row['error'] if row['error'] else ''}")
            continue
        bound = "<=" if row["all_bands_resolved"] else ""  # resolved down to the finest band analysed
        scale = "-" if row["resolved_scale"] is None else f"{bound}{row['resolved_scale']:.3g} {row['scale_unit'].split()[0]}"
        print(f"  {name:13s} {row['score']:9.5f} {row['r2']:9.5f} {row['rmse']:10.4g} {scale:>14s} {row['seconds']:8.1f}")
    scored = {n: r["r2"] for n, r in rows.items() if r.get("r2") is not None}
    if scored:
        best = max(scored, key=scored.get)
        print(f"best: {best} ({'a network' if best.startswith(('ginr', 'inr')) else 'classical, no training'})")
    with open(f"{args.out_prefix}.json", "w") as f:
        json.dump({"observations": observations.description, "methods": rows}, f, indent=2)
    print(f"wrote {args.out_prefix}.json and one {args.out_prefix}.<method>.npy per method")


def _add_interpolate_parser(sub) -> None:
    from .tasks.interpolation import DEFAULT_METHODS, METHODS

    p = sub.add_parser("interpolate", help="reconstruct a signal from sparse observations: networks vs classical interpolation",
                       description="Observe the signal at random nodes (--fraction), under simulated satellite tracks on a "
                       "sphere (--pattern tracks) or read observations from a CSV (lat,lon,value / x,y,z,value / vertex,value); "
                       f"reconstruct it with each method ({', '.join(METHODS)}) and score every one on the unobserved nodes.")
    _add_mesh_options(p)
    _add_signal_options(p)
    p.add_argument("--pattern", choices=["random", "tracks"], default="random", help="observation pattern (default random)")
    p.add_argument("--fraction", type=float, default=0.25, help="observed fraction of the nodes for --pattern random (default 0.25)")
    p.add_argument("--tracks", type=int, default=4, help="satellite tracks (default 4)")
    p.add_argument("--inclination", type=float, default=66.0, help="orbit inclination in degrees (default 66, Jason)")
    p.add_argument("--coverage", type=float, default=0.05, help="area under the swaths, solved for (default 0.05)")
    p.add_argument("--swath-km", type=float, help="swath width in km instead of --coverage")
    p.add_argument("--observations", metavar="FILE.csv", help="observations from a CSV instead of a pattern "
                   "(with --signal none when the truth is unknown: reconstructions without scores)")
    p.add_argument("--methods", default=",".join(DEFAULT_METHODS), help=f"comma-separated (default {','.join(DEFAULT_METHODS)})")
    p.add_argument("--k", type=int, default=100, help="spectral features of the networks (default 100)")
    p.add_argument("--steps", type=int, default=1500, help="training steps per network (default 1500)")
    p.add_argument("--out-prefix", default="interpolation", help="output files PREFIX.json, PREFIX.<method>.npy")
    p.set_defaults(func=cmd_interpolate)
# -- ginr collection: many signals on one domain (build / train / fit-new / export) ------------------------------
def _floats(text: str, what: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise GinrError(f"{what} takes comma-separated numbers, got '{text}'.") from None


def cmd_collection_build(args) -> None:
    from .data.collections import collection_from_files, collection_from_npz, gray_scott_collection, grid_collection

    if args.netcdf:
        from .data.gridded import open_grid

        with open_grid(args.netcdf) as grid:
            variables = [v for v in args.variables.split(",") if v] if args.variables else None
            mesh, collection = grid_collection(grid, variables, stride=args.grid_stride)
    elif args.npz:
        mesh, collection = collection_from_npz(args.npz, None, _mesh_from_args(args) if (args.mesh or args.domain) else None)
    else:
        mesh = _mesh_from_args(args)
        if args.signals:
            collection = collection_from_files([(path, os.path.basename(path)) for path in args.signals], mesh)
        else:
            with _ProgressBar("Gray-Scott") as bar:
                collection = gray_scott_collection(mesh, _floats(args.F, "--F"), _floats(args.k, "--k"),
                                                   [int(s) for s in _floats(args.seeds, "--seeds")], args.gs_steps, progress=bar)
    with open(args.out, "wb") as f:
        f.write(collection.npz_bytes(mesh))
    print(f"wrote {args.out}: {collection.n_members} members on {mesh.n_vertices:,} nodes "
          f"(metadata: {', '.join(collection.metadata) or 'none'})")


def _print_fits(rows) -> None:
    """One line per signal: fit-new (code only), interpolated code, the trained members' span (least squares, no
    network), a heads model's untrained columns alone (least squares, no trained layer) and the single-signal
    model from scratch."""
    def to_target(fit):
        return "-" if fit is None else ("never" if fit.time_to_target_s is None else f"{fit.time_to_target_s:.1f} s")

    def score(fit):
        return "-" if fit is None else f"{fit.r2:.5f}"

    print(f"  {'member':28s} {'fit-new R2':>10s} {'to 0.99':>8s} {'interp R2':>10s} {'span R2':>10s} {'sines R2':>10s} "
          f"{'to 0.99':>8s} {'scratch R2':>10s} {'to 0.99':>8s}")
    for name, new, interp, span, sines, scratch in rows:
        print(f"  {name[:28]:28s} {score(new):>10s} {to_target(new):>8s} {score(interp):>10s} {score(span):>10s} "
              f"{score(sines):>10s} {to_target(sines):>8s} {score(scratch):>10s} {to_target(scratch):>8s}")


def _collection_features(args):
    from .geometry.features import SPHERE_EMBEDDING, XYZ, FeatureSpec

    return FeatureSpec(XYZ if args.input == "xyz" else {"sh": SPHERE_EMBEDDING}.get(args.embedding, args.embedding), args.k)


def cmd_collection_train(args) -> None:
    import numpy as np

    from .data.collections import collection_from_npz
    from .storage.files import read_input
    from .learning.collection_models import CodeFitConfig
    from .runs.actions import submit
    from .runs.registry import Registry
    from .runs.spec import Source
    from .tasks.collections import (
        CollectionRequest,
        choose_held_out,
        collection_task,
        collection_train_config,
        input_model_config,
    )

    data, _, _ = read_input(args.collection, extensions=("npz",), what="collection")  # size checked before reading
    mesh, collection = collection_from_npz(data, os.path.basename(args.collection))
    along = args.along or next(iter(collection.metadata), None)
    if args.holdout_names:
        held = [collection.index(name.strip()) for name in args.holdout_names.split(",")]
    else:
        held = choose_held_out(collection, args.holdout, along)
    features = _collection_features(args)
    n_rows = (collection.n_members - len(held)) * collection.n_nodes
    name = os.path.basename(args.collection)
    request = CollectionRequest(
        mesh, collection, features,
        input_model_config(features, args.modulation, rank=args.rank, latent_dim=args.latent_dim,
                           random_features=args.random_features, hidden=args.hidden),
        collection_train_config(n_rows, time_budget_s=args.budget, steps=args.steps, seed=args.seed, device=args.device),
        tuple(int(i) for i in held), along, CodeFitConfig(time_budget_s=args.new_budget),
        args.new_budget if args.compare else None,
        Source.of_bytes("file", name, data, f"mesh of {name}"), Source.of_bytes("file", name, data, collection.name),
    )
    print(f"{collection.n_members} members on {mesh.n_vertices:,} nodes; training on {collection.n_members - len(held)}, "
          f"holding out {len(held)}", file=sys.stderr)
    state = _follow(submit(collection_task, request, Registry(), label="collection", start=False), "Training")
    fit, summary = state.result, state.result.summary()
    print(f"run {state.run_id}: {state.status}; R2 over {int(fit.trained.sum())} trained members: mean {summary['mean_r2']:.5f}, "
          f"worst {summary['worst_r2']:.5f} ({fit.elapsed_s:.0f} s)")
    if fit.held_out:
        print("held-out members (fit-new: code only, shared weights frozen; interp: neighbours' codes blended, no "
              "optimisation; span: least squares on the trained members, no network; sines: least squares on the "
              "embedding and its random sines, no trained layer; scratch: a single-signal model at the same budget):")
        _print_fits([(collection.names[h.member], h.fit_new, h.interpolated, h.span, h.sines, h.scratch)
                     for h in fit.held_out])
    print(f"compression: {summary['shared_bytes'] / 1e3:.0f} kB shared + {summary['code_bytes'] / 1e3:.0f} kB codes vs "
          f"{summary['raw_bytes'] / 1e3:.0f} kB of raw float32 signals: {summary['compression']:.2f}x")
    if args.out:
        np.save(args.out, fit.prediction)
        print(f"wrote {args.out}: predictions of every member")


def cmd_collection_fit_new(args) -> None:
    import numpy as np

    from .data.signals import load_vertex_signal
    from .runs.actions import submit
    from .runs.registry import Registry
    from .runs.spec import Source
    from .tasks.collections import FitNewRequest, fit_new_task, load_collection_run

    registry = Registry()
    mesh = load_collection_run(registry, args.run).inputs.mesh
    with open(args.signal, "rb") as f:
        data = f.read()
    name = os.path.basename(args.signal)
    values = load_vertex_signal(data, name, mesh)
    request = FitNewRequest(args.run, values, Source.of_bytes("file", name, data), args.budget, args.compare)
    result = _follow(submit(fit_new_task, request, registry, label="fit-new", start=False), "Fitting the code").result
    _print_fits([(name, result.fit_new, None, result.span, result.sines, result.scratch)])
    if result.start_member is not None:
        print(f"the code started near that of '{result.start_member}' (the training member that fitted it best)")
    if result.scratch_run_id:
        print(f"the from-scratch model is run {result.scratch_run_id}")
    np.save(args.out, result.fit_new.prediction)
    print(f"wrote {args.out}: the new signal's prediction ({result.fit_new.elapsed_s:.1f} s, {result.fit_new.steps} steps)")


def cmd_collection_export(args) -> None:
    import numpy as np

    from .runs.registry import Registry
    from .tasks.collections import latent_projection, load_collection_run

    registry = Registry()
    recorded = load_collection_run(registry, args.run)
    members = recorded.members
    coords, explained = latent_projection(members["codes"])
    metadata = {f"meta_{k}": np.asarray(v) for k, v in recorded.spec.options.get("metadata", {}).items()}
    np.savez(args.out, names=np.asarray(recorded.names), pca=coords, pca_explained=explained,
             predictions=registry.load_predictions(args.run), **members, **metadata)
    print(f"wrote {args.out}: codes {members['codes'].shape}, per-member mean / std / R2, PCA coordinates, "
          "predictions, metadata")


def _add_collection_parser(sub) -> None:
    from .geometry.features import DEFAULT_K
    from .geometry.laplacian import LAPLACIANS
    from .learning.collection_models import DEFAULT_MODULATION, DEFAULT_RANDOM_FEATURES, MODULATIONS, RANDOM_FEATURES_PER_NODE
    from .learning.models import ModelConfig

    p = sub.add_parser("collection", help="many signals on one domain: one shared network, a small code per signal",
                       description="Learn a family of signals on one domain (a shared network + a code per signal), fit a "
                       "new signal by its code alone, score held-out members. build -> train -> fit-new / export.")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    b = actions.add_parser("build", help="make a collection file (.npz with the mesh) from Gray-Scott, netCDF, files or an npz")
    _add_mesh_options(b)
    source = b.add_mutually_exclusive_group()
    source.add_argument("--netcdf", metavar="FILE", help="every variable x level x month... slice of a lat-lon netCDF file")
    source.add_argument("--signals", nargs="+", metavar="FILE", help="per-vertex signal files (.npy/.csv), one member each")
    source.add_argument("--npz", metavar="FILE", help="an .npz stack: 'values' (members x nodes), optional 'names', 'meta_KEY'")
    b.add_argument("--F", default="0.048,0.052,0.056,0.060", help="Gray-Scott feed rates (default 0.048,0.052,0.056,0.060)")
    b.add_argument("--k", default="0.062,0.063", help="Gray-Scott kill rates (default 0.062,0.063)")
    b.add_argument("--seeds", default="1234", help="Gray-Scott random seeds (default 1234)")
    b.add_argument("--gs-steps", type=int, default=30_000, help="Gray-Scott steps (default 30000; cached on disk)")
    b.add_argument("--variables", help="netCDF variables, comma-separated (default all)")
    b.add_argument("--grid-stride", type=int, default=2, help="keep every Nth latitude and longitude (default 2)")
    b.add_argument("--out", default="collection.npz", help="output file (default collection.npz)")
    b.set_defaults(func=cmd_collection_build)

    t = actions.add_parser("train", help="train the shared network and codes; score held-out members; register the run")
    t.add_argument("collection", help="a collection file from `ginr collection build`")
    t.add_argument("--input", choices=["spectral", "xyz"], default="spectral",
                   help="spectral: GINR on a spectral embedding (default); xyz: classic INR on coordinates")
    t.add_argument("--embedding", choices=[*LAPLACIANS, "sh"], default="combinatorial",
                   help="the GINR's embedding: a Laplacian, or sh (the exact spherical harmonics of a sphere domain)")
    t.add_argument("--modulation", choices=MODULATIONS, default=DEFAULT_MODULATION,
                   help=f"heads: an output row per signal on a shared basis (fit-new is one least-squares solve); lowrank: "
                        f"a rank-r change of the first hidden layer per signal; latent: a code fed as input (default {DEFAULT_MODULATION})")
    t.add_argument("--rank", type=int, default=8, help="rank of the low-rank modulation (default 8)")
    t.add_argument("--latent-dim", type=int, default=64, help="size of the latent code (default 64)")
    t.add_argument("--random-features", type=int, default=DEFAULT_RANDOM_FEATURES,
                   help=f"heads: fixed random sines of the input beside the trained layers, at most "
                        f"{RANDOM_FEATURES_PER_NODE:.0%}% of the nodes (default {DEFAULT_RANDOM_FEATURES})")
    t.add_argument("--hidden", type=int, default=ModelConfig().hidden, help=f"hidden width (default {ModelConfig().hidden})")
    t.add_argument("--k", type=int, default=DEFAULT_K, help=f"embedding size (default {DEFAULT_K})")
    t.add_argument("--holdout", type=int, default=0, help="members held out, chosen with neighbours on both sides (default 0)")
    t.add_argument("--holdout-names", help="comma-separated names of the members to hold out instead")
    t.add_argument("--along", help="metadata key ordering the members, for held-out choice and interpolation (default: the first)")
    t.add_argument("--budget", type=float, default=120.0, help="training time budget in seconds (default 120)")
    t.add_argument("--steps", type=int, default=None, help="maximum steps (default: the budget decides)")
    t.add_argument("--new-budget", type=float, default=30.0, help="seconds to fit each held-out member's code (default 30)")
    t.add_argument("--compare", action="store_true",
                   help="also train a single-signal model from scratch on each held-out member, at the same budget")
    t.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    t.add_argument("--device", default="auto", help="auto (cuda, then mps, else cpu), cpu, cuda, mps")
    t.add_argument("--out", help="also save every member's prediction (.npy)")
    t.set_defaults(func=cmd_collection_train)

    f = actions.add_parser("fit-new", help="fit a new signal on the run's domain by its code alone (shared weights frozen)")
    f.add_argument("run", help="a collection run id (see `ginr runs`)")
    f.add_argument("--signal", required=True, metavar="FILE", help="the new signal (.npy/.csv), one value per vertex")
    f.add_argument("--budget", type=float, default=30.0, help="seconds (default 30)")
    f.add_argument("--compare", action="store_true",
                   help="also train a single-signal model from scratch at the same budget, side by side (recorded as a run)")
    f.add_argument("--out", default="prediction.npy", help="output file (default prediction.npy)")
    f.set_defaults(func=cmd_collection_fit_new)

    e = actions.add_parser("export", help="codes, per-member mean / std / R2, PCA coordinates, predictions and metadata as .npz")
    e.add_argument("run", help="a collection run id")
    e.add_argument("--out", default="codes.npz", help="output file (default codes.npz)")
    e.set_defaults(func=cmd_collection_export)
# --- where the work runs (local or Ray) and sweeps on Ray Tune ------------------------------------------------
def _add_backend_options(parser: argparse.ArgumentParser) -> None:
    from .runs.backend_config import BACKENDS

    group = parser.add_argument_group("where the work runs")
    group.add_argument("--backend", choices=BACKENDS,
                       help="local: this process; process: a worker process (niced; GINR_WORKERS at once, more "
                       "queue); ray: a Ray worker (default: local, or GINR_BACKEND, or ray when GINR_RAY_ADDRESS is set)")
    group.add_argument("--ray-address", metavar="HOST:PORT",
                       help="join this Ray cluster, e.g. a GPU machine's `ray start --head` (implies --backend ray; "
                       "default GINR_RAY_ADDRESS; none: a Ray on this machine)")
    group.add_argument("--gpu", action="store_true", help="with Ray: each job (each sweep trial) asks for one GPU")


def _use_backend_from_args(args):
    """The backend chosen by the options (else the environment), connected; said on stderr when it is Ray."""
    from .runs.backend_config import BackendConfig, default_backend, operator_backend
    from .runs.backends import resources, use_backend

    name = args.backend or ("ray" if args.ray_address else default_backend().name)
    ray = operator_backend("ray")
    config = use_backend(BackendConfig("ray", args.ray_address or ray.address, args.gpu or ray.gpu)
                         if name == "ray" else BackendConfig(name))
    if config.name == "ray":
        seen = resources(config)
        print(f"jobs run on {config.label}: {seen['CPU']:g} CPUs, {seen['GPU']:g} GPUs", file=sys.stderr)
    return config


def cmd_sweep(args) -> None:
    import numpy as np

    from .geometry.features import FeatureSpec
    from .runs.actions import submit
    from .runs.backend_config import BackendConfig, operator_backend
    from .runs.backends import configured_backend
    from .runs.registry import Registry
    from .runs.spec import RunInputs, Source
    from .tasks.sweep import SCORES, SWEEP_PARAMETERS, SweepRequest, sweep_task, sweep_train_config

    options = {"k": "k", "activation": "activation", "width": "width", "depth": "depth", "omega_0": "omega0",
               "first_omega_0": "first-omega0", "lr": "lr", "seed": "seeds"}
    grid = {}
    for name, option in options.items():  # checked before the signal is computed
        kind = SWEEP_PARAMETERS[name][1]
        values = [v.strip() for v in getattr(args, option.replace("-", "_")).split(",") if v.strip()]
        try:
            grid[name] = tuple(kind(float(v)) if kind is not str else v for v in values)
        except ValueError:
            raise GinrError(f"--{option}: give comma-separated numbers, not '{','.join(values)}'.") from None
    mesh, domain = _mesh_and_source(args)
    target = _load_signal(args, mesh)
    backend, ray = configured_backend(), operator_backend("ray")  # the trials always run on Ray
    backend = backend if backend.name == "ray" else BackendConfig("ray", ray.address, args.gpu or ray.gpu)
    request = SweepRequest(RunInputs(mesh, target), grid, FeatureSpec(args.laplacian, grid["k"][0]),
                           train=sweep_train_config(args.steps), score=args.score, holdout=args.holdout,
                           search=args.search, samples=args.samples, asha=not args.no_asha,
                           report_every=args.report_every, grace_steps=args.grace, max_concurrent=args.max_concurrent,
                           backend=backend, domain=domain, signal=Source("generated", args.signal, {}, None, args.signal))
    print(f"{request.n_trials} trials of {args.steps} steps on {backend.label}, scored by {SCORES[args.score]}", file=sys.stderr)
    state = _follow(submit(sweep_task, request, Registry(), label="sweep", start=False), "Sweep")  # trials on Ray
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


def _add_sweep_parser(sub) -> None:
    from .geometry.laplacian import LAPLACIANS
    from .tasks.sweep import SCORES, SEARCHES

    p = sub.add_parser("sweep", help="sweep k, activation, width, depth, omega_0, lr, seed on Ray Tune (each trial a run)",
                       description="Train one model per combination of the given values (comma-separated) on Ray Tune, "
                       "each for --steps steps; ASHA stops the trials that trail. Every trial is a registered run.")
    _add_mesh_options(p)
    _add_signal_options(p)
    p.add_argument("--k", default="16,64", help="embedding sizes (default 16,64)")
    p.add_argument("--activation", default="sine", help="activations, e.g. sine,relu (default sine)")
    p.add_argument("--width", default="128", help="hidden widths (default 128)")
    p.add_argument("--depth", default="4", help="linear layers in total (default 4)")
    p.add_argument("--omega0", default="30", help="hidden-layer omega_0 values (default 30)")
    p.add_argument("--first-omega0", default="30,90", help="first-layer omega_0 values (default 30,90)")
    p.add_argument("--lr", default="0.002", help="learning rates (default 0.002)")
    p.add_argument("--seeds", default="0", help="seeds of the models' initial weights (default 0)")
    p.add_argument("--laplacian", choices=LAPLACIANS, default="combinatorial", help="Laplacian of the embedding")
    p.add_argument("--score", choices=list(SCORES), default="heldout",
                   help="heldout: R² on held-out nodes (generalisation; default); fit: R² on all nodes (memorisation)")
    p.add_argument("--holdout", type=float, default=0.2, help="held-out fraction for --score heldout (default 0.2)")
    p.add_argument("--search", choices=SEARCHES, default="grid", help="grid: every combination; random: --samples draws")
    p.add_argument("--samples", type=int, default=1, help="random: trials; grid: repeats of the grid (default 1)")
    p.add_argument("--steps", type=int, default=300, help="training steps per trial (default 300)")
    p.add_argument("--no-asha", action="store_true", help="train every trial to the end (no early stopping)")
    p.add_argument("--grace", type=int, default=50, help="steps before ASHA may stop a trial (default 50)")
    p.add_argument("--report-every", type=int, default=25, help="steps between a trial's scores (default 25)")
    p.add_argument("--max-concurrent", type=int, default=None, help="trials at once (default: what Ray's CPUs allow)")
    _add_backend_options(p)
    p.set_defaults(func=cmd_sweep)
# --- end of backends and sweeps ----------------------------------------------------------------------------------


def cmd_domains(args) -> None:
    from .geometry.domains import BUILTIN_DOMAINS

    for name, domain in BUILTIN_DOMAINS.items():
        params = ", ".join(f"{k}={v}" for k, v in domain.defaults.items())
        print(f"{name:15s} {domain.description} ({params})")


def cmd_info(args) -> None:
    mesh = _mesh_from_args(args)
    lo, hi = mesh.vertices.min(axis=0), mesh.vertices.max(axis=0)
    print(f"name        {mesh.name}")
    print(f"vertices    {mesh.n_vertices:,}")
    print(f"faces       {mesh.n_faces:,}")
    print(f"edges       {len(mesh.edges()):,}")
    print(f"components  {mesh.n_components()}")
    print(f"bounds      {lo.round(4).tolist()} .. {hi.round(4).tolist()}")
    if mesh.vertex_data:
        print(f"properties  {', '.join(mesh.vertex_data)}")


# -- ginr crop: croppable (Local-Global) models ------------------------------------------------------------
def _part_list(text: str) -> list[int]:
    try:
        parts = [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise GinrError(f"Parts are comma-separated numbers such as 3,5; got {text!r}.") from None
    if not parts:
        raise GinrError("Name at least one part, e.g. --remove 3,5.")
    return parts


def cmd_crop(args) -> None:
    """Train a croppable model (no RUN), crop a run's parts (--remove) or train parts back (--add)."""
    from .learning.metrics import r2_text
    from .learning.training import TrainConfig
    from .runs.actions import submit
    from .runs.registry import Registry
    from .tasks.crop import ExtendRequest, crop_run, extend_task

    if args.run is None:
        return _train_croppable(args)
    if (args.remove is None) == (args.add is None):
        raise GinrError("With a run id, give either --remove PARTS (crop) or --add PARTS (train them back).")
    registry = Registry()
    if args.remove is not None:
        new_id, r = crop_run(registry, args.run, _part_list(args.remove))
        print(f"run {new_id}: run {args.run} without parts {', '.join(map(str, r.removed))} (nothing retrained)")
        print(f"weights {r.params_before:,} -> {r.params_after:,} (-{r.param_reduction:.1%})")
        print(f"R2 on the {int(r.kept.sum()):,} kept nodes: {r.r2_before:.6f} -> {r.r2_after:.6f} "
              f"(change {r.r2_change:+.2e}; largest prediction change {r.max_change:.2e})")
        return
    request = ExtendRequest(args.run, tuple(_part_list(args.add)), TrainConfig(time_budget_s=args.budget))
    state = _follow(submit(extend_task, request, registry, label="extend", start=False), "Training the new parts")
    new_id, r = state.result
    print(f"run {new_id}: run {args.run} with parts {', '.join(map(str, r.added))} trained back; every other weight unchanged: "
          f"{'yes' if r.others_unchanged else 'NO'}")
    print(f"weights {r.params_before:,} -> {r.params_after:,}; {r.nodes:,} nodes, {r.steps} steps in {r.seconds:.1f} s; "
          f"R2 on them {r2_text(r.r2_added)}, on every node the model represents {r2_text(r.r2_represented)}")
    if r.r2_reference is not None:
        back = "not within the budget" if r.seconds_to_reference is None else f"after {r.seconds_to_reference:.1f} s"
        print(f"the uncropped model's R2 on them: {r2_text(r.r2_reference)}; back to it {back}")


def _train_croppable(args) -> None:
    from .geometry.features import FeatureSpec
    from .geometry.partition import partition_mesh
    from .learning.models import ModelConfig
    from .learning.fields import equal_size_configs
    from .learning.training import TrainConfig
    from .runs.actions import submit
    from .runs.registry import Registry
    from .runs.spec import RunInputs, Source
    from .tasks.crop import MODEL_LABELS, CroppableRequest, croppable_task, with_partition

    mesh, domain = _mesh_and_source(args)
    target = _load_signal(args, mesh)
    features = FeatureSpec(args.laplacian, args.k)
    built = _features_for(mesh, args.laplacian, args.k)
    partition = partition_mesh(mesh, args.parts, args.method, features=built, overlap=args.overlap, seed=args.part_seed)
    sizes = partition.sizes()
    print(f"{partition.n_parts} {args.method} parts of {sizes.min():,} to {sizes.max():,} nodes, overlap {args.overlap}")
    sized = equal_size_configs(ModelConfig(local_layers=args.local_layers), args.k, partition.n_parts)
    kinds = [args.model] + ([k for k in ("per_part", "mlp") if k != args.model] if args.baselines else [])
    configs = {kind: sized[kind] for kind in kinds}
    if args.local_hidden or args.global_hidden:
        chosen = configs[args.model]
        configs[args.model] = ModelConfig.from_dict({**chosen.to_dict(), "local_hidden": args.local_hidden or chosen.local_hidden,
                                                     "hidden": args.global_hidden or chosen.hidden})
    request = CroppableRequest(with_partition(RunInputs(mesh, target), partition), configs, features,
                               TrainConfig(time_budget_s=args.budget), domain, Source("generated", args.signal, {}, None, args.signal))
    state = _follow(submit(croppable_task, request, Registry(), label="croppable", start=False),
                    f"{len(configs)} model(s) x {args.budget:g} s")
    results = state.result or {}
    for kind, r in results.items():
        reach = r.seconds_to(0.99)
        print(f"run {r.run_id}: {MODEL_LABELS[kind]:17s} {r.params:7,} weights  R2 {r.metrics['r2']:.6f}  "
              f"R2 0.99 after {'-' if reach is None else f'{reach:.1f} s'}")
    print(f"crop with: ginr crop {results[args.model].run_id} --remove 0,1" if args.model in results else "cancelled")

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ginr",
        description="Generalised implicit neural representations on meshes and spheres.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("domains", help="list the built-in domains")
    p.set_defaults(func=cmd_domains)

    p = sub.add_parser("info", help="load and clean a mesh, print its statistics")
    _add_mesh_options(p)
    p.set_defaults(func=cmd_info)

    from .geometry.laplacian import LAPLACIANS

    p = sub.add_parser("embed", help="compute a spectral embedding and save it as .npz")
    _add_mesh_options(p)
    p.add_argument("--k", type=int, default=100, help="number of eigenvectors (default 100, as the paper)")
    p.add_argument("--laplacian", choices=LAPLACIANS, default="combinatorial",
                   help="combinatorial D - A (the paper's; default), normalized, or cotangent with mass matrix")
    p.add_argument("--no-cache", action="store_true", help="recompute even if the embedding is in the cache")
    p.add_argument("--out", default="embedding.npz", help="output file (default embedding.npz)")
    p.set_defaults(func=cmd_embed)

    from .geometry.features import DEFAULT_K
    from .learning.metrics import ERROR_KINDS
    from .learning.models import ACTIVATIONS, ModelConfig
    from .learning.recipes import FIT_RECIPES
    from .learning.training import TrainConfig
    from .runs.actions import EXPORT_FORMATS

    EMBEDDINGS = [*LAPLACIANS, "sh"]

    mdef, tdef = ModelConfig(), TrainConfig()
    p = sub.add_parser("train", help="train a GINR (or a classic INR) on a signal; the run is saved in the registry",
                       description="Train a neural field on a per-vertex signal. Defaults are the measured CPU recipe "
                       f"(4 x 128 sine MLP, first-layer omega_0 90, {tdef.batch_size}-node batches, Adam 2e-3, cosine "
                       "schedule, then the output layer solved by least squares); --recipe picks another, and the other "
                       "flags change it.")
    _add_mesh_options(p)
    _add_signal_options(p)
    p.add_argument("--reference", metavar="FILE.npz",
                   help="train on a file of the reference implementation's dataset layout (points, faces, target; its "
                   "features are rebuilt from the mesh) instead of --mesh/--domain and --signal")
    p.add_argument("--input", choices=["spectral", "xyz"], default="spectral",
                   help="spectral: GINR on a spectral embedding (default); xyz: classic INR on coordinates")
    p.add_argument("--embedding", choices=EMBEDDINGS, default="combinatorial",
                   help="the GINR's embedding: a Laplacian (combinatorial, the paper's; normalized; cotangent) or sh, the "
                   "exact spherical harmonics of a sphere domain (k is rounded up to whole degrees, then cut to k)")
    p.add_argument("--k", type=int, default=DEFAULT_K, help=f"embedding size (default {DEFAULT_K})")
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
    p.add_argument("--budget", type=float, default=tdef.time_budget_s, help=f"time budget in seconds (default {tdef.time_budget_s:g})")
    p.add_argument("--steps", type=int, default=None, help="maximum steps (default: none, the budget decides)")
    p.add_argument("--lr", type=float, default=None, help=f"learning rate (default {tdef.lr:g})")
    p.add_argument("--batch-size", type=int, default=None, help=f"nodes per step, 0 = all nodes (default {tdef.batch_size})")
    p.add_argument("--device", default="auto", help="auto (cuda, then mps, else cpu), cpu, cuda, cuda:1, mps")
    _add_backend_options(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("rerun", help="train a registered run again from its spec (same data, model and recipe)")
    p.add_argument("run", help="run id (see `ginr runs`)")
    p.add_argument("--budget", type=float, default=None, help="a new time budget in seconds (default: the run's own)")
    _add_backend_options(p)
    p.set_defaults(func=cmd_rerun)

    p = sub.add_parser("predict", help="predict a trained run's signal on its mesh (or another) and save .npy")
    p.add_argument("run", help="run id (see `ginr runs`)")
    _add_mesh_options(p, default_domain=None)
    p.add_argument("--out", default="prediction.npy", help="output file (default prediction.npy)")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("export", help="export a run: mesh with scalars (ply), reference npz, checkpoint, html figure")
    p.add_argument("run", help="run id (see `ginr runs`)")
    p.add_argument("--format", choices=list(EXPORT_FORMATS), default="ply",
                   help="what to write (default ply); npz is the reference implementation's dataset layout")
    p.add_argument("--out", help="output file (default RUN_ID.EXT)")
    p.add_argument("--error", choices=ERROR_KINDS, default="squared",
                   help="the error the html figure maps per node (default squared)")
    _add_view_options(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("runs", help="list runs, or show one run's configuration and metrics")
    p.add_argument("run", nargs="?", help="a run id to show in full")
    p.add_argument("--status", choices=["running", "done", "failed", "cancelled", "interrupted"], help="only runs with this status")
    p.add_argument("--limit", type=int, default=30, help="most recent N runs (default 30)")
    p.set_defaults(func=cmd_runs)

    from .tasks.superres import METHODS as SUPERRES_METHODS
    from .tasks.superres import STACKED

    p = sub.add_parser("superres", help="train on a mesh and predict on a finer one (super-resolution)",
                       description="Train a GINR on the (coarse) mesh and predict on a finer mesh of the same surface: "
                       "the mesh subdivided, or --fine FILE. stacked (the default): a network correcting the classical "
                       "interpolants of the coarse values on the fine mesh (the interpolation benchmark's winner). The other "
                       "strategies make the two meshes' spectral features agree: kl (the paper's histogram sign flips), joint (solve the fine mesh, train on its coarse rows), "
                       "interp (interpolate the coarse basis), fmap (cotangent bases + functional map), sh (spheres).")
    _add_mesh_options(p)
    _add_signal_options(p)
    group = p.add_mutually_exclusive_group()
    group.add_argument("--fine", metavar="FILE", help="the fine mesh (default: the mesh subdivided)")
    group.add_argument("--subdivide", type=int, default=1, help="midpoint subdivision levels for the fine mesh (default 1)")
    p.add_argument("--strategy", choices=SUPERRES_METHODS, default=STACKED, help=f"method (default {STACKED})")
    p.add_argument("--k", type=int, default=36, help="embedding size (default 36; small k interpolates more smoothly)")
    p.add_argument("--laplacian", choices=LAPLACIANS, default="combinatorial", help="Laplacian (fmap always uses cotangent)")
    p.add_argument("--budget", type=float, default=60.0, help="training time budget in seconds (default 60)")
    p.add_argument("--out", default="superres.npy", help="output file (default superres.npy)")
    _add_backend_options(p)
    p.set_defaults(func=cmd_superres)

    p = sub.add_parser("compare", help="INR vs GINR, ReLU vs sine, at equal budget (the paper's Table 2)")
    _add_mesh_options(p)
    _add_signal_options(p)
    p.add_argument("--k", type=int, default=100, help="embedding size of the GINRs (default 100)")
    p.add_argument("--laplacian", choices=LAPLACIANS, default="combinatorial", help="Laplacian of the embedding")
    p.add_argument("--budget", type=float, default=30.0, help="training seconds per model (default 30)")
    p.add_argument("--models", help="comma-separated subset of inr_relu,inr_sine,ginr_relu,ginr_sine (default all)")
    p.add_argument("--holdout", type=float, default=0.0,
                   help="fraction of nodes held out and scored (generalisation); default 0 = fit and score all nodes")
    _add_backend_options(p)
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("timeseries", help="learn a signal over time (time as an extra input), score held-out frames",
                       description="Fit a time-conditioned GINR to every --stride-th frame of a series and predict all frames. "
                       "The series is Gray-Scott on the mesh (default; the paper: 3,000 steps, trained on t = 0 mod 10, shown at "
                       "t = 0 mod 5), per-vertex signal files, one per time (--signals a.npy b.npy ... --times 0,1,...), or a netCDF field "
                       "along one dimension (--netcdf FILE --variable z --over level).")
    _add_mesh_options(p)
    p.add_argument("--gs-steps", type=int, default=3000, help="Gray-Scott steps (default 3000, as the paper)")
    p.add_argument("--save-every", type=int, default=5, help="keep every Nth Gray-Scott step as a frame (default 5)")
    p.add_argument("--signals", nargs="+", metavar="FILE", help="per-vertex signal files (.npy/.csv), one per time, on the mesh")
    p.add_argument("--times", help="comma-separated time stamps of the --signals files (default 0, 1, 2, ...)")
    p.add_argument("--netcdf", metavar="FILE", help="a lat-lon netCDF file instead of Gray-Scott")
    p.add_argument("--variable", default="z", help="netCDF variable (default z)")
    p.add_argument("--over", default="level", help="netCDF dimension that plays the role of time (default level)")
    p.add_argument("--select", action="append", metavar="DIM=INDEX", help="index of another netCDF dimension, e.g. month=0")
    p.add_argument("--grid-stride", type=int, default=2, help="keep every Nth latitude and longitude (default 2)")
    p.add_argument("--stride", type=int, default=2, help="train on every Nth frame, hold out the rest (default 2)")
    p.add_argument("--k", type=int, default=64, help="embedding size (default 64)")
    p.add_argument("--laplacian", choices=LAPLACIANS, default="combinatorial", help="Laplacian of the embedding")
    p.add_argument("--budget", type=float, default=60.0, help="training time budget in seconds (default 60)")
    p.add_argument("--out", default="series.npz", help="output file: prediction, truth, times, trained (default series.npz)")
    p.add_argument("--animation", metavar="FILE.gif|FILE.mp4", help="also write truth | prediction as an animation")
    p.add_argument("--fps", type=float, default=10.0, help="animation frames per second (default 10)")
    _add_backend_options(p)
    p.set_defaults(func=cmd_timeseries)

    p = sub.add_parser("crop", help="croppable Local-Global models: train one on a partition, crop parts, train parts back",
                       description="Without RUN: partition the mesh and train a croppable model (a global network plus one "
                       "small local network per part), recorded as a run. With RUN --remove 3,5: a new run without those "
                       "parts' weights (nothing retrained; R2 on the kept nodes before and after). With RUN --add 3,5: a new "
                       "run with those parts' local networks trained back, every other weight frozen.")
    p.add_argument("run", nargs="?", help="a partitioned run to crop or extend (see `ginr runs`)")
    p.add_argument("--remove", metavar="PARTS", help="comma-separated parts to crop, e.g. 3,5")
    p.add_argument("--add", metavar="PARTS", help="comma-separated parts to train back, e.g. 3,5")
    _add_mesh_options(p)
    _add_signal_options(p)
    from .geometry.partition import PARTITION_METHODS

    p.add_argument("--parts", type=int, default=16, help="number of parts (default 16)")
    p.add_argument("--method", choices=PARTITION_METHODS, default="spectral",
                   help="spectral k-means (default; parts follow the surface), xyz k-means, or latlon tiles (spheres)")
    p.add_argument("--overlap", type=int, default=0, help="mesh hops a node also feeds neighbouring parts (default 0)")
    p.add_argument("--part-seed", type=int, default=0, help="seed of the k-means partition (default 0)")
    p.add_argument("--model", choices=["local_global", "per_part"], default="local_global",
                   help="local_global (global + local networks; default) or per_part (local networks only)")
    p.add_argument("--local-layers", type=int, default=3, help="layers of each local network (default 3)")
    p.add_argument("--local-hidden", type=int, help="width of each local network (default: sized to match the plain 4 x 128 GINR)")
    p.add_argument("--global-hidden", type=int, help="width of the global network (default: ~10%% of the weights)")
    p.add_argument("--baselines", action="store_true", help="also train the other partitioned kind and the plain GINR at the same size")
    p.add_argument("--k", type=int, default=100, help="embedding size (default 100)")
    p.add_argument("--laplacian", choices=LAPLACIANS, default="combinatorial", help="Laplacian of the embedding")
    p.add_argument("--budget", type=float, default=60.0, help="training seconds per model, or for --add (default 60)")
    p.set_defaults(func=cmd_crop)

    _add_interpolate_parser(sub)
    _add_collection_parser(sub)

    p = sub.add_parser("signal", help="generate or load a per-vertex signal and save it as .npy")
    _add_mesh_options(p)
    _add_signal_options(p)
    p.add_argument("--out", default="signal.npy", help="output file (default signal.npy)")
    p.set_defaults(func=cmd_signal)
    _add_sweep_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if isinstance(getattr(args, "run", None), str):  # a run named by its id or a unique start of it
            from .runs.registry import Registry

            args.run = Registry().resolve(args.run)
        if hasattr(args, "backend"):  # Ray started or joined before any work: a bad address fails first
            _use_backend_from_args(args)
        args.func(args)
    except GinrError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)  # one line, whatever the message holds
        return 2
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as exc:  # a file named on the command line
        where = f": {exc.filename}" if exc.filename else ""
        print(f"error: {' '.join(str(exc.strerror or exc).split())}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        if "ginr_core.runs.ray_backend" in sys.modules:  # its driver processes end with the command
            from .runs.ray_backend import stop_drivers

            stop_drivers()
    return 0


if __name__ == "__main__":
    sys.exit(main())
