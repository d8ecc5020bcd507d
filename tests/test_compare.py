import time
from dataclasses import replace

import pytest

from ginr_core.data.signals import analytic_signal
from ginr_core.errors import GinrError
from ginr_core.geometry.domains import icosphere
from ginr_core.geometry.features import FeatureSpec
from ginr_core.learning.metrics import evaluate
from ginr_core.learning.training import TrainConfig
from ginr_core.runs.fitting import heldout_mask
from ginr_core.runs.jobs import Job
from ginr_core.runs.registry import Registry
from ginr_core.runs.spec import RunInputs
from ginr_core.tasks.compare import (
    TABLE2,
    ComparisonRequest,
    compare_models,
    comparison_task,
    table2_config,
)

QUICK = TrainConfig(threads=1, steps=150, time_budget_s=None)


@pytest.fixture(scope="module")
def inputs():
    mesh = icosphere(3)
    return RunInputs(mesh, analytic_signal(mesh, "sines"))


def request(inputs, **changes):
    return ComparisonRequest(inputs, **{"features": FeatureSpec("combinatorial", 16), "budget_s": 60, "train": QUICK, **changes})


def test_table2_configs_differ_only_in_input_and_activation():
    configs = {name: table2_config(name) for name in TABLE2}
    assert [c.encoder.input_kind for c in configs.values()] == ["xyz", "xyz", "spectral", "spectral"]
    assert [c.mlp.activation for c in configs.values()] == ["relu", "sine", "relu", "sine"]
    assert len({(c.mlp.n_layers, c.mlp.hidden, c.mlp.skip) for c in configs.values()}) == 1


def test_fitting_mode_scores_all_nodes(inputs):
    results = compare_models(request(inputs, models=("inr_relu", "ginr_sine")))
    assert set(results) == {"inr_relu", "ginr_sine"}
    assert results["ginr_sine"].scored_on == "all" and results["ginr_sine"].metrics["r2"] > 0.99
    assert results["ginr_sine"].prediction.shape == inputs.target.shape
    assert results["ginr_sine"].steps == 150


def test_generalisation_mode_scores_held_out_nodes(inputs):
    r = compare_models(request(inputs, models=("ginr_sine",), holdout=0.3))["ginr_sine"]
    assert r.scored_on == "held-out"
    held_out = heldout_mask(len(inputs.target), 0.3, 0)
    assert {k: v for k, v in r.metrics.items() if k not in ("r2_fit", "n_scored")} == evaluate(
        inputs.target[held_out], r.prediction[held_out])
    assert r.n_scored == held_out.sum()


@pytest.mark.parametrize("changes, match", [({"models": ("mlp",)}, "Unknown model"), ({"holdout": 1.0}, "held-out"),
                                            ({"features": FeatureSpec("xyz")}, "spectral")])
def test_bad_requests(inputs, changes, match):
    with pytest.raises(GinrError, match=match):
        request(inputs, **changes)


def test_every_model_is_a_registered_run_of_one_group(inputs):
    registry = Registry()
    results = compare_models(request(inputs, models=("inr_sine", "ginr_sine"), holdout=0.25), registry)
    runs = {r.id: r for r in registry.list_runs()}
    assert set(runs) == {r.run_id for r in results.values()}
    specs = [runs[r.run_id].spec for r in results.values()]
    assert [s.features.kind for s in specs] == ["xyz", "combinatorial"] and {s.task for s in specs} == {"heldout"}
    assert len({s.options["group"] for s in specs}) == 1
    for result in results.values():
        assert runs[result.run_id].metrics["r2"] == pytest.approx(result.metrics["r2"])


def test_background_job_matches_the_synchronous_comparison(inputs):
    req = request(inputs, models=("inr_relu", "ginr_sine"), holdout=0.25)
    expected = compare_models(req)
    job = Job(comparison_task, req)
    assert job.state.status == "pending"
    state = job.start().join(timeout=120)
    assert state.status == "done" and state.error is None
    assert set(state.parts) == {"inr_relu", "ginr_sine"}
    for name, result in state.result.items():
        assert result.metrics == expected[name].metrics  # same seed, same steps: the very same models
        assert result.steps == 150 and state.parts[name].values["step"] == 150


def test_cancel_stops_the_model_in_training_and_skips_the_rest(inputs):
    job = Job(comparison_task, request(inputs, models=("inr_relu", "ginr_sine"),
                                       train=replace(QUICK, steps=None, time_budget_s=60))).start()
    deadline = time.monotonic() + 30
    while "inr_relu" not in job.state.parts and time.monotonic() < deadline:
        time.sleep(0.01)
    job.cancel()
    state = job.join(timeout=10)
    assert state.status == "cancelled" and state.result == {}


def test_a_cancel_after_the_last_model_leaves_the_comparison_done(inputs, monkeypatch):
    job = Job(comparison_task, request(inputs, models=("inr_sine",), train=replace(QUICK, steps=3)))
    from ginr_core.runs import jobs

    original = jobs.JobContext.publish

    def publish_then_cancel(ctx, result):  # the user presses Cancel just as the last model finishes
        original(ctx, result)
        if result:  # the results so far: the model's, once it is done
            job.cancel()

    monkeypatch.setattr(jobs.JobContext, "publish", publish_then_cancel)
    state = job.run()
    assert state.status == "done" and len(state.result) == 1
