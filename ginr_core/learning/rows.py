"""Training rows: what one step of the trainer draws from. A row is a node (NodeRows), a (node, part) pair of a
partitioned model (PartRows), or an (outer, node) pair of a time series or a collection (ProductRows: features kept
once per node, a batch gathers its rows' inputs)."""

from __future__ import annotations

import numpy as np
import torch

from ..errors import GinrError
from .models import NeuralField, check_inputs
from .partitioned import as_members


def node_tensors(model: NeuralField, features, times, signal) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    features, times, _ = check_inputs(features, times)
    if features.shape[1] < model.encoder.k:
        raise GinrError(f"The model uses {model.encoder.k} feature columns but got {features.shape[1]}.")
    device = next(model.parameters()).device
    x = torch.from_numpy(features).to(device)
    t = None if times is None else torch.as_tensor(times, dtype=torch.float32, device=device)
    s = None if signal is None else torch.as_tensor(np.asarray(signal), dtype=torch.long, device=device)
    return x, t, s


def _pick(tensor: torch.Tensor | None, rows) -> torch.Tensor | None:
    return None if tensor is None else tensor[rows]


class NodeRows:
    """Model inputs, one row per node: features with an optional per-row time, signal id and parts (and target)."""

    def __init__(self, model: NeuralField, features, times, signal, y_std: np.ndarray | None = None, parts=None):
        self.x, self.t, self.s = node_tensors(model, features, times, signal)
        self.y = None if y_std is None else torch.from_numpy(y_std).to(self.x.device)
        self.n = len(self.x)
        partitioned = model.config.partition is not None
        if partitioned != (parts is not None):
            raise GinrError("A partitioned model needs the parts of every node (parts=)." if partitioned
                            else "Only partitioned models (local_global, per_part) take parts.")
        self.p = None if parts is None else torch.from_numpy(as_members(parts, self.n)).to(self.x.device)

    def inputs(self, rows) -> tuple:
        inputs = self.x[rows], _pick(self.t, rows), _pick(self.s, rows)
        return inputs if self.p is None else (*inputs, self.p[rows])

    def node_values(self, values: np.ndarray) -> np.ndarray:
        """Per-node values from per-row ones (rows are nodes here)."""
        return values

    @torch.no_grad()
    def predict(self, model: NeuralField, chunk: int) -> np.ndarray:
        """Standardised predictions for every row, chunk by chunk, written into one preallocated array: keeping
        each chunk's small output alive between the large freed activations fragments the heap (measured: +4 MB
        of resident memory per 8192-row chunk, 6.7 GB for the bunny's 600-frame series)."""
        out = None
        for i in range(0, self.n, chunk):
            part = model(*self.inputs(slice(i, i + chunk)))
            if out is None:
                out = torch.empty((self.n, part.shape[1]), dtype=part.dtype, device=part.device)
            out[i : i + len(part)] = part
        return out.cpu().double().numpy()


class PartRows(NodeRows):
    """Training rows of a partitioned model: one per (node, part it feeds that has a local network), each asking
    global + that part's local network for the node's value (see partitioned.py: overlap nodes are fitted by
    each of their parts' networks)."""

    def __init__(self, model, features, parts, y_std: np.ndarray):
        super().__init__(model, features, None, None, y_std, parts)
        slots = model.slots(self.p)
        uncovered = int(((slots >= 0).sum(dim=1) == 0).sum())
        if uncovered:
            raise GinrError(f"{uncovered:,} nodes feed no part this model has a local network for.")
        self.node, column = (slots >= 0).nonzero(as_tuple=True)
        self.pair_part = self.p[self.node, column].reshape(-1, 1)
        self.y = self.y[self.node]
        self.n_nodes, self.n = len(self.x), len(self.node)
        self.node_index = self.node.cpu().numpy()

    def inputs(self, rows) -> tuple:
        return self.x[self.node[rows]], None, None, self.pair_part[rows]

    def node_values(self, values: np.ndarray) -> np.ndarray:
        """The mean over each node's rows (its output when every part it feeds is present)."""
        counts = np.bincount(self.node_index, minlength=self.n_nodes)
        sums = [np.bincount(self.node_index, weights=values[:, j], minlength=self.n_nodes) for j in range(values.shape[1])]
        return np.stack(sums, axis=1) / counts[:, None]


def training_rows(model, features, times, signal, parts, y_std: np.ndarray) -> NodeRows:
    if model.config.partition is not None and parts is not None:
        return PartRows(model, features, parts, y_std)
    return NodeRows(model, features, times, signal, y_std, parts)


class ProductRows(NodeRows):
    """Rows of every (outer, node) pair, numbered outer * n_nodes + node: features are kept once per node and a
    batch gathers its rows' inputs, so T frames or N signals on n nodes never build T * n feature rows (the
    bunny's 300 frames x 100 columns would take 4 GB)."""

    def __init__(self, model: NeuralField, features, n_outer: int, y_std: np.ndarray | None = None):
        super().__init__(model, features, None, None, y_std)
        self.n_nodes = len(self.x)
        self.n = self.n_nodes * n_outer

    def split(self, rows) -> tuple[torch.Tensor, torch.Tensor]:
        """(outer index, node index) of each row."""
        if isinstance(rows, slice):
            rows = torch.arange(rows.start, min(rows.stop, self.n), device=self.x.device)
        return rows // self.n_nodes, rows % self.n_nodes


class SeriesRows(ProductRows):
    """(frame, node) rows of a time series: each row carries its frame's time."""

    def __init__(self, model: NeuralField, features, times, y_std: np.ndarray | None = None):
        super().__init__(model, features, len(times), y_std)
        self.frame_times = torch.as_tensor(times, dtype=torch.float32, device=self.x.device)

    def inputs(self, rows) -> tuple:
        frame, node = self.split(rows)
        return self.x[node], self.frame_times[frame], None


class MemberRows(ProductRows):
    """(signal, node) rows of a collection: each row carries its signal's index."""

    def inputs(self, rows) -> tuple:
        signal, node = self.split(rows)
        return self.x[node], None, signal
