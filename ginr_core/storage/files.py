"""Reading user files: a path, or the bytes and name a browser upload gives, checked the same way.

An upload's file name is only ever a label (its extension picks the parser); it never becomes a path.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import IO, Any, Callable

from ..errors import GinrError
from ..settings import limits


def _too_big(name: str, size: int, limit: int) -> GinrError:
    return GinrError(f"{name} is {size / 2**20:.1f} MB, over the {limit / 2**20:.0f} MB limit.")


def display_name(filename: str | None, default: str = "upload") -> str:
    """The last component of a browser-supplied file name, printable: a label, never a path."""
    name = PureWindowsPath(PurePosixPath(filename or "").name).name
    name = "".join(c for c in name if c.isprintable())[:120].strip()
    return name or default


def read_input(
    source: str | os.PathLike | bytes,
    filename: str | None = None,
    max_bytes: int | None = None,
    extensions: tuple[str, ...] | None = None,
    what: str = "file",
) -> tuple[bytes, str, str]:
    """(data, display name, lower-case extension) of a file, refusing missing, empty, oversized files and,
    when `extensions` is given, other formats. The size is checked before a path is read; the default
    limit is GINR_MAX_FILE_MB (see ginr_core.settings)."""
    max_bytes = limits().max_file_bytes if max_bytes is None else max_bytes
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, name = bytes(source), display_name(filename)
    else:
        path = Path(source)
        if not path.is_file():
            raise GinrError(f"No such file: {path}")
        name = display_name(filename) if filename else path.name
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
