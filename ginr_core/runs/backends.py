"""Where a job runs, in one call: `make_job` gives a job of the task on a backend (`runs.backend_config`): a thread of
this process, a worker process of this machine (`runs.processes`) or Ray (`runs.ray_backend`). Every page and
command submits through `runs.actions.submit`, which asks it.

The default backend is the operator's (`default_backend`, from the environment; `use_backend` changes it for a
command line). A dashboard session may run its jobs on another backend the operator enabled, passed per job.
"""

from __future__ import annotations

import os
from typing import Any, Callable

from .backend_config import BackendConfig, default_backend
from .jobs import Job
from .processes import ProcessJob
from .ray_backend import RayJob, ray_driver, running_driver

_CONFIGURED: list[BackendConfig] = []


def configured_backend() -> BackendConfig:
    """The backend new jobs run on unless told otherwise: the operator's, or what `use_backend` set."""
    if not _CONFIGURED:
        _CONFIGURED.append(default_backend())
    return _CONFIGURED[0]


def use_backend(config: BackendConfig) -> BackendConfig:
    """Make `config` the backend of this process's jobs (a command line's `--backend`). A Ray backend is started or
    joined first: if that fails the GinrError says why and the backend in use stays as it was."""
    if config.name == "ray":
        ray_driver(config.address)
    configured_backend()
    _CONFIGURED[0] = config
    return config


def resources(config: BackendConfig | None = None, *, start: bool = True) -> dict[str, float] | None:
    """The CPUs and GPUs the backend sees: this machine's, or the whole Ray cluster's (None for a Ray that is not
    running yet when `start` is False: a page asks without starting Ray)."""
    config = config or configured_backend()
    if config.name != "ray":
        import torch

        return {"CPU": float(os.cpu_count() or 1), "GPU": float(torch.cuda.device_count())}
    driver = ray_driver(config.address) if start else running_driver(config.address)
    return None if driver is None else driver.resources()


def make_job(task: Callable, spec: Any, *, label: str = "", registry=None, backend: BackendConfig | None = None) -> Job:
    """A job of `task(spec, ctx)` on `backend` (default: the configured one), not yet started. A task that reads
    recorded runs runs in this process (see runs.jobs.reads_registry); one that drives Ray itself on the Ray of its
    request's `backend` (see runs.ray_backend.drives_ray)."""
    if getattr(task, "reads_registry", False):
        return Job(task, spec, label=label, registry=registry)
    if getattr(task, "drives_ray", False):
        return RayJob(task, spec, label=label, registry=registry, backend=spec.backend)
    backend = backend or configured_backend()
    if backend.name == "ray":
        return RayJob(task, spec, label=label, registry=registry, backend=backend)
    if backend.name == "process":
        return ProcessJob(task, spec, label=label, registry=registry)
    return Job(task, spec, label=label, registry=registry)
