"""The Crop page through Streamlit's AppTest, on the default icosphere workspace with 1 s budgets."""

import json

import numpy as np
from conftest import button, number, run_job, scene_views

PAGE = "pages/crop.py"


def train(at, budget=1.0):
    number(at, "Time budget per model (s)").set_value(budget)
    return run_job(at, "Train", lambda state: state.crop_session.training)


def test_page_shows_the_partition_and_equal_sizes(page):
    assert not page.exception
    assert page.title[0].value == "Crop"
    assert page.session_state.crop_partition.n_parts == 8
    args = json.loads(scene_views(page)[0].proto.json_args)  # the partition: a scene view, a click picks a part
    numbers = [a["text"] for a in json.loads(args["figures"][0])["layout"]["scene"]["annotations"]]
    assert numbers == [f"<b>{part}</b>" for part in range(8)]  # every part's number, drawn over the mesh
    sizes = page.table[0].value
    assert list(sizes.columns) == ["Local-Global", "network per part", "plain GINR"]
    weights = sizes.loc["weights"].str.replace(",", "").astype(int)
    assert weights.max() - weights.min() < 0.05 * weights.max()
    assert "Train" in [b.label for b in page.button]


def test_train_crop_and_extend(page):
    at = train(page)
    table = at.table[1].value
    assert list(table.columns) == ["Local-Global", "network per part", "plain GINR"]
    assert (table.loc["R²"].astype(float) > 0).all()  # 1 s on a busy CPU: learning, not converged
    [s for s in at.multiselect if s.label == "Parts to remove"][0].set_value([2, 5]).run()
    button(at, "Crop").click().run()
    assert not at.exception and not at.error
    source, cropped, report = at.session_state.crop_session.crop
    assert report.removed == (2, 5) and report.params_after < report.params_before
    assert report.max_change < 1e-6  # no overlap: the kept nodes are untouched
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["R² on the kept nodes, before"] == metrics["after the crop"]
    assert any(cropped in c.value for c in at.caption)
    figure = scene_views(at)[-1].proto.json_args  # the linked scene view of both panels
    assert '"cropped"' in figure and '"before"' in figure
    number(at, "Time budget (s)").set_value(1.0)
    run_job(at, "Extend", lambda state: state.crop_session.extension)
    assert not at.exception and not at.error
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Other weights unchanged"] == "yes"
    extended_id, extension = at.session_state.crop_session.extension.state.result
    assert extension.added == (2, 5) and extension.params_after == report.params_before
    assert np.isfinite(extension.prediction).all()


def test_latlon_tiles_are_offered_on_spheres_only(page):
    options = [s for s in page.selectbox if s.label == "Partition"][0].options
    assert "latitude-longitude tiles" in options  # the default workspace is an icosphere


def test_without_a_signal_the_page_points_to_data(page):
    page.session_state.workspace.signal = None
    page.run()
    assert not page.exception
    assert any("Choose a signal" in w.value for w in page.warning)


def test_custom_widths_train_the_local_global_model_alone(page):
    [t for t in page.toggle if t.label == "Choose the widths myself"][0].set_value(True).run()
    number(page, "Global width").set_value(16).run()
    number(page, "Local width (each part)").set_value(10).run()
    sizes = page.table[0].value
    assert list(sizes.columns) == ["Local-Global"]
    assert sizes.loc["shape", "Local-Global"] == "global 3 × 16 + 8 × local 3 × 10"
