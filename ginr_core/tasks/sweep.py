"""Sweeps on Ray Tune: which k, activation, width, depth, omega_0, first-layer omega_0, learning rate and seed suit
a signal, each trial a registered run.

The paper's own choices (k = 100 for fitting, k = 7 and ReLU for super-resolution...) came from such sweeps. A
trial trains for a fixed number of steps (equal treatment, reproducible) and reports its score every
`report_every` steps; ASHA stops the trials that trail the others at each rung. The score is the fit R² (every
node trained and scored: memorisation) or the held-out R² (a fixed random fraction of the nodes, the same for
every trial, left out of training and scored: generalisation). Trials run on Ray workers, as many at once as the
CPUs (or GPUs) Ray sees allow; their runs are written to the server's registry through the Ray driver's relay
(`runs.ray_backend`). A trial stopped by ASHA (or by a cancel) is recorded "cancelled", with its curve so far
and the step and score it was stopped at.
"""

from __future__ import annotations

import logging
import math
import os
import secrets
import tempfile
from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import GinrError
from ..geometry.features import FeatureSpec
from ..storage.paths import cache_dir
from ..learning.metrics import r2
from ..learning.model_config import ModelConfig
from ..learning.training import TrainConfig
from ..runs.backend_config import BackendConfig, operator_backend
from ..runs.fitting import DEFAULT_HOLDOUT, fit_run, training_nodes
from ..runs.jobs import Job, JobContext
from ..runs.ray_backend import Channel, RelayServer, assigned_cpus, cluster_resources, drives_ray
from ..runs.remote import RemoteRegistry
from ..runs.spec import RunInputs, RunSpec
from ..runs.task import TaskRequest
from ..settings import check_sweep

SWEEP_PARAMETERS = {  # name -> (what it sets, type)
    "k": ("features", int),
    "activation": ("mlp", str),
    "width": ("mlp", int),
    "depth": ("mlp", int),
    "omega_0": ("mlp", float),
    "first_omega_0": ("mlp", float),
    "lr": ("train", float),
    "seed": ("train", int),
}
_FIELD = {"width": "hidden", "depth": "n_layers"}  # sweep names that differ from the config field
SCORES = {"fit": "fit R² (all nodes)", "heldout": "held-out R²"}
SEARCHES = ("grid", "random")


def sweep_train_config(steps: int = 300, **changes) -> TrainConfig:
    """Trials train for a number of steps, not seconds: trials sharing a machine would otherwise get unequal work."""
    return TrainConfig(**{"steps": steps, "time_budget_s": None, "snapshot_every_s": None, "log_every": 5, **changes})


@dataclass(frozen=True, eq=False)
class SweepRequest(TaskRequest):
    """A sweep over `grid` (parameter -> the values to try; parameters not in it keep `model`'s, `train`'s and
    `features`' values). search "grid": every combination, `samples` times each; "random": `samples` trials
    drawing each parameter from its values. `score`: "fit" or "heldout" (`holdout` of the nodes left out).
    ASHA (`asha`) may stop a trial at any multiple of `report_every` steps from `grace_steps` on. `max_concurrent`
    caps the trials running at once (default: as many as the CPUs or GPUs Ray sees allow)."""

    inputs: RunInputs
    grid: dict[str, tuple]
    features: FeatureSpec = field(default_factory=lambda: FeatureSpec("combinatorial", 100))
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=sweep_train_config)
    score: str = "heldout"
    holdout: float = DEFAULT_HOLDOUT
    search: str = "grid"
    samples: int = 1
    asha: bool = True
    report_every: int = 25
    grace_steps: int = 50
    max_concurrent: int | None = None
    backend: BackendConfig = field(default_factory=lambda: operator_backend("ray"))

    def __post_init__(self):
        unknown = set(self.grid) - set(SWEEP_PARAMETERS)
        if unknown:
            raise GinrError(f"Cannot sweep {', '.join(sorted(unknown))}; choose from {', '.join(SWEEP_PARAMETERS)}.")
        grid = {}
        for name, values in self.grid.items():
            values = tuple(dict.fromkeys(SWEEP_PARAMETERS[name][1](v) for v in values))
            if not values:
                raise GinrError(f"Give at least one value for {name}.")
            grid[name] = values
        object.__setattr__(self, "grid", grid)
        if self.score not in SCORES:
            raise GinrError(f"Unknown score '{self.score}'; choose one of {', '.join(SCORES)}.")
        if self.search not in SEARCHES:
            raise GinrError(f"Unknown search '{self.search}'; choose grid or random.")
        if not self.train.steps or self.train.time_budget_s is not None:
            raise GinrError("Sweep trials train for a number of steps (equal work for every trial), not a time budget.")
        if self.samples < 1 or self.report_every < 1 or self.grace_steps < 1:
            raise GinrError("Samples, report interval and grace steps must be at least 1.")
        for config in self._corners():  # every value is checked before anything is launched
            self.spec(config)
        if self.score == "heldout":
            training_nodes(self.spec({}), self.inputs.mesh.n_vertices)
        check_sweep(self.n_trials, self.train.steps, self.inputs.mesh.n_vertices)  # before any trial is launched

    def _corners(self) -> list[dict]:
        return [{name: value} for name, values in self.grid.items() for value in values]

    @property
    def n_trials(self) -> int:
        return self.samples * (math.prod(len(v) for v in self.grid.values()) if self.search == "grid" else 1)

    def spec(self, item: dict | None = None, group: str = "", trial: str = "") -> RunSpec:
        """The registered run of one trial (`item`: its values; `trial`: Tune's id): the base configs with the trial's
        values. Every trial of a held-out sweep leaves the same nodes out (split seed 0), so their scores are
        comparable."""
        config, changes = item or {}, {"features": {}, "mlp": {}, "train": {}}
        for name, value in config.items():
            changes[SWEEP_PARAMETERS[name][0]][_FIELD.get(name, name)] = value
        features = replace(self.features, **changes["features"])
        features.check(self.inputs.mesh)
        options = {"group": group, "trial": trial, "score": self.score}
        if self.score == "heldout":
            options.update(fraction=self.holdout, seed=0)
        model = replace(self.model, mlp=replace(self.model.mlp, **changes["mlp"]))
        return RunSpec(self.score, self.domain, self.signal, features, model, replace(self.train, **changes["train"]), options)


@dataclass(frozen=True)
class SweepResult:
    """The trials so far, one row each: the swept values, "score", "step", "status" (running, done, stopped by
    ASHA, cancelled or failed) and "run_id". `best` is the finished trial with the highest score."""

    rows: tuple[dict, ...]
    parameters: tuple[str, ...]
    score: str
    group: str
    seconds: float = 0.0

    @property
    def best(self) -> dict | None:
        done = [row for row in self.rows if row["status"] == "done" and row["score"] is not None]
        return max(done, key=lambda row: row["score"]) if done else None


def _trial(config: dict, request: SweepRequest, channel: Channel, group: str) -> None:
    """One trial on a Tune worker: a registered run (through the relay) reporting its score to Tune."""
    from ray import tune

    from ..learning.device import set_training_threads

    set_training_threads(assigned_cpus())
    spec = request.spec(config, group, tune.get_context().get_trial_id())
    mesh, target = request.inputs.mesh, np.asarray(request.inputs.target)
    held = ~training_nodes(spec, mesh.n_vertices)
    last = spec.train.steps

    def task(_, ctx: JobContext):
        features = spec.features.build(mesh)

        def watch(regressor, progress) -> None:
            if progress.step % request.report_every or progress.step >= last:
                return
            score = r2(target[held], regressor.predict(features[held])) if held.any() else progress.r2
            ctx.registry.save_history(ctx.run_id, list(regressor.history_))  # a trial stopped here keeps its curve
            tune.report({"score": score, "step": progress.step, "run_id": ctx.run_id})

        outcome = fit_run(spec, request.inputs, ctx, features=features, watch=watch)
        tune.report({"score": outcome.metrics["r2"], "step": last, "run_id": outcome.run_id, "final": True})

    state = Job(task, None, label="trial", registry=RemoteRegistry(channel)).run()
    if state.status == "failed":
        raise GinrError(state.error)


class _Unsaved:
    """Tune pickles its run config (callbacks and stoppers included) to resume an experiment later, which a sweep
    never does; ours hold the live job, which does not pickle, so what is saved is an empty shell."""

    def __getstate__(self):
        return {}


def _tune_classes():
    """Tune's callback and stopper types, made when Ray is first used (ray is imported only by those who use it)."""
    import time

    from ray import tune

    class Table(_Unsaved, tune.Callback):
        """On the driver: the live table (published as a partial SweepResult) and the job's progress."""

        def __init__(self, ctx: JobContext, request: SweepRequest, group: str):
            self.ctx, self.request, self.group = ctx, request, group
            self.started = time.perf_counter()
            self.rows: dict[str, dict] = {}

        def _row(self, trial, **changes) -> None:
            request = self.request
            row = self.rows.setdefault(trial.trial_id, {**{n: trial.config.get(n) for n in request.grid},
                                                       "score": None, "step": 0, "status": "pending", "run_id": None})
            row.update(changes)
            steps = request.train.steps
            done = sum(steps if r["status"] not in ("pending", "running") else r["step"] for r in self.rows.values())
            finished = sum(r["status"] not in ("pending", "running") for r in self.rows.values())
            self.ctx.report(done / (steps * request.n_trials), f"{finished} of {request.n_trials} trials finished",
                            part=trial.trial_id, score=row["score"] or 0.0, step=row["step"])
            self.ctx.publish(self.result())

        def result(self) -> SweepResult:
            return SweepResult(tuple(dict(r) for r in self.rows.values()), tuple(self.request.grid), self.request.score,
                               self.group, time.perf_counter() - self.started)

        def on_trial_start(self, iteration, trials, trial, **info):
            self._row(trial, status="running")

        def on_trial_result(self, iteration, trials, trial, result, **info):
            self._row(trial, score=float(result["score"]), step=int(result["step"]), run_id=result["run_id"])

        def on_trial_complete(self, iteration, trials, trial, **info):
            final = (trial.last_result or {}).get("final", False)
            self._row(trial, status="done" if final else ("cancelled" if self.ctx.cancelled() else "stopped by ASHA"))

        def on_trial_error(self, iteration, trials, trial, **info):
            self._row(trial, status="failed")

    class Cancel(_Unsaved, tune.Stopper):
        """Stops every trial when the sweep's job is cancelled."""

        def __init__(self, ctx: JobContext):
            self.ctx = ctx

        def __call__(self, trial_id, result):
            return False

        def stop_all(self):
            return self.ctx.cancelled()

    return Table, Cancel


@drives_ray
def sweep_task(request: SweepRequest, ctx: JobContext) -> SweepResult:
    """Run the sweep on Ray Tune from the Ray driver process of `request.backend`; every trial's run lands in
    `ctx.registry` (the server's, through the driver)."""
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # Tune's newer console reporter prints tables even at verbose 0
    logging.getLogger("ray.tune").setLevel(logging.WARNING)  # and it logs where it saved the files we delete
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    group = f"sweep-{secrets.token_hex(4)}"
    seen = cluster_resources()
    per_trial = {"cpu": request.backend.cpus, "gpu": 1 if request.backend.gpu else 0}
    fits = min(seen["CPU"] // per_trial["cpu"], seen["GPU"] if per_trial["gpu"] else math.inf)
    if fits < 1:
        raise GinrError(f"Ray sees {seen['CPU']:g} CPUs and {seen['GPU']:g} GPUs: not enough for one trial "
                        f"({per_trial['cpu']:g} CPUs{', 1 GPU' if per_trial['gpu'] else ''}).")
    concurrent = int(min(fits, request.max_concurrent or math.inf, request.n_trials))
    space = {name: (tune.grid_search(list(values)) if request.search == "grid" else tune.choice(list(values)))
             for name, values in request.grid.items()}
    steps = request.train.steps
    scheduler = (ASHAScheduler(time_attr="step", max_t=steps, grace_period=min(request.grace_steps, steps),
                               reduction_factor=2) if request.asha else FIFOScheduler())

    Table, Cancel = _tune_classes()
    table = Table(ctx, request, group)
    server = RelayServer(ctx.registry)
    try:
        with tempfile.TemporaryDirectory(dir=cache_dir(), prefix="tune-") as storage:
            trainable = tune.with_resources(tune.with_parameters(_trial, request=request, channel=server.channel, group=group),
                                            per_trial)
            tuner = tune.Tuner(trainable, param_space=space,
                               tune_config=tune.TuneConfig(metric="score", mode="max", scheduler=scheduler,
                                                           num_samples=request.samples, max_concurrent_trials=concurrent,
                                                           reuse_actors=True),
                               run_config=tune.RunConfig(name=group, storage_path=storage, verbose=0, stop=Cancel(ctx),
                                                         callbacks=[table]))
            tuner.fit()
    finally:
        server.close()
    ctx.stopped_early = ctx.cancelled()
    rows = {row["run_id"]: row for row in table.rows.values() if row["run_id"]}
    if ctx.registry is not None:
        for run_id in server.created:  # trials Tune stopped never reached their own end: record it for them
            if run_id in server.finished:
                continue
            row = rows.get(run_id, {})
            why = "the sweep was cancelled" if ctx.cancelled() else "ASHA stopped it (its score trailed the other trials')"
            score = f", score {row['score']:.4f}" if row.get("score") is not None else ""
            ctx.registry.finish(run_id, "cancelled", error=f"Stopped at step {row.get('step', 0)}{score}: {why}.")
    result = table.result()
    ctx.report(1.0, f"{sum(r['status'] == 'done' for r in result.rows)} of {request.n_trials} trials trained to the end")
    return result
