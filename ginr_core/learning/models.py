"""Neural fields: the GINR multilayer perceptron and the input encoding that feeds it.

A GINR (Grattarola & Vandergheynst, NeurIPS 2022) is an MLP whose input at a node is that node's
spectral embedding (the first k Laplacian eigenvectors, scaled by sqrt(n)); a classic INR feeds the
xyz coordinates instead (normalised to [-1, 1], optionally lifted by random Fourier features).

The MLP follows the official code: `n_layers` Linear layers in total, an activation after every one but
the last, and an optional skip connection concatenating the network input to the input of layer
ceil(n_layers / 2) (0-based), i.e. after the first ceil(n_layers / 2) Linear+activation blocks.

Default architecture (chosen by measurement on the Stanford-bunny Gray-Scott texture, k = 100, 2 CPU
cores; see `training.py` for the recipe and numbers): 4 layers x 128 sine units with skip, hidden
omega_0 = 30 (SIREN) and a first-layer omega_0 of 90. The sqrt(n)-scaled eigenvectors are O(1) and
the texture has many small spots, so the first layer needs higher frequencies than SIREN's 30:
with 4 x 128, first omega 30 reached R^2 0.99 after 51 s and 60 after 19 s; at equal steps (100 of a
200-step cosine run) first omega 60 / 90 / 120 gave R^2 0.9982 / 0.9988 / 0.9962. Width costs
wall-clock time on a CPU roughly linearly while buying little per step: 4 x 128 beat 4 x 256, 3 x 512
and 4 x 64 at equal time, and 3 or 5 layers were slower to 0.99 than 4.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ..errors import GinrError
from .model_config import EncoderConfig, MLPConfig, ModelConfig


class Sine(nn.Module):
    def __init__(self, omega_0: float):
        super().__init__()
        self.omega_0 = omega_0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(self.omega_0 * x)

    def extra_repr(self) -> str:
        return f"omega_0={self.omega_0}"


class Gaussian(nn.Module):
    """exp(-x^2 / (2 sigma^2)), the Gaussian activation of Ramasinghe & Lucey (2022)."""

    def __init__(self, sigma: float = 0.1):
        super().__init__()
        self.sigma = sigma

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.exp(-0.5 * (x / self.sigma) ** 2)


def _activation(name: str, layer: int, omega_0: float, first_omega_0: float) -> nn.Module:
    if name == "sine" or (name == "sine_tanh" and layer == 0):
        return Sine(first_omega_0 if layer == 0 else omega_0)
    return {"sine_tanh": nn.Tanh, "relu": nn.ReLU, "softplus": nn.Softplus, "gaussian": Gaussian}[name]()


RANDOM_FEATURE_SCALE = 1.5  # frequency of the random sines: held-out ERA winds / bunny textures, least squares on
# 2,048 / 4,096 of them alone: R² 0.998-0.9993 at 1.0, 0.988-0.991 at 3; textures 0.973-0.976 at 1-2, 0.94-0.95 at 4
RANDOM_FEATURE_SEED = 20_221_128  # the random sines are drawn from this on every build, never stored


class RandomSines(nn.Module):
    """Fixed random sine features of the network input, sin(RANDOM_FEATURE_SCALE * W x + b): a generic basis of
    smooth functions of the embedding (products of eigenvectors reach finer detail than the eigenvectors), which a
    heads collection reads beside its trained layers. Redrawn from RANDOM_FEATURE_SEED on every build, so a
    checkpoint holds only `draw_check` (sums of W and b): a torch that draws them differently cannot load codes
    made for other sines."""

    def __init__(self, input_dim: int, count: int):
        super().__init__()
        generator = torch.Generator().manual_seed(RANDOM_FEATURE_SEED)
        weight = torch.randn(input_dim, count, generator=generator) * (RANDOM_FEATURE_SCALE / math.sqrt(input_dim))
        bias = torch.rand(count, generator=generator) * (2 * math.pi)
        self.register_buffer("weight", weight, persistent=False)
        self.register_buffer("bias", bias, persistent=False)
        self.register_buffer("draw_check", torch.stack([weight.sum(), weight.abs().sum(), bias.sum()]))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        stored = state_dict.get(prefix + "draw_check")
        if stored is not None and not torch.allclose(stored.cpu().float(), self.draw_check.cpu().float(), rtol=1e-5):
            raise GinrError("This checkpoint's random sines were drawn differently from this build's (another torch "
                            "version?): its output rows do not fit them. Retrain the collection here.")
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(torch.addmm(self.bias, x, self.weight))


MODULATED_LAYER = 1  # the layer whose weight a collection's low-rank codes modulate: the first hidden-to-hidden one


class MLP(nn.Module):
    """The reference GINR MLP (see module docstring for the skip position)."""

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        hidden_dim: int = 256,
        n_layers: int = 4,
        activation: str = "sine",
        skip: bool = True,
        omega_0: float = 30.0,
        first_omega_0: float | None = None,
        generator: torch.Generator | None = None,
        rank: int = 0,
        readout: str = "last",
        random_features: int = 0,
    ):
        super().__init__()
        first_omega_0 = omega_0 if first_omega_0 is None else first_omega_0
        self.skip_at = math.ceil(n_layers / 2) if skip else None
        self.readout = readout
        self.linears = nn.ModuleList()
        self.activations = nn.ModuleList()
        for i in range(n_layers):
            d_in = input_dim if i == 0 else hidden_dim
            if i == self.skip_at:
                d_in += input_dim
            if i == n_layers - 1 and readout == "all":
                d_in = hidden_dim * (n_layers - 1) + input_dim + random_features
            d_out = output_dim if i == n_layers - 1 else hidden_dim
            self.linears.append(nn.Linear(d_in, d_out))
            if i < n_layers - 1:
                self.activations.append(_activation(activation, i, omega_0, first_omega_0))
        generator = generator or torch.Generator().manual_seed(0)
        self._init(activation, omega_0, generator)
        # The shared factor V of the low-rank modulation: N(0, 1 / fan_in), so V h has unit-size entries and a
        # code U_s of small entries already moves layer 1's pre-activations (U_s starts at zero).
        fan_in = self.linears[MODULATED_LAYER].in_features
        self.composer_basis = (nn.Parameter(torch.randn(rank, fan_in, generator=generator) / math.sqrt(fan_in))
                               if rank else None)
        self.random_sines = RandomSines(input_dim, random_features) if random_features else None

    @classmethod
    def of(cls, config: MLPConfig, input_dim: int, generator: torch.Generator, rank: int = 0) -> MLP:
        """The network `config` describes, reading `input_dim` columns (`rank`: a collection's low-rank codes)."""
        return cls(input_dim, config.out_features, config.hidden, config.n_layers, config.activation, config.skip,
                   config.omega_0, config.first_omega_0, generator, rank=rank, readout=config.readout,
                   random_features=config.random_features)

    @torch.no_grad()
    def _init(self, activation: str, omega_0: float, generator: torch.Generator) -> None:
        """Every weight drawn from `generator`, never from torch's global RNG, so models built at the same time in
        several threads do not disturb each other's initialisation. PyTorch's default U(+-1/sqrt(in)) for weights
        and biases, then SIREN's weights: U(-1/in, 1/in) for the first layer, U(+-sqrt(6/in)/omega_0) after a sine."""
        sine = activation in ("sine", "sine_tanh")
        for i, linear in enumerate(self.linears):
            fan_in = linear.in_features
            bound = 1.0 / math.sqrt(fan_in)
            if sine and i == 0:
                bound = 1.0 / fan_in
            elif activation == "sine" or (activation == "sine_tanh" and i == 1):  # sine_tanh: right after its one sine
                bound = math.sqrt(6.0 / fan_in) / omega_0
            linear.weight.uniform_(-bound, bound, generator=generator)
            linear.bias.uniform_(-1.0 / math.sqrt(fan_in), 1.0 / math.sqrt(fan_in), generator=generator)

    def forward(self, x: torch.Tensor, composer: torch.Tensor | None = None, counts: list[int] | None = None) -> torch.Tensor:
        """`composer`: the low-rank factors U_s (codes, out, rank) of consecutive groups of rows, `counts[j]` rows
        for factor j (one factor for every row when counts is None)."""
        return self.linears[-1](self.last_hidden(x, composer, counts))

    def last_hidden(self, x: torch.Tensor, composer: torch.Tensor | None = None, counts: list[int] | None = None) -> torch.Tensor:
        """What the output layer reads: the last hidden layer (with the input beside it where the skip lands there),
        or with readout "all", every hidden layer, the input and its random sines (if any), in that order."""
        h, hidden = x, []
        last = len(self.linears) - 1
        for i, linear in enumerate(self.linears[:last]):
            if i == self.skip_at:
                h = torch.cat([h, x], dim=-1)
            out = linear(h)
            if i == MODULATED_LAYER and composer is not None:
                out = out + _grouped_product(h @ self.composer_basis.T, composer, counts)
            h = self.activations[i](out)
            hidden.append(h)
        if self.readout == "all":
            return torch.cat([*hidden, x, *([self.random_sines(x)] if self.random_sines is not None else [])], dim=-1)
        return torch.cat([h, x], dim=-1) if self.skip_at == last else h


def _grouped_product(z: torch.Tensor, factors: torch.Tensor, counts: list[int] | None) -> torch.Tensor:
    """Row b of z (rows, rank) times the factor (out, rank) of its group: one matmul per group of rows."""
    if counts is None or len(counts) == 1:
        return z @ factors[0].T
    return torch.cat([part @ factor.T for part, factor in zip(torch.split(z, counts), factors)])


class InputEncoder(nn.Module):
    """Turns raw node features (+ time, + a signal's latent code) into the MLP input.

    Normalisation constants live in buffers, so they travel with the state_dict and a reloaded model
    sees exactly the inputs it was trained on.
    """

    def __init__(self, config: EncoderConfig, latent_dim: int, generator: torch.Generator):
        super().__init__()
        self.config, self.latent_dim = config, latent_dim
        in_features = config.in_features
        if in_features is None:
            raise GinrError("EncoderConfig.in_features must be set (use build_model with the data).")
        if config.input_kind == "spectral":
            self.k = in_features if config.k is None else min(config.k, in_features)
        else:
            if in_features != 3:
                raise GinrError(f"An xyz INR needs (n, 3) coordinates, got {in_features} columns.")
            self.k = 3
        self.register_buffer("center", torch.zeros(self.k))
        self.register_buffer("scale", torch.ones(()))
        self.register_buffer("time_range", torch.tensor([0.0, 1.0]))
        n_ff = config.fourier_features if config.input_kind == "xyz" else 0
        self.register_buffer("fourier", torch.randn(self.k, n_ff, generator=generator) * config.fourier_scale)

    @property
    def out_features(self) -> int:
        n_ff = self.fourier.shape[1]
        base = 2 * n_ff if n_ff else self.k
        return base + int(self.config.time_input) + self.latent_dim

    @torch.no_grad()
    def fit(self, features: np.ndarray, times: np.ndarray | None = None) -> None:
        """Store the xyz bounding box and the time range of the training data."""
        if self.config.input_kind == "xyz":
            lo, hi = features.min(axis=0), features.max(axis=0)
            self.center.copy_(torch.as_tensor((lo + hi) / 2))
            self.scale.copy_(torch.as_tensor(max(float((hi - lo).max()) / 2, 1e-12)))
        if self.config.time_input and times is not None:
            lo, hi = float(np.min(times)), float(np.max(times))
            self.time_range.copy_(torch.as_tensor([lo, hi if hi > lo else lo + 1.0]))  # one time stamp: span 1

    def forward(self, features: torch.Tensor, times: torch.Tensor | None = None, latent: torch.Tensor | None = None) -> torch.Tensor:
        x = features[:, : self.k]
        if self.config.input_kind == "xyz":
            x = (x - self.center) / self.scale
            if self.fourier.shape[1]:
                proj = 2 * math.pi * x @ self.fourier
                x = torch.cat([torch.sin(proj), torch.cos(proj)], dim=-1)
        parts = [x]
        if self.config.time_input:
            if times is None:
                raise GinrError("This model was trained with a time input; pass times.")
            lo, hi = self.time_range[0], self.time_range[1]
            parts.append((2 * (times.reshape(-1, 1) - lo) / (hi - lo) - 1).to(x.dtype))
        if self.latent_dim:
            parts.append(latent.expand(len(x), -1))
        return torch.cat(parts, dim=-1) if len(parts) > 1 else x


class NeuralField(nn.Module):
    """Encoder + MLP: maps node features (n, d) to predictions (n, out_features). `seed` draws the initial weights
    (and Fourier frequencies, and codes) from a generator of the model's own.

    A collection model (latent_dim or rank > 0) keeps one code per signal in `codes` (n_signals, code_size),
    learned like the weights; each row names its signal (`signal`), or one code is given for every row.
    """

    def __init__(self, config: ModelConfig, seed: int = 0):
        super().__init__()
        self.config = config
        latent_dim, rank = (config.codes.latent_dim, config.codes.rank) if config.codes else (0, 0)
        generator = torch.Generator().manual_seed(seed)
        self.encoder = InputEncoder(config.encoder, latent_dim, generator)
        self.mlp = MLP.of(config.mlp, self.encoder.out_features, generator, rank=rank)
        self.codes = None
        if config.code_size:  # latent part N(0, 0.01^2) as DeepSDF; low-rank part zero: every signal starts as the shared net
            self.codes = nn.Parameter(torch.zeros(config.codes.n_signals, config.code_size))
            with torch.no_grad():
                self.codes[:, :latent_dim].normal_(0.0, 0.01, generator=generator)

    def forward(self, features: torch.Tensor, times: torch.Tensor | None = None, signal: torch.Tensor | None = None,
                code: torch.Tensor | None = None) -> torch.Tensor:
        """`signal`: each row's signal index (rows of one signal kept together run fastest); `code`: one (1,
        code_size) code for every row instead (a new signal, an interpolated code)."""
        return self.output_layer(self.last_hidden(features, times, signal, code))

    @property
    def output_layer(self) -> nn.Linear:
        """The output layer: linear in its weights given what it reads, so the trainer can solve it (least squares)."""
        return self.mlp.linears[-1]

    @property
    def readout_trainable(self) -> bool:
        """Whether the trainer may solve the output layer in closed form (readout.py): it is being trained."""
        return self.output_layer.weight.requires_grad

    def readout_features(self, *inputs) -> torch.Tensor:
        """What the output layer reads (readout.py's H): the last hidden layer."""
        return self.last_hidden(*inputs)

    @torch.no_grad()
    def set_readout(self, w: torch.Tensor) -> None:
        """The solved output layer (readout.py): w is (inputs + 1, outputs), the bias last."""
        layer = self.output_layer
        layer.weight.copy_(w[:-1].T.to(layer.weight.dtype))
        layer.bias.copy_(w[-1].to(layer.bias.dtype))

    def last_hidden(self, features: torch.Tensor, times: torch.Tensor | None = None, signal: torch.Tensor | None = None,
                    code: torch.Tensor | None = None) -> torch.Tensor:
        """What the output layer reads for these rows (arguments as `forward`)."""
        latent = composer = counts = None
        if self.codes is not None:
            if code is not None:
                codes = code
            elif signal is None:
                codes = self.codes[:1]
            else:
                ids, counts = torch.unique_consecutive(signal.reshape(-1), return_counts=True)
                codes, counts = self.codes[ids], counts.tolist()
            latent_dim, rank = self.config.codes.latent_dim, self.config.codes.rank
            latent = codes[:, :latent_dim]
            if counts is not None and latent_dim:
                latent = torch.repeat_interleave(latent, torch.as_tensor(counts, device=latent.device), dim=0)
            if rank:
                composer = codes[:, latent_dim:].reshape(len(codes), -1, rank)
        return self.mlp.last_hidden(self.encoder(features, times, latent), composer, counts)


class CodeDecoder:
    """A collection network's output on fixed nodes as a function of one code, with every part the code does not
    change computed once. Fitting a new member's code then runs only the layers the code reaches: for a low-rank
    code, layer 0, layer 1's shared product and the skip layer's node columns are cached, which leaves about a
    third of a forward pass per step. Gives the outputs of `field(features, code=code)`."""

    def __init__(self, field: NeuralField, features: torch.Tensor):
        if field.codes is None:
            raise GinrError("This model has no per-signal codes (latent_dim and rank are 0): it is not a collection model.")
        if field.config.encoder.time_input:
            raise GinrError("A collection model with a time input cannot be decoded on fixed nodes alone.")
        self.field, self.mlp = field, field.mlp
        self.latent_dim, self.rank = field.config.codes.latent_dim, field.config.codes.rank
        with torch.no_grad():
            x = field.encoder(features, None, torch.zeros(1, self.latent_dim, device=features.device))
            self.width = x.shape[1]  # node columns, then the latent code's
            nodes = x[:, : self.width - self.latent_dim]
            self.node_terms = {}  # layer -> its node columns' product plus bias, for the layers that read the input
            for i in {0, self.mlp.skip_at} - {None}:
                linear = self.mlp.linears[i]
                offset = linear.in_features - self.width
                self.node_terms[i] = nodes @ linear.weight[:, offset : offset + nodes.shape[1]].T + linear.bias
            self.start, self.h, self.fixed_out, self.z = 0, None, None, None
            if not self.latent_dim:  # the code first acts at the modulated layer: all before it is fixed
                self.start, self.h = MODULATED_LAYER, self.mlp.activations[0](self.node_terms[0])
                self.fixed_out = self._product(MODULATED_LAYER, self.h, None)
                self.z = self.h @ self.mlp.composer_basis.T

    def _product(self, i: int, h: torch.Tensor | None, latent: torch.Tensor | None) -> torch.Tensor:
        linear = self.mlp.linears[i]
        if i not in self.node_terms:
            return linear(h)
        out = self.node_terms[i]
        if i > 0:
            out = out + h @ linear.weight[:, : linear.in_features - self.width].T
        if self.latent_dim:
            out = out + latent @ linear.weight[:, linear.in_features - self.latent_dim :].T
        return out

    def __call__(self, code: torch.Tensor) -> torch.Tensor:
        """Outputs (n, out_features) for one code (1, code_size)."""
        code = code.reshape(1, -1)
        latent = code[:, : self.latent_dim]
        last = len(self.mlp.linears) - 1
        h = self.h
        for i in range(self.start, last + 1):
            fixed = i == self.start and self.fixed_out is not None
            out = self.fixed_out if fixed else self._product(i, h, latent)
            if i == MODULATED_LAYER and self.rank:
                z = self.z if fixed else h @ self.mlp.composer_basis.T
                out = out + z @ code[0, self.latent_dim :].reshape(-1, self.rank).T
            h = self.mlp.activations[i](out) if i < last else out
        return h


class HeadDecoder:
    """A "heads" collection network (one output column per signal) on fixed nodes as a function of one code, the
    signal's own output row (weights, then bias): what the output layer reads is computed once, so decoding is one
    matrix-vector product and fitting a new code is a least-squares problem (`basis`)."""

    def __init__(self, field: NeuralField, features: torch.Tensor):
        with torch.no_grad():
            hidden = field.mlp.last_hidden(field.encoder(features))
            self.basis = torch.cat([hidden, torch.ones(len(hidden), 1, device=hidden.device)], dim=1)

    def __call__(self, code: torch.Tensor) -> torch.Tensor:
        """Outputs (n, 1) for one code (1, hidden + 1)."""
        return self.basis @ code.reshape(-1, 1)


def check_inputs(features: np.ndarray, times: np.ndarray | None = None, target: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Validate array shapes and finiteness; return float32 features, times and 2-D float targets."""
    features = np.asarray(features)
    if features.ndim != 2 or len(features) == 0:
        raise GinrError(f"Features must be a non-empty (n, d) array, got shape {features.shape}.")
    if not np.isfinite(features).all():
        raise GinrError("Features contain NaN or infinite values.")
    n = len(features)
    if times is not None:
        times = np.asarray(times, dtype=np.float64).reshape(-1)
        if len(times) != n:
            raise GinrError(f"Got {len(times)} times for {n} nodes.")
    if target is not None:
        target = np.asarray(target, dtype=np.float64)
        target = target.reshape(-1, 1) if target.ndim == 1 else target
        if target.ndim != 2 or len(target) != n:
            raise GinrError(f"The signal has {len(target)} values but there are {n} nodes.")
        if not np.isfinite(target).all():
            raise GinrError("The signal contains NaN or infinite values.")
    return np.ascontiguousarray(features, dtype=np.float32), times, target


def check_series(features: np.ndarray, values: np.ndarray | None, times: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Validate a time series on fixed nodes: features (n, d), values (T, n) or (T, n, c), times (T,).

    Returns float32 features, float64 times and the values flattened to (T * n, c) rows, frame-major.
    """
    features, _, _ = check_inputs(features)
    times = np.asarray(times, dtype=np.float64).reshape(-1)
    if len(times) == 0 or not np.isfinite(times).all():
        raise GinrError("A time series needs at least one finite time stamp.")
    if values is None:
        return features, times, None
    values = np.asarray(values, dtype=np.float64)
    if values.ndim not in (2, 3) or values.shape[:2] != (len(times), len(features)):
        raise GinrError(
            f"The series has shape {values.shape}, but {len(times)} time stamps and {len(features)} nodes need "
            f"({len(times)}, {len(features)}) values (or a trailing channel axis)."
        )
    if not np.isfinite(values).all():
        raise GinrError("The series contains NaN or infinite values.")
    return features, times, values.reshape(len(times) * len(features), -1)

