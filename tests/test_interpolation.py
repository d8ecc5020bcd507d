"""Interpolation from sparse observations: observation patterns, classical baselines, networks and scores."""

import multiprocessing
import time

import numpy as np
import pytest

from ginr_core.errors import GinrError
from ginr_core.geometry.domains import bumpy_sphere, icosphere, latlon_sphere, make_domain, square_grid
from ginr_core.geometry.operators import DerivedFields
from ginr_core.geometry.sphere import random_sh_field
from ginr_core.geometry.spectral import spectral_embedding
from ginr_core.tasks.interpolation import (
    InterpolationRequest,
    InterpolationSettings,
    SpectralBands,
    Spectrum,
    graph_interpolate,
    interpolate,
    interpolation_scores,
    random_nodes,
    rbf_interpolate,
    read_observations_csv,
    satellite_tracks,
    scattered_points,
    tikhonov_interpolate,
)
from ginr_core.geometry.laplacian import mesh_laplacian


@pytest.fixture(scope="module")
def sphere():
    return icosphere(3)


# --- observations -------------------------------------------------------------------------------------


@pytest.mark.parametrize("coverage", [0.05, 0.2])
def test_tracks_give_the_requested_coverage_and_lie_on_the_sphere(coverage):
    mesh = icosphere(5)  # nearly equal node areas: the node fraction follows the area fraction
    obs = satellite_tracks(mesh, np.zeros(mesh.n_vertices), n_tracks=4, inclination_deg=66, coverage=coverage)
    assert obs.pattern == "tracks" and len(obs.tracks) == 4
    assert abs(obs.coverage - coverage) < 0.1 * coverage
    for track in obs.tracks:
        np.testing.assert_allclose(np.linalg.norm(track, axis=1), 1.0, atol=1e-12)
        lat = np.degrees(np.arcsin(track[:, 2]))
        assert lat.max() == pytest.approx(66, abs=0.5)  # an orbit reaches its inclination's latitude, no further


def test_tracks_by_swath_width_widen_with_the_swath(sphere):
    narrow = satellite_tracks(sphere, np.zeros(sphere.n_vertices), 3, 98, swath_km=600)
    wide = satellite_tracks(sphere, np.zeros(sphere.n_vertices), 3, 98, swath_km=1800)
    assert set(narrow.nodes) < set(wide.nodes)
    with pytest.raises(GinrError, match="not a sphere"):
        satellite_tracks(square_grid(8), np.zeros(64), coverage=0.1)
    with pytest.raises(GinrError, match="either"):
        satellite_tracks(sphere, np.zeros(sphere.n_vertices))


def test_random_nodes_and_unobserved(sphere):
    obs = random_nodes(sphere, np.arange(sphere.n_vertices, dtype=float), 0.25, seed=3)
    assert len(obs.values) == round(0.25 * sphere.n_vertices)
    np.testing.assert_array_equal(obs.values, obs.nodes)  # the truth read at its own nodes
    assert len(obs.unobserved) + len(obs.nodes) == sphere.n_vertices
    with pytest.raises(GinrError, match="strictly between"):
        random_nodes(sphere, np.zeros(sphere.n_vertices), 1.0)


def test_a_point_on_a_vertex_gets_that_vertex_features(sphere):
    features = spectral_embedding(sphere, 8, cache=False).features
    obs = scattered_points(sphere, sphere.vertices[[5, 17, 300]], [1.0, 2.0, 3.0])
    np.testing.assert_allclose(obs.operator @ features, features[[5, 17, 300]], atol=1e-9)


def test_a_point_on_a_face_mixes_its_vertices(sphere):
    face = sphere.faces[10]
    weights = np.array([0.2, 0.3, 0.5])
    obs = scattered_points(sphere, [weights @ sphere.vertices[face]], [1.0])
    row = obs.operator.toarray()[0]
    np.testing.assert_allclose(row[face], weights, atol=1e-9)
    assert row.sum() == pytest.approx(1.0)


def test_observations_from_csv(sphere):
    lat_lon = read_observations_csv(b"lat,lon,value\n90,0,1.5\n0,0,2\n", sphere, "obs.csv")
    np.testing.assert_allclose(lat_lon.points[0], [0, 0, 1], atol=1e-12)
    by_vertex = read_observations_csv(b"vertex,value\n3,1\n7,2\n", sphere, "obs.csv")
    np.testing.assert_array_equal(by_vertex.nodes, [3, 7])
    xyz = read_observations_csv(b"x,y,z,value\n1,0,0,4\n", square_grid(8), "obs.csv")
    assert xyz.values[0] == 4
    with pytest.raises(GinrError, match="lat, lon, value"):
        read_observations_csv(b"a,b\n1,2\n", sphere, "obs.csv")
    with pytest.raises(GinrError, match="from 0 to"):
        read_observations_csv(b"vertex,value\n99999,1\n", sphere, "obs.csv")
    with pytest.raises(GinrError, match="not a sphere"):
        read_observations_csv(b"lat,lon,value\n0,0,1\n", square_grid(8), "obs.csv")


# --- classical methods reproduce what they can represent ----------------------------------------------


def test_graph_interpolation_reproduces_a_constant(sphere):
    L = mesh_laplacian(sphere)[0]
    truth = np.full(sphere.n_vertices, 2.5)
    on_nodes = random_nodes(sphere, truth, 0.2)
    off_nodes = scattered_points(sphere, sphere.vertices[:40] * 1.001, np.full(40, 2.5))  # slightly off the surface
    for obs in (on_nodes, off_nodes):
        for R in (L, L @ L):
            np.testing.assert_allclose(graph_interpolate(R, obs), 2.5, atol=1e-6)
    u, note = tikhonov_interpolate(L, on_nodes)
    np.testing.assert_allclose(u, 2.5, atol=1e-9)
    assert "validation" in note


def test_harmonic_is_exact_at_observed_nodes_and_between_their_values(sphere):
    truth = sphere.vertices[:, 2]
    obs = random_nodes(sphere, truth, 0.3)
    u = graph_interpolate(mesh_laplacian(sphere)[0], obs)
    np.testing.assert_allclose(u[obs.nodes], truth[obs.nodes])
    assert u.min() >= truth[obs.nodes].min() - 1e-12 and u.max() <= truth[obs.nodes].max() + 1e-12  # maximum principle


def test_rbf_reproduces_a_linear_function():
    mesh = bumpy_sphere(3)
    truth = mesh.vertices @ np.array([1.0, -2.0, 0.5]) + 3.0
    u, _ = rbf_interpolate(mesh, random_nodes(mesh, truth, 0.2))
    np.testing.assert_allclose(u, truth, atol=1e-6)


# --- scores -------------------------------------------------------------------------------------------


def test_scores_on_a_hand_made_case():
    truth = np.array([3.0, 4.0, 0.0, 0.0, 5.0])
    prediction = np.array([3.0, 4.0, 0.0, 1.0, 5.0])
    scores = interpolation_scores(truth, prediction, [2, 3, 4])  # errors 0, 1, 0 on truths 0, 0, 5
    assert scores["rmse"] == pytest.approx(np.sqrt(1 / 3))
    assert scores["score"] == pytest.approx(1 - np.sqrt(1 / 3) / np.sqrt(25 / 3))
    assert scores["r2"] == pytest.approx(1 - 1 / (2 * (5 / 3) ** 2 + (10 / 3) ** 2))


def test_resolved_scale_on_hand_made_spectra():
    wavelengths = np.array([1000.0, 500.0, 250.0, 125.0])
    truth = np.ones(4)
    crossing = Spectrum(wavelengths, truth, np.array([0.0, 0.25, 0.75, 1.0]), "km")
    # the score falls from 0.75 (500 km) to 0.25 (250 km): 0.5 is crossed halfway on a log scale
    assert crossing.resolved == pytest.approx(np.sqrt(500 * 250))
    assert not crossing.fully_resolved
    perfect = Spectrum(wavelengths, truth, np.zeros(4), "km")
    assert perfect.resolved == 125.0 and perfect.fully_resolved
    assert Spectrum(wavelengths, truth, np.ones(4), "km").resolved is None
    silent = Spectrum(wavelengths, np.array([1.0, 1.0, 0.0, 1.0]), np.zeros(4), "km")
    assert silent.fully_resolved and np.isnan(silent.score[2])  # neither truth nor error there: not scored
    spurious = Spectrum(wavelengths, np.array([1.0, 1.0, 0.0, 1.0]), np.array([0.0, 0.0, 5.0, 0.0]), "km")
    assert not spurious.fully_resolved and 250 < spurious.resolved < 500  # an error where the truth has no energy


def test_an_error_where_the_truth_is_silent_is_not_resolved():
    """Interpolation errors at scales the smooth truth lacks (harmonic interpolation's kinks) are no longer
    hidden: the worse method gets the coarser resolved scale."""
    mesh = bumpy_sphere(3)
    bands = SpectralBands(mesh, n_eigenvectors=40)
    basis = bands.basis[:, 1:]
    truth = basis[:, :3] @ np.array([3.0, 2.0, 1.0])  # the longest band only
    kinked = truth + 0.3 * basis[:, -3:].sum(axis=1)  # its error at the shortest scales, where the truth has none
    slight = truth + 0.01 * basis[:, -3:].sum(axis=1)
    spectra = bands.spectra(truth, {"kinked": kinked, "slight": slight})
    assert not spectra["kinked"].fully_resolved
    assert spectra["kinked"].resolved > spectra["slight"].resolved


def test_spectral_bands_on_a_sphere_find_the_degree_of_a_harmonic():
    mesh = latlon_sphere(61, 120)
    z = mesh.vertices[:, 2]  # degree 1
    x2 = mesh.vertices[:, 0] * mesh.vertices[:, 1]  # degree 2
    energy = SpectralBands(mesh, degree=6).energies(np.column_stack([z, x2]))
    assert energy[:, 0].argmax() == 0 and energy[:, 1].argmax() == 1
    assert energy[0, 0] > 100 * energy[1:, 0].sum()


def test_spectral_bands_on_a_mesh_order_bands_from_long_to_short():
    mesh = bumpy_sphere(3)
    bands = SpectralBands(mesh, n_eigenvectors=40)
    assert bands.unit == "mesh units" and np.all(np.diff(bands.wavelengths) < 0)
    smooth = bands.basis[:, 1] * 3.0  # the first non-constant eigenfunction: all energy in the longest band
    assert bands.energies(smooth)[:, 0].argmax() == 0


# --- derived fields -----------------------------------------------------------------------------------


def test_gradient_of_a_linear_function_is_exact_on_a_plane():
    mesh = square_grid(16)
    x, y, _ = mesh.vertices.T
    derived = DerivedFields(mesh)
    np.testing.assert_allclose(derived.gradient_vectors(2 * x - 3 * y), np.tile([2.0, -3.0, 0.0], (mesh.n_vertices, 1)), atol=1e-10)
    np.testing.assert_allclose(derived.gradient_magnitude(2 * x - 3 * y), np.sqrt(13), atol=1e-10)


def test_laplacian_of_a_degree_one_harmonic_on_the_sphere():
    mesh = icosphere(4)
    z = mesh.vertices[:, 2]
    lap = DerivedFields(mesh).laplacian_of(z)
    away = np.abs(z) > 0.3
    assert np.median(lap[away] / z[away]) == pytest.approx(-2.0, rel=0.01)  # Delta Y_1 = -l (l + 1) Y_1


# --- the comparison -----------------------------------------------------------------------------------


def test_ginr_on_a_quarter_of_an_icosphere_beats_zero_on_the_rest(sphere):
    truth = random_sh_field(sphere, max_degree=4, seed=1)
    obs = random_nodes(sphere, truth, 0.25, seed=0)
    result = interpolate(sphere, obs, ["ginr"], truth=truth, settings=InterpolationSettings(k=25, steps=300), spectra=False)
    outcome = result.outcome("ginr")
    assert outcome.status == "done", outcome.error
    assert outcome.scores["r2"] > 0.0


def test_every_method_runs_and_the_stacked_ginr_is_no_worse_than_its_interpolant(sphere):
    truth = random_sh_field(sphere, max_degree=6, seed=2)
    obs = random_nodes(sphere, truth, 0.3, seed=1)
    settings = InterpolationSettings(k=16, steps=60)
    result = interpolate(sphere, obs, ["harmonic", "tikhonov", "biharmonic", "rbf", "kriging", "inr", "ginr_stacked"],
                         truth=truth, settings=settings)
    outcomes = {o.name: o for o in result.outcomes}
    assert all(o.status == "done" for o in outcomes.values()), {n: o.error for n, o in outcomes.items()}
    assert all(o.prediction.shape == (sphere.n_vertices,) and o.seconds >= 0 for o in outcomes.values())
    assert outcomes["biharmonic"].scores["r2"] > 0.9 and outcomes["kriging"].scores["r2"] > 0.9
    # alpha is fitted on held-out observations, so the correction cannot make it much worse than the interpolant
    assert outcomes["ginr_stacked"].scores["r2"] > outcomes["biharmonic"].scores["r2"] - 0.01
    assert set(result.spectra) == set(outcomes) and all(s.unit == "km" for s in result.spectra.values())


def test_the_job_runs_in_the_background_and_can_be_cancelled(sphere):
    from ginr_core.runs.jobs import Job
    from ginr_core.tasks.interpolation import interpolation_task

    truth = random_sh_field(sphere, max_degree=4)
    request = InterpolationRequest(sphere, random_nodes(sphere, truth, 0.25), ("ginr", "biharmonic"), truth,
                                   InterpolationSettings(k=16, steps=100_000))
    job = Job(interpolation_task, request).start()
    while not job.done and ("ginr" not in job.state.parts or "step" not in job.state.parts["ginr"].values):  # training begun
        job.join(timeout=0.05)
    job.cancel()
    state = job.join(timeout=60)
    assert state.status == "cancelled"
    assert [o.status for o in state.result.outcomes] == ["cancelled", "cancelled"]


def test_work_that_would_score_no_node_is_refused_up_front(sphere):
    from ginr_core.runs.actions import launch
    from ginr_core.runs.fitting import RunRequest
    from ginr_core.runs.spec import RunInputs, RunSpec
    from ginr_core.tasks.compare import ComparisonRequest

    truth = random_sh_field(sphere, max_degree=4)
    everywhere = scattered_points(sphere, sphere.vertices[sphere.faces].mean(axis=1), np.ones(sphere.n_faces))
    with pytest.raises(GinrError, match=f"touch all {sphere.n_vertices:,} nodes .* no node is left to score"):
        InterpolationRequest(sphere, everywhere, ("harmonic",), truth)
    InterpolationRequest(sphere, everywhere, ("harmonic",))  # without a truth nothing is scored: it may run
    inputs = RunInputs(sphere, truth)
    tiny = 0.1 / sphere.n_vertices
    with pytest.raises(GinrError, match="leaves none to score"):
        ComparisonRequest(inputs, holdout=tiny)
    with pytest.raises(GinrError, match="leaves none to score"):
        launch(RunRequest.from_spec(RunSpec("heldout", options={"fraction": tiny}), inputs), None, start=False)


def test_a_cancel_stops_kriging_within_seconds():
    """Kriging's pseudo-inverse is one LAPACK call of a minute on 3,000 observations: the method runs in a child
    process that a cancel terminates."""
    from ginr_core.runs.jobs import Job
    from ginr_core.tasks.interpolation import KRIGING_POINTS, interpolation_task

    mesh = make_domain("icosphere", level=5)
    truth = random_sh_field(mesh, max_degree=6)
    observations = random_nodes(mesh, truth, 2 * KRIGING_POINTS / mesh.n_vertices)
    job = Job(interpolation_task, InterpolationRequest(mesh, observations, ("kriging",), truth, spectra=False)).start()
    while not job.done and (job.state.result is None or job.state.result.outcomes[0].status != "running"):
        job.join(timeout=0.05)
    time.sleep(1.0)  # into the variogram fit and the kriging solves
    cancelled_at = time.perf_counter()
    job.cancel()
    state = job.join(timeout=30)
    assert time.perf_counter() - cancelled_at < 3.0
    assert state.status == "cancelled" and state.result.outcomes[0].status == "cancelled"
    deadline = time.perf_counter() + 5
    while any(p.name == "ginr-kriging" for p in multiprocessing.active_children()):  # the solve itself stops too
        assert time.perf_counter() < deadline, "the kriging process goes on"
        time.sleep(0.05)


def test_a_job_with_a_registry_records_every_method_as_one_run(sphere):
    """The run layer keeps an interpolation: every method's prediction, status, seconds and scores on the unobserved
    nodes, the best R² as the run's; single-run actions send the user to `ginr interpolate`."""
    from ginr_core.runs.actions import export_run, predict_run, rerun_request, submit
    from ginr_core.runs.registry import Registry
    from ginr_core.runs.spec import Source
    from ginr_core.tasks.interpolation import interpolation_task

    truth = random_sh_field(sphere, max_degree=4)
    obs = random_nodes(sphere, truth, 0.25)
    request = InterpolationRequest(sphere, obs, ("harmonic", "biharmonic", "ginr"), truth, InterpolationSettings(k=16, steps=50),
                                   domain=Source("builtin", "lat-lon sphere"), signal=Source("generated", "sh field"))
    registry = Registry()
    state = submit(interpolation_task, request, registry, label="interpolation", start=False).run()
    assert state.status == "done" and state.run_id is not None, state.error
    run = registry.get(state.run_id)
    assert run.status == "done" and run.spec.task == "interpolation" and run.spec.options["n_observations"] == len(obs.values)
    methods = run.metrics["methods"]
    assert list(methods) == ["harmonic", "biharmonic", "ginr"] and all(m["status"] == "done" for m in methods.values())
    scores = {o.name: o.scores["r2"] for o in state.result.outcomes}
    assert {name: m["r2"] for name, m in methods.items()} == pytest.approx(scores)
    assert run.metrics["best"] == max(scores, key=scores.get) and run.metrics["r2"] == pytest.approx(max(scores.values()))
    np.testing.assert_allclose(registry.load_predictions(state.run_id),
                               np.stack([o.prediction for o in state.result.outcomes]), rtol=1e-6)
    inputs = registry.load_inputs(state.run_id)
    np.testing.assert_array_equal(inputs.extra["unobserved"], obs.unobserved)
    np.testing.assert_allclose(inputs.extra["observation_values"], obs.values)
    for action in (lambda: rerun_request(registry, state.run_id), lambda: predict_run(registry, state.run_id),
                   lambda: export_run(registry, state.run_id, "checkpoint")):
        with pytest.raises(GinrError, match="`ginr interpolate`"):
            action()


def test_bad_requests_are_clear_errors(sphere):
    truth = np.zeros(sphere.n_vertices)
    obs = random_nodes(sphere, truth, 0.5)
    with pytest.raises(GinrError, match="Unknown interpolation method"):
        InterpolationRequest(sphere, obs, ("magic",))
    with pytest.raises(GinrError, match="another mesh"):
        InterpolationRequest(icosphere(2), obs, ("harmonic",))
    with pytest.raises(GinrError, match="one scalar value per node"):
        random_nodes(sphere, np.zeros(3), 0.5)


def test_cli_interpolate_scores_and_writes_every_method(tmp_path, capsys):
    from ginr_core.cli import main

    prefix = tmp_path / "out"
    code = main(["interpolate", "--domain", "icosphere", "--signal", "sh-field", "--fraction", "0.3",
                 "--methods", "harmonic,biharmonic", "--out-prefix", str(prefix)])
    assert code == 0
    out = capsys.readouterr().out
    assert "biharmonic" in out and "best:" in out
    assert (tmp_path / "out.biharmonic.npy").is_file() and (tmp_path / "out.json").is_file()
    assert main(["interpolate", "--domain", "torus", "--signal", "sines", "--pattern", "tracks"]) == 2  # not a sphere


def test_rbf_from_points_on_one_great_circle(sphere):
    """A satellite track's points are coplanar with the sphere's centre: the linear part is undetermined, the RBF
    falls back to a constant one rather than failing."""
    t = np.linspace(0, 2 * np.pi, 300, endpoint=False)
    points = np.stack([np.cos(t), np.sin(t), np.zeros_like(t)], axis=1)
    u, note = rbf_interpolate(sphere, scattered_points(sphere, points, np.cos(t)))
    assert "coplanar" in note and np.isfinite(u).all()
    equator = np.abs(sphere.vertices[:, 2]) < 1e-9
    np.testing.assert_allclose(u[equator], sphere.vertices[equator, 0], atol=0.05)


def test_stacking_folds_leave_whole_stretches_of_a_track_out():
    """Along tracks, a fold's observations lie far from the other folds' (spatial blocks, as the gaps between
    tracks); random nodes get random folds, whose members sit among the others as the unobserved nodes do."""
    from scipy.spatial import cKDTree

    from ginr_core.tasks.interpolation import stacking_folds

    mesh = icosphere(5)
    truth = np.zeros(mesh.n_vertices)

    def mean_gap(obs, folds):  # distance from each observation to the nearest one of another fold
        return np.mean([cKDTree(obs.points[folds != f]).query(obs.points[folds == f])[0].mean() for f in np.unique(folds)])

    tracks = satellite_tracks(mesh, truth, n_tracks=4, coverage=0.1)
    random = random_nodes(mesh, truth, 0.1)
    track_folds = stacking_folds(tracks, mesh.vertices[tracks.unobserved], 5)
    random_folds = stacking_folds(random, mesh.vertices[random.unobserved], 5)
    assert set(np.unique(track_folds)) == set(range(5)) and set(np.unique(random_folds)) == set(range(5))
    shuffled = np.random.default_rng(0).permutation(track_folds)
    assert mean_gap(tracks, track_folds) > 3 * mean_gap(tracks, shuffled)
    assert mean_gap(random, random_folds) < 2 * mean_gap(random, np.random.default_rng(0).permutation(random_folds))


def test_the_stacked_network_beats_its_interpolants_on_a_spotty_texture():
    """Gray-Scott-like spots: every interpolant flattens their peaks; the stacked network, trained on left-out
    observations, learns to restore them (the bench's bunny setups, here small)."""
    sphere = icosphere(4)
    distance = np.arccos(np.clip(sphere.vertices @ icosphere(1).vertices.T, -1, 1))
    truth = np.exp(-(distance / 0.3) ** 2).sum(axis=1)  # 42 spots
    obs = random_nodes(sphere, truth, 0.25, seed=2)
    result = interpolate(sphere, obs, ["harmonic", "biharmonic", "rbf", "ginr_stacked"], truth=truth,
                         settings=InterpolationSettings(k=16, steps=400), spectra=False)
    scores = {o.name: o.scores["r2"] for o in result.outcomes}
    best_interpolant = max(scores["harmonic"], scores["biharmonic"], scores["rbf"])
    assert scores["ginr_stacked"] > best_interpolant + 0.01, scores  # 0.975 against 0.946


def test_kriging_sums_the_field_as_gstools_does():
    """Our ordinary kriging only reorders GSTools' sum (conditions . K^-1 . k): the same field, to rounding."""
    import gstools as gs

    from ginr_core.tasks.interpolation import ordinary_kriging

    rng = np.random.default_rng(0)
    points, values, targets = rng.normal(size=(3, 60)), rng.normal(size=60), rng.normal(size=(3, 25))
    model = gs.Stable(dim=3, len_scale=1.5, nugget=0.01)
    ours = ordinary_kriging()(model, cond_pos=points, cond_val=values)(targets, return_var=False, store=False)
    theirs = gs.krige.Ordinary(model, cond_pos=points, cond_val=values)(targets, return_var=False, store=False)
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)
