"""`ginr compare`: INR vs GINR, ReLU vs sine at equal budget (the paper's Table 2)."""

from __future__ import annotations

from .common import (
    add_backend_options,
    add_laplacian_option,
    add_mesh_options,
    add_signal_options,
    follow,
    load_signal,
    mesh_and_source,
)


def cmd_compare(args) -> None:
    from ..geometry.features import FeatureSpec
    from ..learning.recipes import comma_list
    from ..learning.training import TrainConfig
    from ..runs.actions import submit
    from ..runs.registry import Registry
    from ..runs.spec import RunInputs
    from ..tasks.compare import TABLE2, ComparisonRequest, comparison_task

    mesh, domain = mesh_and_source(args)
    target, signal = load_signal(args, mesh)
    models = comma_list(args.models, str) if args.models else tuple(TABLE2)
    request = ComparisonRequest(RunInputs(mesh, target), FeatureSpec(args.laplacian, args.k), args.budget, models,
                                args.holdout, args.seed, TrainConfig(), domain=domain, signal=signal)
    state = follow(submit(comparison_task, request, Registry(), label="comparison", start=False),
                   f"{len(models)} models x {args.budget:g} s")
    results = state.result
    scored = next(iter(results.values())).scored_on if results else "no"
    print(f"R2 on {scored} nodes ({args.budget:g} s each):")
    for name, result in results.items():
        print(f"  {name:10s} {result.metrics['r2']:9.5f}   MSE {result.metrics['mse']:.3g}   {result.elapsed_s:.1f} s   run {result.run_id}")


def register(sub) -> None:
    from ..geometry.features import DEFAULT_K
    from ..learning.recipes import default_of
    from ..tasks.compare import TABLE2, ComparisonRequest

    p = sub.add_parser("compare", help="INR vs GINR, ReLU vs sine, at equal budget (the paper's Table 2)")
    add_mesh_options(p)
    add_signal_options(p)
    p.add_argument("--k", type=int, default=DEFAULT_K, help="embedding size of the GINRs (default %(default)s)")
    add_laplacian_option(p)
    p.add_argument("--budget", type=float, default=default_of(ComparisonRequest, "budget_s"),
                   help="training seconds per model (default %(default)g)")
    p.add_argument("--models", help=f"comma-separated subset of {','.join(TABLE2)} (default all)")
    p.add_argument("--holdout", type=float, default=default_of(ComparisonRequest, "holdout"),
                   help="fraction of nodes held out and scored (generalisation); default 0 = fit and score all nodes")
    add_backend_options(p)
    p.set_defaults(func=cmd_compare)
