"""Time-conditioned signals: one signal seen at several times on a fixed mesh, learned with time as an input.

The paper's experiment is Gray-Scott reaction-diffusion on the bunny: 3,000 steps, a conditional GINR
trained on the frames at t = 0 mod 10 and shown at t = 0 mod 5. So that the in-between frames can be
scored, `gray_scott_series` saves every 5th step by default and `fit_time_series` trains on every
second frame (`stride=2`), holding out the rest. Any other scalar can play the role of time: pressure
levels of a weather field (`grid_series`) work the same way.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from ..data.gridded import LatLonGrid
from ..data.signals import ProgressCallback, gray_scott, load_vertex_signal
from ..errors import Cancelled, GinrError
from ..geometry.domains import latlon_grid
from ..geometry.features import FeatureSpec
from ..geometry.mesh import Mesh
from ..learning.metrics import evaluate
from ..learning.model_config import EncoderConfig, MLPConfig, ModelConfig
from ..learning.models import check_series
from ..learning.training import GINRRegressor, Progress, TrainConfig
from ..runs.jobs import JobContext
from ..runs.spec import RunInputs, RunSpec
from ..runs.task import RecordedRun, TaskRequest
from ..settings import check_series_size

# Measured on Gray-Scott over an icosphere (2,562 nodes, 600 frames, train on every second frame, k = 64,
# 30 s, one CPU thread), pooled R^2 on the held-out frames: batch 8192 / first-layer omega_0 30: 0.9971;
# 4096 / 30: 0.9967; 8192 / 10: 0.9965; 4096 / 90: 0.9941; 16384 / 90: 0.9913. Full batches of T * n rows
# would take a second or more per step.
SERIES_BATCH = 8192
SERIES_FIRST_OMEGA_0 = 30.0


@dataclass
class TimeSeries:
    """A signal on n nodes at T times: `values` (T, n), `times` (T,) increasing, `labels` naming each frame."""

    values: np.ndarray
    times: np.ndarray
    labels: list[str]
    name: str = "series"

    def __post_init__(self):
        self.values = np.asarray(self.values, dtype=np.float64)
        self.times = np.asarray(self.times, dtype=np.float64).reshape(-1)
        if self.values.ndim != 2:
            raise GinrError(f"A time series needs (frames, nodes) values, got shape {self.values.shape}.")
        check_series(np.zeros((self.values.shape[1], 1)), self.values, self.times)
        if len(self.labels) != len(self.times):
            raise GinrError("Give one label per frame.")
        if len(self.times) > 1 and not np.all(np.diff(self.times) > 0):
            raise GinrError("The time stamps must be strictly increasing.")

    @property
    def n_frames(self) -> int:
        return len(self.times)

    @property
    def n_nodes(self) -> int:
        return self.values.shape[1]

    def training_frames(self, stride: int) -> np.ndarray:
        """Boolean mask of the frames a model sees with `stride`: frames 0, stride, 2 stride, ... and always the
        last one, so every held-out frame lies between two trained ones (interpolation, never extrapolation)."""
        if stride < 1:
            raise GinrError("The training stride must be 1 or more.")
        mask = np.arange(self.n_frames) % stride == 0
        mask[-1] = True
        return mask


def gray_scott_series(mesh: Mesh, steps: int = 3000, save_every: int = 5, progress=None, cancel=None,
                      **params) -> TimeSeries:
    """Gray-Scott reaction-diffusion on the mesh (v, the paper's signal), the state after every
    `save_every`-th update; frame times are the update indices t (0, 5, 10, ...), as in the reference code."""
    result = gray_scott(mesh, steps=steps, save_every=save_every, progress=progress, cancel=cancel, **params)
    if result.frames is None or len(result.frames) == 0:
        raise GinrError("The simulation saved no frames: use more steps than save_every.")
    iterations = result.frame_steps - 1
    return TimeSeries(result.frames, iterations.astype(float), [f"t = {t:,}" for t in iterations], "Gray-Scott v")


def series_from_files(files: list[tuple[object, str]], mesh: Mesh, times: list[float] | None = None) -> TimeSeries:
    """Several per-vertex signal files, one per time ((path or bytes, filename) pairs, .npy / .csv / .txt), as a
    series on `mesh`. `times` gives each file's time stamp (default 0, 1, 2... in the given order); frames are
    sorted by time."""
    if not files:
        raise GinrError("Give at least one signal file.")
    times = np.arange(len(files), dtype=float) if times is None else np.asarray(times, dtype=float).reshape(-1)
    if len(times) != len(files):
        raise GinrError(f"Give one time stamp per file: {len(files)} files, {len(times)} time stamps.")
    check_series_size(len(files), mesh.n_vertices, "The uploaded series")
    frames = []
    for source, name in files:
        values = load_vertex_signal(source, name, mesh)
        if values.ndim != 1:
            raise GinrError(f"{name} holds {values.shape[1]} values per vertex; a series frame needs one.")
        frames.append(values)
    order = np.argsort(times, kind="stable")
    labels = [f"{files[i][1]} (t = {times[i]:g})" for i in order]
    return TimeSeries(np.stack(frames)[order], times[order], labels, "uploaded signals")


def grid_series(grid: LatLonGrid, variable: str, dim: str, stride: int = 1, progress: ProgressCallback | None = None,
                cancel: threading.Event | None = None, **selection: int) -> tuple[Mesh, TimeSeries]:
    """A field of a lat-lon file along one of its dimensions (month, level, time...) as a series, on the
    grid's sphere mesh (every `stride`-th latitude and longitude). Time stamps are the coordinate values
    along `dim` when numeric and increasing (e.g. pressure in hPa), else the positions 0, 1, 2...
    The frame count is checked against the limits before anything is read; `progress(fraction, message)`
    follows the reading and setting `cancel` stops it (raising Cancelled)."""
    if dim not in grid.other_dims(variable):
        raise GinrError(f"'{variable}' has no dimension '{dim}'; choose from {', '.join(grid.other_dims(variable)) or 'none'}.")
    coords = np.asarray(grid.coords[dim])
    if np.issubdtype(coords.dtype, np.datetime64):  # dates keep their spacing, in days since the first
        coords = (coords - coords.min()) / np.timedelta64(1, "D")
    rows = np.arange(0, len(grid.lat), stride)
    cols = np.arange(0, len(grid.lon), stride)
    check_series_size(len(coords), len(rows) * len(cols), f"'{variable}' over {dim}")
    frames = []
    for i in range(len(coords)):
        if cancel is not None and cancel.is_set():
            raise Cancelled("Reading the series was cancelled.")
        if progress is not None:
            progress(i / len(coords), f"Reading {dim} {i + 1:,} of {len(coords):,}")
        field = grid.field(variable, **{**selection, dim: i}).reshape(len(grid.lat), len(grid.lon))
        frames.append(field[np.ix_(rows, cols)].reshape(-1))
    labels_of = np.asarray(grid.coords[dim])
    numeric = np.issubdtype(coords.dtype, np.number) and len(np.unique(coords)) == len(coords)
    order = np.argsort(coords) if numeric else np.arange(len(coords))
    times = coords[order].astype(float) if numeric else np.arange(len(coords), dtype=float)
    labels = [f"{dim} = {labels_of[i]}" for i in order]
    mesh = latlon_grid(grid.lat[rows], grid.lon[cols])
    series = TimeSeries(np.stack([frames[i] for i in order]), times, labels, f"{variable} over {dim}")
    return mesh, series


@dataclass
class SeriesFit:
    """A time-conditioned model and how it did: prediction (T, n) at every frame, training-frame mask, per-frame
    metrics, and the pooled metrics over the held-out frames (None when every frame was trained on)."""

    regressor: GINRRegressor
    prediction: np.ndarray
    trained: np.ndarray
    frame_metrics: list[dict]
    held_out: dict | None

    def frame_r2(self) -> np.ndarray:
        return np.array([m["r2"] for m in self.frame_metrics])


def series_model_config(k: int | None = EncoderConfig.k, **mlp_changes) -> ModelConfig:
    """The default architecture (changed by `mlp_changes`, fields of MLPConfig) with a time input of `k` embedding
    columns and a lower first-layer frequency (see SERIES_BATCH)."""
    return ModelConfig(EncoderConfig(k=k, time_input=True), MLPConfig(**{"first_omega_0": SERIES_FIRST_OMEGA_0, **mlp_changes}))


def series_train_config(**changes) -> TrainConfig:
    """The default training recipe with mini-batches of (frame, node) rows and no live snapshots (a snapshot
    would predict all T * n rows, seconds on a large series)."""
    return replace(TrainConfig(), **{"batch_size": SERIES_BATCH, "snapshot_every_s": None, **changes})


def score_series(regressor: GINRRegressor, features: np.ndarray, series: TimeSeries, trained: np.ndarray) -> SeriesFit:
    """Predict every frame of `series` and score it, frame by frame and pooled over the held-out frames."""
    prediction = regressor.predict_series(features, series.times).astype(np.float32)  # half the memory, ample precision
    frame_metrics = [evaluate(series.values[i], prediction[i]) for i in range(series.n_frames)]
    held = ~np.asarray(trained, dtype=bool)
    held_out = evaluate(series.values[held].reshape(-1), prediction[held].reshape(-1)) if held.any() else None
    return SeriesFit(regressor, prediction, np.asarray(trained, dtype=bool), frame_metrics, held_out)


def fit_time_series(
    features: np.ndarray,
    series: TimeSeries,
    stride: int = 2,
    model_config: ModelConfig | None = None,
    train_config: TrainConfig | None = None,
    callback: Callable[[Progress], None] | None = None,
    cancel: threading.Event | None = None,
) -> SeriesFit:
    """Train on every `stride`-th frame of `series` (time as an extra input) and score every frame."""
    if len(features) != series.n_nodes:
        raise GinrError(f"The features have {len(features)} rows but the series has {series.n_nodes} nodes.")
    trained = series.training_frames(stride)
    regressor = GINRRegressor(model_config or series_model_config(), train_config or series_train_config())
    regressor.fit_series(features, series.values[trained], series.times[trained], callback=callback, cancel=cancel)
    return score_series(regressor, features, series, trained)


@dataclass(frozen=True, eq=False)
class SeriesRequest(TaskRequest):
    """A time-conditioned fit: train on every `stride`-th frame of `series` on `mesh`, score every frame."""

    mesh: Mesh
    series: TimeSeries
    features: FeatureSpec = field(default_factory=lambda: FeatureSpec("combinatorial", 64))
    stride: int = 2
    model: ModelConfig | None = None
    train: TrainConfig | None = None

    def spec(self, item: str | None = None, group: str = "") -> RunSpec:
        """The series' one recorded run."""
        return RunSpec("series", self.domain, self.signal, self.features, self.model or series_model_config(),
                       self.train or series_train_config(), {"stride": self.stride, "frames": self.series.n_frames})


PREDICTING = "Predicting every frame..."


def series_task(request: SeriesRequest, ctx: JobContext) -> SeriesFit:
    """`fit_time_series` as a registered run: training progress, then every frame predicted and scored (in the
    background too, so a dashboard never blocks on it)."""
    spec, series = request.spec(), request.series
    trained = series.training_frames(request.stride)
    inputs = RunInputs(request.mesh, series.values, {"times": series.times, "trained_frames": trained})
    with RecordedRun(ctx, spec, inputs) as run:
        ctx.report(0.0, f"Building the features: {spec.features.label}")
        features = spec.features.build(request.mesh)
        if len(features) != series.n_nodes:
            raise GinrError(f"The features have {len(features)} rows but the series has {series.n_nodes} nodes.")
        regressor = GINRRegressor(spec.model, spec.train)
        regressor.fit_series(features, series.values[trained], series.times[trained],
                             callback=ctx.training_callback(span=0.9), cancel=ctx.cancel_event)
        ctx.stopped_early = regressor.stop_reason_ == "cancelled"
        ctx.report(0.9, PREDICTING)
        fit = score_series(regressor, features, series, trained)
        run.finish("cancelled" if ctx.stopped_early else "done", regressor=fit.regressor, predictions=fit.prediction,
                   metrics=fit.held_out or evaluate(series.values.reshape(-1), fit.prediction.reshape(-1)),
                   history=fit.regressor.history_)
    ctx.report(1.0, "Done")
    return fit


@dataclass(frozen=True, eq=False)
class AnimationRequest(TaskRequest):
    """Panels of values over time (frames, n) on a mesh, rendered off screen and encoded as `fmt` (gif or mp4);
    it records no run."""

    mesh: Mesh
    panels: dict[str, np.ndarray]
    labels: list[str]
    fmt: str = "gif"
    fps: float = 10.0


def animation_task(request: AnimationRequest, ctx: JobContext) -> bytes:
    """An animation export as a job: rendering hundreds of frames takes a minute, which a page must not block on."""
    from ..viz.animation import animation_bytes

    return animation_bytes(request.mesh, request.panels, request.labels, request.fmt, request.fps, progress=ctx.progress())
