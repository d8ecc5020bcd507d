"""Named recipes: the configurations worth reaching by name, each written once.

Fitting recipes (issue 22): how a network is fitted to a signal. `DEFAULT_FIT` is what `ModelConfig()` and
`TrainConfig()` give, used by every page and command that trains; `PREVIOUS_FIT` is the default before issue 22 (full
batches, no readout solve), kept to reproduce earlier runs and figures; `PAPER_FIT` is the reference code's recipe
(6 x 512 sine, AdamW 1e-4, 5000-node batches, plateau schedule), for reproducing the paper's setting.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .models import ModelConfig
from .training import TrainConfig

# -- fitting recipes (issue 22) ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FitRecipe:
    """A model and how to train it; `configs` gives both with changes to the training (a budget, a seed)."""

    label: str
    model: ModelConfig
    train: TrainConfig

    def configs(self, **train_changes) -> tuple[ModelConfig, TrainConfig]:
        return replace(self.model), replace(self.train, **train_changes)


DEFAULT_FIT = FitRecipe("default: 8192-node batches, least-squares readout", ModelConfig(), TrainConfig())
PREVIOUS_FIT = FitRecipe("previous default: full batches, no readout solve", ModelConfig(),
                         TrainConfig(batch_size=None, solve_readout=False))
PAPER_FIT = FitRecipe("paper reference: 6 x 512 sine, AdamW 1e-4, 5000-node batches, plateau",
                      ModelConfig(n_layers=6, hidden=512, omega_0=30.0, first_omega_0=30.0, skip=True),
                      TrainConfig(lr=1e-4, batch_size=5000, schedule="plateau", optimizer="adamw", solve_readout=False))
FIT_RECIPES = {"default": DEFAULT_FIT, "previous": PREVIOUS_FIT, "paper": PAPER_FIT}

# -- end of fitting recipes -------------------------------------------------------------------------------------------
