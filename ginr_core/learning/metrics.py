"""Fit-quality metrics for a predicted signal against its target, in the target's original units.

All functions take arrays of shape (n,) or (n, p). For p > 1 outputs, R^2 is the uniform average of
the per-output R^2 (sklearn.metrics.r2_score's default, "uniform_average"); the others pool all values.

PSNR uses the data range of the target (max - min over all values) as the peak, so it does not depend
on the signal's units or offset: PSNR = 10 log10(range^2 / MSE).
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import GinrError


def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    y_true = y_true.reshape(len(y_true), -1)
    y_pred = y_pred.reshape(len(y_pred), -1)
    if y_true.shape != y_pred.shape:
        raise GinrError(f"Prediction shape {y_pred.shape} does not match target shape {y_true.shape}.")
    if len(y_true) == 0:
        raise GinrError("Cannot score an empty signal.")
    return y_true, y_pred


def squared_error(y_true, y_pred) -> np.ndarray:
    """Per-node squared error, summed over outputs: shape (n,). Useful as an error map on the mesh."""
    y_true, y_pred = _pair(y_true, y_pred)
    return ((y_true - y_pred) ** 2).sum(axis=1)


ERROR_KINDS = ("absolute", "squared")  # how an error map shows a prediction's error at each node


def error_map(y_true, y_pred, kind: str = "squared") -> np.ndarray:
    """Per-node |error| or squared error, averaged over the outputs of a multi-channel signal: shape (n,)."""
    if kind not in ERROR_KINDS:
        raise GinrError(f"Unknown error kind '{kind}'; choose {' or '.join(ERROR_KINDS)}.")
    y_true, y_pred = _pair(y_true, y_pred)
    gap = np.abs(y_pred - y_true)
    return (gap if kind == "absolute" else gap**2).mean(axis=1)


def mse(y_true, y_pred) -> float:
    y_true, y_pred = _pair(y_true, y_pred)
    return float(np.mean((y_true - y_pred) ** 2))


def r2(y_true, y_pred) -> float:
    """Coefficient of determination, identical to sklearn.metrics.r2_score.

    Per output: 1 - SS_res / SS_tot; a constant output scores 1.0 if predicted exactly, else 0.0
    (sklearn's convention); outputs are then averaged uniformly.
    """
    y_true, y_pred = _pair(y_true, y_pred)
    ss_res = ((y_true - y_pred) ** 2).sum(axis=0)
    ss_tot = ((y_true - y_true.mean(axis=0)) ** 2).sum(axis=0)
    scores = np.ones(y_true.shape[1])
    nonconstant = ss_tot != 0
    scores[nonconstant] = 1.0 - ss_res[nonconstant] / ss_tot[nonconstant]
    scores[~nonconstant & (ss_res != 0)] = 0.0
    return float(scores.mean())


def psnr(y_true, y_pred) -> float:
    """Peak signal-to-noise ratio in dB with the target's data range as the peak (inf if exact)."""
    y_true, y_pred = _pair(y_true, y_pred)
    err = mse(y_true, y_pred)
    peak = float(y_true.max() - y_true.min())
    if err == 0:
        return math.inf
    if peak == 0:
        return -math.inf
    return 10.0 * math.log10(peak**2 / err)


def max_abs_error(y_true, y_pred) -> float:
    y_true, y_pred = _pair(y_true, y_pred)
    return float(np.abs(y_true - y_pred).max())


def trimmed_r2(y_true, y_pred, percentile: float = 90.0) -> float:
    """R^2 over the nodes whose squared error is below the given percentile.

    The reference code reports this to show that a few outlier nodes (e.g. mesh defects) dominate the
    residual; the plain R^2 remains the headline number.
    """
    y_true, y_pred = _pair(y_true, y_pred)
    err = squared_error(y_true, y_pred)
    keep = err < np.percentile(err, percentile)
    if keep.sum() < 2:  # errors all equal (e.g. a perfect fit): nothing is an outlier
        keep[:] = True
    return r2(y_true[keep], y_pred[keep])


def evaluate(y_true, y_pred) -> dict[str, float]:
    """All scalar metrics of one run, JSON-ready (the registry stores this dict)."""
    return {
        "mse": mse(y_true, y_pred),
        "r2": r2(y_true, y_pred),
        "psnr": psnr(y_true, y_pred),
        "max_abs_error": max_abs_error(y_true, y_pred),
        "r2_trimmed_90": trimmed_r2(y_true, y_pred, 90.0),
        "r2_trimmed_95": trimmed_r2(y_true, y_pred, 95.0),
    }


R2_DECIMALS = 5  # R² is shown to, and compared at, this many decimals: scores a reader sees as equal are a tie


def r2_text(value: float) -> str:
    """An R² as it is shown wherever scores are compared."""
    return f"{value:.{R2_DECIMALS}f}"


def _shown(value: float) -> float:
    return float(r2_text(value))


def reaches_r2(value: float, target: float) -> bool:
    """Whether R² `value` is as good as `target` as shown (equal to the shown precision counts)."""
    return _shown(value) >= _shown(target)


def best_r2(scores: dict) -> list:
    """The keys of `scores` (key -> R²) whose R² is the best as shown: one key, or every key of a tie."""
    top = max(_shown(value) for value in scores.values())
    return [key for key, value in scores.items() if _shown(value) == top]


def winner(network_r2: float, classical_r2: float) -> str:
    """"network", "classical" or "tie": which scores the better R² as shown (a stacked network that found nothing
    to correct returns its classical interpolant: a tie)."""
    best = best_r2({"network": network_r2, "classical": classical_r2})
    return best[0] if len(best) == 1 else "tie"


def first_channel(values: np.ndarray) -> np.ndarray:
    """A multi-channel signal (n, c) is drawn and exported by its first channel; a 1-D signal as it is."""
    values = np.asarray(values)
    return values if values.ndim == 1 else values[:, 0]


def per_channel(y_true, y_pred) -> list[dict[str, float]]:
    """The metrics of `evaluate` for each channel of a multi-channel signal (n, c) on its own: one channel can be
    learned well while another is not, which the pooled numbers hide. A 1-D signal gives one entry."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.ndim == 1:
        return [evaluate(y_true, y_pred)]
    return [evaluate(y_true[:, c], y_pred[:, c]) for c in range(y_true.shape[1])]
