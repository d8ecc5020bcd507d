"""The Super-resolution page through Streamlit's AppTest: targets, a short two-strategy run, bad input."""

import numpy as np
import pytest
from conftest import button, number, radio, scene_views

PAGE = "pages/super_resolution.py"


def _page(app, workspace=None):
    if workspace is not None:
        app.session_state["workspace"] = workspace
    return app.switch_page(PAGE).run()


def test_page_renders_on_the_default_workspace(app):
    at = _page(app)
    assert not at.exception and not at.error
    assert [m.value for m in at.metric] == ["2,562", "10,242", "7,680"]  # icosphere 4, midpoint-subdivided once
    assert radio(at, "Finer mesh").options == ["Subdivide this mesh", "Upload a finer mesh"]  # not a lat-lon grid
    assert at.multiselect[0].value == ["stacked", "joint"]  # the interpolation benchmark's winner first
    assert "sh" in at.multiselect[0].options  # the new vertices were put on the sphere
    assert number(at, "Embedding size k").value == 36
    assert any("real score" in i.value for i in at.info)
    button(at, "Run super-resolution")


def _launch(app, budget_s):
    """The page with a run of two feature-transfer strategies started, and its job."""
    at = _page(app)
    at.multiselect[0].set_value(["joint", "kl"])
    number(at, "Time budget per strategy (s)").set_value(budget_s)
    button(at, "Run super-resolution").click().run()
    assert not at.exception and not at.error
    return at, at.session_state["superres_job"]


def test_two_strategies_run_in_turn_and_score_the_fine_only_nodes(app):
    at, job = _launch(app, 1.0)
    assert [o.name for o in job.join(timeout=60).result] == ["joint", "kl", "harmonic", "biharmonic", "rbf"]
    at.run()
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    # the strategies, then classical interpolation of the same coarse values
    assert list(table["strategy"]) == ["joint", "kl", "harmonic", "biharmonic", "rbf"]
    assert list(table["kind"]) == ["GINR", "GINR", "classical", "classical", "classical"] and set(table["status"]) == {"done"}
    assert np.isfinite(table["R² fine-only nodes"].astype(float)).all()
    assert np.isfinite(table["R² shared (< 90th pct)"].astype(float)).all()
    assert len(scene_views(at)) == 1  # original, super-resolved, squared error: one linked scene view
    radio(at, "Fine prediction drawn as").set_value("mesh").run()
    radio(at, "Strategy shown").set_value("kl").run()
    assert not at.exception and len(scene_views(at)) == 1
    assert [b.label for b in at.get("download_button")] == ["Super-resolved prediction (PLY)"]


def test_cancel_stops_the_run(app):
    at, job = _launch(app, 60.0)
    assert not job.done and len(at.get("progress")) == 2  # one bar per strategy
    button(at, "Cancel").click().run()
    outcomes = job.join(timeout=30).result
    assert job.done and [o.status for o in outcomes if not o.classical] == ["cancelled", "cancelled"]


def test_bad_upload_shows_an_error(app):
    at = _page(app)
    radio(at, "Finer mesh").set_value("Upload a finer mesh").run()
    at.file_uploader[0].upload("broken.stl", b"\x00 not a mesh " * 50).run()
    assert not at.exception
    assert any("contains no mesh" in e.value for e in at.error), [e.value for e in at.error]
    assert not [b for b in at.button if b.label == "Run super-resolution"]


@pytest.mark.parametrize("nested", [True, False])
def test_an_uploaded_finer_mesh_is_used(app, nested):
    import trimesh

    from ginr_core.geometry.domains import bumpy_sphere, icosphere

    fine = icosphere(5) if nested else bumpy_sphere(5)
    at = _page(app)
    radio(at, "Finer mesh").set_value("Upload a finer mesh").run()
    at.file_uploader[0].upload("fine.ply", trimesh.Trimesh(fine.vertices, fine.faces).export(file_type="ply")).run()
    assert not at.exception and not at.error
    # the icosphere's level-4 vertices are found in the file despite its float32 coordinates
    assert [m.value for m in at.metric] == ["2,562", "10,242", "7,680" if nested else "10,242"]
    assert ("joint" in at.multiselect[0].options) == nested
    assert any("real score" in i.value for i in at.info)


def test_without_a_signal_the_page_points_to_the_data_page(app):
    from ginr_core.geometry.domains import icosphere
    from pages.shared.workspace import Workspace

    at = _page(app, Workspace(icosphere(2), "icosphere (level 2)"))
    assert not at.exception
    assert any("Data page" in w.value for w in at.warning)
    assert any(link.label == "Go to Data" for link in at.get("page_link"))


@pytest.mark.parametrize("known_everywhere", [True, False])
def test_a_latlon_grid_offers_a_finer_grid_and_a_hold_out(app, known_everywhere):
    from functools import partial

    from ginr_core.data.signals import analytic_signal
    from ginr_core.geometry.domains import latlon_sphere
    from pages.shared.workspace import Workspace

    mesh = latlon_sphere(19, 36)
    ws = Workspace(mesh, "lat-lon 19 x 36")
    function = partial(analytic_signal, kind="sines") if known_everywhere else None
    ws.set_signal(analytic_signal(mesh, "sines"), "a field", function)
    at = _page(app, ws)
    at = radio(at, "Finer mesh").set_value("Finer lat-lon grid (twice the resolution)").run()
    assert not at.exception and not at.error
    assert [m.value for m in at.metric] == [f"{19 * 36:,}", f"{37 * 72:,}", f"{37 * 72 - 19 * 36:,}"]
    if known_everywhere:
        assert any("real score" in i.value for i in at.info)
    else:  # a field known only on its grid: said plainly
        assert any("not available" in w.value for w in at.warning)
    at = radio(at, "Finer mesh").set_value("Hold out every second row and column of this grid").run()
    assert [m.value for m in at.metric] == [f"{10 * 18:,}", f"{19 * 36:,}", f"{19 * 36 - 10 * 18:,}"]
    assert any("real score" in i.value for i in at.info)


@pytest.mark.parametrize("network_r2, shown", [(0.9999996, "info"), (1.0, "info"), (0.99997, "warning"), (1.00002, "success")])
def test_the_verdict_is_the_cores_and_a_tie_reads_as_one(network_r2, shown):
    """The pages' verdict (a shown tie is no win: the Super-resolution page once said `>=` wins)."""
    from streamlit.testing.v1 import AppTest

    def verdict(network_r2):
        from pages.shared.widgets import show_verdict

        show_verdict(network_r2, 0.99999985, "Scores.", {"network": "N.", "tie": "T.", "classical": "C."})

    at = AppTest.from_function(verdict, args=(network_r2,)).run()
    assert not at.exception
    assert [(kind, e.value) for kind in ("success", "info", "warning") for e in getattr(at, kind)] == \
        [(shown, "Scores. " + {"success": "N.", "info": "T.", "warning": "C."}[shown])]
