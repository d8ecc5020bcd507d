"""One job contract for every piece of background work: training, comparisons, super-resolution, series...

A job is a module-level *task* function `task(spec, ctx) -> result` applied to a picklable `spec`. The task
reports through its `JobContext` (progress records, cancel checks, the registry); the `Job` around it keeps a
frozen `JobState` that a UI polls. Because a task is a plain function of its spec, the same task can run in
this process (`Job.start`, a thread), synchronously (`Job.run`, the CLI) or in another process or machine (a
backend that ships the spec and streams the records back, see `ginr_core.runs.backends`).

Statuses, one vocabulary for every job: pending -> running -> done | cancelled | failed (and interrupted, for
a registered run whose process died: set by the registry).
"""

from __future__ import annotations

import atexit
import threading
import time
import traceback
import weakref
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Callable, Mapping

import numpy as np

from ..errors import Cancelled, GinrError, error_message

if TYPE_CHECKING:
    from ..learning.training import Progress
    from .registry import Registry

STATUSES = ("pending", "running", "done", "cancelled", "failed", "interrupted")
FINISHED = frozenset({"done", "cancelled", "failed", "interrupted"})
HISTORY_SAVE_EVERY_S = 10.0  # a registered run's learning curves are saved this often while it trains


@dataclass(frozen=True)
class ProgressRecord:
    """One progress report: how far the whole job is (`fraction`, 0..1), its time so far and to go, and the live
    numbers (`values`: step, loss, r2, ...) of the part being worked on (`part`: a model, a strategy...)."""

    fraction: float = 0.0
    message: str = ""
    elapsed_s: float = 0.0
    eta_s: float | None = None
    part: str | None = None
    values: Mapping[str, float] = field(default_factory=dict)


# No time to go is shown before this much work: the first second (and the first steps of a fit: set-up, warm
# caches) says little about the rest; at step 1 of a 20 s fit an extrapolation said 243 s.
ETA_AFTER_S = 1.0
ETA_AFTER_STEPS = 5


def eta(fraction: float, elapsed_s: float) -> float | None:
    """Seconds left if the rest goes as fast as the work so far (None before ETA_AFTER_S of it; 0 when done)."""
    if fraction >= 1.0:
        return 0.0
    return elapsed_s * (1.0 - fraction) / fraction if fraction > 0.0 and elapsed_s >= ETA_AFTER_S else None


def training_eta(p: Progress, start: float = 0.0, span: float = 1.0) -> float | None:
    """Seconds left of a job whose part [start, start + span] is this fit: the fit's own time to go (a budget's
    remaining seconds, or the remaining steps at the measured rate), plus the parts after it if each share takes
    as long as this one. None before ETA_AFTER_S and ETA_AFTER_STEPS of the fit, or when nothing bounds it."""
    if p.elapsed_s < ETA_AFTER_S or p.step < ETA_AFTER_STEPS or not np.isfinite(p.eta_s):
        return None
    after = max(1.0 - start - span, 0.0) / span * (p.elapsed_s + p.eta_s) if span > 0 else 0.0
    return p.eta_s + after


@dataclass(frozen=True)
class JobState:
    """A consistent copy of a job for a UI to poll. `parts` holds the latest record of each part; `history` the
    training rows (step, loss, r2, ...) of the current fit, `snapshot` its latest full-domain prediction."""

    status: str = "pending"
    progress: ProgressRecord | None = None
    parts: Mapping[str, ProgressRecord] = field(default_factory=dict)
    result: Any = None
    error: str | None = None
    run_id: str | None = None
    history: tuple[dict, ...] = ()
    snapshot: np.ndarray | None = None
    snapshot_step: int = -1

    @property
    def done(self) -> bool:
        return self.status in FINISHED


class JobContext:
    """What a task sees of its job: report progress, check for a cancel, record runs."""

    def __init__(self, job: Job):
        self._job = job
        self.cancel_event = job._cancel
        self.registry = job.registry
        self.stopped_early = False  # set by a task whose work a cancel cut short (see Job.run)
        self._start = time.perf_counter()
        self._history_saved_at = 0.0

    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def elapsed(self) -> float:
        return time.perf_counter() - self._start

    def report(self, fraction: float, message: str = "", *, part: str | None = None, **values: float) -> None:
        fraction = min(max(float(fraction), 0.0), 1.0)
        elapsed = self.elapsed()
        record = ProgressRecord(fraction, message, elapsed, eta(fraction, elapsed), part, MappingProxyType(dict(values)))
        self._job._record(record)

    def progress(self, start: float = 0.0, span: float = 1.0, part: str | None = None) -> Callable[[float, str], None]:
        """A `progress(fraction, message)` callback (as the core's long computations take) mapped into
        [start, start + span] of the job."""
        return lambda fraction, message="": self.report(start + span * fraction, message, part=part)

    def publish(self, partial_result) -> None:
        """Make a partial result visible in the state while the task goes on (e.g. the models finished so far)."""
        self._job._set(result=partial_result)

    @property
    def run_id(self) -> str | None:
        """The registered run this job is writing now (see set_run)."""
        return self._job.state.run_id

    def set_run(self, run_id: str | None) -> None:
        """The registered run this job is writing (shown by UIs; its curves are saved while it trains)."""
        self._history_saved_at = 0.0
        self._job._set(run_id=run_id)

    def training_callback(self, part: str | None = None, start: float = 0.0, span: float = 1.0) -> Callable[[Progress], None]:
        """A callback for `GINRRegressor.fit`: its progress mapped into [start, start + span] of the job, its rows
        kept as the job's history (saved to the current run every HISTORY_SAVE_EVERY_S) and its snapshots."""
        self._job._set(history=(), snapshot=None, snapshot_step=-1)

        def callback(p: Progress) -> None:
            fraction = start + span * p.fraction
            elapsed = self.elapsed()
            values = {"step": p.step, "loss": p.loss, "r2": p.r2, "lr": p.lr, "steps_per_s": p.steps_per_s,
                      "fit_elapsed_s": p.elapsed_s, "fit_eta_s": p.eta_s}
            record = ProgressRecord(fraction, f"step {p.step}, R² {p.r2:.4f}", elapsed, training_eta(p, start, span), part,
                                    MappingProxyType(values))
            self._job._record(record, row=p.row(), snapshot=p.snapshot, step=p.step)
            run_id = self._job._state.run_id
            if self.registry is not None and run_id is not None and p.elapsed_s >= self._history_saved_at + HISTORY_SAVE_EVERY_S:
                self.registry.save_history(run_id, list(self._job._state.history))  # an interrupted run keeps its curves
                self._history_saved_at = p.elapsed_s

        return callback


@dataclass(frozen=True, eq=False)
class Call:
    """A function call as a job's spec: `function(*args, **kwargs, progress=...)` for data preparation (a simulation,
    an embedding, a file read) that a page runs off its script thread, with progress and cancel."""

    function: Callable
    args: tuple = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)


def call_task(call: Call, ctx: JobContext):
    """Run `call` with a progress callback that reports to the job and, once the job is cancelled, raises
    Cancelled at the function's next report: a function that reports progress can be cancelled."""
    def progress(fraction: float, message: str = "") -> None:
        if ctx.cancelled():
            raise Cancelled("Cancelled.")
        ctx.report(fraction, message)

    try:
        return call.function(*call.args, **call.kwargs, progress=progress)
    except Cancelled:
        ctx.stopped_early = True
        return None


_LIVE: weakref.WeakSet[Job] = weakref.WeakSet()


def reads_registry(task: Callable) -> Callable:
    """Mark a task that reads recorded runs (their checkpoints, inputs, statuses) from the registry: it runs in
    the process holding the registry whatever the backend, since a worker reaches the registry only to record
    (`create_run`, `save_history`, `finish`)."""
    task.reads_registry = True
    return task


@atexit.register
def _stop_live_jobs() -> None:
    """A torch thread still running at interpreter exit can crash the process: stop them first."""
    for job in list(_LIVE):
        job.cancel()
        job.join(timeout=10)


class Job:
    """`task(spec, ctx)` run once, in a daemon thread (`start`) or in the caller's (`run`), with a pollable state.

    The state is replaced, never mutated, under a lock: `state` is always a consistent snapshot. The job ends
    "done" with the task's result, "cancelled" when a cancel cut the work short (`ctx.stopped_early`; a cancel
    arriving after the work finished changes nothing), or "failed" with the error's message (the traceback goes
    to the current run's record, if any).
    """

    def __init__(self, task: Callable[[Any, JobContext], Any], spec: Any, *, label: str = "",
                 registry: Registry | None = None):
        self.task, self.spec, self.label, self.registry = task, spec, label or task.__name__, registry
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._state = JobState()

    @property
    def state(self) -> JobState:
        with self._lock:
            return self._state

    @property
    def done(self) -> bool:
        return self.state.done

    def _set(self, **changes) -> None:
        with self._lock:
            self._state = replace(self._state, **changes)

    def _record(self, record: ProgressRecord, row: dict | None = None, snapshot=None, step: int = -1) -> None:
        with self._lock:
            s = self._state
            changes = {"progress": record}
            if record.part is not None:
                changes["parts"] = MappingProxyType({**s.parts, record.part: record})
            if row is not None:
                changes["history"] = (*s.history, row)
            if snapshot is not None:
                changes.update(snapshot=snapshot, snapshot_step=step)
            self._state = replace(s, **changes)

    def run(self) -> JobState:
        """Do the work in the calling thread; return the final state."""
        ctx = JobContext(self)
        self._set(status="running")
        try:
            result = self.task(self.spec, ctx)
            self._set(status="cancelled" if ctx.stopped_early else "done", result=result)
        except Exception as exc:  # a UI shows the message; the run's record keeps the traceback
            run_id = self.state.run_id
            if self.registry is not None and run_id is not None:
                self.registry.finish(run_id, "failed", error=traceback.format_exc(), history=list(self.state.history))
            self._set(status="failed", error=error_message(exc))
        return self.state

    def start(self) -> Job:
        if self._thread is not None:
            raise GinrError("This job has already been started.")
        self._thread = threading.Thread(target=self.run, name=f"ginr-{self.label}", daemon=True)
        _LIVE.add(self)
        self._thread.start()
        return self

    def cancel(self) -> None:
        self._cancel.set()

    def join(self, timeout: float | None = None) -> JobState:
        """Wait for the work to finish (or the timeout to pass); return the state."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.state

    def jobs_ahead(self) -> int | None:
        """How many jobs wait before this one in its backend's queue; None when it is not waiting in one (a local
        job starts at once)."""
        return None

    def wait_for_run(self, timeout: float = 30.0) -> str:
        """The registered run's id, once the task has created it (within milliseconds of the start; the timeout
        counts from then for a job waiting in its backend's queue)."""
        deadline = time.monotonic() + timeout
        while self.state.run_id is None and not self.done and time.monotonic() < deadline:
            if self.jobs_ahead() is not None:
                deadline = time.monotonic() + timeout
            time.sleep(0.01)
        if self.state.run_id is None:
            raise GinrError(self.state.error or "The run could not start.")
        return self.state.run_id
