import numpy as np
import pytest
import torch
from conftest import shared_file

from ginr_core.data.gridded import open_grid
from ginr_core.errors import GinrError
from ginr_core.geometry.domains import make_domain
from ginr_core.geometry.features import FeatureSpec
from ginr_core.geometry.spectral import spectral_embedding
from ginr_core.learning.model_config import EncoderConfig, MLPConfig, ModelConfig
from ginr_core.learning.rows import SeriesRows
from ginr_core.learning.training import GINRRegressor, TrainConfig
from ginr_core.runs.actions import predict_run
from ginr_core.runs.jobs import Job
from ginr_core.runs.registry import Registry
from ginr_core.tasks.temporal import (
    SeriesRequest,
    TimeSeries,
    fit_time_series,
    gray_scott_series,
    grid_series,
    series_from_files,
    series_model_config,
    series_task,
    series_train_config,
)


@pytest.fixture(scope="module")
def sphere():
    mesh = make_domain("icosphere", level=3)
    return mesh, spectral_embedding(mesh, k=16, cache=False).features


def travelling_wave(mesh, times):
    """A smooth wave moving round the sphere: exact truth at any time."""
    x, y = mesh.vertices[:, 0], mesh.vertices[:, 1]
    return np.stack([np.sin(2 * x + 0.1 * t) + np.cos(y - 0.05 * t) for t in times])


def test_series_training_interpolates_held_out_times(sphere):
    mesh, features = sphere
    times = np.arange(0, 41, 2.0)  # the last frame is trained on: interpolation, not extrapolation
    series = TimeSeries(travelling_wave(mesh, times), times, [f"t = {t:g}" for t in times])
    fit = fit_time_series(features, series, stride=2, model_config=series_model_config(hidden=64),
                          train_config=series_train_config(steps=150, time_budget_s=None, batch_size=None, threads=1))
    assert fit.prediction.shape == (21, mesh.n_vertices)
    assert fit.trained.sum() == 11 and not fit.trained[1::2].any()
    assert fit.held_out["r2"] > 0.999  # frames it never saw
    assert fit.frame_r2()[~fit.trained].min() > 0.99


def test_series_rows_match_flat_rows(sphere):
    """Training on (frame, node) pairs gives exactly what training on the materialised rows gives."""
    mesh, features = sphere
    times = np.array([0.0, 1.0, 3.0])
    values = travelling_wave(mesh, times)
    config = ModelConfig(EncoderConfig(k=8, time_input=True), MLPConfig(hidden=16, n_layers=3))
    train = TrainConfig(steps=5, time_budget_s=None, threads=1, chunk_size=1000, snapshot_every_s=None)
    series = GINRRegressor(config, train).fit_series(features, values, times)
    flat = GINRRegressor(config, train).fit(np.tile(features, (3, 1)), values.reshape(-1), np.repeat(times, len(features)))
    np.testing.assert_allclose(series.predict_series(features, times).reshape(-1),
                               flat.predict(np.tile(features, (3, 1)), np.repeat(times, len(features))), atol=1e-5)


def test_gray_scott_series_frames_and_labels():
    mesh = make_domain("icosphere", level=2)
    series = gray_scott_series(mesh, steps=100, save_every=5)
    assert series.values.shape == (20, mesh.n_vertices)
    assert series.times[:3].tolist() == [0.0, 5.0, 10.0] and series.labels[2] == "t = 10"
    assert series.training_frames(2).tolist()[:4] == [True, False, True, False]


def test_bad_series_are_explained(sphere):
    mesh, features = sphere
    with pytest.raises(GinrError, match="strictly increasing"):
        TimeSeries(np.zeros((2, 5)), [1.0, 1.0], ["a", "b"])
    with pytest.raises(GinrError, match="NaN"):
        TimeSeries(np.full((2, 5), np.nan), [0.0, 1.0], ["a", "b"])
    with pytest.raises(GinrError, match="shape"):
        GINRRegressor().fit_series(features, np.zeros((3, 7)), [0.0, 1.0, 2.0])
    with pytest.raises(GinrError, match="rows"):
        fit_time_series(features[:10], TimeSeries(np.zeros((2, 5)), [0.0, 1.0], ["a", "b"]))


def test_series_job_trains_and_scores_in_the_background(sphere):
    mesh, features = sphere
    times = np.arange(5.0)
    series = TimeSeries(travelling_wave(mesh, times), times, [str(t) for t in times])
    request = SeriesRequest(mesh, series, FeatureSpec("combinatorial", 8), 2, series_model_config(hidden=16),
                            series_train_config(steps=20, time_budget_s=None, threads=1))
    registry = Registry()
    state = Job(series_task, request, registry=registry).start().join(timeout=60)
    assert state.status == "done" and state.history[-1]["step"] == 20
    assert state.result.prediction.shape == (5, mesh.n_vertices) and state.result.held_out is not None
    run = registry.get(state.run_id)
    assert run.spec.task == "series" and run.metrics["r2"] == pytest.approx(state.result.held_out["r2"])
    _, predicted = predict_run(registry, run.id)  # rebuilt from the spec: the same prediction at every frame
    np.testing.assert_allclose(predicted, state.result.prediction, atol=1e-5)


def test_last_frame_is_always_trained_and_single_frames_work(sphere):
    mesh, features = sphere
    times = np.array([10.0, 11.0, 12.0, 13.0])
    series = TimeSeries(travelling_wave(mesh, times), times, [str(t) for t in times])
    assert series.training_frames(2).tolist() == [True, False, True, True]  # frame 3 would be extrapolated
    assert series.training_frames(10).tolist() == [True, False, False, True]
    one = TimeSeries(series.values[:1], times[:1], ["only"])
    fit = fit_time_series(features, one, model_config=series_model_config(k=8, hidden=16),
                          train_config=series_train_config(steps=30, time_budget_s=None, threads=1))
    assert fit.held_out is None and fit.frame_r2()[0] > 0.5  # a time range of one stamp no longer divides by zero


def test_series_rows_gather_the_right_frame_and_node(sphere):
    mesh, features = sphere
    times = np.array([0.0, 1.0, 3.0])
    values = travelling_wave(mesh, times)
    model = GINRRegressor(ModelConfig(EncoderConfig(k=8, time_input=True), MLPConfig(hidden=16)), TrainConfig(steps=1, time_budget_s=None))
    model.fit_series(features, values, times)
    rows = SeriesRows(model.model_, features, times, values.reshape(-1, 1).astype(np.float32))
    picked = torch.tensor([0, 5, mesh.n_vertices + 7, 2 * mesh.n_vertices + 641])
    x, t, _ = rows.inputs(picked)
    node, frame = picked % mesh.n_vertices, picked // mesh.n_vertices
    assert torch.equal(x, rows.x[node]) and t.tolist() == times[frame.numpy()].tolist()
    assert rows.y[picked, 0].tolist() == pytest.approx(values[frame.numpy(), node.numpy()].tolist(), rel=1e-6)


def test_a_model_without_time_input_refuses_to_predict_a_series(sphere):
    mesh, features = sphere
    flat = GINRRegressor(ModelConfig(EncoderConfig(k=8), MLPConfig(hidden=16)), TrainConfig(steps=1, time_budget_s=None)).fit(features, mesh.vertices[:, 0])
    with pytest.raises(GinrError, match="no time input"):
        flat.predict_series(features, [0.0, 1.0])


def test_era_levels_as_a_series():
    grid = open_grid(shared_file("eraint_uvz.nc"))
    mesh, series = grid_series(grid, "z", "level", stride=4, month=0)
    assert series.times.tolist() == [200.0, 500.0, 850.0]
    assert mesh.n_vertices == series.n_nodes == 61 * 120
    assert series.values[0].mean() > series.values[2].mean()  # geopotential grows with height
    np.testing.assert_allclose(series.values[1], grid.field("z", month=0, level=1).reshape(241, 480)[::4, ::4].reshape(-1))


def test_series_from_files_sorts_by_time_and_checks_counts(sphere, tmp_path):
    mesh, _ = sphere
    waves = travelling_wave(mesh, [0.0, 1.0, 2.0])
    files = []
    for i in (2, 0, 1):  # uploaded out of order
        path = tmp_path / f"frame{i}.npy"
        np.save(path, waves[i])
        files.append((str(path), path.name))
    series = series_from_files(files, mesh, times=[2.0, 0.0, 1.0])
    np.testing.assert_allclose(series.values, waves)
    assert series.labels[0] == "frame0.npy (t = 0)"
    with pytest.raises(GinrError, match="one time stamp per file"):
        series_from_files(files, mesh, times=[0.0, 1.0])
    with pytest.raises(GinrError, match="strictly increasing"):
        series_from_files(files, mesh, times=[1.0, 1.0, 2.0])
    np.save(tmp_path / "short.npy", np.arange(5.0))
    with pytest.raises(GinrError, match="5 values"):
        series_from_files([(str(tmp_path / "short.npy"), "short.npy")], mesh)
