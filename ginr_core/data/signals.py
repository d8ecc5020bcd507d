"""Signals on mesh vertices: the paper's Gray-Scott texture, analytic test signals and uploaded files.

A signal has one row per (cleaned) mesh vertex, shape (n,) or (n, p). Signals from files and mesh
properties are checked by `validate_signal` and come back as float64; one given for the vertices of the
original file (before cleaning dropped or merged some) is mapped onto the cleaned mesh through
`Mesh.signal_from_source`. Gray-Scott returns the dtype it ran in (float32 by default).
"""

from __future__ import annotations

import io
import os
import threading
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import scipy.sparse as sp

from ..errors import Cancelled, GinrError
from ..geometry.laplacian import graph_laplacian
from ..geometry.mesh import Mesh
from ..storage.arrays import read_npy
from ..storage.files import atomic_write, read_input
from ..storage.paths import cache_dir
from ..settings import check_series_size, check_simulation

try:  # Y += A @ X without allocating: the kernel behind scipy's own `A @ x`, ~20% faster per step here
    from scipy.sparse._sparsetools import csr_matvec as _csr_matvec
except ImportError:  # pragma: no cover - private module; fall back to the public operator
    _csr_matvec = None

ProgressCallback = Callable[[float, str], None]

SIGNAL_EXTENSIONS = ("npy", "csv", "txt")
ANALYTIC_SIGNALS = ("sines", "height", "bumps", "checker")


# ---------------------------------------------------------------------------------------------------
# Gray-Scott reaction-diffusion (the paper's bunny texture)
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GrayScottParams:
    """A Gray-Scott texture's recipe: explicit steps, diffusion rates, feed and kill rates, the initial state's
    seed. The defaults are the paper's bunny texture; a run spec records `as_dict()` as its signal's params,
    which `gray_scott(mesh, **params.as_dict())` turns back into the texture."""

    steps: int = 30_000
    Du: float = 0.64
    Dv: float = 0.32
    F: float = 0.060
    k: float = 0.062
    seed: int = 1234

    def as_dict(self) -> dict:
        return asdict(self)


PAPER_GRAY_SCOTT = GrayScottParams()


@dataclass(frozen=True, eq=False)
class GrayScottResult:
    """Final state of a Gray-Scott run, and optionally snapshots of v along the way.

    `v` is the paper's target signal. `frames[j]` is v after `frame_steps[j]` updates; the reference
    script (data_generation/bunny_time.py) saves after the update of every iteration t with
    t % save_every == 0, so frame_steps = 1, m + 1, 2m + 1, ... and `frame_times` = t / steps, the
    `time` value that script stores with each frame.
    """

    u: np.ndarray
    v: np.ndarray
    steps: int
    frames: np.ndarray | None = None
    frame_steps: np.ndarray | None = None
    frame_times: np.ndarray | None = None

    @property
    def target(self) -> np.ndarray:
        return self.v


def _accumulate_matvec(matrix: sp.csr_matrix, x: np.ndarray, out: np.ndarray) -> None:
    """out += matrix @ x, in place when scipy's kernel is available."""
    if _csr_matvec is not None:
        n_row, n_col = matrix.shape
        _csr_matvec(n_row, n_col, matrix.indptr, matrix.indices, matrix.data, x, out)
    else:  # pragma: no cover
        out += matrix @ x


def _diffusion_operator(lap: sp.csr_matrix, diffusion: float, decay: float, dtype) -> sp.csr_matrix:
    """diffusion * lap + (1 - decay) * I as a CSR matrix of `dtype` with sorted int32 indices.

    Folding the identity terms of the explicit update into the matrix leaves one fused sparse matvec
    (accumulated into the reaction terms) per species and step.
    """
    n = lap.shape[0]
    op = (diffusion * lap + (1.0 - decay) * sp.eye(n, format="csr")).tocsr().astype(dtype)
    op.sum_duplicates()
    op.sort_indices()
    op.indptr = op.indptr.astype(np.int32)
    op.indices = op.indices.astype(np.int32)
    return op


def gray_scott(
    mesh: Mesh,
    steps: int = PAPER_GRAY_SCOTT.steps,
    Du: float = PAPER_GRAY_SCOTT.Du,
    Dv: float = PAPER_GRAY_SCOTT.Dv,
    F: float = PAPER_GRAY_SCOTT.F,
    k: float = PAPER_GRAY_SCOTT.k,
    seed: int = PAPER_GRAY_SCOTT.seed,
    save_every: int | None = None,
    progress: ProgressCallback | None = None,
    dtype=np.float32,
    cancel: threading.Event | None = None,
) -> GrayScottResult:
    """Evolve the Gray-Scott reaction-diffusion model on the mesh graph, as the GINR paper's bunny.

    Same recipe as the reference code: with lap = -(I - D^-1/2 A D^-1/2) on the unweighted mesh graph,
    u = 0.2 * rand(n) + 1, v = 0.2 * rand(n) (RandomState(seed), so the global numpy state is left
    alone), then `steps` explicit updates
        u += Du lap u - u v^2 + F (1 - u);   v += Dv lap v + u v^2 - (F + k) v.
    The default float32 runs ~2x faster than float64; patterns agree closely (see the tests).
    `save_every=m` keeps snapshots of v (see `GrayScottResult`): the paper's time-conditioned data set
    is 3,000 steps saved every 10th. `progress(fraction, message)` is called at most ~200 times; setting
    `cancel` stops the run there (raising Cancelled). Runs above GINR_MAX_NODE_STEPS and saved frames above
    the series limits are refused before the first step (see ginr_core.settings).
    """
    steps = int(steps)
    if steps < 0:
        raise GinrError("The number of Gray-Scott steps must be zero or more.")
    if save_every is not None:
        save_every = int(save_every)
        if save_every < 1:
            raise GinrError("save_every must be a positive number of steps.")
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise GinrError("Gray-Scott runs in float32 or float64.")
    n = mesh.n_vertices
    if n == 0 or mesh.n_faces == 0:
        raise GinrError("Gray-Scott needs a mesh with vertices and triangles.")

    check_simulation(steps, n)
    frame_iters = np.arange(0, steps, save_every) if save_every is not None else None
    if frame_iters is not None:
        check_series_size(len(frame_iters), n, "The saved Gray-Scott frames")

    rng = np.random.RandomState(seed)
    u = (0.2 * rng.random_sample(n) + 1).astype(dtype)
    v = (0.2 * rng.random_sample(n)).astype(dtype)
    lap = -graph_laplacian(mesh.adjacency(), "normalized")
    op_u = _diffusion_operator(lap, Du, F, dtype)
    op_v = _diffusion_operator(lap, Dv, F + k, dtype)
    feed = dtype.type(F)

    u_next, v_next, uvv = np.empty_like(u), np.empty_like(v), np.empty_like(u)
    frames = np.empty((len(frame_iters), n), dtype=dtype) if frame_iters is not None else None
    report_every = max(1, steps // 200)
    with np.errstate(over="ignore", invalid="ignore"):  # a blow-up is reported below, in plain words
        for t in range(steps):
            np.multiply(v, v, out=uvv)
            uvv *= u
            np.subtract(feed, uvv, out=u_next)  # u_next = F - uvv + (Du lap + (1 - F) I) u
            _accumulate_matvec(op_u, u, u_next)
            v_next[...] = uvv  # v_next = uvv + (Dv lap + (1 - F - k) I) v
            _accumulate_matvec(op_v, v, v_next)
            u, u_next = u_next, u
            v, v_next = v_next, v
            if frames is not None and t % save_every == 0:
                frames[t // save_every] = v
            if (t + 1) % report_every == 0:
                if not np.isfinite(v).all():
                    break
                if cancel is not None and cancel.is_set():
                    raise Cancelled(f"The Gray-Scott simulation was cancelled at step {t + 1:,}.")
                if progress is not None:
                    progress((t + 1) / steps, f"Gray-Scott step {t + 1:,} / {steps:,}")

    if not (np.isfinite(u).all() and np.isfinite(v).all()):
        raise GinrError(
            "The Gray-Scott simulation blew up (NaN or infinite values): the diffusion rates are too large "
            "for this explicit scheme; lower Du and Dv."
        )
    return GrayScottResult(
        u=u,
        v=v,
        steps=steps,
        frames=frames,
        frame_steps=None if frame_iters is None else frame_iters + 1,
        frame_times=None if frame_iters is None else frame_iters / max(steps, 1),
    )


def gray_scott_texture(mesh: Mesh, params: GrayScottParams = PAPER_GRAY_SCOTT, cache: bool = True,
                       progress: ProgressCallback | None = None, cancel: threading.Event | None = None) -> np.ndarray:
    """v of `gray_scott(mesh, **params.as_dict())`, kept on disk (cache_dir()/gray_scott) by mesh and recipe: the
    Data page, Home's demo and a collection's members simulate a texture once, whoever asks first."""
    path = cache_dir() / "gray_scott" / (f"{mesh.content_hash()}-F{params.F:.6g}-k{params.k:.6g}-Du{params.Du:.6g}"
                                         f"-Dv{params.Dv:.6g}-s{params.seed}-n{params.steps}.npy")
    if cache and path.exists():
        try:
            return np.load(path)
        except (OSError, ValueError):  # a damaged file: simulate again and rewrite it
            pass
    v = gray_scott(mesh, **params.as_dict(), progress=progress, cancel=cancel).v
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda out: np.save(out, v))
    return v


# ---------------------------------------------------------------------------------------------------
# Analytic signals
# ---------------------------------------------------------------------------------------------------


def _normalized_positions(mesh: Mesh) -> np.ndarray:
    """Vertices centred on their bounding-box centre and scaled so the farthest one is at distance 1."""
    v = mesh.vertices
    centred = v - 0.5 * (v.min(axis=0) + v.max(axis=0))
    radius = float(np.linalg.norm(centred, axis=1).max()) or 1.0
    return centred / radius


# Directions of the "bumps" centres: generic (no symmetry), so the extreme vertex along each is unique.
_BUMP_DIRECTIONS = np.array([[1.0, 0.3, 0.2], [-0.4, 1.0, 0.1], [0.2, -0.5, 1.0], [-0.7, -0.6, -0.9]])


def analytic_signal(mesh: Mesh, kind: str = "sines") -> np.ndarray:
    """A deterministic test signal of shape (n,), defined on the normalised vertex positions p.

    p is the mesh centred on its bounding box and scaled into the unit ball, so every kind looks the
    same whatever the mesh's units.
    - "sines": smooth, low frequency: sin(2 px) + sin(3 py + 1) + cos(2 pz).
    - "height": pz, the vertical coordinate.
    - "bumps": sum of four Gaussian bumps exp(-(d / 0.3)^2) of the distance d to four vertices: the
      extreme vertices along four fixed, well spread directions.
    - "checker": +-1 3-D checkerboard with cells of size 0.25: a high-frequency, discontinuous signal
      (offset by 0.1 so that the vertices of symmetric meshes, often at 0 or 0.5, miss cell borders).
    """
    p = _normalized_positions(mesh)
    x, y, z = p.T
    if kind == "sines":
        return np.sin(2 * x) + np.sin(3 * y + 1) + np.cos(2 * z)
    if kind == "height":
        return z.copy()
    if kind == "bumps":
        centres = p[np.argmax(p @ _BUMP_DIRECTIONS.T, axis=0)]
        d = np.linalg.norm(p[:, None, :] - centres[None], axis=2)
        return np.exp(-((d / 0.3) ** 2)).sum(axis=1)
    if kind == "checker":
        cells = np.floor((p + 1.1) / 0.25).astype(np.int64).sum(axis=1)
        return np.where(cells % 2 == 0, 1.0, -1.0)
    raise GinrError(f"Unknown analytic signal '{kind}'. Choose one of: {', '.join(ANALYTIC_SIGNALS)}.")


# ---------------------------------------------------------------------------------------------------
# Validation and files
# ---------------------------------------------------------------------------------------------------


def validate_signal(values, mesh: Mesh, what: str = "The signal") -> np.ndarray:
    """Check a per-vertex signal and return it as float64 on the mesh's vertices.

    Accepts shape (n,) or (n, p) (a 1-D input stays 1-D). n must be the mesh's vertex count, or the
    vertex count of the file the mesh was read from, in which case the values follow the cleaning
    (`Mesh.signal_from_source`). Refuses non-numeric, empty, NaN or infinite, and constant signals (a
    constant has nothing to fit, and R^2 is undefined for it).
    """
    try:
        arr = np.asarray(values)
    except Exception as exc:  # ragged lists and the like
        raise GinrError(f"{what} is not a numeric array: {exc}") from exc
    if arr.dtype.kind not in "biuf":
        raise GinrError(f"{what} must be numbers (got data of type {arr.dtype}).")
    if arr.size == 0:
        raise GinrError(f"{what} is empty.")
    if arr.ndim == 2 and arr.shape[0] == 1 and arr.shape[1] > 1:
        arr = arr[0]  # a single row written as one line
    if arr.ndim not in (1, 2):
        raise GinrError(f"{what} must have one value per vertex, shape (n,) or (n, p); got shape {arr.shape}.")
    arr = arr.astype(np.float64)

    n, n_source = mesh.n_vertices, mesh.n_source_vertices
    if len(arr) == n:
        pass
    elif n_source is not None and mesh.source_index is not None and len(arr) == n_source:
        arr = mesh.signal_from_source(arr)
    else:
        counts = f"{n:,} vertices"
        if n_source is not None and n_source != n:
            counts += f" ({n_source:,} in the original file)"
        hint = ""
        if arr.ndim == 2 and arr.shape[1] in (n, n_source):
            hint = " It looks transposed: put one row per vertex."
        raise GinrError(f"{what} has {len(arr):,} values but the mesh has {counts}.{hint}")

    bad = int((~np.isfinite(arr)).sum())
    if bad:
        raise GinrError(f"{what}: {bad:,} {'value is' if bad == 1 else 'values are'} NaN or infinite.")
    columns = arr.reshape(len(arr), -1)
    constant = np.flatnonzero(np.ptp(columns, axis=0) == 0)
    if len(constant):
        where = "" if columns.shape[1] == 1 else f" (column {int(constant[0])})"
        raise GinrError(
            f"{what} is constant{where}: every value is {columns[0, constant[0]]:g}. There is nothing to fit "
            "and R² is undefined for a constant signal."
        )
    return arr


def vertex_property_signal(mesh: Mesh, name: str) -> np.ndarray:
    """A per-vertex property stored with the mesh (e.g. a PLY 'intensity' or 'confidence') as a signal."""
    if name not in mesh.vertex_data:
        available = ", ".join(sorted(mesh.vertex_data)) or "none"
        raise GinrError(f"The mesh has no vertex property '{name}'. Available properties: {available}.")
    return validate_signal(mesh.vertex_data[name], mesh, what=f"The vertex property '{name}'")


def _parse_text_table(data: bytes, name: str, column: int | str | None) -> np.ndarray:
    """Numbers from a CSV / text table: comma, semicolon, tab or space separated, optional header row."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise GinrError(f"{name} is not a text file (it is not valid UTF-8).") from exc
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise GinrError(f"{name} contains no values.")
    first = lines[0]
    delimiter = next((d for d in (",", ";", "\t") if d in first), None)

    def split(line: str) -> list[str]:
        return [c.strip() for c in (line.split(delimiter) if delimiter else line.split())]

    header = None
    try:
        [float(c) for c in split(first)]
    except ValueError:
        header, lines = split(first), lines[1:]
        if not lines:
            raise GinrError(f"{name} has a header but no values.")
    try:
        table = np.loadtxt(io.StringIO("\n".join(lines)), delimiter=delimiter, dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise GinrError(f"Could not read the numbers in {name}: {exc}") from exc

    if column is not None:
        if isinstance(column, str):
            if header is None or column not in header:
                columns = ", ".join(header) if header else "none (the file has no header)"
                raise GinrError(f"{name} has no column '{column}'. Columns: {columns}.")
            column = header.index(column)
        if not 0 <= column < table.shape[1]:
            raise GinrError(f"{name} has {table.shape[1]} columns; column {column} does not exist.")
        return table[:, column]
    return table[:, 0] if table.shape[1] == 1 else table


def load_vertex_signal(
    source: str | os.PathLike | bytes,
    filename: str | None,
    mesh: Mesh,
    column: int | str | None = None,
) -> np.ndarray:
    """Read a per-vertex signal from a .npy, .csv or .txt file (a path, or uploaded bytes + filename).

    CSV / text: one value per line, or a table with one row per vertex (all columns are kept unless
    `column`, an index or a header name, picks one); the first row may be a header. Returns the
    validated signal on the mesh's vertices (see `validate_signal`).
    """
    data, name, ext = read_input(source, filename, extensions=SIGNAL_EXTENSIONS, what="signal")
    if ext == "npy":
        values = read_npy(data, name)
        if column is not None:
            if values.ndim != 2 or not isinstance(column, int) or not 0 <= column < values.shape[1]:
                raise GinrError(f"Column {column!r} does not exist in {name} (shape {values.shape}).")
            values = values[:, column]
    else:
        values = _parse_text_table(data, name, column)
    return validate_signal(values, mesh, what=f"The signal in {name}")


__all__ = [
    "ANALYTIC_SIGNALS",
    "PAPER_GRAY_SCOTT",
    "SIGNAL_EXTENSIONS",
    "GrayScottParams",
    "GrayScottResult",
    "analytic_signal",
    "gray_scott",
    "load_vertex_signal",
    "validate_signal",
    "vertex_property_signal",
]
