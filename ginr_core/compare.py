"""INR versus GINR at equal budget: the paper's Table 2 layout, on any mesh and signal.

Four models by default: a classic INR (xyz input) and a GINR (spectral input), each with ReLU and sine
activations, trained one after the other for the same time budget. In "generalisation" mode a random
fraction of the nodes is held out of training and the score is taken there: the honest comparison when a
model could simply memorise every node it sees.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from .errors import GinrError
from .metrics import evaluate
from .models import ModelConfig
from .training import GINRRegressor, Progress, TrainConfig

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
    """One model of a comparison: where it was scored ("all" nodes or "held-out" ones) and how it did."""

    name: str
    metrics: dict
    scored_on: str
    elapsed_s: float
    history: list[dict] = field(default_factory=list)
    prediction: np.ndarray | None = None


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
) -> dict[str, ComparisonResult]:
    """Train each model in `models` (keys of TABLE2) for `budget_s` seconds on the same nodes.

    With `holdout` in (0, 1), that fraction of the nodes (random, `seed`) is left out of training and the
    metrics are computed on it; otherwise on all nodes (the paper's fitting task). Every model uses the
    default architecture, so only the input and the activation differ. `callback(name, progress)` reports
    each model's training.
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
        regressor = GINRRegressor(model, config).fit(features[train], target[train], callback=report)
        prediction = regressor.predict(features)
        scored = test if holdout > 0 else np.ones(n, dtype=bool)
        results[name] = ComparisonResult(
            name=name,
            metrics=evaluate(target[scored], prediction[scored]),
            scored_on="held-out" if holdout > 0 else "all",
            elapsed_s=regressor.history_[-1]["elapsed_s"] if regressor.history_ else 0.0,
            history=list(regressor.history_),
            prediction=prediction,
        )
    return results
