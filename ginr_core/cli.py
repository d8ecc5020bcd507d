"""The `ginr` command line: the same core the dashboard uses, one subcommand per capability.

User errors (bad files, wrong signal lengths...) print one line to stderr and exit with status 2;
no traceback is shown for them.
"""

from __future__ import annotations

import argparse
import sys

from .errors import GinrError


def _mesh_from_args(args):
    """A mesh from `--mesh FILE` or `--domain NAME` (built-in), with cleaning messages printed."""
    from .domains import make_domain
    from .mesh import load_mesh

    if args.mesh:
        mesh, report = load_mesh(args.mesh, components=args.components)
        for message in report.messages():
            print(f"note: {message}", file=sys.stderr)
        return mesh
    return make_domain(args.domain)


def _add_mesh_options(parser: argparse.ArgumentParser) -> None:
    from .domains import BUILTIN_DOMAINS

    group = parser.add_mutually_exclusive_group()
    group.add_argument("--mesh", metavar="FILE", help="mesh file (ply, obj, off, stl, glb)")
    group.add_argument(
        "--domain",
        default="icosphere",
        choices=sorted(BUILTIN_DOMAINS),
        help="built-in domain used when no --mesh is given (default: icosphere)",
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

    from .signals import ANALYTIC_SIGNALS, analytic_signal, gray_scott, load_vertex_signal, vertex_property_signal
    from .sphere import random_sh_field

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

    from .spectral import spectral_embedding

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


def cmd_domains(args) -> None:
    from .domains import BUILTIN_DOMAINS

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

    from .laplacian import LAPLACIANS

    p = sub.add_parser("embed", help="compute a spectral embedding and save it as .npz")
    _add_mesh_options(p)
    p.add_argument("--k", type=int, default=100, help="number of eigenvectors (default 100, as the paper)")
    p.add_argument("--laplacian", choices=LAPLACIANS, default="combinatorial",
                   help="combinatorial D - A (the paper's; default), normalized, or cotangent with mass matrix")
    p.add_argument("--no-cache", action="store_true", help="recompute even if the embedding is in the cache")
    p.add_argument("--out", default="embedding.npz", help="output file (default embedding.npz)")
    p.set_defaults(func=cmd_embed)

    p = sub.add_parser("signal", help="generate or load a per-vertex signal and save it as .npy")
    _add_mesh_options(p)
    _add_signal_options(p)
    p.add_argument("--out", default="signal.npy", help="output file (default signal.npy)")
    p.set_defaults(func=cmd_signal)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except GinrError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
