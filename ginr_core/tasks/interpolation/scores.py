"""Scores of an interpolation on the unobserved nodes: RMSE, the normalised score, R^2, the error spectrum by
band and the resolved scale, and the derived fields (gradient, Laplacian) of each prediction."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import GinrError
from ...geometry.mesh import Mesh
from ...geometry.operators import DerivedFields
from ...geometry.spectral import spectral_embedding
from ...geometry.sphere import real_sph_harm, sphere_center
from ...learning.metrics import r2
from .observations import EARTH_RADIUS_KM, check_values, node_areas


def interpolation_scores(truth, prediction, nodes) -> dict[str, float]:
    """RMSE, the normalised score 1 - RMSE / RMS(truth) (the SSH data challenges') and R^2 on `nodes`."""
    truth, prediction = np.asarray(truth, dtype=np.float64)[nodes], np.asarray(prediction, dtype=np.float64)[nodes]
    if len(truth) == 0:
        raise GinrError("No node is left to score: every node is observed.")
    rmse = float(np.sqrt(np.mean((truth - prediction) ** 2)))
    rms = float(np.sqrt(np.mean(truth**2)))
    return {"rmse": rmse, "score": 1.0 - rmse / rms if rms > 0 else float("nan"), "r2": r2(truth, prediction)}


@dataclass(frozen=True, eq=False)
class Spectrum:
    """Energy per band of the truth and of an error field, longest wavelength first.

    `score` = 1 - error energy / truth energy per band (the SSH data challenges' spectral score, 1 - PSD(error) /
    PSD(truth)); `resolved`, their effective resolution: the wavelength where the score first falls below 0.5,
    going from long to short (interpolated between bands on a log scale), None when even the longest band fails;
    `fully_resolved` says the score never fell below 0.5 within the analysed bands (the scale is then a bound).
    """

    wavelengths: np.ndarray
    truth_energy: np.ndarray
    error_energy: np.ndarray
    unit: str

    @property
    def score(self) -> np.ndarray:
        """Per band; NaN only where neither the truth nor the error has (almost) any energy. An error where the
        truth has next to none scores far below 0.5: the method put energy at a scale the truth has not."""
        floor = EMPTY_BAND * self.truth_energy.sum()
        score = 1.0 - self.error_energy / np.maximum(self.truth_energy, floor)
        return np.where((self.truth_energy > floor) | (self.error_energy > floor), score, np.nan)

    def _bands(self) -> tuple[np.ndarray, np.ndarray]:
        score = self.score
        keep = np.isfinite(score)
        return self.wavelengths[keep], score[keep]

    @property
    def fully_resolved(self) -> bool:
        return bool(np.all(self._bands()[1] >= 0.5))

    @property
    def resolved(self) -> float | None:
        wavelengths, score = self._bands()
        below = np.flatnonzero(score < 0.5)
        if len(below) == 0:
            return float(wavelengths[-1]) if len(wavelengths) else None
        first = int(below[0])
        if first == 0:
            return None
        s0, s1 = score[first - 1], score[first]
        t = (s0 - 0.5) / (s0 - s1)
        w0, w1 = np.log(wavelengths[first - 1]), np.log(wavelengths[first])
        return float(np.exp(w0 + t * (w1 - w0)))


EMPTY_BAND = 1e-6  # a band where truth and error hold less than this fraction of the truth's energy is not scored
SPHERE_BAND_DEGREE = 48  # spherical-harmonic degrees analysed on spheres (wavelength down to ~820 km)
MESH_BAND_EIGENVECTORS = 200  # cotangent eigenfunctions analysed on meshes
MESH_BANDS = 20


class SpectralBands:
    """A band decomposition of node signals on one mesh, built once and applied to many fields.

    Spheres: spherical-harmonic degree l (the sphere read as the Earth), wavelength 2 pi R / sqrt(l (l + 1)) in km;
    coefficients by area-weighted quadrature. Meshes: the first eigenfunctions of the cotangent Laplacian
    (M-orthonormal), wavelength 2 pi / sqrt(lambda) in mesh units, grouped into bands of similar wavelength.
    Energy beyond the analysed bands (finer than the last one) is not counted.
    """

    def __init__(self, mesh: Mesh, degree: int = SPHERE_BAND_DEGREE, n_eigenvectors: int = MESH_BAND_EIGENVECTORS):
        self.mesh = mesh
        self.area = node_areas(mesh)
        centre = sphere_center(mesh)
        if centre is not None:
            self.centre, self.unit = centre, "km"
            self.degree = degree
            l = np.arange(1, degree + 1)
            self.wavelengths = 2 * np.pi * EARTH_RADIUS_KM / np.sqrt(l * (l + 1))
            self.basis = None
        else:
            self.centre, self.unit = None, "mesh units"
            k = min(n_eigenvectors, mesh.n_vertices - 2)
            emb = spectral_embedding(mesh, k, "cotangent")
            self.basis = emb.features / np.sqrt(self.area.sum())  # M-orthonormal eigenvectors
            eigenvalues = np.maximum(emb.eigenvalues[1:], 1e-300)  # the constant (lambda = 0) is left out
            wavelength = 2 * np.pi / np.sqrt(eigenvalues)
            edges = np.geomspace(wavelength.max() * 1.0001, wavelength.min() * 0.9999, MESH_BANDS + 1)
            band = np.clip(np.searchsorted(-edges, -wavelength) - 1, 0, MESH_BANDS - 1)
            used = np.unique(band)
            self.band_of_column = np.searchsorted(used, band)
            self.wavelengths = np.array([np.exp(np.log(wavelength[band == b]).mean()) for b in used])

    def energies(self, fields: np.ndarray) -> np.ndarray:
        """(n_bands, F) energy per band of each column of `fields` (n, F)."""
        fields = np.asarray(fields, dtype=np.float64).reshape(self.mesh.n_vertices, -1)
        weighted = fields * self.area[:, None]
        if self.basis is not None:
            coefficients = self.basis[:, 1:].T @ weighted
            out = np.zeros((len(self.wavelengths), fields.shape[1]))
            np.add.at(out, self.band_of_column, coefficients**2)
            return out
        scale = 4 * np.pi / self.area.sum()  # quadrature weights normalised to the unit sphere's area
        coefficients = np.zeros(((self.degree + 1) ** 2, fields.shape[1]))
        for start in range(0, len(fields), 8192):
            rows = slice(start, start + 8192)
            coefficients += real_sph_harm(self.mesh.vertices[rows] - self.centre, self.degree).T @ weighted[rows] * scale
        degree_of = np.repeat(np.arange(self.degree + 1), 2 * np.arange(self.degree + 1) + 1)
        out = np.zeros((self.degree + 1, fields.shape[1]))
        np.add.at(out, degree_of, coefficients**2)
        return out[1:]

    def spectra(self, truth, predictions: dict[str, np.ndarray]) -> dict[str, Spectrum]:
        """The error spectrum of each prediction against the truth (one projection for all of them)."""
        names = list(predictions)
        truth = np.asarray(truth, dtype=np.float64)
        fields = np.column_stack([truth - truth.mean()] + [predictions[n] - truth for n in names])
        energy = self.energies(fields)
        return {n: Spectrum(self.wavelengths, energy[:, 0], energy[:, i + 1], self.unit) for i, n in enumerate(names)}


DERIVED_COLUMNS = ("field", "gradient", "Laplacian", "error")


def derived_field_rows(mesh: Mesh, truth, predictions: dict[str, np.ndarray]) -> dict[str, dict[str, np.ndarray | None]]:
    """The inr4ssh layout as data: for the truth and each prediction, its field, surface gradient magnitude,
    Laplace-Beltrami Laplacian and error (prediction - truth; None for the truth itself), by discrete operators."""
    derived = DerivedFields(mesh)
    truth = check_values(truth, mesh.n_vertices, "truth")
    rows = {"truth": {"field": truth, "gradient": derived.gradient_magnitude(truth),
                      "Laplacian": derived.laplacian_of(truth), "error": None}}
    for name, values in predictions.items():
        values = check_values(values, mesh.n_vertices, f"{name} prediction")
        rows[name] = {"field": values, "gradient": derived.gradient_magnitude(values),
                      "Laplacian": derived.laplacian_of(values), "error": values - truth}
    return rows


