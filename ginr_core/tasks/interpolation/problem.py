"""One interpolation problem (mesh, observations, settings) with the operators every method shares, and
`run_method`, the one entry to every method."""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp

from ...errors import GinrError
from ...geometry.laplacian import mesh_laplacian
from ...geometry.mesh import Mesh
from ...geometry.spectral import spectral_embedding
from ...geometry.sphere import is_sphere
from .classical import CLASSICAL, graph_interpolate, kriging_interpolate, rbf_interpolate, tikhonov_interpolate
from .networks import NETWORKS, InterpolationSettings, network_interpolate, stacked_interpolate
from .observations import Observations

METHODS = CLASSICAL + NETWORKS


class InterpolationProblem:
    """The mesh, observations and settings of one interpolation, with the operators and features every method
    shares built once."""

    def __init__(self, mesh: Mesh, observations: Observations, settings: InterpolationSettings):
        self.mesh, self.observations, self.settings = mesh, observations, settings
        self.sphere = is_sphere(mesh)
        self.stop_reason = None
        self._cache: dict = {}

    def __getstate__(self) -> dict:
        """What a classical method needs in a child process: the operators, not the networks' embedding (n x k)."""
        return {**self.__dict__, "_cache": {key: value for key, value in self._cache.items() if key != "embedding"}}

    def operator(self, name: str) -> sp.csr_matrix:
        if "laplacian" not in self._cache:
            self._cache["laplacian"] = mesh_laplacian(self.mesh)[0]
        L = self._cache["laplacian"]
        if name == "biharmonic":
            if "biharmonic" not in self._cache:
                self._cache["biharmonic"] = (L @ L).tocsr()
            return self._cache["biharmonic"]
        return L

    def embedding(self) -> np.ndarray:
        if "embedding" not in self._cache:
            k = min(self.settings.k, self.mesh.n_vertices - 2)
            self._cache["embedding"] = spectral_embedding(self.mesh, k).features
        return self._cache["embedding"]


def run_method(problem: InterpolationProblem, name: str, callback=None, cancel=None) -> tuple[np.ndarray, str]:
    """(prediction at every node, a note on what was done) of one method."""
    obs = problem.observations
    if name == "harmonic":
        return graph_interpolate(problem.operator("harmonic"), obs), "combinatorial Laplacian, exact at the observations"
    if name == "biharmonic":
        return graph_interpolate(problem.operator("biharmonic"), obs), "squared combinatorial Laplacian, exact at the observations"
    if name == "tikhonov":
        return tikhonov_interpolate(problem.operator("harmonic"), obs, problem.settings.validation, problem.settings.seed)
    if name == "rbf":
        return rbf_interpolate(problem.mesh, obs)
    if name == "kriging":
        return kriging_interpolate(problem.mesh, obs, problem.settings.validation, problem.settings.seed)
    if name in ("ginr", "inr"):
        return network_interpolate(problem, name, callback, cancel)
    if name == "ginr_stacked":
        return stacked_interpolate(problem, callback, cancel)
    raise GinrError(f"Unknown interpolation method '{name}'; choose from {', '.join(METHODS)}.")


SUPERRES_CLASSICAL = ("harmonic", "biharmonic", "rbf")  # training-free, seconds: beside every super-resolution


def classical_rows(mesh: Mesh, observations: Observations, methods=SUPERRES_CLASSICAL) -> dict[str, tuple[np.ndarray, float]]:
    """{method: (prediction at every node, seconds)} of training-free methods (a super-resolution's honest rows)."""
    problem = InterpolationProblem(mesh, observations, InterpolationSettings())
    rows = {}
    for name in methods:
        t0 = time.perf_counter()
        rows[name] = (run_method(problem, name)[0], time.perf_counter() - t0)
    return rows
