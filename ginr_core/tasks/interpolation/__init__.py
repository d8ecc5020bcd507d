"""Interpolation from sparse observations: neural fields against classical interpolation, scored alike.

The inr4ssh question on meshes and spheres: a field is known only at some places (random nodes, simulated
satellite ground tracks, scattered points, a coarse mesh's nodes); every method reconstructs it everywhere and
is scored on the nodes that were not observed:

- classical (no training): harmonic and biharmonic graph interpolation (the combinatorial Laplacian's
  Dirichlet / squared energy minimised with the observations fixed; a scipy sparse solve), Tikhonov graph
  smoothing (its weight picked on a validation split), a thin-plate-spline RBF (scipy's RBFInterpolator) and
  ordinary kriging with a fitted variogram (GSTools; great-circle distances on spheres);
- networks: GINR (spectral input) and INR (xyz; spherical harmonics on spheres) trained on the observed
  values, and `ginr_stacked`, the recipe that wins where a network can (see `networks.stacked_interpolate`).

Scores: RMSE, the data challenges' normalised score 1 - RMSE / RMS(truth), R^2 on the unobserved nodes, and
a resolved scale from the error-to-truth energy per band of an eigenbasis (`SpectralBands`).

The package's modules: `observations` (where the field is known), `classical` (the training-free methods),
`networks` (GINR, INR and the stacked network), `problem` (one problem, every method), `scores` and `task`
(the recorded run). Their public names are importable from here.
"""

from .observations import (
    at_nodes,
    check_values,
    coarse_nodes,
    coarse_observations,
    EARTH_RADIUS_KM,
    ground_track,
    node_areas,
    Observations,
    PATTERNS,
    random_nodes,
    read_observations_csv,
    require_unobserved,
    satellite_tracks,
    scattered_points,
    track_normals,
)
from .classical import (
    CLASSICAL,
    graph_interpolate,
    KRIGING_CHUNK,
    kriging_interpolate,
    KRIGING_MODELS,
    KRIGING_NOISE_FLOOR,
    KRIGING_POINTS,
    observation_subset,
    ordinary_kriging,
    rbf_interpolate,
    RBF_NEIGHBORS,
    tikhonov_interpolate,
    TIKHONOV_WEIGHTS,
    validation_split,
)
from .networks import (
    InterpolationSettings,
    network_interpolate,
    NETWORKS,
    STACK_BASES,
    STACK_REPEATS,
    stacked_interpolate,
    stacking_folds,
)
from .problem import (
    classical_rows,
    InterpolationProblem,
    METHODS,
    run_method,
    SUPERRES_CLASSICAL,
)
from .scores import (
    DERIVED_COLUMNS,
    derived_field_rows,
    EMPTY_BAND,
    interpolation_scores,
    MESH_BAND_EIGENVECTORS,
    MESH_BANDS,
    SpectralBands,
    Spectrum,
    SPHERE_BAND_DEGREE,
)
from .task import (
    DEFAULT_METHODS,
    interpolate,
    interpolation_task,
    InterpolationRequest,
    InterpolationResult,
    MethodOutcome,
)

__all__ = [
    "at_nodes",
    "check_values",
    "CLASSICAL",
    "classical_rows",
    "coarse_nodes",
    "coarse_observations",
    "DEFAULT_METHODS",
    "DERIVED_COLUMNS",
    "derived_field_rows",
    "EARTH_RADIUS_KM",
    "EMPTY_BAND",
    "graph_interpolate",
    "ground_track",
    "interpolate",
    "interpolation_scores",
    "interpolation_task",
    "InterpolationProblem",
    "InterpolationRequest",
    "InterpolationResult",
    "InterpolationSettings",
    "KRIGING_CHUNK",
    "kriging_interpolate",
    "KRIGING_MODELS",
    "KRIGING_NOISE_FLOOR",
    "KRIGING_POINTS",
    "MESH_BAND_EIGENVECTORS",
    "MESH_BANDS",
    "MethodOutcome",
    "METHODS",
    "network_interpolate",
    "NETWORKS",
    "node_areas",
    "observation_subset",
    "Observations",
    "ordinary_kriging",
    "PATTERNS",
    "random_nodes",
    "rbf_interpolate",
    "RBF_NEIGHBORS",
    "read_observations_csv",
    "require_unobserved",
    "run_method",
    "satellite_tracks",
    "scattered_points",
    "SpectralBands",
    "Spectrum",
    "SPHERE_BAND_DEGREE",
    "STACK_BASES",
    "STACK_REPEATS",
    "stacked_interpolate",
    "stacking_folds",
    "SUPERRES_CLASSICAL",
    "tikhonov_interpolate",
    "TIKHONOV_WEIGHTS",
    "track_normals",
    "validation_split",
]
