"""Bad input never crashes anything: a corpus of generated bad files (tests/bad_inputs.py) through the library, the
`ginr` command line and the dashboard; parsers fuzzed with hypothesis; work refused before it starts when it is
beyond the limits (ginr_core.settings); server files readable only inside the operator's data folders."""

import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from bad_inputs import CORPUS, UNPICKLED, cli_arguments, read_with_library
from conftest import as_written, button, npy_bytes, prepared, radio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ginr_core.cli import main
from ginr_core.errors import Cancelled, GinrError
from ginr_core.geometry.domains import make_domain

REPO = Path(__file__).resolve().parents[1]
BY_NAME = {entry.name: entry for entry in CORPUS}


def test_the_corpus_covers_every_reader():
    assert len(CORPUS) >= 40
    assert {e.kind for e in CORPUS} == {"mesh", "signal", "netcdf", "series", "reference", "reference file", "collection",
                                        "checkpoint"}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Each corpus file is written once per test run (some take seconds), in its own folder."""
    paths = {}

    def build(entry):
        if entry.name not in paths:
            paths[entry.name] = entry.build(tmp_path_factory.mktemp("corpus"))
        return paths[entry.name]

    return build


def _prepare(entry, built, monkeypatch):
    for variable, value in entry.env.items():
        monkeypatch.setenv(variable, value)
    if "declares" in entry.expected or "limit" in entry.expected:  # refused on declared sizes: nothing is parsed
        import trimesh

        monkeypatch.setattr(trimesh, "load", lambda *a, **k: pytest.fail("the file was parsed"))
        monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail("the file was read") if self.stat().st_size > 2**30
                            else Path.open(self, "rb").read())
    return built(entry)


@pytest.mark.parametrize("entry", CORPUS, ids=[e.name for e in CORPUS])
def test_library_explains_every_bad_input(entry, built, monkeypatch):
    path = _prepare(entry, built, monkeypatch)
    if entry.warns:
        notes = read_with_library(entry, path)
        assert any(entry.expected in note for note in notes), notes
    else:
        with pytest.raises(GinrError) as info:
            read_with_library(entry, path)
        assert entry.expected in str(info.value)
    assert not UNPICKLED


CLI_ENTRIES = [e for e in CORPUS if cli_arguments(e, Path("x"), Path("y")) is not None]


@pytest.mark.parametrize("entry", CLI_ENTRIES, ids=[e.name for e in CLI_ENTRIES])
def test_cli_gives_one_error_line_and_status_2(entry, built, tmp_path, monkeypatch, capsys):
    path = _prepare(entry, built, monkeypatch)
    status = main(cli_arguments(entry, path, tmp_path))
    err = capsys.readouterr().err.strip().splitlines()
    if entry.warns:
        assert status == 0 and any(entry.cli_fragment in line for line in err if line.startswith("note: ")), err
    else:
        assert status == 2
        assert len(err) == 1 and err[0].startswith("error: ") and entry.cli_fragment in err[0], err
        assert "Traceback" not in err[0]


def test_cli_in_a_real_process(built, tmp_path):
    entry = BY_NAME["1.5 GB sparse file"]  # refused on its size: a real process never reads 1.5 GB
    path = built(entry)
    done = subprocess.run([sys.executable, "-m", "ginr_core.cli", *cli_arguments(entry, path, tmp_path)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and entry.expected in lines[0], done.stderr


def _memory_kb(field: str) -> int:
    return next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines() if line.startswith(field))


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="peak memory is read from Linux's /proc")
@pytest.mark.parametrize("name", ["collection npz bomb", "reference npz bomb"])
def test_npz_bombs_are_refused_before_they_are_decompressed(name, built):
    path = built(BY_NAME[name])
    Path("/proc/self/clear_refs").write_text("5")  # the peak (VmHWM) restarts from the memory in use now
    start = _memory_kb("VmRSS:")
    with pytest.raises(GinrError, match=r"declares [0-9.]+ [GM]B of arrays \(\w+: [0-9,]+ x [0-9,]+ float64\), over this server's limit of 800 MB"):
        read_with_library(BY_NAME[name], path)
    assert _memory_kb("VmHWM:") - start < 100 * 1024


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="peak memory is read from Linux's /proc")
def test_a_million_observation_points_are_refused_while_reading():
    from ginr_core.tasks.interpolation import read_observations_csv

    csv = b"lat,lon,value\n" + b"".join(b"%d.5,%d.25,%d.0\n" % (i % 90, i % 180, i % 7) for i in range(1_000_000))
    Path("/proc/self/clear_refs").write_text("5")
    start, started = _memory_kb("VmRSS:"), time.perf_counter()
    with pytest.raises(GinrError, match=r"more than 200,000 observation points, this server's limit \(GINR_MAX_OBSERVATIONS\)"):
        read_observations_csv(csv, make_domain("icosphere"), "million.csv")
    assert time.perf_counter() - started < 5.0
    assert _memory_kb("VmHWM:") - start < 300 * 1024  # the whole file parsed and placed took 8.5 GB


# --------------------------------------------------------------------------------------------- dashboard


def _upload(at, index, entry, built):
    path = built(entry)
    at.file_uploader[index].upload(path.name, path.read_bytes()).run()
    return at


def _assert_error(at, fragment):
    assert not at.exception
    assert any(fragment in e.value for e in at.error), [e.value for e in at.error]


def _still_usable(at):
    """The previous workspace is intact and the session goes on: another domain loads."""
    assert at.metric[0].value == "2,562"
    at.radio[0].set_value("Built-in").run()
    at.selectbox[0].set_value("torus").run()
    button(at, "Use this domain").click().run()
    assert not at.exception and at.metric[0].value == "4,608"


def test_dashboard_refuses_bad_meshes(app, built):
    at = app.switch_page("pages/data.py").run()
    at.radio[0].set_value("Upload a file").run()
    for name in ("truncated binary ply", "millions of duplicate faces", "single triangle", "1.5 GB sparse file"):
        if name == "1.5 GB sparse file":  # uploads are limited to UPLOAD_MB: this one arrives as its first 201 MB
            path = built(BY_NAME[name])
            at.file_uploader[0].upload(path.name, path.open("rb").read(201 * 2**20)).run()
            _assert_error(at, "over the 200 MB limit")
        else:
            _upload(at, 0, BY_NAME[name], built)
            _assert_error(at, BY_NAME[name].expected)
        assert at.metric[0].value == "2,562"
    _still_usable(at)


@pytest.mark.parametrize("source, choice, name", [
    ("Signal source", "Upload values (.npy / .csv)", "pickled object .npy"),
    ("Mesh source", "Reference dataset file (.npz)", "reference npz holding objects"),
])
def test_dashboard_refuses_pickled_data(app, built, source, choice, name):
    """A pickle inside an upload is refused, nothing unpickled, and the workspace's signal is left as it was."""
    at = app.switch_page("pages/data.py").run()
    before = at.session_state.workspace.signal.copy()
    radio(at, source).set_value(choice).run()
    _upload(at, 0, BY_NAME[name], built)
    _assert_error(at, "pickled data")
    np.testing.assert_array_equal(at.session_state.workspace.signal, before)
    assert not UNPICKLED
    _still_usable(at)


def test_dashboard_refuses_npz_bombs(app, built):
    at = app.switch_page("pages/data.py").run()
    at.radio[0].set_value("Reference dataset file (.npz)").run()
    _upload(at, 0, BY_NAME["reference npz bomb"], built)
    _assert_error(at, "(GINR_MAX_ARRAY_MB)")
    at = at.switch_page("pages/collections.py").run()
    at.radio[0].set_value(".npz stack").run()
    _upload(at, 0, BY_NAME["collection npz bomb"], built)
    button(at, "Use this stack").click().run()
    _assert_error(at, "(GINR_MAX_ARRAY_MB)")
    assert at.info[0].value.startswith("Build a collection")


def test_upload_names_are_shown_as_plain_text_not_markdown(app):
    import re

    name = "[prize](https:evil.example) www.evil.example **#1**.obj"
    at = app.switch_page("pages/data.py").run()
    at.radio[0].set_value("Upload a file").run()
    at.file_uploader[0].upload(name, _valid_mesh_bytes("obj")).run()
    assert not at.exception and not at.error
    heading = next(h.value for h in at.subheader if "prize" in h.value)
    assert as_written(heading) == name  # every character as written...
    assert not re.search(r"(?<!\\)[\[\]()*#:.]", heading)  # ...and none of them read as markdown


def test_dashboard_refuses_a_huge_declared_grid(app, built):
    at = app.switch_page("pages/data.py").run()
    at.radio[1].set_value("Lat-lon netCDF grid (replaces the domain)").run()
    _upload(at, 0, BY_NAME["netcdf declaring a 100,000 x 200,000 grid"], built)
    _assert_error(at, "GINR_MAX_NODES")
    _still_usable(at)


def test_a_million_step_axis_is_picked_by_index_and_refused_as_a_series(app, built):
    entry = BY_NAME["a million-frame time axis"]
    at = app.switch_page("pages/data.py").run()
    at.radio[1].set_value("Lat-lon netCDF grid (replaces the domain)").run()
    _upload(at, 0, entry, built)
    assert not at.exception and not at.error
    assert [n.label for n in at.number_input if n.label.startswith("time")] == ["time (index 0 to 999,999)"]
    at.switch_page("pages/timeseries.py").run()
    at.radio[0].set_value("netCDF field along a dimension").run()
    _upload(at, 0, entry, built)
    prepared(button(at, "Use this series").click().run())
    _assert_error(at, "GINR_MAX_FRAMES")
    assert "series_choice" not in at.session_state


# ------------------------------------------------------------------------------------- server files


def test_local_paths_are_hidden_without_data_folders(app):
    at = app.switch_page("pages/data.py").run()
    assert "Local file path" not in at.radio[0].options


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """A data folder holding one mesh, a secret mesh beside it, and a symlink inside pointing at the secret."""
    from ginr_core.io.export import ply_bytes

    inside, outside = tmp_path / "data", tmp_path / "private"
    inside.mkdir(), outside.mkdir()
    mesh = make_domain("icosphere", level=2)
    (inside / "ok.ply").write_bytes(ply_bytes(mesh, {}))
    (outside / "secret.ply").write_bytes(ply_bytes(mesh, {}))
    (inside / "link.ply").symlink_to(outside / "secret.ply")
    monkeypatch.setenv("GINR_DATA_DIRS", str(inside))
    return inside, outside


def test_data_paths_stay_inside_the_data_folders(data_dir, monkeypatch):
    from ginr_core.settings import data_path

    inside, outside = data_dir
    assert data_path("ok.ply") == (inside / "ok.ply").resolve()
    assert data_path(str(inside / "ok.ply")) == (inside / "ok.ply").resolve()
    refused = [str(outside / "secret.ply"), "../private/secret.ply", "link.ply", str(outside / "missing.ply"),
               "/etc/passwd", "/etc/shadow", "missing.ply", "", ".", "ok.ply\x00"]
    messages = set()
    for text in refused:
        with pytest.raises(GinrError) as info:
            data_path(text)
        messages.add(str(info.value).replace(f"'{text.strip()}'", "PATH"))
    assert messages == {"PATH is not a file in this server's data folders."}  # existing or not: one answer
    monkeypatch.delenv("GINR_DATA_DIRS")
    with pytest.raises(GinrError, match="switched off"):
        data_path("ok.ply")


def test_dashboard_loads_only_inside_the_data_folders(app, data_dir):
    inside, outside = data_dir
    at = app.switch_page("pages/data.py").run()
    at.radio[0].set_value("Local file path").run()
    for text in (str(outside / "secret.ply"), "../private/secret.ply", "link.ply", "/etc/shadow"):
        at.text_input[0].input(text).run()
        button(at, "Load").click().run()
        _assert_error(at, "is not a file in this server's data folders")
        assert at.metric[0].value == "2,562"
    at.text_input[0].input("ok.ply").run()
    button(at, "Load").click().run()
    assert not at.exception and not at.error and at.metric[0].value == "162"


def test_upload_names_are_labels_not_paths():
    from ginr_core.storage.files import read_input

    data, name, ext = read_input(b"ply\n", "../../etc/passwd/evil\x1b[2J.ply")
    assert name == "evil[2J.ply" and ext == "ply"
    assert read_input(b"x", "C:\\Windows\\system.ini")[1] == "system.ini"


# --------------------------------------------------------------------------------------------- limits


def test_meshes_above_the_node_limit_are_refused(tmp_path, monkeypatch):
    from ginr_core.geometry.mesh import load_mesh
    from ginr_core.io.export import ply_bytes

    path = tmp_path / "sphere.ply"
    path.write_bytes(ply_bytes(make_domain("icosphere"), {}))
    monkeypatch.setenv("GINR_MAX_NODES", "2000")
    with pytest.raises(GinrError, match="2,562 nodes, over this server's limit of 2,000"):
        load_mesh(path)
    with pytest.raises(GinrError, match="GINR_MAX_NODES"):
        make_domain("latlon_sphere", n_lat=181, n_lon=360)  # built-in domains and grids ask the same limit
    from ginr_core.geometry.mesh import subdivide

    with pytest.raises(GinrError, match="GINR_MAX_NODES"):  # refused before subdividing
        subdivide(make_domain("icosphere", level=3), levels=2)
    monkeypatch.setenv("GINR_MAX_NODES", "lots")
    with pytest.raises(GinrError, match="GINR_MAX_NODES must be a number"):
        load_mesh(path)


def test_small_refusals_give_a_real_estimate_not_zero(monkeypatch):
    from ginr_core.settings import check_mesh_file

    monkeypatch.setenv("GINR_MAX_NODES", "10")
    with pytest.raises(GinrError, match=r"declares 100 vertices, .* reading it would take under 1 s and under 1 MB\."):
        check_mesh_file("small.obj", 100, 0)


def test_long_simulations_are_refused_up_front_with_an_estimate():
    from ginr_core.data.signals import gray_scott

    with pytest.raises(GinrError, match=r"10,000,000 Gray-Scott steps on 2,562 nodes would take about 9 min"):
        gray_scott(make_domain("icosphere"), steps=10_000_000)


def test_a_20000_trial_sweep_is_refused_with_its_estimate(monkeypatch):
    from ginr_core.runs.spec import RunInputs
    from ginr_core.tasks.sweep import SweepRequest, sweep_train_config

    monkeypatch.setattr("os.cpu_count", lambda: 2)  # the estimate's time is for this many cores
    mesh = make_domain("icosphere")
    inputs = RunInputs(mesh, np.sin(3 * mesh.vertices[:, 0]))
    grid = {"k": tuple(range(8, 58)), "width": tuple(range(32, 432)), "activation": ("sine",)}  # 50 x 400 = 20,000
    with pytest.raises(GinrError, match=r"A sweep of 20,000 trials of 300 steps on 2,562 nodes: about (\d+\.\d) h and "
                                        r"(\d+\.\d) GB of runs is over this server's limit of 1,000 trials \(GINR_MAX_TRIALS\)"):
        SweepRequest(inputs, grid, train=sweep_train_config(300))
    monkeypatch.setenv("GINR_MAX_TRIALS", "20000")
    assert SweepRequest(inputs, grid, train=sweep_train_config(300)).n_trials == 20_000


def test_a_4500_member_collection_is_refused_before_any_simulation(monkeypatch):
    from ginr_core.data import collections, signals

    monkeypatch.setattr(signals, "gray_scott", lambda *a, **k: pytest.fail("a member was simulated"))
    F, k, seeds = np.linspace(0.04, 0.06, 30), np.linspace(0.06, 0.064, 30), range(5)
    with pytest.raises(GinrError, match=r"A collection of 4,500 members of 10,000 steps on 2,562 nodes: about \d+ min of "
                                        r"simulation is over this server's limit of 1,000 members \(GINR_MAX_MEMBERS\)"):
        collections.gray_scott_collection(make_domain("icosphere"), F, k, seeds, steps=10_000, cache=False)
    with pytest.raises(GinrError, match=r"over this server's limit of 2e\+10 steps x nodes \(GINR_MAX_NODE_STEPS\)"):
        collections.gray_scott_collection(make_domain("icosphere"), F, k, range(1), steps=30_000, cache=False)


def test_long_work_stops_when_cancelled():
    from ginr_core.data.gridded import open_grid
    from ginr_core.data.signals import gray_scott
    from ginr_core.tasks.temporal import grid_series

    cancel = threading.Event()
    calls = []

    def progress(fraction, message):
        calls.append(fraction)
        if len(calls) == 3:
            cancel.set()

    with pytest.raises(Cancelled, match="cancelled at step"):
        gray_scott(make_domain("icosphere", level=2), steps=100_000, progress=progress, cancel=cancel)
    assert len(calls) == 3

    import xarray as xr

    lat, lon = np.linspace(80, -80, 5), np.arange(8) * 45.0
    data = xr.Dataset({"z": (("time", "lat", "lon"), np.random.rand(50, 5, 8))},
                      coords={"time": np.arange(50.0), "lat": lat, "lon": lon}).to_netcdf()
    calls.clear()
    cancel.clear()
    with open_grid(bytes(data), "series.nc") as grid, pytest.raises(Cancelled):
        grid_series(grid, "z", "time", progress=progress, cancel=cancel)
    assert len(calls) == 3


def test_a_session_going_away_stops_long_work():
    """Streamlit stops a session's script by raising from its next element update (our progress callback): the
    exception must cross the core's loops, not be swallowed."""
    from ginr_core.data.signals import gray_scott

    class SessionGone(BaseException):  # what streamlit's StopException is
        pass

    def progress(fraction, message):
        raise SessionGone

    with pytest.raises(SessionGone):
        gray_scott(make_domain("icosphere", level=2), steps=100_000, progress=progress)


def test_too_many_series_files_are_refused_before_reading(tmp_path, monkeypatch):
    from ginr_core.tasks.temporal import series_from_files

    monkeypatch.setenv("GINR_MAX_FRAMES", "2")
    with pytest.raises(GinrError, match="3 frames, over this server's limit of 2"):
        series_from_files([(tmp_path / f"missing{i}.npy", f"f{i}.npy") for i in range(3)], make_domain("icosphere"))


def test_k_above_what_the_mesh_allows_is_refused():
    from ginr_core.geometry.spectral import spectral_embedding

    with pytest.raises(GinrError, match="k must be below 42"):
        spectral_embedding(make_domain("icosphere", level=1), k=100)


def test_tiny_meshes_say_that_a_perfect_score_means_little(tmp_path):
    from ginr_core.geometry.mesh import load_mesh

    path = tmp_path / "tetra.obj"
    path.write_bytes(b"v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nf 1 3 2\nf 1 2 4\nf 1 4 3\nf 2 3 4\n")
    _, report = load_mesh(path)
    assert any("memorisation" in m for m in report.messages())


# --------------------------------------------------------------------------------------------- fuzzing

FUZZ = settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


def _valid_mesh_bytes(ext: str) -> bytes:
    import trimesh

    mesh = make_domain("icosphere", level=0)
    data = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False).export(file_type=ext)
    return data.encode() if isinstance(data, str) else data


def _mutated(valid: bytes):
    """Valid bytes with a few bytes overwritten, a slice cut out, or cut short."""
    return st.one_of(
        st.lists(st.tuples(st.integers(0, len(valid) - 1), st.integers(0, 255)), min_size=1, max_size=8).map(
            lambda edits: bytes(_apply(valid, edits))),
        st.tuples(st.integers(0, len(valid)), st.integers(0, len(valid))).map(lambda ij: valid[: min(ij)] + valid[max(ij):]),
        st.integers(0, len(valid)).map(lambda n: valid[:n]),
    )


def _apply(valid: bytes, edits) -> bytearray:
    out = bytearray(valid)
    for i, value in edits:
        out[i] = value
    return out


def _only_clear_errors(read, data: bytes) -> None:
    try:
        read(data)
    except GinrError as exc:
        assert str(exc).strip()


@pytest.mark.parametrize("ext", ["ply", "obj", "off", "stl", "glb"])
def test_mesh_parsers_survive_fuzzing(ext):
    from ginr_core.geometry.mesh import load_mesh

    valid = _valid_mesh_bytes(ext)
    mesh, _ = load_mesh(valid, f"valid.{ext}")  # the fuzzer mutates a file that parses, not one refused already
    assert (mesh.n_vertices, mesh.n_faces) == (12, 20)

    @FUZZ
    @given(st.one_of(_mutated(valid), st.binary(max_size=2048)))
    def check(data):
        _only_clear_errors(lambda d: load_mesh(d, f"fuzz.{ext}"), data)

    check()


@pytest.mark.parametrize("ext", ["npy", "csv"])
def test_signal_parsers_survive_fuzzing(ext):
    from ginr_core.data.signals import load_vertex_signal

    mesh = make_domain("icosphere", level=1)
    values = np.random.default_rng(0).random(mesh.n_vertices)
    if ext == "npy":
        valid = npy_bytes(values)
    else:
        valid = ("value\n" + "\n".join(map(str, values))).encode()
    np.testing.assert_allclose(load_vertex_signal(valid, f"valid.{ext}", mesh), values)  # the unmutated file parses

    @FUZZ
    @given(st.one_of(_mutated(valid), st.binary(max_size=1024), st.text(max_size=300).map(str.encode)))
    def check(data):
        _only_clear_errors(lambda d: load_vertex_signal(d, f"fuzz.{ext}", mesh), data)

    check()
    assert not UNPICKLED


def test_netcdf_reader_survives_fuzzing():
    import xarray as xr

    from ginr_core.data.gridded import open_grid

    lat, lon = np.linspace(80, -80, 5), np.arange(8) * 45.0
    valid = bytes(xr.Dataset({"z": (("time", "lat", "lon"), np.random.rand(2, 5, 8))},
                             coords={"time": [0.0, 1.0], "lat": lat, "lon": lon}).to_netcdf(engine="scipy"))

    def read(data):
        with open_grid(data, "fuzz.nc") as grid:
            for variable in grid.variables:
                grid.field(variable, **{d: 0 for d in grid.other_dims(variable)}, allow_missing=True)
            return list(grid.variables)

    assert read(valid) == ["z"]  # the unmutated file parses

    @FUZZ
    @given(st.one_of(_mutated(valid), st.binary(max_size=1024)))
    def check(data):
        _only_clear_errors(read, data)

    check()


@pytest.mark.parametrize("argv", [["collection", "train", "{missing}.npz"], ["collection", "train", "{folder}"]])
def test_cli_names_a_missing_or_unreadable_file_in_one_line(argv, tmp_path, capsys):
    status = main([a.format(missing=tmp_path / "nowhere", folder=tmp_path) for a in argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and err[0].startswith("error: ") and str(tmp_path) in err[0], err
