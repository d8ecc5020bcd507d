"""Partitions, partitioned (Local-Global) models, crop and extend, on a small icosphere."""

import numpy as np
import pytest
import torch
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ginr_core.data.signals import analytic_signal
from ginr_core.errors import GinrError
from ginr_core.geometry.domains import make_domain
from ginr_core.geometry.partition import PARTITION_METHODS, Partition, partition_mesh
from ginr_core.geometry.spectral import spectral_embedding
from ginr_core.learning.model_config import EncoderConfig, MLPConfig, ModelConfig, PartitionConfig
from ginr_core.learning.fields import config_parameters, equal_size_configs, parameter_count
from ginr_core.learning.partitioned import PartNets, as_members
from ginr_core.learning.training import GINRRegressor, TrainConfig
from ginr_core.tasks.crop import crop, extend

K = 24
FAST = dict(time_budget_s=None, threads=1, snapshot_every_s=None)


@pytest.fixture(scope="module")
def sphere():
    mesh = make_domain("icosphere", level=3)  # 642 nodes
    return mesh, spectral_embedding(mesh, k=K, cache=False).features, analytic_signal(mesh, "sines")


def configs(n_parts=8):
    return equal_size_configs(ModelConfig(EncoderConfig(k=K), MLPConfig(hidden=48)), K, n_parts)


@pytest.fixture(scope="module", params=[0, 1], ids=["no-overlap", "overlap"])
def trained(request, sphere):
    mesh, features, target = sphere
    partition = partition_mesh(mesh, 8, "spectral", features=features, overlap=request.param)
    reg = GINRRegressor(configs()["local_global"], TrainConfig(steps=200, **FAST)).fit(features, target, parts=partition)
    return reg, partition


# -- partitions --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", PARTITION_METHODS)
def test_partitions_are_deterministic_and_cover_every_node_once(sphere, method):
    mesh, features, _ = sphere
    a = partition_mesh(mesh, 6, method, features=features, seed=3)
    b = partition_mesh(mesh, 6, method, features=features, seed=3)
    assert np.array_equal(a.labels, b.labels)
    assert a.labels.shape == (mesh.n_vertices,) and a.n_parts == 6
    assert a.sizes().sum() == mesh.n_vertices and (a.sizes() > 0).all()
    assert a.members.shape == (mesh.n_vertices, 1) and np.array_equal(a.members[:, 0], a.labels)


def test_spectral_parts_are_connected_patches(sphere):
    mesh, features, _ = sphere
    a = partition_mesh(mesh, 6, "spectral", features=features, seed=0)
    edges = mesh.edges()
    for part in range(a.n_parts):
        nodes = np.flatnonzero(a.labels == part)
        inside = np.isin(edges, nodes).all(axis=1)
        index = {node: i for i, node in enumerate(nodes)}
        e = np.vectorize(index.get)(edges[inside])
        graph = coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(len(nodes), len(nodes)))
        assert connected_components(graph, directed=False)[0] == 1


def test_overlap_adds_the_neighbouring_parts(sphere):
    mesh, features, _ = sphere
    plain = partition_mesh(mesh, 8, "xyz")
    wide = partition_mesh(mesh, 8, "xyz", overlap=1)
    assert np.array_equal(plain.labels, wide.labels)
    assert np.array_equal(wide.members[:, 0], wide.labels)  # the home part first
    adjacency = mesh.adjacency()
    for node in range(mesh.n_vertices):
        extra = set(wide.members[node, 1:]) - {-1}
        neighbour_parts = set(plain.labels[adjacency[node].indices]) - {plain.labels[node]}
        assert extra == neighbour_parts
    assert (wide.members[:, 1:] >= 0).any()  # borders exist
    assert ((wide.members >= 0).sum(axis=1) == 1).mean() > 0.3  # and interiors too


def test_latlon_tiles_need_a_sphere_and_split_lat_and_lon():
    grid = make_domain("latlon_sphere", n_lat=31, n_lon=60)
    tiles = partition_mesh(grid, 8, "latlon")
    assert tiles.n_parts == 8
    lat_of = {part: np.sign(grid.vertices[tiles.labels == part, 2].mean()) for part in range(8)}
    assert sorted(lat_of.values()) == [-1] * 4 + [1] * 4  # 2 latitude bands x 4 longitude sectors
    with pytest.raises(GinrError, match="not a sphere"):
        partition_mesh(make_domain("torus", n_major=24, n_minor=12), 4, "latlon")


def test_partition_round_trips_through_arrays(sphere):
    mesh, features, _ = sphere
    p = partition_mesh(mesh, 5, "xyz", overlap=2, seed=4)
    q = Partition.from_arrays(p.to_arrays())
    assert np.array_equal(p.members, q.members) and (q.method, q.overlap, q.seed) == ("xyz", 2, 4)


def test_bad_partition_settings_are_explained(sphere):
    mesh, features, _ = sphere
    with pytest.raises(GinrError, match="Unknown partition method"):
        partition_mesh(mesh, 4, "voronoi")
    with pytest.raises(GinrError, match="between 1 and"):
        partition_mesh(mesh, 0, "xyz")
    with pytest.raises(GinrError, match="spectral embedding"):
        partition_mesh(mesh, 4, "spectral")


# -- models ------------------------------------------------------------------------------------------------
def test_batched_local_networks_match_one_network_at_a_time():
    config = ModelConfig(partition=PartitionConfig("per_part", local_hidden=7, local_layers=3))
    nets = PartNets(5, 4, 2, config, torch.Generator().manual_seed(0))
    x = torch.randn(40, 4)
    net = torch.randint(0, 5, (40,), generator=torch.Generator().manual_seed(1))
    expected = []
    for row, p in zip(x, net):
        h = row[None]
        for i, (w, b) in enumerate(zip(nets.weights, nets.biases)):
            h = h @ w[p] + b[p]
            if i < 2:
                h = torch.sin(30.0 * h) if i else torch.sin(90.0 * h)
        expected.append(h[0])
    assert torch.allclose(nets(x, net), torch.stack(expected), atol=1e-5)


def test_equal_size_configs_match_the_plain_network():
    sizes = {kind: config_parameters(c, K, 8) for kind, c in configs().items()}
    assert sizes["local_global"] <= sizes["mlp"] and sizes["per_part"] <= sizes["mlp"]
    assert min(sizes.values()) > 0.9 * sizes["mlp"]
    lg = configs()["local_global"]
    assert config_parameters(ModelConfig(EncoderConfig(k=K), lg.mlp), K) <= 0.1 * sizes["mlp"]


def test_local_global_model_fits_to_r2_above_099(trained, sphere):
    reg, partition = trained
    _, features, target = sphere
    assert reg.score(features, target, parts=partition) > 0.99
    assert reg.model_.config.partition.parts == list(range(8))


def test_per_part_model_fits_and_partitioned_models_need_parts(sphere):
    mesh, features, target = sphere
    partition = partition_mesh(mesh, 8, "xyz")
    reg = GINRRegressor(configs()["per_part"], TrainConfig(steps=150, **FAST)).fit(features, target, parts=partition)
    assert reg.score(features, target, parts=partition) > 0.99
    with pytest.raises(GinrError, match="needs the parts"):
        reg.predict(features)
    with pytest.raises(GinrError, match="needs the parts"):
        GINRRegressor(configs()["per_part"], TrainConfig(steps=1, **FAST)).fit(features, target)
    with pytest.raises(GinrError, match="Only partitioned models"):
        GINRRegressor(configs()["mlp"], TrainConfig(steps=1, **FAST)).fit(features, target, parts=partition)


@pytest.mark.parametrize("kind", ["local_global", "per_part"])
@pytest.mark.parametrize("overlap", [0, 1])
def test_partitioned_output_layers_are_solved_by_least_squares(kind, overlap, sphere):
    """What readout_features gives is what the output layers read (any weights written by set_readout predict
    [H, 1] @ w), and the trainer's solve leaves numpy's least-squares optimum on it (without overlap: with it, the
    trainer's rows are (node, part) pairs, each predicting its own part, not the nodes scored here)."""
    mesh, features, target = sphere
    partition = partition_mesh(mesh, 8, "spectral", features=features, overlap=overlap)
    x, parts = torch.as_tensor(features, dtype=torch.float32), torch.as_tensor(as_members(partition, len(features)))
    model = GINRRegressor(configs()[kind], TrainConfig(steps=3, solve_readout=False, **FAST)).fit(
        features, target, parts=partition).model_
    with torch.no_grad():
        design = torch.cat([model.readout_features(x, None, None, parts), torch.ones(len(x), 1)], dim=1).double()
        w = 0.1 * torch.randn(design.shape[1], 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        model.set_readout(w)
        np.testing.assert_allclose(model(x, None, None, parts).double().numpy(), (design @ w).numpy(), atol=1e-5)

    if overlap:
        return
    solved = GINRRegressor(configs()[kind], TrainConfig(steps=10, **FAST)).fit(features, target, parts=partition)
    with torch.no_grad():
        design = torch.cat([solved.model_.readout_features(x, None, None, parts), torch.ones(len(x), 1)], dim=1).double()
    y = torch.as_tensor((target - target.mean()) / target.std())[:, None].double()  # the trainer's standardised target
    best, *_ = np.linalg.lstsq(design.numpy(), y.numpy(), rcond=None)
    optimum = float(np.mean((design.numpy() @ best - y.numpy()) ** 2))
    assert 1 - solved.score(features, target, parts=partition) == pytest.approx(optimum, rel=0.05, abs=1e-6)


def test_a_solved_local_global_model_needs_a_third_of_the_steps(sphere):
    """Ten steps and the solve beat thirty steps without it (R² 0.998 against 0.83 on this sphere when written)."""
    mesh, features, target = sphere
    partition = partition_mesh(mesh, 8, "spectral", features=features)
    fit = {solve: GINRRegressor(configs()["local_global"], TrainConfig(steps=steps, solve_readout=solve, **FAST)).fit(
        features, target, parts=partition).score(features, target, parts=partition) for steps, solve in ((10, True), (30, False))}
    assert fit[True] > 0.99 and fit[True] > fit[False] + 0.05


# -- crop and extend ---------------------------------------------------------------------------------------
def test_crop_removes_exactly_two_parts_weights(trained, sphere, tmp_path):
    reg, partition = trained
    _, features, target = sphere
    cropped, report = crop(reg, features, target, partition, [3, 5])
    per_part = reg.model_.local_parameters_per_part()
    assert report.params_before == parameter_count(reg.model_)
    assert report.params_after == report.params_before - 2 * per_part == parameter_count(cropped.model_)
    assert cropped.model_.config.partition.parts == [0, 1, 2, 4, 6, 7]
    old, new = reg.model_.local_groups[0], cropped.model_.local_groups[0]
    for a, b in zip([*old.weights, *old.biases], [*new.weights, *new.biases]):
        assert torch.equal(a[[0, 1, 2, 4, 6, 7]], b)
    assert np.array_equal(report.kept, ~np.isin(partition.labels, [3, 5]))
    assert np.isnan(report.prediction[~report.kept]).all() and np.isfinite(report.prediction[report.kept]).all()
    if partition.overlap == 0:
        assert report.max_change < 1e-6
    assert abs(report.r2_after - report.r2_before) < 1e-3
    cropped.save(tmp_path)  # the checkpoint no longer holds them, and rebuilds
    state = torch.load(tmp_path / "model.pt", weights_only=True)
    assert state["local_groups.0.weights.0"].shape[0] == 6
    again = GINRRegressor.load(tmp_path)
    assert np.array_equal(again.predict(features, parts=partition), cropped.predict(features, parts=partition), equal_nan=True)


def test_extend_trains_only_the_new_weights(trained, sphere):
    reg, partition = trained
    _, features, target = sphere
    cropped, _ = crop(reg, features, target, partition, [3, 5])
    extended, report = extend(cropped, features, target, partition, [5], TrainConfig(steps=150, **FAST))
    assert report.others_unchanged
    assert extended.model_.config.partition.parts == [0, 1, 2, 4, 6, 7, 5]
    assert report.params_after == report.params_before + reg.model_.local_parameters_per_part()
    assert report.r2_added > 0.9 and report.nodes == (partition.labels == 5).sum()
    assert all(p.requires_grad for p in extended.model_.parameters())
    before = cropped.predict(features, parts=partition)
    after = extended.predict(features, parts=partition)
    untouched = ~(partition.members == 5).any(axis=1) & ~np.isin(partition.labels, [3, 5])
    assert np.array_equal(before[untouched], after[untouched])
    assert np.isnan(report.prediction[partition.labels == 3]).all()


def test_crop_refuses_what_it_cannot_do(trained, sphere):
    reg, partition = trained
    _, features, target = sphere
    with pytest.raises(GinrError, match="No part 9"):
        crop(reg, features, target, partition, [9])
    with pytest.raises(GinrError, match="keep at least one"):
        crop(reg, features, target, partition, range(8))
    with pytest.raises(GinrError, match="already has a local network"):
        extend(reg, features, target, partition, [1])
    plain = GINRRegressor(configs()["mlp"], TrainConfig(steps=2, **FAST)).fit(features, target)
    with pytest.raises(GinrError, match="single network"):
        crop(plain, features, target, partition, [1])


# -- the command line --------------------------------------------------------------------------------------
def test_ginr_crop_trains_crops_and_extends(capsys):
    from ginr_core.cli import main
    from ginr_core.runs.registry import Registry

    assert main(["crop", "--domain", "icosphere", "--signal", "sines", "--parts", "4", "--k", "24", "--budget", "1"]) == 0
    out = capsys.readouterr().out
    assert "4 spectral parts" in out and "Local-Global" in out
    run_id = out.split("ginr crop ")[1].split()[0]
    assert main(["crop", run_id, "--remove", "1,3"]) == 0
    out = capsys.readouterr().out
    cropped_id = out.split()[1].rstrip(":")
    assert "without parts 1, 3" in out and "change +0.00e+00" in out
    registry = Registry()
    assert registry.load_regressor(cropped_id).model_config.partition.parts == [0, 2]
    assert main(["crop", cropped_id, "--add", "3", "--budget", "1"]) == 0
    out = capsys.readouterr().out
    assert "every other weight unchanged: yes" in out and "the uncropped model's R2 on them: " in out
    extended = registry.get(out.split()[1].rstrip(":"))  # the specs recorded derive from the runs they read
    assert registry.get(cropped_id).spec.options == {"source": run_id, "removed": [1, 3]}
    assert extended.status == "done" and extended.spec.task == "extend"
    assert extended.spec.options == {"source": cropped_id, "added": [3]} and extended.spec.model.partition.parts == [0, 2, 3]
    assert main(["crop", run_id, "--remove", "7"]) == 2
    assert "No part 7" in capsys.readouterr().err


def test_back_to_the_reference_when_its_r2_reads_the_same(trained, sphere):
    """A reference a hair better than the extension's end (the same R² as shown) counts as reached."""
    from ginr_core.learning.metrics import r2_text

    reg, partition = trained
    _, features, target = sphere
    cropped, _ = crop(reg, features, target, partition, [5])
    config = TrainConfig(steps=60, **FAST)
    plain, first = extend(cropped, features, target, partition, [5], config)
    assert first.r2_reference is None and first.seconds_to_reference is None
    home = partition.labels == 5
    reference = plain.predict(features, parts=partition)
    reference[home] += 1e-4 * (target[home] - reference[home])  # better by far less than the shown precision
    _, report = extend(cropped, features, target, partition, [5], config, reference=reference)
    assert report.r2_added == first.r2_added  # the same training
    assert report.r2_reference > report.r2_added and r2_text(report.r2_reference) == r2_text(report.r2_added)
    assert report.seconds_to_reference is not None and report.seconds_to_reference <= report.seconds
