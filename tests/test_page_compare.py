"""The INR vs GINR page through Streamlit's AppTest, on the default icosphere workspace with 1 s budgets."""

from conftest import button, charts, number, run_job, scene_views

PAGE = "pages/compare.py"


def run_comparison(at, budget_s=1.0):
    """Launch with this budget per model, wait for the background job, and rerun to show its results."""
    number(at, "Time budget per model (s)").set_value(budget_s)
    return run_job(at, "Train and compare", lambda state: state.comparison.job)


def test_page_renders_with_defaults(page):
    assert not page.exception
    assert page.title[0].value == "INR vs GINR"
    assert page.radio[0].value == "All four (the paper's Table 2)"
    assert any("About 60 s in all (4 models × 15 s)" in c.value and "one after another" in c.value for c in page.caption)
    assert not page.slider  # the held-out fraction appears with generalisation mode
    assert "Train and compare" in [b.label for b in page.button]


def test_four_models_train_and_fill_table_2(page):
    at = run_comparison(page)
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    assert list(table.columns) == ["INR · ReLU", "INR · sine", "GINR · ReLU", "GINR · sine"]
    assert list(table.index) == ["R² (all nodes)", "MSE", "PSNR (dB)", "training time (s)", "steps"]
    r2 = table.loc["R² (all nodes)"].astype(float)
    assert ((r2 > 0.5) & (r2 <= 1)).all(), r2
    assert (table.loc["training time (s)"].astype(float) <= 1.5).all()
    assert any("all 2,562 nodes" in c.value for c in at.caption)
    assert len(charts(at)) == 1  # the loss curves
    assert len(scene_views(at)) == 1  # the linked 3D views
    from pages.shared.runs import registry

    runs = registry().list_runs()  # every model is a registered run of one group
    assert len(runs) == 4 and len({r.spec.options["group"] for r in runs}) == 1


def test_generalisation_mode_scores_two_models_on_held_out_nodes(page):
    page.radio[0].set_value("Two of them").run()
    assert [s.value for s in page.selectbox if s.label.endswith("model")] == ["inr_sine", "ginr_sine"]
    page.toggle[0].set_value(True).run()
    page.slider[0].set_value(0.3).run()
    at = run_comparison(page)
    table = at.dataframe[0].value
    assert list(table.columns) == ["INR · sine", "GINR · sine"]
    assert table.index[0] == "R² (held-out nodes)"
    n_scored = at.session_state.comparison.job.state.result["ginr_sine"].n_scored
    assert 0.25 * 2562 < n_scored < 0.35 * 2562
    assert any(f"the {n_scored:,} held-out nodes (30%)" in c.value for c in at.caption)


def test_cancel_leaves_the_models_out(page):
    number(page, "Time budget per model (s)").set_value(60.0)
    button(page, "Train and compare").click().run()
    assert button(page, "Train and compare").disabled  # one comparison at a time
    button(page, "Cancel").click().run()
    assert page.session_state.comparison.job.join(timeout=10).status == "cancelled"
    page.run()
    assert not page.exception
    assert any("Cancelled" in w.value for w in page.warning)
    assert not page.dataframe


def test_same_model_twice_is_refused(page):
    page.radio[0].set_value("Two of them").run()
    page.selectbox[1].set_value("inr_sine").run()
    button(page, "Train and compare").click().run()
    assert any("two different models" in e.value for e in page.error)
    assert "comparison" not in page.session_state


def test_without_a_signal_the_page_points_to_data(page):
    page.session_state.workspace.signal = None
    page.run()
    assert not page.exception
    assert any("Choose a signal" in w.value for w in page.warning)
    assert [link.label for link in page.get("page_link")] == ["Go to Data"]
    assert not page.button



def test_last_comparison_stays_visible_after_the_domain_changes(page):
    at = run_comparison(page)
    workspace = at.session_state.workspace
    workspace.set_mesh(workspace.mesh.__class__(workspace.mesh.vertices.copy(), workspace.mesh.faces), "other", [])
    at.run()  # the Data page would do this: a new domain clears the signal
    assert not at.exception
    assert any("The last run is shown below" in w.value for w in at.warning)
    assert len(at.dataframe) == 1  # the results are still there
    assert button(at, "Train and compare").disabled  # nothing to train on until a signal is chosen
