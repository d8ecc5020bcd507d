"""Signal collections: building them from every source (and their errors), the shared model with per-signal
codes, fit-new with frozen shared weights, code interpolation, the explorer's data and the CLI."""

import io
import pickle

import numpy as np
import pytest
import torch
from conftest import shared_file

from ginr_core.cli import main
from ginr_core.data.collections import (
    Collection,
    choose_held_out,
    collection_from_files,
    collection_from_npz,
    default_held_out,
    gray_scott_collection,
    grid_collection,
    max_held_out,
)
from ginr_core.errors import GinrError
from ginr_core.geometry.domains import make_domain
from ginr_core.geometry.features import FeatureSpec
from ginr_core.learning.collection_models import CodeFitConfig, CollectionRegressor, random_features_for
from ginr_core.learning.model_config import CodesConfig, EncoderConfig, MLPConfig, ModelConfig
from ginr_core.learning.models import CodeDecoder
from ginr_core.learning.training import TrainConfig
from ginr_core.runs.actions import export_run, predict_run, rerun_request, run_features, submit
from ginr_core.runs.registry import Registry
from ginr_core.runs.spec import Source
from ginr_core.tasks.collections import (
    CollectionRequest,
    FitNewRequest,
    collection_task,
    compression,
    fit_new_member,
    fit_new_task,
    fixed_part_fit,
    input_model_config,
    interpolated_member,
    latent_projection,
    load_collection_run,
    neighbours,
    score_held_out,
    span_fit,
    train_collection,
    walk,
)


@pytest.fixture(scope="module")
def mesh():
    return make_domain("icosphere", level=2)  # 162 nodes


def analytic_family(mesh, n=8):
    """Smooth fields that change smoothly with a parameter p: a low-dimensional family, as collections suit."""
    x, y, z = mesh.vertices.T
    p = np.linspace(0, 1, n)
    values = np.stack([np.sin(2 * x + 2 * q) + np.cos(3 * y - 2 * q) + q * z for q in p])
    return Collection(values, [f"p={q:.3f}" for q in p], {"p": p}, "analytic")


def npy_bytes(values) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(values))
    return buffer.getvalue()


SPECTRAL = FeatureSpec("combinatorial", 16)


def tiny_train(steps=150):
    return TrainConfig(steps=steps, time_budget_s=None, lr=5e-3, snapshot_every_s=None, threads=1)


def code_fit(steps):
    return CodeFitConfig(steps=steps, time_budget_s=None, threads=1)


# -- building collections ------------------------------------------------------------------------------------


def test_a_member_is_validated_and_named_in_errors(mesh):
    family = analytic_family(mesh)
    bad = family.values.copy()
    bad[3, 5] = np.nan
    with pytest.raises(GinrError, match="Member 'p=0.429'.*NaN"):
        Collection(bad, family.names)
    flat = family.values.copy()
    flat[2] = 1.5
    with pytest.raises(GinrError, match="Member 'p=0.286' is constant"):
        Collection(flat, family.names)
    with pytest.raises(GinrError, match="one name per member"):
        Collection(family.values, family.names[:-1])
    with pytest.raises(GinrError, match="Metadata 'p'"):
        Collection(family.values, family.names, {"p": np.arange(3)})


def test_gray_scott_family_is_cached_and_dead_textures_are_refused(monkeypatch):
    mesh = make_domain("icosphere", level=3)  # textures die out on smaller spheres
    collection = gray_scott_collection(mesh, F=[0.048, 0.052], k=[0.062], seeds=[1, 2], steps=4000)
    assert collection.values.shape == (4, mesh.n_vertices)
    assert collection.names[0] == "F=0.048 k=0.062 seed=1" and set(collection.metadata) == {"F", "seed"}
    import ginr_core.data.signals as module

    monkeypatch.setattr(module, "gray_scott", lambda *a, **kw: pytest.fail("not read from the cache"))
    again = gray_scott_collection(mesh, F=[0.048, 0.052], k=[0.062], seeds=[1, 2], steps=4000)
    np.testing.assert_array_equal(again.values, collection.values)
    monkeypatch.undo()
    with pytest.raises(GinrError, match="Member 'F=0.02 k=0.062': the Gray-Scott texture died out"):
        gray_scott_collection(mesh, F=[0.02], k=[0.062], steps=3000, cache=False)


def test_signal_files_name_the_bad_member(mesh):
    family = analytic_family(mesh, 3)
    files = [(npy_bytes(v), f"{name}.npy") for v, name in zip(family.values, family.names)]
    collection = collection_from_files(files, mesh)
    assert collection.names == [f"{n}.npy" for n in family.names] and collection.n_members == 3
    with pytest.raises(GinrError, match="short.npy has 10 values but the mesh has 162 vertices"):
        collection_from_files(files + [(npy_bytes(np.arange(10.0)), "short.npy")], mesh)
    with pytest.raises(GinrError, match="same name"):
        collection_from_files(files + files[:1], mesh)


def test_npz_round_trip_and_its_errors(mesh):
    family = analytic_family(mesh, 4)
    file_mesh, back = collection_from_npz(family.npz_bytes(mesh), "family.npz")
    np.testing.assert_allclose(back.values, family.values, rtol=1e-6)
    assert back.names == family.names and np.allclose(back.metadata["p"], family.metadata["p"])
    assert file_mesh.n_vertices == mesh.n_vertices
    buffer = io.BytesIO()
    np.savez(buffer, a=family.values, b=family.values)
    with pytest.raises(GinrError, match="several 2-D arrays"):
        collection_from_npz(buffer.getvalue(), "two.npz", mesh)
    buffer = io.BytesIO()
    np.savez(buffer, values=family.values)
    with pytest.raises(GinrError, match="no mesh"):
        collection_from_npz(buffer.getvalue(), "plain.npz")
    buffer = io.BytesIO()
    np.savez(buffer, first=family.values[0], second=family.values[1][:-1])  # 1-D members, one too short
    with pytest.raises(GinrError, match="Member 'second' has 161 values"):
        collection_from_npz(buffer.getvalue(), "members.npz", mesh)


def test_netcdf_gives_every_variable_level_and_month():
    from ginr_core.data.gridded import open_grid

    with open_grid(shared_file("eraint_uvz.nc")) as grid:
        mesh, collection = grid_collection(grid, stride=16)
    assert collection.n_members == 18 and mesh.n_vertices == collection.n_nodes == 16 * 30
    assert set(collection.metadata) == {"variable", "level", "month"}
    assert "z month=1 level=500" in collection.names


# -- models ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(mesh):
    """8 analytic members, 2 held out (with neighbours on both sides), a low-rank collection model."""
    family = analytic_family(mesh)
    features = SPECTRAL.build(mesh)
    held = choose_held_out(family, 2, "p")
    fit = train_collection(features, family, held, input_model_config(SPECTRAL, "lowrank", rank=4, hidden=32),
                           tiny_train(), along="p")
    return family, features, fit


def test_a_small_collection_trains_to_a_high_mean_r2(trained):
    family, features, fit = trained
    assert list(np.flatnonzero(~fit.trained)) == [1, 5]
    assert fit.member_r2[fit.trained].mean() > 0.99
    assert np.isnan(fit.member_r2[~fit.trained]).all()  # not scored until fitted
    assert fixed_part_fit(fit.regressor, features, family.values[1]) is None  # only heads have an untrained part


@pytest.mark.parametrize("modulation", ["lowrank", "latent", "both"])
def test_the_cached_decoder_gives_the_networks_outputs(mesh, modulation):
    """CodeDecoder caches what a code does not change; its outputs must be the full forward pass's."""
    import torch

    from ginr_core.learning.fields import build_model

    features = SPECTRAL.build(mesh)
    codes = {"lowrank": dict(rank=3), "latent": dict(latent_dim=5), "both": dict(rank=2, latent_dim=4)}[modulation]
    config = ModelConfig(EncoderConfig(k=SPECTRAL.k), MLPConfig(hidden=32), CodesConfig(n_signals=3, **codes))
    model = build_model(config, features, seed=1)
    with torch.no_grad():
        model.codes.normal_(0, 0.3, generator=torch.Generator().manual_seed(2))
        x = torch.as_tensor(features, dtype=torch.float32)
        code = model.codes[1:2]
        torch.testing.assert_close(CodeDecoder(model, x)(code), model(x, code=code), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(model(x, signal=torch.ones(len(x), dtype=torch.long)), model(x, code=code))


def test_fit_new_learns_only_the_code(trained):
    family, features, fit = trained
    before = {k: v.clone() for k, v in fit.regressor.field.state_dict().items()}
    new, held = fit_new_member(fit.regressor, features, family.values[5], code_fit(60))
    after = fit.regressor.field.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # shared weights and training codes bit-identical
    assert all(p.requires_grad for p in fit.regressor.field.parameters())  # unfrozen again afterwards
    assert new.r2 > 0.99 and new.time_to_target_s is not None
    assert held.start in (3, 4)  # started from a neighbour's code (p=0.429 or p=0.857 among the trained members)
    np.testing.assert_allclose(new.prediction, fit.regressor.decode(features, held.code, held.mean, held.std), atol=1e-5)


def test_lbfgs_beats_adam_at_equal_steps(trained):
    """The reason fit-new uses L-BFGS: on a code (a small smooth problem) it gets further in the same steps."""
    family, features, fit = trained
    lbfgs, _ = fit_new_member(fit.regressor, features, family.values[1], CodeFitConfig(steps=15, time_budget_s=None, start="mean"))
    adam, _ = fit_new_member(fit.regressor, features, family.values[1],
                             CodeFitConfig(steps=15, time_budget_s=None, start="mean", optimizer="adam"))
    assert lbfgs.r2 > adam.r2 + 0.02  # 0.979 against 0.941: a clear win, not a tie broken by rounding


def test_fit_new_stops_at_its_target(trained):
    family, features, fit = trained
    new, _ = fit_new_member(fit.regressor, features, family.values[5], CodeFitConfig(steps=500, time_budget_s=None, stop_at=0.9))
    assert new.history[-1]["r2"] >= 0.9 and all(row["r2"] < 0.9 for row in new.history[:-1]) and new.steps < 500


def test_interpolated_codes_give_a_field(trained):
    family, features, fit = trained
    members, weights = neighbours(family, 5, fit.trained, "p")
    assert members == [4, 6] and weights == pytest.approx([0.5, 0.5])
    interp = interpolated_member(fit, features, 5, "p")
    assert interp.prediction.shape == (family.n_nodes,) and np.isfinite(interp.prediction).all()
    assert interp.r2 > 0.5  # a smooth family: the blend of the neighbours' codes is close
    with pytest.raises(GinrError, match="no trained neighbour on both sides"):
        neighbours(family, 0, fit.trained, "p")


def test_held_out_scores_projection_walk_and_compression(mesh):
    family = analytic_family(mesh, 6)
    xyz = FeatureSpec("xyz")
    features = xyz.build(mesh)
    fit = train_collection(features, family, [2], input_model_config(xyz, "latent", latent_dim=8, hidden=32), tiny_train(100), along="p")
    score_held_out(fit, features, code_fit(20))
    (held,) = fit.held_out
    assert held.member == 2 and held.interpolated is not None and np.isfinite(fit.member_r2).all()
    coords, explained = latent_projection(fit.codes())
    assert coords.shape == (6, 2) and 0 < explained.sum() <= 1 + 1e-9
    start = walk(fit, features, 0, 5, 0.0)
    np.testing.assert_allclose(start, fit.prediction[0], atol=1e-4)
    numbers = compression(fit)
    assert numbers["raw_bytes"] == 4 * 6 * mesh.n_vertices
    assert numbers["compression"] == pytest.approx(numbers["raw_bytes"] / (numbers["shared_bytes"] + numbers["code_bytes"]))
    assert {"mean_r2", "worst_r2", "heldout_r2", "heldout_interp_r2", "compression"} <= set(fit.summary())


def test_save_and_load_keep_the_predictions(trained, tmp_path):
    _, features, fit = trained
    fit.regressor.save(tmp_path)
    back = CollectionRegressor.load(tmp_path)
    np.testing.assert_allclose(back.predict(features), fit.regressor.predict(features), atol=1e-6)


def test_a_heads_collection_fits_a_new_member_by_one_solve(mesh, tmp_path):
    """heads: each member is its own output row on a shared trunk; a new member's row is a least-squares solve
    (exact, so one step), the trunk and the training rows stay bit-identical, and save / load keep it all."""
    family = analytic_family(mesh)
    features = SPECTRAL.build(mesh)
    held = choose_held_out(family, 2, "p")
    config = input_model_config(SPECTRAL, "heads", hidden=32)
    fit = train_collection(features, family, held, config, tiny_train(), along="p")
    assert fit.member_r2[fit.trained].mean() > 0.99
    sines = random_features_for(config, mesh.n_vertices)
    assert sines == mesh.n_vertices // 4  # a quarter of the nodes at most
    # every hidden layer, the input, its random sines, a bias
    assert fit.regressor.codes_.shape == (6, 3 * 32 + features.shape[1] + sines + 1)
    # the sines are redrawn on every build: a checkpoint holds only a check of the draw
    assert [k for k in fit.regressor.field.state_dict() if "random" in k] == ["mlp.random_sines.draw_check"]
    # the trunk's rows show the members' R² estimated from its own; the last row, after the solve, is exact
    assert fit.regressor.history_[-1]["r2"] == pytest.approx(fit.member_r2[fit.trained].mean(), abs=1e-5)
    np.testing.assert_allclose(fit.regressor.predict(features), fit.prediction[fit.trained], atol=1e-4)
    before = {k: v.clone() for k, v in fit.regressor.field.state_dict().items()}
    new, member = fit_new_member(fit.regressor, features, family.values[5], code_fit(60))
    assert all(torch.equal(before[k], v) for k, v in fit.regressor.field.state_dict().items())
    assert new.r2 > 0.99 and new.steps == 1
    basis = fit.regressor.decoder(features).basis.double()  # the ridge's normal equations agree with an SVD solve
    y = torch.as_tensor((family.values[5] - member.mean) / member.std).reshape(-1, 1)
    exact = torch.linalg.lstsq(basis, y, driver="gelsd").solution
    assert float(((basis @ torch.as_tensor(member.code).reshape(-1, 1) - y) ** 2).mean()) == pytest.approx(
        float(((basis @ exact - y) ** 2).mean()), abs=1e-7)
    np.testing.assert_allclose(new.prediction, fit.regressor.decode(features, member.code, member.mean, member.std), atol=1e-5)
    alone = fixed_part_fit(fit.regressor, features, family.values[5])  # no trained layer: a subset of the basis
    assert alone.steps == 1 and alone.r2 <= new.r2 + 1e-6
    solver = fit.regressor.head_solver(features)  # kept from training for these nodes, by content
    assert fit.regressor.head_solver(features.copy()) is solver
    assert fit.regressor.head_solver(features * 1.01) is not solver
    fit.regressor.save(tmp_path)
    back = CollectionRegressor.load(tmp_path)
    np.testing.assert_allclose(back.predict(features), fit.regressor.predict(features), atol=1e-6)
    assert back.shared_parameters() == fit.regressor.shared_parameters() < sum(p.numel() for p in back.field.parameters())
    assert back.fixed_ridge_ == fit.regressor.fixed_ridge_ and back.head_ridge_ == fit.regressor.head_ridge_
    copied = pickle.loads(pickle.dumps(fit.regressor))  # to a worker process: without the kept basis and factors
    assert getattr(copied, "_domain", None) is None
    np.testing.assert_allclose(copied.predict(features), fit.regressor.predict(features), atol=1e-6)
    state = torch.load(tmp_path / "model.pt")  # sines drawn differently (another torch): refused, not decoded
    state["mlp.random_sines.draw_check"] += 1.0
    torch.save(state, tmp_path / "model.pt")
    with pytest.raises(GinrError, match="drawn differently"):
        CollectionRegressor.load(tmp_path)


def test_a_collection_model_needs_codes(mesh):
    with pytest.raises(GinrError, match="code size"):
        input_model_config(SPECTRAL, "lowrank", rank=0)
    with pytest.raises(GinrError, match="Unknown readout"):
        input_model_config(SPECTRAL, "heads", readout="middle")
    with pytest.raises(GinrError, match="heads collection"):
        input_model_config(SPECTRAL, "lowrank", readout="all")
    with pytest.raises(GinrError, match="Random features"):
        input_model_config(SPECTRAL, "heads", readout="last")
    with pytest.raises(GinrError, match="Hold out between"):
        choose_held_out(analytic_family(mesh), 8)


def grid_family(mesh, n_F, n_k):
    """A Gray-Scott-like family: one member per (F, k), metadata F and k."""
    F, k = (a.reshape(-1) for a in np.meshgrid(np.arange(n_F), np.arange(n_k), indexing="ij"))
    values = np.stack([np.sin(mesh.vertices[:, 0] * (1 + f) + kk) for f, kk in zip(F, k)])
    return Collection(values, [f"F{f} k{kk}" for f, kk in zip(F, k)], {"F": F * 1.0, "k": k * 1.0}, "grid")


@pytest.mark.parametrize("n_F, n_k", [(2, 2), (4, 2), (3, 1), (5, 3)])
def test_the_default_held_out_count_can_be_held_out(mesh, n_F, n_k):
    family = grid_family(mesh, n_F, n_k)
    for along in family.metadata:
        n = default_held_out(family, along)
        assert n <= max_held_out(family, along)
        assert len(choose_held_out(family, n, along)) == n
        with pytest.raises(GinrError, match="hold out fewer"):
            choose_held_out(family, max_held_out(family, along) + 1, along)
    assert max_held_out(grid_family(mesh, 4, 2), "F") == 2 and max_held_out(grid_family(mesh, 2, 2), "F") == 0


# -- the job contract and recorded runs ----------------------------------------------------------------------------


def test_collection_task_records_a_run_that_single_run_actions_refuse(mesh):
    family = analytic_family(mesh, 6)
    registry = Registry()
    request = CollectionRequest(mesh, family, SPECTRAL, input_model_config(SPECTRAL, "lowrank", rank=4, hidden=32), tiny_train(),
                                (2,), "p", code_fit(40), scratch_budget_s=2.0, domain=Source("builtin", "icosphere"),
                                signal=Source("generated", "analytic family"))
    state = submit(collection_task, request, registry, label="collection", start=False).run()
    assert state.status == "done" and state.run_id is not None, state.error
    fit = state.result
    assert fit.run_id == state.run_id and fit.held_out[0].scratch is not None and "fit_new_speedup" in fit.summary()
    assert {"training", "p=0.400 · fit-new", "p=0.400 · scratch"} <= set(state.parts)
    run = registry.get(state.run_id)
    assert run.status == "done" and run.spec.task == "collection" and run.description["task"] == "collection"
    assert run.metrics["r2"] == pytest.approx(fit.summary()["mean_r2"]) and registry.load_history(state.run_id)
    recorded = load_collection_run(registry, state.run_id)
    np.testing.assert_allclose(recorded.members["codes"], fit.codes(), atol=1e-6)
    assert recorded.names == family.names and recorded.spec.options["held_out"] == ["p=0.400"]
    np.testing.assert_allclose(registry.load_predictions(state.run_id), fit.prediction)
    for action in (lambda: rerun_request(registry, state.run_id), lambda: run_features(registry, state.run_id),
                   lambda: predict_run(registry, state.run_id), lambda: export_run(registry, state.run_id, "ply")):
        with pytest.raises(GinrError, match="`ginr collection`"):
            action()
    assert export_run(registry, state.run_id, "checkpoint")[1].endswith(".zip")

    new = submit(fit_new_task, FitNewRequest(state.run_id, family.values[2], 1.0, signal=Source("member", "p=0.400")),
                 registry, start=False).run()
    assert new.status == "done", new.error
    result = new.result
    assert result.fit_new.prediction.shape == (mesh.n_vertices,) and result.start_member in family.names
    scratch_run = registry.get(result.scratch_run_id)
    assert scratch_run.spec.task == "fit" and scratch_run.spec.features == SPECTRAL and scratch_run.status == "done"
    with pytest.raises(GinrError, match="not a collection run"):
        load_collection_run(registry, result.scratch_run_id)
    with pytest.raises(GinrError, match="has 10 values but the mesh has 162"):
        fit_new_task(FitNewRequest(state.run_id, np.arange(10.0)), type("Ctx", (), {"registry": registry})())


# -- command line ------------------------------------------------------------------------------------------------


def test_cli_build_train_fit_new_export(mesh, tmp_path, capsys):
    family = analytic_family(mesh, 5)
    paths = []
    for v, name in zip(family.values, family.names):
        paths.append(str(tmp_path / f"{name}.npy"))
        np.save(paths[-1], v)
    out = tmp_path / "family.npz"
    assert main(["collection", "build", "--domain", "icosphere", "--signals", *paths, "--out", str(out)]) == 2  # level 4 != 2
    assert "error: The signal in p=0.000.npy has 162 values but the mesh has 2,562 vertices." in capsys.readouterr().err
    mesh_file = tmp_path / "ico.npz"
    np.savez(mesh_file, values=family.values, vertices=mesh.vertices, faces=mesh.faces)
    assert main(["collection", "build", "--npz", str(mesh_file), "--out", str(out)]) == 0
    assert main(["collection", "train", str(out), "--k", "16", "--steps", "30", "--holdout", "1", "--new-budget", "1",
                 "--compare", "--hidden", "32"]) == 0
    printed = capsys.readouterr().out
    assert "held-out members" in printed and "member 1 " in printed and "compression:" in printed
    run_id = printed.split("run ", 1)[1].split(":", 1)[0]
    assert main(["collection", "fit-new", run_id, "--signal", paths[2], "--budget", "1", "--out", str(tmp_path / "p.npy")]) == 0
    assert np.load(tmp_path / "p.npy").shape == (mesh.n_vertices,)
    assert main(["collection", "export", run_id, "--out", str(tmp_path / "codes.npz")]) == 0
    with np.load(tmp_path / "codes.npz") as codes:
        assert codes["codes"].shape[0] == 5 and codes["pca"].shape == (5, 2) and codes["trained"].sum() == 4
    capsys.readouterr()
    assert main(["collection", "fit-new", "no-such-run", "--signal", paths[0]]) == 2
    assert main(["predict", run_id, "--out", str(tmp_path / "x.npy")]) == 2
    assert "`ginr collection`" in capsys.readouterr().err


def test_the_trained_members_span_is_the_classical_alternative_to_fit_new():
    """A new member inside the trained members' span is reproduced exactly by least squares (no network), one
    outside it is not; the score is the R² on all nodes."""
    rng = np.random.default_rng(0)
    trained = rng.normal(size=(4, 300))
    inside = 3.0 * trained[0] - 2.0 * trained[2] + 5.0
    assert span_fit(trained, inside).r2 == pytest.approx(1.0)
    assert span_fit(trained, inside).time_to_target_s is not None
    outside = span_fit(trained, rng.normal(size=300))
    assert outside.r2 < 0.1 and outside.time_to_target_s is None and outside.prediction.shape == (300,)
