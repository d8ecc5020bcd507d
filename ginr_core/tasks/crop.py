"""Crop a trained partitioned model (remove parts of the domain by deleting their weights) or extend it (train
new parts' local weights with everything else frozen): no retraining of what is kept.

`crop` reports the parameters before and after and R² on the kept nodes before and after: without overlap
the kept nodes' predictions are unchanged bit for bit (their outputs never read the removed weights); with
overlap the nodes bordering a removed part lose that part's share of their mean. The cropped region is the
removed parts' home nodes: the cropped prediction is NaN there (drawn as a hole).

`extend` adds local networks for parts the model lacks (cropped ones, or parts of a region it was never
trained on) and trains only them, on the nodes that feed them; every other weight stays bit for bit.
"""

from __future__ import annotations

import copy
import secrets
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np
import torch

from ..errors import GinrError
from ..geometry.features import FeatureSpec
from ..geometry.partition import Partition
from ..learning.metrics import evaluate, r2, reaches_r2
from ..learning.fields import config_parameters, parameter_count
from ..learning.model_config import ModelConfig
from ..learning.partitioned import PartitionedField
from ..learning.training import GINRRegressor, Progress, TrainConfig
from ..runs.fitting import fit_run
from ..runs.jobs import JobContext, reads_registry
from ..runs.registry import Registry
from ..runs.spec import RunInputs, RunSpec
from ..runs.task import RecordedRun, ResultOutcome, TaskRequest, done_results, run_items


@dataclass(frozen=True)
class CropReport:
    """What a crop removed and what it changed on the kept nodes (R² and predictions in the target's units)."""

    removed: tuple[int, ...]
    params_before: int
    params_after: int
    kept: np.ndarray
    r2_before: float
    r2_after: float
    max_change: float
    prediction: np.ndarray

    @property
    def param_reduction(self) -> float:
        """Fraction of the weights removed."""
        return 1.0 - self.params_after / self.params_before

    @property
    def r2_change(self) -> float:
        return self.r2_after - self.r2_before


@dataclass(frozen=True)
class ExtendReport:
    """What an extension added and how long its training took (only the new weights moved)."""

    added: tuple[int, ...]
    params_before: int
    params_after: int
    nodes: int
    r2_added: float
    r2_represented: float
    seconds: float
    steps: int
    others_unchanged: bool
    prediction: np.ndarray
    r2_reference: float | None = None  # the reference prediction's R² on the added parts' nodes (as r2_added)
    seconds_to_reference: float | None = None


def _partitioned(regressor: GINRRegressor) -> PartitionedField:
    regressor._check_fitted()
    if not isinstance(regressor.model_, PartitionedField):
        raise GinrError("Only partitioned models (Local-Global or one network per part) can be cropped or extended; "
                        "this one is a single network.")
    return regressor.model_


def _with_model(regressor: GINRRegressor, model: PartitionedField, train_config: TrainConfig | None = None) -> GINRRegressor:
    """A new regressor around `model`, with the target scaling of `regressor` (its checkpoint rebuilds `model`)."""
    out = copy.copy(regressor)
    out.model_, out.model_config = model, model.config
    out.train_config = train_config or regressor.train_config
    out.history_ = []
    return out


def represented_nodes(model: PartitionedField, partition: Partition) -> np.ndarray:
    """Nodes whose home part has a local network in `model` (what a cropped model still stands for)."""
    return np.isin(partition.labels, model.parts)


def crop(regressor: GINRRegressor, features: np.ndarray, target: np.ndarray, partition: Partition,
         remove) -> tuple[GINRRegressor, CropReport]:
    """A copy of the fitted `regressor` without the local networks of the parts in `remove`, and its report."""
    model = _partitioned(regressor)
    remove = partition.check_parts(remove)
    before = regressor.predict(features, parts=partition)
    cropped = _with_model(regressor, model.cropped(remove))
    after = cropped.predict(features, parts=partition)
    kept = represented_nodes(cropped.model_, partition)
    after[~kept] = np.nan
    target = np.asarray(target)
    report = CropReport(
        removed=tuple(remove), params_before=parameter_count(model), params_after=parameter_count(cropped.model_),
        kept=kept, r2_before=r2(target[kept], before[kept]), r2_after=r2(target[kept], after[kept]),
        max_change=float(np.max(np.abs(after[kept] - before[kept]), initial=0.0)), prediction=after,
    )
    return cropped, report


def extend(regressor: GINRRegressor, features: np.ndarray, target: np.ndarray, partition: Partition, add,
           train_config: TrainConfig | None = None, callback: Callable[[Progress], None] | None = None,
           cancel: threading.Event | None = None, reference: np.ndarray | None = None) -> tuple[GINRRegressor, ExtendReport]:
    """A copy of `regressor` with new local networks for the parts in `add`, trained (with `train_config`, default
    the regressor's) on the nodes that feed them while every other weight stays frozen; and its report.

    `reference`: a prediction on every node (say, the model before it was cropped); the report then gives its R²
    on the new parts' nodes and when the training's R² there first reached it (as shown: `reaches_r2`)."""
    model = _partitioned(regressor)
    add = partition.check_parts(add)
    growing = _with_model(regressor, model.extended(add, (train_config or regressor.train_config).seed), train_config)
    members = np.where(np.isin(partition.members, add), partition.members, -1)  # train the new parts only
    rows = (members >= 0).any(axis=1)
    target = np.asarray(target)
    start = time.perf_counter()
    growing.partial_fit(np.asarray(features)[rows], target[rows], parts=members[rows], callback=callback, cancel=cancel)
    seconds = time.perf_counter() - start
    extended = _with_model(growing, growing.model_.merged())
    prediction = extended.predict(features, parts=partition)
    represented = represented_nodes(extended.model_, partition)
    home = np.isin(partition.labels, add)
    r2_added = r2(target[home], prediction[home])
    r2_reference = seconds_to_reference = None
    if reference is not None:
        r2_reference = r2(target[home], np.asarray(reference).reshape(target.shape)[home])
        seconds_to_reference = _seconds_to_reference(growing.history_, target, regressor.target_std_, rows, members,
                                                     reference)
        if seconds_to_reference is None and reaches_r2(r2_added, r2_reference):
            seconds_to_reference = seconds  # reached by the last step, after the last history row
    report = ExtendReport(
        added=tuple(add), params_before=parameter_count(model), params_after=parameter_count(extended.model_),
        nodes=int(home.sum()), r2_added=r2_added,
        r2_represented=r2(target[represented], prediction[represented]), seconds=seconds,
        steps=growing.history_[-1]["step"] if growing.history_ else 0,
        others_unchanged=_same_weights(model, extended.model_), prediction=np.where(represented, prediction, np.nan),
        r2_reference=r2_reference, seconds_to_reference=seconds_to_reference,
    )
    extended.history_ = growing.history_
    extended.stop_reason_ = growing.stop_reason_
    return extended, report


def _seconds_to_reference(history: list[dict], target: np.ndarray, target_std, rows: np.ndarray, members: np.ndarray,
                          reference: np.ndarray) -> float | None:
    """When the training first reached the reference's R² on the rows it trained on. The training loss is the
    standardised MSE over the (node, new part) rows, so both become R² over those rows by one spread."""
    node = np.repeat(np.flatnonzero(rows), (members[rows] >= 0).sum(axis=1))
    truth = target.reshape(len(target), -1)[node] / target_std
    spread = float(np.mean((truth - truth.mean(axis=0)) ** 2))
    if spread == 0:
        return None
    error = np.asarray(reference).reshape(len(target), -1)[node] / target_std - truth
    reference_r2 = 1.0 - float(np.mean(error**2)) / spread
    return next((row["elapsed_s"] for row in history if reaches_r2(1.0 - row["loss"] / spread, reference_r2)), None)


def _same_weights(old: PartitionedField, new: PartitionedField) -> bool:
    """Whether every weight of `old` is in `new` bit for bit (shared weights, and each old part's local network)."""
    old_state, new_state = old.state_dict(), new.state_dict()
    shared = [key for key in old_state if not key.startswith("local_groups.")]
    if not all(torch.equal(old_state[key], new_state[key]) for key in shared):
        return False
    slots = [new.parts.index(p) for p in old.parts]
    old_nets, new_nets = old.local_groups[0], new.local_groups[0]
    pairs = zip([*old_nets.weights, *old_nets.biases], [*new_nets.weights, *new_nets.biases])
    return all(torch.equal(a, b[slots]) for a, b in pairs)



# -- registered runs and jobs ------------------------------------------------------------------------------
MODEL_LABELS = {"local_global": "Local-Global", "per_part": "network per part", "mlp": "plain GINR"}


@dataclass(frozen=True)
class TrainedModel:
    """One trained model of `croppable_task`: its registered run, scores on all nodes, size and learning curve."""

    kind: str
    run_id: str | None
    metrics: dict
    params: int
    history: tuple[dict, ...]
    prediction: np.ndarray

    @property
    def elapsed_s(self) -> float:
        return self.history[-1]["elapsed_s"] if self.history else 0.0

    def seconds_to(self, r2: float) -> float | None:
        """Training time until R² first reached `r2` (None: never)."""
        return next((row["elapsed_s"] for row in self.history if row["r2"] >= r2), None)


@dataclass(frozen=True)
class CroppableRequest(TaskRequest):
    """Models to train one after the other on the same nodes and partition, each a registered run. `inputs.extra`
    holds the partition (Partition.to_arrays); `models` maps a kind to its config (e.g. equal_size_configs')."""

    inputs: RunInputs
    models: dict
    features: FeatureSpec = field(default_factory=FeatureSpec)
    train: TrainConfig = field(default_factory=TrainConfig)

    @property
    def partition(self) -> Partition:
        return Partition.from_arrays(self.inputs.extra)

    def spec(self, item: str | None = None, group: str = "") -> RunSpec:
        """The registered run of model kind `item` (a key of `models`)."""
        kind, p = item, self.partition
        options = {"group": group, "model": kind, "partition": {"parts": p.n_parts, "method": p.method, "overlap": p.overlap,
                                                                "seed": p.seed}}
        return RunSpec("fit", self.domain, self.signal, self.features, self.models[kind], self.train, options)


def with_partition(inputs: RunInputs, partition: Partition) -> RunInputs:
    """The run inputs with the partition saved beside them."""
    return replace(inputs, extra={**inputs.extra, **partition.to_arrays()})


def croppable_task(request: CroppableRequest, ctx: JobContext) -> dict[str, TrainedModel]:
    """Train each model in turn with the same recipe (results published as each finishes); a cancel stops the model
    in training and skips the rest."""
    mesh, group = request.inputs.mesh, f"crop-{secrets.token_hex(4)}"
    ctx.report(0.0, f"Building the features: {request.features.label}")
    features = request.features.build(mesh)
    n_parts, kinds = request.partition.n_parts, list(request.models)
    n = len(kinds)

    def train(i: int, update) -> dict:
        kind = kinds[i]
        outcome = fit_run(request.spec(kind, group), request.inputs, ctx, features=features, part=kind, start=i / n, span=1 / n)
        params = config_parameters(request.models[kind], features.shape[1], n_parts)
        result = TrainedModel(kind, outcome.run_id, outcome.metrics, params, outcome.history, outcome.prediction)
        return dict(status="cancelled" if outcome.stopped_early else "done", run_id=outcome.run_id, result=result)

    outcomes = run_items(ctx, [ResultOutcome(kind) for kind in kinds], train, publish=done_results, raise_failures=True)
    return done_results(outcomes)


@dataclass(frozen=True)
class RunData:
    """What a partitioned run was trained on, read back from the registry."""

    spec: RunSpec
    inputs: RunInputs
    features: np.ndarray
    partition: Partition
    regressor: GINRRegressor


def load_run(registry: Registry, run_id: str) -> RunData:
    """A partitioned run's spec, inputs, partition, model and features (rebuilt from its spec)."""
    spec = registry.get(run_id).spec
    inputs = registry.load_inputs(run_id)
    if spec.model.partition is None or "part_labels" not in inputs.extra:
        raise GinrError(f"Run {run_id} is not a partitioned model: only those can be cropped or extended "
                        "(train one with `ginr crop` or on the Crop page).")
    return RunData(spec, inputs, spec.features.build(inputs.mesh), Partition.from_arrays(inputs.extra),
                   registry.load_regressor(run_id))


def crop_run(registry: Registry, run_id: str, remove) -> tuple[str, CropReport]:
    """Crop a registered partitioned run: the cropped model is a new run (task "crop", scored on the kept nodes)."""
    data = load_run(registry, run_id)
    cropped, report = crop(data.regressor, data.features, data.inputs.target, data.partition, remove)
    spec = replace(data.spec, task="crop", model=cropped.model_.config, train=cropped.train_config,
                   options={"source": run_id, "removed": list(report.removed)})
    with RecordedRun(None, spec, data.inputs, registry) as run:
        _finish(run, data, cropped, report.prediction, report.kept, [])
    return run.id, report


@dataclass(frozen=True, eq=False)
class ExtendRequest(TaskRequest):
    """Train parts back into the recorded partitioned run `run_id` (`add`: part ids), every other weight frozen."""

    run_id: str
    add: tuple[int, ...]
    train: TrainConfig = field(default_factory=TrainConfig)

    def spec(self, item: str | None = None, group: str = "", *, recorded: RunSpec, model: ModelConfig) -> RunSpec:
        """The extended run: the recorded run's (`recorded`: its spec) with `model`, the config with the added parts
        (known once they are added), trained with `train`."""
        return replace(recorded, task="extend", model=model, train=self.train,
                       options={"source": self.run_id, "added": list(self.add)})


@reads_registry
def extend_task(request: ExtendRequest, ctx: JobContext) -> tuple[str | None, ExtendReport]:
    """The extension as a job: a new run (task "extend"); timed against the uncropped model when the run was cropped."""
    if ctx.registry is None:
        raise GinrError("Extending a run needs the run registry.")
    data = load_run(ctx.registry, request.run_id)
    request = replace(request, add=tuple(data.partition.check_parts(request.add)))
    source = data.spec.options.get("source") if data.spec.task == "crop" else None
    reference = ctx.registry.load_predictions(source) if source else None
    extended, report = extend(data.regressor, data.features, data.inputs.target, data.partition, request.add,
                              request.train, ctx.training_callback("extend"), ctx.cancel_event, reference)
    ctx.stopped_early = extended.stop_reason_ == "cancelled"
    represented = represented_nodes(extended.model_, data.partition)
    with RecordedRun(ctx, request.spec(recorded=data.spec, model=extended.model_.config), data.inputs) as run:
        _finish(run, data, extended, report.prediction, represented, extended.history_)
    ctx.report(1.0, "Done")
    return run.id, report


def _finish(run: RecordedRun, data: RunData, regressor: GINRRegressor, prediction: np.ndarray, scored: np.ndarray,
            history: list[dict]) -> None:
    """A derived run (cropped or extended) finished: the same inputs, its own model, scored on the nodes it represents."""
    target = np.asarray(data.inputs.target)
    metrics = {**evaluate(target[scored], prediction[scored]), "n_scored": int(scored.sum())}
    run.finish("done", regressor=regressor, predictions=prediction, metrics=metrics, history=history)
