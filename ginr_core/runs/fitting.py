"""The fit task: train a neural field on a signal on a mesh, as a registered run.

Task "fit" trains on every node and scores there (the paper's fitting task); task "heldout" leaves a random
fraction of the nodes out of training and scores on them (generalisation), with the training-node score kept
as "r2_fit". The same function runs in the dashboard's process, in the CLI and on a remote worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..errors import GinrError
from ..geometry.features import FeatureSpec
from ..learning.metrics import evaluate, r2
from ..learning.model_config import ModelConfig
from ..learning.training import GINRRegressor, Progress, TrainConfig
from .jobs import JobContext
from .kinds import task_kind
from .task import RecordedRun, TaskRequest
from .spec import RunInputs, RunSpec

DEFAULT_HOLDOUT = 0.2


def heldout_mask(n: int, fraction: float, seed: int = 0) -> np.ndarray:
    """Which of n nodes are held out of training: a random `fraction` of them (seeded), as a boolean mask."""
    if not 0.0 < fraction < 1.0:
        raise GinrError(f"The held-out fraction must be between 0 and 1 (exclusive), got {fraction!r}.")
    test = np.random.default_rng(seed).random(n) < fraction
    if test.sum() == 0 or (~test).sum() < 2:
        raise GinrError(f"Holding out {fraction:.0%} of {n} nodes leaves none to score or too few to train on.")
    return test


def training_nodes(spec: RunSpec, n: int) -> np.ndarray:
    """Boolean mask of the nodes a run trains on (all of them unless the task holds some out)."""
    if spec.task == "heldout":
        return ~heldout_mask(n, float(spec.options.get("fraction", DEFAULT_HOLDOUT)), int(spec.options.get("seed", 0)))
    return np.ones(n, dtype=bool)


def score(target: np.ndarray, prediction: np.ndarray, trained: np.ndarray) -> dict:
    """Metrics where the run is judged: every node for a fit, the held-out nodes otherwise (plus "r2_fit" on the
    training nodes, and how many nodes each was taken on)."""
    if trained.all():
        return {**evaluate(target, prediction), "n_scored": int(len(target))}
    held = ~trained
    return {**evaluate(target[held], prediction[held]), "r2_fit": r2(target[trained], prediction[trained]),
            "n_scored": int(held.sum())}


@dataclass(frozen=True, eq=False)
class RunRequest(TaskRequest):
    """A run to launch, what a job local or remote receives: its arrays and its task, "fit" or "heldout"
    (`options`: the held-out `fraction` and the split `seed`), with the contract's features, model and train."""

    inputs: RunInputs
    task: str = "fit"
    features: FeatureSpec = field(default_factory=FeatureSpec)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    options: dict = field(default_factory=dict)

    @classmethod
    def from_spec(cls, spec: RunSpec, inputs: RunInputs) -> RunRequest:
        """The request that records `spec` with `inputs` (a re-run's, both read back from the registry)."""
        return cls(inputs, spec.task, spec.features, spec.model, spec.train, dict(spec.options), domain=spec.domain,
                   signal=spec.signal)

    def spec(self, item: str | None = None, group: str = "") -> RunSpec:
        """The run's one spec."""
        return RunSpec(self.task, self.domain, self.signal, self.features, self.model, self.train, dict(self.options))


@dataclass(frozen=True)
class FitOutcome:
    """A finished (or cancelled) fit: its run id (None without a registry), metrics, full-domain prediction and
    learning curves."""

    run_id: str | None
    metrics: dict
    prediction: np.ndarray
    history: tuple[dict, ...]
    stopped_early: bool

    @property
    def steps(self) -> int:
        """Optimisation steps taken (to the last history row: within `log_every` of the true count)."""
        return self.history[-1]["step"] if self.history else 0

    @property
    def elapsed_s(self) -> float:
        return self.history[-1]["elapsed_s"] if self.history else 0.0


def fit_run(spec: RunSpec, inputs: RunInputs, ctx: JobContext, *, features: np.ndarray | None = None,
            part: str | None = None, start: float = 0.0, span: float = 1.0,
            watch: Callable[[GINRRegressor, Progress], None] | None = None) -> FitOutcome:
    """Train one registered run of task "fit" or "heldout", reporting into [start, start + span] of the job.
    `features` skips rebuilding them when the caller already has them (they must be `spec.features.build`'s).
    `watch(regressor, progress)` is called at each progress report of the fit (a sweep scores the model there)."""
    if not task_kind(spec.task).rerun:
        raise GinrError(f"fit_run trains the runs its spec alone re-trains (fits, held-out fits), not '{spec.task}'.")
    mesh, target = inputs.mesh, np.asarray(inputs.target)
    if len(target) != mesh.n_vertices:
        raise GinrError(f"The signal has {len(target):,} values but the mesh has {mesh.n_vertices:,} vertices.")
    spec.features.check(mesh)
    trained = training_nodes(spec, mesh.n_vertices)
    with RecordedRun(ctx, spec, inputs) as run:
        if features is None:
            ctx.report(start, f"Building the features: {spec.features.label}", part=part)
            features = spec.features.build(mesh, progress=lambda fraction, message="": ctx.report(start, message, part=part))
        regressor = GINRRegressor(spec.model, spec.train)
        parts = run_parts(spec, inputs)
        report = ctx.training_callback(part, start, span)

        def callback(progress: Progress) -> None:
            report(progress)
            if watch is not None:
                watch(regressor, progress)

        regressor.fit(features[trained], target[trained], callback=callback, cancel=ctx.cancel_event,
                      parts=None if parts is None else parts[trained])
        stopped = regressor.stop_reason_ == "cancelled"
        ctx.stopped_early = ctx.stopped_early or stopped
        prediction = regressor.predict(features, parts=parts)
        metrics = score(target, prediction, trained)
        run.finish("cancelled" if stopped else "done", regressor=regressor, predictions=prediction, metrics=metrics,
                   history=regressor.history_)
    return FitOutcome(run.id, metrics, prediction, tuple(regressor.history_), stopped)


def run_parts(spec: RunSpec, inputs: RunInputs) -> np.ndarray | None:
    """The parts each node feeds, for a partitioned model (saved with its inputs, see geometry.partition); else None."""
    if spec.model.partition is None:
        return None
    if "part_members" not in inputs.extra:
        raise GinrError("A partitioned model needs its partition among the run's inputs (Partition.to_arrays()).")
    return inputs.extra["part_members"]


def fit_task(request: RunRequest, ctx: JobContext) -> FitOutcome:
    """The job behind every single training run (the Train page, `ginr train`, `ginr rerun`)."""
    outcome = fit_run(request.spec(), request.inputs, ctx)
    ctx.report(1.0, "Done")
    return outcome
