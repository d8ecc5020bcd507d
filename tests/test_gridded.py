import numpy as np
import pytest
import xarray as xr
from conftest import shared_file
from scipy.io import netcdf_file

from ginr_core.data.gridded import open_grid
from ginr_core.errors import GinrError
from ginr_core.geometry.domains import lat_lon_to_xyz

LAT = np.array([60.0, 20.0, -20.0, -60.0])
LON = np.arange(6) * 60.0


def _values(n_time=2):
    """Distinct values encoding (time, lat index, lon index): 100 t + 10 i + j."""
    t, i, j = np.meshgrid(np.arange(n_time), np.arange(len(LAT)), np.arange(len(LON)), indexing="ij")
    return (100 * t + 10 * i + j).astype(np.float64)


def _write(path, data_vars, coords, engine="netcdf4", encoding=None):
    xr.Dataset(data_vars, coords=coords).to_netcdf(path, engine=engine, encoding=encoding)
    return path


@pytest.mark.parametrize("engine", ["netcdf4", "scipy"])
def test_lat_lon_order_maps_onto_grid_nodes(tmp_path, engine):
    values = _values()
    coords = {"time": [0, 6], "lat": LAT, "lon": LON}
    path = _write(
        tmp_path / "grid.nc",
        {
            "t_latlon": (("time", "lat", "lon"), values, {"units": "K", "long_name": "Temperature"}),
            "t_lonlat": (("lon", "time", "lat"), values.transpose(2, 0, 1)),
        },
        coords,
        engine,
    )
    for source, filename in ((path, None), (path.read_bytes(), "upload.nc")):
        with open_grid(source, filename) as grid:
            assert set(grid.variables) == {"t_latlon", "t_lonlat"}
            assert grid.variables["t_latlon"].label() == "Temperature [K]"
            assert grid.other_dims("t_lonlat") == ("time",)
            mesh = grid.mesh()
            assert mesh.n_vertices == grid.n_nodes == len(LAT) * len(LON)
            for name in ("t_latlon", "t_lonlat"):
                f = grid.field(name, time=1)
                assert f.shape == (grid.n_nodes,)
                for i, j in ((0, 0), (1, 4), (3, 5)):
                    node = i * len(LON) + j
                    assert f[node] == 100 + 10 * i + j
                    np.testing.assert_allclose(mesh.vertices[node], lat_lon_to_xyz(LAT[i], LON[j]), atol=1e-12)
                    assert mesh.vertex_data["lat"][node] == LAT[i]


def test_selection_checks_and_labels(tmp_path):
    coords = {"time": [0, 6], "level": [850], "lat": LAT, "lon": LON}
    values = _values()[:, None]
    path = _write(tmp_path / "g.nc", {"t": (("time", "level", "lat", "lon"), values)}, coords)
    grid = open_grid(path)
    np.testing.assert_array_equal(grid.field("t", time=0), values[0, 0].reshape(-1))  # level: length 1
    assert grid.index_of("time", 6) == 1
    with pytest.raises(GinrError, match="Choose a time"):
        grid.field("t")
    with pytest.raises(GinrError, match="out of range"):
        grid.field("t", time=2)
    with pytest.raises(GinrError, match="no dimension month"):
        grid.field("t", time=0, month=0)
    with pytest.raises(GinrError, match="not a variable"):
        grid.field("q", time=0)
    with pytest.raises(GinrError, match="not in the file"):
        grid.index_of("time", 3)


def test_scaled_int16_with_fill_values_is_decoded_and_missing_values_reported(tmp_path):
    values = _values(1)[0] * 0.5 + 250.0
    values[1, 2] = np.nan
    encoding = {"t": {"dtype": "int16", "scale_factor": 0.01, "add_offset": 250.0, "_FillValue": -32767}}
    path = _write(tmp_path / "s.nc", {"t": (("lat", "lon"), values)}, {"lat": LAT, "lon": LON}, "scipy", encoding)
    grid = open_grid(path)
    with pytest.raises(GinrError, match="1 missing values"):
        grid.field("t")
    f = grid.field("t", allow_missing=True)
    assert np.isnan(f[1 * len(LON) + 2]) and np.isfinite(f).sum() == f.size - 1
    np.testing.assert_allclose(f, values.reshape(-1), atol=0.006)


def test_repeated_last_longitude_is_dropped_and_regional_grids_refused(tmp_path):
    lon = np.arange(7) * 60.0  # 0 .. 360: the last column repeats the first
    values = np.arange(len(LAT) * 7, dtype=float).reshape(len(LAT), 7)
    grid = open_grid(_write(tmp_path / "w.nc", {"t": (("lat", "lon"), values)}, {"lat": LAT, "lon": lon}))
    assert len(grid.lon) == 6 and grid.notes
    np.testing.assert_array_equal(grid.field("t"), values[:, :6].reshape(-1))
    assert grid.mesh().n_vertices == len(LAT) * 6

    regional = _write(tmp_path / "r.nc", {"t": (("lat", "lon"), values)}, {"lat": LAT, "lon": np.arange(7) * 10.0})
    with pytest.raises(GinrError, match="only global grids"):
        open_grid(regional)


def test_cf_attributes_find_unusually_named_axes(tmp_path):
    coords = {
        "phi": ("phi", LAT, {"units": "degrees_north"}),
        "lam": ("lam", LON, {"standard_name": "longitude"}),
    }
    grid = open_grid(_write(tmp_path / "cf.nc", {"t": (("phi", "lam"), _values(1)[0])}, coords))
    assert (grid.lat_name, grid.lon_name) == ("phi", "lam")


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty"),
        (b"\x89HDF garbage" * 50, "not a readable netCDF file"),
        (b"CDF\x01" + b"\x00" * 3, "not a readable netCDF file"),
    ],
)
def test_bad_bytes(data, message):
    with pytest.raises(GinrError, match=message):
        open_grid(data, "bad.nc")


def test_files_without_a_lat_lon_grid(tmp_path):
    path = _write(tmp_path / "n.nc", {"t": (("a", "b"), np.ones((3, 4)))}, {"a": np.arange(3), "b": np.arange(4)})
    with pytest.raises(GinrError, match="no latitude and longitude"):
        open_grid(path)
    with pytest.raises(GinrError, match="No such file"):
        open_grid(tmp_path / "missing.nc")


def test_era_interim_geopotential_decodes_to_physical_values():
    path = shared_file("eraint_uvz.nc")
    grid = open_grid(path)
    assert set(grid.variables) == {"z", "u", "v"}
    assert grid.variables["z"].units == "m**2 s**-2"
    assert (len(grid.lat), len(grid.lon)) == (241, 480)
    level = grid.index_of("level", 500)
    z = grid.field("z", month=0, level=level)
    assert z.shape == (241 * 480,) and z.dtype == np.float64
    assert np.isfinite(z).all()
    assert 4.5e4 < z.min() and z.max() < 6.0e4  # the 500 hPa surface sits at about 5-6 km
    assert grid.mesh().n_vertices == z.size

    with netcdf_file(path, "r", mmap=False) as raw:
        var = raw.variables["z"]
        dims = var.dimensions
        manual = var.data[0, level].astype(np.float64) * var.scale_factor + var.add_offset
        assert dims[-2:] == ("latitude", "longitude")
        assert list(raw.variables["level"].data) == [200, 500, 850]
    np.testing.assert_allclose(z, manual.reshape(-1), rtol=1e-12)
    # the July 200 hPa zonal wind has a jet: tens of metres per second
    u = grid.field("u", month=1, level=grid.index_of("level", 200))
    assert 30 < u.max() < 100
