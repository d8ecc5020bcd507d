"""Where jobs may run, as the operator configured it: "local" (a thread of this process), "process" (a worker
process of this machine) or "ray" (a Ray worker, on this machine or the operator's cluster).

The operator decides, from the environment: GINR_BACKEND (the default backend), GINR_BACKENDS (those a visitor of
the dashboard may pick for their own session), GINR_RAY_ADDRESS (the cluster Ray jobs join; none: a Ray on this
machine) and GINR_RAY_GPU (each Ray job asks for a GPU). No visitor can name an address: a cluster is reached only
where the operator pointed the server.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..errors import GinrError
from ..settings import workers

BACKENDS = ("local", "process", "ray")
DASHBOARD_BACKEND = "process"  # training leaves the server's process (and its interpreter lock) to the pages
DASHBOARD_CHOICES = ("process", "ray")  # "local" would train in the server's own process, slowing every page


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

    @property
    def label(self) -> str:
        if self.name == "local":
            return "local (this process)"
        if self.name == "process":
            return f"worker processes ({workers()} at once)"
        return f"Ray at {self.address}" if self.address else "Ray (local)"


def operator_backend(name: str) -> BackendConfig:
    """Backend `name` as the operator set it up: a Ray one joins GINR_RAY_ADDRESS (none: a Ray on this machine)
    and asks for a GPU per job when GINR_RAY_GPU is set."""
    if name != "ray":
        return BackendConfig(name)
    gpu = os.environ.get("GINR_RAY_GPU", "").strip().lower() in ("1", "true", "yes")
    return BackendConfig("ray", os.environ.get("GINR_RAY_ADDRESS"), gpu)


def default_backend(default: str = "local") -> BackendConfig:
    """The operator's default backend: GINR_BACKEND, else Ray when GINR_RAY_ADDRESS is set, else `default` (the
    command line's is "local", the dashboard's DASHBOARD_BACKEND)."""
    return operator_backend(os.environ.get("GINR_BACKEND") or ("ray" if os.environ.get("GINR_RAY_ADDRESS") else default))


def enabled_backends(default: BackendConfig) -> tuple[str, ...]:
    """The backends a dashboard visitor may pick for their session: GINR_BACKENDS (comma-separated), else
    DASHBOARD_CHOICES; the default backend always among them, first."""
    text = os.environ.get("GINR_BACKENDS", "")
    names = [n.strip() for n in text.split(",") if n.strip()] or list(DASHBOARD_CHOICES)
    unknown = [n for n in names if n not in BACKENDS]
    if unknown:
        raise GinrError(f"GINR_BACKENDS names {', '.join(unknown)}; choose from {', '.join(BACKENDS)}.")
    return tuple(dict.fromkeys([default.name, *names]))
