"""The interpolation task: every method on one set of observations, as one recorded run."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...errors import GinrError
from ...geometry.features import FeatureSpec
from ...geometry.mesh import Mesh
from ...learning.model_config import MLPConfig, ModelConfig
from ...learning.training import TrainConfig
from ...runs.jobs import Job
from ...runs.spec import RunInputs, RunSpec
from ...runs.task import ItemOutcome, RecordedRun, TaskRequest, run_items
from ...runs.terminable import call_terminable
from .classical import CLASSICAL
from .networks import InterpolationSettings
from .observations import Observations, check_values, require_unobserved
from .problem import METHODS, InterpolationProblem, run_method
from .scores import SpectralBands, Spectrum, interpolation_scores

DEFAULT_METHODS = ("harmonic", "biharmonic", "rbf", "kriging", "ginr", "inr", "ginr_stacked")


@dataclass(frozen=True, eq=False)
class MethodOutcome(ItemOutcome):
    """One method of an interpolation run, as a UI reads it: `prediction` at every node, `scores` on the unobserved
    nodes (when the truth is known)."""

    prediction: np.ndarray | None = None
    scores: dict | None = None
    notes: str = ""

    @property
    def network(self) -> bool:
        return self.name.startswith(("ginr", "inr"))


def _check_methods(methods) -> tuple[str, ...]:
    methods = tuple(dict.fromkeys(methods))
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise GinrError(f"Unknown interpolation method(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(METHODS)}.")
    return methods


@dataclass(frozen=True, eq=False)
class InterpolationRequest(TaskRequest):
    """Every method in `methods` on one set of observations. `truth` (the field at every node, when known) adds
    the scores on the unobserved nodes and, with `spectra`, the error spectra and resolved scales."""

    mesh: Mesh
    observations: Observations
    methods: tuple[str, ...] = DEFAULT_METHODS
    truth: np.ndarray | None = None
    settings: InterpolationSettings = field(default_factory=InterpolationSettings)
    spectra: bool = True

    def __post_init__(self):
        if self.observations.n_nodes != self.mesh.n_vertices:
            raise GinrError("The observations were made on another mesh (their node count differs).")
        object.__setattr__(self, "methods", _check_methods(self.methods))
        if self.truth is not None:
            object.__setattr__(self, "truth", check_values(self.truth, self.mesh.n_vertices, "truth"))
            require_unobserved(self.observations)

    def spec(self, item: str | None = None, group: str = "") -> RunSpec:
        """The recorded run's spec (one for every method): the networks' embedding, architecture and recipe, and
        the methods."""
        s, obs = self.settings, self.observations
        train = TrainConfig(steps=s.steps, time_budget_s=s.time_budget_s, seed=s.seed)
        options = {"methods": list(self.methods), "observations": obs.description, "pattern": obs.pattern,
                   "n_observations": len(obs.values), "settings": vars(s).copy()}
        return RunSpec("interpolation", self.domain, self.signal, FeatureSpec(k=s.k),
                       ModelConfig(mlp=MLPConfig(first_omega_0=s.first_omega_0)), train, options)

    def inputs(self) -> RunInputs:
        """The mesh, the truth (NaN where unknown) and the observations: points, values and the unobserved nodes."""
        obs = self.observations
        target = self.truth if self.truth is not None else np.full(self.mesh.n_vertices, np.nan)
        return RunInputs(self.mesh, target, {"observation_points": obs.points, "observation_values": obs.values,
                                             "unobserved": obs.unobserved})


@dataclass(frozen=True, eq=False)
class InterpolationResult:
    """The outcomes so far (in the request's order) and, once every method has run, the error spectra by method."""

    outcomes: tuple[MethodOutcome, ...]
    spectra: dict[str, Spectrum] = field(default_factory=dict)

    def outcome(self, name: str) -> MethodOutcome:
        return next(o for o in self.outcomes if o.name == name)


def interpolation_task(request: InterpolationRequest, ctx) -> InterpolationResult:
    """Every method in turn (a method that fails is reported and the next one runs), one recorded run for all; the
    outcomes are published as they change, networks report their training as parts of the job."""
    problem = InterpolationProblem(request.mesh, request.observations, request.settings)
    unobserved = request.observations.unobserved
    n = len(request.methods)

    def method(i: int, update) -> dict:
        name = request.methods[i]
        problem.stop_reason = None
        if name in CLASSICAL:  # one dense or sparse solve never checks a flag: run it where a cancel can stop it
            prediction, notes = call_terminable(run_method, problem, name, cancel=ctx.cancel_event, what=name)
        else:
            prediction, notes = run_method(problem, name, ctx.training_callback(name, i / n, 1 / n), ctx.cancel_event)
        scores = None if request.truth is None else interpolation_scores(request.truth, prediction, unobserved)
        return dict(status="cancelled" if problem.stop_reason == "cancelled" else "done", prediction=prediction,
                    scores=scores, notes=notes)

    with RecordedRun(ctx, request.spec(), request.inputs()) as run:
        outcomes = run_items(ctx, [MethodOutcome(m) for m in request.methods], method,
                             publish=lambda outcomes: InterpolationResult(tuple(outcomes)))
        spectra = {}
        finished = {o.name: o.prediction for o in outcomes if o.prediction is not None}
        if request.truth is not None and request.spectra and finished and not ctx.cancelled():
            ctx.report(1.0, "error spectra")
            spectra = SpectralBands(request.mesh).spectra(request.truth, finished)
        _record(ctx, run, outcomes, request.mesh.n_vertices)
    return InterpolationResult(tuple(outcomes), spectra)


def _record(ctx, run: RecordedRun, outcomes: list[MethodOutcome], n: int) -> None:
    """Finish the recorded run: every method's prediction (one row each, NaN for a method that gave none), and as
    metrics each method's status, seconds and scores on the unobserved nodes, and the best method's R² as "r2"."""
    predictions = np.stack([np.full(n, np.nan) if o.prediction is None else np.asarray(o.prediction, dtype=np.float64)
                            for o in outcomes])
    methods = {o.name: {"status": o.status, "seconds": o.seconds, **(o.scores or {})} for o in outcomes}
    scored = [o for o in outcomes if o.scores is not None and np.isfinite(o.scores["r2"])]
    best = max(scored, key=lambda o: o.scores["r2"]) if scored else None
    metrics = {"methods": methods, "best": None if best is None else best.name, "r2": None if best is None else best.scores["r2"]}
    status = "cancelled" if ctx.stopped_early else "done" if any(o.status == "done" for o in outcomes) else "failed"
    run.finish(status, predictions=predictions, metrics=metrics, history=[],  # one curve per network: none kept
               error=None if status != "failed" else "; ".join(f"{o.name}: {o.error}" for o in outcomes if o.error))


def interpolate(mesh: Mesh, observations: Observations, methods=DEFAULT_METHODS, truth=None,
                settings: InterpolationSettings | None = None, spectra: bool = True) -> InterpolationResult:
    """Every method, synchronously, through the job contract (what the CLI and the benchmark run)."""
    request = InterpolationRequest(mesh, observations, tuple(methods), truth, settings or InterpolationSettings(), spectra)
    state = Job(interpolation_task, request, label="interpolation").run()
    if state.status == "failed":
        raise GinrError(f"Interpolation failed: {state.error}")
    return state.result

