"""`ginr collection build / train / fit-new / export`: many signals on one domain, one shared network and a code
per signal."""

from __future__ import annotations

import os
import sys

from .common import ProgressBar, add_input_options, add_mesh_options, follow, input_features, mesh_from_args


def cmd_collection_build(args) -> None:
    from ..data.collections import collection_from_files, collection_from_npz, gray_scott_collection, grid_collection
    from ..learning.recipes import GRAY_SCOTT_FAMILY, comma_list, list_text

    if args.netcdf:
        from ..data.gridded import open_grid

        with open_grid(args.netcdf) as grid:
            variables = list(comma_list(args.variables, str)) if args.variables else None
            mesh, collection = grid_collection(grid, variables, stride=args.grid_stride)
    elif args.npz:
        mesh, collection = collection_from_npz(args.npz, None, mesh_from_args(args) if (args.mesh or args.domain) else None)
    else:
        mesh = mesh_from_args(args)
        if args.signals:
            collection = collection_from_files([(path, os.path.basename(path)) for path in args.signals], mesh)
        else:
            family = GRAY_SCOTT_FAMILY
            feeds = comma_list(args.feed_rates, float, "--feed-rates", list_text(family.F, ","))
            kills = comma_list(args.kill_rates, float, "--kill-rates", list_text(family.k, ","))
            seeds = comma_list(args.seeds, int, "--seeds", list_text(family.seeds, ","))
            with ProgressBar("Gray-Scott") as bar:
                collection = gray_scott_collection(mesh, feeds, kills, seeds, args.gs_steps, progress=bar)
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


def cmd_collection_train(args) -> None:
    import numpy as np

    from ..data.collections import choose_held_out, collection_from_npz
    from ..learning.collection_models import CodeFitConfig
    from ..learning.recipes import comma_list
    from ..runs.actions import submit
    from ..runs.registry import Registry
    from ..runs.spec import Source
    from ..storage.files import read_input
    from ..tasks.collections import (
        CollectionRequest,
        collection_task,
        collection_train_config,
        input_model_config,
    )

    data, _, _ = read_input(args.collection, extensions=("npz",), what="collection")  # size checked before reading
    mesh, collection = collection_from_npz(data, os.path.basename(args.collection))
    along = args.along or next(iter(collection.metadata), None)
    if args.holdout_names:
        held = [collection.index(name) for name in comma_list(args.holdout_names, str)]
    else:
        held = choose_held_out(collection, args.holdout, along)
    features = input_features(args)
    n_rows = (collection.n_members - len(held)) * collection.n_nodes
    name = os.path.basename(args.collection)
    request = CollectionRequest(
        mesh, collection, features,
        input_model_config(features, args.modulation, rank=args.rank, latent_dim=args.latent_dim,
                           random_features=args.random_features, hidden=args.hidden),
        collection_train_config(n_rows, time_budget_s=args.budget, steps=args.steps, seed=args.seed, device=args.device),
        tuple(int(i) for i in held), along, CodeFitConfig(time_budget_s=args.new_budget),
        args.new_budget if args.compare else None,
        domain=Source.of_bytes("file", name, data, f"mesh of {name}"), signal=Source.of_bytes("file", name, data, collection.name),
    )
    print(f"{collection.n_members} members on {mesh.n_vertices:,} nodes; training on {collection.n_members - len(held)}, "
          f"holding out {len(held)}", file=sys.stderr)
    state = follow(submit(collection_task, request, Registry(), label="collection", start=False), "Training")
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

    from ..data.signals import load_vertex_signal
    from ..runs.actions import submit
    from ..runs.registry import Registry
    from ..runs.spec import Source
    from ..tasks.collections import FitNewRequest, fit_new_task, load_collection_run

    registry = Registry()
    mesh = load_collection_run(registry, args.run).inputs.mesh
    with open(args.signal, "rb") as f:
        data = f.read()
    name = os.path.basename(args.signal)
    values = load_vertex_signal(data, name, mesh)
    request = FitNewRequest(args.run, values, args.budget, args.compare, signal=Source.of_bytes("file", name, data))
    result = follow(submit(fit_new_task, request, registry, label="fit-new", start=False), "Fitting the code").result
    _print_fits([(name, result.fit_new, None, result.span, result.sines, result.scratch)])
    if result.start_member is not None:
        print(f"the code started near that of '{result.start_member}' (the training member that fitted it best)")
    if result.scratch_run_id:
        print(f"the from-scratch model is run {result.scratch_run_id}")
    np.save(args.out, result.fit_new.prediction)
    print(f"wrote {args.out}: the new signal's prediction ({result.fit_new.elapsed_s:.1f} s, {result.fit_new.steps} steps)")


def cmd_collection_export(args) -> None:
    import numpy as np

    from ..runs.registry import Registry
    from ..tasks.collections import latent_projection, load_collection_run

    registry = Registry()
    recorded = load_collection_run(registry, args.run)
    members = recorded.members
    coords, explained = latent_projection(members["codes"])
    metadata = {f"meta_{k}": np.asarray(v) for k, v in recorded.spec.options.get("metadata", {}).items()}
    np.savez(args.out, names=np.asarray(recorded.names), pca=coords, pca_explained=explained,
             predictions=registry.load_predictions(args.run), **members, **metadata)
    print(f"wrote {args.out}: codes {members['codes'].shape}, per-member mean / std / R2, PCA coordinates, "
          "predictions, metadata")


def register(sub) -> None:
    from ..learning.collection_models import (
        DEFAULT_MODULATION,
        DEFAULT_RANDOM_FEATURES,
        MODULATIONS,
        RANDOM_FEATURES_PER_NODE,
        CodeFitConfig,
    )
    from ..learning.model_config import MLPConfig
    from ..learning.recipes import GRAY_SCOTT_FAMILY, default_of, list_text
    from ..tasks.collections import input_model_config

    p = sub.add_parser("collection", help="many signals on one domain: one shared network, a small code per signal",
                       description="Learn a family of signals on one domain (a shared network + a code per signal), fit a "
                       "new signal by its code alone, score held-out members. build -> train -> fit-new / export.")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    code_budget = default_of(CodeFitConfig, "time_budget_s")

    b = actions.add_parser("build", help="make a collection file (.npz with the mesh) from Gray-Scott, netCDF, files or an npz")
    add_mesh_options(b)
    source = b.add_mutually_exclusive_group()
    source.add_argument("--netcdf", metavar="FILE", help="every variable x level x month... slice of a lat-lon netCDF file")
    source.add_argument("--signals", nargs="+", metavar="FILE", help="per-vertex signal files (.npy/.csv), one member each")
    source.add_argument("--npz", metavar="FILE", help="an .npz stack: 'values' (members x nodes), optional 'names', 'meta_KEY'")
    family = GRAY_SCOTT_FAMILY
    b.add_argument("--feed-rates", "--F", default=list_text(family.F, ","), metavar="F,...",
                   help="Gray-Scott feed rates F (default %(default)s)")
    b.add_argument("--kill-rates", default=list_text(family.k, ","), metavar="K,...",
                   help="Gray-Scott kill rates k (default %(default)s; not an embedding size)")
    b.add_argument("--seeds", default=list_text(family.seeds, ","), help="Gray-Scott random seeds (default %(default)s)")
    b.add_argument("--gs-steps", type=int, default=family.steps, help="Gray-Scott steps (default %(default)s; cached on disk)")
    b.add_argument("--variables", help="netCDF variables, comma-separated (default all)")
    b.add_argument("--grid-stride", type=int, default=2, help="keep every Nth latitude and longitude (default %(default)s)")
    b.add_argument("--out", default="collection.npz", help="output file (default %(default)s)")
    b.set_defaults(func=cmd_collection_build)

    t = actions.add_parser("train", help="train the shared network and codes; score held-out members; register the run")
    t.add_argument("collection", help="a collection file from `ginr collection build`")
    add_input_options(t)
    t.add_argument("--modulation", choices=MODULATIONS, default=DEFAULT_MODULATION,
                   help="heads: an output row per signal on a shared basis (fit-new is one least-squares solve); lowrank: "
                        "a rank-r change of the first hidden layer per signal; latent: a code fed as input (default %(default)s)")
    t.add_argument("--rank", type=int, default=default_of(input_model_config, "rank"),
                   help="rank of the low-rank modulation (default %(default)s)")
    t.add_argument("--latent-dim", type=int, default=default_of(input_model_config, "latent_dim"),
                   help="size of the latent code (default %(default)s)")
    t.add_argument("--random-features", type=int, default=DEFAULT_RANDOM_FEATURES,
                   help=f"heads: fixed random sines of the input beside the trained layers, at most "
                        f"{RANDOM_FEATURES_PER_NODE:.0%}% of the nodes (default %(default)s)")
    t.add_argument("--hidden", type=int, default=MLPConfig.hidden, help="hidden width (default %(default)s)")
    t.add_argument("--holdout", type=int, default=0, help="members held out, chosen with neighbours on both sides (default %(default)s)")
    t.add_argument("--holdout-names", help="comma-separated names of the members to hold out instead")
    t.add_argument("--along", help="metadata key ordering the members, for held-out choice and interpolation (default: the first)")
    t.add_argument("--budget", type=float, default=120.0, help="training time budget in seconds (default %(default)g)")
    t.add_argument("--steps", type=int, default=None, help="maximum steps (default: the budget decides)")
    t.add_argument("--new-budget", type=float, default=code_budget,
                   help="seconds to fit each held-out member's code (default %(default)g)")
    t.add_argument("--compare", action="store_true",
                   help="also train a single-signal model from scratch on each held-out member, at the same budget")
    t.add_argument("--seed", type=int, default=0, help="random seed (default %(default)s)")
    t.add_argument("--device", default="auto", help="auto (cuda, then mps, else cpu), cpu, cuda, mps")
    t.add_argument("--out", help="also save every member's prediction (.npy)")
    t.set_defaults(func=cmd_collection_train)

    f = actions.add_parser("fit-new", help="fit a new signal on the run's domain by its code alone (shared weights frozen)")
    f.add_argument("run", help="a collection run id (see `ginr runs`)")
    f.add_argument("--signal", required=True, metavar="FILE", help="the new signal (.npy/.csv), one value per vertex")
    f.add_argument("--budget", type=float, default=code_budget, help="seconds (default %(default)g)")
    f.add_argument("--compare", action="store_true",
                   help="also train a single-signal model from scratch at the same budget, side by side (recorded as a run)")
    f.add_argument("--out", default="prediction.npy", help="output file (default %(default)s)")
    f.set_defaults(func=cmd_collection_fit_new)

    e = actions.add_parser("export", help="codes, per-member mean / std / R2, PCA coordinates, predictions and metadata as .npz")
    e.add_argument("run", help="a collection run id")
    e.add_argument("--out", default="codes.npz", help="output file (default %(default)s)")
    e.set_defaults(func=cmd_collection_export)
