"""Limits on work and on what the server may read: one place, read from environment variables.

An operator sizes GINR Studio for a machine (and opens it to others) with these variables; the defaults
fit a 2-core, 24 GB server. Every loader, simulation and page asks this module, so a limit is changed
in one place and every refusal names the variable that raises it.

| variable | default | what it bounds |
|---|---|---|
| GINR_MAX_NODES | 500000 | nodes of a mesh or grid (declared sizes are checked before a file is parsed) |
| GINR_MAX_FRAMES | 2000 | frames of a time series |
| GINR_MAX_SERIES_VALUES | 100000000 | frames x nodes of a time series (800 MB as float64) |
| GINR_MAX_NODE_STEPS | 20000000000 | Gray-Scott steps x nodes (about 7 minutes on a 2-core CPU) |
| GINR_MAX_FILE_MB | 512 | size of a file read by path (the CLI, the data folders) |
| GINR_MAX_TRIALS | 1000 | trials of one sweep (each a registered run: time and disk are estimated with the refusal) |
| GINR_MAX_MEMBERS | 1000 | members of a simulated signal collection (their steps x nodes together are within GINR_MAX_NODE_STEPS) |
| GINR_MAX_OBSERVATIONS | 200000 | scattered observation points of an interpolation (counted while a file is read) |
| GINR_MAX_ARRAY_MB | 800 | the arrays of one .npy / .npz file, as declared in their headers (checked before decompressing) |
| GINR_WORKSPACE_DAYS | 7 | days a dashboard workspace is kept unused before it is deleted (swept at server start and daily) |
| GINR_DATA_DIRS | none | folders (separated by os.pathsep) whose files a browser user may load by path |
| GINR_WORKERS | the CPU cores | worker processes training at once on the "process" backend (more jobs queue) |

Uploads are limited to UPLOAD_MB, the same number as `server.maxUploadSize` in .streamlit/config.toml.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

from .errors import GinrError

UPLOAD_MB = 200  # keep equal to server.maxUploadSize in .streamlit/config.toml (a test checks)

# Measured on this project's 2-core CPU when idle (CPU seconds), for the estimates shown with a refusal or a button.
GRAY_SCOTT_NODE_STEPS_PER_S = 5e7  # the bunny (35k nodes) runs 30,000 float32 steps in ~20 s (CPU time: 6e7)
VIEW_DRAW_S = 2.0  # a page's rerun with one 3D view, until the browser has drawn it (bench/pages.py: the Data page 2.1 s idle, ~8 s at load 8 per core)
# How much a load of one more runnable process per core stretches one core's work: the Data page's Gray-Scott
# (icosphere, 30,000 steps, 2.5 s idle) took 7.0, 4.5 and 16 s at 4.5, 5.2 and 10 runnable per core (bench/pages.py).
LOAD_STRETCH = 0.5
MESH_PARSE_S_PER_ELEMENT = 3e-6  # an OBJ of 19 million face lines took 59 s and 4.7 GB to parse
MESH_PARSE_BYTES_PER_ELEMENT = 250
TRAIN_NODE_STEPS_PER_S = 8.7e4  # one trial of 300 full-batch steps (k = 64) took 8.8 s on 2,562 nodes, 35 s on 10,242
RUN_BYTES = 240_000  # a registered run's checkpoint and records (the default network)
RUN_BYTES_PER_NODE = 90  # and its inputs (vertices, faces, target) and prediction
# A closed triangle mesh has about 2 faces per vertex; an STL stores 3 vertices per face.
FACES_PER_NODE_ALLOWED = 4
FILE_VERTICES_PER_NODE_ALLOWED = 6
DIMENSION_PER_NODE_ALLOWED = 10  # a time axis may be longer than a grid is large, within reason


@dataclass(frozen=True)
class Limits:
    max_nodes: int = 500_000
    max_frames: int = 2_000
    max_series_values: int = 100_000_000
    max_node_steps: float = 2e10
    max_file_mb: float = 512
    max_trials: int = 1_000
    max_members: int = 1_000
    max_observations: int = 200_000  # 200k points read and placed on a mesh in a few seconds
    workspace_days: float = 7
    max_array_mb: float = 800  # GINR_MAX_SERIES_VALUES as float64: a file may hold what a series may
    data_dirs: tuple[Path, ...] = ()

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 2**20)


def _variables() -> dict[str, tuple[str, type]]:
    """Each limit's environment variable and type, from its field: max_nodes -> GINR_MAX_NODES, an int."""
    kinds = {"int": int, "float": float}
    return {f.name: (f"GINR_{f.name.upper()}", kinds[f.type]) for f in fields(Limits) if f.type in kinds}


def limits() -> Limits:
    """The limits in force now (environment variables over the defaults; read on every call, so a test or
    an operator's change takes effect without a restart of the library)."""
    values = {}
    for field_name, (variable, kind) in _variables().items():
        text = os.environ.get(variable, "").strip()
        if text:
            try:
                values[field_name] = kind(float(text)) if kind is int else kind(text)
            except ValueError:
                raise GinrError(f"{variable} must be a number, got {text!r}.") from None
            if values[field_name] <= 0:
                raise GinrError(f"{variable} must be positive, got {text!r}.")
    dirs = os.environ.get("GINR_DATA_DIRS", "")
    values["data_dirs"] = tuple(Path(d).resolve() for d in dirs.split(os.pathsep) if d.strip())
    return Limits(**values)


def workers() -> int:
    """How many jobs the "process" backend runs at once (GINR_WORKERS, default one per core); the rest queue."""
    text = os.environ.get("GINR_WORKERS", "").strip()
    try:
        count = int(text) if text else (os.cpu_count() or 1)
    except ValueError:
        raise GinrError(f"GINR_WORKERS must be a whole number, got {text!r}.") from None
    return max(1, count)


def _gb(n_bytes: float) -> str:
    if n_bytes < 2**20:
        return "under 1 MB"
    return f"{n_bytes / 2**30:.1f} GB" if n_bytes >= 2**30 else f"{n_bytes / 2**20:.0f} MB"


def _duration(seconds: float) -> str:
    """An estimate in words: "under 1 s", "about 40 s", "about 12 min", "about 2.5 h"."""
    if seconds < 1:
        return "under 1 s"
    if seconds < 90:
        return f"about {seconds:.0f} s"
    if seconds < 5400:
        return f"about {seconds / 60:.0f} min"
    return f"about {seconds / 3600:.1f} h"


def check_nodes(n: int, what: str = "The mesh") -> None:
    """Refuse a mesh or grid above GINR_MAX_NODES."""
    limit = limits().max_nodes
    if n > limit:
        raise GinrError(
            f"{what} has {n:,} nodes, over this server's limit of {limit:,} (GINR_MAX_NODES): its embedding alone "
            f"would take about {_gb(n * 100 * 8 * 3)} at k = 100. Use a coarser mesh or grid."
        )


def check_dimension(what: str, size: int) -> None:
    """Refuse a declared array dimension (e.g. of a netCDF file) longer than DIMENSION_PER_NODE_ALLOWED x
    GINR_MAX_NODES before anything along it is read: even its coordinate values would be too many."""
    limit = DIMENSION_PER_NODE_ALLOWED * limits().max_nodes
    if size > limit:
        raise GinrError(
            f"{what} declares {size:,} entries, over this server's limit of {limit:,} ({DIMENSION_PER_NODE_ALLOWED} x "
            f"GINR_MAX_NODES): reading even its coordinates would take {_gb(size * 8)}. It was not read."
        )


def check_mesh_file(name: str, vertices: int, faces: int) -> None:
    """Refuse a mesh file whose declared vertex or face count is beyond what GINR_MAX_NODES can need,
    before it is parsed (parsing costs time and memory per element, whatever the cleaned result)."""
    max_nodes = limits().max_nodes
    max_faces, max_vertices = FACES_PER_NODE_ALLOWED * max_nodes, FILE_VERTICES_PER_NODE_ALLOWED * max_nodes
    if faces > max_faces or vertices > max_vertices:
        which = f"{faces:,} faces" if faces > max_faces else f"{vertices:,} vertices"
        elements = faces + vertices  # a vertex line costs about what a face line does
        raise GinrError(
            f"{name} declares {which}, beyond what a mesh of at most {max_nodes:,} nodes (GINR_MAX_NODES) needs: "
            f"reading it would take {_duration(elements * MESH_PARSE_S_PER_ELEMENT)} and "
            f"{_gb(elements * MESH_PARSE_BYTES_PER_ELEMENT)}. It was not read."
        )


def check_array_bytes(name: str, n_bytes: int, arrays: str) -> None:
    """Refuse a file whose arrays declare more than GINR_MAX_ARRAY_MB, before they are allocated or decompressed."""
    limit = limits().max_array_mb
    if n_bytes > limit * 2**20:
        raise GinrError(
            f"{name} declares {_gb(n_bytes)} of arrays ({arrays}), over this server's limit of {limit:g} MB "
            "(GINR_MAX_ARRAY_MB). It was not read."
        )


def check_observations(count: int, what: str = "The observations") -> None:
    """Refuse more scattered observation points than GINR_MAX_OBSERVATIONS (a file's rows are counted as it is read,
    so the refusal comes before the rest is parsed)."""
    limit = limits().max_observations
    if count > limit:
        raise GinrError(
            f"{what}: more than {limit:,} observation points, this server's limit (GINR_MAX_OBSERVATIONS); nothing "
            "past it was read. Thin them (keep every Nth point) or average them onto the mesh's nodes."
        )


def check_series_size(frames: int, nodes: int, what: str = "The series") -> None:
    """Refuse a time series above GINR_MAX_FRAMES frames or GINR_MAX_SERIES_VALUES values, before it is built."""
    lim = limits()
    if frames > lim.max_frames:
        raise GinrError(
            f"{what} would have {frames:,} frames, over this server's limit of {lim.max_frames:,} "
            "(GINR_MAX_FRAMES). Keep fewer frames (a larger step between them)."
        )
    if frames * nodes > lim.max_series_values:
        raise GinrError(
            f"{what} would hold {frames:,} frames x {nodes:,} nodes = {frames * nodes:,} values "
            f"({_gb(frames * nodes * 8)}), over this server's limit of {lim.max_series_values:,} "
            "(GINR_MAX_SERIES_VALUES). Keep fewer frames or use a coarser grid."
        )


def simulation_seconds(steps: int, nodes: int) -> float:
    """Estimated seconds of a Gray-Scott run on this project's reference CPU."""
    return steps * nodes / GRAY_SCOTT_NODE_STEPS_PER_S


def busy_seconds(idle_seconds: float) -> float:
    """`idle_seconds` of one core's work as it stretches on this server now: by LOAD_STRETCH x the runnable processes
    per core (the 1-minute load average), at least 1. On a loaded 2-core server an idle estimate of 2 s took 9.4 s."""
    try:
        per_core = os.getloadavg()[0] / (os.cpu_count() or 1)
    except OSError:  # no load average on this platform
        per_core = 0.0
    return idle_seconds * max(LOAD_STRETCH * per_core, 1.0)


def check_simulation(steps: int, nodes: int) -> None:
    """Refuse a Gray-Scott run above GINR_MAX_NODE_STEPS (steps x nodes), with its estimated time."""
    limit = limits().max_node_steps
    if steps * nodes > limit:
        raise GinrError(
            f"{steps:,} Gray-Scott steps on {nodes:,} nodes would take "
            f"{_duration(simulation_seconds(steps, nodes))}, over this server's limit of {limit:.3g} steps x nodes "
            "(GINR_MAX_NODE_STEPS). Use fewer steps or a coarser mesh."
        )


def sweep_estimate(trials: int, steps: int, nodes: int) -> str:
    """What a sweep costs if every trial runs to the end (ASHA stops some sooner): time on this machine's cores, and the
    disk its registered runs take."""
    seconds = trials * steps * nodes / TRAIN_NODE_STEPS_PER_S / (os.cpu_count() or 1)
    return (f"{trials:,} trials of {steps:,} steps on {nodes:,} nodes: {_duration(seconds)} and "
            f"{_gb(trials * (RUN_BYTES + RUN_BYTES_PER_NODE * nodes))} of runs")


def check_sweep(trials: int, steps: int, nodes: int) -> None:
    """Refuse a sweep of more than GINR_MAX_TRIALS trials before any is launched."""
    limit = limits().max_trials
    if trials > limit:
        raise GinrError(f"A sweep of {sweep_estimate(trials, steps, nodes)} is over this server's limit of {limit:,} "
                        "trials (GINR_MAX_TRIALS). Try fewer values or repeats.")


def collection_estimate(members: int, steps: int, nodes: int) -> str:
    """A simulated collection's size and its simulation time (members already cached cost nothing)."""
    return f"{members:,} members of {steps:,} steps on {nodes:,} nodes: {_duration(members * simulation_seconds(steps, nodes))} of simulation"


def check_collection(members: int, steps: int, nodes: int) -> None:
    """Refuse a simulated collection above GINR_MAX_MEMBERS members, or whose simulations together pass
    GINR_MAX_NODE_STEPS, before the first is run."""
    lim = limits()
    if members > lim.max_members:
        raise GinrError(f"A collection of {collection_estimate(members, steps, nodes)} is over this server's limit of "
                        f"{lim.max_members:,} members (GINR_MAX_MEMBERS). Give fewer F, k or seed values.")
    if members * steps * nodes > lim.max_node_steps:
        raise GinrError(f"A collection of {collection_estimate(members, steps, nodes)} is over this server's limit of "
                        f"{lim.max_node_steps:.3g} steps x nodes (GINR_MAX_NODE_STEPS). Use fewer members or steps, or a "
                        "coarser mesh.")


def data_path(text: str) -> Path:
    """The file a browser user named, if it lies inside one of the operator's GINR_DATA_DIRS.

    Symlinks and '..' are resolved first; a relative path is looked up in each data folder. Anything else
    is refused with one message, whether or not it exists, so the server's files cannot be probed.
    """
    dirs = limits().data_dirs
    if not dirs:
        raise GinrError("Reading files on the server is switched off (the operator has set no GINR_DATA_DIRS).")
    text = text.strip()
    if text and "\x00" not in text:
        given = Path(text)
        candidates = [given.resolve()] if given.is_absolute() else [(d / given).resolve() for d in dirs]
        for path in candidates:
            if any(path.is_relative_to(d) for d in dirs) and path.is_file():
                return path
    raise GinrError(f"'{text}' is not a file in this server's data folders.")


__all__ = ["Limits", "UPLOAD_MB", "VIEW_DRAW_S", "busy_seconds", "check_array_bytes", "check_collection", "check_sweep", "collection_estimate", "sweep_estimate", "check_dimension", "check_mesh_file", "check_nodes", "check_observations", "check_series_size", "check_simulation",
           "data_path", "limits", "simulation_seconds"]
