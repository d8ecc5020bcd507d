"""Model configs: everything needed to rebuild a network, saved as JSON beside every checkpoint and run spec.

A `ModelConfig` is composed of parts, each checking its own fields: the encoder (what the network reads at a node),
the MLP, optional collection codes and an optional partition (Local-Global / per-part networks). Configs written
before the parts existed (one flat dict) are read by `ModelConfig.from_dict` through one migration. The networks
they describe are in models.py (and partitioned.py); recipes.py holds the presets.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Literal

from ..errors import GinrError

InputKind = Literal["spectral", "xyz"]
Activation = Literal["sine", "sine_tanh", "relu", "softplus", "gaussian"]
ACTIVATIONS = ("sine", "sine_tanh", "relu", "softplus", "gaussian")
PartitionKind = Literal["local_global", "per_part"]
PARTITION_KINDS = ("local_global", "per_part")
Readout = Literal["last", "all"]
READOUTS = ("last", "all")


class JsonConfig:
    """Config dataclasses saved as JSON with every run; unknown keys (from other versions) are ignored."""

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict):
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})


@dataclass
class EncoderConfig(JsonConfig):
    """What the network reads at a node (see `InputEncoder`).

    input_kind: "spectral" (GINR: node features are a spectral embedding) or "xyz" (classic INR).
    k: number of embedding columns used (spectral only; None = all given columns).
    fourier_features: xyz only; number of random Fourier frequencies (0 = raw xyz), drawn N(0, fourier_scale^2).
    time_input: append a time coordinate (normalised to [-1, 1] over the training times).
    in_features: the columns of the node features (set from the data by `build_model`).
    """

    input_kind: InputKind = "spectral"
    k: int | None = 100
    fourier_features: int = 0
    fourier_scale: float = 10.0
    time_input: bool = False
    in_features: int | None = None

    def __post_init__(self):
        if self.input_kind not in ("spectral", "xyz"):
            raise GinrError(f"Unknown input kind {self.input_kind!r}; use 'spectral' or 'xyz'.")
        if self.k is not None and self.k < 1:
            raise GinrError("k (number of embedding columns) must be at least 1.")
        if self.fourier_features < 0:
            raise GinrError("The number of Fourier features cannot be negative.")


@dataclass
class MLPConfig(JsonConfig):
    """The network (see `MLP`).

    n_layers: Linear layers in total, first and last included; hidden: their width; skip: the input fed again to
        layer ceil(n_layers / 2).
    omega_0: frequency of every sine activation (SIREN's omega_0); first_omega_0 overrides it for the
        first layer, whose input scale (spectral features reach about +-5) differs from hidden layers'.
    readout: what the output layer reads: "last" hidden layer (the reference GINR), or "all" hidden layers and the
        input side by side, a wider basis for a heads collection (a new member's least-squares code reaches further).
    random_features: with readout "all", this many fixed random sine features of the input beside the layers,
        sin(RANDOM_FEATURE_SCALE * W x + b) with W ~ N(0, 1 / inputs), b ~ U(0, 2 pi): never trained, drawn from
        RANDOM_FEATURE_SEED on every build (so not stored in a checkpoint); see `RandomSines`.
    out_features: output columns (set from the data by `build_model`).
    """

    n_layers: int = 4
    hidden: int = 128
    activation: Activation = "sine"
    omega_0: float = 30.0
    first_omega_0: float | None = 90.0
    skip: bool = True
    readout: Readout = "last"
    random_features: int = 0
    out_features: int = 1

    def __post_init__(self):
        if self.activation not in ACTIVATIONS:
            raise GinrError(f"Unknown activation {self.activation!r}; use one of {', '.join(ACTIVATIONS)}.")
        if self.n_layers < 2 or self.hidden < 1:
            raise GinrError("The network needs at least 2 layers and 1 hidden unit.")
        if self.readout not in READOUTS:
            raise GinrError(f"Unknown readout {self.readout!r}; use one of {', '.join(READOUTS)}.")
        if self.random_features < 0:
            raise GinrError("The number of random features cannot be negative.")
        if self.random_features and self.readout != "all":
            raise GinrError("Random features sit beside every layer: they need readout 'all' (a heads collection).")


@dataclass
class CodesConfig(JsonConfig):
    """One network shared by a collection of signals on the same nodes, each signal with its own code.

    n_signals, latent_dim, rank: each of n_signals signals has a learned code (see `NeuralField`): latent_dim values
        appended to the network input (an auto-decoder, as DeepSDF), and/or a low-rank modulation of layer 1's
        weight, W + U_s V with U_s (width x rank) per signal and V (rank x width) shared (the Instance Pattern
        Composers of Kim et al., CVPR 2023, here added to a shared weight rather than replacing it, so a small rank
        is no bottleneck).
    heads: instead, one output column per signal (out_features = signals): each signal's code is its own row of the
        output layer, every other weight shared (see `HeadDecoder`).
    """

    n_signals: int = 1
    latent_dim: int = 0
    rank: int = 0
    heads: bool = False

    def __post_init__(self):
        if self.n_signals < 1 or self.latent_dim < 0 or self.rank < 0:
            raise GinrError("A collection needs at least one signal, and code sizes (latent_dim, rank) cannot be negative.")
        if self.heads and (self.latent_dim or self.rank):
            raise GinrError("A collection's code is either its output row (heads) or a latent / low-rank code, not both.")
        if not (self.heads or self.latent_dim or self.rank):
            raise GinrError("A collection needs per-signal codes: heads, or latent_dim or rank above 0.")


@dataclass
class PartitionConfig(JsonConfig):
    """Croppable models (see partitioned.py): one small local network per part of a partition of the nodes.

    kind: "local_global" (a global MLP, the model's `mlp`, plus the local networks, outputs summed) or "per_part"
        (local networks only).
    parts: the part ids that own a local network (set from the partition at fit time, shrunk by a crop, grown by an
        extension).
    local_hidden, local_layers: width and depth of each part's local network.
    """

    kind: PartitionKind = "local_global"
    parts: list[int] | None = None
    local_hidden: int = 24
    local_layers: int = 3

    def __post_init__(self):
        if self.kind not in PARTITION_KINDS:
            raise GinrError(f"Unknown partitioned model {self.kind!r}; use one of {', '.join(PARTITION_KINDS)}.")
        if self.local_layers < 2 or self.local_hidden < 1:
            raise GinrError("Each local network needs at least 2 layers and 1 hidden unit.")


@dataclass
class ModelConfig(JsonConfig):
    """Everything needed to rebuild a model, in parts; saved as JSON next to every checkpoint.

    encoder: what the network reads; mlp: the network; codes: a collection's per-signal codes (None: one signal);
    partition: local networks per part (None: one network). Each part checks its own fields; this checks how they
    combine. `from_dict` also reads the flat dicts written before the parts (see `_nested_from_flat`).
    """

    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    mlp: MLPConfig = field(default_factory=MLPConfig)
    codes: CodesConfig | None = None
    partition: PartitionConfig | None = None

    def __post_init__(self):
        if self.mlp.readout == "all" and not (self.codes and self.codes.heads and self.partition is None):
            raise GinrError("Reading every layer (readout 'all') is for a heads collection's single network only.")

    @property
    def code_size(self) -> int:
        """Values in each signal's code: the latent input, then the rows of the low-rank factor U_s."""
        if self.codes is None:
            return 0
        width = self.mlp.out_features if self.mlp.n_layers == 2 else self.mlp.hidden
        return self.codes.latent_dim + self.codes.rank * width

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        if not {f.name for f in fields(cls)} & data.keys():
            data = _nested_from_flat(data)
        codes, partition = data.get("codes"), data.get("partition")
        return cls(EncoderConfig.from_dict(data.get("encoder") or {}), MLPConfig.from_dict(data.get("mlp") or {}),
                   None if codes is None else CodesConfig.from_dict(codes),
                   None if partition is None else PartitionConfig.from_dict(partition))


def _nested_from_flat(flat: dict) -> dict:
    """The migration of saved runs and checkpoints: ModelConfig as it was written until issue 21, one flat dict of
    23 fields, as the nested dict of its parts. The fields kept their names; a model had codes when heads, latent_dim
    or rank was set, and a partition when `kind` was not "mlp" (the kind is now the partition's)."""

    def picked(part: type[JsonConfig]) -> dict:
        return {f.name: flat[f.name] for f in fields(part) if f.name in flat}

    codes = picked(CodesConfig)
    return {"encoder": picked(EncoderConfig), "mlp": picked(MLPConfig),
            "codes": codes if codes.get("heads") or codes.get("latent_dim") or codes.get("rank") else None,
            "partition": picked(PartitionConfig) if flat.get("kind", "mlp") != "mlp" else None}
