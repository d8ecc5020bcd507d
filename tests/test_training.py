import threading
import time

import numpy as np
import pytest
import torch

from ginr_core.errors import GinrError
from ginr_core.learning.metrics import evaluate
from ginr_core.learning.models import ModelConfig
from ginr_core.learning.training import GINRRegressor, Progress, TrainConfig
from ginr_core.runs.jobs import Job


def train_arrays(spec, ctx):
    """A minimal task: fit a regressor to arrays under the job contract."""
    regressor, x, y = spec
    regressor.fit(x, y, callback=ctx.training_callback(), cancel=ctx.cancel_event)
    ctx.stopped_early = regressor.stop_reason_ == "cancelled"
    return evaluate(y, regressor.predict(x))

SMALL = ModelConfig(k=6, n_layers=3, hidden=64, first_omega_0=10.0)


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 8)).astype(np.float32)
    y = np.sin(x[:, 0]) + 0.5 * x[:, 1] * x[:, 2] + np.cos(2 * x[:, 3]) + 10.0
    return x, y


@pytest.fixture
def jobs():
    started = []
    yield started
    for job in started:
        job.cancel()
        job.join(timeout=10)


def fit(problem, steps=200, **train):
    x, y = problem
    config = TrainConfig(threads=1, steps=steps, time_budget_s=None, lr=2e-3, **train)
    return GINRRegressor(SMALL, config).fit(x, y)


def test_fits_a_smooth_function_in_200_steps(problem):
    x, y = problem
    reg = fit(problem)  # how fast those steps run is bench/training.py's business
    assert reg.score(x, y) > 0.99
    assert reg.stop_reason_ == "steps" and reg.history_[-1]["step"] == 200
    # predictions come back in original units (the target's mean is 10)
    assert abs(reg.predict(x).mean() - y.mean()) < 0.05
    # full batch: the reported R^2 is the exact training R^2 of the weights before the last step
    assert reg.history_[-1]["r2"] == pytest.approx(reg.score(x, y), abs=1e-3)


def test_minibatch_plateau_and_multi_output(problem):
    x, y = problem
    target = np.stack([y, -2 * y], axis=1)
    config = TrainConfig(threads=1, steps=150, time_budget_s=None, batch_size=256, schedule="plateau", optimizer="adamw")
    reg = GINRRegressor(SMALL, config).fit(x, target)
    assert reg.predict(x).shape == (2000, 2)
    assert reg.score(x, target) > 0.8


def test_time_budget_and_callback(problem):
    x, y = problem
    seen: list[Progress] = []
    config = TrainConfig(threads=1, steps=None, time_budget_s=1.0, log_every=10, snapshot_every_s=0.2)
    start = time.perf_counter()
    reg = GINRRegressor(SMALL, config).fit(x, y, callback=seen.append)
    assert time.perf_counter() - start >= 1.0 and reg.stop_reason_ == "time"  # never stops before its budget
    assert seen and all(p.lr > 0 and p.steps_per_s >= 0 and p.eta_s >= 0 for p in seen)
    snapshots = [p for p in seen if p.snapshot is not None]
    assert snapshots[0].step == 1 and snapshots[0].snapshot.shape == y.shape  # the first step shows at once
    # then one every snapshot_every_s at most (more apart when the machine is busy: the trainer thins them)
    assert all(b.elapsed_s - a.elapsed_s >= 0.2 for a, b in zip(snapshots, snapshots[1:]))
    assert seen[-1].lr < seen[0].lr  # cosine decays over the time budget


def test_a_cancel_is_honoured_at_the_next_step(problem):
    x, y = problem
    cancel = threading.Event()

    def cancel_at_step_30(progress):
        if progress.step == 30:
            cancel.set()

    reg = GINRRegressor(SMALL, TrainConfig(threads=1, steps=None, time_budget_s=60, log_every=1))
    reg.fit(x, y, callback=cancel_at_step_30, cancel=cancel)
    assert reg.stop_reason_ == "cancelled" and reg.history_[-1]["step"] == 30


def test_a_cancelled_job_keeps_its_model(problem, jobs):
    x, y = problem
    reg = GINRRegressor(SMALL, TrainConfig(threads=1, steps=None, time_budget_s=60))
    job = Job(train_arrays, (reg, x, y)).start()
    jobs.append(job)
    while job.state.progress is None:
        time.sleep(0.02)
    job.cancel()
    state = job.join(timeout=30)  # a 60 s budget: only the cancel ends it this early
    assert state.status == "cancelled" and state.result is not None


def test_background_job_snapshots_do_not_block(problem, jobs):
    x, y = problem
    config = TrainConfig(threads=1, steps=None, time_budget_s=120, batch_size=512, snapshot_every_s=0.05)
    job = Job(train_arrays, (GINRRegressor(SMALL, config), x, y))
    jobs.append(job)
    job.start()  # returns while the job runs: it sees the snapshots below as they come
    steps_seen = set()
    while len(steps_seen) < 3 and not job.done:
        state = job.state
        if state.snapshot is not None:
            assert state.snapshot.shape == y.shape
            steps_seen.add(state.snapshot_step)
        time.sleep(0.01)
    job.cancel()
    final = job.join(timeout=30)
    assert final.status == "cancelled", final.error  # still training after three snapshots: none blocked it
    assert len(steps_seen) == 3 and final.history and final.history[-1]["step"] >= max(steps_seen)


def test_failed_job_reports_a_message(jobs):
    job = Job(train_arrays, (GINRRegressor(SMALL, TrainConfig(threads=1, steps=5, time_budget_s=None)), np.zeros((10, 6)), np.zeros(9)))
    jobs.append(job)
    state = job.start().join(timeout=10)
    assert state.status == "failed" and "values" in state.error


def test_checkpoint_round_trip_predicts_identically(problem, tmp_path):
    x, y = problem
    times = np.linspace(0, 1, len(x))
    config = ModelConfig(k=6, n_layers=3, hidden=32, time_input=True)
    reg = GINRRegressor(config, TrainConfig(threads=1, steps=20, time_budget_s=None)).fit(x, y, times)
    reg.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json", "model.pt"]
    loaded = GINRRegressor.load(tmp_path)
    np.testing.assert_array_equal(loaded.predict(x, times), reg.predict(x, times))
    assert loaded.model_.config == reg.model_.config


def test_checkpoint_is_a_plain_state_dict(problem, tmp_path):
    reg = fit(problem, steps=2)
    reg.save(tmp_path)
    state = torch.load(tmp_path / "model.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    with pytest.raises(GinrError):
        GINRRegressor.load(tmp_path / "missing")


def test_unfitted_and_bad_configs(problem):
    with pytest.raises(GinrError):
        GINRRegressor().predict(problem[0])
    with pytest.raises(GinrError):
        TrainConfig(steps=None, time_budget_s=None)
    with pytest.raises(GinrError):
        TrainConfig(schedule="linear")


def test_cancel_flag_before_start(problem):
    flag = threading.Event()
    flag.set()
    reg = GINRRegressor(SMALL, TrainConfig(threads=1, steps=100, time_budget_s=None)).fit(*problem, cancel=flag)
    assert reg.stop_reason_ == "cancelled" and reg.predict(problem[0]).shape == (2000,)
