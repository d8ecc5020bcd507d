"""The bad-input corpus: generated files that must each be refused (or warned about) with a clear message.

Each `BadInput` names the reader it goes through (`kind`), builds its file under a folder, and gives the
fragment of the message a user must see. tests/test_bad_inputs.py runs every entry through the library
and the CLI, and one entry per kind through the dashboard.
"""

from __future__ import annotations

import io
import json
import pickle
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

ICOSPHERE_NODES = 2562  # the CLI's default --domain (icosphere, level 4): signals are sized for it


@dataclass
class BadInput:
    """`build(folder) -> path` writes the input; `expected` is a fragment of the message. `warns`: the input
    is accepted with a note (the fragment is in the cleaning report) rather than refused. `env` overrides
    limits for this entry (e.g. a low node limit, so a pre-parse refusal can be shown on a small file)."""

    name: str
    kind: str  # mesh, signal, netcdf, series, reference (a folder), reference file (one npz), collection (npz), checkpoint
    build: Callable[[Path], Path]
    expected: str
    warns: bool = False
    env: dict[str, str] = field(default_factory=dict)
    cli_expected: str | None = None  # where the command line words it differently

    @property
    def cli_fragment(self) -> str:
        return self.cli_expected or self.expected


def _write(name: str, content: bytes | Callable[[], bytes]) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(content() if callable(content) else content)
        return path

    return build


def _random_bytes(n: int, seed: int) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


def _binary_ply(vertices: np.ndarray, faces: np.ndarray) -> bytes:
    header = (
        "ply\nformat binary_little_endian 1.0\n"
        f"element vertex {len(vertices)}\nproperty float x\nproperty float y\nproperty float z\n"
        f"element face {len(faces)}\nproperty list uchar int vertex_indices\nend_header\n"
    ).encode()
    body = vertices.astype("<f4").tobytes()
    body += b"".join(struct.pack("<B3i", 3, *f) for f in faces)
    return header + body


def _tetrahedron(offset: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=float) + offset
    f = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    return v, f


def _obj(vertices, faces) -> bytes:
    lines = [f"v {x} {y} {z}" for x, y, z in vertices] + [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in faces]
    return ("\n".join(lines) + "\n").encode()


def _ascii_ply(vertices, faces) -> bytes:
    head = (f"ply\nformat ascii 1.0\nelement vertex {len(vertices)}\nproperty float x\nproperty float y\n"
            f"property float z\nelement face {len(faces)}\nproperty list uchar int vertex_indices\nend_header\n")
    rows = [f"{x} {y} {z}" for x, y, z in vertices] + [f"3 {a} {b} {c}" for a, b, c in faces]
    return (head + "\n".join(rows) + "\n").encode()


def _sparse_file(name: str, size: int) -> Callable[[Path], Path]:
    """A file of `size` bytes that takes no disk space (a hole): the size check must refuse it unread."""

    def build(folder: Path) -> Path:
        path = folder / name
        with open(path, "wb") as f:
            f.write(b"ply\n")
            f.truncate(size)
        return path

    return build


def _npy(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def _netcdf(name: str, make: Callable[[object], None]) -> Callable[[Path], Path]:
    """A netCDF-4 file written with netCDF4 directly (declared dimensions need not hold data)."""

    def build(folder: Path) -> Path:
        import netCDF4

        path = folder / name
        with netCDF4.Dataset(path, "w", format="NETCDF4") as nc:
            make(nc)
        return path

    return build


def _latlon(nc, lat, lon, lat_units="degrees_north"):
    nc.createDimension("lat", len(lat))
    nc.createDimension("lon", len(lon))
    nc.createVariable("lat", "f8", ("lat",))[:] = lat
    nc.createVariable("lon", "f8", ("lon",))[:] = lon
    nc["lat"].units, nc["lon"].units = lat_units, "degrees_east"


LAT, LON = np.array([60.0, 20.0, -20.0, -60.0]), np.arange(8) * 45.0


def _field(nc, dims=("time", "lat", "lon"), n_time=3, values=None):
    if "time" in dims and "time" not in nc.dimensions:
        nc.createDimension("time", n_time)
        nc.createVariable("time", "f8", ("time",))[:] = np.arange(n_time)
    z = nc.createVariable("z", "f4", dims)
    z[:] = np.random.default_rng(0).random(tuple(len(nc.dimensions[d]) for d in dims)) if values is None else values


def _huge_grid(nc):
    _latlon(nc, np.linspace(90, -90, 100_000), np.arange(200_000) * 360 / 200_000)
    nc.createVariable("z", "f4", ("lat", "lon"), chunksizes=(1000, 1000))  # declared, never written


def _long_time_axis(nc):
    _latlon(nc, LAT, LON)
    nc.createDimension("time", 1_000_000)
    nc.createVariable("time", "f8", ("time",))[:] = np.arange(1_000_000)
    nc.createVariable("z", "f4", ("time", "lat", "lon"), chunksizes=(4096, 4, 8))[:] = np.ones((1_000_000, 4, 8))


def _reference(make: Callable[[Path], None]) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        root = folder / "reference"
        (root / "npz_files").mkdir(parents=True)
        make(root)
        return root

    return build


def _npz(path: Path, **arrays) -> None:
    np.savez(path, **arrays)


def _npz_bytes(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _npz_bomb(key: str, shape: tuple[int, int]) -> bytes:
    """An .npz of one float64 array of zeros, `shape`, deflated to about 1/1000 of its size: written as blocks
    compressed once and repeated (a full flush makes each block stand alone), so it takes under a second."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": shape})
    header = header.getvalue()
    rows_per_block = 1000
    block, rest = bytes(shape[1] * 8 * rows_per_block), bytes(shape[1] * 8 * (shape[0] % rows_per_block))
    blocks = shape[0] // rows_per_block
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = deflate.compress(header) + deflate.flush(zlib.Z_FULL_FLUSH)
    body = deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH)
    data = head + body * blocks + deflate.compress(rest) + deflate.flush()
    crc = zlib.crc32(header)
    for _ in range(blocks):
        crc = zlib.crc32(block, crc)
    crc, size, name = zlib.crc32(rest, crc), len(header) + shape[0] * shape[1] * 8, f"{key}.npy".encode()
    local = struct.pack("<4s2B4HL2L2H", b"PK\x03\x04", 20, 0, 0, 8, 0, 0x21, crc, len(data), size, len(name), 0) + name
    central = struct.pack("<4s4B4HL2L5H2L", b"PK\x01\x02", 20, 0, 20, 0, 0, 8, 0, 0x21, crc, len(data), size, len(name),
                          0, 0, 0, 0, 0, 0) + name
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(central), len(local) + len(data), 0)
    return local + data + central + end


def _checkpoint(weights: bytes | Callable[[], bytes] | None, meta: bytes | None) -> Callable[[Path], Path]:
    """A folder shaped like a saved run (model.pt, model.json) holding something we did not write."""

    def build(folder: Path) -> Path:
        root = folder / "checkpoint"
        root.mkdir()
        if weights is not None:
            (root / "model.pt").write_bytes(weights() if callable(weights) else weights)
        if meta is not None:
            (root / "model.json").write_bytes(meta)
        return root

    return build


UNPICKLED: list[str] = []  # grows if anything ever unpickles an _Exploit (the tests check it stays empty)


def record_unpickling() -> str:
    UNPICKLED.append("an _Exploit was unpickled")
    return "unpickled"


class _Exploit:
    """Unpickling this calls a function of ours (it could as well run a shell command)."""

    def __reduce__(self):
        return (record_unpickling, ())


def _torch_bytes(obj) -> bytes:
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _valid_meta() -> bytes:
    from ginr_core.learning.model_config import EncoderConfig, ModelConfig
    from ginr_core.learning.training import TrainConfig

    return json.dumps({"model": ModelConfig(EncoderConfig(k=4, in_features=4)).to_dict(), "train": TrainConfig().to_dict(), "target_mean": [0.0],
                       "target_std": [1.0], "target_1d": True}).encode()


TRIANGLE = (np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], float), np.array([[0, 1, 2]]))
TETRA = _tetrahedron()


def _non_manifold():
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [1, 1, 1]], float)
    f = np.array([[0, 1, 2], [0, 1, 3], [0, 1, 4], [1, 2, 5], [0, 2, 5]])  # edge (0, 1) has three faces
    return v, f


def _disconnected():
    (v1, f1), (v2, f2) = _tetrahedron(), _tetrahedron(5.0)
    return np.vstack([v1, v2]), np.vstack([f1, f2 + 4])


def _truncated_binary_ply() -> bytes:
    data = _binary_ply(*TETRA)
    return data[: len(data) - 30]


def _glb_garbage() -> bytes:
    payload = b'{"asset": {"version": "2.0"}, "meshes": [{"primitives": [{"attributes": {"POSITION": 7}}]}]}'
    payload += b" " * (-len(payload) % 4)
    return struct.pack("<4sII", b"glTF", 2, 12 + 8 + len(payload)) + struct.pack("<I4s", len(payload), b"JSON") + payload


CORPUS: list[BadInput] = [
    # ---------------------------------------------------------------- meshes
    BadInput("empty ply", "mesh", _write("empty.ply", b""), "is empty"),
    *[BadInput(f"random bytes .{ext}", "mesh", _write(f"random.{ext}", _random_bytes(4096, i)), expected)
      for i, (ext, expected) in enumerate([("ply", "Could not read"), ("obj", "contains no mesh"), ("off", "Could not read"),
                                           ("stl", "contains no mesh"), ("glb", "Could not read")])],
    BadInput("truncated binary ply", "mesh", _write("truncated.ply", _truncated_binary_ply), "truncated"),
    BadInput("obj face index past the vertices", "mesh", _write("index.obj", b"v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nf 1 2 99\n"),
             "refer to vertices that do not exist: vertex 99 (the file has 4, numbered from 1)"),
    BadInput("ply face index past the vertices", "mesh", _write("index.ply", _ascii_ply(TETRA[0], [[0, 1, 2], [0, 1, 40]])),
             "refer to vertices that do not exist: vertex 40 (the mesh has 4, numbered from 0)"),
    BadInput("nan coordinate", "mesh", _write("nan.obj", b"v 0 0 0\nv 1 0 nan\nv 0 1 0\nv 0 0 1\nf 1 2 3\nf 1 3 4\n"), "NaN"),
    BadInput("infinite coordinate", "mesh", _write("inf.ply", _ascii_ply([[0, 0, 0], [1, 0, np.inf], [0, 1, 0]], [[0, 1, 2]])),
             "NaN or infinite"),
    BadInput("zero faces", "mesh", _write("points.ply", _ascii_ply(TETRA[0], [])), "no triangle mesh"),
    BadInput("single triangle", "mesh", _write("triangle.obj", _obj(*TRIANGLE)), "only 3 vertices"),
    BadInput("non-manifold edge", "mesh", _write("nonmanifold.obj", lambda: _obj(*_non_manifold())), "non-manifold", warns=True),
    BadInput("disconnected pieces", "mesh", _write("pieces.ply", lambda: _ascii_ply(*_disconnected())), "2 connected components",
             warns=True),
    BadInput("1.5 GB sparse file", "mesh", _sparse_file("huge.ply", 1536 * 2**20), "over the 512 MB limit"),
    BadInput("million-line obj", "mesh", _write("million.obj", lambda: b"v 0 0 0\n" * 1_000_000),
             "declares 1,000,000 vertices, beyond what a mesh of at most 100,000 nodes (GINR_MAX_NODES) needs: reading it "
             "would take about 3 s and 238 MB",
             env={"GINR_MAX_NODES": "100000"}),
    BadInput("millions of duplicate faces", "mesh",
             _write("duplicates.obj", lambda: b"v 0 0 0\nv 1 0 0\nv 0 1 0\n" + b"f 1 2 3\n" * 2_500_000), "declares 2,500,000 faces"),
    BadInput("ply header declaring billions", "mesh",
             _write("liar.ply", b"ply\nformat ascii 1.0\nelement vertex 4000000000\nproperty float x\nproperty float y\n"
                    b"property float z\nelement face 1\nproperty list uchar int vertex_indices\nend_header\n0 0 0\n"),
             "declares 4,000,000,000 vertices"),
    BadInput("binary stl declaring more triangles than it holds", "mesh",
             _write("short.stl", b"\0" * 80 + struct.pack("<I", 50_000_000) + _random_bytes(500, 9)), "contains no mesh"),
    BadInput("glb with a broken scene", "mesh", _write("broken.glb", _glb_garbage), "Could not read"),
    BadInput("obj with words for numbers", "mesh", _write("words.obj", b"v a b c\nv 1 0 0\nv 0 1 0\nf 1 2 3\n"), "Could not read"),
    BadInput("off with wrong counts", "mesh", _write("counts.off", b"OFF\n9 9 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n"), "Could not read"),
    BadInput("unsupported extension", "mesh", _write("mesh.xyz", b"0 0 0\n"), "Unsupported mesh format"),
    # ---------------------------------------------------------------- signals (on the CLI's default icosphere)
    BadInput("signal of the wrong length", "signal", _write("short.npy", lambda: _npy(np.arange(10.0))), "10 values"),
    BadInput("signal with NaN", "signal", _write("nan.npy", lambda: _npy(np.r_[np.nan, np.arange(ICOSPHERE_NODES - 1.0)])), "NaN"),
    BadInput("pickled object .npy", "signal", _write("objects.npy", lambda: _npy(np.array([{"a": 1}] * 3, dtype=object), True)),
             "pickled data"),
    BadInput("pickle disguised as .npy", "signal", _write("exploit.npy", lambda: pickle.dumps(_Exploit())), "is not a .npy file"),
    BadInput("text in a csv", "signal", _write("text.csv", b"value\n1.0\nhello\n3.0\n"), "Could not read the numbers"),
    BadInput("empty csv", "signal", _write("empty.csv", b""), "is empty"),
    BadInput("csv of blank lines", "signal", _write("blank.csv", b"\n\n# nothing\n"), "contains no values"),
    BadInput("binary csv", "signal", _write("binary.csv", lambda: _random_bytes(2000, 3)), "not a text file"),
    BadInput("constant signal", "signal", _write("constant.npy", lambda: _npy(np.ones(ICOSPHERE_NODES))), "constant"),
    BadInput("3-d signal", "signal", _write("cube.npy", lambda: _npy(np.zeros((ICOSPHERE_NODES, 2, 2)))), "one value per vertex"),
    BadInput("transposed signal", "signal", _write("transposed.npy", lambda: _npy(np.random.rand(3, ICOSPHERE_NODES))),
             "looks transposed"),
    BadInput("complex signal", "signal", _write("complex.npy", lambda: _npy(np.ones(ICOSPHERE_NODES, complex))), "must be numbers"),
    BadInput("truncated .npy", "signal", _write("truncated.npy", lambda: _npy(np.arange(ICOSPHERE_NODES, dtype=float))[:200]),
             "Could not read"),
    BadInput("unsupported signal extension", "signal", _write("values.json", b"[1, 2, 3]"), "Unsupported signal format",
             cli_expected="Unknown signal"),
    # ---------------------------------------------------------------- netCDF grids
    BadInput("netcdf without lat / lon", "netcdf",
             _netcdf("nolatlon.nc", lambda nc: (nc.createDimension("x2", 3), nc.createVariable("z", "f4", ("x2",)))),
             "has no latitude and longitude"),
    BadInput("netcdf declaring a 100,000 x 200,000 grid", "netcdf", _netcdf("huge.nc", _huge_grid), "GINR_MAX_NODES"),
    BadInput("not a netcdf file", "netcdf", _write("fake.nc", lambda: _random_bytes(3000, 5)), "not a readable netCDF"),
    BadInput("latitudes out of order", "netcdf",
             _netcdf("order.nc", lambda nc: (_latlon(nc, np.array([20.0, 60.0, -60.0, -20.0]), LON), _field(nc))),
             "strictly increasing or strictly decreasing"),
    BadInput("latitudes beyond the poles", "netcdf",
             _netcdf("poles.nc", lambda nc: (_latlon(nc, np.array([100.0, 20.0, -20.0, -60.0]), LON), _field(nc))),
             "outside [-90, 90]"),
    BadInput("regional grid", "netcdf", _netcdf("region.nc", lambda nc: (_latlon(nc, LAT, np.arange(8) * 5.0), _field(nc))),
             "only global grids"),
    BadInput("missing values", "netcdf", _netcdf("holes.nc", lambda nc: (_latlon(nc, LAT, LON), _field(nc, values=np.full((3, 4, 8), np.nan)))),
             "missing values"),
    BadInput("empty netcdf", "netcdf", _write("empty.nc", b""), "is empty"),
    BadInput("a million-frame time axis", "series", _netcdf("long.nc", _long_time_axis), "GINR_MAX_FRAMES"),
    # ---------------------------------------------------------------- reference dataset folders
    BadInput("npz without target", "reference", _reference(lambda r: _npz(r / "npz_files/a.npz", fourier=np.ones((4, 2)))),
             "has no 'target'"),
    BadInput("npz without fourier", "reference", _reference(lambda r: _npz(r / "npz_files/a.npz", target=np.ones(4))),
             "has no 'fourier'"),
    BadInput("npz that is not a zip", "reference", _reference(lambda r: (r / "npz_files/a.npz").write_bytes(b"not a zip")),
             "is not a valid .npz"),
    BadInput("npz holding objects", "reference",
             _reference(lambda r: np.savez(r / "npz_files/a.npz", target=np.array([{}, {}], dtype=object), fourier=np.ones((2, 2)))),
             "pickled data"),
    BadInput("npz rows that disagree", "reference",
             _reference(lambda r: _npz(r / "npz_files/a.npz", target=np.arange(5.0), fourier=np.ones((4, 2)))),
             "rows but the target has"),
    BadInput("folder without npz_files", "reference", lambda folder: folder, "is not a reference dataset"),
    BadInput("reference npz without target", "reference file", _write("sample.npz", lambda: _npz_bytes(fourier=np.ones((4, 2)))),
             "has no 'target'"),
    BadInput("reference npz that is not a zip", "reference file", _write("sample.npz", b"PK\x03\x04 truncated"), "not a valid .npz"),
    BadInput("reference npz holding objects", "reference file",
             _write("sample.npz", lambda: _npz_bytes(target=np.array([{}, {}], dtype=object), fourier=np.ones((2, 2)))),
             "pickled data"),
    BadInput("reference npz bomb", "reference file",
             _write("bomb.npz", lambda: _npz_bomb("target", (1_000_000, 128))), "(GINR_MAX_ARRAY_MB)"),
    # ---------------------------------------------------------------- collections (.npz stacks)
    BadInput("collection npz bomb", "collection",
             _write("bomb.npz", lambda: _npz_bomb("values", (100_000, ICOSPHERE_NODES))), "(GINR_MAX_ARRAY_MB)"),
    BadInput("collection npz holding objects", "collection",
             _write("objects.npz", lambda: _npz_bytes(values=np.array([{}, {}], dtype=object))), "pickled data"),
    # ---------------------------------------------------------------- checkpoints we did not write
    BadInput("checkpoint of random bytes", "checkpoint", _checkpoint(lambda: _random_bytes(1000, 7), _valid_meta()), "Cannot read"),
    BadInput("checkpoint holding a pickled object", "checkpoint", _checkpoint(lambda: _torch_bytes(_Exploit()), _valid_meta()),
             "Cannot read"),
    BadInput("checkpoint with wrong tensors", "checkpoint", _checkpoint(lambda: _torch_bytes({"w": __import__("torch").ones(2)}), _valid_meta()),
             "Cannot read"),
    BadInput("checkpoint with a broken model.json", "checkpoint", _checkpoint(lambda: _torch_bytes({}), b"{not json"), "Cannot read"),
    BadInput("checkpoint missing its files", "checkpoint", _checkpoint(None, None), "Cannot read"),
]


def read_with_library(entry: BadInput, path: Path) -> list[str]:
    """Run an input through the library reader of its kind; return the notes (cleaning messages) if accepted."""
    if entry.kind == "mesh":
        from ginr_core.geometry.mesh import load_mesh

        return load_mesh(path)[1].messages()
    if entry.kind == "signal":
        from ginr_core.data.signals import load_vertex_signal
        from ginr_core.geometry.domains import make_domain

        load_vertex_signal(path, None, make_domain("icosphere"))
        return []
    if entry.kind in ("netcdf", "series"):
        from ginr_core.data.gridded import open_grid
        from ginr_core.tasks.temporal import grid_series

        with open_grid(path) as grid:
            if entry.kind == "series":
                grid_series(grid, "z", "time")
            else:
                variable = next(iter(grid.variables))
                grid.mesh()
                grid.field(variable, **{d: 0 for d in grid.other_dims(variable)})
        return []
    if entry.kind == "reference":
        from ginr_core.io.reference_dataset import read_reference_dataset

        read_reference_dataset(path)
        return []
    if entry.kind == "reference file":
        from ginr_core.io.reference_dataset import read_reference_sample

        read_reference_sample(path)
        return []
    if entry.kind == "collection":
        from ginr_core.data.collections import collection_from_npz
        from ginr_core.geometry.domains import make_domain

        collection_from_npz(path, None, make_domain("icosphere"))
        return []
    if entry.kind == "checkpoint":
        from ginr_core.learning.training import GINRRegressor

        GINRRegressor.load(path)
        return []
    raise ValueError(entry.kind)


def cli_arguments(entry: BadInput, path: Path, out: Path) -> list[str] | None:
    """The `ginr` command that reads this input, or None where no command reads its kind."""
    if entry.kind == "mesh":
        return ["info", "--mesh", str(path)]
    if entry.kind == "reference file":
        return ["train", "--reference", str(path), "--budget", "1"]
    if entry.kind == "collection":
        return ["collection", "train", str(path), "--budget", "1"]
    if entry.kind == "signal":
        return ["signal", "--signal", str(path), "--out", str(out / "signal.npy")]
    if entry.kind == "netcdf":
        return ["timeseries", "--netcdf", str(path), "--variable", "z", "--over", "time", "--budget", "1", "--out", str(out / "s.npz")]
    if entry.kind == "series":
        return ["timeseries", "--netcdf", str(path), "--variable", "z", "--over", "time", "--grid-stride", "1", "--budget", "1",
                "--out", str(out / "s.npz")]
    return None
