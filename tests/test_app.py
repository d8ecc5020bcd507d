"""Every dashboard page through Streamlit's AppTest: widgets present, bad input shown as an error, a
short training run from launch to results."""

import numpy as np
import pytest
from conftest import button, charts, npy_bytes, number, prepared, scene_views


def test_home_page(app):
    at = app.run()
    assert not at.exception
    assert at.title[0].value == "GINR Studio"
    button(at, "Run the demo")
    assert scene_views(at)  # the eigenvectors, in the linked scene view


def test_data_page_computes_an_embedding(app):
    at = app.switch_page("pages/data.py").run()
    assert not at.exception
    assert [r.label for r in at.radio][:2] == ["Mesh source", "Signal source"]
    assert at.metric[0].value == "2,562"  # default icosphere level 4
    prepared(button(at, "Compute embedding").click().run())
    assert not at.exception and not at.error
    assert any(s.label == "Eigenvector" for s in at.slider)


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("broken.stl", b"\x00 not a mesh " * 50, "contains no mesh"),
        ("empty.ply", b"", "empty"),
        ("nan.obj", b"v 0 0 0\nv 1 0 nan\nv 0 1 0\nf 1 2 3\n", "NaN"),
    ],
)
def test_bad_mesh_upload_shows_an_error(app, name, content, message):
    at = app.switch_page("pages/data.py").run()
    at.radio[0].set_value("Upload a file").run()
    at.file_uploader[0].upload(name, content).run()
    assert not at.exception
    assert any(message in e.value for e in at.error), [e.value for e in at.error]
    assert at.metric[0].value == "2,562"  # the previous mesh is kept


def test_wrong_signal_length_shows_an_error(app):
    at = app.switch_page("pages/data.py").run()
    at.radio[1].set_value("Upload values (.npy / .csv)").run()
    at.file_uploader[0].upload("values.npy", npy_bytes(np.arange(10.0))).run()
    assert not at.exception
    assert any("10 values" in e.value for e in at.error), [e.value for e in at.error]


def test_short_training_run_reaches_results(app):
    at = app.switch_page("pages/train.py").run()
    assert not at.exception
    budget = number(at, "Time budget (s)")
    budget.set_value(3.0)
    button(at, "Launch training").click().run()
    assert not at.exception and not at.error
    from pages.shared.runs import live_jobs

    job = at.session_state.following
    job.join(timeout=60)
    assert job.state.status == "done"
    at.run()
    assert not live_jobs()  # finished: dropped from the server's memory, read back from the registry
    assert any(link.label == "Open Results" for link in at.get("page_link"))
    assert any(": done · R²" in s.value for s in at.success)
    at.switch_page("pages/results.py").run()
    assert not at.exception and not at.error
    assert len(at.dataframe) == 1 and len(charts(at)) == 1  # the error histogram
    assert len(scene_views(at)) == 1  # truth, prediction and error in the linked scene view
    labels = [b.label for b in at.get("download_button")]
    assert "Prediction (PLY)" in labels and "Checkpoint (zip)" in labels


def test_visiting_the_data_page_keeps_the_chosen_domain(app):
    at = app.switch_page("pages/data.py").run()
    at.selectbox[0].set_value("torus").run()
    button(at, "Use this domain").click().run()
    assert at.metric[0].value == "4,608"
    at.switch_page("pages/train.py").run()
    at.switch_page("pages/data.py").run()
    assert not at.exception
    assert at.metric[0].value == "4,608"  # the page's default widgets did not replace the workspace


def test_netcdf_field_replaces_the_domain_with_its_grid(app, tmp_path):
    import xarray as xr

    lat, lon = np.linspace(90, -90, 19), np.arange(36) * 10.0
    field = np.cos(np.deg2rad(lat))[:, None] * np.sin(np.deg2rad(lon))[None, :]
    path = tmp_path / "grid.nc"
    xr.Dataset({"t2m": (("month", "latitude", "longitude"), np.stack([field, 2 * field]))},
               coords={"month": [1, 7], "latitude": lat, "longitude": lon}).to_netcdf(path)
    at = app.switch_page("pages/data.py").run()
    at.radio[1].set_value("Lat-lon netCDF grid (replaces the domain)").run()
    at.file_uploader[0].upload("grid.nc", path.read_bytes()).run()
    assert not at.exception and not at.error
    button(at, "Use this field (and its grid as the domain)").click().run()
    assert not at.exception and not at.error
    assert at.metric[0].value == f"{19 * 36:,}"
    ws = at.session_state.workspace
    np.testing.assert_allclose(ws.signal, field.ravel())
