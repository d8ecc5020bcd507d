"""Ray: jobs on a Ray worker report progress, land in this process's registry with the same metrics as local jobs,
stop when cancelled; a bad cluster address is a clear error within seconds and leaves the local backend working;
losing Ray fails its jobs, never this process; sweeps on Ray Tune with ASHA record every trial as a run (from
Python, `ginr sweep` and the Sweeps page). One Ray cluster started by this module serves it, joined by the Ray
driver process as an operator's cluster would be."""

import os
import socket
import subprocess
import threading
import time
from dataclasses import replace

import numpy as np
import pytest

from ginr_core.errors import GinrError
from ginr_core.geometry.domains import icosphere
from ginr_core.geometry.features import FeatureSpec
from ginr_core.learning.model_config import MLPConfig, ModelConfig
from ginr_core.learning.training import TrainConfig
from ginr_core.runs.actions import launch
from ginr_core.runs.backend_config import BackendConfig
from ginr_core.runs.backends import configured_backend, resources, use_backend
from ginr_core.runs.ray_backend import RayJob, ray_driver, running_driver, stop_drivers
from ginr_core.runs.registry import Registry
from ginr_core.runs.fitting import RunRequest
from ginr_core.runs.spec import RunInputs, RunSpec, Source

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # before ray is imported: a Ray on 127.0.0.1 only
ray = pytest.importorskip("ray")
LOCAL = BackendConfig("local")
CLUSTER: list[str] = []  # the address of the module's Ray


@pytest.fixture(scope="module", autouse=True)
def local_ray(tmp_path_factory):
    """One Ray for the module (2 CPUs, no dashboard, on 127.0.0.1), joined by the Ray driver process at its address;
    its workers cache embeddings in a temporary folder, never the user's."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GINR_CACHE_DIR", str(tmp_path_factory.mktemp("ray-cache")))
        context = ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    assert ray.util.get_node_ip_address() == "127.0.0.1"
    CLUSTER[:] = [context.address_info["gcs_address"]]
    yield
    stop_drivers()
    ray.shutdown()


@pytest.fixture
def RAY() -> BackendConfig:
    """The module's Ray cluster as a backend."""
    return BackendConfig("ray", CLUSTER[0])


def request(steps=40, seed=3, snapshot_every_s=None) -> RunRequest:
    mesh = icosphere(2)
    spec = RunSpec("heldout", Source("builtin", "icosphere"), Source("analytic", "height"), FeatureSpec("combinatorial", 12),
                   ModelConfig(mlp=MLPConfig(n_layers=3, hidden=32)),
                   TrainConfig(steps=steps, time_budget_s=None, seed=seed, threads=1, log_every=5,
                               snapshot_every_s=snapshot_every_s),
                   {"fraction": 0.25, "seed": seed})
    return RunRequest.from_spec(spec, RunInputs(mesh, mesh.vertices[:, 2] + np.sin(3 * mesh.vertices[:, 0])))


def test_ray_training_streams_progress_and_lands_like_a_local_run(RAY):
    registry = Registry()
    job = launch(request(), registry, backend=RAY)
    assert isinstance(job, RayJob)
    run_id = job.wait_for_run(timeout=120)
    assert registry.get(run_id).status in ("running", "done")  # created by the driver, for the worker
    state = job.join(timeout=180)
    assert state.status == "done", state.error
    assert state.progress.fraction == 1.0 and state.progress.values == {}  # the task's last report, streamed back
    assert state.history[-1]["step"] == 40  # the last step's row, the readout solve's
    run = registry.get(run_id)
    saved = registry.load_history(run_id)  # every row of the curve; the solve's closing row replaces its step's estimate
    assert run.status == "done" and saved[-1] == state.history[-1]
    assert saved[:-1] == [row for row in state.history[:-1] if row["step"] < 40]
    ray_prediction = registry.load_predictions(run_id)
    registry.load_regressor(run_id)  # the checkpoint written by the driver

    local = launch(request(), registry, backend=LOCAL).join()
    assert local.status == "done"
    assert local.result.run_id != run_id
    for name in ("r2", "r2_fit", "mse"):
        assert run.metrics[name] == pytest.approx(local.result.metrics[name], rel=1e-6, abs=1e-9), name
    np.testing.assert_allclose(ray_prediction, registry.load_predictions(local.result.run_id), rtol=1e-5, atol=1e-7)


def test_cancelled_ray_job_stops_and_is_recorded_cancelled(RAY):
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


def test_failing_task_on_ray_fails_with_its_message_and_records_the_run(RAY):
    bad = request()
    bad = replace(bad, inputs=RunInputs(bad.inputs.mesh, np.full(bad.inputs.mesh.n_vertices, np.nan)))
    state = launch(bad, Registry(), backend=RAY).join(timeout=120)
    assert state.status == "failed" and "NaN" in state.error and "Traceback" not in state.error


def test_a_comparison_runs_on_ray_with_its_parts_and_partial_results(RAY):
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


@pytest.fixture
def silent_port():
    """A loopback port that accepts connections and never answers (a listening service that is not Ray)."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted = []
    threading.Thread(target=lambda: accepted.extend(server.accept() for _ in range(4)), daemon=True).start()
    yield server.getsockname()[1]
    for conn, _ in accepted:
        conn.close()
    server.close()


def test_bad_cluster_address_is_a_clear_error_within_seconds_and_local_keeps_working(silent_port):
    before = configured_backend()
    with pytest.raises(GinrError, match="No Ray cluster answers at 127.0.0.1:9"):
        use_backend(BackendConfig("ray", "127.0.0.1:9"))
    with pytest.raises(GinrError, match="HOST:PORT"):
        use_backend(BackendConfig("ray", "no-port-here"))
    start = time.monotonic()
    with pytest.raises(GinrError, match=f"No Ray cluster answers at 127.0.0.1:{silent_port}"):
        use_backend(BackendConfig("ray", f"127.0.0.1:{silent_port}"))  # it hung Ray's own join for minutes
    assert time.monotonic() - start < 10
    assert configured_backend() == before and running_driver(f"127.0.0.1:{silent_port}") is None
    state = launch(request(steps=10), Registry(), backend=LOCAL).join()
    assert state.status == "done"


def test_losing_ray_fails_its_jobs_and_never_this_process(monkeypatch):
    """The Ray driver is a process of its own (its Ray outliving the threads that started it is checked from the
    page, tests/test_browser_ray.py); when its Ray dies anyway (here its GCS is killed), the driver process ends,
    its job fails with a clear message and the run is recorded failed, this process goes on, and the next Ray job
    starts a new driver."""
    monkeypatch.setenv("RAY_gcs_rpc_server_reconnect_timeout_s", "3")  # a driver without its GCS ends in 3 s, not 60
    registry, local = Registry(), BackendConfig("ray")
    job = launch(request(steps=10**7), registry, backend=local)
    while not job.state.history:
        assert not job.done, job.state.error
        job.join(0.1)
    driver = running_driver(None)
    gcs = subprocess.run(["pgrep", "-P", str(driver._manager._process.pid), "gcs_server"], capture_output=True, text=True)
    subprocess.run(["kill", "-9", *gcs.stdout.split()], check=True)
    state = job.join(timeout=60)
    assert state.status == "failed" and "Ray stopped while this job ran" in state.error
    assert registry.get(state.run_id).status == "failed"
    assert running_driver(None) is None
    assert launch(request(steps=10), registry, backend=local).join(timeout=240).status == "done"
    ray_driver(None).stop()


def test_backend_reports_what_it_sees(RAY):
    assert resources(RAY) == {"CPU": 2.0, "GPU": 0.0}
    assert resources(LOCAL)["CPU"] >= 1
    assert resources(BackendConfig("ray", "127.0.0.1:9"), start=False) is None  # a page's look starts no Ray
    assert BackendConfig("ray", " 10.0.0.5:6379 ").label == "Ray at 10.0.0.5:6379"
    with pytest.raises(GinrError, match="Unknown backend"):
        BackendConfig("slurm")


# --- sweeps on Ray Tune ---------------------------------------------------------------------------------


def sweep_request(**changes):
    from ginr_core.tasks.sweep import SweepRequest, sweep_train_config

    base = request()
    settings = dict(grid={"lr": (2e-3, 1e-5), "seed": (0, 1)}, features=FeatureSpec("combinatorial", 12),
                    model=ModelConfig(mlp=MLPConfig(n_layers=3, hidden=32)), train=sweep_train_config(60, threads=1),
                    score="fit", report_every=10, grace_steps=20, domain=base.domain, signal=base.signal)
    return SweepRequest(base.inputs, **{**settings, **changes})


@pytest.fixture
def keep_backend():
    """The process-wide backend as it was before the test (a command may switch it)."""
    before = configured_backend()
    yield
    use_backend(before)


def test_cli_sweep_with_asha_records_every_trial_as_a_run(capsys, keep_backend, RAY):
    from ginr_core.cli import main

    assert main(["sweep", "--domain", "icosphere", "--signal", "sines", "--k", "12", "--activation", "sine",
                 "--width", "32", "--depth", "3", "--first-omega0", "30", "--lr", "0.002,0.00001", "--seeds", "0,1",
                 "--score", "fit", "--steps", "40", "--report-every", "10", "--grace", "20", "--ray-address", RAY.address]) == 0
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
    assert ray.is_initialized() and running_driver(RAY.address) is None  # the command ended its driver, not the cluster


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
def sweeps_page(app, monkeypatch, RAY):
    """The Sweeps page on a server whose operator set the module's Ray, with the sweep it started stopped at the
    end of the test."""
    monkeypatch.setenv("GINR_RAY_ADDRESS", RAY.address)
    at = app.switch_page("pages/sweeps.py").run()
    yield at
    if "sweep" in at.session_state:
        at.session_state.sweep.job.cancel()
        at.session_state.sweep.job.join(timeout=60)


def test_sweeps_page_names_its_ray_and_refuses_bad_values(sweeps_page):
    """The page's sweep itself runs in a browser (tests/test_browser_ray.py)."""
    from conftest import button

    at = sweeps_page
    assert not at.exception and at.title[0].value == "Sweeps"
    assert any(f"Trials run on **Ray at {CLUSTER[0]}**" in c.value for c in at.caption)
    inputs = {t.label: t for t in at.text_input}
    inputs["Width"].set_value("abc")
    button(at, "Launch the sweep").click().run()
    assert "Width: give numbers separated by commas" in at.error[0].value and "sweep" not in at.session_state
