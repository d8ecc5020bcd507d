"""Super-resolution feature transfer: coarse and fine features must agree where the meshes meet."""

import time

import numpy as np
import pytest

from ginr_core.errors import GinrError
from ginr_core.geometry.domains import bumpy_sphere, icosphere
from ginr_core.geometry.mesh import Mesh, subdivide
from ginr_core.learning.model_config import EncoderConfig, MLPConfig, ModelConfig
from ginr_core.learning.training import GINRRegressor, TrainConfig
from ginr_core.tasks.superres import (
    STRATEGIES,
    TransferResult,
    barycentric_operator,
    kl_sign_scores,
    strategies_for,
    subset_correspondence,
    transfer_features,
)

K = 16
LOW = slice(1, 9)  # the first 8 non-constant columns


def _on_unit_sphere(mesh: Mesh) -> Mesh:
    """Midpoints of a sphere's edges lie inside it; push them out so the fine mesh is a sphere too."""
    return Mesh(mesh.vertices / np.linalg.norm(mesh.vertices, axis=1, keepdims=True), mesh.faces, name="fine sphere")


@pytest.fixture(scope="module")
def bumpy():
    """A surface without symmetry: its cotangent eigenvalues are simple, so eigenvectors are defined up to sign."""
    coarse = bumpy_sphere(2)
    return coarse, subdivide(coarse, 1)


@pytest.fixture(scope="module")
def sphere():
    coarse = icosphere(2)
    return coarse, _on_unit_sphere(subdivide(coarse, 1))


def _column_correlations(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.array([np.corrcoef(a[:, j], b[:, j])[0, 1] for j in range(a.shape[1])])


# --- correspondence and applicability -----------------------------------------------------------------


def test_subset_correspondence_finds_the_coarse_vertices_in_a_refined_mesh(bumpy):
    coarse, fine = bumpy
    assert np.array_equal(subset_correspondence(coarse, fine), np.arange(coarse.n_vertices))

    order = np.random.default_rng(0).permutation(fine.n_vertices)  # fine vertex order shuffled
    shuffled = Mesh(fine.vertices[order], np.argsort(order)[fine.faces])
    found = subset_correspondence(coarse, shuffled)
    assert np.array_equal(shuffled.vertices[found], coarse.vertices)


def test_subset_correspondence_refuses_meshes_that_are_not_nested(bumpy, sphere):
    with pytest.raises(GinrError, match="no fine vertex"):
        subset_correspondence(bumpy[0], sphere[1])


def test_strategies_for_lists_only_what_applies(bumpy, sphere):
    assert strategies_for(*sphere, has_correspondence=True) == ["stacked", *STRATEGIES]
    assert strategies_for(*bumpy, has_correspondence=False) == ["stacked", "kl", "interp", "fmap"]
    assert "sh" not in strategies_for(sphere[0], subdivide(sphere[0], 1), has_correspondence=True)


# --- every strategy -----------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_gives_finite_features_of_the_right_shape(strategy, bumpy, sphere):
    coarse, fine = sphere if strategy == "sh" else bumpy
    result = transfer_features(coarse, fine, K, strategy, correspondence=np.arange(coarse.n_vertices))
    assert isinstance(result, TransferResult) and result.strategy == strategy and result.k == K
    assert result.coarse_features.shape == (coarse.n_vertices, K)
    assert result.fine_features.shape == (fine.n_vertices, K)
    assert np.isfinite(result.coarse_features).all() and np.isfinite(result.fine_features).all()
    assert result.notes and all(isinstance(note, str) for note in result.notes)
    # O(1) features, as the network's first layer expects
    assert 0.5 < np.sqrt(np.mean(result.fine_features[:, 1:] ** 2)) < 2.0


def test_joint_reads_the_coarse_features_off_the_fine_solve(bumpy):
    coarse, fine = bumpy
    order = np.random.default_rng(1).permutation(fine.n_vertices)
    shuffled = Mesh(fine.vertices[order], np.argsort(order)[fine.faces])
    correspondence = subset_correspondence(coarse, shuffled)
    result = transfer_features(coarse, shuffled, K, "joint", correspondence=correspondence)
    assert np.array_equal(result.coarse_features, result.fine_features[correspondence])


def test_sh_gives_identical_features_at_shared_points(sphere):
    coarse, fine = sphere
    result = transfer_features(coarse, fine, 10, "sh")  # 10 cuts degree 3 short: still agrees
    assert np.allclose(result.fine_features[: coarse.n_vertices], result.coarse_features, atol=1e-12)
    assert any("rotation" in note for note in result.notes)


def test_interp_is_exact_at_coarse_vertices_and_linear_along_edges(bumpy):
    coarse, fine = bumpy
    result = transfer_features(coarse, fine, K, "interp", laplacian="cotangent")
    assert np.allclose(result.fine_features[: coarse.n_vertices], result.coarse_features, atol=1e-10)
    # midpoint subdivision puts every new vertex on a coarse edge: interpolating positions gives it back
    P, distance = barycentric_operator(coarse, fine.vertices)
    assert np.allclose(P @ coarse.vertices, fine.vertices, atol=1e-10)
    assert distance.max() < 1e-10
    assert np.allclose(P.sum(axis=1), 1.0)


def test_barycentric_operator_projects_points_off_the_surface(sphere):
    coarse, _ = sphere
    points = 1.05 * coarse.vertices[:20]  # just outside, above each vertex
    P, distance = barycentric_operator(coarse, points)
    assert np.allclose(P @ coarse.vertices, coarse.vertices[:20], atol=1e-9)
    assert np.allclose(distance, 0.05, atol=1e-9)


@pytest.mark.parametrize("with_correspondence", [True, False])
def test_fmap_matches_the_coarse_features_at_shared_vertices(bumpy, with_correspondence):
    coarse, fine = bumpy
    correspondence = np.arange(coarse.n_vertices) if with_correspondence else None
    result = transfer_features(coarse, fine, K, "fmap", correspondence=correspondence)
    shared = result.fine_features[: coarse.n_vertices]
    assert (_column_correlations(result.coarse_features[:, LOW], shared[:, LOW]) > 0.99).all()
    error = np.linalg.norm(shared[:, LOW] - result.coarse_features[:, LOW])
    assert error < 0.1 * np.linalg.norm(result.coarse_features[:, LOW])


def test_fmap_also_resolves_the_rotations_of_repeated_eigenvalues(sphere):
    """On a sphere two solves disagree by rotations within each degree; the functional map undoes them."""
    coarse, fine = sphere
    result = transfer_features(coarse, fine, K, "fmap", correspondence=np.arange(coarse.n_vertices))
    shared = result.fine_features[: coarse.n_vertices]
    assert (_column_correlations(result.coarse_features[:, 1:], shared[:, 1:]) > 0.98).all()


def test_kl_runs_and_its_confident_sign_decisions_are_right(bumpy):
    coarse, fine = bumpy
    result = transfer_features(coarse, fine, K, "kl", laplacian="cotangent")
    raw = transfer_features(coarse, fine, K, "interp", laplacian="cotangent").coarse_features
    assert np.array_equal(result.coarse_features, raw)  # the coarse side is the plain coarse solve
    correlation = _column_correlations(result.coarse_features[:, 1:], result.fine_features[: coarse.n_vertices, 1:])
    # simple eigenvalues: the two solves agree up to sign on the low columns...
    assert (np.abs(correlation[:8]) > 0.99).all()
    # ...and wherever the histograms clearly tell the sign apart, KL picks the right one
    confident = []
    for j in range(1, K):
        keep, flip = kl_sign_scores(result.coarse_features[:, j], result.fine_features[:, j])
        if abs(keep - flip) > 0.25 * max(keep, flip) and abs(correlation[j - 1]) > 0.9:
            confident.append(correlation[j - 1])
    assert len(confident) >= 4 and min(confident) > 0.9


def test_kl_sign_scores_prefer_the_matching_sign():
    values = np.random.default_rng(0).exponential(size=500)  # skewed: the sign shows in the histogram
    keep, flip = kl_sign_scores(values, values)
    assert keep < 1e-12 < flip
    keep, flip = kl_sign_scores(values, -values[:300])
    assert flip < keep


# --- end to end: train on the coarse nodes, predict the new fine nodes --------------------------------


@pytest.mark.parametrize("strategy", ["joint", "sh"])
def test_a_model_trained_on_coarse_nodes_predicts_the_new_fine_nodes(strategy):
    coarse = icosphere(3)
    fine = _on_unit_sphere(subdivide(coarse, 1))
    n = coarse.n_vertices
    result = transfer_features(coarse, fine, K, strategy, correspondence=np.arange(n))

    def field(v):
        return v[:, 0] * v[:, 1] + v[:, 2]

    # first_omega_0 = 10: the default 90 memorises the training nodes but does not interpolate between them
    model = ModelConfig(EncoderConfig(k=K), MLPConfig(n_layers=3, hidden=64, first_omega_0=10.0))
    regressor = GINRRegressor(model, TrainConfig(steps=300, time_budget_s=None, snapshot_every_s=None))
    regressor.fit(result.coarse_features, field(coarse.vertices))
    truth = field(fine.vertices[n:])  # fine-only vertices, never seen in training
    predicted = regressor.predict(result.fine_features[n:])
    r2 = 1 - np.mean((predicted - truth) ** 2) / np.var(truth)
    assert r2 > 0.99


# --- errors -------------------------------------------------------------------------------------------


def test_bad_requests_are_explained(bumpy, sphere):
    coarse, fine = bumpy
    with pytest.raises(GinrError, match="not a sphere"):
        transfer_features(coarse, fine, K, "sh")
    with pytest.raises(GinrError, match="not a sphere"):  # midpoints lie inside the sphere
        transfer_features(sphere[0], subdivide(sphere[0], 1), K, "sh")
    with pytest.raises(GinrError, match="correspondence"):
        transfer_features(coarse, fine, K, "joint")
    with pytest.raises(GinrError, match="Unknown super-resolution strategy"):
        transfer_features(coarse, fine, K, "nearest")
    with pytest.raises(GinrError, match="correspondence must be"):
        transfer_features(coarse, fine, K, "joint", correspondence=np.arange(5))
    with pytest.raises(GinrError, match="outside"):
        transfer_features(coarse, fine, K, "joint", correspondence=np.arange(coarse.n_vertices) + fine.n_vertices)
    with pytest.raises(GinrError, match="same fine vertex"):
        transfer_features(coarse, fine, K, "joint", correspondence=np.zeros(coarse.n_vertices, dtype=int))
    with pytest.raises(GinrError, match="k"):
        transfer_features(coarse, fine, coarse.n_vertices, "interp")


def test_super_resolve_end_to_end_scores_the_fine_only_vertices():
    from ginr_core.data.signals import analytic_signal
    from ginr_core.geometry.domains import bumpy_sphere
    from ginr_core.geometry.mesh import subdivide
    from ginr_core.learning.metrics import r2
    from ginr_core.learning.training import TrainConfig
    from ginr_core.tasks.superres import super_resolve

    coarse = bumpy_sphere(3)
    fine = subdivide(coarse, 1)
    truth = analytic_signal(fine, "sines")
    n = coarse.n_vertices
    smooth = ModelConfig(EncoderConfig(k=16), MLPConfig(first_omega_0=3.0))  # a smooth field interpolates best with a low first-layer frequency
    _, prediction, transfer = super_resolve(coarse, fine, truth[:n], "joint", k=16, correspondence=np.arange(n),
                                            model_config=smooth,
                                            train_config=TrainConfig(steps=300, time_budget_s=None, threads=1))
    assert transfer.fine_features.shape == (fine.n_vertices, 16)
    assert r2(truth[n:], prediction[n:]) > 0.99


# --- fine targets: subdivided meshes and lat-lon grids ------------------------------------------------


def test_finer_mesh_puts_the_new_vertices_of_a_sphere_on_it_and_keeps_the_originals(bumpy):
    from ginr_core.geometry.sphere import is_sphere
    from ginr_core.tasks.superres import finer_mesh

    coarse = icosphere(2)
    fine, correspondence = finer_mesh(coarse)
    assert np.array_equal(correspondence, np.arange(coarse.n_vertices))
    assert np.array_equal(fine.vertices[: coarse.n_vertices], coarse.vertices)
    assert is_sphere(fine) and fine.n_vertices == icosphere(3).n_vertices
    assert "sh" in strategies_for(coarse, fine, has_correspondence=True)
    looped, _ = finer_mesh(coarse, method="loop")  # loop shrinks a sphere: pushed back onto it
    assert np.allclose(np.linalg.norm(looped.vertices, axis=1), 1.0)
    # any other surface is just subdivided
    assert np.array_equal(finer_mesh(bumpy[0])[0].vertices, bumpy[1].vertices)


@pytest.mark.parametrize("lat, lon", [
    (np.linspace(90, -90, 7), np.arange(12) * 30.0),  # poles included, 0..330
    (np.linspace(-75, 75, 6), np.arange(-180, 180, 45.0)),  # no poles, -180..135
])
@pytest.mark.parametrize("factor", [2, 3])
def test_finer_latlon_grid_contains_every_coarse_node(lat, lon, factor):
    from ginr_core.geometry.domains import latlon_grid
    from ginr_core.tasks.superres import finer_latlon_grid, latlon_axes

    coarse = latlon_grid(lat, lon)
    fine, correspondence = finer_latlon_grid(coarse, factor)
    fine_lat, fine_lon = latlon_axes(fine)
    assert len(fine_lat) == factor * (len(lat) - 1) + 1 and len(fine_lon) == factor * len(lon)
    assert np.allclose(fine_lat[::factor], lat) and np.allclose(fine_lon[::factor], lon)
    assert np.allclose(np.diff(fine_lat), np.diff(lat)[0] / factor)
    assert np.isclose((fine_lon[-1] - fine_lon[0]) % 360, 360 - 360 / len(fine_lon))  # evenly spaced across the wrap
    assert np.allclose(fine.vertices[correspondence], coarse.vertices)
    assert np.array_equal(fine.vertex_data["lat"][correspondence], coarse.vertex_data["lat"])


def test_the_paper_grid_doubles_and_halves():
    from ginr_core.geometry.domains import latlon_sphere
    from ginr_core.tasks.superres import coarser_latlon_grid, finer_latlon_grid

    grid = latlon_sphere(181, 360)  # the paper's 65,160 nodes
    fine, _ = finer_latlon_grid(grid)
    assert fine.n_vertices == 361 * 720
    coarse, correspondence = coarser_latlon_grid(grid)
    assert coarse.n_vertices == 91 * 180
    assert np.allclose(grid.vertices[correspondence], coarse.vertices)
    refined, back = finer_latlon_grid(coarse)  # coarsening then refining gives the grid back, node for node
    assert np.allclose(refined.vertices, grid.vertices) and np.array_equal(back, correspondence)


def test_latlon_helpers_refuse_other_meshes(bumpy):
    from ginr_core.geometry.domains import latlon_sphere
    from ginr_core.tasks.superres import (
        coarser_latlon_grid,
        finer_latlon_grid,
        latlon_axes,
    )

    assert latlon_axes(bumpy[0]) is None
    grid = latlon_sphere(5, 8)
    moved = Mesh(grid.vertices * 1.01 + 0.1, grid.faces, vertex_data=grid.vertex_data)  # stale lat / lon data
    assert latlon_axes(moved) is None
    with pytest.raises(GinrError, match="not a latitude-longitude grid"):
        finer_latlon_grid(bumpy[0])
    with pytest.raises(GinrError, match="factor"):
        finer_latlon_grid(grid, 1)
    with pytest.raises(GinrError, match="not a grid"):
        coarser_latlon_grid(grid, 4)  # 2 longitudes left


# --- scoring and background runs ----------------------------------------------------------------------

FEW_STEPS = TrainConfig(steps=20, time_budget_s=None, snapshot_every_s=None, threads=1)


def test_values_at_coarse_nodes_interpolates_without_a_correspondence(bumpy):
    from ginr_core.tasks.superres import values_at_coarse_nodes

    coarse, fine = bumpy
    values = np.random.default_rng(0).standard_normal(fine.n_vertices)
    exact = values_at_coarse_nodes(coarse, fine, values, np.arange(coarse.n_vertices))
    assert np.array_equal(exact, values[: coarse.n_vertices])
    assert np.allclose(values_at_coarse_nodes(coarse, fine, values), exact, atol=1e-9)  # nested: vertices match


def test_super_resolve_stops_when_cancelled(bumpy):
    import threading

    from ginr_core.tasks.superres import super_resolve

    coarse, fine = bumpy
    cancel = threading.Event()
    cancel.set()
    regressor, prediction, _ = super_resolve(coarse, fine, coarse.vertices[:, 0], "interp", k=K, cancel=cancel,
                                             train_config=TrainConfig(time_budget_s=60.0, threads=1))
    assert regressor.stop_reason_ == "cancelled" and prediction.shape == (fine.n_vertices,)


def superres_job(coarse, fine, target, strategies, **options):
    from ginr_core.runs.jobs import Job
    from ginr_core.tasks.superres import SuperResolutionRequest, superres_task

    return Job(superres_task, SuperResolutionRequest(coarse, fine, target, tuple(strategies), k=K, **options))


def test_super_resolution_job_runs_each_strategy_and_reports_failures(bumpy):
    coarse, fine = bumpy
    n = coarse.n_vertices
    truth = fine.vertices[:, 2]
    job = superres_job(coarse, fine, truth[:n], ["joint", "sh", "interp"], correspondence=np.arange(n),
                       fine_truth=truth, train=FEW_STEPS)
    assert job.state.status == "pending" and not job.done
    state = job.start().join(timeout=60)
    joint, sh, interp = state.result[:3]
    assert job.done and state.status == "done"
    assert sh.status == "failed" and "not a sphere" in sh.error and sh.fine_prediction is None
    for outcome in (joint, interp):  # a failure does not stop the strategies after it
        assert outcome.status == "done" and state.parts[outcome.name].values["step"] == 20 and outcome.notes
        assert outcome.fine_prediction.shape == (fine.n_vertices,) and outcome.coarse_prediction.shape == (n,)
        assert np.array_equal(outcome.shared_prediction, outcome.fine_prediction[:n])
        assert set(outcome.scores) >= {"r2", "r2_trimmed_90", "r2_trimmed_95", "r2_fit", "r2_fine_only"}
        assert outcome.scores["r2"] == pytest.approx(1 - np.mean((outcome.shared_prediction - truth[:n]) ** 2) / np.var(truth[:n]))
    # joint trains on the fine features' own rows: its fit and its shared-node score are one number
    assert joint.scores["r2_fit"] == pytest.approx(joint.scores["r2"])


def test_each_strategy_is_a_registered_superres_run(bumpy):
    from ginr_core.runs.jobs import Job
    from ginr_core.runs.registry import Registry
    from ginr_core.tasks.superres import SuperResolutionRequest, superres_task

    coarse, fine = bumpy
    registry = Registry()
    request = SuperResolutionRequest(coarse, fine, coarse.vertices[:, 2], ("joint", "interp"), k=K,
                                     correspondence=np.arange(coarse.n_vertices), train=FEW_STEPS)
    state = Job(superres_task, request, registry=registry).run()
    runs = [registry.get(o.run_id) for o in state.result if not o.classical]
    assert [o.name for o in state.result if o.classical] == ["harmonic", "biharmonic", "rbf"]  # beside every run
    assert [r.spec.options["strategy"] for r in runs] == ["joint", "interp"] and {r.status for r in runs} == {"done"}
    assert runs[0].metrics["r2"] == pytest.approx(state.result[0].scores["r2"])
    assert registry.load_inputs(runs[0].id).extra["fine_vertices"].shape == fine.vertices.shape


def test_super_resolution_job_cancel_skips_the_remaining_strategies(bumpy):
    coarse, fine = bumpy
    job = superres_job(coarse, fine, coarse.vertices[:, 0], ["kl", "interp"],
                       train=TrainConfig(time_budget_s=60.0, snapshot_every_s=None, threads=1))
    job.start()
    while not (job.done or "kl" in job.state.parts and "step" in job.state.parts["kl"].values):
        time.sleep(0.01)
    job.cancel()
    state = job.join(timeout=30)
    kl, interp = state.result[:2]
    assert state.status == "cancelled" and (kl.status, interp.status) == ("cancelled", "cancelled")
    assert kl.fine_prediction is not None and interp.fine_prediction is None and "r2_fine_only" not in kl.scores


@pytest.mark.parametrize("nested", [True, False])
def test_the_stacked_method_completes_the_coarse_values_on_the_fine_mesh(bumpy, nested):
    """STACKED is no feature transfer: the coarse values are observations on the fine mesh (at their fine nodes, or
    read barycentrically without a correspondence), completed by the interpolation's stacked network."""
    from ginr_core.tasks.superres import STACKED

    coarse, fine = bumpy
    n = coarse.n_vertices
    truth = np.sin(3 * fine.vertices[:, 0]) + fine.vertices[:, 2]
    job = superres_job(coarse, fine, truth[:n], [STACKED], correspondence=np.arange(n) if nested else None,
                       fine_truth=truth if nested else None, train=TrainConfig(steps=60, time_budget_s=None))
    state = job.start().join(timeout=120)
    stacked = state.result[0]
    assert stacked.status == "done", stacked.error
    assert stacked.fine_prediction.shape == (fine.n_vertices,) and stacked.coarse_prediction.shape == (n,)
    assert "corrects" in stacked.notes[0] and state.parts[STACKED].values["step"] > 0
    if nested:
        classical = {o.name: o for o in state.result if o.classical}
        assert stacked.scores["r2_fine_only"] > classical["harmonic"].scores["r2_fine_only"] - 0.01
