"""Signal collections: learn a family of signals once, fit a new member by its code alone, explore the codes.

`train_collection` fits a shared network with one code per member (`CollectionRegressor`), leaving some
members out; `fit_new_member` learns a held-out (or any new) signal's code with the shared weights frozen, and
`fit_from_scratch` trains the usual single-signal GINR on the same signal, so the two times to R² 0.99 stand
side by side; `span_fit` is the classical alternative with no network (least squares on the trained members),
and `fixed_part_fit` shows what training added to a heads model (least squares on its untrained columns alone).
Where members are ordered by a parameter (metadata), `interpolated_member` decodes the straight
blend of the codes of a held-out member's two trained neighbours, with no optimisation at all.
`latent_projection` (PCA of the codes), `walk` (decode a blend of two codes) and `compression` feed the
explorer. Two tasks run under the job contract (`ginr_core.runs.jobs`): `collection_task` trains, scores the
held-out members and records a run of task "collection"; `fit_new_task` fits a new signal to a recorded
collection run beside a single-signal GINR from scratch (itself recorded as a "fit" run).
"""

from __future__ import annotations

import functools
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from ..data.collections import Collection, neighbours
from ..data.signals import validate_signal
from ..errors import GinrError
from ..geometry.features import XYZ, FeatureSpec
from ..geometry.mesh import Mesh
from ..storage.files import atomic_write
from ..learning.collection_models import (
    DEFAULT_MODULATION,
    CodeFitConfig,
    CollectionRegressor,
    collection_model_config,
    modulation_of,
    standardise_members,
)
from ..learning.metrics import r2
from ..learning.model_config import EncoderConfig, MLPConfig, ModelConfig
from ..learning.recipes import XYZ_FIT_FIRST_OMEGA_0
from ..learning.training import GINRRegressor, Progress, TrainConfig
from ..runs.fitting import fit_run
from ..runs.jobs import JobContext, reads_registry
from ..runs.registry import Registry
from ..runs.spec import RunInputs, RunSpec, Source
from ..runs.task import RecordedRun, TaskRequest

TARGET_R2 = 0.99
MEMBERS_FILE = "members.npz"  # beside a collection run's checkpoint: every member's code, mean, std and R²


def input_model_config(features: FeatureSpec, modulation: str = DEFAULT_MODULATION, rank: int = 8, latent_dim: int = 64,
                       **mlp_changes) -> ModelConfig:
    """The collection architecture for these features (`mlp_changes`: fields of MLPConfig): xyz takes SIREN's
    first-layer frequency for [-1, 1] inputs."""
    if features.kind == XYZ:
        mlp_changes = {"first_omega_0": XYZ_FIT_FIRST_OMEGA_0, **mlp_changes}
    return collection_model_config(modulation, rank=rank, latent_dim=latent_dim,
                                   encoder=EncoderConfig(features.input_kind, features.k), **mlp_changes)


def single_signal_config(features: FeatureSpec) -> ModelConfig:
    """What fit-new is compared with: the default single-signal GINR (or INR) on the same features."""
    if features.kind == XYZ:
        return ModelConfig(EncoderConfig("xyz", k=None), MLPConfig(first_omega_0=XYZ_FIT_FIRST_OMEGA_0))
    return ModelConfig(EncoderConfig(k=features.k))


def single_signal_train_config(budget_s: float, **changes) -> TrainConfig:
    """The from-scratch recipe: the default trainer on full batches (so the R² of every history row is exact, for
    time to R² 0.99 and stopping there), a history row every step."""
    return replace(TrainConfig(), **{"batch_size": None, "time_budget_s": budget_s, "log_every": 1, "snapshot_every_s": None,
                                     **changes})


def collection_train_config(n_rows: int, **changes) -> TrainConfig:
    """Full batches while the (member, node) rows are few; beyond FULL_BATCH_ROWS, random batches of that many
    rows (a full pass over 32 bunny textures, 1.1 M rows, takes ~10 s on a CPU). No live snapshots: one would
    predict every member."""
    batch = None if n_rows <= FULL_BATCH_ROWS else FULL_BATCH_ROWS
    return replace(TrainConfig(), **{"batch_size": batch, "snapshot_every_s": None, **changes})


FULL_BATCH_ROWS = 32_768


# ---------------------------------------------------------------------------------------------------
# Training and scoring
# ---------------------------------------------------------------------------------------------------


@dataclass
class SignalFit:
    """One signal fitted by some means: its prediction, R² on all nodes, time, steps, time to TARGET_R2 (None if
    never) and the learning curve."""

    prediction: np.ndarray
    r2: float
    elapsed_s: float
    steps: int
    time_to_target_s: float | None
    history: list[dict] = field(default_factory=list)


@dataclass
class HeldOut:
    """A held-out member: its code fitted with the shared weights frozen (`fit_new`, with the code, mean and
    std), the blend of its neighbours' codes (None when it has none on both sides), the least-squares combination
    of the trained members (`span`), least squares on a heads model's fixed basis alone (`sines`: no trained
    layer) and the single-signal GINR from scratch (when compared)."""

    member: int
    fit_new: SignalFit
    code: np.ndarray
    mean: float
    std: float
    start: int | None = None  # the trained member (index among the trained ones) whose code fitted it best at the start
    interpolated: SignalFit | None = None
    span: SignalFit | None = None
    sines: SignalFit | None = None
    scratch: SignalFit | None = None


@dataclass
class CollectionFit:
    """A trained collection model and how it did on every member."""

    regressor: CollectionRegressor
    collection: Collection
    trained: np.ndarray
    prediction: np.ndarray  # (N, n), float32: trained members decoded from their codes, held-out ones after fit-new
    member_r2: np.ndarray  # (N,): R² of each member's prediction (held-out: after fit-new)
    elapsed_s: float
    along: str | None = None
    held_out: list[HeldOut] = field(default_factory=list)
    run_id: str | None = None

    @property
    def trained_index(self) -> np.ndarray:
        return np.flatnonzero(self.trained)

    def codes(self) -> np.ndarray:
        """(N, code_size): the learned codes of trained members, the fitted codes of held-out ones."""
        codes = np.zeros((self.collection.n_members, self.regressor.codes_.shape[1]))
        codes[self.trained_index] = self.regressor.codes_
        for h in self.held_out:
            codes[h.member] = h.code
        return codes

    def scales(self) -> tuple[np.ndarray, np.ndarray]:
        """Each member's mean and std (held-out members: those of their new fits)."""
        mean, std = np.zeros(self.collection.n_members), np.ones(self.collection.n_members)
        mean[self.trained_index], std[self.trained_index] = self.regressor.member_mean_, self.regressor.member_std_
        for h in self.held_out:
            mean[h.member], std[h.member] = h.mean, h.std
        return mean, std

    def speedups(self) -> list[float]:
        """Per compared held-out member: the from-scratch time to R² 0.99 over fit-new's (0 when fit-new never got
        there, inf when only fit-new did)."""
        out = []
        for h in self.held_out:
            if h.scratch is None:
                continue
            new, scratch = h.fit_new.time_to_target_s, h.scratch.time_to_target_s
            out.append(0.0 if new is None else (np.inf if scratch is None else scratch / max(new, 1e-9)))
        return out

    def summary(self) -> dict:
        trained = self.member_r2[self.trained]
        summary = {"mean_r2": float(trained.mean()), "worst_r2": float(trained.min()), **compression(self)}
        if self.held_out:
            summary["heldout_r2"] = float(np.mean([h.fit_new.r2 for h in self.held_out]))
            interp = [h.interpolated.r2 for h in self.held_out if h.interpolated is not None]
            summary["heldout_interp_r2"] = float(np.mean(interp)) if interp else None
            span = [h.span.r2 for h in self.held_out if h.span is not None]
            summary["heldout_span_r2"] = float(np.mean(span)) if span else None
            sines = [h.sines.r2 for h in self.held_out if h.sines is not None]
            summary["heldout_sines_r2"] = float(np.mean(sines)) if sines else None
            if self.speedups():
                summary["fit_new_speedup"] = float(np.median(self.speedups()))
        return summary

    def save(self, directory: str | Path) -> None:
        """The shared network (a checkpoint like any run's) and every member's code, mean, std and R²."""
        self.regressor.save(directory)
        mean, std = self.scales()
        atomic_write(Path(directory) / MEMBERS_FILE, lambda f: np.savez(
            f, codes=self.codes(), mean=mean, std=std, trained=self.trained, member_r2=self.member_r2))


def time_to(history: list[dict], target: float = TARGET_R2) -> float | None:
    """Seconds until the R² first reached `target` (None if it never did)."""
    return next((row["elapsed_s"] for row in history if row["r2"] >= target), None)


def train_collection(features: np.ndarray, collection: Collection, held_out=(), model_config: ModelConfig | None = None,
                     train_config: TrainConfig | None = None, along: str | None = None,
                     callback: Callable[[Progress], None] | None = None, cancel: threading.Event | None = None) -> CollectionFit:
    """Train on every member but `held_out` (indices); score each trained member from its code."""
    if len(features) != collection.n_nodes:
        raise GinrError(f"The features have {len(features)} rows but the members have {collection.n_nodes} values.")
    trained = np.ones(collection.n_members, dtype=bool)
    trained[np.asarray(held_out, dtype=int)] = False
    if not trained.any():
        raise GinrError("Every member is held out: train on at least one.")
    index = np.flatnonzero(trained)
    tc = train_config or collection_train_config(len(index) * collection.n_nodes)
    start = time.perf_counter()
    reg = CollectionRegressor(model_config or collection_model_config(), tc)
    reg.fit(features, collection.values[index], callback=callback, cancel=cancel)
    elapsed = time.perf_counter() - start
    prediction = np.zeros(collection.values.shape, dtype=np.float32)
    prediction[index] = reg.predict(features)
    member_r2 = np.full(collection.n_members, np.nan)
    member_r2[index] = [r2(collection.values[i], prediction[i]) for i in index]
    return CollectionFit(reg, collection, trained, prediction, member_r2, elapsed, along)


def fit_new_member(regressor: CollectionRegressor, features: np.ndarray, values: np.ndarray,
                   config: CodeFitConfig | None = None, callback: Callable[[Progress], None] | None = None,
                   cancel: threading.Event | None = None) -> tuple[SignalFit, HeldOut]:
    """A new signal on the collection's nodes: learn its code only (shared weights frozen). Returns its fit and a
    `HeldOut` record (member -1) holding the code, mean and std."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    start = time.perf_counter()
    new = regressor.fit_new(features, values, config, callback=callback, cancel=cancel)
    elapsed = time.perf_counter() - start
    prediction = regressor.decode(features, new.code, new.mean, new.std)
    steps = new.history[-1]["step"] if new.history else 0  # evaluations of the loss and its gradient
    fit = SignalFit(prediction.astype(np.float32), r2(values, prediction), elapsed, steps, time_to(new.history), new.history)
    return fit, HeldOut(-1, fit, new.code, new.mean, new.std, new.start)


def _stop_at(target: float | None, cancel: threading.Event | None, callback):
    """A callback that also ends the fit once R² reaches `target` (a stop event separate from the user's cancel)."""
    stop = threading.Event()

    def on_progress(p: Progress) -> None:
        if (target is not None and p.r2 >= target) or (cancel is not None and cancel.is_set()):
            stop.set()
        if callback is not None:
            callback(p)

    return stop, on_progress


def span_fit(trained_values: np.ndarray, values: np.ndarray) -> SignalFit:
    """The classical alternative to fit-new, with no network: the signal as the least-squares combination of the
    trained members (each standardised) and a constant, i.e. its projection on all of the family's empirical
    orthogonal functions (an EOF / POD reconstruction). A code beats it only where the network learned more than
    the members' linear span."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    start = time.perf_counter()
    basis = np.column_stack([standardise_members(np.asarray(trained_values, dtype=np.float64))[0].T, np.ones(len(values))])
    weights, *_ = np.linalg.lstsq(basis, values, rcond=None)
    return _one_shot(values, basis @ weights, time.perf_counter() - start, 1)


def fixed_part_fit(regressor: CollectionRegressor, features: np.ndarray, values: np.ndarray) -> SignalFit | None:
    """The alternative that shows what training added: least squares on a heads model's fixed basis alone (the
    embedding, its random sines and a constant, no trained layer), on the same nodes; None for other codes."""
    if not regressor.field.config.codes.heads:
        return None
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    start = time.perf_counter()
    prediction = regressor.fixed_part_fit(features, values)
    return _one_shot(values, prediction, time.perf_counter() - start, 1)


def fixed_part_label(regressor: CollectionRegressor) -> str:
    """A heads model's untrained columns in words (what `fixed_part_fit` solves on)."""
    count = regressor.field.config.mlp.random_features
    return f"the embedding and {count:,} random sines of it" if count else "the embedding alone (no random sines)"


def training_adds_little(fit_new_r2: float, fixed_r2: float) -> bool:
    """Whether the trained layers remove under LITTLE_GAIN of the error the fixed basis alone leaves."""
    return (1.0 - fit_new_r2) > (1.0 - LITTLE_GAIN) * (1.0 - fixed_r2)


LITTLE_GAIN = 0.1  # trained layers removing less of the fixed basis' error than this "add little"


def _one_shot(values: np.ndarray, prediction: np.ndarray, elapsed: float, steps: int) -> SignalFit:
    """A fit made in one go, with no curve: it reached TARGET_R2 after all of its time, or never."""
    score = r2(values, prediction)
    return SignalFit(prediction.astype(np.float32), score, elapsed, steps, elapsed if score >= TARGET_R2 else None)


def fit_from_scratch(features: np.ndarray, values: np.ndarray, model_config: ModelConfig | None = None,
                     train_config: TrainConfig | None = None, stop_at: float | None = None,
                     callback: Callable[[Progress], None] | None = None, cancel: threading.Event | None = None) -> SignalFit:
    """The honest alternative to fit-new: the usual single-signal GINR (or INR) trained from scratch (full batch,
    R² exact on all nodes every step), stopped once it reaches `stop_at` like fit-new."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    stop, on_progress = _stop_at(stop_at, cancel, callback)
    start = time.perf_counter()
    reg = GINRRegressor(model_config or ModelConfig(), train_config or single_signal_train_config(30.0))
    reg.fit(features, values, callback=on_progress, cancel=stop)
    elapsed = time.perf_counter() - start
    prediction = reg.predict(features)
    history = list(reg.history_)
    return SignalFit(prediction.astype(np.float32), r2(values, prediction), elapsed, history[-1]["step"] if history else 0,
                     time_to(history), history)


def interpolated_member(fit: CollectionFit, features: np.ndarray, member: int, along: str | None = None) -> SignalFit:
    """Decode the blend of the codes (and means and stds) of `member`'s two trained neighbours: no optimisation,
    nothing of the member's own values used but for the score."""
    names, weights = neighbours(fit.collection, member, fit.trained, along)
    codes, (mean, std) = fit.codes(), fit.scales()
    start = time.perf_counter()
    blend = sum(w * codes[i] for i, w in zip(names, weights))
    prediction = fit.regressor.decode(features, blend, sum(w * mean[i] for i, w in zip(names, weights)),
                                      sum(w * std[i] for i, w in zip(names, weights)))
    return _one_shot(fit.collection.values[member], prediction, time.perf_counter() - start, 0)


def score_held_out(fit: CollectionFit, features: np.ndarray, config: CodeFitConfig | None = None,
                   scratch: tuple[ModelConfig, TrainConfig] | None = None,
                   report: Callable[[int, str, Progress], None] | None = None,
                   cancel: threading.Event | None = None) -> CollectionFit:
    """Fit every held-out member's code (and interpolate it where it has neighbours); with `scratch`, also train
    a single-signal model (config, recipe) from scratch on it, stopped at the same R² as fit-new, if any. `report(j, what,
    progress)` hears about the j-th held-out member's fits ("fit-new" or "scratch")."""
    config = config or CodeFitConfig()
    fit.held_out = []
    for j, member in enumerate(np.flatnonzero(~fit.trained)):
        if cancel is not None and cancel.is_set():
            break
        values = fit.collection.values[member]
        new, held = fit_new_member(fit.regressor, features, values, config,
                                   None if report is None else lambda p, j=j: report(j, "fit-new", p), cancel)
        held.member = int(member)
        try:
            held.interpolated = interpolated_member(fit, features, member, fit.along)
        except GinrError:
            pass
        held.span = span_fit(fit.collection.values[fit.trained], values)
        held.sines = fixed_part_fit(fit.regressor, features, values)
        if scratch is not None and not (cancel is not None and cancel.is_set()):
            held.scratch = fit_from_scratch(features, values, *scratch, config.stop_at,
                                            None if report is None else lambda p, j=j: report(j, "scratch", p), cancel)
        fit.held_out.append(held)
        fit.prediction[member] = new.prediction
        fit.member_r2[member] = new.r2
    return fit


# ---------------------------------------------------------------------------------------------------
# The latent explorer and compression
# ---------------------------------------------------------------------------------------------------


def latent_projection(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """PCA of the codes: (N, 2) coordinates on the first two principal axes and the share of the codes'
    variance each explains."""
    centred = codes - codes.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    coords = centred @ vt[:2].T
    if coords.shape[1] < 2:
        coords = np.pad(coords, ((0, 0), (0, 2 - coords.shape[1])))
    total = float((s**2).sum())
    explained = (s[:2] ** 2) / total if total > 0 else np.zeros(min(2, len(s)))
    return coords, np.pad(explained, (0, 2 - len(explained)))


def walk(fit: CollectionFit, features: np.ndarray, a: int, b: int, t: float) -> np.ndarray:
    """The field decoded from the straight blend (1 - t) code_a + t code_b (means and stds blended alike)."""
    codes, (mean, std) = fit.codes(), fit.scales()
    return fit.regressor.decode(features, (1 - t) * codes[a] + t * codes[b], (1 - t) * mean[a] + t * mean[b],
                                (1 - t) * std[a] + t * std[b])


def compression(fit: CollectionFit) -> dict:
    """Bytes of the model (shared float32 weights + each member's code, mean and std) against the raw float32
    signals, for every member the model holds (trained and fitted held-out ones). A heads model's random sines
    cost nothing: they are redrawn from a fixed seed, never stored."""
    n_members = int(fit.trained.sum()) + len(fit.held_out)
    shared = 4 * fit.regressor.shared_parameters()
    codes = 4 * n_members * (fit.regressor.codes_.shape[1] + 2)
    raw = 4 * n_members * fit.collection.n_nodes
    return {"shared_bytes": shared, "code_bytes": codes, "raw_bytes": raw, "compression": raw / (shared + codes)}


# ---------------------------------------------------------------------------------------------------
# Tasks (the job contract) and recorded runs
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class CollectionRequest(TaskRequest):
    """A collection to train as a run: the members on their mesh, the features and model, the training recipe,
    the held-out members (indices) and how their codes are fitted; `scratch_budget_s` also trains a
    single-signal model from scratch on each held-out member (None: no comparison)."""

    mesh: Mesh
    collection: Collection
    features: FeatureSpec
    model: ModelConfig
    train: TrainConfig
    held_out: tuple[int, ...] = ()
    along: str | None = None
    code_fit: CodeFitConfig = field(default_factory=CodeFitConfig)
    scratch_budget_s: float | None = None

    def spec(self, item: str | None = None, group: str = "") -> RunSpec:
        """The collection's one recorded run."""
        c = self.collection
        options = {"name": c.name, "members": c.names, "metadata": {k: v.tolist() for k, v in c.metadata.items()},
                   "held_out": [c.names[i] for i in self.held_out], "along": self.along,
                   "modulation": modulation_of(self.model), "code_fit": self.code_fit.to_dict(),
                   "scratch_budget_s": self.scratch_budget_s}
        return RunSpec("collection", self.domain, self.signal, self.features, self.model, self.train, options)

    def inputs(self) -> RunInputs:
        """The mesh and every member's values (N, n), as the run's target."""
        return RunInputs(self.mesh, self.collection.values)


def collection_task(request: CollectionRequest, ctx: JobContext) -> CollectionFit:
    """Train the collection, score its held-out members (fit-new, interpolation, optionally from scratch) and
    record the run: the Collections page, `ginr collection train` and bench/collections.py run this."""
    spec, mesh, collection = request.spec(), request.mesh, request.collection
    spec.features.check(mesh)
    if collection.n_nodes != mesh.n_vertices:
        raise GinrError(f"The members have {collection.n_nodes:,} values but the mesh has {mesh.n_vertices:,} vertices.")
    with RecordedRun(ctx, spec, request.inputs()) as run:
        ctx.report(0.0, f"Building the features: {spec.features.label}", part="features")
        features = spec.features.build(mesh, progress=lambda fraction, message="": ctx.report(0.0, message, part="features"))
        n_held = len(request.held_out)
        per_member = (request.code_fit.time_budget_s or 1.0) + (request.scratch_budget_s or 0.0)
        train_s = request.train.time_budget_s or 1.0
        share = train_s / (train_s + n_held * per_member)  # of the job's progress, by time budgets
        fit = train_collection(features, collection, request.held_out, spec.model, request.train, request.along,
                               callback=ctx.training_callback("training", 0.0, share), cancel=ctx.cancel_event)
        history = list(fit.regressor.history_)
        held = np.flatnonzero(~fit.trained)

        def report(j: int, what: str, p: Progress) -> None:
            name = collection.names[held[j]]
            ctx.report(share + (1 - share) * (j + p.fraction) / max(n_held, 1), f"{name}: {what}, R² {p.r2:.4f}",
                       part=f"{name} · {what}", step=p.step, r2=p.r2, fit_elapsed_s=p.elapsed_s)

        scratch = None
        if request.scratch_budget_s:
            scratch = (single_signal_config(spec.features), single_signal_train_config(request.scratch_budget_s))
        score_held_out(fit, features, request.code_fit, scratch, report, ctx.cancel_event)
        fit.run_id = run.id
        ctx.stopped_early = fit.regressor.stop_reason_ == "cancelled" or ctx.cancelled()
        summary = fit.summary()
        run.finish("cancelled" if ctx.stopped_early else "done", regressor=fit, predictions=fit.prediction,
                   metrics={"r2": summary["mean_r2"], **summary}, history=history)
    ctx.report(1.0, "Done")
    return fit


@dataclass
class RecordedCollection:
    """A recorded collection run read back: its spec, mesh and members' values, the model and each member's
    code, mean, std, training flag and R² (`members`: MEMBERS_FILE's arrays)."""

    spec: RunSpec
    inputs: RunInputs
    regressor: CollectionRegressor
    members: dict[str, np.ndarray]

    @property
    def names(self) -> list[str]:
        return list(self.spec.options["members"])


def load_collection_run(registry: Registry, run_id: str) -> RecordedCollection:
    run = registry.get(run_id)
    spec = run.spec
    if spec.task != "collection":
        raise GinrError(f"Run {run_id} is not a collection run (its task is '{spec.task}'); see `ginr runs`.")
    if not (run.path / MEMBERS_FILE).exists():
        raise GinrError(f"Collection run {run_id} has no trained model (status {run.status}).")
    with np.load(run.path / MEMBERS_FILE, allow_pickle=False) as data:
        members = {key: data[key] for key in data.files}
    return RecordedCollection(spec, registry.load_inputs(run_id), _recorded_regressor(str(run.path)), members)


@functools.lru_cache(maxsize=1)
def _recorded_regressor(path: str) -> CollectionRegressor:
    """The last recorded collection model read (a finished run's folder never changes): it keeps its basis and
    factored solvers, so a second new signal for the same collection is one solve, not a new factorisation."""
    return CollectionRegressor.load(path)


@dataclass(frozen=True, eq=False)
class FitNewRequest(TaskRequest):
    """A new signal for a recorded collection run (`run_id`): its code is fitted (shared weights frozen) and,
    with `compare`, a single-signal model trained from scratch beside it at the same budget."""

    run_id: str
    values: np.ndarray
    budget_s: float = 15.0
    compare: bool = True
    signal: Source = field(default_factory=lambda: Source("arrays", "new signal"), kw_only=True)

    def spec(self, item: str | None = None, group: str = "", *, recorded: RunSpec) -> RunSpec:
        """The from-scratch run: a single-signal model on the collection's domain and features (`recorded`: the
        collection run's spec), trained for the same budget."""
        return RunSpec("fit", recorded.domain, self.signal, recorded.features, single_signal_config(recorded.features),
                       single_signal_train_config(self.budget_s))


@dataclass
class FitNewResult:
    """Fit-new, the trained members' span (`span_fit`), a heads model's fixed basis alone (`fixed_part_fit`) and
    (with compare) the recorded from-scratch run, on the same signal at the same budget."""

    label: str
    values: np.ndarray
    fit_new: SignalFit
    start_member: str | None
    span: SignalFit | None = None
    sines: SignalFit | None = None
    scratch: SignalFit | None = None
    scratch_run_id: str | None = None
    fixed_part: str = ""  # what `sines` solved on, in words (fixed_part_label)


@reads_registry
def fit_new_task(request: FitNewRequest, ctx: JobContext) -> FitNewResult:
    """Fit a new signal's code with a recorded collection model, then (with compare) train the single-signal model
    from scratch on it as a recorded "fit" run; both get the same time budget and run all of it."""
    if ctx.registry is None:
        raise GinrError("Fitting a new signal needs the registry holding the collection run.")
    recorded = load_collection_run(ctx.registry, request.run_id)
    spec, mesh = recorded.spec, recorded.inputs.mesh
    values = validate_signal(request.values, mesh, what=f"The signal '{request.signal.label or request.signal.name}'")
    if values.ndim != 1:
        raise GinrError("A collection member holds one value per vertex; this signal has several.")
    ctx.report(0.0, f"Building the features: {spec.features.label}", part="features")
    features = spec.features.build(mesh)
    share = 0.5 if request.compare else 1.0  # of the job's progress, for fit-new

    def on_code(p: Progress) -> None:
        ctx.report(share * p.fraction, f"fit-new: R² {p.r2:.4f}", part="fit-new", step=p.step, r2=p.r2,
                   fit_elapsed_s=p.elapsed_s)

    new, held = fit_new_member(recorded.regressor, features, values, CodeFitConfig(time_budget_s=request.budget_s),
                               on_code, ctx.cancel_event)
    trained = np.flatnonzero(recorded.members["trained"])
    start = None if held.start is None else recorded.names[trained[held.start]]
    result = FitNewResult(request.signal.label or request.signal.name, values, new, start,
                          span_fit(np.asarray(recorded.inputs.target)[trained], values),
                          fixed_part_fit(recorded.regressor, features, values))
    if result.sines is not None:
        result.fixed_part = fixed_part_label(recorded.regressor)
    if request.compare and not ctx.cancelled():
        outcome = fit_run(request.spec(recorded=spec), RunInputs(mesh, values), ctx, features=features, part="from scratch",
                          start=share, span=1 - share)
        result.scratch = SignalFit(outcome.prediction.astype(np.float32), outcome.metrics["r2"], outcome.elapsed_s,
                                   outcome.steps, time_to(list(outcome.history)), list(outcome.history))
        result.scratch_run_id = outcome.run_id
    ctx.stopped_early = ctx.stopped_early or ctx.cancelled()
    ctx.report(1.0, "Done")
    return result
