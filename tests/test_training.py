import json
import threading
import time

import numpy as np
import pytest
import torch

from ginr_core.errors import GinrError
from ginr_core.learning.metrics import evaluate
from ginr_core.learning.fields import build_model
from ginr_core.learning.model_config import EncoderConfig, MLPConfig, ModelConfig
from ginr_core.learning.readout import NormalEquations
from ginr_core.learning.recipes import PREVIOUS_FIT
from ginr_core.learning.training import GINRRegressor, Progress, TrainConfig
from ginr_core.runs.jobs import Job


def train_arrays(spec, ctx):
    """A minimal task: fit a regressor to arrays under the job contract."""
    regressor, x, y = spec
    regressor.fit(x, y, callback=ctx.training_callback(), cancel=ctx.cancel_event)
    ctx.stopped_early = regressor.stop_reason_ == "cancelled"
    return evaluate(y, regressor.predict(x))

SMALL = ModelConfig(EncoderConfig(k=6), MLPConfig(n_layers=3, hidden=64, first_omega_0=10.0))


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
    assert time.perf_counter() - start >= 0.9 and reg.stop_reason_ == "time"  # ends near its budget (within half a step)
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
    config = ModelConfig(EncoderConfig(k=6, time_input=True), MLPConfig(n_layers=3, hidden=32))
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


@pytest.fixture(scope="module")
def larger_problem():
    """Three batches' worth of rows, so the default recipe takes mini-batch steps."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3 * TrainConfig().batch_size, 8)).astype(np.float32)
    y = np.sin(x[:, 0]) + 0.5 * x[:, 1] * x[:, 2] + np.cos(2 * x[:, 3]) + 10.0
    return x, y


def test_readout_solve_matches_numpy_lstsq(problem):
    x, y = problem
    model = build_model(SMALL, x, 2)
    target = np.stack([y - 10.0, np.cos(x[:, 4])], axis=1)
    with torch.no_grad():
        hidden = model.last_hidden(torch.from_numpy(x))
    equations = NormalEquations(hidden.shape[1], 2, hidden.device)
    for rows in np.array_split(np.arange(len(x)), 3):  # accumulated chunk by chunk, as the trainer does
        equations.add(hidden[rows], torch.from_numpy(target[rows]).float())
    w, mse = equations.solve()
    model.set_readout(w)
    design = np.hstack([hidden.double().numpy(), np.ones((len(x), 1))])
    expected, *_ = np.linalg.lstsq(design, target.astype(np.float32).astype(np.float64), rcond=None)
    np.testing.assert_allclose(model.output_layer.weight.detach().double().numpy(), expected[:-1].T, atol=1e-4)
    np.testing.assert_allclose(model.output_layer.bias.detach().double().numpy(), expected[-1], atol=1e-4)
    residual = design @ expected - target.astype(np.float32)
    assert mse == pytest.approx(float(np.mean(residual ** 2)), rel=1e-4)
    with torch.no_grad():  # the model now predicts with the solved layer
        np.testing.assert_allclose(model(torch.from_numpy(x)).double().numpy(), design @ expected, atol=1e-4)


def test_default_recipe_beats_the_previous_one_at_equal_work(larger_problem):
    """90 mini-batch steps of the default recipe see as many rows as 30 full-batch steps of the previous one."""
    x, y = larger_problem
    steps = 90
    default = GINRRegressor(SMALL, TrainConfig(threads=1, steps=steps, time_budget_s=None)).fit(x, y)
    _, previous_train = PREVIOUS_FIT.configs(threads=1, steps=steps * default.train_config.batch_size // len(x),
                                             time_budget_s=None)
    previous = GINRRegressor(SMALL, previous_train).fit(x, y)
    assert default.score(x, y) > 0.98
    assert previous.score(x, y) < default.score(x, y) - 0.05
    # the curve's last R^2 is the model's own after the readout solve, not a batch estimate
    assert default.history_[-1]["r2"] == pytest.approx(default.score(x, y), abs=1e-6)
    assert default.history_[-1]["step"] == steps


def test_time_budget_holds_the_readout_solve(larger_problem):
    x, y = larger_problem
    seen: list[Progress] = []
    budget = 2.0
    start = time.perf_counter()
    reg = GINRRegressor(SMALL, TrainConfig(threads=1, time_budget_s=budget, log_every=1)).fit(x, y, callback=seen.append)
    wall = time.perf_counter() - start
    assert reg.solve_seconds_ > 0 and reg.stop_reason_ == "time"
    assert 0.7 * budget <= wall <= 1.5 * budget  # a generous margin: this is no speed test (bench/training.py times it)
    assert seen[-1].r2 == pytest.approx(reg.score(x, y), abs=1e-6)  # the last report is of the solved model


def test_checkpoint_written_before_the_readout_solve_loads_and_predicts_the_same(problem, tmp_path):
    """A checkpoint of the previous default recipe (train config without solve_readout, batch_size null), with its
    output computed the old way (mlp(encoder(x))), loads and predicts the same values."""
    x, y = problem
    reg = GINRRegressor(SMALL, TrainConfig(threads=1, steps=5, time_budget_s=None, batch_size=None, solve_readout=False)).fit(x, y)
    reg.save(tmp_path)
    meta = json.loads((tmp_path / "model.json").read_text())
    del meta["train"]["solve_readout"]
    (tmp_path / "model.json").write_text(json.dumps(meta))
    with torch.no_grad():
        old_way = reg.model_.mlp(reg.model_.encoder(torch.from_numpy(x))).double().numpy()[:, 0]
    loaded = GINRRegressor.load(tmp_path)
    np.testing.assert_allclose(loaded.predict(x), old_way * reg.target_std_[0] + reg.target_mean_[0], rtol=1e-6)
    assert loaded.train_config.batch_size is None and loaded.train_config.solve_readout is False  # a re-run repeats it
    assert TrainConfig.from_dict(TrainConfig().to_dict()) == TrainConfig()
