"""Presets written once: the recipes the command line, the pages and the tasks start from.

Fitting recipes (issue 22): how a network is fitted to a signal. `DEFAULT_FIT` is what `ModelConfig()` and
`TrainConfig()` give, used by every page and command that trains; `PREVIOUS_FIT` is the default before issue 22 (full
batches, no readout solve), kept to reproduce earlier runs and figures; `PAPER_FIT` is the reference code's recipe
(6 x 512 sine, AdamW 1e-4, 5000-node batches, plateau schedule), for reproducing the paper's setting.

Task presets: each lives here (or, for data-level recipes such as the Gray-Scott texture, in the lowest module that
uses it, re-exported here), and every default, help text and page widget reads it instead of repeating its
numbers. Changing a recipe here changes it everywhere.
"""

from __future__ import annotations

import inspect
from dataclasses import MISSING, dataclass, fields, is_dataclass, replace

from ..data.signals import PAPER_GRAY_SCOTT, GrayScottParams
from ..errors import GinrError
from .model_config import MLPConfig, ModelConfig
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
                      ModelConfig(mlp=MLPConfig(n_layers=6, hidden=512, omega_0=30.0, first_omega_0=30.0, skip=True)),
                      TrainConfig(lr=1e-4, batch_size=5000, schedule="plateau", optimizer="adamw", solve_readout=False))
FIT_RECIPES = {"default": DEFAULT_FIT, "previous": PREVIOUS_FIT, "paper": PAPER_FIT}

# --- task presets: data recipes, per-task defaults, the sweep grid and lists typed as text ------------------


@dataclass(frozen=True)
class GrayScottFamily:
    """A Gray-Scott collection: one texture per (F, k, seed), each after `steps` updates (the paper's Du, Dv)."""

    F: tuple[float, ...] = (0.048, 0.052, 0.056, 0.060)
    k: tuple[float, ...] = (0.062, 0.063)
    seeds: tuple[int, ...] = (PAPER_GRAY_SCOTT.seed,)
    steps: int = PAPER_GRAY_SCOTT.steps


GRAY_SCOTT_FAMILY = GrayScottFamily()  # eight textures that all form patterns (F 0.044-0.060, k 0.061-0.064)

# Super-resolution's embedding size (the command line's, the page's and SuperResolutionRequest's): few columns
# interpolate more smoothly between the coarse nodes (the paper used k = 7; see tasks/superres.py for omega_0).
SUPERRES_K = 36

# A classic INR's first-layer frequency for xyz coordinates in [-1, 1]. Fitting (Table 2's INRs, collections and
# their from-scratch baselines) takes SIREN's 30; interpolating between sparse observations takes 10, which
# predicts smoothly between them where 30 memorises them (as the GINR's InterpolationSettings.first_omega_0).
XYZ_FIT_FIRST_OMEGA_0 = 30.0
XYZ_INTERPOLATION_FIRST_OMEGA_0 = 10.0

_MLP, _TRAIN = MLPConfig(), TrainConfig()
# The sweep's values to try: the two embedding sizes and the two first-layer frequencies (SIREN's 30 and the
# fitting default) around the default recipe. Keys are tasks.sweep.SWEEP_PARAMETERS.
SWEEP_GRID = {
    "k": (16, 64),
    "activation": (_MLP.activation,),
    "width": (_MLP.hidden,),
    "depth": (_MLP.n_layers,),
    "omega_0": (_MLP.omega_0,),
    "first_omega_0": (XYZ_FIT_FIRST_OMEGA_0, _MLP.first_omega_0),
    "lr": (_TRAIN.lr,),
    "seed": (0,),
}


def default_of(owner, name: str):
    """The default of a dataclass's field or of a function's parameter: where a command-line option or a page
    widget starts, read from the request or function it feeds instead of typed again."""
    if is_dataclass(owner):
        found = next(f for f in fields(owner) if f.name == name)
        return found.default_factory() if found.default is MISSING else found.default
    return inspect.signature(owner).parameters[name].default


def comma_list(text: str, kind: type = float, what: str = "Values", example: str = "1, 2") -> tuple:
    """The items of a comma-separated list typed by a person (semicolons also separate; blanks are skipped),
    each read as `kind` (str, int or float); a GinrError naming `what` when one is not a number (or, for int,
    not a whole one)."""
    items = [item.strip() for item in text.replace(";", ",").split(",") if item.strip()]
    if kind is str:
        return tuple(items)
    try:
        numbers = [float(item) for item in items]
    except ValueError:
        numbers = None
    if numbers is None or (kind is int and not all(n.is_integer() for n in numbers)):
        raise GinrError(f"{what}: give numbers separated by commas, e.g. {example}; got '{text}'.")
    return tuple(kind(n) for n in numbers)


def list_text(values, separator: str = ", ") -> str:
    """A preset list as a person types it (`comma_list` reads it back): 30.0 -> "30", 0.002 -> "0.002"."""
    return separator.join(v if isinstance(v, str) else f"{v:g}" for v in values)


__all__ = ["DEFAULT_FIT", "FIT_RECIPES", "PAPER_FIT", "PREVIOUS_FIT", "FitRecipe", "GRAY_SCOTT_FAMILY", "PAPER_GRAY_SCOTT", "SUPERRES_K", "SWEEP_GRID", "XYZ_FIT_FIRST_OMEGA_0",
           "XYZ_INTERPOLATION_FIRST_OMEGA_0", "GrayScottFamily", "GrayScottParams", "comma_list", "default_of", "list_text"]
