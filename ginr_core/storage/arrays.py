""".npy and .npz files a user gave, read safely: never pickles, and never more bytes than the limits allow.

An .npz is a zip of .npy members, and a few MB of deflated zeros can declare gigabytes. Each member's shape
and dtype are read from its .npy header inside the zip and checked against GINR_MAX_ARRAY_MB (see
ginr_core.settings) before anything is decompressed; then exactly the declared bytes are inflated, in chunks,
into the array.
"""

from __future__ import annotations

import io
import math
import zipfile
import zlib
from typing import BinaryIO

import numpy as np
from numpy.lib import format as npy_format

from ..errors import GinrError
from ..settings import check_array_bytes

NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = b"PK\x03\x04"
_CHUNK_BYTES = 16 * 2**20
_HEADER_READERS = {(1, 0): npy_format.read_array_header_1_0, (2, 0): npy_format.read_array_header_2_0}


def _pickled(name: str) -> GinrError:
    return GinrError(f"{name} holds Python objects (pickled data), which are not loaded for safety. "
                     "Save plain numeric arrays with numpy.save / numpy.savez.")


def _header(stream: BinaryIO, name: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    """(shape, fortran order, dtype) from a .npy header, refusing object dtypes (they are pickles)."""
    if stream.read(len(NPY_MAGIC)) != NPY_MAGIC:
        raise GinrError(f"{name} is not a .npy file (save the array with numpy.save).")
    version = tuple(stream.read(2))
    if version not in _HEADER_READERS:
        raise GinrError(f"{name} is a .npy file of an unsupported version {version}.")
    try:
        shape, fortran_order, dtype = _HEADER_READERS[version](stream)
    except Exception as exc:  # numpy parses the header's text with ast and tokenize: any of their errors
        raise GinrError(f"Could not read {name}: its .npy header is damaged ({exc}).") from exc
    if any(n < 0 for n in shape):
        raise GinrError(f"Could not read {name}: its .npy header declares the shape {shape}.")
    if dtype.hasobject:
        raise _pickled(name)
    return shape, fortran_order, dtype


def _body(stream: BinaryIO, shape: tuple[int, ...], fortran_order: bool, dtype: np.dtype, name: str) -> np.ndarray:
    """The array's declared bytes, read in chunks straight into it (never more than declared)."""
    flat = np.empty(math.prod(shape), dtype=dtype)
    target = memoryview(flat.view(np.uint8))
    filled = 0
    while filled < len(target):
        chunk = stream.read(min(_CHUNK_BYTES, len(target) - filled))
        if not chunk:
            raise GinrError(f"Could not read {name}: it is truncated ({filled:,} of its {len(target):,} bytes of data).")
        target[filled:filled + len(chunk)] = chunk
        filled += len(chunk)
    return flat.reshape(shape[::-1]).transpose() if fortran_order else flat.reshape(shape)


def _declared_bytes(shape: tuple[int, ...], dtype: np.dtype) -> int:
    return math.prod(shape) * dtype.itemsize


def _described(shape: tuple[int, ...], dtype: np.dtype) -> str:
    return f"{' x '.join(f'{n:,}' for n in shape) or 'scalar'} {dtype}"


def read_npy(data: bytes, name: str) -> np.ndarray:
    """The array in a .npy file's bytes, its declared size checked before it is allocated."""
    stream = io.BytesIO(data)
    shape, fortran_order, dtype = _header(stream, name)
    check_array_bytes(name, _declared_bytes(shape, dtype), _described(shape, dtype))
    return _body(stream, shape, fortran_order, dtype, name)


def read_npz(data: bytes, name: str) -> dict[str, np.ndarray]:
    """Every array of an .npz file's bytes, by key. All the members' headers are read (and the total of their
    declared sizes checked) before any member is decompressed."""
    if not data.startswith(ZIP_MAGIC):
        raise GinrError(f"{name} is not a valid .npz file.")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            headers = {}
            for info in archive.infolist():
                if not info.filename.endswith(".npy"):
                    raise GinrError(f"{name} holds '{info.filename}', which is not a .npy array.")
                with archive.open(info) as member:
                    headers[info.filename] = _header(member, f"{name} ({info.filename})")
            declared = sum(_declared_bytes(shape, dtype) for shape, _, dtype in headers.values())
            check_array_bytes(name, declared, ", ".join(f"{key[:-4]}: {_described(shape, dtype)}"
                                                        for key, (shape, _, dtype) in headers.items()))
            arrays = {}
            for key, (shape, fortran_order, dtype) in headers.items():
                with archive.open(key) as member:
                    _header(member, name)
                    arrays[key[:-4]] = _body(member, shape, fortran_order, dtype, f"{name} ({key})")
            return arrays
    except GinrError:
        raise
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError, RuntimeError, ValueError) as exc:
        raise GinrError(f"{name} is not a valid .npz file ({exc}).") from exc


__all__ = ["NPY_MAGIC", "ZIP_MAGIC", "read_npy", "read_npz"]
