"""The run spec: a small serialisable description of everything a run needs, saved with every run.

Where the domain and the signal came from (for people: a built-in name and its parameters, a file's name and
hash, a netCDF field), what the model reads (`FeatureSpec`), the model and training configs, and the task with
its options. The arrays themselves (vertices, faces, target, masks) travel beside the spec as `RunInputs` and
are saved with the run, so a run is rebuilt and re-run from the registry alone, on any machine.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import GinrError
from ..geometry.features import FeatureSpec
from ..geometry.mesh import Mesh
from ..learning.model_config import ModelConfig
from ..learning.training import TrainConfig
from .kinds import task_kind



@dataclass(frozen=True)
class Source:
    """Where a domain or a signal came from. kind: e.g. "builtin", "file", "upload", "netcdf", "generated";
    `params` are what rebuilds it (a built-in's size, a signal's parameters); `sha256` fingerprints file bytes."""

    kind: str = "arrays"
    name: str = ""
    params: dict = field(default_factory=dict)
    sha256: str | None = None
    label: str = ""

    @classmethod
    def of_bytes(cls, kind: str, name: str, data: bytes, label: str = "", **params) -> Source:
        return cls(kind, name, params, hashlib.sha256(data).hexdigest(), label or name)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "name": self.name, "params": dict(self.params), "sha256": self.sha256, "label": self.label}

    @classmethod
    def from_dict(cls, data: dict | None) -> Source:
        data = data or {}
        return cls(data.get("kind", "arrays"), data.get("name", ""), dict(data.get("params") or {}),
                   data.get("sha256"), data.get("label", ""))


@dataclass(frozen=True)
class RunSpec:
    """Everything a run needs besides its arrays. `options` are the task's own: for "heldout" the held-out
    `fraction` and the split `seed`; for the others see their task modules."""

    task: str = "fit"
    domain: Source = field(default_factory=Source)
    signal: Source = field(default_factory=Source)
    features: FeatureSpec = field(default_factory=FeatureSpec)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    options: dict = field(default_factory=dict)

    def __post_init__(self):
        task_kind(self.task)  # an unknown task is refused
        encoder = replace(self.model.encoder, input_kind=self.features.input_kind, k=self.features.k)  # one k, one input kind
        model = replace(self.model, encoder=encoder)
        object.__setattr__(self, "model", model)

    @property
    def label(self) -> str:
        return f"{self.features.label} · {task_kind(self.task).label}"

    def description(self) -> dict:
        """What run lists show: domain, signal, input, task."""
        return {"domain": self.domain.label or self.domain.name, "signal": self.signal.label or self.signal.name,
                "input": self.features.label, "task": self.task}

    def to_dict(self) -> dict:
        return {"task": self.task, "domain": self.domain.to_dict(), "signal": self.signal.to_dict(),
                "features": self.features.to_dict(), "model": self.model.to_dict(), "train": self.train.to_dict(),
                "options": dict(self.options)}

    @classmethod
    def from_dict(cls, data: dict) -> RunSpec:
        if "features" not in data:
            raise GinrError("This run was recorded before run specs existed, so it cannot be rebuilt; train it again.")
        return cls(data.get("task", "fit"), Source.from_dict(data.get("domain")), Source.from_dict(data.get("signal")),
                   FeatureSpec.from_dict(data["features"]), ModelConfig.from_dict(data.get("model", {})),
                   TrainConfig.from_dict(data.get("train", {})), dict(data.get("options") or {}))


@dataclass
class RunInputs:
    """The arrays a run is trained on: its mesh and per-node target, plus task arrays (`extra`: a fine mesh, a
    series' frames and times...). Saved with the run as inputs.npz."""

    mesh: Mesh
    target: np.ndarray
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"vertices": self.mesh.vertices, "faces": self.mesh.faces, "target": np.asarray(self.target), **self.extra}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], name: str = "") -> RunInputs:
        extra = {k: v for k, v in arrays.items() if k not in ("vertices", "faces", "target")}
        return cls(Mesh(arrays["vertices"], arrays["faces"], name=name), arrays["target"], extra)
