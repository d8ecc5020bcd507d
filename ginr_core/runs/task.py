"""The task contract: what every task's request, outcome and loop share, written once.

A task is a request (a frozen `TaskRequest`), a task function `task(request, ctx)` (see runs.jobs) and a kind of
recorded run (`runs.kinds.TaskKind`). Requests name the same things alike: `domain` and `signal` (where the mesh
and the values came from), `features` (FeatureSpec), `model` (ModelConfig), `train` (TrainConfig); `spec(item,
group)` is the RunSpec recorded for one item (or for the whole request, when it records one run). A request that
reads a recorded run names it `run_id`, and its spec takes that run's (`recorded=`): what it records derives from
it (an extension, a new signal's from-scratch fit). A task that works through a list of items (models,
strategies, methods) gives it to `run_items`, which publishes the outcomes as they change, marks the items a
cancel skips "cancelled" and an item that raises "failed" (the next one runs); each registered run is opened with
`RecordedRun`, which finishes it "failed" if its work raises.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence, TypeVar

from ..errors import Cancelled, GinrError, error_message
from .jobs import STATUSES, JobContext
from .registry import Registry
from .spec import RunInputs, RunSpec, Source


@dataclass(frozen=True, eq=False, kw_only=True)
class TaskRequest:
    """The base of every task's request: where the domain and the signal came from (recorded in its runs' specs)."""

    domain: Source = field(default_factory=Source)
    signal: Source = field(default_factory=Source)

    def spec(self, item: str | None = None, group: str = "") -> RunSpec:
        """The run spec recorded for `item` (None: the request's one run), its runs grouped by `group`."""
        raise NotImplementedError(f"{type(self).__name__} records no run.")


@dataclass(frozen=True, eq=False)
class ItemOutcome:
    """One item of a task (a model, a strategy, a method), as a UI reads it. `status` is a job status (runs.jobs:
    pending, running, done, cancelled, failed; `error` says why it failed); `seconds` of wall-clock time; `run_id`:
    its registered run, if it has one."""

    name: str
    status: str = "pending"
    error: str | None = None
    seconds: float = 0.0
    run_id: str | None = None

    def __post_init__(self):
        if self.status not in STATUSES:
            raise GinrError(f"Unknown status {self.status!r}; choose one of {', '.join(STATUSES)}.")


@dataclass(frozen=True, eq=False)
class ResultOutcome(ItemOutcome):
    """An item whose outcome is one value (a trained model's scores, say), for tasks that return those by name."""

    result: Any = None


def done_results(outcomes: Sequence[ResultOutcome]) -> dict[str, Any]:
    """{name: result} of the items that finished, in order (what a task of ResultOutcomes returns and publishes)."""
    return {o.name: o.result for o in outcomes if o.status == "done"}


Outcome = TypeVar("Outcome", bound=ItemOutcome)


class RecordedRun:
    """A registered run, as a context manager: created on entry (no run without a registry), made the job's current
    run, and finished "failed" with the traceback when the work inside raises an error before `finish`. What is not
    an error (a worker being stopped: Ray Tune ends a trial ASHA stops so, by a BaseException) leaves the run to
    whoever stops it, as Job.run does (a sweep records such trials "cancelled"). Work too quick to be a job (a
    crop) records its run with no `ctx`, in `registry`."""

    def __init__(self, ctx: JobContext | None, spec: RunSpec, inputs: RunInputs | None, registry: Registry | None = None):
        self.ctx, self.spec, self.inputs = ctx, spec, inputs
        self.registry = ctx.registry if ctx is not None else registry
        self.id: str | None = None
        self.finished = False

    def __enter__(self) -> RecordedRun:
        self.id = self.registry.create_run(self.spec, self.inputs) if self.registry is not None else None
        if self.ctx is not None:
            self.ctx.set_run(self.id)
        return self

    def finish(self, status: str, **files) -> None:
        """Write the run's files and its final status (Registry.finish's arguments)."""
        if self.id is not None:
            self.registry.finish(self.id, status, **files)
        self.finished = True

    def __exit__(self, kind, exc, tb) -> bool:
        if isinstance(exc, Exception) and not self.finished:
            self.finish("cancelled" if isinstance(exc, Cancelled) else "failed", error=traceback.format_exc())
        return False


def run_items(ctx: JobContext, outcomes: Sequence[Outcome], work: Callable[[int, Callable[..., None]], dict], *,
              publish: Callable[[list[Outcome]], Any] = list, message: str = "", raise_failures: bool = False) -> list[Outcome]:
    """Each outcome's item in turn, through `work(i, update)`: it returns the item's changes (status "done" unless
    they say otherwise) and may `update(**changes)` it while it runs (a run id, say). Every change is published
    (`ctx.publish(publish(outcomes))`); a cancel marks the items not yet started "cancelled"; an item that raises
    is "failed" with the error's message and the next one runs (`raise_failures`: the job fails with it instead).
    Returns the outcomes, in order."""
    outcomes = list(outcomes)
    n = len(outcomes)

    def update(i: int, **changes) -> None:
        outcomes[i] = replace(outcomes[i], **changes)
        ctx.publish(publish(outcomes))

    ctx.publish(publish(outcomes))
    for i, outcome in enumerate(outcomes):
        if ctx.cancelled():
            ctx.stopped_early = True
            update(i, status="cancelled")
            continue
        update(i, status="running")
        ctx.report(i / n, message or outcome.name, part=outcome.name)
        t0 = time.perf_counter()
        try:
            changes = dict(work(i, lambda **changes: update(i, **changes)))
        except Cancelled:
            changes = {"status": "cancelled"}
        except Exception as exc:  # one item failing (kriging on degenerate data, say) does not stop the others
            if raise_failures:
                raise
            changes = {"status": "failed", "error": error_message(exc)}
        changes.setdefault("status", "done")
        ctx.stopped_early = ctx.stopped_early or changes["status"] == "cancelled"
        update(i, seconds=time.perf_counter() - t0, **changes)
    return outcomes
