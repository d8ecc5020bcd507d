"""MeshFeat (Mahajan, Hofherr & Cremers, ECCV 2024): learnable features per vertex at several resolutions of one
mesh, read at the finest vertices and decoded by a small MLP: the Instant-NGP idea on meshes.

Why it is here: an input encoding beside the spectral one, measured on the same benchmark (bench/training.py
--meshfeat-only). A vertex's own feature row fits any value there in a few steps, so fitting a signal on all nodes
is a matter of seconds; a node left out of the fit has no data for its own row, and learns only what the coarse
levels (geometry/hierarchy.py: tables on decimated meshes, interpolated barycentrically) and a smoothness penalty
carry to it. The penalty is on the prediction: the graph Laplacian of the predicted signal at the unseen nodes, so
the model learns there what harmonic interpolation would give, and fits the seen nodes as it will. The paper's
regulariser, the Laplacian of the finest feature table, scored below it held out (bunny, 20% of nodes out, 10 s:
0.920 with it on the unseen nodes' rows, 0.928 with the prediction's, 0.890 with neither) and, on every row, cost
half the steps and fought the data (all nodes, 3 s: R^2 0.963 against 0.9997). With every node seen (plain
fitting) there is nothing to penalise and no cost.

Limit: the tables belong to the vertices of the mesh they were built for. The model predicts at those vertices
only; another mesh (a finer one, a different scan) needs a vertex correspondence or an interpolation onto it,
where the spectral embedding transfers through its eigenvectors.

Training: Adam with two learning rates (the tables take a higher one than the MLP, as grid encodings do),
random batches of node indices, a cosine decay over steps or seconds (whichever runs out first). Targets are
standardised per output, as the trainer does. This is its own small loop, not training.GINRRegressor: that one
reads feature rows per node and keeps one learning rate; a MeshFeat model reads node indices.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..errors import GinrError
from ..geometry.hierarchy import MeshHierarchy
from .device import pick_device, set_training_threads
from .training import cosine_decay


@dataclass(frozen=True)
class MeshFeatConfig:
    """A MeshFeat model and its training. Defaults tuned on the bunny benchmark (bench/training.py --meshfeat-only;
    fresh runs, one thread, load 1-5): fitting is no contest (every setting tried reached R^2 0.996-0.99997 in 3 s),
    and held out (20% of nodes, 10 s, with the paper's feature penalty) every setting scored 0.913-0.922, so the
    smallest fast one is kept:
    batches of 4,096 (3 s: 0.99985; 8,192: 0.9985-0.9994; 2,048: 0.99983; full batches 0.978), 4 features per
    level (8: 0.99997 with a 32-wide MLP; 16: 0.9992), a 2 x 32 MLP (64: 0.9998, 128: 0.9967; 2 x 16 with 2
    features: 0.9995), table lr 3e-2 (1e-2: 0.99941, 1e-1: 0.99974 with the former 8,192 / 8 / 64), MLP lr 5e-3
    (2e-3: 0.9981), levels 1/4, 1/16, 1/64 (adding 1/256 or taking 1/2, 1/8, 1/32, 1/128 or only 1/4, 1/16: held
    out 0.913-0.919), the prediction's smoothness 1 (0.928, as 0.3 and 10: 0.927-0.928; the paper's penalty on the
    features instead, weights 0.03-10: 0.893-0.920).

    features: feature columns per level (the levels' features are concatenated for the MLP).
    hidden, depth: the ReLU MLP's width and number of hidden layers.
    table_lr, mlp_lr: Adam's learning rates for the feature tables and for the MLP.
    batch_size: nodes per step, drawn at random (None or at least the node count: full batches).
    smoothness: weight of the penalty mean_u ||(L Y)_u||^2 over the unseen nodes u (Y the standardised prediction
        at every node, L the graph Laplacian): how closely an unseen node's value follows its neighbours'.
    """

    features: int = 4
    hidden: int = 32
    depth: int = 2
    table_lr: float = 3e-2
    mlp_lr: float = 5e-3
    batch_size: int | None = 4096
    smoothness: float = 1.0
    final_lr_frac: float = 0.01
    seed: int = 0

    def __post_init__(self):
        if min(self.features, self.hidden, self.depth) < 1 or min(self.table_lr, self.mlp_lr) <= 0:
            raise GinrError("MeshFeat needs positive feature, width, depth and learning-rate settings.")
        if self.smoothness < 0 or (self.batch_size is not None and self.batch_size < 1):
            raise GinrError("MeshFeat's smoothness must be non-negative and its batch size positive.")


class MeshFeatField(nn.Module):
    """Feature tables of one mesh's levels (the finest first, one row per vertex) and the MLP that decodes them."""

    def __init__(self, hierarchy: MeshHierarchy, config: MeshFeatConfig, n_outputs: int = 1):
        super().__init__()
        sizes = (hierarchy.n_vertices, *hierarchy.level_sizes)
        # zero tables: an unobserved node's finest row starts at 0 and moves only with the smoothness penalty
        self.tables = nn.ParameterList(nn.Parameter(torch.zeros(size, config.features)) for size in sizes)
        for level in range(len(hierarchy.level_sizes)):
            indices, weights = hierarchy.padded(level)
            self.register_buffer(f"indices_{level}", torch.from_numpy(indices))
            self.register_buffer(f"weights_{level}", torch.from_numpy(weights).float().unsqueeze(-1))
        layers, width = [], config.features * len(sizes)
        for _ in range(config.depth):
            layers += [nn.Linear(width, config.hidden), nn.ReLU()]
            width = config.hidden
        self.mlp = nn.Sequential(*layers, nn.Linear(width, n_outputs))

    def encode(self, nodes: torch.Tensor) -> torch.Tensor:
        """(len(nodes), features x levels): each level's features at these vertices, concatenated."""
        parts = [self.tables[0][nodes]]
        for level, table in enumerate(self.tables[1:]):
            indices, weights = getattr(self, f"indices_{level}")[nodes], getattr(self, f"weights_{level}")[nodes]
            parts.append((table[indices] * weights).sum(dim=1))
        return torch.cat(parts, dim=1)

    def forward(self, nodes: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.encode(nodes))


class MeshFeatRegressor:
    """Fit a MeshFeat model to a signal on (some of) one mesh's vertices; predict it at every vertex."""

    def __init__(self, hierarchy: MeshHierarchy, config: MeshFeatConfig | None = None, device: str = "auto"):
        self.hierarchy, self.config = hierarchy, config or MeshFeatConfig()
        self.device = pick_device(device)

    def fit(self, target: np.ndarray, nodes: np.ndarray | None = None, steps: int | None = None,
            time_budget_s: float | None = None) -> MeshFeatRegressor:
        """Train on `target` at `nodes` (all vertices by default; target has one row per node given), for
        `steps` or `time_budget_s` seconds, whichever ends first."""
        if steps is None and time_budget_s is None:
            raise GinrError("Give a number of steps, a time budget, or both.")
        n, cfg = self.hierarchy.n_vertices, self.config
        nodes = np.arange(n) if nodes is None else np.asarray(nodes, dtype=np.int64)
        y = np.asarray(target, dtype=np.float64)
        self.target_1d_ = y.ndim == 1
        y = y.reshape(len(y), -1)
        if len(y) != len(nodes) or not len(nodes) or nodes.min() < 0 or nodes.max() >= n:
            raise GinrError(f"Give one target row per node, for nodes among the mesh's {n:,} vertices.")
        self.target_mean_, std = y.mean(axis=0), y.std(axis=0)
        self.target_std_ = np.where(std > 0, std, 1.0)
        if self.device.type == "cpu":
            set_training_threads()
        torch.manual_seed(cfg.seed)
        self.model_ = MeshFeatField(self.hierarchy, cfg, y.shape[1]).to(self.device)
        y_std = torch.as_tensor((y - self.target_mean_) / self.target_std_, dtype=torch.float32, device=self.device)
        node_t = torch.as_tensor(nodes, device=self.device)
        every_node = torch.arange(n, device=self.device)
        unseen = np.setdiff1d(np.arange(n), nodes)
        laplacian = self.hierarchy.laplacian[unseen].tocoo()  # the penalty's rows: the nodes no data reaches
        smoothing = torch.sparse_coo_tensor(np.vstack([laplacian.row, laplacian.col]), laplacian.data, laplacian.shape,
                                            dtype=torch.float32, device=self.device, check_invariants=True).coalesce()
        smooths = cfg.smoothness > 0 and len(unseen) > 0
        opt = torch.optim.Adam([{"params": self.model_.tables.parameters(), "lr": cfg.table_lr},
                                {"params": self.model_.mlp.parameters(), "lr": cfg.mlp_lr}])
        base_lrs = [cfg.table_lr, cfg.mlp_lr]
        batch = None if cfg.batch_size is None or cfg.batch_size >= len(nodes) else cfg.batch_size
        generator = torch.Generator().manual_seed(cfg.seed)
        self.steps_, step_cost, start = 0, 0.0, time.perf_counter()
        while True:
            step_start = time.perf_counter()
            spent = max(self.steps_ / steps if steps else 0.0,
                        (step_start - start + 0.5 * step_cost) / time_budget_s if time_budget_s else 0.0)
            if spent >= 1.0:
                break
            decay = cosine_decay(spent, cfg.final_lr_frac)
            for group, lr in zip(opt.param_groups, base_lrs):
                group["lr"] = lr * decay
            rows = slice(None) if batch is None else torch.randint(len(nodes), (batch,), generator=generator).to(self.device)
            loss = ((self.model_(node_t[rows]) - y_std[rows]) ** 2).mean()
            if smooths:
                loss = loss + cfg.smoothness * (smoothing @ self.model_(every_node)).pow(2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if not math.isfinite(loss.item()):
                raise GinrError("Training diverged (the loss became NaN/inf); try lower learning rates.")
            opt.step()
            self.steps_ += 1
            step_cost = time.perf_counter() - step_start
        self.model_.eval()
        return self

    @torch.no_grad()
    def predict(self) -> np.ndarray:
        """The prediction at every vertex of the mesh, in the target's units."""
        if not hasattr(self, "model_"):
            raise GinrError("This model has not been trained yet; call fit() first.")
        out = self.model_(torch.arange(self.hierarchy.n_vertices, device=self.device)).double().cpu().numpy()
        out = out * self.target_std_ + self.target_mean_
        return out[:, 0] if self.target_1d_ else out
