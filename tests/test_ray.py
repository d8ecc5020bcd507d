"""Ray: jobs on a Ray worker report progress, land in the driver's registry with the same metrics as local jobs,
stop when cancelled; a bad cluster address is a clear error and leaves the local backend working; sweeps on Ray
Tune with ASHA record every trial as a run (from Python, `ginr sweep` and the Sweeps page). One local Ray serves
the module."""

import os

import numpy as np
import pytest

from ginr_core.errors import GinrError
from ginr_core.geometry.domains import icosphere
from ginr_core.geometry.features import FeatureSpec
from ginr_core.learning.models import ModelConfig
from ginr_core.learning.training import TrainConfig
from ginr_core.runs.actions import launch
from ginr_core.runs.backends import (
    BackendConfig,
    RayJob,
    configured_backend,
    resources,
    use_backend,
)
from ginr_core.runs.registry import Registry
from ginr_core.runs.spec import RunInputs, RunRequest, RunSpec, Source

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # before ray is imported: a Ray on 127.0.0.1 only
ray = pytest.importorskip("ray")
RAY = BackendConfig("ray")
LOCAL = BackendConfig("local")


@pytest.fixture(scope="module", autouse=True)
def local_ray(tmp_path_factory):
    """One local Ray for the module (2 CPUs, no dashboard, on 127.0.0.1); its workers cache embeddings in a
    temporary folder, never the user's."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GINR_CACHE_DIR", str(tmp_path_factory.mktemp("ray-cache")))
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    assert ray.util.get_node_ip_address() == "127.0.0.1"
    yield
    ray.shutdown()


def request(steps=40, seed=3, snapshot_every_s=None) -> RunRequest:
    mesh = icosphere(2)
    spec = RunSpec("heldout", Source("builtin", "icosphere"), Source("analytic", "height"), FeatureSpec("combinatorial", 12),
                   ModelConfig(n_layers=3, hidden=32),
                   TrainConfig(steps=steps, time_budget_s=None, seed=seed, threads=1, log_every=5,
                               snapshot_every_s=snapshot_every_s),
                   {"fraction": 0.25, "seed": seed})
    return RunRequest(spec, RunInputs(mesh, mesh.vertices[:, 2] + np.sin(3 * mesh.vertices[:, 0])))


def test_ray_training_streams_progress_and_lands_like_a_local_run():
    registry = Registry()
    job = launch(request(), registry, backend=RAY)
    assert isinstance(job, RayJob)
    run_id = job.wait_for_run(timeout=120)
    assert registry.get(run_id).status in ("running", "done")  # created by the driver, for the worker
    state = job.join(timeout=180)
    assert state.status == "done", state.error
    assert state.progress.fraction == 1.0 and state.progress.values == {}  # the task's last report, streamed back
    assert len(state.history) == 8 and state.history[-1]["step"] == 40  # every row of the curve
    run = registry.get(run_id)
    assert run.status == "done" and len(registry.load_history(run_id)) == 8
    ray_prediction = registry.load_predictions(run_id)
    registry.load_regressor(run_id)  # the checkpoint written by the driver

    local = launch(request(), registry, backend=LOCAL).join()
    assert local.status == "done"
    assert local.result.run_id != run_id
    for name in ("r2", "r2_fit", "mse"):
        assert run.metrics[name] == pytest.approx(local.result.metrics[name], rel=1e-6, abs=1e-9), name
    np.testing.assert_allclose(ray_prediction, registry.load_predictions(local.result.run_id), rtol=1e-5, atol=1e-7)


def test_cancelled_ray_job_stops_and_is_recorded_cancelled():
    registry = Registry()
    job = launch(request(steps=200_000), registry, backend=RAY)
    job.wait_for_run(timeout=120)
    while not job.state.history:  # training has started on the worker
        assert not job.done, job.state.error
        job.join(0.1)
    job.cancel()
    state = job.join(timeout=60)
    assert state.status == "cancelled"
    assert 0 < state.history[-1]["step"] < 200_000
    assert registry.get(state.run_id).status == "cancelled"


def test_failing_task_on_ray_fails_with_its_message_and_records_the_run():
    bad = request()
    bad = RunRequest(bad.spec, RunInputs(bad.inputs.mesh, np.full(bad.inputs.mesh.n_vertices, np.nan)))
    state = launch(bad, Registry(), backend=RAY).join(timeout=120)
    assert state.status == "failed" and "NaN" in state.error and "Traceback" not in state.error


def test_a_comparison_runs_on_ray_with_its_parts_and_partial_results():
    from ginr_core.runs.actions import submit
    from ginr_core.tasks.compare import ComparisonRequest, comparison_task

    base = request()
    comparison = ComparisonRequest(base.inputs, FeatureSpec("combinatorial", 12), 30.0, ("inr_sine", "ginr_sine"),
                                   train=TrainConfig(steps=10, threads=1, snapshot_every_s=None))
    registry = Registry()
    state = submit(comparison_task, comparison, registry, label="comparison", backend=RAY).join(timeout=180)
    assert state.status == "done", state.error
    assert set(state.parts) == {"inr_sine", "ginr_sine"} and set(state.result) == {"inr_sine", "ginr_sine"}
    assert {r.run_id for r in state.result.values()} == {run.id for run in registry.list_runs(status="done")}


def test_bad_cluster_address_is_a_clear_error_and_local_keeps_working():
    before = configured_backend()
    with pytest.raises(GinrError, match="Cannot reach a Ray cluster at 127.0.0.1:9"):
        use_backend(BackendConfig("ray", "127.0.0.1:9"))
    with pytest.raises(GinrError, match="HOST:PORT"):
        use_backend(BackendConfig("ray", "no-port-here"))
    assert configured_backend() == before
    assert ray.is_initialized()  # the Ray already running was left alone
    state = launch(request(steps=10), Registry(), backend=LOCAL).join()
    assert state.status == "done"


def test_backend_reports_what_it_sees():
    assert resources(RAY) == {"CPU": 2.0, "GPU": 0.0}
    assert resources(LOCAL)["CPU"] >= 1
    assert BackendConfig("ray", " 10.0.0.5:6379 ").label == "Ray at 10.0.0.5:6379"
    with pytest.raises(GinrError, match="Unknown backend"):
        BackendConfig("slurm")


# --- sweeps on Ray Tune ---------------------------------------------------------------------------------


def sweep_request(**changes):
    from ginr_core.tasks.sweep import SweepRequest, sweep_train_config

    base = request()
    settings = dict(grid={"lr": (2e-3, 1e-5), "seed": (0, 1)}, features=FeatureSpec("combinatorial", 12),
                    model=ModelConfig(n_layers=3, hidden=32), train=sweep_train_config(60, threads=1),
                    score="fit", report_every=10, grace_steps=20, domain=base.spec.domain, signal=base.spec.signal)
    return SweepRequest(base.inputs, **{**settings, **changes})


@pytest.fixture
def keep_backend():
    """The process-wide backend as it was before the test (a command may switch it)."""
    before = configured_backend()
    yield
    use_backend(before)


def test_cli_sweep_with_asha_records_every_trial_as_a_run(capsys, keep_backend):
    from ginr_core.cli import main

    assert main(["sweep", "--domain", "icosphere", "--signal", "sines", "--k", "12", "--activation", "sine",
                 "--width", "32", "--depth", "3", "--first-omega0", "30", "--lr", "0.002,0.00001", "--seeds", "0,1",
                 "--score", "fit", "--steps", "40", "--report-every", "10", "--grace", "20", "--backend", "ray"]) == 0
    out = capsys.readouterr().out
    registry = Registry()
    runs = {run.id: run for run in registry.list_runs()}
    assert len(runs) == 4 and all(run_id in out for run_id in runs)  # every trial is a run, every run in the table
    assert {(run.spec.train.lr, run.spec.train.seed) for run in runs.values()} == {(2e-3, 0), (2e-3, 1), (1e-5, 0), (1e-5, 1)}
    assert len({run.spec.options["group"] for run in runs.values()}) == 1
    for run in runs.values():
        assert run.spec.task == "fit" and run.spec.features.k == 12
        if run.status == "done":
            assert f"{run.metrics['r2']:.5f}" in out and len(registry.load_history(run.id)) == 8
        else:
            assert run.status == "cancelled" and "ASHA stopped it" in run.error and registry.load_history(run.id)
    best = max((run for run in runs.values() if run.status == "done"), key=lambda run: run.metrics["r2"])
    assert f"best: fit R² (all nodes) {best.metrics['r2']:.5f}, run {best.id}" in out
    assert best.spec.train.lr == 2e-3  # the learning rate that learns wins
    assert ray.is_initialized()  # the command left the test's Ray running (it did not start it)


def test_sweep_request_refuses_bad_grids():
    with pytest.raises(GinrError, match="Cannot sweep"):
        sweep_request(grid={"dropout": (0.1,)})
    with pytest.raises(GinrError, match="activation"):
        sweep_request(grid={"activation": ("sine", "swish")})
    with pytest.raises(GinrError, match="number of steps"):
        sweep_request(train=TrainConfig(time_budget_s=10))
    assert sweep_request(grid={"k": (4, 8, 8), "depth": (2, 3)}).n_trials == 4
    assert sweep_request(search="random", samples=5).n_trials == 5


# --- the Sweeps page ------------------------------------------------------------------------------------


@pytest.fixture
def sweeps_page(app):
    """The Sweeps page, with the sweep it started stopped at the end of the test."""
    at = app.switch_page("pages/sweeps.py").run()
    yield at
    if "sweep" in at.session_state:
        at.session_state.sweep.job.cancel()
        at.session_state.sweep.job.join(timeout=60)


def test_sweeps_page_runs_a_sweep_and_opens_the_best_run(sweeps_page):
    from conftest import button

    at = sweeps_page
    assert not at.exception and at.title[0].value == "Sweeps"
    assert any("Trials run on **Ray (local)**" in c.value for c in at.caption)
    inputs = {t.label: t for t in at.text_input}
    inputs["k (embedding size)"].set_value("8")
    inputs["First-layer omega_0"].set_value("30")
    inputs["Width"].set_value("abc")
    button(at, "Launch the sweep").click().run()
    assert "Width: give numbers separated by commas" in at.error[0].value and "sweep" not in at.session_state

    inputs = {t.label: t for t in at.text_input}
    inputs["Width"].set_value("32")
    inputs["Depth"].set_value("3")
    at.multiselect[0].set_value(["sine", "relu"])
    [n for n in at.number_input if n.label == "Steps per trial"][0].set_value(20)
    at.toggle[0].set_value(False)  # no ASHA: both trials train to the end
    button(at, "Launch the sweep").click().run()
    assert not at.exception and not at.error
    state = at.session_state.sweep.job.join(timeout=180)
    assert state.status == "done", state.error
    at.run()
    assert not at.exception
    table = at.dataframe[0].value
    assert len(table) == 2 and set(table["activation"]) == {"sine", "relu"} and (table["status"] == "done").all()
    assert len(at.get("plotly_chart")) == 1  # the parallel coordinates
    best = table.iloc[0]
    assert f"run {best['run_id']}" in at.success[0].value and "held-out R²" in at.success[0].value
    button(at, "Open the best run in Results").click().run()
    assert not at.exception and at.session_state.watching == best["run_id"]
