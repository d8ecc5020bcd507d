"""`ginr timeseries`: learn a signal over time (time as an extra input) and score the held-out frames."""

from __future__ import annotations

import os
import sys

from ..errors import GinrError
from .common import ProgressBar, add_backend_options, add_laplacian_option, add_mesh_options, follow, mesh_from_args


def _series_from_args(args):
    """The mesh and time series of `ginr timeseries`: a netCDF field along one dimension, or Gray-Scott frames."""
    from ..learning.recipes import comma_list
    from ..tasks.temporal import gray_scott_series, grid_series, series_from_files

    if args.netcdf:
        from ..data.gridded import open_grid

        selection = {}
        for item in args.select or []:
            dim, _, index = item.partition("=")
            if not index.lstrip("-").isdigit():
                raise GinrError(f"--select takes DIM=INDEX (a whole number), got '{item}'.")
            selection[dim] = int(index)
        with open_grid(args.netcdf) as grid:
            return grid_series(grid, args.variable, args.over, stride=args.grid_stride, **selection)
    mesh = mesh_from_args(args)
    if args.signals:
        times = list(comma_list(args.times, float, "--times", "0,1,2")) if args.times else None
        return mesh, series_from_files([(path, os.path.basename(path)) for path in args.signals], mesh, times)
    with ProgressBar("Gray-Scott") as bar:
        return mesh, gray_scott_series(mesh, steps=args.gs_steps, save_every=args.save_every, progress=bar)


def cmd_timeseries(args) -> None:
    import numpy as np

    from ..geometry.features import FeatureSpec
    from ..runs.actions import submit
    from ..runs.registry import Registry
    from ..runs.spec import Source
    from ..tasks.temporal import SeriesRequest, series_task, series_train_config
    from ..viz.animation import FORMATS, MAX_EXPORT_FRAMES, animation_bytes, evenly_spaced

    fmt = args.animation.rsplit(".", 1)[-1].lower() if args.animation else None
    if fmt is not None and fmt not in FORMATS:
        raise GinrError(f"--animation must end in .gif or .mp4, got '{args.animation}'.")
    mesh, series = _series_from_args(args)
    trained = series.training_frames(args.stride)
    print(f"{series.name}: {series.n_frames} frames on {mesh.n_vertices:,} nodes; training on {int(trained.sum())}, "
          f"holding out {int((~trained).sum())}", file=sys.stderr)
    request = SeriesRequest(mesh, series, FeatureSpec(args.laplacian, args.k), args.stride,
                            train=series_train_config(time_budget_s=args.budget),
                            domain=Source("netcdf" if args.netcdf else "series", args.netcdf or args.mesh or args.domain),
                            signal=Source("series", series.name, {}, None, series.name))
    state = follow(submit(series_task, request, Registry(), label="series", start=False), "Training")
    fit = state.result
    np.savez_compressed(args.out, prediction=fit.prediction, truth=series.values, times=series.times, trained=fit.trained)
    print(f"run {state.run_id}: wrote {args.out}: prediction at {series.n_frames} times")
    if fit.held_out is not None:
        worst = int(np.argmin(np.where(fit.trained, np.inf, fit.frame_r2())))
        print(f"R2 on the held-out frames: {fit.held_out['r2']:.5f} (worst: {series.labels[worst]}, {fit.frame_r2()[worst]:.4f})")
    if fmt is not None:
        frames = evenly_spaced(series.n_frames, MAX_EXPORT_FRAMES)
        with ProgressBar(f"Rendering {len(frames)} frames") as bar:
            data = animation_bytes(mesh, {"truth": series.values[frames], "prediction": fit.prediction[frames]},
                                   [series.labels[i] for i in frames], fmt, args.fps, progress=bar)
        with open(args.animation, "wb") as f:
            f.write(data)
        print(f"wrote {args.animation}")


def register(sub) -> None:
    from ..learning.recipes import default_of
    from ..tasks.temporal import SeriesRequest, gray_scott_series

    p = sub.add_parser("timeseries", help="learn a signal over time (time as an extra input), score held-out frames",
                       description="Fit a time-conditioned GINR to every --stride-th frame of a series and predict all frames. "
                       "The series is Gray-Scott on the mesh (default; the paper: 3,000 steps, trained on t = 0 mod 10, shown at "
                       "t = 0 mod 5), per-vertex signal files, one per time (--signals a.npy b.npy ... --times 0,1,...), or a netCDF field "
                       "along one dimension (--netcdf FILE --variable z --over level).")
    add_mesh_options(p)
    p.add_argument("--gs-steps", type=int, default=default_of(gray_scott_series, "steps"),
                   help="Gray-Scott steps (default %(default)s, as the paper)")
    p.add_argument("--save-every", type=int, default=default_of(gray_scott_series, "save_every"),
                   help="keep every Nth Gray-Scott step as a frame (default %(default)s)")
    p.add_argument("--signals", nargs="+", metavar="FILE", help="per-vertex signal files (.npy/.csv), one per time, on the mesh")
    p.add_argument("--times", help="comma-separated time stamps of the --signals files (default 0, 1, 2, ...)")
    p.add_argument("--netcdf", metavar="FILE", help="a lat-lon netCDF file instead of Gray-Scott")
    p.add_argument("--variable", default="z", help="netCDF variable (default %(default)s)")
    p.add_argument("--over", default="level", help="netCDF dimension that plays the role of time (default %(default)s)")
    p.add_argument("--select", action="append", metavar="DIM=INDEX", help="index of another netCDF dimension, e.g. month=0")
    p.add_argument("--grid-stride", type=int, default=2, help="keep every Nth latitude and longitude (default %(default)s)")
    p.add_argument("--stride", type=int, default=default_of(SeriesRequest, "stride"),
                   help="train on every Nth frame, hold out the rest (default %(default)s)")
    p.add_argument("--k", type=int, default=default_of(SeriesRequest, "features").k, help="embedding size (default %(default)s)")
    add_laplacian_option(p)
    p.add_argument("--budget", type=float, default=60.0, help="training time budget in seconds (default %(default)g)")
    p.add_argument("--out", default="series.npz", help="output file: prediction, truth, times, trained (default %(default)s)")
    p.add_argument("--animation", metavar="FILE.gif|FILE.mp4", help="also write truth | prediction as an animation")
    p.add_argument("--fps", type=float, default=10.0, help="animation frames per second (default %(default)g)")
    add_backend_options(p)
    p.set_defaults(func=cmd_timeseries)
