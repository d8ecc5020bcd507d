"""What each kind of recorded run can do, in one table: its label, whether it can be re-run, predicted and exported
(and to what), and which command and page run it. The run layer (`runs.actions`, `runs.fitting`, `runs.spec`),
the pages and the CLI ask this table; no other module lists task names.

A task added as a plugin registers its kind here (`register_kind`) beside its request and task function; nothing
else is edited (see ARCHITECTURE.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from ..errors import GinrError

EXPORT_FORMATS = {"ply": "ply", "npz": "npz", "checkpoint": "zip", "html": "html"}  # format -> file extension


@dataclass(frozen=True)
class TaskKind:
    """One kind of recorded run (a RunSpec's `task`).

    rerun: its spec and inputs alone train it again (`runs.fitting.fit_task`: the Results page's Re-run, `ginr rerun`).
    predict: one network predicts on its own mesh from features rebuilt from its spec (`ginr predict`).
    exports: the formats `runs.actions.export_run` writes (keys of EXPORT_FORMATS).
    results: the Results page shows it (one prediction per node of the run's own mesh).
    scored_on: where its metrics are taken, in words ("{n_scored:,}" is filled in from its metrics).
    command, page: the CLI command and the dashboard page that run it.
    """

    name: str
    label: str
    command: str
    page: str
    rerun: bool = False
    predict: bool = False
    exports: tuple[str, ...] = ()
    results: bool = False
    scored_on: str = "all nodes"

    def __post_init__(self):
        unknown = set(self.exports) - set(EXPORT_FORMATS)
        if unknown:
            raise GinrError(f"Unknown export format(s) {', '.join(sorted(unknown))}; choose from {', '.join(EXPORT_FORMATS)}.")

    def where_scored(self, metrics: dict) -> str:
        return self.scored_on.format(n_scored=int(metrics.get("n_scored", 0) or 0))


_KINDS: dict[str, TaskKind] = {}
TASK_KINDS = MappingProxyType(_KINDS)  # name -> TaskKind, read-only: `register_kind` adds


def register_kind(kind: TaskKind) -> TaskKind:
    """Add a kind of run (a plugin task's); registering the same kind again changes nothing, another under a taken
    name is refused."""
    if _KINDS.get(kind.name, kind) != kind:
        raise GinrError(f"A task kind named '{kind.name}' is already registered.")
    _KINDS[kind.name] = kind
    return kind


def task_kind(name: str) -> TaskKind:
    """The kind of a run's task (GinrError for a name no kind is registered under)."""
    if name not in _KINDS:
        raise GinrError(f"Unknown task '{name}'; choose one of {', '.join(_KINDS)}.")
    return _KINDS[name]


def listed_kind(name: str | None) -> TaskKind:
    """The kind of a listed run; for a task no kind is registered under in this process (a plugin whose module is
    not imported), one that can do nothing but be listed under its name."""
    return _KINDS.get(name) or TaskKind(name or "", name or "", "", "")


ALL_FORMATS = tuple(EXPORT_FORMATS)
for _kind in (
    TaskKind("fit", "fit all nodes", "ginr train", "pages/train.py", rerun=True, predict=True, exports=ALL_FORMATS,
             results=True),
    TaskKind("heldout", "held-out fit", "ginr train", "pages/train.py", rerun=True, predict=True, exports=ALL_FORMATS,
             results=True, scored_on="the {n_scored:,} held-out nodes (never trained on)"),
    TaskKind("superres", "super-resolution", "ginr superres", "pages/super_resolution.py",
             exports=("ply", "checkpoint", "html"), results=True,
             scored_on="the coarse nodes, read off the fine prediction (self-consistency)"),
    TaskKind("series", "time series", "ginr timeseries", "pages/timeseries.py", predict=True, exports=("checkpoint",)),
    TaskKind("crop", "cropped", "ginr crop", "pages/crop.py", predict=True, exports=ALL_FORMATS, results=True,
             scored_on="the {n_scored:,} nodes the cropped model still represents (the rest is cut out: NaN)"),
    TaskKind("extend", "extended", "ginr crop", "pages/crop.py", predict=True, exports=ALL_FORMATS, results=True,
             scored_on="the {n_scored:,} nodes the extended model represents"),
    TaskKind("collection", "signal collection", "ginr collection", "pages/collections.py", exports=("checkpoint",)),
    TaskKind("interpolation", "interpolation from sparse observations", "ginr interpolate", "pages/interpolation.py"),
):
    register_kind(_kind)
