"""Where jobs run: "local" (a thread of this process, no setup), "process" (a worker process of this machine, from a
pool of GINR_WORKERS; jobs beyond them wait in the pool's queue) or "ray" (a Ray worker, on this machine or a cluster).

A remote job (`RemoteJob`: `ProcessJob` or `RayJob`) runs its task inside an ordinary `Job` on the worker and relays
its state changes, the driver's cancel and its registry calls, so its runs land in this process's registry. Worker
processes are niced and use a bounded number of torch threads, so the pages of a server training for several users
stay responsive (training threads in the server itself would share its interpreter lock with the pages).

A Ray job ships its task and request (the run spec and its arrays, through Ray's object store) to a worker, so
workers need no shared disk. On the worker the task runs inside an ordinary `Job`; a relay actor (one per
driver, a channel per job) carries its state changes (progress, parts, curves, snapshots, partial results) to the
driver, the driver's cancel to the worker, and the task's registry calls (`create_run`, `save_history`, `finish`) to the driver's registry,
which answers with its own run ids: a run trained on a GPU box lands in the same registry as a local one.

The backend is process-wide (`use_backend`; at start-up from GINR_BACKEND and GINR_RAY_ADDRESS); every page and
command submits through `runs.actions.submit`, which asks `make_job` for a job of the configured backend.
"""

from __future__ import annotations

import gc
import itertools
import os
import socket
import threading
import time
from dataclasses import dataclass, fields, is_dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable

from ..errors import GinrError, error_message
from ..settings import workers
from .jobs import Job, JobState, ProgressRecord

BACKENDS = ("local", "process", "ray")
WORKER_NICENESS = 10  # worker processes yield the CPU to the server's pages
PARENT_CHECK_S = 1.0  # how often a worker process checks that the server that started it still runs
STREAM_INTERVAL_S = 0.1  # how often a worker sends its job's state changes (and learns of a cancel)
DRAIN_WAIT_S = 0.2  # the longest the driver waits on the relay before looking at its own job again
CONNECT_TIMEOUT_S = 3.0
REGISTRY_CALLS = frozenset({"create_run", "save_history", "finish"})  # all a task asks of `ctx.registry`


@dataclass(frozen=True)
class BackendConfig:
    """`name`: "local", "process" or "ray". For Ray: `address` of a cluster to join (host:port of `ray start --head`, or
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
    def from_env(cls, default: str = "local") -> BackendConfig:
        """GINR_BACKEND names the backend (else `default`: the dashboard's is "process"); GINR_RAY_ADDRESS joins
        that cluster; GINR_BACKEND=ray alone starts a local Ray."""
        address = os.environ.get("GINR_RAY_ADDRESS") or None
        return cls(os.environ.get("GINR_BACKEND") or ("ray" if address else default), address)

    @property
    def label(self) -> str:
        if self.name == "local":
            return "local (this process)"
        if self.name == "process":
            return f"worker processes ({workers()} at once)"
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
    if config.name in ("local", "process"):
        import torch

        return {"CPU": float(os.cpu_count() or 1), "GPU": float(torch.cuda.device_count())}
    import ray

    connect(config.address)
    cluster = ray.cluster_resources()
    return {"CPU": float(cluster.get("CPU", 0)), "GPU": float(cluster.get("GPU", 0))}


def make_job(task: Callable, spec: Any, *, label: str = "", registry=None, backend: BackendConfig | None = None) -> Job:
    """A job of `task(spec, ctx)` on `backend` (default: the configured one), not yet started."""
    backend = backend or configured_backend()
    if getattr(task, "reads_registry", False):  # see runs.jobs.reads_registry
        return Job(task, spec, label=label, registry=registry)
    if backend.name == "ray":
        return RayJob(task, spec, label=label, registry=registry, backend=backend)
    if backend.name == "process":
        return ProcessJob(task, spec, label=label, registry=registry)
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

    def open(self) -> bool:
        """Whether the driver still wants the work (a Ray job's cancel reaches it through its posts)."""
        return True

    def close(self) -> None:
        """Nothing to release: the relay actor is the driver's."""


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


class RelayEnd:
    """One job's end of a relay on the driver, whatever carries it: registry calls from its worker(s) are applied
    to `registry` (the answer goes back to the worker), state changes passed to `on_changes`."""

    def __init__(self, registry, on_changes: Callable[[dict], None] | None = None):
        self.registry, self.on_changes = registry, on_changes
        self.created: list[str] = []  # the runs created through this relay

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
        return True, value


class RelayServer(RelayEnd):
    """A job's relay end over Ray's relay actor. `channel` goes to the workers; `close` returns once all they posted
    is handled."""

    def __init__(self, registry, on_changes: Callable[[dict], None] | None = None):
        super().__init__(registry, on_changes)
        self._hub = _hub()
        self.channel = self._hub.open(self)

    def handle(self, kind: str, payload) -> None:
        if kind == "changes":
            self.changes(payload)
            return
        key, method, args, kwargs = payload
        self.channel.relay.answer.remote(key, *self.call(method, args, kwargs))

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


def _work(task: Callable, spec: Any, channel, label: str, registered: bool) -> tuple:
    """On the worker (Ray's or a worker process): run the task in a Job, stream its state through `channel` (a
    `Channel` or `ProcessChannel`), honour a cancel; return its final outcome."""
    from ..learning.device import set_training_threads

    if not channel.open():  # cancelled while it waited in the queue
        channel.close()
        return "cancelled", None, None, None
    if channel.__class__ is Channel:
        set_training_threads(_assigned_cpus())  # the CPUs Ray gave this job, not all of the machine's
    job = Job(task, spec, label=label, registry=RemoteRegistry(channel) if registered else None).start()
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
    """A `Job` whose task runs elsewhere (`_work` on a worker); the same interface (state, done, start, run, cancel,
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
        except Exception as exc:  # the worker died (out of memory, node lost) or the backend failed
            status, result, error, run_id = "failed", None, f"The {self.where} failed: {error_message(exc)}", None
        finally:
            server.close()
        run_id = run_id or self.state.run_id
        if status == "failed" and self.registry is not None and run_id is not None \
                and self.registry.get(run_id).status == "running":  # the worker could not record its own end
            self.registry.finish(run_id, "failed", error=error, history=list(self.state.history))
        self._set(status=status, result=result, error=error, run_id=run_id)
        return self.state


class RayJob(RemoteJob):
    """A job whose task runs on a Ray worker (this machine's Ray, or a cluster's)."""

    where = "Ray worker"

    def __init__(self, task: Callable, spec: Any, *, label: str = "", registry=None, backend: BackendConfig | None = None):
        super().__init__(task, spec, label=label, registry=registry)
        self.backend = backend or BackendConfig("ray")

    def _open(self) -> RelayServer:
        connect(self.backend.address)
        return RelayServer(self.registry, self._apply)

    def _submit(self, server: RelayServer):
        import ray

        options = {"num_cpus": self.backend.cpus, "num_gpus": 1 if self.backend.gpu else 0}
        return _remote(_work).options(**options).remote(self.task, ray.put(self.spec), server.channel,
                                                        self.label, self.registry is not None)

    def _wait(self, handle, timeout: float) -> bool:
        import ray

        return bool(ray.wait([handle], timeout=timeout)[0])

    def _outcome(self, handle) -> tuple:
        import ray

        return ray.get(handle)


# --- worker processes of this machine ----------------------------------------------------------------------------


class ProcessChannel:
    """What a worker process is given to reach the driver: the driver's listener (address and key) and its job's
    channel. One connection per job, opened as the job starts (`open`); each message is answered (a post by whether
    the driver asked for a cancel, a registry call by its result)."""

    def __init__(self, address: str, authkey: bytes, key: int):
        self.address, self.authkey, self.key = address, authkey, key
        self._conn, self._lock = None, threading.Lock()

    def __getstate__(self):
        return self.address, self.authkey, self.key

    def __setstate__(self, state):
        self.__init__(*state)

    def open(self) -> bool:
        """Connect as the job starts; whether the driver still wants the work (not cancelled while queued)."""
        from multiprocessing.connection import Client

        with self._lock:
            self._conn = Client(self.address, authkey=self.authkey)
            self._conn.send(self.key)
            return self._conn.recv()

    def _exchange(self, message: tuple):
        with self._lock:  # the job's thread (registry calls) and the streaming loop (posts) share the connection
            self._conn.send(message)
            return self._conn.recv()

    def post(self, changes: dict) -> bool:
        return self._exchange(("changes", changes))

    def ask(self, method: str, args: tuple, kwargs: dict) -> tuple[bool, Any]:
        return self._exchange(("call", (method, args, kwargs)))

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


class ProcessRelay(RelayEnd):
    """A job's relay end over a connection from its worker process; `on_start` is called when the worker takes
    the job up (it connects as it starts), unless the job was withdrawn from the queue first."""

    def __init__(self, registry, on_changes: Callable[[dict], None], on_start: Callable[[], None]):
        super().__init__(registry, on_changes)
        self.on_start, self.cancelled = on_start, False
        self.started = self.withdrawn = False
        self._lock = threading.Lock()
        self._listener = _listener()
        self.channel = self._listener.open(self)

    def take(self) -> bool:
        """A worker takes the job up: whether it may (the job was not withdrawn)."""
        with self._lock:
            self.started = not self.withdrawn
        if self.started:
            self.on_start()
        return self.started

    def withdraw(self) -> bool:
        """Take a job that no worker has started out of the queue; whether it was still waiting."""
        with self._lock:
            self.withdrawn = not self.started
            return self.withdrawn

    def cancel(self) -> None:
        self.cancelled = True

    def close(self) -> None:
        """Every message of the worker was answered before its outcome came back: nothing is left to handle."""
        self._listener.close(self.channel.key)


class _Listener:
    """The driver's end of every worker process's connection: one listening socket (authenticated by a random
    key) and a thread per connected job, answering its posts and registry calls in order."""

    def __init__(self):
        from multiprocessing.connection import Listener

        self._authkey = os.urandom(32)
        self._listener = Listener(authkey=self._authkey)
        self._relays: dict[int, ProcessRelay] = {}
        self._keys = itertools.count(1)
        threading.Thread(target=self._accept, name="ginr-process-relay", daemon=True).start()

    def open(self, relay: ProcessRelay) -> ProcessChannel:
        key = next(self._keys)
        self._relays[key] = relay
        return ProcessChannel(self._listener.address, self._authkey, key)

    def close(self, key: int) -> None:
        self._relays.pop(key, None)

    def _accept(self) -> None:
        while True:
            try:
                conn = self._listener.accept()
            except Exception:  # a client that failed to authenticate: keep listening
                continue
            threading.Thread(target=self._serve, args=(conn,), name="ginr-process-channel", daemon=True).start()

    def _serve(self, conn) -> None:
        try:
            relay = self._relays.get(conn.recv())
            conn.send(relay is not None and relay.take())
            if relay is None or not relay.started:
                return
            while True:
                kind, payload = conn.recv()
                if kind == "changes":
                    relay.changes(payload)
                    conn.send(relay.cancelled)
                else:
                    conn.send(relay.call(*payload))
        except (EOFError, OSError):  # the worker closed its end (the job ended) or died
            pass
        finally:
            conn.close()


_LISTENER: list[_Listener] = []
_POOL: list = []  # the process pool, made on the first process job
_QUEUE: list[ProcessJob] = []  # process jobs handed to the pool that no worker has taken up yet, oldest first
_PROCESS_LOCK = threading.Lock()


def _listener() -> _Listener:
    with _PROCESS_LOCK:
        if not _LISTENER:
            _LISTENER.append(_Listener())
        return _LISTENER[0]


def worker_threads() -> int:
    """torch threads per worker process: the cores shared among the workers (at least one each)."""
    return max(1, (os.cpu_count() or 1) // workers())


def _init_worker(threads: int) -> None:
    """A worker process starts niced (the server's pages come first) with its share of the cores, and ends when
    the server does."""
    from ..learning.device import set_training_threads

    try:
        os.nice(WORKER_NICENESS)
    except OSError:  # a platform without nice: run at normal priority
        pass
    set_training_threads(threads)
    threading.Thread(target=_exit_with, args=(os.getppid(),), name="ginr-parent-watch", daemon=True).start()


def _exit_with(parent: int) -> None:
    """End this worker once its parent has gone (a server killed with SIGKILL would otherwise leave it training)."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_S)
    os._exit(1)


def _pool():
    """The pool of GINR_WORKERS spawned worker processes (spawn: no copy of the server's threads and locks). A pool
    broken by a worker's death is replaced."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    with _PROCESS_LOCK:
        if not _POOL or _POOL[0]._broken:
            _POOL[:] = [ProcessPoolExecutor(workers(), mp_context=get_context("spawn"), initializer=_init_worker,
                                            initargs=(worker_threads(),))]
        return _POOL[0]


def shutdown_pool() -> None:
    """Stop the worker processes (queued jobs are cancelled, running ones finish first); the next process job
    starts a new pool, sized by GINR_WORKERS as it is then."""
    with _PROCESS_LOCK:
        pools, _POOL[:] = list(_POOL), []
    for pool in pools:
        pool.shutdown(wait=True, cancel_futures=True)


class ProcessJob(RemoteJob):
    """A job whose task runs in a worker process of this machine. Beyond GINR_WORKERS jobs at once it waits,
    "pending", in the pool's queue (`jobs_ahead` says behind how many) until a worker takes it up."""

    where = "worker process"
    first_status = "pending"  # until a worker takes it up

    def jobs_ahead(self) -> int | None:
        with _PROCESS_LOCK:
            return _QUEUE.index(self) if self in _QUEUE else None

    def _dequeue(self) -> None:
        with _PROCESS_LOCK:
            if self in _QUEUE:
                _QUEUE.remove(self)

    def _started(self) -> None:
        self._dequeue()
        self._set(status="running")

    def run(self) -> JobState:
        try:
            return super().run()
        finally:
            self._dequeue()

    def _open(self) -> ProcessRelay:
        self._relay = ProcessRelay(self.registry, self._apply, self._started)
        return self._relay

    def _submit(self, server: ProcessRelay):
        pool = _pool()
        with _PROCESS_LOCK:
            _QUEUE.append(self)
        return pool.submit(_work, self.task, self.spec, server.channel, self.label, self.registry is not None)

    def _wait(self, handle, timeout: float) -> bool:
        from concurrent.futures import wait

        return bool(wait([handle], timeout=timeout).done) or self._relay.withdrawn

    def _stop(self, server: ProcessRelay, handle) -> None:
        """A queued job is withdrawn at once (the worker that reaches it skips it); a running one is told."""
        handle.cancel()
        server.withdraw()
        server.cancel()

    def _outcome(self, handle) -> tuple:
        if handle.cancelled() or self._relay.withdrawn:
            return "cancelled", None, None, None
        return handle.result()
