"""`ginr domains`, `ginr info`, `ginr embed`, `ginr signal`: domains, meshes, embeddings and signals, no training."""

from __future__ import annotations

from .common import ProgressBar, add_laplacian_option, add_mesh_options, add_signal_options, load_signal, mesh_from_args


def cmd_domains(args) -> None:
    from ..geometry.domains import BUILTIN_DOMAINS

    for name, domain in BUILTIN_DOMAINS.items():
        params = ", ".join(f"{k}={v}" for k, v in domain.defaults.items())
        print(f"{name:15s} {domain.description} ({params})")


def cmd_info(args) -> None:
    mesh = mesh_from_args(args)
    lo, hi = mesh.vertices.min(axis=0), mesh.vertices.max(axis=0)
    print(f"name        {mesh.name}")
    print(f"vertices    {mesh.n_vertices:,}")
    print(f"faces       {mesh.n_faces:,}")
    print(f"edges       {len(mesh.edges()):,}")
    print(f"components  {mesh.n_components()}")
    print(f"bounds      {lo.round(4).tolist()} .. {hi.round(4).tolist()}")
    if mesh.vertex_data:
        print(f"properties  {', '.join(mesh.vertex_data)}")


def cmd_embed(args) -> None:
    import numpy as np

    from ..geometry.spectral import spectral_embedding

    mesh = mesh_from_args(args)
    with ProgressBar(f"Embedding {mesh.n_vertices:,} nodes, k={args.k}") as bar:
        emb = spectral_embedding(mesh, k=args.k, laplacian=args.laplacian, cache=not args.no_cache, progress=bar)
    np.savez(args.out, features=emb.features, eigenvalues=emb.eigenvalues, vertices=mesh.vertices, faces=mesh.faces)
    print(f"eigenvalues {emb.eigenvalues[0]:.3g} .. {emb.eigenvalues[-1]:.4g} ({args.laplacian} Laplacian)")
    print(f"wrote {args.out}: features ({mesh.n_vertices}, {args.k}), eigenvalues, vertices, faces")


def cmd_signal(args) -> None:
    import numpy as np

    mesh = mesh_from_args(args)
    values, _ = load_signal(args, mesh)
    np.save(args.out, values)
    print(f"wrote {args.out}: {values.shape} values, range {values.min():.4g} .. {values.max():.4g}")


def register(sub) -> None:
    from ..geometry.features import DEFAULT_K

    p = sub.add_parser("domains", help="list the built-in domains")
    p.set_defaults(func=cmd_domains)

    p = sub.add_parser("info", help="load and clean a mesh, print its statistics")
    add_mesh_options(p)
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("embed", help="compute a spectral embedding and save it as .npz")
    add_mesh_options(p)
    p.add_argument("--k", type=int, default=DEFAULT_K, help="number of eigenvectors (default %(default)s, as the paper)")
    add_laplacian_option(p, "combinatorial D - A (the paper's; default), normalized, or cotangent with mass matrix")
    p.add_argument("--no-cache", action="store_true", help="recompute even if the embedding is in the cache")
    p.add_argument("--out", default="embedding.npz", help="output file (default %(default)s)")
    p.set_defaults(func=cmd_embed)

    p = sub.add_parser("signal", help="generate or load a per-vertex signal and save it as .npy")
    add_mesh_options(p)
    add_signal_options(p)
    p.add_argument("--out", default="signal.npy", help="output file (default %(default)s)")
    p.set_defaults(func=cmd_signal)
