"""The Collections page under AppTest: build from files, train in the background, explore, fit a new signal."""

import numpy as np
from conftest import button, npy_bytes, number, run_job

from ginr_core.geometry.domains import make_domain


def test_collection_from_files_trains_explores_and_fits_new(app):
    x, y, _ = make_domain("icosphere", level=4).vertices.T  # the default workspace domain
    at = app.switch_page("pages/collections.py").run()
    assert not at.exception and at.info[0].value.startswith("Build a collection")
    at.radio[0].set_value("Signal files").run()
    for q in np.linspace(0, 1, 5):
        at.file_uploader[0].upload(f"p{q:.2f}.npy", npy_bytes(np.sin(2 * x + q) + np.cos(3 * y - q)))
    at.run()
    button(at, "Use these signals").click().run()
    assert not at.exception and "5 members" in at.success[0].value
    inputs = {n.label: n for n in at.number_input}
    inputs["Embedding columns (k)"].set_value(16)
    inputs["Members held out"].set_value(1)
    inputs["Training budget (s)"].set_value(3.0)
    inputs["Fit-new budget per held-out member (s)"].set_value(1.0)
    run_job(at, "Train the collection", lambda state: state["collection_run"].job, timeout=120)
    assert not at.exception and not at.error
    state = at.session_state["collection_run"].job.state
    fit = state.result
    mean = next(m for m in at.metric if m.label == "Mean R² (trained members)")
    assert mean.value == f"{fit.summary()['mean_r2']:.4f}"
    span = next(m for m in at.metric if m.label == "Held-out R² (trained members' span)")
    assert span.value == f"{fit.held_out[0].span.r2:.4f}"
    assert any(f"640 random sines of it (least squares, no trained layer): **{fit.held_out[0].sines.r2:.4f}**" in c.value
               for c in at.caption)  # a quarter of the 2,562 nodes
    assert len(fit.held_out) == 1 and state.run_id is not None and fit.run_id == state.run_id
    at.selectbox(key="explorer_member").set_value("p0.25.npy").run()
    assert not at.exception
    at.slider(key="walk-t").set_value(0.25).run()
    assert not at.exception
    at.number_input(key="fit-new-budget").set_value(1.0)
    run_job(at, "Fit the new signal", lambda state: state["collection_new"])
    assert not at.exception and not at.error
    table = at.dataframe[-1].value
    assert list(table["model"]) == ["collection: code only (fit-new)", "trained members' span (least squares, no network)",
                                    "the embedding and 640 random sines of it (least squares, no trained layer)",
                                    "single-signal model from scratch"]
    from pages.shared.runs import registry

    scratch_run = registry().get(at.session_state["collection_new"].state.result.scratch_run_id)
    assert scratch_run.spec.task == "fit" and scratch_run.status == "done"


def test_bad_member_is_named(app):
    at = app.switch_page("pages/collections.py").run()
    at.radio[0].set_value("Signal files").run()
    at.file_uploader[0].upload("good.npy", npy_bytes(np.arange(2562.0)))
    at.file_uploader[0].upload("short.npy", npy_bytes(np.arange(10.0)))
    at.run()
    button(at, "Use these signals").click().run()
    assert not at.exception
    assert any("short.npy has 10 values" in e.value for e in at.error)


def test_the_default_held_out_count_trains_on_a_two_by_two_family(app):
    """A 2 x 2 (F, k) family has no member with neighbours on both sides: the default holds none out."""
    from ginr_core.data.collections import Collection

    x = make_domain("icosphere", level=4).vertices[:, 0]
    family = Collection(np.stack([np.sin((1 + f) * x + k) for f in (0, 1) for k in (0, 1)]), ["a", "b", "c", "d"],
                        {"F": np.array([0.05, 0.05, 0.06, 0.06]), "k": np.array([0.062, 0.063, 0.062, 0.063])}, "2 x 2")
    at = app.switch_page("pages/collections.py").run()
    at.radio[0].set_value(".npz stack").run()
    at.file_uploader[0].upload("family.npz", family.npz_bytes())
    at.run()
    button(at, "Use this stack").click().run()
    held = number(at, "Members held out")
    assert held.value == held.max == 0
    button(at, "Train the collection").click().run()
    assert not at.exception and not at.error and at.session_state["collection_run"].request.held_out == ()
