"""Reading user files: a path, or the bytes and name a browser upload gives, checked the same way."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import IO, Any, Callable

from ..errors import GinrError

DEFAULT_MAX_BYTES = 256 * 2**20


def _too_big(name: str, size: int, limit: int) -> GinrError:
    return GinrError(f"{name} is {size / 2**20:.1f} MB, over the {limit / 2**20:.0f} MB limit.")


def read_input(
    source: str | os.PathLike | bytes,
    filename: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    extensions: tuple[str, ...] | None = None,
    what: str = "file",
) -> tuple[bytes, str, str]:
    """(data, display name, lower-case extension) of a file, refusing missing, empty, oversized files and,
    when `extensions` is given, other formats. The size is checked before a path is read."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, name = bytes(source), filename or "upload"
    else:
        path = Path(source)
        if not path.is_file():
            raise GinrError(f"No such file: {path}")
        name = filename or path.name
        if path.stat().st_size > max_bytes:
            raise _too_big(name, path.stat().st_size, max_bytes)
        data = path.read_bytes()
    ext = Path(name).suffix.lower().lstrip(".")
    if extensions is not None and ext not in extensions:
        raise GinrError(f"Unsupported {what} format '.{ext}' ({name}). Use one of: {', '.join(extensions)}.")
    if not data:
        raise GinrError(f"{name} is empty.")
    if len(data) > max_bytes:
        raise _too_big(name, len(data), max_bytes)
    return data, name, ext


def atomic_write(path: str | Path, data: bytes | Callable[[IO[bytes]], Any]) -> None:
    """Write bytes (or whatever `data(file)` writes) to a temp file beside `path`, fsync, os.replace."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            if callable(data):
                data(f)
            else:
                f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
