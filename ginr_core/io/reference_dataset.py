"""The reference implementation's dataset folders (github.com/danielegrattarola/GINR), read and written.

Two layouts, as its data-generation scripts write them:
- per file: `npz_files/*.npz`, each holding `fourier` (n, k), `target` (n, p) and optionally `points`
  (n, 3), `faces` (m, 3) and a scalar `time`;
- shared: `fourier.npy` and `points.npy` (and here optionally `faces.npy`) at the top of the folder,
  with npz files holding only `target` (+ `time`), as the time-conditioned bunny.
A file-level array wins over a shared one. Files are read in name order, numbers in names compared as
numbers (bunny_time_20 before bunny_time_100), and never with pickle.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import GinrError
from ..geometry.mesh import Mesh
from ..storage.arrays import read_npy, read_npz
from ..storage.files import read_input

NPZ_DIR = "npz_files"
SHARED_FILES = ("fourier", "points", "faces")


@dataclass(frozen=True, eq=False)
class ReferenceSample:
    """One npz file: the signal `target` (n, p) on nodes with spectral features `fourier` (n, k)."""

    name: str
    fourier: np.ndarray
    target: np.ndarray
    points: np.ndarray | None = None
    faces: np.ndarray | None = None
    time: float | None = None

    @property
    def n_nodes(self) -> int:
        return len(self.target)


@dataclass(frozen=True, eq=False)
class ReferenceDataset:
    folder: Path
    samples: list[ReferenceSample]
    shared: bool

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def times(self) -> np.ndarray | None:
        """The samples' times, or None unless every sample has one."""
        if any(s.time is None for s in self.samples):
            return None
        return np.array([s.time for s in self.samples])


def _natural_key(name: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _check_sample(name: str, fourier, target, points=None, faces=None, time=None) -> ReferenceSample:
    """Validate one sample's arrays against each other and return them in canonical shapes."""
    target = np.asarray(target)
    if target.dtype.kind not in "biuf" or target.size == 0:
        raise GinrError(f"{name}: the target must be a non-empty numeric array.")
    if target.ndim == 1:
        target = target[:, None]
    if target.ndim != 2:
        raise GinrError(f"{name}: the target must have shape (n, p), got {target.shape}.")
    n = len(target)
    if not np.isfinite(target).all():
        raise GinrError(f"{name}: {int((~np.isfinite(target)).sum()):,} target values are NaN or infinite.")

    fourier = np.asarray(fourier)
    if fourier.ndim != 2 or fourier.dtype.kind not in "iuf":
        raise GinrError(f"{name}: the Fourier features must be a numeric (n, k) array, got shape {fourier.shape}.")
    if len(fourier) != n:
        raise GinrError(f"{name}: the Fourier features have {len(fourier):,} rows but the target has {n:,}.")
    if not np.isfinite(fourier).all():
        raise GinrError(f"{name}: some Fourier features are NaN or infinite.")

    if points is not None:
        points = np.asarray(points)
        if points.shape != (n, 3) or points.dtype.kind not in "iuf":
            raise GinrError(f"{name}: the points must have shape ({n:,}, 3), one per target row; got {points.shape}.")
    if faces is not None:
        faces = np.asarray(faces)
        if faces.ndim != 2 or faces.shape[1] != 3 or faces.dtype.kind not in "iu":
            raise GinrError(f"{name}: the faces must be an integer (m, 3) array, got {faces.dtype} {faces.shape}.")
        if faces.size and (faces.min() < 0 or faces.max() >= n):
            raise GinrError(f"{name}: some faces refer to nodes that do not exist (there are {n:,}).")
    if time is not None:
        time = np.asarray(time)
        if time.size != 1 or time.dtype.kind not in "biuf" or not np.isfinite(time).all():
            raise GinrError(f"{name}: the time must be one finite number, got {time!r}.")
        time = float(time.reshape(()))
    return ReferenceSample(name=name, fourier=fourier, target=target, points=points, faces=faces, time=time)


def read_reference_sample(source: str | os.PathLike | bytes, filename: str | None = None,
                          max_bytes: int | None = None) -> ReferenceSample:
    """One npz file of the reference layout (a path, or an upload's bytes and name), validated; for a folder,
    see read_reference_dataset."""
    data, name, _ = read_input(source, filename, max_bytes, extensions=("npz",), what="reference dataset file")
    arrays = read_npz(data, name)
    missing = [key for key in ("target", "fourier") if key not in arrays]
    if missing:
        raise GinrError(f"{name} has no {' or '.join(repr(m) for m in missing)} array (it has: {', '.join(arrays) or 'nothing'}).")
    return _check_sample(name, arrays["fourier"], arrays["target"], points=arrays.get("points"),
                         faces=arrays.get("faces"), time=arrays.get("time"))


def sample_mesh(sample: ReferenceSample) -> Mesh:
    """The domain of a reference sample, which GINR Studio rebuilds its features from: its points and faces."""
    if sample.points is None or sample.faces is None or not len(sample.faces):
        raise GinrError(f"{sample.name} has no points and faces: GINR Studio needs the mesh to rebuild the features.")
    return Mesh(sample.points.astype(np.float64), sample.faces.astype(np.int64), name=sample.name)


def read_reference_dataset(folder: str | os.PathLike) -> ReferenceDataset:
    """Read a reference dataset folder (either layout) into validated samples, in file-name order."""
    folder = Path(folder)
    npz_dir = folder / NPZ_DIR
    if not npz_dir.is_dir():
        raise GinrError(f"{folder} is not a reference dataset: it has no '{NPZ_DIR}' folder.")
    files = sorted(npz_dir.glob("*.npz"), key=lambda p: _natural_key(p.name))
    if not files:
        raise GinrError(f"{npz_dir} contains no .npz files.")
    shared = {key: read_npy(*read_input(folder / f"{key}.npy")[:2]) for key in SHARED_FILES if (folder / f"{key}.npy").is_file()}

    samples = []
    for path in files:
        arrays = read_npz(*read_input(path)[:2])
        if "target" not in arrays:
            raise GinrError(f"{path.name} has no 'target' array (it has: {', '.join(arrays) or 'nothing'}).")
        fourier = arrays.get("fourier", shared.get("fourier"))
        if fourier is None:
            raise GinrError(f"{path.name} has no 'fourier' array and the folder has no shared fourier.npy.")
        samples.append(
            _check_sample(
                path.name,
                fourier,
                arrays["target"],
                points=arrays.get("points", shared.get("points")),
                faces=arrays.get("faces", shared.get("faces")),
                time=arrays.get("time"),
            )
        )
    return ReferenceDataset(folder=folder, samples=samples, shared="fourier" in shared)


def write_reference_dataset(
    folder: str | os.PathLike,
    points: np.ndarray,
    fourier: np.ndarray,
    targets: list[np.ndarray],
    times: list[float] | np.ndarray | None = None,
    faces: np.ndarray | None = None,
    shared: bool = False,
    names: list[str] | None = None,
    overwrite: bool = False,
) -> list[Path]:
    """Write signals on one domain as a reference dataset folder and return the npz paths.

    `targets` are (n,) or (n, p) arrays (stored as (n, p)); `times` one number per target. With
    `shared=False` every npz holds points, fourier, target (+ faces, time), as the reference's single-
    signal scripts; with `shared=True` fourier.npy / points.npy (/ faces.npy) sit at the top and the npz
    files hold target (+ time), as its time-conditioned bunny. Files are named `names` or data.npz /
    data_00000.npz, ... . Refuses a folder that already holds npz files unless `overwrite`; old shared
    .npy files are removed so that they cannot mix with the new samples.
    """
    if isinstance(targets, np.ndarray):
        raise GinrError("Give the targets as a list of arrays, one per sample.")
    if len(targets) == 0:
        raise GinrError("There are no targets to write.")
    if times is not None and len(times) != len(targets):
        raise GinrError(f"There are {len(times)} times for {len(targets)} targets: give one time per target.")
    if names is None:
        names = ["data"] if len(targets) == 1 else [f"data_{i:05d}" for i in range(len(targets))]
    if len(names) != len(targets) or len(set(names)) != len(names):
        raise GinrError("Give one distinct file name per target.")
    bad = [name for name in names if not re.fullmatch(r"[\w.-]+", name)]
    if bad:
        raise GinrError(f"File names may use letters, digits, '_', '-' and '.' only: {bad[0]!r}.")
    samples = [
        _check_sample(
            f"target {i}", fourier, target, points=points, faces=faces, time=None if times is None else times[i]
        )
        for i, target in enumerate(targets)
    ]
    if samples[0].points is None:
        raise GinrError("The points (n, 3) are required.")

    folder = Path(folder)
    npz_dir = folder / NPZ_DIR
    existing = sorted(npz_dir.glob("*.npz")) if npz_dir.is_dir() else []
    if existing and not overwrite:
        raise GinrError(f"{npz_dir} already holds {len(existing)} .npz files; choose an empty folder.")
    npz_dir.mkdir(parents=True, exist_ok=True)
    for path in existing:
        path.unlink()
    for key in SHARED_FILES:
        (folder / f"{key}.npy").unlink(missing_ok=True)

    first = samples[0]
    if shared:
        np.save(folder / "fourier.npy", first.fourier)
        np.save(folder / "points.npy", first.points)
        if first.faces is not None:
            np.save(folder / "faces.npy", first.faces)
    paths = []
    for name, sample in zip(names, samples):
        arrays = {"target": sample.target}
        if not shared:
            arrays.update(points=sample.points, fourier=sample.fourier)
            if sample.faces is not None:
                arrays["faces"] = sample.faces
        if sample.time is not None:
            arrays["time"] = np.float64(sample.time)
        path = npz_dir / f"{name}.npz"
        np.savez(path, **arrays)
        paths.append(path)
    return paths


__all__ = ["ReferenceDataset", "ReferenceSample", "read_reference_dataset", "read_reference_sample", "sample_mesh",
           "write_reference_dataset"]
