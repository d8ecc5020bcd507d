"""What the commands share: the mesh and signal options, the progress bar, following a job, where the work runs.

Help texts say their default with argparse's `%(default)s`, so that each default is typed once: in the option,
which reads it from the request dataclass or recipe it feeds (ginr_core.learning.recipes.default_of).
"""

from __future__ import annotations

import argparse
import os
import sys

from ..errors import GinrError


def mesh_from_args(args):
    """A mesh from `--mesh FILE` or `--domain NAME` (built-in), with cleaning messages printed."""
    return mesh_and_source(args)[0]


def mesh_and_source(args):
    """(mesh, Source) from `--mesh FILE` or `--domain NAME`: the run spec records where the domain came from."""
    from ..geometry.domains import make_domain
    from ..geometry.mesh import load_mesh
    from ..runs.spec import Source

    if args.mesh:
        mesh, report = load_mesh(args.mesh, components=args.components)
        for message in report.messages():
            print(f"note: {message}", file=sys.stderr)
        return mesh, Source("file", args.mesh, {"components": args.components}, mesh.content_hash(), os.path.basename(args.mesh))
    return make_domain(args.domain), Source("builtin", args.domain, {}, None, args.domain)


def add_mesh_options(parser: argparse.ArgumentParser, default_domain: str | None = "icosphere") -> None:
    from ..geometry.domains import BUILTIN_DOMAINS

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


def add_laplacian_option(parser: argparse.ArgumentParser, help: str = "Laplacian of the embedding") -> None:
    from ..geometry.laplacian import LAPLACIANS

    parser.add_argument("--laplacian", choices=LAPLACIANS, default="combinatorial", help=help)


class ProgressBar:
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


# --- signals -------------------------------------------------------------------------------------------------


def load_signal(args, mesh):
    """(values, Source) of a per-vertex signal: a file, a PLY property, or a generated one (see `ginr signal`). The
    Source is the one the Data page records for the same signal (ginr_core.runs.signal_sources)."""
    from dataclasses import replace
    from pathlib import Path

    from ..data.signals import (
        ANALYTIC_SIGNALS,
        PAPER_GRAY_SCOTT,
        SIGNAL_EXTENSIONS,
        analytic_signal,
        gray_scott,
        load_vertex_signal,
        vertex_property_signal,
    )
    from ..geometry.sphere import random_sh_field
    from ..runs.signal_sources import analytic_source, gray_scott_source, property_source, sh_field_source
    from ..runs.spec import Source
    from ..storage.files import read_input

    spec = args.signal
    if spec == "gray-scott":
        params = replace(PAPER_GRAY_SCOTT, steps=args.gs_steps)
        with ProgressBar("Gray-Scott") as bar:
            return gray_scott(mesh, **params.as_dict(), progress=bar).v, gray_scott_source(params)
    if spec == "sh-field":
        return random_sh_field(mesh, max_degree=args.sh_degree, seed=args.seed), sh_field_source(args.sh_degree, args.seed)
    if spec in ANALYTIC_SIGNALS:
        return analytic_signal(mesh, spec), analytic_source(spec)
    if spec.startswith("property:"):
        name = spec.split(":", 1)[1]
        return vertex_property_signal(mesh, name), property_source(name)
    if Path(spec).suffix.lower().lstrip(".") in SIGNAL_EXTENSIONS:
        data, name, _ = read_input(spec, extensions=SIGNAL_EXTENSIONS, what="signal")
        return load_vertex_signal(data, name, mesh), Source.of_bytes("file", name, data)
    raise GinrError(
        f"Unknown signal '{spec}'. Use gray-scott, sh-field, {', '.join(ANALYTIC_SIGNALS)}, property:NAME "
        "or a .npy / .csv file."
    )


def defined_everywhere(source) -> bool:
    """Whether a signal is a function of position (analytic, SH fields), so it is known on any other mesh too."""
    return source.kind in ("analytic", "sh-field")


def add_signal_options(parser: argparse.ArgumentParser) -> None:
    from ..data.signals import PAPER_GRAY_SCOTT
    from ..geometry.sphere import random_sh_field
    from ..learning.recipes import default_of

    parser.add_argument(
        "--signal",
        default="gray-scott",
        help="gray-scott (the paper's texture; default), sh-field (sphere domains), an analytic kind "
        "(sines, height, bumps, checker), property:NAME (a PLY vertex property) or a .npy/.csv file",
    )
    parser.add_argument("--gs-steps", type=int, default=PAPER_GRAY_SCOTT.steps,
                        help="Gray-Scott steps (default %(default)s, as the paper)")
    parser.add_argument("--sh-degree", type=int, default=default_of(random_sh_field, "max_degree"),
                        help="maximum degree of an sh-field (default %(default)s)")
    parser.add_argument("--seed", type=int, default=default_of(random_sh_field, "seed"),
                        help="random seed of an sh-field (default %(default)s)")


def features_for(mesh, kind: str, k: int | None):
    """A run's features (FeatureSpec.build: the spectral embedding, cached on disk, or xyz) with a progress bar."""
    from ..geometry.features import FeatureSpec

    spec = FeatureSpec(kind, k)
    with ProgressBar(f"Features of {mesh.n_vertices:,} nodes: {spec.label}") as bar:
        return spec.build(mesh, progress=bar)


def input_features(args):
    """The FeatureSpec of `--input spectral|xyz`, `--embedding` and `--k` (train, collection train)."""
    from ..geometry.features import SPHERE_EMBEDDING, XYZ, FeatureSpec

    return FeatureSpec(XYZ if args.input == "xyz" else {"sh": SPHERE_EMBEDDING}.get(args.embedding, args.embedding), args.k)


def add_input_options(parser: argparse.ArgumentParser) -> None:
    """`--input`, `--embedding` and `--k`: the features of a network (see `input_features`)."""
    from ..geometry.features import DEFAULT_K
    from ..geometry.laplacian import LAPLACIANS

    parser.add_argument("--input", choices=["spectral", "xyz"], default="spectral",
                        help="spectral: GINR on a spectral embedding (default); xyz: classic INR on coordinates")
    parser.add_argument("--embedding", choices=[*LAPLACIANS, "sh"], default="combinatorial",
                        help="the GINR's embedding: a Laplacian (combinatorial, the paper's; normalized; cotangent) or sh, "
                        "the exact spherical harmonics of a sphere domain (k is rounded up to whole degrees, then cut to k)")
    parser.add_argument("--k", type=int, default=DEFAULT_K, help="embedding size (default %(default)s)")


# --- jobs ----------------------------------------------------------------------------------------------------


def follow(job, what: str):
    """Run a job in the background with a progress bar until it ends (Ctrl-C cancels it); its final state."""
    import time

    job.start()
    with ProgressBar(what) as bar:
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


def add_backend_options(parser: argparse.ArgumentParser) -> None:
    from ..runs.backend_config import BACKENDS

    group = parser.add_argument_group("where the work runs")
    group.add_argument("--backend", choices=BACKENDS,
                       help="local: this process; process: a worker process (niced; GINR_WORKERS at once, more "
                       "queue); ray: a Ray worker (default: local, or GINR_BACKEND, or ray when GINR_RAY_ADDRESS is set)")
    group.add_argument("--ray-address", metavar="HOST:PORT",
                       help="join this Ray cluster, e.g. a GPU machine's `ray start --head` (implies --backend ray; "
                       "default GINR_RAY_ADDRESS; none: a Ray on this machine)")
    group.add_argument("--gpu", action="store_true", help="with Ray: each job (each sweep trial) asks for one GPU")


def use_backend_from_args(args):
    """The backend chosen by the options (else the environment), connected; said on stderr when it is Ray."""
    from ..runs.backend_config import BackendConfig, default_backend, operator_backend
    from ..runs.backends import resources, use_backend

    name = args.backend or ("ray" if args.ray_address else default_backend().name)
    ray = operator_backend("ray")
    config = use_backend(BackendConfig("ray", args.ray_address or ray.address, args.gpu or ray.gpu)
                         if name == "ray" else BackendConfig(name))
    if config.name == "ray":
        seen = resources(config)
        print(f"jobs run on {config.label}: {seen['CPU']:g} CPUs, {seen['GPU']:g} GPUs", file=sys.stderr)
    return config

