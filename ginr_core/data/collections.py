"""Signal collections: many signals on one domain (a family of textures, the fields of a climate file...).

A `Collection` is a stack of N signals on the same n nodes, each with a name and optional scalar metadata
(a Gray-Scott feed rate, a pressure level, a month) that orders the members and colours the latent explorer.
Collections come from a grid of Gray-Scott parameters on a mesh (cached on disk: 30,000 steps on the bunny
take ~20 s per member), from every variable x level x month slice of a lat-lon netCDF file, from several
per-vertex signal files, or from one .npz stack. Every member is validated like a single signal, and an
error names the member at fault.
"""

from __future__ import annotations

import io
import itertools
import os
from dataclasses import dataclass, field

import numpy as np

from ..errors import GinrError
from ..geometry.domains import latlon_grid
from ..geometry.mesh import Mesh
from ..storage.arrays import read_npz
from ..storage.files import read_input
from ..settings import check_collection
from .gridded import LatLonGrid
from .signals import PAPER_GRAY_SCOTT, GrayScottParams, gray_scott_texture, load_vertex_signal, validate_signal


@dataclass
class Collection:
    """N signals on n nodes: `values` (N, n), one name per member, `metadata` key -> (N,) numbers."""

    values: np.ndarray
    names: list[str]
    metadata: dict[str, np.ndarray] = field(default_factory=dict)
    name: str = "collection"

    def __post_init__(self):
        self.values = np.asarray(self.values, dtype=np.float64)
        self.names = [str(n) for n in self.names]
        if self.values.ndim != 2 or len(self.values) == 0:
            raise GinrError(f"A collection needs (members, nodes) values, got shape {self.values.shape}.")
        if len(self.names) != len(self.values):
            raise GinrError(f"Give one name per member: {len(self.values)} members, {len(self.names)} names.")
        if len(set(self.names)) != len(self.names):
            raise GinrError("Member names must be unique.")
        for name, values in zip(self.names, self.values):
            _check_member(values, name)
        metadata = {}
        for key, column in self.metadata.items():
            column = np.asarray(column)
            if column.shape != (len(self.values),) or column.dtype.kind not in "biuf" or not np.isfinite(column).all():
                raise GinrError(f"Metadata '{key}' must hold one finite number per member ({len(self.values)}).")
            metadata[str(key)] = column.astype(np.float64)
        self.metadata = metadata

    @property
    def n_members(self) -> int:
        return len(self.values)

    @property
    def n_nodes(self) -> int:
        return self.values.shape[1]

    def index(self, name: str) -> int:
        if name not in self.names:
            raise GinrError(f"No member named '{name}'. Members: {', '.join(self.names[:8])}{', ...' if self.n_members > 8 else ''}.")
        return self.names.index(name)

    def subset(self, members) -> Collection:
        members = np.asarray(members, dtype=int).reshape(-1)
        return Collection(self.values[members], [self.names[i] for i in members],
                          {k: v[members] for k, v in self.metadata.items()}, self.name)

    def npz_bytes(self, mesh: Mesh | None = None) -> bytes:
        """The collection as an .npz (values, names, metadata as `meta_<key>`, and the mesh when given)."""
        arrays = {"values": self.values.astype(np.float32), "names": np.asarray(self.names),
                  "title": np.asarray(self.name), **{f"meta_{k}": v for k, v in self.metadata.items()}}
        if mesh is not None:
            arrays.update(vertices=mesh.vertices, faces=mesh.faces)
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        return buffer.getvalue()


def _check_member(values: np.ndarray, name: str) -> None:
    bad = int((~np.isfinite(values)).sum())
    if bad:
        raise GinrError(f"Member '{name}': {bad:,} {'value is' if bad == 1 else 'values are'} NaN or infinite.")
    if np.ptp(values) == 0:
        raise GinrError(f"Member '{name}' is constant ({values[0]:g} everywhere): there is nothing to fit and R² is undefined.")


def _stack(members: list[tuple[str, np.ndarray]], mesh: Mesh) -> np.ndarray:
    """Validate each member on the mesh (length, finiteness, one value per vertex), naming the bad one."""
    rows = []
    for name, values in members:
        values = validate_signal(values, mesh, what=f"Member '{name}'")
        if values.ndim != 1:
            raise GinrError(f"Member '{name}' holds {values.shape[1]} values per vertex; a collection member needs one.")
        rows.append(values)
    return np.stack(rows)


# ---------------------------------------------------------------------------------------------------
# Sources
# ---------------------------------------------------------------------------------------------------


DIED_OUT_STD = 1e-2  # v lies in [0, 1]: textures have a std of ~0.1, uniform steady states ~0.003 or 1e-46


def gray_scott_grid(F, k, seeds) -> list[tuple]:
    """Every (F, k, seed) of a Gray-Scott family, in member order."""
    return list(itertools.product(np.atleast_1d(F), np.atleast_1d(k), np.atleast_1d(seeds)))


def gray_scott_collection(mesh: Mesh, F=(PAPER_GRAY_SCOTT.F,), k=(PAPER_GRAY_SCOTT.k,), seeds=(PAPER_GRAY_SCOTT.seed,),
                          steps: int = PAPER_GRAY_SCOTT.steps, cache: bool = True, progress=None) -> Collection:
    """A Gray-Scott texture for every (F, k, seed) of the grid, on the mesh (v after `steps` updates).

    Each member is cached on disk (see `gray_scott_texture`) by mesh, parameters and steps, so a family
    is simulated once. Metadata: F, k and seed (a key only when it takes more than one value).
    """
    grid = gray_scott_grid(F, k, seeds)
    if not grid:
        raise GinrError("Give at least one F, one k and one seed.")
    check_collection(len(grid), steps, mesh.n_vertices)
    names = [f"F={f:.4g} k={kk:.4g}" + (f" seed={s}" if len(np.atleast_1d(seeds)) > 1 else "") for f, kk, s in grid]
    values = []
    for i, (f, kk, seed) in enumerate(grid):
        def member_progress(fraction, message="", i=i):
            if progress is not None:
                progress((i + fraction) / len(grid), f"member {i + 1} / {len(grid)}: {message}")

        v = gray_scott_texture(mesh, GrayScottParams(steps=int(steps), F=float(f), k=float(kk), seed=int(seed)),
                               cache=cache, progress=member_progress)
        if v.std() < DIED_OUT_STD:
            raise GinrError(f"Member '{names[i]}': the Gray-Scott texture died out (v is uniform, std "
                            f"{v.std():.1g}); patterns form near F = 0.044-0.060, k = 0.061-0.064 (Du {PAPER_GRAY_SCOTT.Du}, "
                            f"Dv {PAPER_GRAY_SCOTT.Dv}).")
        values.append(v)
    columns = {"F": [g[0] for g in grid], "k": [g[1] for g in grid], "seed": [g[2] for g in grid]}
    metadata = {key: np.asarray(col, dtype=float) for key, col in columns.items() if len(set(col)) > 1}
    return Collection(np.stack(values), names, metadata, f"Gray-Scott on {mesh.name}")


def grid_collection(grid: LatLonGrid, variables: list[str] | None = None, stride: int = 1) -> tuple[Mesh, Collection]:
    """Every 2-D slice of a lat-lon file (each variable x each index of its other dimensions, e.g. z, u, v x
    3 levels x 2 months = 18 fields) on the grid's sphere mesh, every `stride`-th latitude and longitude.
    Metadata: the variable's position in the list, and each other dimension's coordinate value (or index)."""
    variables = list(grid.variables) if not variables else variables
    if stride < 1:
        raise GinrError("The grid stride must be 1 or more.")
    rows, cols = np.arange(0, len(grid.lat), stride), np.arange(0, len(grid.lon), stride)
    members, metadata = [], {"variable": []}
    dims = sorted({d for v in variables for d in grid.other_dims(v)})
    for d in dims:
        metadata[d] = []
    for vi, variable in enumerate(variables):
        others = grid.other_dims(variable)
        sizes = [len(grid.coords[d]) for d in others]
        for index in itertools.product(*(range(s) for s in sizes)):
            selection = dict(zip(others, index))
            values = grid.field(variable, **selection).reshape(len(grid.lat), len(grid.lon))[np.ix_(rows, cols)].reshape(-1)
            label = " ".join(f"{d}={grid.coords[d][i]}" for d, i in selection.items())
            members.append((f"{variable} {label}".strip(), values))
            metadata["variable"].append(vi)
            for d in dims:
                coord = grid.coords[d][selection[d]] if d in selection else np.nan
                metadata[d].append(float(coord) if np.issubdtype(np.asarray(coord).dtype, np.number) else float(selection[d]))
    mesh = latlon_grid(grid.lat[rows], grid.lon[cols])
    metadata = {k: np.asarray(v, dtype=float) for k, v in metadata.items() if np.isfinite(v).all() and len(set(v)) > 1}
    return mesh, Collection(np.stack([v for _, v in members]), [n for n, _ in members], metadata, f"{grid.name} fields")


def collection_from_files(files: list[tuple[object, str]], mesh: Mesh) -> Collection:
    """Several per-vertex signal files ((path or bytes, filename) pairs, .npy / .csv / .txt), one member each,
    named by file."""
    if not files:
        raise GinrError("Give at least one signal file.")
    names = [name for _, name in files]
    if len(set(names)) != len(names):
        raise GinrError("Two files have the same name; each member is named by its file.")
    values = []
    for source, name in files:
        v = load_vertex_signal(source, name, mesh)
        if v.ndim != 1:
            raise GinrError(f"Member '{name}' holds {v.shape[1]} values per vertex; a collection member needs one.")
        values.append(v)
    return Collection(np.stack(values), names, {}, "uploaded signals")


def collection_from_npz(source: str | os.PathLike | bytes, filename: str | None, mesh: Mesh | None = None) -> tuple[Mesh | None, Collection]:
    """A collection saved as .npz: `values` (N, n) (or any single 2-D array), optional `names` and
    `meta_<key>` (N,) arrays, and optionally the mesh (`vertices`, `faces`; `Collection.npz_bytes` writes this
    layout). Without a 2-D array, every 1-D array is a member named by its key. Returns the file's mesh (or
    `mesh`, which the members are checked against) and the collection."""
    data, name, _ = read_input(source, filename, extensions=("npz",), what="collection")
    arrays = read_npz(data, name)
    if "vertices" in arrays and "faces" in arrays:
        mesh = Mesh(arrays.pop("vertices"), arrays.pop("faces"), name=os.path.splitext(name)[0])
    if mesh is None:
        raise GinrError(f"{name} holds no mesh (vertices, faces): choose the domain the signals live on.")
    title = str(arrays.pop("title")) if "title" in arrays else os.path.splitext(name)[0]
    names = [str(n) for n in arrays.pop("names")] if "names" in arrays else None
    metadata = {key[5:]: arrays.pop(key) for key in list(arrays) if key.startswith("meta_")}
    stacks = [key for key, a in arrays.items() if a.ndim == 2]
    if len(stacks) > 1:
        raise GinrError(f"{name} holds several 2-D arrays ({', '.join(stacks)}); keep one (members x nodes) stack.")
    if stacks:
        stack = arrays[stacks[0]]
        names = names or [f"member {i}" for i in range(len(stack))]
        if len(names) != len(stack):
            raise GinrError(f"{name}: {len(stack)} members but {len(names)} names.")
        members = list(zip(names, stack))
    else:
        members = [(key, a) for key, a in arrays.items() if a.ndim == 1]
        if not members:
            raise GinrError(f"{name} holds no signals: save a (members x nodes) array named 'values'.")
    return mesh, Collection(_stack(members, mesh), [n for n, _ in members], metadata, title)


__all__ = ["Collection", "collection_from_files", "collection_from_npz", "grid_collection", "gray_scott_collection",
           "gray_scott_grid"]


# --- held-out members and their neighbours ------------------------------------------------------------


def _order_key(collection: Collection, along: str | None) -> np.ndarray:
    if along is None:
        return np.arange(collection.n_members, dtype=float)
    if along not in collection.metadata:
        raise GinrError(f"The members have no metadata '{along}'; they have: {', '.join(collection.metadata) or 'none'}.")
    return collection.metadata[along]


def _groups(collection: Collection, along: str | None) -> np.ndarray:
    """Group id of each member: members that agree on every metadata key except `along` share one."""
    others = [v for k, v in collection.metadata.items() if k != along]
    if not others:
        return np.zeros(collection.n_members, dtype=int)
    _, ids = np.unique(np.stack(others, axis=1), axis=0, return_inverse=True)
    return ids.reshape(-1)


def neighbours(collection: Collection, member: int, trained: np.ndarray, along: str | None) -> tuple[list[int], list[float]]:
    """The trained members just below and just above `member` along `along` (the member order when None), among
    those equal to it in every other metadata key, and their linear-interpolation weights."""
    key, groups = _order_key(collection, along), _groups(collection, along)
    same = np.flatnonzero((groups == groups[member]) & np.asarray(trained, dtype=bool))
    below = same[key[same] < key[member]]
    above = same[key[same] > key[member]]
    if not len(below) or not len(above):
        raise GinrError(f"'{collection.names[member]}' has no trained neighbour on both sides along "
                        f"{along or 'the member order'}: its code can only be fitted, not interpolated.")
    lo, hi = below[np.argmax(key[below])], above[np.argmin(key[above])]
    t = (key[member] - key[lo]) / (key[hi] - key[lo])
    return [int(lo), int(hi)], [float(1 - t), float(t)]


def _holdable(collection: Collection, along: str | None) -> list[int]:
    """The members that may be held out: interior ones along `along` in each group, every second one (so each
    keeps its trained neighbours on both sides)."""
    key, groups = _order_key(collection, along), _groups(collection, along)
    candidates = []
    for g in np.unique(groups):
        members = np.flatnonzero(groups == g)
        members = members[np.argsort(key[members], kind="stable")]
        candidates.extend(members[1:-1:2].tolist())
    return candidates


def max_held_out(collection: Collection, along: str | None = None) -> int:
    """How many members `choose_held_out` can hold out along `along`."""
    return len(_holdable(collection, along))


def default_held_out(collection: Collection, along: str | None = None) -> int:
    """A few held-out members to score fit-new on (a quarter of the family, at most 2), never more than the
    family allows, so the default always works."""
    return min(2, collection.n_members // 4, max_held_out(collection, along))


def choose_held_out(collection: Collection, n: int, along: str | None = None) -> np.ndarray:
    """`n` members to hold out, spread evenly over those with neighbours on both sides along `along`, never two
    side by side in one group (so each keeps its trained neighbours)."""
    if n < 0 or n >= collection.n_members:
        raise GinrError(f"Hold out between 0 and {collection.n_members - 1} members, not {n}.")
    candidates = _holdable(collection, along)
    if len(candidates) < n:
        raise GinrError(f"Only {len(candidates)} members can be held out with trained neighbours on both sides along "
                        f"{along or 'the member order'}; hold out fewer.")
    picks = np.round(np.linspace(0, len(candidates) - 1, n)).astype(int) if n else np.zeros(0, dtype=int)
    return np.sort(np.asarray(candidates)[picks])
