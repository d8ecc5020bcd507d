"""`ginr crop`: croppable (Local-Global) models: train one on a partition, crop parts, train parts back."""

from __future__ import annotations

from ..errors import GinrError
from .common import (
    add_laplacian_option,
    add_mesh_options,
    add_signal_options,
    features_for,
    follow,
    load_signal,
    mesh_and_source,
)


def _part_list(text: str) -> list[int]:
    from ..learning.recipes import comma_list

    parts = list(comma_list(text, int, "Parts", "3,5"))
    if not parts:
        raise GinrError("Name at least one part, e.g. --remove 3,5.")
    return parts


def cmd_crop(args) -> None:
    """Train a croppable model (no RUN), crop a run's parts (--remove) or train parts back (--add)."""
    from ..learning.metrics import r2_text
    from ..learning.training import TrainConfig
    from ..runs.actions import submit
    from ..runs.registry import Registry
    from ..tasks.crop import ExtendRequest, crop_run, extend_task

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
    state = follow(submit(extend_task, request, registry, label="extend", start=False), "Training the new parts")
    new_id, r = state.result
    print(f"run {new_id}: run {args.run} with parts {', '.join(map(str, r.added))} trained back; every other weight unchanged: "
          f"{'yes' if r.others_unchanged else 'NO'}")
    print(f"weights {r.params_before:,} -> {r.params_after:,}; {r.nodes:,} nodes, {r.steps} steps in {r.seconds:.1f} s; "
          f"R2 on them {r2_text(r.r2_added)}, on every node the model represents {r2_text(r.r2_represented)}")
    if r.r2_reference is not None:
        back = "not within the budget" if r.seconds_to_reference is None else f"after {r.seconds_to_reference:.1f} s"
        print(f"the uncropped model's R2 on them: {r2_text(r.r2_reference)}; back to it {back}")


def _train_croppable(args) -> None:
    from ..geometry.features import FeatureSpec
    from dataclasses import replace

    from ..geometry.partition import partition_mesh
    from ..learning.model_config import ModelConfig
    from ..learning.fields import equal_size_configs
    from ..learning.training import TrainConfig
    from ..runs.actions import submit
    from ..runs.registry import Registry
    from ..runs.spec import RunInputs
    from ..tasks.crop import MODEL_LABELS, CroppableRequest, croppable_task, with_partition

    mesh, domain = mesh_and_source(args)
    target, signal = load_signal(args, mesh)
    features = FeatureSpec(args.laplacian, args.k)
    built = features_for(mesh, args.laplacian, args.k)
    partition = partition_mesh(mesh, args.parts, args.method, features=built, overlap=args.overlap, seed=args.part_seed)
    sizes = partition.sizes()
    print(f"{partition.n_parts} {args.method} parts of {sizes.min():,} to {sizes.max():,} nodes, overlap {args.overlap}")
    sized = equal_size_configs(ModelConfig(), args.k, partition.n_parts, local_layers=args.local_layers)
    kinds = [args.model] + ([k for k in ("per_part", "mlp") if k != args.model] if args.baselines else [])
    configs = {kind: sized[kind] for kind in kinds}
    if args.local_hidden or args.global_hidden:
        chosen = configs[args.model]
        configs[args.model] = replace(
            chosen, mlp=replace(chosen.mlp, hidden=args.global_hidden or chosen.mlp.hidden),
            partition=replace(chosen.partition, local_hidden=args.local_hidden or chosen.partition.local_hidden))
    request = CroppableRequest(with_partition(RunInputs(mesh, target), partition), configs, features,
                               TrainConfig(time_budget_s=args.budget), domain=domain, signal=signal)
    state = follow(submit(croppable_task, request, Registry(), label="croppable", start=False),
                   f"{len(configs)} model(s) x {args.budget:g} s")
    results = state.result or {}
    for kind, r in results.items():
        reach = r.seconds_to(0.99)
        print(f"run {r.run_id}: {MODEL_LABELS[kind]:17s} {r.params:7,} weights  R2 {r.metrics['r2']:.6f}  "
              f"R2 0.99 after {'-' if reach is None else f'{reach:.1f} s'}")
    print(f"crop with: ginr crop {results[args.model].run_id} --remove 0,1" if args.model in results else "cancelled")


def register(sub) -> None:
    from ..geometry.features import DEFAULT_K
    from ..geometry.partition import PARTITION_METHODS
    from ..learning.model_config import PartitionConfig

    p = sub.add_parser("crop", help="croppable Local-Global models: train one on a partition, crop parts, train parts back",
                       description="Without RUN: partition the mesh and train a croppable model (a global network plus one "
                       "small local network per part), recorded as a run. With RUN --remove 3,5: a new run without those "
                       "parts' weights (nothing retrained; R2 on the kept nodes before and after). With RUN --add 3,5: a new "
                       "run with those parts' local networks trained back, every other weight frozen.")
    p.add_argument("run", nargs="?", help="a partitioned run to crop or extend (see `ginr runs`)")
    p.add_argument("--remove", metavar="PARTS", help="comma-separated parts to crop, e.g. 3,5")
    p.add_argument("--add", metavar="PARTS", help="comma-separated parts to train back, e.g. 3,5")
    add_mesh_options(p)
    add_signal_options(p)
    p.add_argument("--parts", type=int, default=16, help="number of parts (default %(default)s)")
    p.add_argument("--method", choices=PARTITION_METHODS, default="spectral",
                   help="spectral k-means (default; parts follow the surface), xyz k-means, or latlon tiles (spheres)")
    p.add_argument("--overlap", type=int, default=0, help="mesh hops a node also feeds neighbouring parts (default %(default)s)")
    p.add_argument("--part-seed", type=int, default=0, help="seed of the k-means partition (default %(default)s)")
    p.add_argument("--model", choices=["local_global", "per_part"], default="local_global",
                   help="local_global (global + local networks; default) or per_part (local networks only)")
    p.add_argument("--local-layers", type=int, default=PartitionConfig.local_layers,
                   help="layers of each local network (default %(default)s)")
    p.add_argument("--local-hidden", type=int, help="width of each local network (default: sized to match the plain 4 x 128 GINR)")
    p.add_argument("--global-hidden", type=int, help="width of the global network (default: ~10%% of the weights)")
    p.add_argument("--baselines", action="store_true", help="also train the other partitioned kind and the plain GINR at the same size")
    p.add_argument("--k", type=int, default=DEFAULT_K, help="embedding size (default %(default)s)")
    add_laplacian_option(p)
    p.add_argument("--budget", type=float, default=60.0, help="training seconds per model, or for --add (default %(default)g)")
    p.set_defaults(func=cmd_crop)
