"""Where jobs run: "local" (a thread of this process, no setup) or "ray" (a Ray worker, on this machine or a cluster).

A Ray job ships its task and request (the run spec and its arrays, through Ray's object store) to a worker, so
workers need no shared disk. On the worker the task runs inside an ordinary `Job`; a relay actor (one per
driver, a channel per job) carries its state changes (progress, parts, curves, snapshots, partial results) to the
driver, the driver's cancel to the worker, and the task's registry calls (`create_run`, `save_history`, `finish`) to the driver's registry,
which answers with its own run ids: a run trained on a GPU box lands in the same registry as a local one.

The backend is process-wide (`use_backend`; at start-up from GINR_BACKEND and GINR_RAY_ADDRESS); every page and
command submits through `runs.actions.submit`, which asks `make_job` for a job of the configured backend.
"""

from __future__ import annotations

import itertools
import os
import socket
import threading
from dataclasses import dataclass, fields, is_dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable

from ..errors import GinrError, error_message
from .jobs import Job, JobState, ProgressRecord

BACKENDS = ("local", "ray")
STREAM_INTERVAL_S = 0.1  # how often a worker sends its job's state changes (and learns of a cancel)
DRAIN_WAIT_S = 0.2  # the longest the driver waits on the relay before looking at its own job again
CONNECT_TIMEOUT_S = 3.0
REGISTRY_CALLS = frozenset({"create_run", "save_history", "finish"})  # all a task asks of `ctx.registry`


@dataclass(frozen=True)
class BackendConfig:
    """`name`: "local" or "ray". For Ray: `address` of a cluster to join (host:port of `ray start --head`, or
    ray://host:port; None starts a local Ray), `gpu`: each job asks Ray for one GPU, `cpus`: CPUs per job."""

    name: str = "local"
    address: str | None = None
    gpu: bool = False
    cpus: float = 1.0

    def __post_init__(self):
        if self.name not in BACKENDS:
            raise GinrError(f"Unknown backend '{self.name}'; choose one of {', '.join(BACKENDS)}.")
        if self.cpus <= 0:
            raise GinrError("A job needs a positive number of CPUs.")
        object.__setattr__(self, "address", (self.address or "").strip() or None)

    @classmethod
    def from_env(cls) -> BackendConfig:
        """GINR_RAY_ADDRESS joins that cluster; GINR_BACKEND=ray alone starts a local Ray."""
        address = os.environ.get("GINR_RAY_ADDRESS") or None
        return cls(os.environ.get("GINR_BACKEND") or ("ray" if address else "local"), address)

    @property
    def label(self) -> str:
        if self.name == "local":
            return "local (this process)"
        return f"Ray at {self.address}" if self.address else "Ray (local)"


_CONFIGURED: list[BackendConfig] = []


def configured_backend() -> BackendConfig:
    """The process-wide backend new jobs run on."""
    if not _CONFIGURED:
        _CONFIGURED.append(BackendConfig.from_env())
    return _CONFIGURED[0]


def use_backend(config: BackendConfig) -> BackendConfig:
    """Make `config` the process-wide backend. A Ray backend is connected first: if that fails the GinrError says
    why and the backend in use stays as it was."""
    if config.name == "ray":
        connect(config.address)
    configured_backend()
    _CONFIGURED[0] = config
    return config


_CONNECTED: list[str | None] = []  # the address this process joined (None: a local Ray it started)


def _check_reachable(address: str) -> None:
    """Fail in seconds with a clear message, rather than after Ray's own long retries, when nothing listens."""
    if address in ("auto", "local"):
        return
    hostport = address.removeprefix("ray://")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise GinrError(f"'{address}' is not a Ray address: give HOST:PORT (e.g. 10.0.0.5:6379, as printed by "
                        "`ray start --head`) or ray://HOST:10001.")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise GinrError(f"Cannot reach a Ray cluster at {address} ({exc.strerror or exc}). Start one there with "
                        "`ray start --head`, or leave the address empty for a Ray on this machine.") from exc


def connect(address: str | None = None) -> None:
    """Join the Ray cluster at `address`, or start a local Ray (dashboard off) when it is None. The Ray this process
    already runs is kept when it is the one asked for (one started by someone else counts as local)."""
    import ray

    if ray.is_initialized() and (_CONNECTED[0] if _CONNECTED else None) == address:
        return
    if address is not None:
        _check_reachable(address)  # before leaving a working Ray
    if ray.is_initialized():
        ray.shutdown()
    _HUB.clear()
    import ginr_core

    try:
        if address is None:
            ray.init(address="local", include_dashboard=False, log_to_driver=False)  # never a stale `ray start`
        else:  # the cluster runs this process's ginr_core, whatever version it has installed
            ray.init(address=address, log_to_driver=False,
                     runtime_env={"py_modules": [str(Path(ginr_core.__file__).parent)]})
    except Exception as exc:
        raise GinrError(f"Could not join the Ray cluster at {address or 'this machine'}: {error_message(exc)}") from exc
    _CONNECTED[:] = [address]


def disconnect() -> None:
    """Leave (or stop) the Ray this process connected to, if it did: a command line does so before it exits, as
    Ray's own exit hooks can wait a minute for a cluster they already stopped."""
    if _CONNECTED:
        import ray

        ray.shutdown()
        _CONNECTED.clear()
        _HUB.clear()


def resources(config: BackendConfig | None = None) -> dict[str, float]:
    """The CPUs and GPUs the backend sees: this machine's, or the whole Ray cluster's."""
    config = config or configured_backend()
    if config.name == "local":
        import torch

        return {"CPU": float(os.cpu_count() or 1), "GPU": float(torch.cuda.device_count())}
    import ray

    connect(config.address)
    cluster = ray.cluster_resources()
    return {"CPU": float(cluster.get("CPU", 0)), "GPU": float(cluster.get("GPU", 0))}


def make_job(task: Callable, spec: Any, *, label: str = "", registry=None, backend: BackendConfig | None = None) -> Job:
    """A job of `task(spec, ctx)` on `backend` (default: the configured one), not yet started."""
    backend = backend or configured_backend()
    if backend.name == "ray":
        return RayJob(task, spec, label=label, registry=registry, backend=backend)
    return Job(task, spec, label=label, registry=registry)


# --- the relay: worker -> driver state and registry calls, driver -> worker cancel ------------------------------


class _Relay:
    """A Ray actor between workers and the driver, one per driver and cluster, with a channel per job: workers post
    state changes and ask registry calls on their channel; the driver drains all channels and answers the calls.
    Async, so a waiting call never blocks the others."""

    def __init__(self):
        import asyncio

        self._items: list[tuple] = []
        self._answers: dict[int, Any] = {}
        self._wake = asyncio.Event()
        self._cancelled: set[int] = set()
        self._count = 0

    async def post(self, channel: int, changes: dict) -> bool:
        """A worker's state changes; returns whether the driver asked for a cancel."""
        if changes:
            self._items.append((channel, "changes", changes))
            self._wake.set()
        return channel in self._cancelled

    async def ask(self, channel: int, method: str, args: tuple, kwargs: dict) -> tuple[bool, Any]:
        """A registry call, answered by the driver: (True, value) or (False, error message)."""
        import asyncio

        self._count += 1
        self._answers[self._count] = asyncio.get_running_loop().create_future()
        self._items.append((channel, "call", (self._count, method, args, kwargs)))
        self._wake.set()
        return await self._answers[self._count]

    async def answer(self, key: int, ok: bool, value: Any) -> None:
        self._answers.pop(key).set_result((ok, value))

    async def drain(self, wait_s: float) -> list[tuple]:
        import asyncio

        if not self._items:
            try:
                await asyncio.wait_for(self._wake.wait(), wait_s)
            except asyncio.TimeoutError:
                pass
        self._wake.clear()
        items, self._items = self._items, []
        return items

    async def cancel(self, channel: int) -> None:
        self._cancelled.add(channel)

    async def close(self, channel: int) -> None:
        self._cancelled.discard(channel)


@dataclass(frozen=True)
class Channel:
    """What a worker is given to reach the driver: the relay actor and its job's channel."""

    relay: Any
    key: int

    def post(self, changes: dict) -> bool:
        import ray

        return ray.get(self.relay.post.remote(self.key, changes))

    def ask(self, method: str, args: tuple, kwargs: dict) -> tuple[bool, Any]:
        import ray

        return ray.get(self.relay.ask.remote(self.key, method, args, kwargs))


class _Hub:
    """The driver's end of the relay: one actor and one thread serving every job's channel, made once per Ray
    connection (an actor starts a process: seconds that a job should not pay each time)."""

    def __init__(self):
        self.relay = _remote(_Relay, num_cpus=0).remote()
        self._servers: dict[int, RelayServer] = {}
        self._keys = itertools.count(1)
        self._rounds = 0
        self._round = threading.Condition()
        self.alive = True
        threading.Thread(target=self._serve, name="ginr-relay", daemon=True).start()

    def open(self, server: RelayServer) -> Channel:
        key = next(self._keys)
        self._servers[key] = server
        return Channel(self.relay, key)

    def close(self, key: int) -> None:
        """Stop serving a channel once everything its worker posted before now has been handled."""
        with self._round:
            target = self._rounds + 2  # the round under way may have drained before the worker's last post
            while self.alive and self._rounds < target:
                self._round.wait(DRAIN_WAIT_S * 5)
        self._servers.pop(key, None)
        self.relay.close.remote(key)

    def _serve(self) -> None:
        import ray

        try:
            while True:
                for key, kind, payload in ray.get(self.relay.drain.remote(DRAIN_WAIT_S)):
                    server = self._servers.get(key)
                    if server is not None:
                        server.handle(kind, payload)
                with self._round:
                    self._rounds += 1
                    self._round.notify_all()
        except BaseException:  # Ray was shut down (its get raises SystemExit in other threads): the next job makes a new hub
            with self._round:
                self.alive = False
                self._round.notify_all()


_HUB: list[_Hub] = []


def _hub() -> _Hub:
    if not _HUB or not _HUB[0].alive:
        _HUB[:] = [_Hub()]
    return _HUB[0]


def _remote(function_or_class, **options):
    """`ray.remote(...)` of a module-level function or class, made once per process."""
    import ray

    key = (function_or_class, tuple(sorted(options.items())))
    if key not in _REMOTES:
        _REMOTES[key] = ray.remote(**options)(function_or_class) if options else ray.remote(function_or_class)
    return _REMOTES[key]


_REMOTES: dict = {}


class RelayServer:
    """One job's end of the relay on the driver: registry calls from its worker(s) are applied to `registry` (their
    results sent back), state changes passed to `on_changes`. `channel` goes to the workers; `close` returns once
    all they posted is handled."""

    def __init__(self, registry, on_changes: Callable[[dict], None] | None = None):
        self.registry, self.on_changes = registry, on_changes
        self.created: list[str] = []  # the runs created through this relay
        self._hub = _hub()
        self.channel = self._hub.open(self)

    def handle(self, kind: str, payload) -> None:
        if kind == "changes":
            if self.on_changes is not None:
                self.on_changes(payload)
            return
        key, method, args, kwargs = payload
        try:
            if method not in REGISTRY_CALLS or self.registry is None:
                raise GinrError(f"A task asked the registry for '{method}', which is not forwarded.")
            ok, value = True, getattr(self.registry, method)(*args, **kwargs)
            if method == "create_run":
                self.created.append(value)
        except Exception as exc:  # the worker raises it in the task
            ok, value = False, error_message(exc)
        self.channel.relay.answer.remote(key, ok, value)

    def cancel(self) -> None:
        self.channel.relay.cancel.remote(self.channel.key)

    def close(self) -> None:
        self._hub.close(self.channel.key)


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
        from ..io.files import atomic_write

        for name, data in self.files.items():
            atomic_write(Path(directory) / name, data)


class RemoteRegistry:
    """The driver's registry as a task on a worker sees it: the calls tasks make, forwarded through the relay
    (the driver's run ids come back; checkpoints travel as bytes)."""

    def __init__(self, channel: Channel):
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
        self._call("finish", run_id, status, regressor=None if regressor is None else SavedCheckpoint.of(regressor), **files)


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


def _assigned_cpus() -> int:
    import ray

    return max(1, int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1)))


def _work(task: Callable, spec: Any, channel: Channel, label: str, registered: bool) -> tuple:
    """On the worker: run the task in a Job, stream its state, honour a cancel; return its final outcome."""
    from ..learning.device import set_training_threads

    set_training_threads(_assigned_cpus())  # the CPUs Ray gave this job, not all of the machine's
    job = Job(task, spec, label=label, registry=RemoteRegistry(channel) if registered else None).start()
    stream = _StateStream()
    while True:
        finished = job.done  # read first: the post after the job ended carries all of its changes
        if channel.post(stream.changes(job.state)):
            job.cancel()
        if finished:
            break
        job.join(STREAM_INTERVAL_S)
    state = job.state
    return state.status, _on_cpu(state.result), state.error, state.run_id


class RayJob(Job):
    """A `Job` whose task runs on a Ray worker; the same interface (state, done, start, run, cancel, join,
    wait_for_run), the state streamed back while it works, its runs recorded in the driver's registry."""

    def __init__(self, task: Callable, spec: Any, *, label: str = "", registry=None, backend: BackendConfig | None = None):
        super().__init__(task, spec, label=label, registry=registry)
        self.backend = backend or BackendConfig("ray")

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

    def run(self) -> JobState:
        """Send the work to a Ray worker and follow it there; return the final state."""
        self._set(status="running")
        try:
            import ray

            connect(self.backend.address)
            server = RelayServer(self.registry, self._apply)
        except Exception as exc:
            self._set(status="failed", error=error_message(exc))
            return self.state
        try:
            options = {"num_cpus": self.backend.cpus, "num_gpus": 1 if self.backend.gpu else 0}
            ref = _remote(_work).options(**options).remote(self.task, ray.put(self.spec), server.channel,
                                                             self.label, self.registry is not None)
            told = False
            while not ray.wait([ref], timeout=STREAM_INTERVAL_S)[0]:
                if self._cancel.is_set() and not told:
                    server.cancel()
                    told = True
            status, result, error, run_id = ray.get(ref)
        except Exception as exc:  # the worker died (out of memory, node lost) or Ray failed
            status, result, error, run_id = "failed", None, f"The Ray worker failed: {error_message(exc)}", None
        finally:
            server.close()
        run_id = run_id or self.state.run_id
        if status == "failed" and self.registry is not None and run_id is not None \
                and self.registry.get(run_id).status == "running":  # the worker could not record its own end
            self.registry.finish(run_id, "failed", error=error, history=list(self.state.history))
        self._set(status=status, result=result, error=error, run_id=run_id)
        return self.state
