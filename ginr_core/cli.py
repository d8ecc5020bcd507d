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
