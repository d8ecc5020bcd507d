"""One generalisable neural field for a collection of signals on the same domain.

A shared network (GINR on spectral features, or an INR on xyz / any other node features) plus one small
code per signal (see `CodesConfig`): an auto-decoder latent input ("latent"), a
low-rank modulation of the first hidden layer's weight ("lowrank", after the Instance Pattern Composers of
Kim et al., CVPR 2023), or the signal's own output row on a shared basis ("heads"). Each signal is standardised
on its own (mean 0, std 1), so a field in metres and one in metres per second weigh the same in the loss, and the
pooled R² of the standardised rows is the mean of the members' R². A new signal on the same domain is fitted by
learning only its code (`fit_new`): the shared weights are frozen and stay bit-identical.

Heads: every signal is a linear combination of one basis: the trunk's hidden layers, the input and fixed random
sine features of the input (`MLPConfig.random_features`), so the network runs once per node for all signals.
Training is three steps: least squares on the fixed part of the basis (input and random sines), the trunk trained
on what that leaves, then every member's row solved on the whole basis. A new member's code is one solve with the
basis and its factored Gram matrix kept for the domain (`HeadSolver`).

Fitting a latent or low-rank code is a small, smooth problem (a few thousand numbers), so `fit_new` does not use
the weight trainer: it starts from the training code (or a blend of the two best) that already fits the new signal
best, caches every part of the network the code does not change (`CodeDecoder`), and takes full-batch L-BFGS
steps on the code alone.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Literal

import numpy as np
import torch

from ..errors import GinrError
from ..storage.files import atomic_write
from .device import pick_device, set_training_threads
from .fields import build_model
from .model_config import CodesConfig, EncoderConfig, JsonConfig, MLPConfig, ModelConfig
from .models import CodeDecoder, HeadDecoder
from .training import GINRRegressor, Progress, TrainConfig

Modulation = Literal["latent", "lowrank", "heads"]
MODULATIONS = ("latent", "lowrank", "heads")
# the default per-signal code: measured in bench/collections.py, heads fit the ERA fields to a mean R^2 of 0.999
# (low-rank 0.846) and a new member is one solve
DEFAULT_MODULATION: Modulation = "heads"
# a heads collection's random sines (bench/collections.py): held-out bunny textures R² 0.61-0.72 with none,
# 0.988-0.990 with 4,096, 0.995-0.996 with 8,192; ERA winds 0.984 / 0.966 with none, 0.9995 / 0.999 with 7,260
DEFAULT_RANDOM_FEATURES = 8192
RANDOM_FEATURES_PER_NODE = 0.25  # at most a quarter of the nodes: a member's code stays 4x smaller than its values
COLLECTION_FILE = "collection.json"


def collection_model_config(modulation: Modulation = DEFAULT_MODULATION, rank: int = 8, latent_dim: int = 64,
                            random_features: int = DEFAULT_RANDOM_FEATURES, encoder: EncoderConfig | None = None,
                            **mlp_changes) -> ModelConfig:
    """The default architecture (changed by `mlp_changes`, fields of MLPConfig) with one kind of per-signal code: a
    latent input of `latent_dim` values, a rank-`rank` modulation of the first hidden layer, or an output row per
    signal ("heads", reading every layer and `random_features` random sines of the input, capped at fit time by
    `random_features_for`)."""
    if modulation not in MODULATIONS:
        raise GinrError(f"Unknown modulation '{modulation}'; use {', '.join(MODULATIONS)}.")
    if modulation == "heads":  # reading every layer: held-out ERA winds R² 0.970 / 0.882 -> 0.984 / 0.963 (bench)
        codes = CodesConfig(heads=True)
        mlp_changes = {"readout": "all", "random_features": random_features, **mlp_changes}
    elif (rank if modulation == "lowrank" else latent_dim) < 1:
        raise GinrError("The code size (rank or latent dimension) must be at least 1.")
    else:
        codes = CodesConfig(rank=rank) if modulation == "lowrank" else CodesConfig(latent_dim=latent_dim)
    return ModelConfig(encoder or EncoderConfig(), MLPConfig(**mlp_changes), codes)


def random_features_for(config: ModelConfig, n_nodes: int) -> int:
    """The random sines a collection on `n_nodes` nodes gets: as configured, at most RANDOM_FEATURES_PER_NODE."""
    return min(config.mlp.random_features, int(n_nodes * RANDOM_FEATURES_PER_NODE))


def modulation_of(config: ModelConfig) -> str:
    return "heads" if config.codes.heads else "lowrank" if config.codes.rank else "latent"


def standardise_members(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row (member) to mean 0, std 1 (a constant row keeps std 1); returns the rows, means and stds."""
    mean = values.mean(axis=1)
    std = values.std(axis=1)
    std = np.where(std > 0, std, 1.0)
    return (values - mean[:, None]) / std[:, None], mean, std


@dataclass
class CodeFitConfig(JsonConfig):
    """How a new member's code is fitted (`CollectionRegressor.fit_new`). Stops after `steps` evaluations of the
    loss and its gradient, after `time_budget_s`, or once the R² on all nodes reaches `stop_at`, whichever first.

    optimizer: "lbfgs" (full batch, strong-Wolfe line search; further than Adam in the same evaluations, see
        tests/test_collections.py and bench/collections.py) or "adam" (full batch at learning rate `lr`).
    start: "nearest" begins at the best of the training codes and of a few blends of the two best (one forward
        pass each), "mean" at the mean training code.
    """

    steps: int | None = None
    time_budget_s: float | None = 30.0
    stop_at: float | None = None
    optimizer: Literal["lbfgs", "adam"] = "lbfgs"
    lr: float = 1e-2
    start: Literal["nearest", "mean"] = "nearest"
    threads: int | None = None

    def __post_init__(self):
        if self.steps is None and self.time_budget_s is None and self.stop_at is None:
            raise GinrError("Give a number of steps, a time budget or a target R² for fitting a code.")
        if self.optimizer not in ("lbfgs", "adam") or self.start not in ("nearest", "mean"):
            raise GinrError("A code is fitted with optimizer 'lbfgs' or 'adam', starting from the 'nearest' or 'mean' code.")


@dataclass
class NewMember:
    """A new signal's fitted code, its mean and std, and how the fit went (`history`: Progress rows, R² on all
    nodes of the best code so far; `start`: the training member whose code fitted it best, where the fit began
    (from that code or a blend of it with the second best), or None for the mean code)."""

    code: np.ndarray
    mean: float
    std: float
    history: list[dict] = field(default_factory=list)
    stop_reason: str = ""
    start: int | None = None


class CollectionRegressor:
    """Fit one network with per-signal codes to N signals on the same nodes; decode any code on those nodes."""

    def __init__(self, model_config: ModelConfig | None = None, train_config: TrainConfig | None = None):
        self.model_config = model_config or collection_model_config()
        if self.model_config.codes is None:
            raise GinrError("A collection model needs per-signal codes (ModelConfig.codes).")
        self.train_config = train_config or TrainConfig()
        self._lock = threading.RLock()  # one fit-new at a time: jobs in one process may share a recorded model

    def __getstate__(self) -> dict:
        """Pickled (to and from worker processes) without the kept basis and factors (GBs on a large domain: they
        are remade on the first use) or the lock."""
        return {k: v for k, v in self.__dict__.items() if k not in ("_domain", "_lock")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()

    def fit(self, features: np.ndarray, values: np.ndarray, callback: Callable[[Progress], None] | None = None,
            cancel: threading.Event | None = None) -> CollectionRegressor:
        """Train on `values` (N, n), each row standardised on its own."""
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 2:
            raise GinrError(f"A collection needs (signals, nodes) values, got shape {values.shape}.")
        standardised, self.member_mean_, self.member_std_ = standardise_members(values)
        self._domain = None
        if self.model_config.codes.heads:
            self.network_ = self._fit_heads(np.asarray(features), standardised, callback, cancel)
        else:
            network = GINRRegressor(self.model_config, self.train_config)
            self.network_ = network.fit_collection(features, standardised, callback, cancel)
        self.stop_reason_ = self.network_.stop_reason_
        return self

    def _fit_heads(self, features: np.ndarray, targets: np.ndarray, callback: Callable[[Progress], None] | None,
                   cancel: threading.Event | None) -> GINRRegressor:
        """Least squares on the fixed part of the basis (the input and its random sines), the trunk trained on the
        residuals, then every member's output row solved on the whole basis. While the trunk trains, the R² shown
        is the members' estimated from the trunk's (each residual weighs in by its own variance in the trunk's
        loss, so it is approximate); the last row is exact."""
        start = time.perf_counter()
        config = self.model_config
        config = replace(config, mlp=replace(config.mlp, random_features=random_features_for(config, len(features))))
        device = pick_device(self.train_config.device)
        field = build_model(config, features, len(targets), seed=self.train_config.seed).to(device).eval()
        x = torch.as_tensor(features, dtype=torch.float32, device=device)
        y = torch.as_tensor(targets.T, dtype=torch.float32, device=device)
        with torch.no_grad():
            basis = HeadDecoder(field, x).basis
            n_trained = basis.shape[1] - fixed_basis_columns(field)
            fixed_gram = _gram(basis[:, n_trained:])
            fixed = HeadSolver.best(basis[:, n_trained:], y, fixed_gram)
            residual = y - fixed.basis @ fixed.solve(y)
            fixed.basis = basis = None  # the untrained trunk's columns: freed while the trunk trains
        leftover = float((residual.double() ** 2).mean())  # the members' loss the trunk starts from

        def as_members(row: dict) -> dict:  # the trunk's loss and R² (on standardised residuals) as the members'
            return {**row, "loss": leftover * row["loss"], "r2": 1.0 - leftover * (1.0 - row["r2"])}

        def members_progress(p: Progress) -> None:
            row = as_members({"loss": p.loss, "r2": p.r2})
            callback(replace(p, loss=row["loss"], r2=row["r2"], snapshot=None))

        trunk = GINRRegressor(replace(config, mlp=replace(config.mlp, random_features=0)), self.train_config)
        trunk.fit(features, residual.cpu().numpy(), callback=members_progress if callback else None, cancel=cancel)
        trunk.history_ = [as_members(row) for row in trunk.history_]  # recorded as shown live
        own = _output_layer_names(field)
        missing, _ = field.load_state_dict({k: v for k, v in trunk.model_.state_dict().items() if k not in own},
                                           strict=False)
        if set(missing) - own - {"mlp.random_sines.draw_check"}:
            raise GinrError(f"The trained trunk does not fit the collection's network (missing {sorted(missing)}).")
        with torch.no_grad():
            decoder = HeadDecoder(field, x)
            # the fixed columns are unchanged by the trunk's weights: the encoder's buffers come from the same seed and
            # features, and the sines from their own generator, so their Gram is reused
            solver = HeadSolver.best(decoder.basis, y, _gram(decoder.basis, fixed_gram))
            del fixed_gram
            codes = solver.solve(y)
            output = field.mlp.linears[-1]
            output.weight.copy_(codes[:-1].T)
            output.bias.copy_(codes[-1])
            loss = float(((decoder.basis @ codes - y).double() ** 2).mean())
        fixed.basis = decoder.basis[:, n_trained:]  # the same columns as before training (input, sines, ones)
        self._domain = _Domain(_fingerprint(features), decoder, solver, fixed)
        self.head_ridge_, self.fixed_ridge_ = solver.ridge, fixed.ridge
        trunk.model_, trunk.target_mean_, trunk.target_std_ = field, np.zeros(len(targets)), np.ones(len(targets))
        last = trunk.history_[-1] if trunk.history_ else {"step": 0, "steps_per_s": 0.0}
        elapsed = time.perf_counter() - start
        final = Progress(int(last["step"]), loss, 1.0 - loss, 0.0, float(last["steps_per_s"]), elapsed, 0.0)
        trunk.history_.append(final.row())
        if callback is not None:
            callback(final)
        return trunk

    # -- what was learned ----------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "network_"):
            raise GinrError("This collection model has not been trained yet; call fit() first.")

    @property
    def field(self):
        self._check_fitted()
        return self.network_.model_

    @property
    def codes_(self) -> np.ndarray:
        """(N, code_size): the learned code of each training signal (heads: its output row, weights then bias,
        with the trainer's output scaling folded in)."""
        if not self.field.config.codes.heads:
            return self.field.codes.detach().cpu().double().numpy()
        output = self.field.mlp.linears[-1]
        weight, bias = (p.detach().cpu().double().numpy() for p in (output.weight, output.bias))
        scale, shift = self.network_.target_std_, self.network_.target_mean_
        return np.column_stack([weight * scale[:, None], bias * scale + shift])

    @property
    def history_(self) -> list[dict]:
        return self.network_.history_

    def shared_parameters(self) -> int:
        """Weights shared by every signal (all but the codes; a heads model's random sines are no weights: they are
        redrawn from a fixed seed on every build and never stored)."""
        own = _output_layer_names(self.field) if self.field.config.codes.heads else {"codes"}
        return sum(p.numel() for name, p in self.field.named_parameters() if name not in own)

    # -- decoding ------------------------------------------------------------------------------------
    def decoder(self, features: np.ndarray) -> CodeDecoder | HeadDecoder:
        """The network as a function of one code on these nodes (a heads model's basis is kept for the last
        nodes asked about: the explorer and fit-new ask about one domain again and again)."""
        field = self.field
        if field.config.codes.heads:
            return self._heads_cache(features).decoder
        return CodeDecoder(field, torch.as_tensor(np.asarray(features), dtype=torch.float32, device=_device_of(field)))

    def head_solver(self, features: np.ndarray, fixed_part: bool = False) -> HeadSolver:
        """A heads model's least-squares solver on these nodes, on its whole basis or (`fixed_part`) on the columns no
        training changed: its Gram matrix is computed and factored on the first call for a domain (a one-off;
        fitting the collection leaves both ready for the training nodes)."""
        with self._lock:
            domain = self._heads_cache(features)
            basis = domain.decoder.basis
            if fixed_part and domain.fixed is None:
                domain.fixed = HeadSolver(basis[:, basis.shape[1] - fixed_basis_columns(self.field):],
                                          ridge=self.fixed_ridge_)
            if not fixed_part and domain.solver is None:
                domain.solver = HeadSolver(basis, ridge=self.head_ridge_)
            return domain.fixed if fixed_part else domain.solver

    def _heads_cache(self, features: np.ndarray) -> _Domain:
        key = _fingerprint(features)
        with self._lock:
            domain = getattr(self, "_domain", None)
            if domain is None or domain.key != key:
                x = torch.as_tensor(np.asarray(features), dtype=torch.float32, device=_device_of(self.field))
                with torch.no_grad():
                    self._domain = domain = _Domain(key, HeadDecoder(self.field, x))
            return domain

    @torch.no_grad()
    def fixed_part_fit(self, features: np.ndarray, values: np.ndarray) -> np.ndarray:
        """A heads model's alternative with no trained layer: the signal as least squares on the fixed part of
        the basis alone (the input, its random sines and a constant), the same solve as fit-new without what
        training added. Returns the prediction in the signal's units."""
        if not self.field.config.codes.heads:
            raise GinrError("Only a heads collection has a fixed part of its basis to solve on.")
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        mean, std = float(values.mean()), float(values.std()) or 1.0
        solver = self.head_solver(features, fixed_part=True)
        y = torch.as_tensor((values - mean) / std, dtype=torch.float32, device=solver.basis.device).reshape(-1, 1)
        return (solver.basis @ solver.solve(y))[:, 0].cpu().double().numpy() * std + mean

    def decode(self, features: np.ndarray, code: np.ndarray, mean: float = 0.0, std: float = 1.0) -> np.ndarray:
        """The field a code stands for on the nodes, in the units given by `mean` and `std`."""
        return self._decode(self.decoder(features), code, mean, std)

    @torch.no_grad()
    def _decode(self, decoder: CodeDecoder | HeadDecoder, code: np.ndarray, mean: float, std: float) -> np.ndarray:
        self.field.eval()
        out = decoder(torch.as_tensor(code, dtype=torch.float32, device=_device_of(self.field)))
        return out[:, 0].cpu().double().numpy() * std + mean

    def predict(self, features: np.ndarray, members=None) -> np.ndarray:
        """Predictions (len(members), n) of the training signals (all of them by default), in their units."""
        self._check_fitted()
        members = np.arange(len(self.member_mean_)) if members is None else np.asarray(members, dtype=int).reshape(-1)
        codes, decoder = self.codes_, self.decoder(features)
        return np.stack([self._decode(decoder, codes[i], self.member_mean_[i], self.member_std_[i]) for i in members])

    # -- new signals ---------------------------------------------------------------------------------
    def fit_new(self, features: np.ndarray, values: np.ndarray, config: CodeFitConfig | None = None,
                callback: Callable[[Progress], None] | None = None, cancel: threading.Event | None = None) -> NewMember:
        """Fit a new signal on the same nodes by learning only its code; the shared weights (and the training
        codes) are frozen and come back bit-identical. The time reported includes choosing the start code."""
        self._check_fitted()
        with self._lock:
            return self._fit_new(features, values, config or CodeFitConfig(), callback, cancel)

    def _fit_new(self, features: np.ndarray, values: np.ndarray, config: CodeFitConfig,
                 callback: Callable[[Progress], None] | None, cancel: threading.Event | None) -> NewMember:
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        if len(values) != len(features) or not np.isfinite(values).all():
            raise GinrError(f"The new signal needs one finite value per node ({len(features):,}), got {len(values):,}.")
        field, start_time = self.field.eval(), time.perf_counter()
        if _device_of(field).type == "cpu":
            set_training_threads(config.threads)
        mean, std = float(values.mean()), float(values.std()) or 1.0
        y = torch.as_tensor((values - mean) / std, dtype=torch.float32, device=_device_of(field)).reshape(-1, 1)
        if field.config.codes.heads:
            return self._solve_head(features, y, mean, std, start_time, callback)
        trainable = [p for p in field.parameters() if p.requires_grad]
        for p in trainable:
            p.requires_grad_(False)
        try:
            decoder = CodeDecoder(field, torch.as_tensor(np.asarray(features), dtype=torch.float32, device=y.device))
            start, code = self._start_code(decoder, y, config.start)
            code = code.clone().requires_grad_(True)
            history, reason = _fit_code(decoder, y, code, config, start_time, callback, cancel)
        finally:
            for p in trainable:
                p.requires_grad_(True)
        return NewMember(code.detach().cpu().double().numpy()[0], mean, std, history, reason, start)

    @torch.no_grad()
    def _solve_head(self, features: np.ndarray, y: torch.Tensor, mean: float, std: float, start_time: float,
                    callback: Callable[[Progress], None] | None) -> NewMember:
        """A heads model's new code: the least-squares output row on the frozen basis, one solve in place of every
        optimiser step (the first solve on a domain the model has not seen factors its Gram matrix, and its time
        counts)."""
        solver = self.head_solver(features)
        code = solver.solve(y)
        loss = float(((solver.basis @ code - y).double() ** 2).mean())
        elapsed = time.perf_counter() - start_time
        progress = Progress(1, loss, 1.0 - loss, 0.0, 1.0 / max(elapsed, 1e-9), elapsed, 0.0)
        if callback is not None:
            callback(progress)
        return NewMember(code.cpu().double().numpy()[:, 0], mean, std, [progress.row()], "solved", None)

    @torch.no_grad()
    def _start_code(self, decoder: CodeDecoder, y: torch.Tensor, start: str) -> tuple[int | None, torch.Tensor]:
        """The mean code, or the best of the training codes and of START_BLENDS between the two best (a new
        member of a smooth family often lies between two trained ones): one forward pass per candidate."""
        codes = self.field.codes
        if start == "mean":
            return None, codes.mean(dim=0, keepdim=True)
        errors = np.array([float(((decoder(c) - y) ** 2).mean()) for c in codes])
        order = np.argsort(errors)
        best, code, error = int(order[0]), codes[order[0] : order[0] + 1], errors[order[0]]
        if len(codes) > 1:
            first, second = codes[order[0] : order[0] + 1], codes[order[1] : order[1] + 1]
            for t in START_BLENDS:
                blend = (1 - t) * first + t * second
                blend_error = float(((decoder(blend) - y) ** 2).mean())
                if blend_error < error:
                    code, error = blend, blend_error
        return best, code

    # -- checkpoints ---------------------------------------------------------------------------------
    def save(self, directory: str | Path) -> None:
        self._check_fitted()
        self.network_.save(directory)
        meta = {"member_mean": self.member_mean_.tolist(), "member_std": self.member_std_.tolist()}
        if self.field.config.codes.heads:
            meta["head_ridge"], meta["fixed_ridge"] = self.head_ridge_, self.fixed_ridge_
        atomic_write(Path(directory) / COLLECTION_FILE, json.dumps(meta).encode())

    @classmethod
    def load(cls, directory: str | Path, device: str = "cpu") -> CollectionRegressor:
        network = GINRRegressor.load(directory, device=device)
        try:
            meta = json.loads((Path(directory) / COLLECTION_FILE).read_text())
        except (OSError, ValueError) as exc:
            raise GinrError(f"{directory} holds no collection model ({exc}).") from exc
        reg = cls(network.model_.config, network.train_config)
        reg.network_, reg.stop_reason_ = network, "loaded"
        reg.member_mean_, reg.member_std_ = np.asarray(meta["member_mean"]), np.asarray(meta["member_std"])
        reg.head_ridge_ = float(meta.get("head_ridge", HEAD_RIDGES[0]))
        reg.fixed_ridge_ = float(meta.get("fixed_ridge", reg.head_ridge_))
        return reg


def _device_of(module: torch.nn.Module) -> torch.device:
    return next(module.parameters()).device


def _fingerprint(features: np.ndarray) -> str:
    """Which nodes a cached basis belongs to: a hash of the features (~20 ms for the bunny's 35k x 100)."""
    features = np.ascontiguousarray(features, dtype=np.float32)
    return f"{features.shape}:{hashlib.blake2b(features.data, digest_size=16).hexdigest()}"


def fixed_basis_columns(field) -> int:
    """How many trailing columns of a heads basis no training changes: the input, its random sines and the ones
    column with readout "all"; the ones column alone otherwise."""
    if field.config.mlp.readout != "all":
        return 1
    return field.encoder.out_features + field.config.mlp.random_features + 1


def _output_layer_names(field) -> set[str]:
    last = len(field.mlp.linears) - 1
    return {f"mlp.linears.{last}.weight", f"mlp.linears.{last}.bias"}


@dataclass
class _Domain:
    """What a heads model keeps about the last nodes it was asked about (`key`, their fingerprint): its basis, and
    its solvers on the whole basis and on the fixed part, each made on first use."""

    key: str
    decoder: HeadDecoder
    solver: HeadSolver | None = None
    fixed: HeadSolver | None = None


HEAD_RIDGES = (1e-10, 1e-8, 1e-6)  # a heads code's ridge, relative to the mean squared feature: see HeadSolver
RIDGE_TRIAL_COLUMNS = 4  # members a heads ridge is judged on


class HeadSolver:
    """Least-squares codes on a fixed basis (n, p) in float32: its Gram matrix in float64 (given, or computed here
    with `_gram`) plus a ridge relative to its mean diagonal is factored once (Cholesky), so a solve is two
    products with the basis and two triangular solves, with one refinement step (solving again for the residual).
    The ridge matters because the products and the network's own decoding are float32: on a nearly rank-deficient
    basis (the ERA grid's random sines) a tiny ridge gives R² 0.95 where 1e-8 gives 0.9995, while the bunny's wants
    1e-10 (0.9875 vs 0.9854); `best` picks it on the training members."""

    def __init__(self, basis: torch.Tensor, gram: torch.Tensor | None = None, ridge: float = HEAD_RIDGES[0]):
        self.basis, self.ridge = basis, ridge
        gram = _gram(basis) if gram is None else gram  # on the CPU when the basis is on a GPU without float64 (mps)
        shifted = gram.clone()
        shifted.diagonal().add_(ridge * float(gram.diagonal().mean()))
        self.factor, info = torch.linalg.cholesky_ex(shifted)
        del shifted
        if int(info):
            raise GinrError(f"The collection's basis is too degenerate for a ridge of {ridge:g}.")

    @classmethod
    def best(cls, basis: torch.Tensor, targets: torch.Tensor, gram: torch.Tensor) -> HeadSolver:
        """The solver of HEAD_RIDGES that reproduces `targets` (n, k) best in float32 one column at a time, as
        fit-new solves and a code decodes (a matrix-vector product sums in another order than a matrix product:
        with the smallest ridge on the ERA grid's basis it loses R² 0.05 where the latter loses nothing); judged
        on RIDGE_TRIAL_COLUMNS of the targets, spread over them."""
        picked = np.unique(np.linspace(0, targets.shape[1] - 1, RIDGE_TRIAL_COLUMNS).round().astype(int))
        best, best_error = None, math.inf
        for ridge in HEAD_RIDGES:
            try:
                solver = cls(basis, gram, ridge)
            except GinrError:
                continue
            error = 0.0
            for j in picked:
                y = targets[:, j : j + 1]
                error += float(((basis @ solver.solve(y) - y).double() ** 2).mean())
            if error < best_error:
                best, best_error = solver, error
        if best is None:
            raise GinrError("The collection's basis is too degenerate to solve for codes; use fewer random features.")
        return best

    def solve(self, targets: torch.Tensor) -> torch.Tensor:
        """Codes (p, k) in float32 on the basis' device, for targets (n, k) in float32 there."""
        codes = self._normal_solve(self.basis.T @ targets)
        residual = targets - self.basis @ codes.to(self.basis.device, torch.float32)
        return (codes + self._normal_solve(self.basis.T @ residual)).to(self.basis.device, torch.float32)

    def _normal_solve(self, rhs: torch.Tensor) -> torch.Tensor:
        """(L L^T)^-1 rhs in float64 as two triangular solves: 10x sooner than torch.cholesky_solve on a CPU
        (p = 2,315 / 8,677)."""
        rhs = (rhs.cpu() if self.factor.device.type == "cpu" else rhs).double()
        half = torch.linalg.solve_triangular(self.factor, rhs, upper=False)
        return torch.linalg.solve_triangular(self.factor.T, half, upper=True)


def _gram(basis: torch.Tensor, fixed_gram: torch.Tensor | None = None) -> torch.Tensor:
    """basis^T basis in float64, GRAM_ROWS rows at a time; `fixed_gram`: the Gram of the basis' trailing columns,
    already known (only the rows of the other columns are computed)."""
    p = basis.shape[1]
    known = 0 if fixed_gram is None else len(fixed_gram)
    free = p - known
    device = torch.device("cpu") if basis.device.type == "mps" else basis.device  # mps has no float64
    gram = torch.zeros(p, p, dtype=torch.float64, device=device)
    for chunk in torch.split(basis, GRAM_ROWS):
        chunk = (chunk.cpu() if device.type == "cpu" else chunk).double()
        gram[:free].addmm_(chunk[:, :free].T, chunk)
    if known:
        gram[free:, :free] = gram[:free, free:].T
        gram[free:, free:] = fixed_gram
    return gram


GRAM_ROWS = 4096  # rows of a basis turned to float64 at a time for its Gram matrix
LBFGS_ITERATIONS = 10  # L-BFGS iterations per optimizer call (one iteration per call stalls torch's line search)
START_BLENDS = (0.25, 0.5, 0.75)  # blends of the two best training codes tried as the start of a new member's fit


class _Stop(Exception):
    def __init__(self, reason: str):
        self.reason = reason


def _fit_code(decoder: CodeDecoder, y: torch.Tensor, code: torch.Tensor, config: CodeFitConfig, start_time: float,
              callback: Callable[[Progress], None] | None, cancel: threading.Event | None) -> tuple[list[dict], str]:
    """Full-batch steps on `code` alone; `code` ends as the best code evaluated. One history row per evaluation of
    the loss and its gradient (`step` counts them: a forward and backward pass each, as a trainer step), with
    the loss and R² on all nodes of the best code so far, so the time to a target R² is exact to one evaluation."""
    if config.optimizer == "lbfgs":
        opt = torch.optim.LBFGS([code], lr=1.0, max_iter=LBFGS_ITERATIONS, history_size=20, line_search_fn="strong_wolfe")
    else:
        opt = torch.optim.Adam([code], lr=config.lr)
    history: list[dict] = []
    best_loss, best_code = math.inf, code.detach().clone()

    def closure() -> torch.Tensor:
        nonlocal best_loss, best_code
        opt.zero_grad(set_to_none=True)
        loss = ((decoder(code) - y) ** 2).mean()
        loss.backward()
        value = float(loss.detach())
        if not math.isfinite(value):
            raise GinrError("Fitting the code diverged (the loss became NaN/inf); try optimizer 'adam' with a lower lr.")
        if value < best_loss:
            best_loss, best_code = value, code.detach().clone()
        step, elapsed = len(history) + 1, time.perf_counter() - start_time
        reason = _stop_reason(config, step, elapsed, 1.0 - best_loss, cancel)
        etas = [config.time_budget_s - elapsed] if config.time_budget_s else []
        if config.steps:
            etas.append((config.steps - step) * elapsed / step)
        eta = 0.0 if reason else (max(min(etas), 0.0) if etas else math.inf)
        p = Progress(step, best_loss, 1.0 - best_loss, opt.param_groups[0]["lr"], step / elapsed if elapsed > 0 else 0.0,
                     elapsed, eta)
        history.append(p.row())
        if callback is not None:
            callback(p)
        if reason:
            raise _Stop(reason)
        return loss

    try:
        while True:
            opt.step(closure)
    except _Stop as stop:
        reason = stop.reason
    with torch.no_grad():
        code.copy_(best_code)
    return history, reason


def _stop_reason(config: CodeFitConfig, step: int, elapsed: float, r2: float, cancel: threading.Event | None) -> str:
    if cancel is not None and cancel.is_set():
        return "cancelled"
    if config.stop_at is not None and r2 >= config.stop_at:
        return "target"
    if config.steps is not None and step >= config.steps:
        return "steps"
    if config.time_budget_s is not None and elapsed >= config.time_budget_s:
        return "time"
    return ""
