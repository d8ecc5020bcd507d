"""Work that cannot check a cancel flag, run where it can be stopped: in a child process, terminated on cancel.

One LAPACK call (kriging's pseudo-inverse of 3,000 conditioning points took 56 s on the 2-core server) or one
sparse solve never returns to Python until it is done, so a thread cannot be stopped inside it; a process can.
Children come from a fork server (no copy of the caller's threads and locks) that has imported the work's module
once, so each call costs milliseconds beyond pickling its arguments.
"""

from __future__ import annotations

import multiprocessing
import threading
from typing import Any, Callable

from ..errors import Cancelled, GinrError

POLL_S = 0.1  # how often the caller looks at the cancel flag while the child works
_START_METHOD = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


def _child(connection, function: Callable, args: tuple) -> None:
    try:
        outcome = (True, function(*args))
    except BaseException as exc:  # noqa: BLE001 - the caller re-raises it
        outcome = (False, exc)
    connection.send(outcome)
    connection.close()


def _start(process, sender) -> None:
    try:
        process.start()  # the first call waits for the fork server to import the work's module (seconds)
    finally:
        sender.close()  # the child holds its own end: the pipe reads EOF here once the child has gone


def _end(starting: threading.Thread, process) -> None:
    starting.join()
    if process.is_alive():
        process.terminate()
    if process.pid is not None:
        process.join()


def call_terminable(function: Callable, *args: Any, cancel: threading.Event | None, what: str = "the work") -> Any:
    """function(*args) in a child process: its result, or its exception re-raised; raises Cancelled within POLL_S
    of `cancel` being set, the child terminated (in the background, if it is still being started). Without a cancel
    event it simply runs here."""
    if cancel is None:
        return function(*args)
    context = multiprocessing.get_context(_START_METHOD)
    if _START_METHOD == "forkserver":
        context.set_forkserver_preload([function.__module__])  # used when the server first starts
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(sender, function, args), name=f"ginr-{what}")
    starting = threading.Thread(target=_start, args=(process, sender), name=f"ginr-start-{what}", daemon=True)
    starting.start()
    try:
        while not receiver.poll(POLL_S):
            if cancel.is_set():
                threading.Thread(target=_end, args=(starting, process), name=f"ginr-end-{what}", daemon=True).start()
                raise Cancelled(f"{what} was cancelled.")
        try:
            succeeded, value = receiver.recv()
        except EOFError:
            _end(starting, process)
            raise GinrError(f"{what} stopped unexpectedly (its process exited with code {process.exitcode}; out of "
                            "memory?).") from None
    finally:
        receiver.close()
    _end(starting, process)
    if succeeded:
        return value
    raise value


__all__ = ["call_terminable"]
