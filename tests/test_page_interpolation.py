"""The Interpolation page through Streamlit's AppTest: patterns, a short run of a few methods, cancel, bad input."""

import numpy as np
from conftest import button, charts, number, radio

PAGE = "pages/interpolation.py"


def _page(app):
    return app.switch_page(PAGE).run()


def test_page_renders_with_patterns_for_a_sphere(app):
    at = _page(app)
    assert not at.exception and not at.error
    assert radio(at, "Observed").options == ["Random nodes", "Satellite tracks", "Upload observations (CSV)"]
    assert [m.value for m in at.metric] == ["640", "1,922"]  # 25% of icosphere 4's 2,562 nodes
    radio(at, "Observed").set_value("Satellite tracks").run()
    assert not at.exception and not at.error
    assert any("tracks at 66 degrees" in c.value for c in at.caption)


def _launch(app, methods, steps):
    at = _page(app)
    at.multiselect[0].set_value(methods)
    number(at, "Training steps per network").set_value(steps)
    button(at, "Run every method").click().run()
    assert not at.exception and not at.error
    return at, at.session_state["interp_job"]


def test_a_short_run_scores_every_method_and_draws_the_derived_grid(app):
    at, job = _launch(app, ["harmonic", "biharmonic", "ginr"], 20)
    assert job.join(timeout=120).done
    at.run()
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    assert list(table["method"]) == ["harmonic", "biharmonic", "ginr"]
    assert list(table["kind"]) == ["classical", "classical", "network"]
    assert np.isfinite(table["R²"].astype(float)).all() and (table["seconds"] >= 0).all()
    assert at.success or at.warning  # the verdict: network against classical, in words
    assert len(charts(at)) == 3  # observed nodes, resolved scale, field | gradient | Laplacian | error
    from pages.shared.runs import registry

    run = registry().get(job.state.run_id)  # the run layer keeps it, every method's scores in its metrics
    assert run.spec.task == "interpolation" and list(run.metrics["methods"]) == ["harmonic", "biharmonic", "ginr"]
    assert any(f"Recorded as run {run.id}" in c.value for c in at.caption)


def test_cancel_stops_the_run(app):
    at, job = _launch(app, ["ginr", "harmonic"], 100_000)
    button(at, "Cancel").click().run()
    state = job.join(timeout=60)
    assert state.done and [o.status for o in state.result.outcomes] == ["cancelled", "cancelled"]


def test_a_bad_csv_shows_an_error(app):
    at = _page(app)
    radio(at, "Observed").set_value("Upload observations (CSV)").run()
    at.file_uploader[0].upload("obs.csv", b"a,b\n1,2\n").run()
    assert not at.exception
    assert any("lat, lon, value" in e.value for e in at.error), [e.value for e in at.error]
    assert not [b for b in at.button if b.label == "Run every method"]


def test_an_upload_is_read_once_and_refused_when_it_leaves_no_node_to_score(app, monkeypatch):
    import ginr_core.tasks.interpolation as interpolation

    reads, read = [], interpolation.read_observations_csv
    monkeypatch.setattr(interpolation, "read_observations_csv", lambda *args: reads.append(args[-1]) or read(*args))
    monkeypatch.setenv("GINR_MAX_OBSERVATIONS", "3000")
    at = _page(app)
    radio(at, "Observed").set_value("Upload observations (CSV)").run()
    every_node = "vertex,value\n" + "".join(f"{i},{i % 7}\n" for i in range(2562))
    at.file_uploader[0].upload("every.csv", every_node.encode()).run()
    assert any("no node is left to score" in e.value for e in at.error), [e.value for e in at.error]
    assert not [b for b in at.button if b.label == "Run every method"]
    at.file_uploader[0].upload("many.csv", (every_node + every_node[13:]).encode()).run()
    assert any("(GINR_MAX_OBSERVATIONS)" in e.value for e in at.error), [e.value for e in at.error]
    radio(at, "Observed").set_value("Upload observations (CSV)").run()  # reruns reuse the reading, refusal included
    at.run()
    assert not at.exception and reads == ["every.csv", "many.csv"]
