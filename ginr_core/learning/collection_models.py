"""One generalisable neural field for a collection of signals on the same domain.

A shared network (GINR on spectral features, or an INR on xyz / any other node features) plus one small
code per signal (see `ModelConfig.latent_dim` / `rank` / `heads`): an auto-decoder latent input ("latent"), a
low-rank modulation of the first hidden layer's weight ("lowrank", after the Instance Pattern Composers of
Kim et al., CVPR 2023), or the signal's own output row on a shared trunk ("heads": every signal is a linear
combination of the trunk's features, every hidden layer and the input side by side, so the trunk runs once per
node for all signals, and a new signal's code is a least-squares solve). Each signal is standardised on its own (mean 0, std 1), so a field in metres and
one in metres per second weigh the same in the loss, and the pooled R² of the standardised rows is the mean
of the members' R². A new signal on the same domain is fitted by learning only its code (`fit_new`): the
shared weights are frozen and stay bit-identical.

Fitting one code is a small, smooth problem (a few thousand numbers), so `fit_new` does not use the weight
trainer: it starts from the training code (or a blend of the two best) that already fits the new signal best, caches every part
of the network the code does not change (`CodeDecoder`), and takes full-batch L-BFGS steps on the code alone.
"""

from __future__ import annotations

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
from ..io.files import atomic_write
from .device import set_training_threads
from .models import CodeDecoder, HeadDecoder, JsonConfig, ModelConfig
from .training import GINRRegressor, Progress, TrainConfig

Modulation = Literal["latent", "lowrank", "heads"]
MODULATIONS = ("latent", "lowrank", "heads")
# the default per-signal code: measured in bench/collections.py, heads fit the ERA fields to a mean R^2 of 0.999
# (low-rank 0.846) and a new member is one solve (a smooth family's held-out members: 10x sooner than from scratch)
DEFAULT_MODULATION: Modulation = "heads"
COLLECTION_FILE = "collection.json"


def collection_model_config(modulation: Modulation = DEFAULT_MODULATION, rank: int = 8, latent_dim: int = 64, **changes) -> ModelConfig:
    """The default architecture with one kind of per-signal code: a latent input of `latent_dim` values, a
    rank-`rank` modulation of the first hidden layer, or an output row per signal ("heads")."""
    if modulation not in MODULATIONS:
        raise GinrError(f"Unknown modulation '{modulation}'; use {', '.join(MODULATIONS)}.")
    if modulation == "heads":  # reading every layer: held-out ERA winds R² 0.970 / 0.882 -> 0.984 / 0.963 (bench)
        return replace(ModelConfig(), **{"rank": 0, "latent_dim": 0, "heads": True, "readout": "all", **changes})
    if (rank if modulation == "lowrank" else latent_dim) < 1:
        raise GinrError("The code size (rank or latent dimension) must be at least 1.")
    codes = {"rank": rank, "latent_dim": 0} if modulation == "lowrank" else {"rank": 0, "latent_dim": latent_dim}
    return replace(ModelConfig(), **{**codes, **changes})


def modulation_of(config: ModelConfig) -> str:
    return "heads" if config.heads else "lowrank" if config.rank else "latent"


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
        self.train_config = train_config or TrainConfig()

    def fit(self, features: np.ndarray, values: np.ndarray, callback: Callable[[Progress], None] | None = None,
            cancel: threading.Event | None = None) -> CollectionRegressor:
        """Train on `values` (N, n), each row standardised on its own."""
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 2:
            raise GinrError(f"A collection needs (signals, nodes) values, got shape {values.shape}.")
        standardised, self.member_mean_, self.member_std_ = standardise_members(values)
        network = GINRRegressor(self.model_config, self.train_config)
        if self.model_config.heads:  # one output column per member: the trunk runs once per node for all of them
            self.network_ = network.fit(features, standardised.T, callback=callback, cancel=cancel)
        else:
            self.network_ = network.fit_collection(features, standardised, callback, cancel)
        self.stop_reason_ = self.network_.stop_reason_
        return self

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
        if not self.field.config.heads:
            return self.field.codes.detach().cpu().double().numpy()
        output = self.field.mlp.linears[-1]
        weight, bias = (p.detach().cpu().double().numpy() for p in (output.weight, output.bias))
        scale, shift = self.network_.target_std_, self.network_.target_mean_
        return np.column_stack([weight * scale[:, None], bias * scale + shift])

    @property
    def history_(self) -> list[dict]:
        return self.network_.history_

    def shared_parameters(self) -> int:
        """Weights shared by every signal (all but the codes)."""
        own = {"codes"}
        if self.field.config.heads:
            last = len(self.field.mlp.linears) - 1
            own = {f"mlp.linears.{last}.weight", f"mlp.linears.{last}.bias"}
        return sum(p.numel() for name, p in self.field.named_parameters() if name not in own)

    # -- decoding ------------------------------------------------------------------------------------
    def decoder(self, features: np.ndarray) -> CodeDecoder | HeadDecoder:
        field = self.field
        features = torch.as_tensor(np.asarray(features), dtype=torch.float32, device=_device_of(field))
        return (HeadDecoder if field.config.heads else CodeDecoder)(field, features)

    @torch.no_grad()
    def decode(self, features: np.ndarray, code: np.ndarray, mean: float = 0.0, std: float = 1.0) -> np.ndarray:
        """The field a code stands for on the nodes, in the units given by `mean` and `std`."""
        self.field.eval()
        out = self.decoder(features)(torch.as_tensor(code, dtype=torch.float32, device=_device_of(self.field)))
        return out[:, 0].cpu().double().numpy() * std + mean

    def predict(self, features: np.ndarray, members=None) -> np.ndarray:
        """Predictions (len(members), n) of the training signals (all of them by default), in their units."""
        self._check_fitted()
        members = np.arange(len(self.member_mean_)) if members is None else np.asarray(members, dtype=int).reshape(-1)
        codes = self.codes_
        return np.stack([self.decode(features, codes[i], self.member_mean_[i], self.member_std_[i]) for i in members])

    # -- new signals ---------------------------------------------------------------------------------
    def fit_new(self, features: np.ndarray, values: np.ndarray, config: CodeFitConfig | None = None,
                callback: Callable[[Progress], None] | None = None, cancel: threading.Event | None = None) -> NewMember:
        """Fit a new signal on the same nodes by learning only its code; the shared weights (and the training
        codes) are frozen and come back bit-identical. The time reported includes choosing the start code."""
        self._check_fitted()
        config = config or CodeFitConfig()
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        if len(values) != len(features) or not np.isfinite(values).all():
            raise GinrError(f"The new signal needs one finite value per node ({len(features):,}), got {len(values):,}.")
        field, start_time = self.field.eval(), time.perf_counter()
        if _device_of(field).type == "cpu":
            set_training_threads(config.threads)
        mean, std = float(values.mean()), float(values.std()) or 1.0
        y = torch.as_tensor((values - mean) / std, dtype=torch.float32, device=_device_of(field)).reshape(-1, 1)
        if field.config.heads:
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
        """A heads model's new code: the least-squares output row on the frozen trunk's features, one solve in
        place of every optimiser step. Normal equations in float64 with a tiny ridge (HEAD_RIDGE: the trunk's
        features are nearly collinear): on the ERA grid the same R² as an SVD solve to 6 digits, 3-4x sooner."""
        basis = self.decoder(features).basis.double()
        target = y.double()
        gram = basis.T @ basis
        gram.diagonal().add_(HEAD_RIDGE * float(gram.diagonal().mean()))  # positive definite even with dead units
        code = torch.cholesky_solve(basis.T @ target, torch.linalg.cholesky(gram))
        loss = float(((basis @ code - target) ** 2).mean())
        elapsed = time.perf_counter() - start_time
        progress = Progress(1, loss, 1.0 - loss, 0.0, 1.0 / max(elapsed, 1e-9), elapsed, 0.0)
        if callback is not None:
            callback(progress)
        return NewMember(code.cpu().numpy()[:, 0], mean, std, [progress.row()], "solved", None)

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
        return reg


def _device_of(module: torch.nn.Module) -> torch.device:
    return next(module.parameters()).device


HEAD_RIDGE = 1e-10  # a heads code's ridge, relative to the mean squared feature: R² unchanged from 1e-12 to 1e-8 (ERA)
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
