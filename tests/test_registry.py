import os
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from ginr_core.errors import GinrError
from ginr_core.geometry.domains import icosphere
from ginr_core.geometry.features import FeatureSpec
from ginr_core.storage.files import atomic_write
from ginr_core.learning.model_config import MLPConfig, ModelConfig
from ginr_core.learning.training import GINRRegressor, TrainConfig
from ginr_core.runs.actions import launch
from ginr_core.runs.registry import Registry
from ginr_core.runs.fitting import RunRequest
from ginr_core.runs.spec import RunInputs, RunSpec, Source

REPO = Path(__file__).resolve().parents[1]
SMALL = ModelConfig(mlp=MLPConfig(n_layers=3, hidden=16))
QUICK = TrainConfig(threads=1, steps=10, time_budget_s=None)
SPEC = RunSpec("fit", Source("builtin", "icosphere", {"level": 2}), Source("generated", "sin"), FeatureSpec("combinatorial", 4),
               SMALL, QUICK)


@pytest.fixture(autouse=True)
def runs_root(tmp_path, monkeypatch):
    monkeypatch.setenv("GINR_RUNS_DIR", str(tmp_path / "runs"))
    return tmp_path / "runs"


@pytest.fixture
def data():
    mesh = icosphere(2)
    return mesh, np.sin(3 * mesh.vertices[:, 0]) + mesh.vertices[:, 1]


@pytest.fixture
def xy(data):
    mesh, y = data
    return mesh.vertices, y


def test_job_records_a_complete_run(data, runs_root):
    registry = Registry()
    assert registry.root == runs_root
    mesh, y = data
    state = launch(RunRequest.from_spec(SPEC, RunInputs(mesh, y)), registry).join(timeout=30)
    assert state.status == "done", state.error
    info = registry.get(state.run_id)
    assert info.status == "done" and info.description == {"domain": "icosphere", "signal": "sin",
                                                           "input": "GINR (combinatorial, k = 4)", "task": "fit"}
    assert info.config["model"]["mlp"]["hidden"] == 16 and info.config["train"]["steps"] == 10
    assert info.spec == SPEC
    assert info.metrics["r2"] == pytest.approx(state.result.metrics["r2"])
    files = sorted(p.name for p in info.path.iterdir())
    assert files == ["config.json", "history.json", "inputs.npz", "metrics.json", "model.json", "model.pt", "predictions.npy"]
    np.testing.assert_array_equal(registry.load_predictions(info.id), state.result.prediction)
    features = SPEC.features.build(mesh)
    np.testing.assert_array_equal(registry.load_regressor(info.id).predict(features), state.result.prediction)
    assert registry.load_history(info.id)[-1]["step"] == 10
    assert [r.id for r in registry.list_runs(status="done")] == [info.id]


def test_job_saves_its_inputs_with_the_run(data):
    registry = Registry()
    mesh, y = data
    state = launch(RunRequest.from_spec(SPEC, RunInputs(mesh, y, {"mask": y > 0})), registry).join(timeout=30)
    inputs = registry.load_inputs(state.run_id)
    np.testing.assert_array_equal(inputs.target, y)
    np.testing.assert_array_equal(inputs.mesh.faces, mesh.faces)
    np.testing.assert_array_equal(inputs.extra["mask"], y > 0)


def test_ids_are_generated_not_taken_from_user_text(runs_root):
    registry = Registry()
    run_id = registry.create_run(RunSpec(domain=Source(label="../../etc/passwd")))
    assert (runs_root / run_id).is_dir() and ".." not in run_id and "/" not in run_id
    assert registry.get(run_id).description["domain"] == "../../etc/passwd"
    with pytest.raises(GinrError):
        registry.run_dir("../outside")


def test_crashed_process_leaves_an_interrupted_run(runs_root):
    script = (
        "import os\n"
        "from ginr_core.runs.registry import Registry\n"
        "from ginr_core.runs.spec import RunSpec\n"
        "run_id = Registry().create_run(RunSpec())\n"
        "print(run_id, flush=True)\n"
        "os._exit(1)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    run_id = out.stdout.strip()
    assert out.returncode == 1 and run_id, out.stderr
    registry = Registry()
    assert registry.get(run_id).status == "interrupted"


def test_own_running_runs_are_not_interrupted():
    registry = Registry()
    run_id = registry.create_run(SPEC)
    assert Registry().get(run_id).status == "running"


def test_crash_while_saving_never_marks_done(xy, monkeypatch):
    registry = Registry()
    reg = GINRRegressor(SMALL, QUICK).fit(*xy)
    run_id = registry.create_run(SPEC)
    real_save = torch.save

    def torn_save(obj, f, *args, **kwargs):  # writes half a file, then the "power goes out"
        real_save(obj, f, *args, **kwargs)
        f.truncate(10)
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", torn_save)
    with pytest.raises(OSError):
        registry.finish(run_id, "done", regressor=reg, predictions=reg.predict(xy[0]))
    info = registry.get(run_id)
    assert info.status == "running"
    assert not (info.path / "model.pt").exists()
    assert not [p for p in info.path.iterdir() if p.name.endswith(".tmp")]


def test_atomic_write_keeps_old_content_on_failure(tmp_path):
    target = tmp_path / "file.json"
    atomic_write(target, b"old")

    def failing(f):
        f.write(b"new but incomplete")
        raise RuntimeError("crash")

    with pytest.raises(RuntimeError):
        atomic_write(target, failing)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["file.json"]


def test_registry_is_thread_safe():
    registry = Registry()
    ids: list[str] = []

    def worker():
        for _ in range(10):
            run_id = registry.create_run(SPEC)
            registry.finish(run_id, "done", metrics={"r2": 1.0}, history=[{"step": 1}])
            ids.append(run_id)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(ids)) == 40
    assert len(registry.list_runs(status="done")) == 40
    assert len(registry.list_runs(limit=5)) == 5


def test_failed_and_deleted_runs(data):
    registry = Registry()
    mesh, y = data
    bad = RunSpec("fit", features=FeatureSpec("combinatorial", 4), model=SMALL, train=replace(QUICK, lr=1e9))
    state = launch(RunRequest.from_spec(bad, RunInputs(mesh, y)), registry, start=False).run()
    assert state.status == "failed" and "diverged" in state.error
    info = registry.get(state.run_id)
    assert info.status == "failed" and "GinrError" in info.error
    with pytest.raises(GinrError):
        registry.load_predictions(info.id)
    registry.delete(info.id)
    assert not info.path.exists() and registry.list_runs() == []
    with pytest.raises(GinrError):
        registry.finish(info.id, "finished")


def test_metrics_are_strict_json_even_for_an_exact_fit(runs_root):
    import json
    import math

    registry = Registry(runs_root)
    run_id = registry.create_run(RunSpec())
    registry.finish(run_id, "done", metrics={"r2": 1.0, "psnr": math.inf, "mse": np.float64(0.0)})

    def refuse(constant):
        raise ValueError(f"non-standard JSON constant {constant}")

    stored = json.loads((registry.run_dir(run_id) / "metrics.json").read_text(), parse_constant=refuse)
    assert stored == {"r2": 1.0, "psnr": None, "mse": 0.0}
    assert registry.get(run_id).metrics["psnr"] is None


def test_history_is_saved_while_the_run_trains(data, monkeypatch):
    import time

    import ginr_core.runs.jobs as jobs

    monkeypatch.setattr(jobs, "HISTORY_SAVE_EVERY_S", 0.2)
    registry = Registry()
    mesh, y = data
    spec = replace(SPEC, train=TrainConfig(threads=1, time_budget_s=30, log_every=1))
    job = launch(RunRequest.from_spec(spec, RunInputs(mesh, y)), registry)
    job.wait_for_run()
    deadline = time.time() + 20
    while time.time() < deadline and not registry.load_history(job.state.run_id):
        time.sleep(0.05)
    assert job.state.status == "running" and len(registry.load_history(job.state.run_id)) > 0
    job.cancel()
    job.join(timeout=30)
