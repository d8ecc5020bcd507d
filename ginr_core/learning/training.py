"""The one trainer behind the CLI, the dashboard and the tests.

`GINRRegressor(model_config, train_config).fit(features, target)` fits a neural field to a signal on a
graph's nodes (scikit-learn style); `ginr_core.runs` runs the same fit as a background job, recorded in the
registry.

Default CPU recipe (recipes.DEFAULT_FIT; measured on the Stanford-bunny Gray-Scott texture, 34,834 nodes,
k = 100 spectral columns, full-domain R^2 on all nodes, on the 2-core machine while three other builds loaded it,
so figures are of one run each and noisy):

- 4 x 128 sine MLP with skip, first-layer omega_0 = 90, hidden omega_0 = 30 (see models.py);
- 8192-node random batches (issue 22): per node passed through the network, batches gained more than full
  batches (160 steps of 4096 nodes: R^2 0.969; 40 full batches, twice the node passes: 0.960), and a budget buys
  ~4x the steps. Fresh runs under load, 10 s: 8192-node batches R^2 0.96-0.97,
  4096: 0.95-0.99, 2048: 0.92-0.97, full batch 0.88-0.95; 30 s: 8192 0.994, 4096 0.989, full 0.968. Batches
  growing to the full set over the run did worse (0.975 at 30 s), and so did switching to full batches for the
  last 50% or 20% of the run (10 s: 0.958 / 0.967 against 0.975; 30 s, 20%: 0.990 against 0.997). Problems of
  at most 8192 nodes keep full batches (a batch that large is the whole set). A loss: fitted on 80% of the nodes
  for 10 s, the held-out R^2 is ~0.01 below full batches' (0.876-0.881 against 0.885-0.896), the readout solve
  no part of it (0.8658 without, 0.8649 with, whatever the ridge);
- Adam, lr 2e-3 (4e-3 diverged with batches, 1e-3 and 1.5e-3 were no better), cosine decay to 1% over the
  budget. The schedule follows steps or seconds, whichever runs out first, so a time-budgeted run still anneals;
- then the output layer solved by least squares on every row (readout.py: one no-gradient pass, float64 on the
  model's device; its time is kept inside the budget). It only ever lowers the training error, by a little
  (30 s: R^2 0.9889 against 0.9882 without); solving it at every step (variable projection) cost ~40% more per
  step for R^2 0.966 against 0.960 at 40 full-batch steps, a loss per second. L-BFGS (strong Wolfe) did not
  get going in 10 s (R^2 < 0.1), and random sine features with a least-squares readout alone reached R^2 0.89
  with 2,048 of them in 10 s. Wider-shallower nets: 3 x 256 R^2 0.958 at 60 steps of 8192 nodes, 4 x 128 0.950,
  4 x 96 0.950 (25% cheaper per step), 4 x 64 0.943 (half the cost), at equal steps.

The previous default (recipes.PREVIOUS_FIT: full batches, no solve) measured, on a less loaded machine, R^2 0.99
after 19 s and 0.999 after 93 s of a 150 s budget (final 0.99999); it had found 8192-node batches behind full
batches at 80 s (R^2 0.9977 against 0.9997), so for budgets of a minute or more it may still be the better one
(bench/training.py's anytime section puts both side by side). torch.compile was tried: 44 s to compile and no
faster per step on CPU, so it is not used.

GPU: the same recipe runs there (the solve is torch.linalg on the model's device), NOT measured: no GPU was lent
to this work. A 35k-node full-batch step takes milliseconds on a GPU, so there PREVIOUS_FIT's full batches, or
wider networks, may well be the better use of a budget.

Full-domain prediction snapshots for a live preview come for free with full batches (the step's own
forward pass, weights before the update; measured 0.01% of training time); with mini-batches they
cost one extra forward pass and are spaced to at most ~5% of the time.

Targets are standardised per output before training (mean/std stored on the regressor), so the loss
is scale-free and R^2 = 1 - loss: exact for full batches, snapshots and the solved readout, and an unbiased
estimate from the step's own batch otherwise; predictions come back in original units.
"""

from __future__ import annotations

import json
import pickle
import math
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Literal

import numpy as np
import torch

from ..errors import GinrError
from ..storage.files import atomic_write
from .device import pick_device, set_training_threads
from .metrics import evaluate
from .fields import build_model, make_field
from .model_config import JsonConfig, ModelConfig
from .models import NeuralField, check_inputs, check_series
from .partitioned import as_members
from .readout import NormalEquations
from .rows import MemberRows, NodeRows, SeriesRows, training_rows

Schedule = Literal["cosine", "constant", "plateau"]
DEFAULT_BATCH = 8192  # nodes per step of the default recipe (see the module docstring)
SOLVE_SHARE = 0.25  # the readout solve is skipped when its pass would take more than this share of the run (a long
# time series: millions of (frame, node) rows)
WEIGHTS_FILE = "model.pt"
MODEL_FILE = "model.json"


def cosine_decay(spent: float, final_frac: float) -> float:
    """The cosine schedule's learning-rate factor once `spent` (0 to 1) of a run is used: from 1 down to final_frac."""
    return final_frac + (1 - final_frac) * 0.5 * (1 + math.cos(math.pi * min(spent, 1.0)))


@dataclass
class TrainConfig(JsonConfig):
    """How to train. Training stops at `steps` or after `time_budget_s` seconds, whichever comes first.

    batch_size: nodes per step, drawn at random (None = all nodes, accumulated over `chunk_size` chunks); a
        batch at least as large as the data is a full batch. Partitioned models (local_global, per_part) always
        take full batches: each part's network sees only its few hundred rows of a random batch (bench/crop.py,
        40 s: per-part R^2 0.15 with 8192-node batches against 0.90 with full ones at 120 s, Local-Global 0.967).
    solve_readout: after the gradient steps, solve the output layer(s) by least squares on every training row (see
        readout.py; plain and partitioned networks, not a collection's codes; time kept for it inside the budget).
    schedule: "cosine" decays lr to lr * final_lr_frac over the budget; "plateau" halves it when the
        loss stalls (the reference code's ReduceLROnPlateau); "constant".
    snapshot_every_s: seconds between full-domain prediction snapshots for a live preview (None = off);
        widened automatically so snapshots never cost more than ~5% of training time.
    log_every: steps between progress callbacks / history rows.
    device: "auto" (cuda, mps, cpu), or an explicit torch device string.
    threads: CPU threads for torch (process-wide); None = all cores but one. Measured on 2 cores: one
        thread is 35% slower than two on an idle machine, but two are 4x slower than one when another
        process (or the dashboard itself) keeps a core busy, as OpenMP threads then wait on each other.
    """

    steps: int | None = None
    time_budget_s: float | None = 120.0
    lr: float = 2e-3
    batch_size: int | None = DEFAULT_BATCH
    solve_readout: bool = True
    chunk_size: int = 8192
    schedule: Schedule = "cosine"
    final_lr_frac: float = 0.01
    optimizer: Literal["adam", "adamw"] = "adam"
    weight_decay: float = 0.0
    seed: int = 0
    snapshot_every_s: float | None = 2.0
    log_every: int = 5
    device: str = "auto"
    threads: int | None = None

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        """A config saved before the readout solve existed (no solve_readout key) had none: a re-run repeats it."""
        return super().from_dict({"solve_readout": False, **data} if data else data)

    def __post_init__(self):
        if self.steps is None and self.time_budget_s is None:
            raise GinrError("Give a number of steps, a time budget, or both.")
        if self.schedule not in ("cosine", "constant", "plateau"):
            raise GinrError(f"Unknown schedule {self.schedule!r}; use cosine, constant or plateau.")
        if self.lr <= 0 or (self.batch_size is not None and self.batch_size < 1) or self.chunk_size < 1:
            raise GinrError("Learning rate, batch size and chunk size must be positive.")


@dataclass(frozen=True)
class Progress:
    """One progress report. `r2` is of the model as it is at that step: exact for full batches, at every snapshot
    and after the readout solve, otherwise the step's own batch (an unbiased estimate); `snapshot` is a full-domain
    prediction in original units, or None."""

    step: int
    loss: float
    r2: float
    lr: float
    steps_per_s: float
    elapsed_s: float
    eta_s: float
    snapshot: np.ndarray | None = None

    @property
    def fraction(self) -> float:
        """How much of the budget (steps or seconds, whichever runs out first) is spent."""
        total = self.elapsed_s + self.eta_s
        return min(self.elapsed_s / total, 1.0) if 0 < total < math.inf else 0.0

    def row(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "snapshot"}


class GINRRegressor:
    """Fit a neural field to a signal on nodes; predict it anywhere the features are known."""

    def __init__(self, model_config: ModelConfig | None = None, train_config: TrainConfig | None = None):
        self.model_config = model_config or ModelConfig()
        self.train_config = train_config or TrainConfig()

    # -- fitting -------------------------------------------------------------------------------------
    def fit(
        self,
        features: np.ndarray,
        target: np.ndarray,
        times: np.ndarray | None = None,
        signal: np.ndarray | None = None,
        callback: Callable[[Progress], None] | None = None,
        cancel: threading.Event | None = None,
        parts=None,
    ) -> GINRRegressor:
        """Train on all nodes. `signal` gives each row's signal index (autodecoder, latent_dim > 0).

        Partitioned models (a ModelConfig with a partition) need `parts`: a Partition or the part ids
        each node feeds ((n,) or (n, m), -1 padded); every part id found gets a local network.
        """
        features, times, y = check_inputs(features, times, target)
        self.target_1d_ = np.asarray(target).ndim == 1
        config = self.model_config
        if config.partition is not None:
            if parts is None:
                raise GinrError("A partitioned model needs the parts of every node (parts=).")
            members = as_members(parts, len(features))
            config = replace(config, partition=replace(config.partition, parts=np.unique(members[members >= 0]).tolist()))
        return self._fit(config, features, y, times, callback, cancel,
                         lambda model, y_std: training_rows(model, features, times, signal, parts, y_std))

    def partial_fit(
        self,
        features: np.ndarray,
        target: np.ndarray,
        parts=None,
        callback: Callable[[Progress], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> GINRRegressor:
        """Train the fitted model further on these nodes, keeping its target scaling: only the parameters that
        require gradients move (how a cropped model learns a new part with the rest frozen)."""
        self._check_fitted()
        features, _, y = check_inputs(features, None, target)
        y_std = ((y - self.target_mean_) / self.target_std_).astype(np.float32)
        self._use_device()
        return self._train(training_rows(self.model_, features, None, None, parts, y_std), callback, cancel)

    def fit_series(
        self,
        features: np.ndarray,
        values: np.ndarray,
        times: np.ndarray,
        callback: Callable[[Progress], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> GINRRegressor:
        """Train on a signal seen at several times on the same nodes: `values` (T, n) or (T, n, c) at `times` (T,).

        Time becomes an extra model input (time_input is switched on). Rows are (frame, node) pairs drawn
        without building T * n feature rows, so a long series on a large mesh fits in memory.
        """
        features, times, y = check_series(features, values, times)
        self.target_1d_ = np.asarray(values).ndim == 2
        config = self.model_config
        if config.partition is not None:
            raise GinrError("Time series are learnt by plain networks only, not partitioned ones.")
        return self._fit(replace(config, encoder=replace(config.encoder, time_input=True)), features, y, times, callback, cancel,
                         lambda model, y_std: SeriesRows(model, features, times, y_std))

    def fit_collection(
        self,
        features: np.ndarray,
        values: np.ndarray,
        callback: Callable[[Progress], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> GINRRegressor:
        """Train one network on N signals on the same nodes, `values` (N, n): each signal gets a learned code
        (model_config.codes: latent_dim and/or rank > 0; n_signals is set to N). Rows are (signal, node) pairs, numbered
        signal * n + node and gathered per batch, so N signals never build N * n feature rows."""
        values = np.asarray(values)
        if values.ndim != 2:
            raise GinrError(f"A collection needs (signals, nodes) values, got shape {values.shape}.")
        config = self.model_config
        if config.codes is None or not (config.codes.latent_dim or config.codes.rank):
            raise GinrError("A collection model needs per-signal codes: set latent_dim or rank above 0.")
        if config.partition is not None:
            raise GinrError("Collections are learnt by plain networks only, not partitioned ones.")
        features, _, y = check_series(features, values, np.arange(len(values), dtype=float))
        self.target_1d_ = True
        return self._fit(replace(config, codes=replace(config.codes, n_signals=len(values))), features, y, None, callback, cancel,
                         lambda model, y_std: MemberRows(model, features, len(values), y_std))

    def _fit(self, model_config, features, y, times, callback, cancel, make_rows) -> GINRRegressor:
        self.target_mean_ = y.mean(axis=0)
        std = y.std(axis=0)
        self.target_std_ = np.where(std > 0, std, 1.0)
        device = self._use_device()
        y_std = ((y - self.target_mean_) / self.target_std_).astype(np.float32)
        self.model_ = build_model(model_config, features, y.shape[1], times, seed=self.train_config.seed).to(device)
        return self._train(make_rows(self.model_, y_std), callback, cancel)

    def _use_device(self) -> torch.device:
        device = pick_device(self.train_config.device)
        if device.type == "cpu":
            set_training_threads(self.train_config.threads)
        return device

    def _train(self, rows: NodeRows, callback, cancel) -> GINRRegressor:
        self.history_: list[dict] = []
        self.snapshot_seconds_ = self.solve_seconds_ = 0.0
        self.stop_reason_ = _Loop(self, rows, callback, cancel).run()
        self.model_.eval()
        return self

    # -- inference -----------------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise GinrError("This model has not been trained yet; call fit() first.")

    @torch.no_grad()
    def predict(self, features: np.ndarray, times: np.ndarray | None = None, signal: np.ndarray | None = None,
                parts=None) -> np.ndarray:
        """Predictions in the target's original units, shaped like the training target (a partitioned model needs
        the nodes' `parts`, and gives NaN where a node feeds no part it holds, e.g. after a crop)."""
        self._check_fitted()
        rows = NodeRows(self.model_, features, times, signal, parts=parts)
        return self._to_units(rows.predict(self.model_, self.train_config.chunk_size))

    @torch.no_grad()
    def predict_series(self, features: np.ndarray, times: np.ndarray) -> np.ndarray:
        """Predictions at every node for each of `times`: (T, n), or (T, n, c) for c outputs."""
        self._check_fitted()
        if not self.model_.config.encoder.time_input:
            raise GinrError("This model has no time input (it was not trained with fit_series): it cannot tell times apart.")
        features, times, _ = check_series(features, None, times)
        rows = SeriesRows(self.model_, features, times)
        out = self._to_units(rows.predict(self.model_, self.train_config.chunk_size))
        return out.reshape(len(times), len(features), *out.shape[1:])

    def _to_units(self, standardised: np.ndarray) -> np.ndarray:
        out = standardised * self.target_std_ + self.target_mean_
        return out[:, 0] if self.target_1d_ else out

    def score(self, features: np.ndarray, target: np.ndarray, times: np.ndarray | None = None, parts=None) -> float:
        """R^2 of the prediction (sklearn convention)."""
        return evaluate(target, self.predict(features, times, parts=parts))["r2"]

    # -- checkpoints ---------------------------------------------------------------------------------
    def save(self, directory: str | Path) -> None:
        """Write model.pt (a plain state_dict) and model.json (configs + target scaling), atomically."""
        self._check_fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu() for k, v in self.model_.state_dict().items()}
        atomic_write(directory / WEIGHTS_FILE, lambda f: torch.save(state, f))
        meta = {
            "model": self.model_.config.to_dict(),  # as fitted: input width, outputs, time input
            "train": self.train_config.to_dict(),
            "target_mean": self.target_mean_.tolist(),
            "target_std": self.target_std_.tolist(),
            "target_1d": self.target_1d_,
        }
        atomic_write(directory / MODEL_FILE, json.dumps(meta, indent=2).encode())

    @classmethod
    def load(cls, directory: str | Path, device: str = "cpu") -> GINRRegressor:
        """Rebuild a saved regressor; weights are read with torch.load(weights_only=True) (no pickles)."""
        directory = Path(directory)
        try:  # a folder we did not write may hold anything: every failure is "cannot read", never a traceback
            meta = json.loads((directory / MODEL_FILE).read_text())
            state = torch.load(directory / WEIGHTS_FILE, map_location="cpu", weights_only=True)
            reg = cls(ModelConfig.from_dict(meta["model"]), TrainConfig.from_dict({**meta["train"], "device": device}))
            reg.model_ = make_field(reg.model_config)
            reg.model_.load_state_dict(state)
            reg.target_mean_ = np.asarray(meta["target_mean"], dtype=np.float64)
            reg.target_std_ = np.asarray(meta["target_std"], dtype=np.float64)
            reg.target_1d_ = bool(meta["target_1d"])
        except pickle.UnpicklingError as exc:
            raise GinrError(f"Cannot read the checkpoint in {directory}: its weights file holds more than plain tensors, "
                            "and such files are never unpickled (they could run code).") from exc
        except (OSError, ValueError, RuntimeError, KeyError, TypeError, AttributeError) as exc:
            raise GinrError(f"Cannot read the checkpoint in {directory}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc
        reg.model_.to(pick_device(device)).eval()
        return reg


class _Loop:
    """One training run's mutable state: schedule, pacing of callbacks and snapshots, stop conditions."""

    def __init__(self, reg: GINRRegressor, data: NodeRows, callback, cancel):
        self.reg, self.tc, self.model = reg, reg.train_config, reg.model_
        self.callback = callback
        self.cancel = cancel or threading.Event()
        self.data, self.y, self.n = data, data.y, data.n
        params = [p for p in self.model.parameters() if p.requires_grad]  # frozen ones stay bit for bit
        opt_cls = torch.optim.AdamW if self.tc.optimizer == "adamw" else torch.optim.Adam
        self.opt = opt_cls(params, lr=self.tc.lr, weight_decay=self.tc.weight_decay)
        self.plateau = (
            torch.optim.lr_scheduler.ReduceLROnPlateau(self.opt, factor=0.5, patience=50) if self.tc.schedule == "plateau" else None
        )
        self.generator = torch.Generator().manual_seed(self.tc.seed)
        self.full_batch = (self.tc.batch_size is None or self.tc.batch_size >= self.n
                           or not isinstance(self.model, NeuralField))  # partitioned: see TrainConfig.batch_size
        self.solves = self.tc.solve_readout and getattr(self.model, "readout_trainable", False)
        self.next_snapshot = 0.0
        self.snapshot_cost = 0.0
        self.pass_cost: float | None = None  # seconds of one no-gradient pass over every row, once measured
        self.step_cost = 0.0  # seconds of the last step
        self.start = time.perf_counter()  # after the optimizer's construction, whose first one imports torch._dynamo
        # (seconds, once per process)

    def reserve(self) -> float:
        """Seconds kept at the end of a time budget for the readout solve: one no-gradient pass over every row
        (measured at a snapshot, else half a step's time per step-sized share of the rows, on the safe side: a
        forward pass is about a third of a step)."""
        if not self.solves:
            return 0.0
        if self.pass_cost is not None:
            return 1.2 * self.pass_cost
        return 0.5 * self.step_cost * self.n / (self.n if self.full_batch else self.tc.batch_size)

    def fraction(self, step: int, elapsed: float) -> float:
        """How much of the run is spent; a time budget also counts the readout solve still to come and half the next
        step (so a run ends as close to its budget as a step allows, instead of up to a step past it)."""
        tc = self.tc
        planned = [seconds for seconds in (tc.time_budget_s, tc.steps and self.step_cost * tc.steps) if seconds]
        if self.solves and planned and self.reserve() > SOLVE_SHARE * min(planned):
            self.solves = False  # too many rows for this run: the readout stays as the steps left it
        steps = step / tc.steps if tc.steps else 0.0
        seconds = (elapsed + self.reserve() + 0.5 * self.step_cost) / tc.time_budget_s if tc.time_budget_s else 0.0
        return max(steps, seconds)

    def set_lr(self, frac: float) -> float:
        if self.tc.schedule == "cosine":
            lr = self.tc.lr * cosine_decay(frac, self.tc.final_lr_frac)
            for group in self.opt.param_groups:
                group["lr"] = lr
        return self.opt.param_groups[0]["lr"]

    def full_batch_step(self, want_outputs: bool) -> tuple[float, torch.Tensor | None] | None:
        """Accumulate the exact full-batch gradient chunk by chunk; None if cancelled midway."""
        chunk, total, outs = self.tc.chunk_size, 0.0, []
        scale = 1.0 / self.y.numel()
        for i in range(0, self.n, chunk):
            if self.cancel.is_set():
                return None
            rows = slice(i, i + chunk)
            out = self.model(*self.data.inputs(rows))
            loss = ((out - self.y[rows]) ** 2).sum() * scale
            loss.backward()
            total += loss.item()
            if want_outputs:
                outs.append(out.detach())
        return total, (torch.cat(outs) if want_outputs else None)

    def minibatch_step(self) -> float:
        rows = torch.randint(self.n, (self.tc.batch_size,), generator=self.generator).sort().values.to(self.y.device)  # sorted: a
        # collection's rows then come grouped by signal (one matmul per signal), other rows are unaffected
        out = self.model(*self.data.inputs(rows))
        loss = ((out - self.y[rows]) ** 2).mean()
        loss.backward()
        return loss.item()

    @torch.no_grad()
    def solve_readout(self) -> float | None:
        """Least-squares output layer on every row (readout.py); the mean squared error it leaves, or None if
        cancelled midway (the model is then unchanged)."""
        t0 = time.perf_counter()
        self.model.eval()
        equations = None
        for i in range(0, self.n, self.tc.chunk_size):
            if self.cancel.is_set():
                return None
            rows = slice(i, i + self.tc.chunk_size)
            hidden = self.model.readout_features(*self.data.inputs(rows))
            equations = equations or NormalEquations(hidden.shape[1], self.y.shape[1], self.y.device)
            equations.add(hidden, self.y[rows])
        w, mse = equations.solve()
        self.model.set_readout(w)
        self.reg.solve_seconds_ = time.perf_counter() - t0
        return mse

    def finish(self, step: int, progress: Progress | None, loss: float, r2: float) -> str:
        """Solve the readout (unless cancelled), close the curve at the last step taken with the model's final R^2,
        and say why the run stopped."""
        tc, reg = self.tc, self.reg
        solved = False
        if self.solves and step > 0 and not self.cancel.is_set():
            mse = self.solve_readout()
            if mse is not None:
                loss, r2, solved = mse, 1.0 - mse, True
        if progress is not None and (solved or not reg.history_ or reg.history_[-1]["step"] < step):
            # the curve ends at the last step taken, not at the last multiple of log_every (3 steps of a run logging
            # every 5 were recorded as 0), and with the solved readout's exact R^2
            elapsed = time.perf_counter() - self.start
            progress = replace(progress, step=step, loss=loss, r2=r2, elapsed_s=elapsed, eta_s=0.0, snapshot=None,
                               steps_per_s=step / elapsed if elapsed > 0 else 0.0)
            if reg.history_ and reg.history_[-1]["step"] == step:
                reg.history_.pop()
            reg.history_.append(progress.row())
            if solved and self.callback is not None:
                self.callback(progress)
        if self.cancel.is_set():
            return "cancelled"
        return "steps" if tc.steps and step >= tc.steps else "time"

    def run(self) -> str:
        tc, reg = self.tc, self.reg
        start = self.start
        step, last_report, last_step = 0, time.perf_counter(), 0
        steps_per_s = 0.0
        self.model.train()
        progress, loss, r2 = None, math.nan, math.nan  # the last step's, for the curve's closing row
        while True:
            step_start = time.perf_counter()
            elapsed = step_start - start
            frac = self.fraction(step, elapsed)
            if self.cancel.is_set() or frac >= 1.0:
                return self.finish(step, progress, loss, r2)
            lr = self.set_lr(frac)
            want_snapshot = tc.snapshot_every_s is not None and elapsed >= self.next_snapshot
            self.opt.zero_grad(set_to_none=True)
            snapshot = None
            if self.full_batch:
                result = self.full_batch_step(want_snapshot)
                if result is None:
                    return "cancelled"
                loss, outputs = result
                if outputs is not None:  # the full-batch forward pass is a free snapshot (pre-step weights)
                    t0 = time.perf_counter()
                    snapshot = reg._to_units(self.data.node_values(outputs.cpu().double().numpy()))
                    reg.snapshot_seconds_ += time.perf_counter() - t0
            else:
                loss = self.minibatch_step()  # of the weights before this step, on its own random batch
            r2 = 1.0 - loss
            if not math.isfinite(loss):
                raise GinrError("Training diverged (the loss became NaN/inf); try a lower learning rate.")
            self.opt.step()
            if self.plateau is not None:
                self.plateau.step(loss)
            step += 1
            if want_snapshot and snapshot is None:
                t0 = time.perf_counter()
                self.model.eval()
                full = self.data.predict(self.model, tc.chunk_size)
                self.model.train()
                r2 = 1.0 - float(np.mean((full - self.y.cpu().double().numpy()) ** 2))
                snapshot = reg._to_units(self.data.node_values(full))
                self.snapshot_cost = self.pass_cost = time.perf_counter() - t0
                reg.snapshot_seconds_ += self.snapshot_cost
            now = time.perf_counter()
            self.step_cost = now - step_start - (self.snapshot_cost if want_snapshot and not self.full_batch else 0.0)
            if want_snapshot:
                self.next_snapshot = now - start + max(tc.snapshot_every_s, 20 * self.snapshot_cost)
            if progress is None:
                progress = Progress(step, loss, r2, lr, 0.0, now - start, math.inf, None)
            if step % tc.log_every == 0 or snapshot is not None:
                if now > last_report:
                    steps_per_s = (step - last_step) / (now - last_report) if step > last_step else steps_per_s
                elapsed = now - start
                progress = Progress(step, loss, r2, lr, steps_per_s, elapsed, self.eta(step, elapsed, steps_per_s), snapshot)
                if step % tc.log_every == 0:
                    reg.history_.append(progress.row())
                    last_report, last_step = now, step
                if self.callback is not None:
                    self.callback(progress)

    def eta(self, step: int, elapsed: float, steps_per_s: float) -> float:
        etas = []
        if self.tc.time_budget_s:
            etas.append(max(self.tc.time_budget_s - elapsed, 0.0))
        if self.tc.steps and steps_per_s > 0:
            etas.append(max(self.tc.steps - step, 0) / steps_per_s)
        return min(etas) if etas else math.inf
