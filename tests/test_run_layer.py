"""The run layer end to end: a run spec rebuilds any run's features (every embedding kind), so every run can be
predicted, exported and re-run from the CLI and the dashboard; one job contract; jobs that do not disturb
each other; finished jobs let go."""

import io
import threading
import zipfile
from dataclasses import replace

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import button, charts, prepared, scene_views

from ginr_core.cli import main
from ginr_core.errors import GinrError
from ginr_core.geometry.domains import icosphere, torus
from ginr_core.geometry.features import FeatureSpec, max_k, sh_degree
from ginr_core.learning.model_config import EncoderConfig, MLPConfig, ModelConfig
from ginr_core.learning.training import Progress, TrainConfig
from ginr_core.runs.actions import (
    export_run,
    launch,
    predict_run,
    rerun_request,
    run_features,
)
from ginr_core.runs.jobs import FINISHED, STATUSES, Call, Job, call_task, training_eta
from ginr_core.runs.registry import Registry
from ginr_core.runs.fitting import RunRequest
from ginr_core.runs.spec import RunInputs, RunSpec, Source

QUICK = TrainConfig(threads=1, steps=15, time_budget_s=None, snapshot_every_s=None)
SMALL = ModelConfig(mlp=MLPConfig(n_layers=3, hidden=32))


# --- the CLI ------------------------------------------------------------------------------------------

CLI_RUNS = {
    "sh": ["--domain", "icosphere", "--signal", "sines", "--embedding", "sh", "--k", "16"],
    "cotangent": ["--domain", "torus", "--signal", "sines", "--embedding", "cotangent", "--k", "12"],
    "held-out": ["--domain", "icosphere", "--signal", "sines", "--k", "12", "--holdout", "0.25"],
}


@pytest.mark.parametrize("name", list(CLI_RUNS))
def test_cli_trains_predicts_exports_and_reruns(name, tmp_path, capsys):
    assert main(["train", *CLI_RUNS[name], "--steps", "15", "--budget", "60", "--layers", "3", "--hidden", "32"]) == 0
    out = capsys.readouterr().out
    run_id = out.split("run ", 1)[1].split(":", 1)[0]
    registry = Registry()
    run = registry.get(run_id)
    expected_kind = {"sh": "spherical_harmonics", "cotangent": "cotangent", "held-out": "combinatorial"}[name]
    assert run.spec.features.kind == expected_kind and run.spec.model.encoder.k == run.spec.features.k  # one k
    assert run.spec.task == ("heldout" if name == "held-out" else "fit")
    if name == "held-out":
        assert "held-out nodes" in out and run.metrics["n_scored"] < len(registry.load_inputs(run_id).target)

    assert main(["predict", run_id, "--out", str(tmp_path / "p.npy")]) == 0
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), registry.load_predictions(run_id), atol=1e-6)
    assert main(["export", run_id, "--format", "npz", "--out", str(tmp_path / "x.npz")]) == 0
    with np.load(tmp_path / "x.npz") as npz:
        assert npz["fourier"].shape[1] == run.spec.features.k
        np.testing.assert_allclose(npz["fourier"], run_features(registry, run_id)[1])
    assert main(["export", run_id, "--format", "ply", "--out", str(tmp_path / "x.ply")]) == 0
    assert (tmp_path / "x.ply").read_bytes().startswith(b"ply")

    capsys.readouterr()
    assert main(["rerun", run_id]) == 0
    again = capsys.readouterr().out.split("run ", 1)[1].split(":", 1)[0]
    assert again != run_id and registry.get(again).spec == run.spec
    # the same spec, data and seed: the very same model
    assert registry.get(again).metrics["r2"] == pytest.approx(run.metrics["r2"], abs=1e-6)


def test_cli_refuses_spherical_harmonics_off_the_sphere(capsys):
    assert main(["train", "--domain", "torus", "--signal", "sines", "--embedding", "sh", "--k", "9", "--steps", "2"]) == 2
    assert "not a sphere" in capsys.readouterr().err


# --- the spec -----------------------------------------------------------------------------------------


def test_every_feature_kind_rebuilds_exactly():
    mesh = icosphere(2)
    for kind in ("combinatorial", "normalized", "cotangent", "spherical_harmonics", "xyz"):
        spec = FeatureSpec(kind, 9)
        first, second = spec.build(mesh), FeatureSpec.from_dict(spec.to_dict()).build(mesh)
        np.testing.assert_array_equal(first, second)
        assert first.shape == (mesh.n_vertices, 3 if kind == "xyz" else 9)


def test_feature_rules_live_in_one_place():
    assert [sh_degree(k) for k in (1, 4, 5, 9, 100)] == [0, 1, 2, 2, 9]
    assert max_k(100) == 98
    with pytest.raises(GinrError, match="too large"):
        FeatureSpec("combinatorial", 50).check(icosphere(0))
    with pytest.raises(GinrError, match="Unknown features"):
        FeatureSpec("eigen", 5)


def test_spec_round_trips_through_json_and_keeps_one_k():
    spec = RunSpec("heldout", Source("builtin", "torus", {"n_major": 12}), Source("analytic", "sines"),
                   FeatureSpec("cotangent", 20), ModelConfig(EncoderConfig(k=100), MLPConfig(hidden=64)), QUICK, {"fraction": 0.3, "seed": 2})
    assert spec.model.encoder.k == 20 and spec.model.encoder.input_kind == "spectral"
    assert RunSpec.from_dict(spec.to_dict()) == spec
    assert replace(spec, features=FeatureSpec("xyz")).model.encoder.input_kind == "xyz"


def test_runs_of_other_tasks_say_where_they_are_rerun():
    registry = Registry()
    run_id = registry.create_run(RunSpec("superres", options={"strategy": "joint"}))
    with pytest.raises(GinrError, match="ginr superres"):
        rerun_request(registry, run_id)


# --- jobs ---------------------------------------------------------------------------------------------


def _request(seed: int) -> RunRequest:
    mesh = torus(24, 12)
    target = np.sin(3 * mesh.vertices[:, 0]) * np.cos(2 * mesh.vertices[:, 2])
    spec = RunSpec("fit", features=FeatureSpec("combinatorial", 16), model=SMALL, train=replace(QUICK, seed=seed, steps=40))
    return RunRequest.from_spec(spec, RunInputs(mesh, target))


def _weights(registry: Registry, run_id: str) -> dict:
    return torch.load(registry.run_dir(run_id) / "model.pt", weights_only=True)


def test_concurrent_jobs_with_one_seed_train_the_same_weights_as_serial_runs():
    registry = Registry()
    serial = [launch(_request(7), registry, start=False).run().run_id for _ in range(2)]
    together = [launch(_request(7), registry) for _ in range(2)]  # started at once, initialising side by side
    concurrent = [job.join(timeout=120).run_id for job in together]
    reference = _weights(registry, serial[0])
    for run_id in serial[1:] + concurrent:
        weights = _weights(registry, run_id)
        assert weights.keys() == reference.keys()
        for key in reference:
            torch.testing.assert_close(weights[key], reference[key], rtol=0, atol=0)
    other = _weights(registry, launch(_request(8), registry, start=False).run().run_id)
    assert not torch.equal(other["mlp.linears.0.weight"], reference["mlp.linears.0.weight"])  # the seed matters


def test_a_training_eta_waits_for_something_to_go_by_then_is_the_time_left():
    """Step 1 of a 20 s fit says nothing of the rest (an extrapolation from it said 243 s): no ETA; later the
    remaining budget, plus the job's parts after this fit."""
    seen = []

    def task(spec, ctx):
        report = ctx.training_callback()
        for progress in spec:
            report(progress)
            seen.append(ctx._job.state.progress.eta_s)

    step_1 = Progress(1, 0.9, 0.1, 1e-3, 0.0, 0.4, 19.6)
    step_40 = Progress(40, 0.1, 0.9, 1e-3, 20.0, 2.0, 18.0)
    Job(task, [step_1, step_40]).run()
    assert seen == [None, pytest.approx(18.0)]
    assert training_eta(step_40, start=0.0, span=0.5) == pytest.approx(18.0 + 20.0)  # another fit as long follows
    assert training_eta(replace(step_40, eta_s=float("inf"))) is None  # nothing bounds the fit


def test_one_status_vocabulary_and_progress_records():
    def task(spec, ctx):
        for i in range(4):
            ctx.report((i + 1) / 4, f"part {i}", part=f"p{i % 2}", value=float(i))
        return spec * 2

    job = Job(task, 21)
    assert job.state.status == "pending" and set(FINISHED) < set(STATUSES)
    state = job.start().join(timeout=10)
    assert state.status == "done" and state.result == 42 and state.progress.fraction == 1.0
    assert set(state.parts) == {"p0", "p1"} and state.parts["p1"].values["value"] == 3.0
    assert state.progress.eta_s == pytest.approx(0.0)
    with pytest.raises(GinrError, match="already been started"):
        job.start()


def test_a_failed_job_keeps_its_message_and_its_run_the_traceback():
    registry = Registry()
    request = _request(0)
    bad = replace(request, train=replace(QUICK, lr=1e9))
    state = launch(bad, registry, start=False).run()
    assert state.status == "failed" and "diverged" in state.error
    assert "Traceback" in registry.get(state.run_id).error


def test_cancel_is_honoured_and_the_run_marked_cancelled():
    registry = Registry()
    request = _request(0)
    job = launch(replace(request, train=replace(QUICK, steps=None, time_budget_s=60)), registry)
    run_id = job.wait_for_run()
    deadline = threading.Event()
    while job.state.progress is None or "step" not in job.state.progress.values:
        deadline.wait(0.01)
    job.cancel()
    assert job.join(timeout=10).status == "cancelled"
    assert registry.get(run_id).status == "cancelled"


# --- the dashboard ------------------------------------------------------------------------------------


def _followed_run(at) -> str:
    """The run this session launched, once it has finished (the Train page then watches it)."""
    at.session_state.following.join(timeout=120)
    at.switch_page("pages/train.py").run()
    return at.session_state.watching


def _train_on_page(at, budget: float = 2.0, holdout: float = 0.0):
    at.switch_page("pages/train.py").run()
    inputs = {n.label: n for n in at.number_input}
    inputs["Time budget (s)"].set_value(budget)
    inputs["Embedding size (k)"].set_value(9)
    inputs["Held-out nodes"].set_value(holdout)
    button(at, "Launch training").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    return _followed_run(at)


@pytest.mark.parametrize("laplacian, holdout", [("spherical harmonics (exact)", 0.0), ("cotangent", 0.0),
                                                ("combinatorial", 0.3)])
def test_dashboard_trains_exports_and_reruns_every_kind(app, laplacian, holdout):
    at = app.switch_page("pages/data.py").run()
    next(s for s in at.selectbox if s.label == "Laplacian").set_value(laplacian).run()
    next(n for n in at.number_input if n.label == "Embedding size k").set_value(9).run()
    prepared(button(at, "Compute embedding").click().run())
    assert not at.exception and not at.error
    run_id = _train_on_page(at, holdout=holdout)
    from pages.shared.runs import registry

    run = registry().get(run_id)
    assert run.status == "done"
    assert run.spec.features.kind == {"spherical harmonics (exact)": "spherical_harmonics"}.get(laplacian, laplacian)
    assert run.spec.task == ("heldout" if holdout else "fit")

    at.switch_page("pages/results.py").run()
    assert not at.exception and not at.error
    labels = [b.label for b in at.get("download_button")]
    assert {"Prediction (PLY)", "Prediction (reference npz)", "Checkpoint (zip)"} <= set(labels)
    npz, _ = export_run(registry(), run_id, "npz")  # what the npz download serves
    with np.load(io.BytesIO(npz)) as data:
        assert data["fourier"].shape == (2562, 9)
    assert export_run(registry(), run_id, "ply")[0].startswith(b"ply")
    assert zipfile.ZipFile(io.BytesIO(export_run(registry(), run_id, "checkpoint")[0])).namelist()
    _, prediction = predict_run(registry(), run_id)
    np.testing.assert_allclose(prediction, registry().load_predictions(run_id), atol=1e-6)

    button(at, "Re-run this run").click().run()
    assert not at.exception and not at.error
    again = _followed_run(at)
    assert again != run_id
    assert registry().get(again).spec == run.spec and registry().get(again).status == "done"


def test_finished_runs_leave_the_servers_memory(app):
    from pages.shared.runs import _live_jobs, live_jobs

    at = app.switch_page("pages/train.py").run()
    inputs = {n.label: n for n in at.number_input}
    inputs["Time budget (s)"].set_value(2.0)
    inputs["Max steps (0 = no limit)"].set_value(2)
    inputs["Embedding size (k)"].set_value(8)
    for _ in range(20):
        button(at, "Launch training").click().run()
        assert not at.exception and not at.error
        at.session_state.following.join(timeout=60)
    at.run()
    assert not live_jobs() and not _live_jobs()
    from pages.shared.runs import registry

    assert len(registry().list_runs(status="done")) == 20


# --- the reference dataset layout -------------------------------------------------------------------------


def _reference_file(tmp_path):
    """A run exported in the reference layout (what `ginr export --format npz` and the Results page write)."""
    registry = Registry()
    state = launch(_request(0), registry, start=False).run()
    path = tmp_path / "sample.npz"
    path.write_bytes(export_run(registry, state.run_id, "npz")[0])
    return path, state


def test_cli_trains_on_an_exported_reference_file(tmp_path, capsys):
    path, state = _reference_file(tmp_path)
    assert main(["train", "--reference", str(path), "--k", "16", "--steps", "5", "--layers", "3", "--hidden", "16"]) == 0
    run_id = capsys.readouterr().out.split("run ", 1)[1].split(":", 1)[0]
    inputs = Registry().load_inputs(run_id)
    np.testing.assert_allclose(inputs.target, state.result.prediction)  # the exported target: the prediction
    assert inputs.mesh.n_faces == _request(0).inputs.mesh.n_faces
    assert Registry().get(run_id).spec.domain.kind == "reference"


def test_reference_files_without_a_mesh_or_a_target_are_refused(tmp_path, capsys):
    np.savez(tmp_path / "no_faces.npz", fourier=np.ones((4, 2)), target=np.ones(4))
    np.savez(tmp_path / "no_target.npz", fourier=np.ones((4, 2)))
    assert main(["train", "--reference", str(tmp_path / "no_faces.npz")]) == 2
    assert "no points and faces" in capsys.readouterr().err
    assert main(["train", "--reference", str(tmp_path / "no_target.npz")]) == 2
    assert "no 'target'" in capsys.readouterr().err


def test_dashboard_imports_a_reference_file(app, tmp_path):
    path, _ = _reference_file(tmp_path)
    at = app.switch_page("pages/data.py").run()
    at.radio[0].set_value("Reference dataset file (.npz)").run()
    at.file_uploader[0].upload("sample.npz", path.read_bytes()).run()
    assert not at.exception and not at.error
    ws = at.session_state.workspace
    assert ws.mesh.n_vertices == _request(0).inputs.mesh.n_vertices and ws.signal_source.kind == "reference"
    at.file_uploader[0].upload("bad.npz", b"PK\x03\x04 broken").run()
    assert any("not a valid .npz" in e.value for e in at.error)
    assert at.session_state.workspace.mesh.n_vertices == ws.mesh.n_vertices  # the previous workspace is kept


# --- workspaces that survive a reload -------------------------------------------------------------------------


def test_workspace_store_round_trip_and_refuses_foreign_ids():
    from ginr_core.geometry.domains import latlon_sphere
    from ginr_core.io.workspaces import (
        SavedWorkspace,
        load_workspace,
        new_workspace_id,
        save_workspace,
    )

    mesh = latlon_sphere(11, 12)
    ws_id = new_workspace_id()
    last_launch = _request(3).spec().to_dict()  # the settings the Train page starts from after a reload or a restart
    save_workspace(ws_id, SavedWorkspace(mesh, "grid", ["a note"], mesh.vertices[:, 2], "height",
                                         {"domain": {"kind": "builtin", "name": "latlon_sphere"}}, ("combinatorial", 8),
                                         last_launch))
    saved = load_workspace(ws_id)
    assert RunSpec.from_dict(saved.last_launch) == _request(3).spec()
    np.testing.assert_array_equal(saved.mesh.vertices, mesh.vertices)
    np.testing.assert_array_equal(saved.mesh.vertex_data["lat"], mesh.vertex_data["lat"])  # grids stay grids
    assert (saved.mesh_label, saved.notes, saved.signal_label, saved.embedding) == ("grid", ["a note"], "height", ("combinatorial", 8))
    for foreign in ("../../etc", "", "0" * 31, ws_id.upper(), new_workspace_id()):
        assert load_workspace(foreign) is None
    with pytest.raises(ValueError):
        save_workspace("../escape", saved)


def test_workspaces_unused_for_the_expiry_are_swept_and_used_ones_kept(monkeypatch):
    import os
    import time

    from ginr_core.geometry.domains import latlon_sphere
    from ginr_core.io.workspaces import SavedWorkspace, expire_workspaces, load_workspace, new_workspace_id, save_workspace

    mesh = latlon_sphere(11, 12)
    old, fresh, reopened = (new_workspace_id() for _ in range(3))
    for ws_id in (old, fresh, reopened):
        save_workspace(ws_id, SavedWorkspace(mesh, ws_id))
    eight_days_ago = time.time() - 8 * 86400
    for ws_id in (old, reopened):
        folder = next(p for p in (Path(os.environ["GINR_CACHE_DIR"]) / "workspaces").iterdir() if p.name == ws_id)
        os.utime(folder / "workspace.json", (eight_days_ago, eight_days_ago))
    assert load_workspace(reopened) is not None  # opening a link counts as use
    assert expire_workspaces() == [old]
    assert load_workspace(old) is None and load_workspace(fresh).mesh_label == fresh
    monkeypatch.setenv("GINR_WORKSPACE_DAYS", "1")
    assert sorted(expire_workspaces(now=time.time() + 2 * 86400)) == sorted([fresh, reopened])


def test_the_workspace_survives_a_browser_reload(app):
    at = app.switch_page("pages/data.py").run()
    at.selectbox[0].set_value("torus").run()
    button(at, "Use this domain").click().run()
    at.radio[1].set_value("Analytic").run()
    next(s for s in at.selectbox if s.label == "Function").set_value("height").run()
    button(at, "Use this signal").click().run()
    prepared(button(at, "Compute embedding").click().run())
    at.run()  # the embedding is saved at the next rerun
    ws_id = at.query_params["ws"][0] if isinstance(at.query_params["ws"], list) else at.query_params["ws"]
    assert ws_id == at.session_state.workspace.store_id

    from conftest import APP
    from streamlit.testing.v1 import AppTest

    reloaded = AppTest.from_file(APP, default_timeout=120)  # a new browser session on the same URL
    reloaded.query_params["ws"] = ws_id
    reloaded.run()
    reloaded.switch_page("pages/data.py").run()
    assert not reloaded.exception
    ws = reloaded.session_state.workspace
    assert ws.mesh_label.startswith("torus") and ws.signal_label == "analytic: height"
    assert ws.signal_function is not None and ws.embedding is not None and ws.embedding.k == 100
    assert reloaded.metric[0].value == "4,608"

    fresh = AppTest.from_file(APP, default_timeout=120).switch_page("pages/data.py").run()
    assert fresh.session_state.workspace.store_id != ws_id  # another visitor gets a workspace of their own
    assert fresh.metric[0].value == "2,562"


def test_an_interrupted_run_is_shown_with_its_curves_and_can_be_rerun(app):
    import os
    import subprocess
    import sys

    from conftest import APP  # noqa: F401 - the app fixture points the registry at this test's folder

    registry = Registry()
    request = _request(0)
    run_id = registry.create_run(request.spec(), request.inputs)
    registry.save_history(run_id, [{"step": 5, "loss": 0.5, "r2": 0.5, "lr": 1e-3, "elapsed_s": 1.0},
                                   {"step": 10, "loss": 0.2, "r2": 0.8, "lr": 1e-3, "elapsed_s": 2.0}])
    # the run's owner dies: the index row says "running" for a pid that is gone
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    import sqlite3

    with sqlite3.connect(registry.db_path) as db:
        db.execute("UPDATE runs SET pid = ? WHERE id = ?", (int(dead.stdout), run_id))
    assert Registry().get(run_id).status == "interrupted" and os.path.exists(registry.run_dir(run_id) / "history.json")

    at = app.switch_page("pages/train.py").run()
    table = at.dataframe[0].value
    assert table.loc[table["id"] == run_id, "R²"].item() == 0.8  # the latest training R², not "None"
    at.switch_page("pages/results.py").run()
    assert not at.exception and not at.error
    assert any("interrupted" in w.value for w in at.warning)
    assert scene_views(at) and charts(at)  # the signal (scene view) and the saved learning curve
    button(at, "Re-run this run").click().run()
    assert not at.exception and _followed_run(at) != run_id


def test_data_preparation_runs_as_a_job_that_reports_and_a_cancel_stops_at_its_next_report():
    from ginr_core.data.signals import GrayScottParams, gray_scott_texture

    mesh = icosphere(3)
    params = GrayScottParams(steps=2000)
    job = Job(call_task, Call(gray_scott_texture, (mesh, params), {"cache": False})).start()
    state = job.join(timeout=60)
    assert state.status == "done" and state.progress is not None and state.progress.fraction > 0.5
    np.testing.assert_array_equal(state.result, gray_scott_texture(mesh, params, cache=False))

    started = threading.Event()

    def reports_until_cancelled(progress):
        for step in range(1_000_000):
            started.set()
            progress(step / 1_000_000, f"step {step}")
        return "never"

    job = Job(call_task, Call(reports_until_cancelled)).start()
    started.wait(10)
    job.cancel()
    assert job.join(timeout=10).status == "cancelled" and job.state.result is None
    failing = Job(call_task, Call(gray_scott_texture, (mesh, replace(params, Du=5.0, Dv=5.0)), {"cache": False})).run()
    assert failing.status == "failed" and "blew up" in failing.error
