"""The Time series page under AppTest: simulate, train on every second frame, score, render an export."""

import numpy as np
from conftest import as_written, button, charts, npy_bytes, prepared, run_job, scene_views, shared_file

from ginr_core.geometry.domains import make_domain


def test_gray_scott_series_end_to_end(app):
    at = app.switch_page("pages/timeseries.py").run()
    assert not at.exception
    assert at.info[0].value.startswith("Simulate or load a series")
    inputs = {n.label: n for n in at.number_input}
    inputs["Simulation steps"].set_value(400)
    inputs["Keep every Nth step as a frame"].set_value(10)
    prepared(button(at, "Simulate").click().run())
    assert not at.exception and "40 frames" in at.success[0].value
    inputs = {n.label: n for n in at.number_input}
    inputs["Embedding columns (k)"].set_value(16)
    inputs["Time budget (s)"].set_value(2.0)
    run_job(at, "Train on the series", lambda state: state["series_run"].job)
    assert not at.exception and not at.error
    held_out = next(m for m in at.metric if m.label == "R² on held-out frames")
    fit = at.session_state["series_run"].job.state.result
    assert (~fit.trained).sum() == 19  # frames 1, 3, ..., 37: the last one (39) is trained on
    assert held_out.value == f"{fit.held_out['r2']:.4f}"  # the page shows the held-out score, not another
    assert len(charts(at)) == 1  # per-frame scores
    assert len(scene_views(at)) == 1  # the animation, in the linked scene view
    button(at, "Render 40 frames as GIF").click().run()
    assert not at.exception
    fmt, export = at.session_state["series_export"]  # rendered in the background: the page did not wait
    assert fmt == "gif" and export.join(timeout=120).status == "done"
    at.run()
    assert at.get("download_button")[0].proto.label.startswith("Download GIF")
    assert export.state.result[:6] == b"GIF89a"


def test_netcdf_series_from_a_real_file_and_from_garbage(app):
    at = app.switch_page("pages/timeseries.py").run()
    at.radio[0].set_value("netCDF field along a dimension").run()
    at.file_uploader[0].upload("junk.nc", b"CDF\x01 this is not netCDF" * 10).run()
    assert not at.exception and at.error  # explained, not a traceback
    at.file_uploader[0].upload("eraint_uvz.nc", shared_file("eraint_uvz.nc").read_bytes()).run()
    assert not at.exception and not at.error
    assert at.selectbox[1].label == "Dimension used as time"
    at.selectbox[1].set_value("level").run()
    prepared(button(at, "Use this series").click().run())
    assert not at.exception
    assert "3 frames (level = 200 … level = 850) on 29,040 nodes" in as_written(at.success[0].value)  # 121 x 240 (stride 2)


def test_series_from_uploaded_signal_files(app):
    x = make_domain("icosphere", level=4).vertices[:, 0]  # the default workspace domain
    at = app.switch_page("pages/timeseries.py").run()
    at.radio[0].set_value("Signal files, one per time").run()
    for t in (0, 1, 2):
        at.file_uploader[0].upload(f"t{t}.npy", npy_bytes(np.sin(3 * x + t)))
    at.run()
    at.text_input[0].set_value("0, 0.5, 1")
    button(at, "Use these signals").click().run()
    assert not at.exception and not at.error
    shown = at.success[0].value
    assert "3 frames (t0.npy (t = 0) … t2.npy (t = 1)) on 2,562 nodes" in as_written(shown)
    assert "t0\\.npy \\(t \\= 0\\)" in shown  # the upload names as written, not read as markdown
    at.text_input[0].set_value("0, 0.5").run()
    button(at, "Use these signals").click().run()
    assert any("one time stamp per file" in e.value for e in at.error)
