import threading
import time
from dataclasses import replace

import numpy as np
import pytest

from ginr_core.data.signals import analytic_signal
from ginr_core.errors import GinrError
from ginr_core.geometry.domains import icosphere
from ginr_core.geometry.spectral import spectral_embedding
from ginr_core.learning.training import TrainConfig
from ginr_core.tasks.compare import TABLE2, ComparisonJob, compare_models, table2_config

QUICK = TrainConfig(threads=1, steps=150, time_budget_s=None)


@pytest.fixture(scope="module")
def problem():
    mesh = icosphere(3)
    return mesh.vertices, spectral_embedding(mesh, 16, cache=False).features, analytic_signal(mesh, "sines")


def test_table2_configs_differ_only_in_input_and_activation():
    configs = {name: table2_config(name, k=16) for name in TABLE2}
    assert [c.input_kind for c in configs.values()] == ["xyz", "xyz", "spectral", "spectral"]
    assert [c.activation for c in configs.values()] == ["relu", "sine", "relu", "sine"]
    assert len({(c.n_layers, c.hidden, c.skip) for c in configs.values()}) == 1


def test_fitting_mode_scores_all_nodes(problem):
    xyz, spectral, target = problem
    seen = set()
    results = compare_models(xyz, spectral, target, budget_s=60, models=("inr_relu", "ginr_sine"), train_config=QUICK,
                             callback=lambda name, p: seen.add(name))
    assert set(results) == {"inr_relu", "ginr_sine"} == seen
    assert results["ginr_sine"].scored_on == "all" and results["ginr_sine"].metrics["r2"] > 0.99
    assert results["ginr_sine"].prediction.shape == target.shape


def test_generalisation_mode_scores_held_out_nodes(problem):
    xyz, spectral, target = problem
    results = compare_models(xyz, spectral, target, budget_s=60, models=("ginr_sine",), holdout=0.3, train_config=QUICK)
    r = results["ginr_sine"]
    assert r.scored_on == "held-out"
    held_out = np.random.default_rng(0).random(len(target)) < 0.3
    from ginr_core.learning.metrics import evaluate

    assert r.metrics == evaluate(target[held_out], r.prediction[held_out])


@pytest.mark.parametrize("kwargs, match", [({"models": ("mlp",)}, "Unknown model"), ({"holdout": 1.0}, "held-out")])
def test_bad_requests(problem, kwargs, match):
    with pytest.raises(GinrError, match=match):
        compare_models(*problem, **kwargs)


def test_background_job_matches_the_synchronous_comparison(problem):
    xyz, spectral, target = problem
    options = dict(budget_s=60, models=("inr_relu", "ginr_sine"), holdout=0.25, train_config=QUICK)
    expected = compare_models(xyz, spectral, target, **options)
    job = ComparisonJob(xyz, spectral, target, **options)
    assert job.state.status == "pending" and [m.status for m in job.state.models.values()] == ["waiting", "waiting"]
    state = job.start().join(timeout=120)
    assert state.status == "done" and state.error is None
    assert [m.status for m in state.models.values()] == ["done", "done"]
    for name, result in state.results.items():
        assert result.metrics == expected[name].metrics  # same seed, same steps: the very same models
        assert result.n_scored == expected[name].n_scored == (np.random.default_rng(0).random(len(target)) < 0.25).sum()
        assert result.steps == 150 and state.models[name].history[-1]["step"] == 150
        assert state.models[name].progress.step == 150


def test_cancel_stops_the_model_in_training_and_skips_the_rest(problem):
    job = ComparisonJob(*problem, budget_s=60, models=("inr_relu", "ginr_sine"),
                        train_config=replace(QUICK, steps=None, time_budget_s=60)).start()
    deadline = time.monotonic() + 30
    while job.state.models["inr_relu"].status != "running" and time.monotonic() < deadline:
        time.sleep(0.01)
    job.cancel()
    state = job.join(timeout=10)
    assert state.status == "cancelled" and state.results == {}
    assert [m.status for m in state.models.values()] == ["stopped", "stopped"]


def test_cancelled_comparison_returns_the_finished_models_only(problem):
    cancel = threading.Event()
    seen = []
    results = compare_models(*problem, models=("inr_relu", "ginr_sine"), train_config=QUICK, cancel=cancel,
                             on_result=lambda r: (seen.append(r.name), cancel.set()))
    assert list(results) == seen == ["inr_relu"]


def test_failed_job_reports_the_error(problem):
    state = ComparisonJob(*problem, models=("mlp",)).start().join(timeout=30)
    assert state.status == "failed" and "Unknown model 'mlp'" in state.error
    assert state.models["mlp"].status == "stopped"


def test_a_cancel_after_the_last_model_leaves_the_comparison_done():
    rng = np.random.default_rng(1)
    xyz = rng.normal(size=(80, 3))
    job = ComparisonJob(xyz, xyz, xyz[:, 0], budget_s=0.2, models=("inr_sine",),
                        train_config=TrainConfig(threads=1, steps=3, time_budget_s=None))
    record_result = job._result

    def record_then_cancel(result):  # the user presses Cancel just as the last model finishes
        record_result(result)
        job.cancel()

    job._result = record_then_cancel
    job.run()
    assert job.state.status == "done" and len(job.state.results) == 1
