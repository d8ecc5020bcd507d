"""MeshFeat: the multiresolution hierarchy's interpolation matrices and a short fit of the feature-table model."""

import numpy as np
import pytest

from ginr_core.errors import GinrError
from ginr_core.geometry.domains import make_domain
from ginr_core.geometry.hierarchy import decimate, mesh_hierarchy
from ginr_core.learning.meshfeat import MeshFeatConfig, MeshFeatRegressor
from ginr_core.learning.metrics import evaluate


@pytest.fixture(scope="module")
def square():
    return make_domain("square_grid", n=32)


@pytest.fixture(scope="module")
def torus():
    mesh = make_domain("torus", n_major=48, n_minor=24)
    return mesh, mesh_hierarchy(mesh)


def linear(points):
    return 1.0 + 2.0 * points[:, 0] - 3.0 * points[:, 1] + 0.5 * points[:, 2]


def test_interpolation_rows_sum_to_one_and_reproduce_a_linear_function(square):
    """On a flat sheet every fine vertex lies on each coarse level, so a linear function read from a level's
    vertices is the function itself (decimated levels have long thin triangles: an inexact closest-point search
    gets this wrong)."""
    hierarchy = mesh_hierarchy(square)
    assert hierarchy.n_vertices == square.n_vertices and len(hierarchy.interpolation) == 3
    assert list(hierarchy.level_sizes) == sorted(hierarchy.level_sizes, reverse=True)
    for reduction, matrix, size in zip((4, 16, 64), hierarchy.interpolation, hierarchy.level_sizes):
        coarse = decimate(square, reduction)
        assert matrix.shape == (square.n_vertices, size) == (square.n_vertices, coarse.n_vertices)
        assert np.allclose(np.asarray(matrix.sum(axis=1)).ravel(), 1.0) and matrix.data.min() >= 0
        assert np.allclose(matrix @ linear(coarse.vertices), linear(square.vertices), atol=1e-9)


def test_padded_levels_are_the_matrices(torus):
    _, hierarchy = torus
    values = np.random.default_rng(0).normal(size=hierarchy.level_sizes[1])
    indices, weights = hierarchy.padded(1)
    assert np.allclose((values[indices] * weights).sum(axis=1), hierarchy.interpolation[1] @ values)


def test_a_reduction_that_leaves_no_surface_is_refused(square):
    with pytest.raises(GinrError, match="too few"):
        decimate(square, 1000)


def signal(mesh):
    x, y, z = mesh.vertices.T
    return np.sin(3 * x) * np.cos(2 * y) + 0.3 * z + 0.2 * np.sin(9 * np.arctan2(y, x))


def test_a_short_fit_reaches_a_high_r2(torus):
    mesh, hierarchy = torus
    target = signal(mesh)
    reg = MeshFeatRegressor(hierarchy, MeshFeatConfig(batch_size=None), device="cpu").fit(target, steps=150)
    assert reg.steps_ == 150
    assert evaluate(target, reg.predict())["r2"] > 0.9999


def test_the_smoothness_penalty_carries_the_signal_to_unseen_nodes(torus):
    """Unseen nodes' finest rows get no data: without the penalty they stay at zero and only the coarse levels
    speak there; with it the prediction there follows its neighbours'."""
    mesh, hierarchy = torus
    target = signal(mesh)
    seen = np.random.default_rng(1).random(len(target)) > 0.2
    scores = {}
    for smoothness in (0.0, 1.0):
        reg = MeshFeatRegressor(hierarchy, MeshFeatConfig(batch_size=None, smoothness=smoothness), device="cpu")
        reg.fit(target[seen], np.flatnonzero(seen), steps=200)
        scores[smoothness] = evaluate(target[~seen], reg.predict()[~seen])["r2"]
        unseen_rows = reg.model_.tables[0].detach().numpy()[~seen]
        assert (np.abs(unseen_rows).max() > 0) == (smoothness > 0)
    assert scores[1.0] > scores[0.0] + 0.05 and scores[1.0] > 0.95


def test_bad_calls_are_refused(torus):
    _, hierarchy = torus
    with pytest.raises(GinrError):
        MeshFeatRegressor(hierarchy).fit(np.zeros(5), steps=1)
    with pytest.raises(GinrError):
        MeshFeatRegressor(hierarchy).predict()
    with pytest.raises(GinrError):
        MeshFeatConfig(features=0)
