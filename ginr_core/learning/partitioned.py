"""Croppable neural fields: a partition of the nodes, one small local network per part, and (Local-Global)
a global network shared by all (after Local-Global SIRENs, "Towards Croppable Implicit Neural Representations").

The output at a node is global(x) + the mean of local_p(x) over the parts p the node feeds (its home part,
plus its neighbours' parts when the partition overlaps). Cropping a part deletes its local weights: nodes
that feed only kept parts get exactly the same output as before, so a crop needs no retraining; nodes that
fed no kept part get NaN (the model no longer represents them). Extending trains a new part's local weights
with everything else frozen.

The local networks are stored stacked, one weight tensor (n_parts, fan_in, fan_out) per layer, and evaluated
together: rows are sorted by part into a zero-padded (n_parts, rows per part, features) block and pushed
through torch.baddbmm, so a step costs a few batched matrix products whatever the number of parts.

With overlap, training sees one row per (node, part it feeds), each predicting global + local_part: every
local network then fits its overlap nodes on its own, and cropping a neighbour changes such a node's output
only by the (small) disagreement between the two fits.
"""

from __future__ import annotations

import copy
import math
from dataclasses import replace

import numpy as np
import torch
from torch import nn

from ..errors import GinrError
from .model_config import ModelConfig
from .models import MLP, InputEncoder, _activation


class PartNets(nn.Module):
    """Small MLPs of the same shape, one per part, with stacked weights evaluated in one batched pass."""

    def __init__(self, n_nets: int, in_dim: int, out_dim: int, config: ModelConfig, generator: torch.Generator):
        super().__init__()
        local, mlp = config.partition, config.mlp  # the local networks' shape, and the activations they share with mlp
        dims = [in_dim] + [local.local_hidden] * (local.local_layers - 1) + [out_dim]
        self.weights = nn.ParameterList(nn.Parameter(torch.empty(n_nets, a, b)) for a, b in zip(dims, dims[1:]))
        self.biases = nn.ParameterList(nn.Parameter(torch.empty(n_nets, 1, b)) for b in dims[1:])
        first_omega_0 = mlp.omega_0 if mlp.first_omega_0 is None else mlp.first_omega_0
        self.activations = nn.ModuleList(
            _activation(mlp.activation, i, mlp.omega_0, first_omega_0) for i in range(len(dims) - 2)
        )
        self._init(mlp.activation, mlp.omega_0, generator)

    @torch.no_grad()
    def _init(self, activation: str, omega_0: float, generator: torch.Generator) -> None:
        """As MLP: SIREN's uniform weights for sine networks (PyTorch's Linear default otherwise), Linear's biases."""
        for i, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            fan_in = weight.shape[1]
            if activation in ("sine", "sine_tanh") and (i == 0 or activation == "sine" or i == 1):
                bound = 1.0 / fan_in if i == 0 else math.sqrt(6.0 / fan_in) / omega_0
            else:
                bound = 1.0 / math.sqrt(fan_in)
            weight.uniform_(-bound, bound, generator=generator)
            bias.uniform_(-1.0 / math.sqrt(fan_in), 1.0 / math.sqrt(fan_in), generator=generator)

    @property
    def n_nets(self) -> int:
        return self.weights[0].shape[0]

    def forward(self, x: torch.Tensor, net: torch.Tensor, hidden_only: bool = False) -> torch.Tensor:
        """Row i through network net[i]: rows grouped by network, zero-padded to the largest group, baddbmm.
        `hidden_only`: what the networks' output layer reads (their last hidden layer) instead of their output."""
        order = torch.argsort(net, stable=True)
        grouped = net[order]
        counts = torch.bincount(grouped, minlength=self.n_nets)
        position = torch.arange(len(net), device=x.device) - (torch.cumsum(counts, 0) - counts)[grouped]
        h = x.new_zeros(self.n_nets, int(counts.max()), x.shape[1])
        h[grouped, position] = x[order]
        last = len(self.weights) - 1
        for i, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            if hidden_only and i == last:
                break
            h = torch.baddbmm(bias, h, weight)
            if i < last:
                h = self.activations[i](h)
        inverse = torch.empty_like(order)
        inverse[order] = torch.arange(len(order), device=order.device)
        return h[grouped, position][inverse]

    def select(self, nets: list[int]) -> PartNets:
        """A copy holding only these networks, in this order (their weights copied bit for bit)."""
        out = copy.deepcopy(self)
        index = torch.as_tensor(nets, dtype=torch.long, device=self.weights[0].device)
        for params in (out.weights, out.biases):
            for i, p in enumerate(params):
                params[i] = nn.Parameter(p.detach()[index].clone())
        return out

    @staticmethod
    def concatenate(groups: list[PartNets]) -> PartNets:
        """One stack of every group's networks, in order (weights copied bit for bit, all trainable)."""
        out = copy.deepcopy(groups[0])
        for params_name in ("weights", "biases"):
            params = getattr(out, params_name)
            for i in range(len(params)):
                params[i] = nn.Parameter(torch.cat([getattr(g, params_name)[i].detach() for g in groups]).clone())
        return out


class PartitionedField(nn.Module):
    """Encoder + (local_global: a global MLP) + one local network per part in config.partition.parts; see the module
    docstring.

    `forward(features, times, signal, parts)`: parts is (rows, m) part ids, -1 padded: the parts each row feeds.
    """

    def __init__(self, config: ModelConfig, seed: int = 0):
        super().__init__()
        if config.partition is None or not config.partition.parts:
            raise GinrError("A partitioned model needs at least one part (PartitionConfig.parts).")
        self.config = config
        generator = torch.Generator().manual_seed(seed)
        self.encoder = InputEncoder(config.encoder, 0, generator)
        d = self.encoder.out_features
        self.mlp = MLP.of(config.mlp, d, generator) if config.partition.kind == "local_global" else None
        self.local_groups = nn.ModuleList([PartNets(len(self.parts), d, config.mlp.out_features, config, generator)])
        self._index_parts()

    def _index_parts(self) -> None:
        ids = torch.as_tensor(self.parts, dtype=torch.long)
        lookup = torch.full((int(ids.max()) + 1,), -1, dtype=torch.long)
        lookup[ids] = torch.arange(len(ids))
        self.register_buffer("slot_of_part", lookup, persistent=False)

    def slots(self, parts: torch.Tensor) -> torch.Tensor:
        """Each part id's position in `parts`, -1 for padding and for parts without a network here."""
        size = len(self.slot_of_part)
        known = (parts >= 0) & (parts < size)
        return torch.where(known, self.slot_of_part.to(parts.device)[parts.clamp(0, size - 1)], -1)

    def _fed(self, parts: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The (row, slot) pairs of the local networks each of the n rows feeds, and how many each row feeds."""
        slots = self.slots(parts.reshape(n, -1))
        row, column = (slots >= 0).nonzero(as_tuple=True)
        return row, slots[row, column], (slots >= 0).sum(dim=1)

    def forward(self, features, times=None, signal=None, parts=None) -> torch.Tensor:
        if parts is None:
            raise GinrError("A partitioned model needs the parts of every node (pass parts=).")
        x = self.encoder(features, times, signal)
        row, slot, count = self._fed(parts, len(x))
        local = x.new_zeros(len(x), self.config.mlp.out_features)
        start = 0
        for group in self.local_groups:  # one group, or two while an extension trains
            mine = (slot >= start) & (slot < start + group.n_nets)
            if mine.any():
                local = local.index_add(0, row[mine], group(x[row[mine]], slot[mine] - start))
            start += group.n_nets
        count = count[:, None]
        out = torch.where(count > 0, local / count.clamp(min=1), torch.nan)
        return out if self.mlp is None else out + self.mlp(x)

    # -- the output layers in closed form (readout.py) -----------------------------------------------------
    @property
    def readout_trainable(self) -> bool:
        """One group of local networks (not an extension's two) and every weight in training."""
        return len(self.local_groups) == 1 and all(p.requires_grad for p in self.parameters())

    def readout_features(self, features, times=None, signal=None, parts=None) -> torch.Tensor:
        """What the output layers read, side by side (readout.py's H): the global network's last hidden layer, then
        a block per part, its local network's last hidden layer and a ones column (its bias), divided by the number
        of parts the row feeds (the output averages them) and zero for the parts it does not feed. The output is
        linear in every output layer together, so one least-squares solve fits them all."""
        x = self.encoder(features, times, signal)
        row, slot, count = self._fed(parts, len(x))
        count = count.clamp(min=1)
        group = self.local_groups[0]
        width = group.weights[-1].shape[1] + 1
        block = torch.cat([group(x[row], slot, hidden_only=True), x.new_ones(len(row), 1)], dim=1) / count[row, None]
        columns = slot[:, None] * width + torch.arange(width, device=x.device)
        local = x.new_zeros(len(x), group.n_nets * width).index_put_((row[:, None].expand_as(columns), columns), block,
                                                                     accumulate=True)
        return local if self.mlp is None else torch.cat([self.mlp.last_hidden(x), local], dim=1)

    @torch.no_grad()
    def set_readout(self, w: torch.Tensor) -> None:
        """The solved output layers: w has `readout_features`' columns, then the bias of the whole, which is the
        global network's bias (without a global network, added to every part's: the output averages them)."""
        group, w = self.local_groups[0], w.to(self.local_groups[0].weights[-1].dtype)
        start = 0
        if self.mlp is not None:
            layer = self.mlp.linears[-1]
            start = layer.in_features
            layer.weight.copy_(w[:start].T)
            layer.bias.copy_(w[-1])
        blocks = w[start:-1].reshape(group.n_nets, -1, w.shape[1])
        group.weights[-1].copy_(blocks[:, :-1])
        group.biases[-1].copy_(blocks[:, -1:] + (w[-1] if self.mlp is None else 0))

    # -- editing ---------------------------------------------------------------------------------------
    @property
    def parts(self) -> list[int]:
        """The part ids that own a local network, in the order of the stacked weights."""
        return self.config.partition.parts

    def _with_parts(self, parts: list[int], groups: list[PartNets]) -> PartitionedField:
        out = copy.deepcopy(self)
        out.config = replace(self.config, partition=replace(self.config.partition, parts=[int(p) for p in parts]))
        out.local_groups = nn.ModuleList(groups)
        out._index_parts()
        return out

    def cropped(self, remove: list[int]) -> PartitionedField:
        """A copy without the local networks of the parts in `remove` (everything else bit for bit)."""
        self._check_single_group()
        remove = set(remove)
        missing = remove - set(self.parts)
        if missing:
            raise GinrError(f"Part {min(missing)} has no local network in this model (its parts: {_ranges(self.parts)}).")
        keep = [i for i, p in enumerate(self.parts) if p not in remove]
        if not keep:
            raise GinrError("Cropping every part would leave nothing: keep at least one.")
        return self._with_parts([self.parts[i] for i in keep], [self.local_groups[0].select(keep)])

    def extended(self, new_parts: list[int], seed: int = 0) -> PartitionedField:
        """A copy with fresh local networks for `new_parts`, in a second group; every other parameter frozen."""
        self._check_single_group()
        clash = set(new_parts) & set(self.parts)
        if clash:
            raise GinrError(f"Part {min(clash)} already has a local network; crop it first to retrain it.")
        if not new_parts or min(new_parts) < 0:
            raise GinrError("Give the ids (0 or more) of the parts to add.")
        old = self.local_groups[0]
        generator = torch.Generator().manual_seed(7919 * (seed + 1))  # not the first networks' draws
        new = PartNets(len(new_parts), old.weights[0].shape[1], self.config.mlp.out_features, self.config, generator)
        out = self._with_parts(self.parts + list(new_parts), [old, new.to(old.weights[0].device)])
        for p in out.parameters():
            p.requires_grad_(False)
        for p in out.local_groups[1].parameters():
            p.requires_grad_(True)
        return out

    def merged(self) -> PartitionedField:
        """One group again (what checkpoints hold), every parameter trainable."""
        out = self._with_parts(self.parts, [PartNets.concatenate(list(self.local_groups))])
        for p in out.parameters():
            p.requires_grad_(True)
        return out

    def _check_single_group(self) -> None:
        if len(self.local_groups) != 1:
            raise GinrError("This model is in the middle of an extension; merge it first.")

    # -- sizes -----------------------------------------------------------------------------------------
    def global_parameters(self) -> int:
        shared = sum(p.numel() for p in self.encoder.parameters())
        return shared + (0 if self.mlp is None else sum(p.numel() for p in self.mlp.parameters()))

    def local_parameters_per_part(self) -> int:
        group = self.local_groups[0]
        return sum(p.numel() for p in group.parameters()) // group.n_nets


def _ranges(parts: list[int]) -> str:
    return ", ".join(str(p) for p in parts) if len(parts) <= 12 else f"{len(parts)} parts"


def as_members(parts, n: int) -> np.ndarray:
    """Parts per node as an (n, m) int64 array: from a Partition (its members) or an (n,) / (n, m) array."""
    members = np.asarray(getattr(parts, "members", parts))
    members = members.reshape(-1, 1) if members.ndim == 1 else members
    if members.ndim != 2 or len(members) != n or not np.issubdtype(members.dtype, np.integer):
        raise GinrError(f"The parts must give an integer part id (or a row of them) for each of the {n:,} nodes.")
    return members.astype(np.int64)
