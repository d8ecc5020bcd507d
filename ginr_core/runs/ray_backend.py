"""The "ray" backend: jobs on Ray workers, on this machine or a cluster, and the Ray driver they go through.

The server (or a command) never becomes a Ray driver itself. Ray ties a local Ray's own processes (GCS, raylet)
to the thread that started them (they are killed when it ends: PR_SET_PDEATHSIG), and a driver that loses its GCS
ends its whole process a minute later ("Failed to connect to GCS within 60 seconds ... The program will
terminate"). So Ray's driver is a process of its own (`RayDriver`, one per cluster address, spawned on the first
Ray job), in which one thread that lives as long as the process starts or joins Ray. A job reaches it through the
same authenticated connection as a worker process (`runs.processes`); losing Ray ends only the driver process:
its jobs fail with a clear message, the server keeps serving, and the next Ray job starts a new driver.

In the driver, a job's task either runs on a Ray worker (`RayTaskJob`: its task and request shipped through Ray's
object store, so workers need no shared disk; a relay actor, one per driver with a channel per job, carries the
worker's state changes and registry calls to the driver and the cancel back), or in the driver itself when the
task drives Ray on its own (`drives_ray`: a sweep on Ray Tune). Either way the driver passes registry calls on to
the server's registry, which answers with its own run ids: a run trained on a GPU box lands in the same registry
as a local one.
"""

from __future__ import annotations

import itertools
import os
import socket
import threading
from concurrent.futures import Future
from concurrent.futures import wait as wait_for
from dataclasses import dataclass
from functools import partial
from multiprocessing.managers import BaseManager
from pathlib import Path
from typing import Any, Callable

from ..errors import GinrError, error_message
from .backend_config import BackendConfig
from .jobs import Job
from .processes import ProcessRelay, serve_below
from .remote import RelayEnd, RemoteJob, run_remote

DRAIN_WAIT_S = 0.2  # the longest the driver waits on the relay before looking at its own job again
PROBE_TIMEOUT_S = 3.0  # a cluster's address must answer Ray's protocol within this
JOIN_TIMEOUT_S = 20.0  # joining a cluster that answered; then the driver is given up
START_TIMEOUT_S = 180.0  # spawning the driver and starting a local Ray on a busy machine


def drives_ray(task: Callable) -> Callable:
    """Mark a task that uses Ray itself (e.g. Ray Tune): it runs in the Ray driver process, not on a worker, and its
    request carries the `backend` (a Ray BackendConfig) it runs on."""
    task.drives_ray = True
    return task


# --- in the driver process: Ray started or joined once, by a thread that lasts -------------------------------------


def _probe(address: str) -> None:
    """Fail in seconds, rather than after Ray's own long retries (or never, at a port that accepts and stays
    silent), unless something at `address` speaks Ray's protocol: gRPC, whose server opens with an HTTP/2
    SETTINGS frame."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise GinrError(f"'{address}' is not a Ray address: give HOST:PORT (e.g. 10.0.0.5:6379, as printed by "
                        "`ray start --head`) or ray://HOST:10001.")
    try:
        with socket.create_connection((host, int(port)), timeout=PROBE_TIMEOUT_S) as conn:
            conn.settimeout(PROBE_TIMEOUT_S)
            conn.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0]))
            head = conn.recv(9)
    except OSError:
        head = b""
    if len(head) < 4 or head[3] != 4:
        raise GinrError(f"No Ray cluster answers at {address}. Start one there with `ray start --head`, or set "
                        "no GINR_RAY_ADDRESS for a Ray on this machine.")


def connect(address: str | None = None) -> None:
    """Join the Ray cluster at `address` (probed by `RayDriver` before this process was spawned), or start a local
    Ray (dashboard off) when it is None. Called once per driver process, by the thread that keeps Ray."""
    import ray

    import ginr_core

    try:
        if address is None:
            ray.init(address="local", include_dashboard=False, log_to_driver=False)  # never a stale `ray start`
        else:  # the cluster runs this process's ginr_core, whatever version it has installed
            ray.init(address=address, log_to_driver=False,
                     runtime_env={"py_modules": [str(Path(ginr_core.__file__).parent)]})
    except Exception as exc:
        raise GinrError(f"Could not join the Ray cluster at {address or 'this machine'}: {error_message(exc)}") from exc


def cluster_resources() -> dict[str, float]:
    """The CPUs and GPUs of the Ray this driver process is connected to."""
    import ray

    seen = ray.cluster_resources()
    return {"CPU": float(seen.get("CPU", 0)), "GPU": float(seen.get("GPU", 0))}


def assigned_cpus() -> int:
    """On a Ray worker: the CPUs Ray gave this task."""
    import ray

    return max(1, int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1)))


class _Driver:
    """The driver process's one object, called by the server through its manager connection (a thread per
    calling thread, so jobs run side by side)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._error: str | None = None
        self._owner: threading.Thread | None = None

    def connect(self, address: str | None) -> None:
        """Start or join Ray, once; raise why not."""
        with self._lock:
            if self._owner is None:
                self._owner = threading.Thread(target=self._keep_ray, args=(address,), name="ginr-ray-owner", daemon=True)
                self._owner.start()
        self._ready.wait()
        if self._error is not None:
            raise GinrError(self._error)

    def _keep_ray(self, address: str | None) -> None:
        """Ray's local processes end with the thread that started them: this one, which never ends."""
        try:
            connect(address)
        except Exception as exc:
            self._error = error_message(exc)
        finally:
            self._ready.set()
        threading.Event().wait()

    def resources(self) -> dict[str, float]:
        return cluster_resources()

    def run(self, task: Callable, spec: Any, channel, label: str, registered: bool, backend: BackendConfig) -> tuple:
        """A job's whole work, in this process (a task that drives Ray) or on a Ray worker; its outcome."""
        make_job = Job if getattr(task, "drives_ray", False) else partial(RayTaskJob, backend=backend)
        return run_remote(task, spec, channel, label, registered, make_job)


_THE_DRIVER: list[_Driver] = []


def _the_driver() -> _Driver:
    if not _THE_DRIVER:
        _THE_DRIVER.append(_Driver())
    return _THE_DRIVER[0]


class _DriverManager(BaseManager):
    """Serves `_the_driver()` from the driver process."""


_DriverManager.register("driver", callable=_the_driver, exposed=("connect", "resources", "run"))


# --- on the server: one driver process per cluster address -------------------------------------------------------


class RayDriver:
    """The server's handle on a Ray driver process: spawned below the server (niced, ended with it), connected to
    Ray within START_TIMEOUT_S (JOIN_TIMEOUT_S for a cluster), else given up with a clear error."""

    def __init__(self, address: str | None):
        from multiprocessing import get_context

        self.address = address
        if address is not None:
            _probe(address)  # here too: no process is spawned for an address that is not a Ray cluster
        self._manager = _DriverManager(ctx=get_context("spawn"))
        self._manager.start(serve_below, (os.getpid(),))
        self._proxy = self._manager.driver()
        try:
            self._call_within(START_TIMEOUT_S if address is None else JOIN_TIMEOUT_S, "connect", address)
        except BaseException:
            self.stop()
            raise

    def _call(self, method: str, *args) -> Future:
        """The driver's `method(*args)`, called in a thread of this process; its future holds the answer (a
        GinrError saying Ray was lost when the driver process ended meanwhile)."""
        done: Future = Future()

        def call():
            try:
                done.set_result(getattr(self._proxy, method)(*args))
            except (EOFError, OSError):  # the driver process ended: Ray was lost
                done.set_exception(GinrError("Ray stopped while this job ran (its driver process ended); the "
                                             "server is unaffected: launch the job again to start a new Ray."))
            except BaseException as exc:
                done.set_exception(exc)

        threading.Thread(target=call, name=f"ginr-ray-{method}", daemon=True).start()
        return done

    def _call_within(self, timeout: float, method: str, *args) -> Any:
        done = self._call(method, *args)
        if not wait_for([done], timeout).done:
            where = f"the Ray cluster at {self.address}" if self.address else "Ray on this machine"
            raise GinrError(f"Could not start or join {where} within {timeout:g} s.")
        return done.result()

    def alive(self) -> bool:
        process = self._manager._process
        return process is not None and process.is_alive()

    def resources(self) -> dict[str, float]:
        return self._proxy.resources()

    def run(self, *args) -> Future:
        """`_Driver.run(*args)` in a thread of this process, whose future holds the outcome."""
        return self._call("run", *args)

    def stop(self) -> None:
        """End the driver process (and a local Ray with it)."""
        self._manager.shutdown()


_DRIVERS: dict[str | None, RayDriver] = {}
_DRIVERS_LOCK = threading.Lock()


def ray_driver(address: str | None) -> RayDriver:
    """The live driver for `address` (None: a Ray on this machine), started if there is none or it ended."""
    with _DRIVERS_LOCK:
        driver = _DRIVERS.get(address)
        if driver is None or not driver.alive():
            driver = _DRIVERS[address] = RayDriver(address)
        return driver


def running_driver(address: str | None) -> RayDriver | None:
    """The driver for `address` if one runs now (a page asks without starting Ray)."""
    driver = _DRIVERS.get(address)
    return driver if driver is not None and driver.alive() else None


def stop_drivers() -> None:
    """End every driver process (a command does so before it exits)."""
    with _DRIVERS_LOCK:
        drivers = list(_DRIVERS.values())
        _DRIVERS.clear()
    for driver in drivers:
        driver.stop()


class RayJob(RemoteJob):
    """A job on the Ray backend, as the server sees it: handed to the driver process of its backend's address (which
    runs it on a Ray worker, or itself for a task that drives Ray), followed through a process relay."""

    where = "Ray driver"

    def __init__(self, task: Callable, spec: Any, *, label: str = "", registry=None, backend: BackendConfig | None = None):
        super().__init__(task, spec, label=label, registry=registry)
        self.backend = backend or BackendConfig("ray")

    def _open(self) -> ProcessRelay:
        self._driver = ray_driver(self.backend.address)
        return ProcessRelay(self.registry, self._apply, on_start=lambda: None)

    def _submit(self, server: ProcessRelay) -> Future:
        return self._driver.run(self.task, self.spec, server.channel, self.label, self.registry is not None, self.backend)

    def _wait(self, handle: Future, timeout: float) -> bool:
        return bool(wait_for([handle], timeout).done)

    def _outcome(self, handle: Future) -> tuple:
        return handle.result()


# --- in the driver process: the relay to Ray workers, and a job whose task runs on one ----------------------------


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


def _on_ray_worker(task: Callable, spec: Any, channel: Channel, label: str, registered: bool) -> tuple:
    """On a Ray worker: the task's work, with torch using the CPUs Ray gave it (not all of the machine's)."""
    from ..learning.device import set_training_threads

    set_training_threads(assigned_cpus())
    return run_remote(task, spec, channel, label, registered)


class RayTaskJob(RemoteJob):
    """In the driver process: a job whose task runs on a Ray worker (this machine's Ray, or a cluster's)."""

    where = "Ray worker"

    def __init__(self, task: Callable, spec: Any, *, label: str = "", registry=None, backend: BackendConfig):
        super().__init__(task, spec, label=label, registry=registry)
        self.backend = backend

    def _open(self) -> RelayServer:
        return RelayServer(self.registry, self._apply)

    def _submit(self, server: RelayServer):
        import ray

        options = {"num_cpus": self.backend.cpus, "num_gpus": 1 if self.backend.gpu else 0}
        return _remote(_on_ray_worker).options(**options).remote(self.task, ray.put(self.spec), server.channel,
                                                                 self.label, self.registry is not None)

    def _wait(self, handle, timeout: float) -> bool:
        import ray

        return bool(ray.wait([handle], timeout=timeout)[0])

    def _outcome(self, handle) -> tuple:
        import ray

        return ray.get(handle)
