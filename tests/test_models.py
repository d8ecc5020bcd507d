import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from ginr_core.errors import GinrError
from ginr_core.learning.collection_models import CollectionRegressor
from ginr_core.learning.fields import build_model
from ginr_core.learning.model_config import ACTIVATIONS, CodesConfig, EncoderConfig, MLPConfig, ModelConfig, PartitionConfig
from ginr_core.learning.models import MLP, Sine
from ginr_core.learning.training import GINRRegressor


def test_mlp_shapes_and_skip_position():
    mlp = MLP(input_dim=10, output_dim=3, hidden_dim=32, n_layers=6, skip=True)
    assert len(mlp.linears) == 6 and len(mlp.activations) == 5
    assert mlp.skip_at == 3  # ceil(6 / 2): after three Linear+activation blocks
    widths = [(lin.in_features, lin.out_features) for lin in mlp.linears]
    assert widths == [(10, 32), (32, 32), (32, 32), (42, 32), (32, 32), (32, 3)]
    assert mlp(torch.zeros(7, 10)).shape == (7, 3)


@pytest.mark.parametrize("n_layers, skip_at", [(2, 1), (3, 2), (4, 2), (5, 3)])
def test_skip_input_width(n_layers, skip_at):
    mlp = MLP(4, 1, 16, n_layers, skip=True)
    assert mlp.skip_at == skip_at == math.ceil(n_layers / 2)
    assert mlp.linears[skip_at].in_features == 16 + 4
    no_skip = MLP(4, 1, 16, n_layers, skip=False)
    assert all(lin.in_features in (4, 16) for lin in no_skip.linears)


def test_skip_really_feeds_the_input():
    """Zeroing every weight except the skip columns leaves a network that still depends on x."""
    torch.manual_seed(0)
    mlp = MLP(3, 1, 8, 4, activation="relu", skip=True)
    x = torch.randn(5, 3)
    with torch.no_grad():
        mlp.linears[0].weight.zero_()
        mlp.linears[0].bias.zero_()
    out_a = mlp(x)
    out_b = mlp(x + 1)
    assert not torch.allclose(out_a, out_b)


def test_siren_init_ranges():
    omega = 30.0
    mlp = MLP(50, 1, 256, 5, activation="sine", omega_0=omega)
    first = mlp.linears[0].weight
    assert first.abs().max() <= 1 / 50 and first.abs().max() > 0.9 / 50
    for lin in mlp.linears[1:]:
        bound = math.sqrt(6 / lin.in_features) / omega
        assert lin.weight.abs().max() <= bound and lin.weight.abs().max() > 0.9 * bound
    assert [a.omega_0 for a in mlp.activations] == [omega] * 4


def test_first_omega_and_sine_tanh():
    mlp = MLP(4, 1, 16, 4, activation="sine", omega_0=30, first_omega_0=60)
    assert [a.omega_0 for a in mlp.activations] == [60, 30, 30]
    mixed = MLP(4, 1, 16, 4, activation="sine_tanh")
    assert isinstance(mixed.activations[0], Sine)
    assert all(isinstance(a, torch.nn.Tanh) for a in mixed.activations[1:])


EXPECTED_ACTIVATION = {  # (layer 0, layer 1) functions of each activation, as the models module documents them
    "sine": (lambda x: torch.sin(60 * x), lambda x: torch.sin(30 * x)),
    "sine_tanh": (lambda x: torch.sin(60 * x), torch.tanh),
    "relu": (torch.relu, torch.relu),
    "softplus": (torch.nn.functional.softplus, torch.nn.functional.softplus),
    "gaussian": (lambda x: torch.exp(-0.5 * (x / 0.1) ** 2), lambda x: torch.exp(-0.5 * (x / 0.1) ** 2)),
}


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_each_activation_computes_its_function(activation):
    """The layers apply the named function itself (not merely something finite), first layer and hidden ones."""
    mlp = MLP(4, 1, 16, 4, activation=activation, omega_0=30, first_omega_0=60)
    x = torch.linspace(-2, 2, 101).reshape(-1, 1)
    first, hidden = EXPECTED_ACTIVATION[activation]
    torch.testing.assert_close(mlp.activations[0](x), first(x))
    torch.testing.assert_close(mlp.activations[1](x), hidden(x))
    assert torch.isfinite(mlp(torch.randn(9, 4))).all()


def test_spectral_model_uses_first_k_columns():
    features = np.random.default_rng(0).normal(size=(20, 12))
    model = build_model(ModelConfig(EncoderConfig(k=5), MLPConfig(hidden=16)), features)
    assert model.config.encoder.in_features == 12 and model.mlp.linears[0].in_features == 5
    x = torch.as_tensor(features, dtype=torch.float32)
    changed = x.clone()
    changed[:, 5:] += 1  # columns beyond k are ignored
    assert torch.equal(model(x), model(changed))


def test_xyz_input_is_normalised_and_fourier_lifted():
    points = np.random.default_rng(0).uniform(10, 30, size=(50, 3))
    model = build_model(ModelConfig(EncoderConfig("xyz", fourier_features=16), MLPConfig(hidden=16)), points, out_features=2)
    encoded = model.encoder(torch.as_tensor(points, dtype=torch.float32))
    assert encoded.shape == (50, 32) and model(torch.as_tensor(points, dtype=torch.float32)).shape == (50, 2)
    plain = build_model(ModelConfig(EncoderConfig("xyz"), MLPConfig(hidden=16)), points)
    raw = plain.encoder(torch.as_tensor(points, dtype=torch.float32))
    assert raw.abs().max() <= 1 + 1e-6 and raw.abs().max() > 0.99


def test_time_and_latent_inputs():
    features = np.random.default_rng(0).normal(size=(30, 4))
    times = np.linspace(5, 10, 30)
    cfg = ModelConfig(EncoderConfig(k=4, time_input=True), MLPConfig(hidden=16), CodesConfig(n_signals=3, latent_dim=6))
    model = build_model(cfg, features, times=times)
    assert model.mlp.linears[0].in_features == 4 + 1 + 6
    x = torch.as_tensor(features, dtype=torch.float32)
    t = torch.as_tensor(times, dtype=torch.float32)
    encoded = model.encoder(x, t, torch.zeros(1, 6))
    assert torch.allclose(encoded[:, 4], torch.linspace(-1, 1, 30), atol=1e-6)
    with pytest.raises(GinrError):
        model(x)


def test_bad_inputs_are_explained():
    with pytest.raises(GinrError):
        MLPConfig(activation="swish")
    with pytest.raises(GinrError):
        build_model(ModelConfig(), np.zeros((0, 3)))
    with pytest.raises(GinrError):
        build_model(ModelConfig(EncoderConfig("xyz")), np.zeros((5, 4)))
    with pytest.raises(GinrError):
        build_model(ModelConfig(), np.full((5, 3), np.nan))


# --- checkpoints saved by earlier versions still load -----------------------------------------------------------

# Tiny checkpoints (model.json, collection.json, the weights as lists) and their predictions, written by the code
# before ModelConfig was composed of parts (its JSON was one flat dict of 23 fields).
SAVED = json.loads((Path(__file__).parent / "saved_checkpoints.json").read_text())


@pytest.mark.parametrize("name", sorted(SAVED))
def test_checkpoints_saved_before_the_model_parts_load_and_predict_the_same(name, tmp_path):
    saved = SAVED[name]
    for file, content in saved["files"].items():
        (tmp_path / file).write_text(json.dumps(content))
    torch.save({key: torch.tensor(value) for key, value in saved["state"].items()}, tmp_path / "model.pt")
    inputs = {key: np.asarray(value) for key, value in saved["inputs"].items()}
    if "collection.json" in saved["files"]:
        prediction = CollectionRegressor.load(tmp_path).predict(inputs["features"])
    elif "times" in inputs:
        prediction = GINRRegressor.load(tmp_path).predict_series(inputs["features"], inputs["times"])
    else:
        prediction = GINRRegressor.load(tmp_path).predict(inputs["features"], parts=inputs.get("parts"))
    np.testing.assert_allclose(prediction, saved["prediction"], rtol=1e-6, atol=1e-9)


def test_a_saved_flat_config_reads_as_its_parts():
    flat = {name: SAVED[name]["files"]["model.json"]["model"] for name in ("local_global", "heads", "lowrank")}
    partitioned = ModelConfig.from_dict(flat["local_global"])
    assert partitioned.partition == PartitionConfig("local_global", [0, 1, 2], local_hidden=3, local_layers=2)
    assert partitioned.codes is None and partitioned.mlp.n_layers == 2 and partitioned.encoder.k == 4
    heads = ModelConfig.from_dict(flat["heads"])
    assert heads.codes == CodesConfig(heads=True) and heads.mlp.readout == "all" and heads.partition is None
    assert ModelConfig.from_dict(flat["lowrank"]).codes == CodesConfig(n_signals=3, rank=2)
    assert ModelConfig.from_dict({"hidden": 32, "kind": "mlp"}) == ModelConfig(mlp=MLPConfig(hidden=32))
    assert ModelConfig.from_dict({}) == ModelConfig()


def test_a_config_is_saved_as_its_parts_and_read_back():
    collection = ModelConfig(EncoderConfig("xyz", k=None, fourier_features=8, time_input=True, in_features=3),
                             MLPConfig(n_layers=3, hidden=32, readout="all", random_features=16, out_features=5),
                             CodesConfig(heads=True))
    partitioned = ModelConfig(mlp=MLPConfig(activation="relu"), partition=PartitionConfig("per_part", [0, 2], 7, 2))
    for config in (collection, partitioned, ModelConfig()):
        saved = json.loads(json.dumps(config.to_dict()))
        assert set(saved) == {"encoder", "mlp", "codes", "partition"}
        assert ModelConfig.from_dict(saved) == config
    assert collection.to_dict()["partition"] is None and partitioned.to_dict()["partition"]["parts"] == [0, 2]


@pytest.mark.parametrize("make, message", [
    (lambda: ModelConfig(mlp=MLPConfig(readout="all")), "heads collection's single network"),
    (lambda: ModelConfig(mlp=MLPConfig(readout="all"), codes=CodesConfig(rank=2)), "heads collection's single network"),
    (lambda: ModelConfig(mlp=MLPConfig(readout="all"), codes=CodesConfig(heads=True), partition=PartitionConfig()),
     "heads collection's single network"),
    (lambda: ModelConfig.from_dict({"readout": "all", "kind": "local_global", "heads": True}), "heads collection's single"),
    (lambda: MLPConfig(random_features=4), "need readout 'all'"),
    (lambda: MLPConfig(n_layers=1), "at least 2 layers"),
    (lambda: MLPConfig(readout="middle"), "Unknown readout"),
    (lambda: CodesConfig(heads=True, rank=2), "not both"),
    (lambda: CodesConfig(n_signals=0, rank=1), "at least one signal"),
    (lambda: CodesConfig(), "needs per-signal codes"),
    (lambda: PartitionConfig("mlp"), "Unknown partitioned model"),
    (lambda: PartitionConfig(local_layers=1), "Each local network"),
    (lambda: EncoderConfig("polar"), "Unknown input kind"),
    (lambda: EncoderConfig(k=0), "k \\(number of embedding columns\\)"),
])
def test_each_part_checks_its_fields_and_the_config_how_they_combine(make, message):
    with pytest.raises(GinrError, match=message):
        make()
