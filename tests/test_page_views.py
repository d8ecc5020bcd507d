"""The sidebar's View settings change the 3D figures of the pages (AppTest)."""

import json

from conftest import button, charts, prepared, scene_views


def _figures(at) -> list[dict]:
    """Every Plotly figure on the page: plain charts and those inside the linked scene views."""
    scenes = [json.loads(figure) for view in scene_views(at) for figure in json.loads(view.proto.json_args)["figures"]]
    return charts(at) + scenes


def test_view_settings_change_the_data_pages_figures(app):
    at = app.switch_page("pages/data.py").run()
    assert not at.exception
    signal = _figures(at)[0]["data"][0]
    assert signal["colorscale"] and "value %{customdata[0]" in signal["hovertemplate"]
    assert signal["colorbar"]["tickformat"] == ".3~g"

    # the sidebar's widgets keep their values in these keys (AppTest reruns a switched-to page without app.py's
    # sidebar, so the state is set directly, as the widgets would)
    assert {"Colour map (signals)", "Channel (multi-channel signals)"} <= {s.label for s in at.sidebar.selectbox}
    at.session_state["view_cmap"], at.session_state["view_up"] = "magma", "x"
    at.session_state["view_range"], at.session_state["view_vmin"], at.session_state["view_vmax"] = "manual", -3.0, 4.0
    at.run()
    figure = _figures(at)[0]
    trace = figure["data"][0]
    assert not at.exception
    assert trace["colorscale"][-1][1] != signal["colorscale"][-1][1]  # magma, not viridis
    assert (trace["cmin"], trace["cmax"]) == (-3.0, 4.0) and "manual range" in json.dumps(trace["colorbar"])
    assert figure["layout"]["scene"]["camera"]["up"] == {"x": 1, "y": 0, "z": 0}

    at.session_state["view_draw_as"] = "points"
    at.run()
    assert _figures(at)[0]["data"][0]["type"] == "scatter3d"

    at.session_state["view_draw_as"] = "mesh"
    prepared(button(at, "Compute embedding").click().run())
    eigenvector = _figures(at)[-1]["data"][0]
    assert eigenvector["cmin"] == -eigenvector["cmax"]  # signed: diverging, centred at 0


def test_results_draw_an_rgb_run_in_colours_with_metrics_per_channel(app):
    from ginr_core.geometry.domains import make_domain
    from ginr_core.geometry.features import FeatureSpec
    from ginr_core.learning.training import TrainConfig
    from ginr_core.runs.actions import launch
    from ginr_core.runs.registry import Registry
    from ginr_core.runs.fitting import RunRequest
    from ginr_core.runs.spec import RunInputs, RunSpec, Source

    mesh = make_domain("icosphere", level=2)
    colours = (mesh.vertices + 1) / 2
    spec = RunSpec("fit", Source("builtin", "icosphere"), Source("dashboard", "colours"),
                   FeatureSpec("spherical_harmonics", 9), train=TrainConfig(time_budget_s=1))
    assert launch(RunRequest.from_spec(spec, RunInputs(mesh, colours)), Registry()).join().status == "done"
    at = app.switch_page("pages/results.py").run()
    assert not at.exception
    truth, prediction, error = next(f for f in _figures(at) if f["data"][0]["type"] == "mesh3d")["data"]
    assert truth.get("vertexcolor") is not None and prediction.get("vertexcolor") is not None
    assert error["cmin"] == 0 and "vertexcolor" not in error  # the error (averaged over channels) on its own scale
    table = next(d.value for d in at.dataframe if "channel" in d.value.columns)
    assert list(table["channel"]) == [0, 1, 2]


def test_results_show_a_cropped_run_scored_where_its_model_still_reaches(app):
    """The Results page shows every kind the task table says it does (runs.kinds): a cropped run among them."""
    from ginr_core.cli import main
    from ginr_core.runs.registry import Registry

    assert main(["crop", "--domain", "icosphere", "--signal", "sines", "--parts", "4", "--k", "16", "--budget", "1"]) == 0
    trained = Registry().list_runs()[0].id
    assert main(["crop", trained, "--remove", "1"]) == 0
    cropped = Registry().list_runs()[0]
    assert cropped.description["task"] == "crop"
    at = app.switch_page("pages/results.py").run()
    assert not at.exception
    assert at.selectbox[0].value == cropped.id  # the newest run the page can show
    n = cropped.metrics["n_scored"]
    assert any(f"Scored on the {n:,} nodes the cropped model still represents" in c.value for c in at.caption)
    assert len([b for b in at.get("download_button")]) == 4 and not [b for b in at.button if b.label == "Re-run this run"]
