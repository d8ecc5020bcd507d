"""The "process" backend: jobs in worker processes of this machine, from a pool of GINR_WORKERS (jobs beyond them
wait in the pool's queue). Worker processes are niced and use a bounded number of torch threads, so the pages of a
server training for several users stay responsive (training threads in the server itself would share its
interpreter lock with the pages). Each job's worker reaches the driver through one authenticated connection
(`ProcessChannel` -> the driver's `_Listener`): state changes one way, the cancel and registry answers the other.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from typing import Any, Callable

from ..settings import workers
from .jobs import JobState
from .remote import RelayEnd, RemoteJob, run_remote

WORKER_NICENESS = 10  # worker processes yield the CPU to the server's pages
PARENT_CHECK_S = 1.0  # how often a worker process checks that the server that started it still runs


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


def serve_below(parent: int) -> None:
    """Make this process a helper of the server `parent`: niced (the server's pages come first), and ended when
    the server has gone (a server killed with SIGKILL would otherwise leave it working)."""
    try:
        os.nice(WORKER_NICENESS)
    except OSError:  # a platform without nice: run at normal priority
        pass
    threading.Thread(target=_exit_with, args=(parent,), name="ginr-parent-watch", daemon=True).start()


def _init_worker(threads: int) -> None:
    """A worker process serves below the server, with its share of the cores."""
    from ..learning.device import set_training_threads

    serve_below(os.getppid())
    set_training_threads(threads)


def _exit_with(parent: int) -> None:
    """End this process once its parent has gone."""
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
        with _PROCESS_LOCK:  # queued in the pool's own order, so jobs_ahead counts the jobs a worker takes up first
            _QUEUE.append(self)
            return pool.submit(run_remote, self.task, self.spec, server.channel, self.label, self.registry is not None)

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
