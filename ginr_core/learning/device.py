"""Pick the torch device to train on, and say in words what it is."""

from __future__ import annotations

import os

import torch

from ..errors import GinrError


def pick_device(preference: str | None = None) -> torch.device:
    """`preference` None or "auto": CUDA, then Apple MPS, else CPU; otherwise that device, if available."""
    if preference in (None, "", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(preference)
    except RuntimeError as exc:
        raise GinrError(f"Unknown device {preference!r}; use auto, cpu, cuda or mps.") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise GinrError("CUDA was requested but no CUDA GPU is available.")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise GinrError("MPS was requested but Apple's Metal backend is not available.")
    return device


def training_threads(requested: int | None = None) -> int:
    """CPU threads for training: `requested`, else all cores but one.

    Measured on 2 cores: with another process (or the dashboard itself) busy on one core, two OpenMP
    threads ran 4x slower than one, as they wait on each other; leaving a core free avoids that collapse.
    """
    return requested or max(1, (os.cpu_count() or 2) - 1)


_THREADS_SET: list[int] = []


def set_training_threads(requested: int | None = None) -> int:
    """Set torch's CPU thread count once per process, before the first training; later calls change nothing.

    torch's thread pool is process-wide: a job that set it would change the speed of every other job running
    in the same process (the dashboard trains for several sessions at once).
    """
    if not _THREADS_SET:
        _THREADS_SET.append(training_threads(requested))
        torch.set_num_threads(_THREADS_SET[0])
    return _THREADS_SET[0]


def describe_device(device: torch.device | str | None = None) -> str:
    """E.g. "NVIDIA H100 80GB HBM3 (cuda:0)", "Apple GPU (mps)" or "CPU (1 thread)"."""
    device = pick_device(None if device is None else str(device))
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"{torch.cuda.get_device_name(index)} (cuda:{index})"
    if device.type == "mps":
        return "Apple GPU (mps)"
    threads = training_threads()  # what training will use, whatever torch is set to right now
    return f"CPU ({threads} thread{'' if threads == 1 else 's'})"
