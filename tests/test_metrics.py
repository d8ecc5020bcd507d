import math

import numpy as np
import pytest

from ginr_core.errors import GinrError
from ginr_core.learning import metrics


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    y = rng.normal(size=200) * 3 + 1
    return y, y + rng.normal(size=200) * 0.3


def test_mse_and_r2_hand_formulas(pair):
    y, p = pair
    mse = sum((a - b) ** 2 for a, b in zip(y, p)) / len(y)
    mean = sum(y) / len(y)
    r2 = 1 - sum((a - b) ** 2 for a, b in zip(y, p)) / sum((a - mean) ** 2 for a in y)
    assert metrics.mse(y, p) == pytest.approx(mse, rel=1e-12)
    assert metrics.r2(y, p) == pytest.approx(r2, rel=1e-12)


def test_r2_matches_sklearn_conventions():
    y = np.array([[1.0, 5.0], [2.0, 5.0], [3.0, 5.0]])
    # multi-output: uniform average; a constant output predicted exactly scores 1, otherwise 0
    p = np.array([[1.0, 5.0], [2.0, 5.0], [4.0, 5.0]])
    assert metrics.r2(y, p) == pytest.approx(((1 - 1 / 2) + 1.0) / 2)
    p[0, 1] = 6.0
    assert metrics.r2(y, p) == pytest.approx((1 - 1 / 2 + 0.0) / 2)
    assert metrics.r2([1, 2, 3], [3, 2, 1]) == pytest.approx(-3.0)  # can be negative
    assert metrics.r2(y[:, 0], y[:, 0]) == 1.0


def test_psnr_uses_data_range(pair):
    y, p = pair
    expected = 10 * math.log10((y.max() - y.min()) ** 2 / metrics.mse(y, p))
    assert metrics.psnr(y, p) == pytest.approx(expected)
    assert metrics.psnr(y + 100, p + 100) == pytest.approx(expected)  # offset-free
    assert metrics.psnr(y, y) == math.inf


def test_max_abs_and_per_node_error():
    y = np.array([[0.0, 0.0], [1.0, 1.0]])
    p = np.array([[0.0, 2.0], [1.0, 0.5]])
    assert metrics.max_abs_error(y, p) == 2.0
    np.testing.assert_allclose(metrics.squared_error(y, p), [4.0, 0.25])


def test_trimmed_r2_drops_outliers(pair):
    y, p = pair
    p = p.copy()
    p[:5] += 50  # five wild nodes
    assert metrics.r2(y, p) < 0
    err = (y - p) ** 2
    keep = err < np.percentile(err, 90)
    assert metrics.trimmed_r2(y, p, 90) == pytest.approx(metrics.r2(y[keep], p[keep]))
    assert metrics.trimmed_r2(y, p, 95) > 0.9


def test_evaluate_and_errors(pair):
    y, p = pair
    result = metrics.evaluate(y, p)
    assert set(result) == {"mse", "r2", "psnr", "max_abs_error", "r2_trimmed_90", "r2_trimmed_95"}
    assert all(isinstance(v, float) for v in result.values())
    assert metrics.evaluate(y, y)["r2_trimmed_90"] == 1.0
    with pytest.raises(GinrError):
        metrics.mse(y, p[:-1])


def test_r2_scores_compare_as_they_are_shown():
    from pages.shared.widgets import best_r2_text

    tied = {"Local-Global": 0.9999996, "Per-part": 1.0, "MLP": 0.999998}  # all read 1.00000
    assert metrics.best_r2(tied) == ["Local-Global", "Per-part", "MLP"]
    assert best_r2_text(tied) == "best R²: a tie between **Local-Global**, **Per-part** and **MLP**"
    assert best_r2_text({"A": 0.99991, "B": 0.99990}) == "best R²: **A**"
    assert metrics.reaches_r2(0.9999951, 0.9999999) and not metrics.reaches_r2(0.99998, 0.99999)
    assert metrics.winner(0.8333334, 0.8333331) == "tie"
    assert metrics.winner(0.83334, 0.83333) == "network" and metrics.winner(0.83332, 0.83333) == "classical"
