"""Networks from configs: the one place that knows every model kind (a plain `NeuralField` in models.py, a
partitioned one in partitioned.py), so neither of those modules imports the other's user."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from torch import nn

from .model_config import ModelConfig, PartitionConfig
from .models import NeuralField, check_inputs
from .partitioned import PartitionedField


def build_model(config: ModelConfig, features: np.ndarray, out_features: int = 1, times: np.ndarray | None = None,
                seed: int = 0) -> NeuralField:
    """Build a model sized for these features, with input normalisation fitted to them (and to the range of
    `times`, which need not have one entry per feature row: a time series has one per frame)."""
    features, _, _ = check_inputs(features)
    config = replace(config, encoder=replace(config.encoder, in_features=features.shape[1]),
                     mlp=replace(config.mlp, out_features=int(out_features)))
    model = make_field(config, seed)
    model.encoder.fit(features, None if times is None else np.asarray(times, dtype=np.float64))
    return model


def make_field(config: ModelConfig, seed: int = 0) -> nn.Module:
    """The network a config describes (what a checkpoint rebuilds before loading its weights); `seed` draws its
    initial weights."""
    return NeuralField(config, seed) if config.partition is None else PartitionedField(config, seed)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def config_parameters(config: ModelConfig, in_features: int, n_parts: int = 1) -> int:
    """Parameters of the model `config` describes for inputs of `in_features` columns (and n_parts parts)."""
    config = replace(config, encoder=replace(config.encoder, in_features=in_features),
                     partition=config.partition and replace(config.partition, parts=list(range(n_parts))))
    return parameter_count(make_field(config))


MAX_WIDTH = 4096  # the widest layer equal_size_configs considers


def equal_size_configs(base: ModelConfig, in_features: int, n_parts: int, global_share: float = 0.1,
                       global_layers: int = 3, local_layers: int = PartitionConfig.local_layers) -> dict[str, ModelConfig]:
    """The plain `base` network and, at (nearly) its parameter count, a Local-Global model (a global MLP of
    `global_layers` layers holding about `global_share` of the weights, and local networks of `local_layers`
    layers) and a network per part. Widths are the largest that keep the count at or under base's."""
    plain = replace(base, partition=None)
    target = config_parameters(plain, in_features)

    def widest(make, budget: float, parts: int = n_parts) -> int:
        """The largest width up to MAX_WIDTH whose model fits `budget` (1 if none does): doubling, then bisection, so
        no candidate built is more than twice the answer (bisecting from 4,096 built 2,048-wide models: 2 s a call)."""
        def fits(width: int) -> bool:
            return config_parameters(make(width), in_features, parts) <= budget

        low = 1
        while low < MAX_WIDTH and fits(min(2 * low, MAX_WIDTH)):
            low = min(2 * low, MAX_WIDTH)
        high = min(2 * low, MAX_WIDTH) - 1 if low < MAX_WIDTH else MAX_WIDTH
        while low < high:
            middle = (low + high + 1) // 2
            low, high = (middle, high) if fits(middle) else (low, middle - 1)
        return low

    def with_mlp(config: ModelConfig, **changes) -> ModelConfig:
        return replace(config, mlp=replace(config.mlp, **changes))

    def with_local_hidden(config: ModelConfig, hidden: int) -> ModelConfig:
        return replace(config, partition=replace(config.partition, local_hidden=hidden))

    global_only = with_mlp(plain, n_layers=global_layers)
    global_hidden = widest(lambda h: with_mlp(global_only, hidden=h), global_share * target, parts=1)
    local_global = replace(with_mlp(plain, n_layers=global_layers, hidden=global_hidden),
                           partition=PartitionConfig("local_global", local_layers=local_layers))
    local_global = with_local_hidden(local_global, widest(lambda h: with_local_hidden(local_global, h), target))
    per_part = replace(plain, partition=PartitionConfig("per_part", local_layers=local_layers))
    per_part = with_local_hidden(per_part, widest(lambda h: with_local_hidden(per_part, h), target))
    return {"mlp": plain, "local_global": local_global, "per_part": per_part}
