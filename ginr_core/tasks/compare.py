"""INR versus GINR at equal budget: the paper's Table 2 layout, on any mesh and signal.

Four models by default: a classic INR (xyz input) and a GINR (spectral input), each with ReLU and sine
activations, trained one after the other for the same time budget. In "generalisation" mode a random
fraction of the nodes is held out of training and the score is taken there: the honest comparison when a
model could simply memorise every node it sees.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from ..errors import GinrError, error_message
from ..learning.metrics import evaluate
from ..learning.models import ModelConfig
from ..learning.training import BackgroundJob, GINRRegressor, Progress, TrainConfig

TABLE2 = {  # name -> (input kind, activation), in the paper's column order
    "inr_relu": ("xyz", "relu"),
    "inr_sine": ("xyz", "sine"),
    "ginr_relu": ("spectral", "relu"),
    "ginr_sine": ("spectral", "sine"),
}


XYZ_FIRST_OMEGA_0 = 30.0  # SIREN's first-layer frequency for coordinates in [-1, 1]


def table2_config(name: str, k: int | None = None) -> ModelConfig:
    """The default architecture with the input and activation of a Table 2 column."""
    if name not in TABLE2:
        raise GinrError(f"Unknown model '{name}'; choose from {', '.join(TABLE2)}.")
    kind, activation = TABLE2[name]
    if kind == "xyz":
        return ModelConfig(input_kind="xyz", activation=activation, k=None, first_omega_0=XYZ_FIRST_OMEGA_0)
    return ModelConfig(input_kind="spectral", activation=activation, k=k)


@dataclass
class ComparisonResult:
    """One model of a comparison: where it was scored ("all" nodes or "held-out" ones, `n_scored` of them) and
    how it did."""

    name: str
    metrics: dict
    scored_on: str
    elapsed_s: float
    history: list[dict] = field(default_factory=list)
    prediction: np.ndarray | None = None
    n_scored: int = 0

    @property
    def steps(self) -> int:
        """Optimisation steps taken (to the last history row: within `log_every` of the true count)."""
        return self.history[-1]["step"] if self.history else 0


def compare_models(
    xyz: np.ndarray,
    spectral: np.ndarray,
    target: np.ndarray,
    budget_s: float = 30.0,
    models: tuple[str, ...] = tuple(TABLE2),
    holdout: float = 0.0,
    seed: int = 0,
    train_config: TrainConfig | None = None,
    callback: Callable[[str, Progress], None] | None = None,
    on_result: Callable[[ComparisonResult], None] | None = None,
    cancel: threading.Event | None = None,
) -> dict[str, ComparisonResult]:
    """Train each model in `models` (keys of TABLE2) for `budget_s` seconds on the same nodes.

    With `holdout` in (0, 1), that fraction of the nodes (random, `seed`) is left out of training and the
    metrics are computed on it; otherwise on all nodes (the paper's fitting task). Every model uses the
    default architecture, so only the input and the activation differ. `callback(name, progress)` reports
    each model's training, `on_result(result)` each model as soon as it is scored. Setting `cancel` stops
    the model in training and skips the rest: only finished models are returned.
    """
    if not 0.0 <= holdout < 1.0:
        raise GinrError("The held-out fraction must be at least 0 and below 1.")
    n = len(target)
    if len(xyz) != n or len(spectral) != n:
        raise GinrError("Coordinates, spectral features and target must have one row per node.")
    rng = np.random.default_rng(seed)
    test = rng.random(n) < holdout if holdout > 0 else np.zeros(n, dtype=bool)
    train = ~test
    if holdout > 0 and (test.sum() == 0 or train.sum() < 2):
        raise GinrError("The held-out fraction leaves no node to train on or none to score on.")
    config = replace(train_config or TrainConfig(), time_budget_s=budget_s, seed=seed)
    results = {}
    configs = {name: table2_config(name, spectral.shape[1]) for name in models}
    for name, model in configs.items():
        features = xyz if model.input_kind == "xyz" else spectral
        report = (lambda p, name=name: callback(name, p)) if callback else None
        regressor = GINRRegressor(model, config).fit(features[train], target[train], callback=report, cancel=cancel)
        if regressor.stop_reason_ == "cancelled":
            break
        prediction = regressor.predict(features)
        scored = test if holdout > 0 else np.ones(n, dtype=bool)
        results[name] = ComparisonResult(
            name=name,
            metrics=evaluate(target[scored], prediction[scored]),
            scored_on="held-out" if holdout > 0 else "all",
            elapsed_s=regressor.history_[-1]["elapsed_s"] if regressor.history_ else 0.0,
            history=list(regressor.history_),
            prediction=prediction,
            n_scored=int(scored.sum()),
        )
        if on_result is not None:
            on_result(results[name])
    return results


@dataclass(frozen=True)
class ModelState:
    """One model of a comparison. status: "waiting", "running", "done", or "stopped" (by a cancel or an error)."""

    status: str = "waiting"
    progress: Progress | None = None
    history: list[dict] = field(default_factory=list)
    result: ComparisonResult | None = None


@dataclass(frozen=True)
class ComparisonState:
    """A consistent copy of a comparison for a UI to poll. status: "pending", "running", "done",
    "cancelled" or "failed"; `models` follows the training order."""

    status: str = "pending"
    models: dict[str, ModelState] = field(default_factory=dict)
    error: str | None = None

    @property
    def results(self) -> dict[str, ComparisonResult]:
        return {name: m.result for name, m in self.models.items() if m.result is not None}


class ComparisonJob(BackgroundJob):
    """`compare_models` in a daemon thread, so a dashboard stays responsive and can show each model's progress.

    The models still train one after the other, never side by side: on a small machine concurrent models
    would share the cores unevenly and the equal time budget would no longer be fair.
    """

    thread_name = "ginr-comparison"

    def __init__(self, xyz: np.ndarray, spectral: np.ndarray, target: np.ndarray, **options):
        """`options`: compare_models' keyword arguments (budget_s, models, holdout, seed, train_config)."""
        super().__init__(ComparisonState(models={name: ModelState() for name in options.get("models", TABLE2)}))
        self.xyz, self.spectral, self.target, self.options = xyz, spectral, target, options

    @property
    def state(self) -> ComparisonState:
        with self._lock:
            models = {name: replace(m, history=list(m.history)) for name, m in self._state.models.items()}
            return replace(self._state, models=models)

    def _set_model(self, name: str, **changes) -> None:
        with self._lock:
            models = dict(self._state.models)
            models[name] = replace(models[name], **changes)
            self._state = replace(self._state, models=models)

    def _progress(self, name: str, progress: Progress) -> None:
        with self._lock:
            self._state.models[name].history.append(progress.row())  # readers copy it under this lock
        self._set_model(name, progress=replace(progress, snapshot=None))

    def _result(self, result: ComparisonResult) -> None:
        self._set_model(result.name, status="done", history=result.history, result=result)
        self._start_next()

    def _start_next(self) -> None:
        """The models train in order: the first still waiting is the one being set up now."""
        with self._lock:
            waiting = [name for name, m in self._state.models.items() if m.status == "waiting"]
        if waiting:
            self._set_model(waiting[0], status="running")

    def run(self) -> ComparisonState:
        """Compare in the calling thread (what start() runs in the background)."""
        self._update(status="running")
        self._start_next()
        try:
            compare_models(self.xyz, self.spectral, self.target, callback=self._progress, on_result=self._result,
                           cancel=self._cancel, **self.options)
            finished = sum(m.status == "done" for m in self.state.models.values())
            status, error = ("done" if finished == len(self.state.models) else "cancelled"), None  # a late cancel stopped nothing
        except Exception as exc:  # the UI shows the message
            status, error = "failed", error_message(exc)
        with self._lock:
            models = {name: m if m.status == "done" else replace(m, status="stopped") for name, m in self._state.models.items()}
            self._state = replace(self._state, status=status, error=error, models=models)
        return self.state
