"""`ginr superres`: train on a mesh and predict on a finer one, beside the classical interpolants."""

from __future__ import annotations

import os
import sys

from ..errors import GinrError
from .common import (
    add_backend_options,
    add_laplacian_option,
    add_mesh_options,
    add_signal_options,
    defined_everywhere,
    follow,
    load_signal,
    mesh_and_source,
)


def cmd_superres(args) -> None:
    import numpy as np

    from ..geometry.mesh import load_mesh
    from ..learning.training import TrainConfig
    from ..runs.actions import submit
    from ..runs.registry import Registry
    from ..tasks.superres import (
        SuperResolutionRequest,
        finer_mesh,
        strategies_for,
        subset_correspondence,
        superres_task,
    )

    coarse, domain = mesh_and_source(args)
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
    target, signal = load_signal(args, coarse)
    known = defined_everywhere(signal) and correspondence is not None
    fine_truth = load_signal(args, fine)[0] if known else None  # resolution-independent signals: the truth is known on the fine mesh
    print(f"coarse {coarse.n_vertices:,} nodes -> fine {fine.n_vertices:,} nodes, strategy {args.strategy}", file=sys.stderr)
    request = SuperResolutionRequest(coarse, fine, target, (args.strategy,), k=args.k, laplacian=args.laplacian,
                                     correspondence=correspondence, fine_truth=fine_truth,
                                     train=TrainConfig(time_budget_s=args.budget), domain=domain, signal=signal)
    state = follow(submit(superres_task, request, Registry(), label="super-resolution", start=False), "Training on the coarse mesh")
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
        np.save(f"{os.path.splitext(args.out)[0]}.{o.name}.npy", o.fine_prediction)
    print(f"classical interpolation of the same coarse values beside it: "
          f"{', '.join(f'{o.name} ({o.seconds:.1f} s)' for o in classical)}")
    if "r2_fine_only" in outcome.scores:
        print(f"R2 on the {len(request.fine_only):,} fine-only nodes:")
        for o in [outcome, *classical]:
            print(f"  {o.name:11s} {o.scores['r2_fine_only']:.5f}")


def register(sub) -> None:
    from ..learning.recipes import default_of
    from ..tasks.superres import METHODS, STACKED, SuperResolutionRequest

    p = sub.add_parser("superres", help="train on a mesh and predict on a finer one (super-resolution)",
                       description="Train a GINR on the (coarse) mesh and predict on a finer mesh of the same surface: "
                       "the mesh subdivided, or --fine FILE. stacked (the default): a network correcting the classical "
                       "interpolants of the coarse values on the fine mesh (the interpolation benchmark's winner). The other "
                       "strategies make the two meshes' spectral features agree: kl (the paper's histogram sign flips), joint (solve the fine mesh, train on its coarse rows), "
                       "interp (interpolate the coarse basis), fmap (cotangent bases + functional map), sh (spheres).")
    add_mesh_options(p)
    add_signal_options(p)
    group = p.add_mutually_exclusive_group()
    group.add_argument("--fine", metavar="FILE", help="the fine mesh (default: the mesh subdivided)")
    group.add_argument("--subdivide", type=int, default=1, help="midpoint subdivision levels for the fine mesh (default %(default)s)")
    p.add_argument("--strategy", choices=METHODS, default=STACKED, help="method (default %(default)s)")
    p.add_argument("--k", type=int, default=default_of(SuperResolutionRequest, "k"),
                   help="embedding size (default %(default)s; small k interpolates more smoothly)")
    add_laplacian_option(p, "Laplacian (fmap always uses cotangent)")
    p.add_argument("--budget", type=float, default=60.0, help="training time budget in seconds (default %(default)g)")
    p.add_argument("--out", default="superres.npy", help="output file (default %(default)s)")
    add_backend_options(p)
    p.set_defaults(func=cmd_superres)
