"""Interpolation benchmark: every method on the same observations, scored on the nodes not observed.

    python bench/interpolation.py                 # every setup, 1,500 steps per network
    python bench/interpolation.py --steps 500     # cheaper networks (equal for all of them)
    python bench/interpolation.py --setups bunny25,era_tracks

Setups (needs ../shared/data):
- era_tracks: ERA-Interim z500, January, 241 x 480, seen under 4 simulated nadir tracks (66 degree orbits, swath
  solved for 5% of the area);
- era_random1: the same field at 1% of the nodes, at random;
- bunny25, bunny10: the bunny's Gray-Scott texture at 25% / 10% of the nodes;
- superres_bunny, superres_era: the two super-resolution setups of bench/superres.py (the coarse mesh's nodes
  observed on the fine mesh), i.e. their classical rows beside the networks.
Every network trains for the same number of steps (--steps); the classical methods need no training. Printed per
method: the normalised score 1 - RMSE / RMS(truth), R^2, the resolved scale and seconds. Ends with one JSON line
{"<setup>": {"<method>": R^2 on the unobserved nodes, ...}, ...}; network methods' keys start with ginr / inr.
Seconds are wall-clock on whatever else the machine runs (noisy on a shared CPU).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from superres import bunny_setup, era_setup  # noqa: E402

from ginr_core.data.gridded import open_grid  # noqa: E402
from ginr_core.geometry.domains import latlon_grid  # noqa: E402
from ginr_core.learning.metrics import winner  # noqa: E402
from ginr_core.runs.jobs import Job  # noqa: E402
from ginr_core.tasks.interpolation import (  # noqa: E402
    METHODS,
    InterpolationRequest,
    InterpolationSettings,
    coarse_nodes,
    interpolation_task,
    random_nodes,
    satellite_tracks,
)

ERA = REPO.parent / "shared" / "data" / "eraint_uvz.nc"


def era_field():
    grid = open_grid(ERA)
    truth = grid.field("z", month=0, level=grid.index_of("level", 500))
    return latlon_grid(np.asarray(grid.lat), np.asarray(grid.lon)), np.asarray(truth, dtype=np.float64)


_BUNNY = {}


def bunny_field():
    if not _BUNNY:
        coarse, fine, corr, truth = bunny_setup()
        _BUNNY.update(fine=fine, truth=truth, corr=corr)
    return _BUNNY["fine"], _BUNNY["truth"]


def setup(name: str):
    """(mesh, observations, truth) of a named setup."""
    if name == "era_tracks":
        mesh, truth = era_field()
        return mesh, satellite_tracks(mesh, truth, n_tracks=4, inclination_deg=66.0, coverage=0.05), truth
    if name == "era_random1":
        mesh, truth = era_field()
        return mesh, random_nodes(mesh, truth, 0.01), truth
    if name in ("bunny25", "bunny10"):
        mesh, truth = bunny_field()
        return mesh, random_nodes(mesh, truth, 0.25 if name == "bunny25" else 0.10), truth
    if name == "superres_bunny":
        bunny_field()
        return _BUNNY["fine"], coarse_nodes(_BUNNY["fine"], _BUNNY["corr"], _BUNNY["truth"]), _BUNNY["truth"]
    if name == "superres_era":
        _, fine, corr, truth = era_setup()
        truth = np.asarray(truth, dtype=np.float64)
        return fine, coarse_nodes(fine, corr, truth), truth
    raise SystemExit(f"unknown setup {name}")


SETUPS = ("era_tracks", "era_random1", "bunny25", "bunny10", "superres_bunny", "superres_era")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--setups", default=",".join(SETUPS))
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--steps", type=int, default=1500, help="optimisation steps of every network")
    parser.add_argument("--k", type=int, default=100)
    args = parser.parse_args()
    if not ERA.is_file():
        raise SystemExit(f"The data are needed at {ERA.parent} (../shared/data beside the repository).")
    methods = [m for m in args.methods.split(",") if m]
    settings = InterpolationSettings(k=args.k, steps=args.steps)
    result = {}
    t_all = time.perf_counter()
    for name in [s for s in args.setups.split(",") if s]:
        t0 = time.perf_counter()
        mesh, obs, truth = setup(name)
        print(f"\n{name}: {mesh.n_vertices:,} nodes, {obs.description}; {len(obs.unobserved):,} nodes scored "
              f"(setup {time.perf_counter() - t0:.0f}s)", flush=True)
        request = InterpolationRequest(mesh, obs, tuple(methods), truth, settings)
        job = Job(interpolation_task, request, label=name).start()
        printed = set()
        while True:  # each method's scores as soon as it finishes; resolved scales once all have run
            state = job.join(timeout=2.0)
            for o in (state.result.outcomes if state.result else ()):
                if o.status in ("done", "failed", "cancelled") and o.name not in printed:
                    printed.add(o.name)
                    if o.scores is None:
                        print(f"  {o.name:13s} {o.status}: {o.error}", flush=True)
                    else:
                        print(f"  {o.name:13s} score {o.scores['score']:.6f}  R^2 {o.scores['r2']:.7f}  "
                              f"{o.seconds:7.1f}s  ({o.notes})", flush=True)
            if state.done:
                break
        if state.status == "failed":
            raise SystemExit(f"{name} failed: {state.error}")
        result[name] = {o.name: None if o.scores is None else round(o.scores["r2"], 7) for o in state.result.outcomes}
        for method, spectrum in state.result.spectra.items():
            scale = "none" if spectrum.resolved is None else (
                f"{'<=' if spectrum.fully_resolved else ''}{spectrum.resolved:.3g} {spectrum.unit}")
            print(f"  {method:13s} resolved scale {scale}", flush=True)
        best_classical = max((v for k, v in result[name].items() if v is not None and not k.startswith(("ginr", "inr"))), default=None)
        best_network = max((v for k, v in result[name].items() if v is not None and k.startswith(("ginr", "inr"))), default=None)
        if best_classical is not None and best_network is not None:
            verdict = {"network": "network wins", "classical": "classical wins", "tie": "tie"}[winner(best_network, best_classical)]
            print(f"  -> best network {best_network:.7f} vs best classical {best_classical:.7f}: {verdict}", flush=True)
    print(f"\ntotal {time.perf_counter() - t_all:.0f}s", flush=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
