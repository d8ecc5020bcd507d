"""Gridded climate data: a global latitude-longitude netCDF variable as a signal on a sphere mesh.

`open_grid` reads a netCDF file (netCDF3 or netCDF4, from a path or uploaded bytes) with xarray, which
applies the CF conventions (scale_factor / add_offset, fill values become NaN) and byte order. A variable
with latitude and longitude dimensions, after choosing an index along its other dimensions (month,
level, time...), maps one to one onto the nodes of `latlon_grid(lat, lon)`: node i * n_lon + j holds the
value at (lat[i], lon[j]).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import GinrError
from ..geometry.domains import latlon_grid
from ..geometry.mesh import Mesh
from ..storage.files import read_input
from ..settings import check_dimension, check_nodes
LAT_NAMES = ("latitude", "lat", "lats", "y")
LON_NAMES = ("longitude", "lon", "lons", "long", "x")
LAT_UNITS = ("degrees_north", "degree_north", "degrees_n", "degree_n", "degreesn")
LON_UNITS = ("degrees_east", "degree_east", "degrees_e", "degree_e", "degreese")


@dataclass(frozen=True)
class GridVariable:
    """A variable defined on the grid: its dimensions (in file order), shape and CF labels."""

    name: str
    dims: tuple[str, ...]
    shape: tuple[int, ...]
    units: str = ""
    long_name: str = ""

    def label(self) -> str:
        title = self.long_name or self.name
        return f"{title} [{self.units}]" if self.units else title


@dataclass(eq=False)
class LatLonGrid:
    """An opened latitude-longitude file: coordinates, the variables on the grid, and their fields.

    `coords` holds the values along every other dimension of those variables (e.g. level: 200, 500,
    850), for labelling the indices `field` takes. `notes` says what was adjusted while reading.
    """

    name: str
    lat: np.ndarray
    lon: np.ndarray
    lat_name: str
    lon_name: str
    variables: dict[str, GridVariable]
    coords: dict[str, np.ndarray]
    notes: list[str] = field(default_factory=list)
    _dataset: object = field(default=None, repr=False)

    @property
    def n_nodes(self) -> int:
        return len(self.lat) * len(self.lon)

    def mesh(self, radius: float = 1.0) -> Mesh:
        """The sphere mesh whose node i * n_lon + j sits at (lat[i], lon[j])."""
        return latlon_grid(self.lat, self.lon, radius)

    def other_dims(self, variable: str) -> tuple[str, ...]:
        """The dimensions of `variable` besides latitude and longitude: each needs an index in `field`."""
        info = self._variable(variable)
        return tuple(d for d in info.dims if d not in (self.lat_name, self.lon_name))

    def index_of(self, dim: str, value) -> int:
        """Position of a coordinate value along `dim` (e.g. index_of("level", 500))."""
        if dim not in self.coords:
            raise GinrError(f"'{dim}' is not a dimension of the grid's variables ({', '.join(self.coords) or 'none'}).")
        values = self.coords[dim]
        hits = np.flatnonzero(values == np.asarray(value, dtype=values.dtype))
        if not len(hits):
            raise GinrError(f"{dim} = {value} is not in the file; available: {_list(values)}.")
        return int(hits[0])

    def field(self, variable: str, allow_missing: bool = False, **selection: int) -> np.ndarray:
        """Values of `variable` on the mesh nodes, shape (n_lat * n_lon,), as float64.

        `selection` gives an index (a position, not a coordinate value: see `index_of`) for every other
        dimension, e.g. field("z", month=0, level=1); dimensions of length 1 may be left out. Missing
        values (fill values, NaN) raise a GinrError unless `allow_missing`, which keeps them as NaN.
        """
        info = self._variable(variable)
        others = self.other_dims(variable)
        unknown = sorted(set(selection) - set(others))
        if unknown:
            raise GinrError(
                f"'{variable}' has no dimension {', '.join(unknown)}; its other dimensions are: "
                f"{', '.join(others) or 'none'}."
            )
        index = {}
        for dim in others:
            size = info.shape[info.dims.index(dim)]
            if dim not in selection:
                if size == 1:
                    index[dim] = 0
                    continue
                raise GinrError(f"Choose a {dim} for '{variable}': an index from 0 to {size - 1} ({_list(self.coords[dim])}).")
            i = selection[dim]
            if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)):
                raise GinrError(f"The {dim} must be given as an index (a whole number), got {i!r}.")
            if not -size <= i < size:
                raise GinrError(f"The {dim} index {i} is out of range: '{variable}' has {size} ({_list(self.coords[dim])}).")
            index[dim] = int(i)
        data = self._dataset[variable].isel(index).transpose(self.lat_name, self.lon_name)
        values = np.asarray(data.values, dtype=np.float64)[:, : len(self.lon)]
        bad = int((~np.isfinite(values)).sum())
        if bad and not allow_missing:
            where = ", ".join(f"{d}={i}" for d, i in index.items())
            raise GinrError(
                f"'{variable}'{f' ({where})' if where else ''} has {bad:,} missing values (NaN or fill values) out of "
                f"{values.size:,} grid points. GINR needs a value at every node."
            )
        return values.reshape(-1)

    def close(self) -> None:
        if self._dataset is not None:
            self._dataset.close()

    def __enter__(self) -> "LatLonGrid":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _variable(self, variable: str) -> GridVariable:
        if variable not in self.variables:
            raise GinrError(
                f"'{variable}' is not a variable on the latitude-longitude grid. Variables: {', '.join(self.variables)}."
            )
        return self.variables[variable]


def _list(values: np.ndarray, limit: int = 8) -> str:
    shown = ", ".join(str(v) for v in np.asarray(values)[:limit].tolist())
    return shown + (", ..." if len(values) > limit else "")


def _find_axis(ds, names: tuple[str, ...], units: tuple[str, ...], standard_name: str) -> str | None:
    """The dimension that is latitude (or longitude): by CF standard_name or units, else by its name."""
    dims = [d for d in ds.dims if d in ds.coords]
    for d in dims:
        attrs = ds[d].attrs
        if attrs.get("standard_name") == standard_name or str(attrs.get("units", "")).lower() in units:
            return d
    return next((d for d in dims if str(d).lower() in names), None)


def _open_dataset(data: bytes, name: str):
    """xarray Dataset over an in-memory netCDF3/4 file, CF-decoded; times decoded when possible."""
    import netCDF4
    import xarray as xr

    for decode_times in (True, False):
        try:
            nc = netCDF4.Dataset("upload.nc", mode="r", memory=data)  # a fixed label: a file name never becomes a path
        except Exception as exc:  # netCDF4 raises OSError for anything that is not netCDF
            raise GinrError(f"{name} is not a readable netCDF file ({exc}).") from exc
        try:
            for dim in nc.dimensions.values():  # declared sizes, before xarray reads any coordinate
                check_dimension(f"{name}'s dimension '{dim.name}'", dim.size)
        except GinrError:
            nc.close()
            raise
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # CF nits such as a float _FillValue on an int16 variable
                return xr.open_dataset(xr.backends.NetCDF4DataStore(nc), decode_times=decode_times)
        except Exception as exc:
            nc.close()
            if not decode_times:
                raise GinrError(f"Could not decode {name}: {exc}") from exc
    raise AssertionError("unreachable")


def open_grid(
    source: str | os.PathLike | bytes,
    filename: str | None = None,
    max_bytes: int | None = None,
) -> LatLonGrid:
    """Open a global latitude-longitude netCDF file (a path, or uploaded bytes with their filename).

    Finds the latitude and longitude dimensions (CF standard_name / units, else the names latitude,
    lat, y / longitude, lon, x) and lists the variables defined on them. A last longitude column that
    repeats the first (0 and 360) is dropped. Refuses regional grids: the mesh wraps around in longitude.
    """
    data, name, _ = read_input(source, filename, max_bytes, what="netCDF")
    ds = _open_dataset(data, name)
    try:
        return _make_grid(ds, name)
    except Exception:
        ds.close()
        raise


def _make_grid(ds, name: str) -> LatLonGrid:
    lat_name = _find_axis(ds, LAT_NAMES, LAT_UNITS, "latitude")
    lon_name = _find_axis(ds, LON_NAMES, LON_UNITS, "longitude")
    if lat_name is None or lon_name is None:
        missing = " and ".join(w for w, n in (("latitude", lat_name), ("longitude", lon_name)) if n is None)
        raise GinrError(
            f"{name} has no {missing} coordinate (looked for dimensions named "
            f"{'/'.join(LAT_NAMES if lat_name is None else LON_NAMES)} or with CF units). "
            f"Its dimensions are: {', '.join(map(str, ds.dims)) or 'none'}."
        )
    check_nodes(ds.sizes[lat_name] * ds.sizes[lon_name], f"The {ds.sizes[lat_name]:,} x {ds.sizes[lon_name]:,} grid of {name}")
    lat = np.asarray(ds[lat_name].values, dtype=np.float64)
    lon = np.asarray(ds[lon_name].values, dtype=np.float64)
    if not (np.isfinite(lat).all() and np.isfinite(lon).all()):
        raise GinrError(f"The latitude or longitude coordinate of {name} has missing values.")
    if np.abs(lat).max() > 90 + 1e-6:
        raise GinrError(f"The latitudes of {name} are outside [-90, 90] degrees: is '{lat_name}' really a latitude?")
    if len(lat) > 1 and not (np.all(np.diff(lat) > 0) or np.all(np.diff(lat) < 0)):
        raise GinrError(f"The latitudes of {name} must be strictly increasing or strictly decreasing.")

    notes = []
    if len(lon) > 1 and np.isclose((lon[-1] - lon[0]) % 360.0, 0.0, atol=1e-6):
        lon = lon[:-1]
        notes.append(f"Dropped the last longitude ({ds[lon_name].values[-1]:g}): it repeats the first.")
    if len(lon) >= 2:
        steps = np.diff(lon) % 360.0
        covered = steps.sum() + np.median(steps)
        if not np.isclose(covered, 360.0, rtol=1e-3):
            raise GinrError(
                f"{name} covers {covered:.1f} degrees of longitude: only global grids are supported "
                "(the sphere mesh wraps around in longitude)."
            )

    variables = {}
    coords = {}
    for var_name, var in ds.data_vars.items():
        if lat_name in var.dims and lon_name in var.dims and var.dtype.kind in "biuf":
            variables[str(var_name)] = GridVariable(
                name=str(var_name),
                dims=tuple(map(str, var.dims)),
                shape=tuple(int(s) for s in var.shape),
                units=str(var.attrs.get("units", "")),
                long_name=str(var.attrs.get("long_name", "")),
            )
            for d in var.dims:
                if d not in (lat_name, lon_name) and d not in coords:
                    coords[str(d)] = np.asarray(ds[d].values) if d in ds.coords else np.arange(ds.sizes[d])
    if not variables:
        raise GinrError(f"{name} has no numeric variable on its {lat_name} x {lon_name} grid.")
    return LatLonGrid(
        name=Path(name).stem,
        lat=lat,
        lon=lon,
        lat_name=str(lat_name),
        lon_name=str(lon_name),
        variables=variables,
        coords=coords,
        notes=notes,
        _dataset=ds,
    )


__all__ = ["GridVariable", "LatLonGrid", "open_grid"]
