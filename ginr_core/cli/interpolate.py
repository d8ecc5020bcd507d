"""`ginr interpolate`: reconstruct a signal from sparse observations, networks beside classical interpolation."""

from __future__ import annotations

import os
import sys

from .common import add_mesh_options, add_signal_options, follow, load_signal, mesh_and_source


def cmd_interpolate(args) -> None:
    import json

    import numpy as np

    from ..learning.recipes import comma_list
    from ..runs.actions import submit
    from ..runs.registry import Registry
    from ..runs.spec import Source
    from ..tasks.interpolation import (
        InterpolationRequest,
        InterpolationSettings,
        interpolation_task,
        random_nodes,
        read_observations_csv,
        satellite_tracks,
    )

    mesh, domain = mesh_and_source(args)
    truth, signal = (None, None) if args.observations and args.signal == "none" else load_signal(args, mesh)
    if args.observations:
        observations = read_observations_csv(args.observations, mesh)
        signal = Source("file", args.observations, {}, None, os.path.basename(args.observations))
    elif args.pattern == "tracks":
        coverage, swath = (None, args.swath_km) if args.swath_km else (args.coverage, None)
        observations = satellite_tracks(mesh, truth, args.tracks, args.inclination, swath, coverage, args.seed)
    else:
        observations = random_nodes(mesh, truth, args.fraction, args.seed)
    print(f"{mesh.n_vertices:,} nodes; observed: {observations.description}", file=sys.stderr)
    request = InterpolationRequest(mesh, observations, comma_list(args.methods, str), truth,
                                   InterpolationSettings(k=args.k, steps=args.steps, seed=args.seed), domain=domain, signal=signal)
    state = follow(submit(interpolation_task, request, Registry(), label="interpolation", start=False), "Interpolating")
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


def register(sub) -> None:
    from ..learning.recipes import default_of, list_text
    from ..tasks.interpolation import DEFAULT_METHODS, METHODS, InterpolationSettings, satellite_tracks

    p = sub.add_parser("interpolate", help="reconstruct a signal from sparse observations: networks vs classical interpolation",
                       description="Observe the signal at random nodes (--fraction), under simulated satellite tracks on a "
                       "sphere (--pattern tracks) or read observations from a CSV (lat,lon,value / x,y,z,value / vertex,value); "
                       f"reconstruct it with each method ({', '.join(METHODS)}) and score every one on the unobserved nodes.")
    add_mesh_options(p)
    add_signal_options(p)
    p.add_argument("--pattern", choices=["random", "tracks"], default="random", help="observation pattern (default %(default)s)")
    p.add_argument("--fraction", type=float, default=0.25, help="observed fraction of the nodes for --pattern random (default %(default)s)")
    p.add_argument("--tracks", type=int, default=default_of(satellite_tracks, "n_tracks"), help="satellite tracks (default %(default)s)")
    p.add_argument("--inclination", type=float, default=default_of(satellite_tracks, "inclination_deg"),
                   help="orbit inclination in degrees (default %(default)g, Jason)")
    p.add_argument("--coverage", type=float, default=0.05, help="area under the swaths, solved for (default %(default)s)")
    p.add_argument("--swath-km", type=float, help="swath width in km instead of --coverage")
    p.add_argument("--observations", metavar="FILE.csv", help="observations from a CSV instead of a pattern "
                   "(with --signal none when the truth is unknown: reconstructions without scores)")
    p.add_argument("--methods", default=list_text(DEFAULT_METHODS, ","), help="comma-separated (default %(default)s)")
    p.add_argument("--k", type=int, default=default_of(InterpolationSettings, "k"),
                   help="spectral features of the networks (default %(default)s)")
    p.add_argument("--steps", type=int, default=default_of(InterpolationSettings, "steps"),
                   help="training steps per network (default %(default)s)")
    p.add_argument("--out-prefix", default="interpolation", help="output files PREFIX.json, PREFIX.<method>.npy")
    p.set_defaults(func=cmd_interpolate)
