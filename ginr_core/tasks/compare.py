"""INR versus GINR at equal budget: the paper's Table 2 layout, on any mesh and signal.

Four models by default: a classic INR (xyz input) and a GINR (spectral input), each with ReLU and sine
activations, trained one after the other for the same time budget. In "generalisation" mode a random
fraction of the nodes is held out of training and the score is taken there: the honest comparison when a
model could simply memorise every node it sees.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import GinrError
from ..geometry.features import XYZ, FeatureSpec
from ..learning.model_config import EncoderConfig, MLPConfig, ModelConfig
from ..learning.recipes import XYZ_FIT_FIRST_OMEGA_0
from ..learning.training import TrainConfig
from ..runs.fitting import fit_run, heldout_mask
from ..runs.jobs import Job, JobContext
from ..runs.spec import RunInputs, RunSpec
from ..runs.task import ResultOutcome, TaskRequest, done_results, run_items

TABLE2 = {  # name -> (input kind, activation), in the paper's column order
    "inr_relu": ("xyz", "relu"),
    "inr_sine": ("xyz", "sine"),
    "ginr_relu": ("spectral", "relu"),
    "ginr_sine": ("spectral", "sine"),
}


def table2_config(name: str) -> ModelConfig:
    """The default architecture with the activation (and, for xyz, the first-layer frequency) of a Table 2 column."""
    if name not in TABLE2:
        raise GinrError(f"Unknown model '{name}'; choose from {', '.join(TABLE2)}.")
    kind, activation = TABLE2[name]
    if kind == "xyz":
        return ModelConfig(EncoderConfig("xyz", k=None), MLPConfig(activation=activation, first_omega_0=XYZ_FIT_FIRST_OMEGA_0))
    return ModelConfig(mlp=MLPConfig(activation=activation))


@dataclass(frozen=True)
class ComparisonRequest(TaskRequest):
    """Table 2 on one signal: `models` (keys of TABLE2) trained one after the other for `budget_s` seconds each on
    the same nodes. With `holdout` in (0, 1) that fraction of the nodes (random, `seed`) is left out of training
    and scored; otherwise every node is (the paper's fitting task). `features` is the GINRs' embedding."""

    inputs: RunInputs
    features: FeatureSpec = field(default_factory=FeatureSpec)
    budget_s: float = 30.0
    models: tuple[str, ...] = tuple(TABLE2)
    holdout: float = 0.0
    seed: int = 0
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self):
        for name in self.models:
            table2_config(name)
        if not 0.0 <= self.holdout < 1.0:
            raise GinrError("The held-out fraction must be at least 0 and below 1.")
        if self.holdout:
            heldout_mask(len(self.inputs.target), self.holdout, self.seed)  # refuses a split that leaves no node to score
        if self.features.input_kind == XYZ:
            raise GinrError("The GINRs of a comparison need a spectral embedding, not xyz.")

    def spec(self, item: str | None = None, group: str = "") -> RunSpec:
        """The registered run of model `item`: only the input and the activation differ between models."""
        name = item
        features = FeatureSpec(XYZ) if TABLE2[name][0] == "xyz" else self.features
        options = {"group": group, "model": name, **({"fraction": self.holdout, "seed": self.seed} if self.holdout else {})}
        return RunSpec("heldout" if self.holdout else "fit", self.domain, self.signal, features, table2_config(name),
                       replace(self.train, time_budget_s=self.budget_s, seed=self.seed), options)


@dataclass(frozen=True)
class ComparisonResult:
    """One model of a comparison: where it was scored ("all" nodes or "held-out" ones, `n_scored` of them), how it
    did, and its registered run."""

    name: str
    metrics: dict
    elapsed_s: float
    steps: int
    history: tuple[dict, ...]
    prediction: np.ndarray
    run_id: str | None

    @property
    def scored_on(self) -> str:
        return "held-out" if "r2_fit" in self.metrics else "all"

    @property
    def n_scored(self) -> int:
        return int(self.metrics["n_scored"])


def comparison_task(request: ComparisonRequest, ctx: JobContext) -> dict[str, ComparisonResult]:
    """Train and score each model in turn; results are published as each model finishes. The models never train
    side by side: on a small machine concurrent models would share the cores unevenly and the equal time
    budget would no longer be fair. A cancel stops the model in training and skips the rest; a model that
    fails fails the comparison (the models are only worth comparing together)."""
    mesh = request.inputs.mesh
    group = f"compare-{secrets.token_hex(4)}"
    built: dict[str, np.ndarray] = {}
    n = len(request.models)

    def train(i: int, update) -> dict:
        name = request.models[i]
        spec = request.spec(name, group)
        if spec.features.kind not in built:
            ctx.report(i / n, f"Building the features: {spec.features.label}", part=name)
            built[spec.features.kind] = spec.features.build(mesh)
        outcome = fit_run(spec, request.inputs, ctx, features=built[spec.features.kind], part=name, start=i / n, span=1 / n)
        result = ComparisonResult(name, outcome.metrics, outcome.elapsed_s, outcome.steps, outcome.history,
                                  outcome.prediction, outcome.run_id)
        return dict(status="cancelled" if outcome.stopped_early else "done", run_id=outcome.run_id, result=result)

    outcomes = run_items(ctx, [ResultOutcome(name) for name in request.models], train, publish=done_results,
                         raise_failures=True)
    return done_results(outcomes)


def compare_models(request: ComparisonRequest, registry=None) -> dict[str, ComparisonResult]:
    """The comparison in the calling thread (bench, scripts); raises if it fails."""
    state = Job(comparison_task, request, label="comparison", registry=registry).run()
    if state.status == "failed":
        raise GinrError(state.error)
    return state.result
