"""What every remote backend shares: a job whose task runs elsewhere (`RemoteJob`), the worker's side of it
(`run_remote`: the task in an ordinary `Job`, its state streamed back, a cancel honoured), and the driver's end of
the relay (`RelayEnd`), which applies the worker's registry calls to the driver's registry, so its runs land in
the same registry as a local one. How the messages travel is each backend's own (`runs.processes`,
`runs.ray_backend`).
"""

from __future__ import annotations

import gc
from dataclasses import dataclass, fields, is_dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable

from ..errors import GinrError, error_message
from .jobs import Job, JobState, ProgressRecord

STREAM_INTERVAL_S = 0.1  # how often a worker sends its job's state changes (and learns of a cancel)
REGISTRY_CALLS = frozenset({"create_run", "save_history", "finish"})  # all a task asks of `ctx.registry`


class RelayEnd:
    """One job's end of a relay on the driver, whatever carries it: registry calls from its worker(s) are applied
    to `registry` (the answer goes back to the worker), state changes passed to `on_changes`."""

    def __init__(self, registry, on_changes: Callable[[dict], None] | None = None):
        self.registry, self.on_changes = registry, on_changes
        self.created: list[str] = []  # the runs created through this relay
        self.finished: set[str] = set()  # those of them its workers recorded the end of

    def changes(self, payload: dict) -> None:
        if self.on_changes is not None:
            self.on_changes(payload)

    def call(self, method: str, args: tuple, kwargs: dict) -> tuple[bool, Any]:
        """(True, the registry's answer) or (False, the error message the worker raises in the task)."""
        try:
            if method not in REGISTRY_CALLS or self.registry is None:
                raise GinrError(f"A task asked the registry for '{method}', which is not forwarded.")
            value = getattr(self.registry, method)(*args, **kwargs)
        except Exception as exc:
            return False, error_message(exc)
        if method == "create_run":
            self.created.append(value)
        elif method == "finish":
            self.finished.add(args[0])
        return True, value


@dataclass(frozen=True)
class SavedCheckpoint:
    """A trained regressor as its checkpoint files (what `GINRRegressor.save` writes), to send to the driver: it
    is written there by the same `save(directory)` call, whatever device it was trained on."""

    files: dict[str, bytes]

    @classmethod
    def of(cls, regressor) -> SavedCheckpoint:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            regressor.save(tmp)
            return cls({path.name: path.read_bytes() for path in Path(tmp).iterdir()})

    def save(self, directory: str | Path) -> None:
        from ..storage.files import atomic_write

        for name, data in self.files.items():
            atomic_write(Path(directory) / name, data)


class RemoteRegistry:
    """The driver's registry as a task on a worker sees it: the calls tasks make, forwarded through the relay
    (the driver's run ids come back; checkpoints travel as bytes)."""

    def __init__(self, channel):
        self._channel = channel

    def _call(self, method: str, *args, **kwargs):
        ok, value = self._channel.ask(method, args, kwargs)
        if not ok:
            raise GinrError(value)
        return value

    def create_run(self, spec, inputs=None) -> str:
        return self._call("create_run", spec, inputs)

    def save_history(self, run_id: str, history: list[dict]) -> None:
        self._call("save_history", run_id, history)

    def finish(self, run_id: str, status: str, *, regressor=None, **files) -> None:
        if regressor is not None and not isinstance(regressor, SavedCheckpoint):  # one passed on by a relay is bytes already
            regressor = SavedCheckpoint.of(regressor)
        self._call("finish", run_id, status, regressor=regressor, **files)


# --- state streaming ------------------------------------------------------------------------------------------


def _plain(record: ProgressRecord | None) -> ProgressRecord | None:
    """A record that pickles (its values as a dict, not a read-only mapping proxy)."""
    return None if record is None else replace(record, values=dict(record.values))


def _frozen(record: ProgressRecord | None) -> ProgressRecord | None:
    return None if record is None else replace(record, values=MappingProxyType(dict(record.values)))


class _StateStream:
    """What a worker has sent of its job's state, so that each post carries only what changed."""

    def __init__(self):
        self.sent = JobState()

    def changes(self, state: JobState) -> dict:
        sent, out = self.sent, {}
        if state.progress is not sent.progress:
            out["progress"] = _plain(state.progress)
        if state.parts is not sent.parts:
            out["parts"] = {name: _plain(record) for name, record in state.parts.items()}
        for name in ("result", "run_id"):
            if getattr(state, name) is not getattr(sent, name):
                out[name] = _on_cpu(getattr(state, name))
        if state.history is not sent.history:
            n = len(sent.history)
            kept = n if len(state.history) >= n and (n == 0 or state.history[n - 1] is sent.history[n - 1]) else 0
            out["history"] = (kept, state.history[kept:])  # a new fit starts its history afresh
        if state.snapshot is not sent.snapshot or state.snapshot_step != sent.snapshot_step:
            out["snapshot"] = (state.snapshot, state.snapshot_step)
        self.sent = state
        return out


def _on_cpu(value):
    """A task's result made readable on a driver without a GPU: trained regressors inside it moved to the CPU."""
    from ..learning.training import GINRRegressor

    if isinstance(value, GINRRegressor) and hasattr(value, "model_"):
        value.model_.cpu()
        value.train_config = replace(value.train_config, device="cpu")
    elif isinstance(value, dict):
        for item in value.values():
            _on_cpu(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _on_cpu(item)
    elif is_dataclass(value) and not isinstance(value, type):
        for f in fields(value):
            _on_cpu(getattr(value, f.name))
    return value


def run_remote(task: Callable, spec: Any, channel, label: str, registered: bool, make_job: Callable = Job) -> tuple:
    """On the worker: run the task in a job (`make_job(task, spec, label=, registry=)`, an ordinary `Job` unless the
    backend says otherwise), stream its state through `channel` (anything with `open`, `post`, `ask`, `close`),
    honour a cancel; return its final outcome (status, result, error, run_id)."""
    if not channel.open():  # cancelled while it waited in the queue
        channel.close()
        return "cancelled", None, None, None
    job = make_job(task, spec, label=label, registry=RemoteRegistry(channel) if registered else None).start()
    stream = _StateStream()
    try:
        while True:
            finished = job.done  # read first: the post after the job ended carries all of its changes
            if channel.post(stream.changes(job.state)):
                job.cancel()
            if finished:
                break
            job.join(STREAM_INTERVAL_S)
    finally:
        channel.close()
    state = job.state
    del job
    gc.collect()  # a long-lived worker keeps no garbage of the jobs it ran
    return state.status, _on_cpu(state.result), state.error, state.run_id


class RemoteJob(Job):
    """A `Job` whose task runs elsewhere (`run_remote` on a worker); the same interface (state, done, start, run, cancel,
    join, wait_for_run), the state streamed back while it works, its runs recorded in the driver's registry.
    Subclasses say how to open the relay and hand the work to a worker, wait for it and read its outcome."""

    where = "remote worker"  # said in the error when the worker itself fails
    first_status = "running"  # while the work is handed over

    def _apply(self, changes: dict) -> None:
        with self._lock:
            s, update = self._state, {}
            if "progress" in changes:
                update["progress"] = _frozen(changes["progress"])
            if "parts" in changes:
                update["parts"] = MappingProxyType({name: _frozen(r) for name, r in changes["parts"].items()})
            if "history" in changes:
                kept, rows = changes["history"]
                update["history"] = (*s.history[:kept], *rows)
            if "snapshot" in changes:
                update["snapshot"], update["snapshot_step"] = changes["snapshot"]
            update.update({name: changes[name] for name in ("result", "run_id") if name in changes})
            self._state = replace(s, **update)

    def _open(self):
        """The relay end for this job (its `channel` goes to the worker)."""
        raise NotImplementedError

    def _submit(self, server):
        """Hand the work to a worker; return a handle to wait on."""
        raise NotImplementedError

    def _wait(self, handle, timeout: float) -> bool:
        """Whether the work has finished, after waiting at most `timeout` seconds."""
        raise NotImplementedError

    def _outcome(self, handle) -> tuple:
        """(status, result, error, run_id) of the finished work."""
        raise NotImplementedError

    def _stop(self, server, handle) -> None:
        """Pass a cancel on to the worker."""
        server.cancel()

    def run(self) -> JobState:
        """Send the work to a worker and follow it there; return the final state."""
        self._set(status=self.first_status)
        try:
            server = self._open()
        except Exception as exc:
            self._set(status="failed", error=error_message(exc))
            return self.state
        try:
            handle = self._submit(server)
            told = False
            while not self._wait(handle, STREAM_INTERVAL_S):
                if self._cancel.is_set() and not told:
                    self._stop(server, handle)
                    told = True
            status, result, error, run_id = self._outcome(handle)
        except GinrError as exc:  # the backend said why
            status, result, error, run_id = "failed", None, error_message(exc), None
        except Exception as exc:  # the worker died (out of memory, node lost) or the backend failed
            status, result, error, run_id = "failed", None, f"The {self.where} failed: {error_message(exc)}", None
        finally:
            server.close()
        run_id = run_id or self.state.run_id
        if status == "failed" and run_id is not None and self.registry is not None \
                and not isinstance(self.registry, RemoteRegistry) \
                and self.registry.get(run_id).status == "running":  # the worker could not record its own end
            self.registry.finish(run_id, "failed", error=error, history=list(self.state.history))
        self._set(status=status, result=result, error=error, run_id=run_id)
        return self.state

