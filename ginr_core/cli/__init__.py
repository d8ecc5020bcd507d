"""The `ginr` command line: the same core the dashboard uses, one subcommand per capability.

Each command group is a module of this package that registers its parsers beside its handlers (`register(sub)`);
this module puts them together and runs one. User errors (bad files, wrong signal lengths...) print one line to
stderr and exit with status 2; no traceback is shown for them.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import GinrError
from . import collection, compare, crop, data, interpolate, runs, superres, sweep, timeseries
from .common import use_backend_from_args

COMMAND_GROUPS = (data, runs, superres, compare, timeseries, crop, interpolate, collection, sweep)  # in `ginr --help` order


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ginr",
        description="Generalised implicit neural representations on meshes and spheres.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if isinstance(getattr(args, "run", None), str):  # a run named by its id or a unique start of it
            from ..runs.registry import Registry

            args.run = Registry().resolve(args.run)
        if hasattr(args, "backend"):  # Ray started or joined before any work: a bad address fails first
            use_backend_from_args(args)
        args.func(args)
    except GinrError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)  # one line, whatever the message holds
        return 2
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as exc:  # a file named on the command line
        where = f": {exc.filename}" if exc.filename else ""
        print(f"error: {' '.join(str(exc.strerror or exc).split())}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        if "ginr_core.runs.ray_backend" in sys.modules:  # its driver processes end with the command
            from ..runs.ray_backend import stop_drivers

            stop_drivers()
    return 0


__all__ = ["build_parser", "main"]
