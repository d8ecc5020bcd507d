"""Features for super-resolution: train on a coarse mesh, predict on a finer mesh of the same surface.

A GINR's inputs are Laplacian eigenvectors, and two separate eigen-solves (coarse and fine) do not agree:
each eigenvector's sign is arbitrary and, where eigenvalues repeat (symmetric shapes, spheres), any
rotation within the eigenspace is as valid as another. A model trained on the coarse features then sees
unrelated inputs on the fine mesh. `transfer_features` returns a pair of feature matrices that DO agree,
by one of these strategies:

- "kl": the paper's heuristic. Solve both meshes; flip each fine eigenvector when that brings its value
  histogram closer (KL divergence) to the coarse one. Fixes signs only, and only where the histogram is
  not symmetric; rotations within repeated eigenvalues are left as they are.
- "joint": solve the FINE mesh only and read the coarse features off it at the coarse vertices (needs a
  vertex correspondence). Both are then samples of the same functions: exact agreement by construction.
- "interp": solve the COARSE mesh only and interpolate its eigenvectors onto the fine vertices
  (barycentric, from the closest point on the coarse surface). Exact at coarse vertices, piecewise
  linear in between; no new eigen-solve on the fine mesh.
- "fmap": solve both with the cotangent Laplacian (which converges under refinement, unlike the graph
  Laplacians), then express the coarse basis in the fine one with a least-squares functional map C, so
  the fine features are smooth fine eigenfunction combinations that match the coarse ones.
- "sh": sphere domains only; analytic spherical harmonics, the same functions at any resolution.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field

import numpy as np

from ..errors import GinrError, error_message
from ..geometry.features import FeatureSpec, sh_degree, sh_features
from ..geometry.laplacian import LAPLACIANS, mesh_laplacian
from ..geometry.mesh import Mesh
from ..geometry.resampling import (
    barycentric_operator,
    check_correspondence,
    coarser_latlon_grid,
    finer_latlon_grid,
    finer_mesh,
    latlon_axes,
    subset_correspondence,
    values_at_coarse_nodes,
)
from ..geometry.spectral import spectral_embedding
from ..geometry.sphere import is_sphere
from ..learning.metrics import evaluate, r2
from ..learning.model_config import EncoderConfig, MLPConfig, ModelConfig
from ..learning.recipes import SUPERRES_K
from ..learning.training import GINRRegressor, TrainConfig
from ..runs.jobs import JobContext
from ..runs.spec import RunInputs, RunSpec
from ..runs.task import ItemOutcome, RecordedRun, TaskRequest, run_items
from .interpolation import (
    SUPERRES_CLASSICAL,
    InterpolationProblem,
    InterpolationSettings,
    classical_rows,
    coarse_observations,
    stacked_interpolate,
)

STRATEGIES = ("kl", "joint", "interp", "fmap", "sh")
STACKED = "stacked"  # not a feature transfer: the interpolation's stacked network on the coarse values (the default)
METHODS = (STACKED, *STRATEGIES)
KL_AMBIGUOUS = 0.1  # relative KL margin below which a "kl" sign decision is reported as a guess
KL_SMOOTHING = 0.5  # pseudo-count added to every bin, so empty bins do not make KL infinite


@dataclass(frozen=True, eq=False)
class TransferResult:
    """Features to train on (coarse_features, (n_coarse, k)) and to predict on (fine_features, (n_fine, k)).

    `notes` are plain-language remarks on what was done (solver, scale convention, ambiguous signs...).
    """

    coarse_features: np.ndarray
    fine_features: np.ndarray
    strategy: str
    notes: tuple[str, ...] = ()

    @property
    def k(self) -> int:
        return self.coarse_features.shape[1]


def strategies_for(coarse: Mesh, fine: Mesh, has_correspondence: bool) -> list[str]:
    """The methods that apply to this pair of meshes, in METHODS order.

    "joint" needs a vertex correspondence; "sh" needs both meshes to be spheres. The others always apply.
    """
    out = []
    for strategy in METHODS:
        if strategy == "joint" and not has_correspondence:
            continue
        if strategy == "sh" and not (is_sphere(coarse) and is_sphere(fine)):
            continue
        out.append(strategy)
    return out



def transfer_features(
    coarse: Mesh,
    fine: Mesh,
    k: int,
    strategy: str,
    laplacian: str = "combinatorial",
    correspondence: np.ndarray | None = None,
    *,
    cache: bool = True,
) -> TransferResult:
    """Coarse features to train on and fine features to predict on, made to agree by `strategy`.

    `laplacian` is used by "kl", "joint" and "interp" ("fmap" always uses the cotangent Laplacian, "sh" no
    Laplacian). `correspondence[i]` is the fine vertex at coarse vertex i; "joint" needs it, "fmap" uses it
    when given (see `subset_correspondence`; for `subdivide(..., method="midpoint")` it is arange(n_coarse)).
    `cache` is passed on to `spectral_embedding`.
    """
    if strategy not in STRATEGIES:
        raise GinrError(f"Unknown super-resolution strategy '{strategy}'; choose one of {', '.join(STRATEGIES)}.")
    if correspondence is not None:
        correspondence = check_correspondence(correspondence, coarse, fine)
    if strategy == "kl":
        return _kl(coarse, fine, k, laplacian, cache)
    if strategy == "joint":
        return _joint(coarse, fine, k, laplacian, correspondence, cache)
    if strategy == "interp":
        return _interp(coarse, fine, k, laplacian, cache)
    if strategy == "fmap":
        return _fmap(coarse, fine, k, correspondence, cache)
    return _sh(coarse, fine, k)


# --- strategies ---------------------------------------------------------------------------------------


def _kl(coarse: Mesh, fine: Mesh, k: int, laplacian: str, cache: bool) -> TransferResult:
    """Separate solves; each fine eigenvector flipped when its flipped histogram is closer to the coarse one."""
    fc = spectral_embedding(coarse, k, laplacian, cache=cache).features
    ff = spectral_embedding(fine, k, laplacian, cache=cache).features.copy()
    flipped, ambiguous = 0, 0
    for j in range(k):
        keep, flip = kl_sign_scores(fc[:, j], ff[:, j])
        if flip < keep:
            ff[:, j] = -ff[:, j]
            flipped += 1
        if abs(flip - keep) <= KL_AMBIGUOUS * max(keep, flip, 1e-12):
            ambiguous += 1
    notes = [
        f"Solved both meshes with the {laplacian} Laplacian and flipped {flipped} of {k} fine eigenvectors "
        "by the KL divergence of their value histograms.",
    ]
    if ambiguous:
        notes.append(
            f"{ambiguous} of {k} eigenvectors have (nearly) symmetric histograms, so their sign is a guess; "
            "rotations within repeated eigenvalues are not corrected at all."
        )
    return TransferResult(fc, ff, "kl", tuple(notes))


def kl_sign_scores(coarse_values: np.ndarray, fine_values: np.ndarray, bins: int | None = None) -> tuple[float, float]:
    """(KL(coarse || fine), KL(coarse || -fine)) between value histograms on shared, symmetric bins.

    The bins span [-r, r] with r the largest magnitude in either vector, so flipping maps bins onto bins;
    a pseudo-count in every bin keeps the divergence finite where a histogram is empty. The default bin
    count is about sqrt(n_coarse) (fewer samples need wider bins to be more than noise; measured on bumpy
    spheres, 32+ bins made confident wrong decisions) and odd, so zero is a bin centre and an exactly
    symmetric histogram gives a tie (no flip) rather than a decision driven by noise.
    """
    if bins is None:
        bins = int(np.clip(np.sqrt(len(coarse_values)), 9, 63)) // 2 * 2 + 1
    r = max(float(np.abs(coarse_values).max()), float(np.abs(fine_values).max()), 1e-300)
    edges = np.linspace(-r, r, bins + 1)
    p = _smoothed_histogram(coarse_values, edges)
    q = _smoothed_histogram(fine_values, edges)
    return float(np.sum(p * np.log(p / q))), float(np.sum(p * np.log(p / q[::-1])))


def _smoothed_histogram(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    counts = np.histogram(values, bins=edges)[0].astype(np.float64) + KL_SMOOTHING
    return counts / counts.sum()


def _joint(coarse: Mesh, fine: Mesh, k: int, laplacian: str, correspondence, cache: bool) -> TransferResult:
    """One solve on the fine mesh; the coarse features are its rows at the coarse vertices.

    Scale: both keep the fine embedding's convention (sqrt(n_fine) * unit vectors for graph Laplacians),
    i.e. the same functions sampled at two sets of nodes. On a roughly uniform refinement the mean square
    over the coarse rows is still about 1, the paper's sqrt(n_coarse) convention, so nothing is rescaled:
    rescaling one side would break the agreement that is the point of this strategy.
    """
    if correspondence is None:
        raise GinrError(
            "The 'joint' strategy needs a correspondence (which fine vertex each coarse vertex is); "
            "use subset_correspondence(coarse, fine) for nested meshes."
        )
    ff = spectral_embedding(fine, k, laplacian, cache=cache).features
    fc = ff[correspondence]
    rms = float(np.sqrt(np.mean(fc[:, 1:] ** 2))) if k > 1 else 1.0
    notes = (
        f"Solved the fine mesh only ({laplacian} Laplacian); the coarse features are its rows at the coarse "
        f"vertices, in the fine embedding's scale (root mean square on the coarse rows: {rms:.3g}).",
    )
    return TransferResult(np.ascontiguousarray(fc), ff, "joint", notes)


def _interp(coarse: Mesh, fine: Mesh, k: int, laplacian: str, cache: bool) -> TransferResult:
    """One solve on the coarse mesh, interpolated linearly onto the fine vertices."""
    fc = spectral_embedding(coarse, k, laplacian, cache=cache).features
    P, distance = barycentric_operator(coarse, fine.vertices)
    notes = [f"Solved the coarse mesh only ({laplacian} Laplacian) and interpolated it barycentrically."]
    size = _mesh_size(coarse)
    if distance.max() > 1e-3 * size:
        notes.append(
            f"Some fine vertices lie off the coarse surface (up to {distance.max():.3g}, mesh size {size:.3g}): "
            "they take the features of the closest coarse surface point."
        )
    return TransferResult(fc, P @ fc, "interp", tuple(notes))


def _fmap(coarse: Mesh, fine: Mesh, k: int, correspondence, cache: bool) -> TransferResult:
    """Cotangent eigenbases of both meshes, the coarse one expressed in the fine one by least squares.

    With a correspondence, C minimises sum_i m_i |(F_fine C)(corr_i) - F_coarse(i)|^2 (m: coarse vertex
    areas), i.e. agreement at the shared vertices. Without, the coarse features are first carried to every
    fine vertex by barycentric interpolation (P) and C minimises ||F_fine C - P F_coarse|| in the fine mass
    inner product, i.e. C = (F^T M F)^-1 F^T M P F_coarse, the classical functional map. Either way the
    fine features F_fine C stay in the span of the first k fine eigenfunctions: smooth, and in the same
    sqrt(area) scale as the coarse features.
    """
    fc = spectral_embedding(coarse, k, "cotangent", cache=cache).features
    phi = spectral_embedding(fine, k, "cotangent", cache=cache).features
    if correspondence is not None:
        rows, target, weights = phi[correspondence], fc, mesh_laplacian(coarse, "cotangent")[1].diagonal()
        how = "at the corresponding vertices"
    else:
        P, _ = barycentric_operator(coarse, fine.vertices)
        rows, target, weights = phi, P @ fc, mesh_laplacian(fine, "cotangent")[1].diagonal()
        how = "over the fine mesh (coarse features interpolated barycentrically)"
    w = np.sqrt(weights)[:, None]  # weighted least squares: argmin_C ||w * (rows C - target)||
    C = np.linalg.lstsq(w * rows, w * target, rcond=None)[0]
    ff = phi @ C
    residual = np.linalg.norm(w * (rows @ C - target), axis=0) / np.linalg.norm(w * target, axis=0)
    notes = (
        f"Solved both meshes with the cotangent Laplacian and mapped the coarse basis into the fine one {how}.",
        f"Relative fit error per column: median {np.median(residual):.2g}, worst {residual.max():.2g} "
        f"(column {int(residual.argmax())}); high columns fit worst, as the coarse mesh resolves them least.",
    )
    return TransferResult(fc, ff, "fmap", notes)


def _sh(coarse: Mesh, fine: Mesh, k: int) -> TransferResult:
    """The first k real spherical harmonics (degree by degree) evaluated on both spheres."""
    for mesh in (coarse, fine):
        if not is_sphere(mesh):
            raise GinrError(
                f"'{mesh.name}' is not a sphere, so the spherical-harmonic strategy does not apply; "
                "choose another strategy."
            )
    degree = sh_degree(k)
    fc, ff = sh_features(coarse, k), sh_features(fine, k)
    notes = [f"Spherical harmonics up to degree {degree}: the same functions on both meshes."]
    if (degree + 1) ** 2 != k:
        notes.append(f"k = {k} cuts degree {degree} short, so the features are not rotation invariant.")
    return TransferResult(fc, ff, "sh", tuple(notes))


def _mesh_size(mesh: Mesh) -> float:
    return float(np.linalg.norm(mesh.vertices.max(axis=0) - mesh.vertices.min(axis=0)))


__all__ = [
    "STRATEGIES",
    "StrategyOutcome",
    "SuperResolutionRequest",
    "TransferResult",
    "barycentric_operator",
    "coarser_latlon_grid",
    "finer_latlon_grid",
    "finer_mesh",
    "kl_sign_scores",
    "latlon_axes",
    "strategies_for",
    "subset_correspondence",
    "transfer_features",
    "values_at_coarse_nodes",
]


# First-layer sine frequency for super-resolution. The fitting default (90) memorises the coarse nodes and
# scores R^2 ~0 between them. R^2 on the fine-only nodes, first-layer omega_0 3 vs 10 (bench/superres.py,
# 60 s per strategy, 2-core CPU): bunny Gray-Scott, k = 100: joint 0.475 / 0.823, interp 0.694 / 0.845,
# fmap 0.718 / 0.808; k = 36: joint 0.699 / 0.689, interp 0.764 / 0.822, fmap 0.640 / 0.633; ERA z500,
# k = 100: every strategy 0.999+ at both. A smooth analytic field at small k prefers 3 (bumpy sphere,
# k = 16, joint: 0.998 at 3, 0.959 at 10), a real texture does not: 10 is the default.
SUPERRES_FIRST_OMEGA_0 = 10.0


def super_resolve(
    coarse: Mesh,
    fine: Mesh,
    coarse_target: np.ndarray,
    strategy: str,
    k: int = 100,
    laplacian: str = "combinatorial",
    correspondence: np.ndarray | None = None,
    model_config=None,
    train_config=None,
    callback=None,
    cancel: threading.Event | None = None,
):
    """Train a GINR on the coarse mesh and predict the signal on the fine one; returns (regressor, prediction,
    TransferResult). Without `model_config`, the network uses a low first-layer frequency
    (SUPERRES_FIRST_OMEGA_0), which interpolates smoothly between the training nodes. Setting `cancel` stops
    the training early (checked between steps; the feature transfer runs to its end), as in GINRRegressor.fit."""
    transfer = transfer_features(coarse, fine, k, strategy, laplacian, correspondence)
    model_config = model_config or ModelConfig(EncoderConfig(k=transfer.k), MLPConfig(first_omega_0=SUPERRES_FIRST_OMEGA_0))
    regressor = GINRRegressor(model_config, train_config or TrainConfig())
    regressor.fit(transfer.coarse_features, coarse_target, callback=callback, cancel=cancel)
    return regressor, regressor.predict(transfer.fine_features), transfer


# --- the task -----------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class StrategyOutcome(ItemOutcome):
    """One strategy of a super-resolution job, as a UI reads it (`name`: the strategy; "running" covers the feature
    transfer and the training). Once trained: the model's prediction on the coarse mesh
    (`coarse_prediction`) and the fine one (`fine_prediction`), the fine one read at the coarse nodes
    (`shared_prediction`), and `scores`: metrics.evaluate of the shared prediction against the coarse target
    (self-consistency: the paper's score), "r2_fit" (the coarse prediction, i.e. training fit) and, when the
    fine truth is known, "r2_fine_only" on the fine nodes that are not coarse nodes.
    """

    coarse_prediction: np.ndarray | None = None
    fine_prediction: np.ndarray | None = None
    shared_prediction: np.ndarray | None = None
    scores: dict | None = None
    notes: tuple[str, ...] = ()
    classical: bool = False  # a training-free interpolation of the same coarse values, not a strategy


@dataclass(frozen=True, eq=False)
class SuperResolutionRequest(TaskRequest):
    """Several strategies at equal budget on one coarse -> fine pair. `fine_truth` (the signal on the fine nodes,
    when known) adds the real super-resolution score."""

    coarse: Mesh
    fine: Mesh
    coarse_target: np.ndarray
    strategies: tuple[str, ...]
    k: int = SUPERRES_K
    laplacian: str = "combinatorial"
    correspondence: np.ndarray | None = None
    fine_truth: np.ndarray | None = None
    model: ModelConfig | None = None
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self):
        if not self.strategies:
            raise GinrError("Choose at least one strategy.")

    @property
    def fine_only(self) -> np.ndarray:
        if self.correspondence is None:
            return np.arange(self.fine.n_vertices)
        return np.setdiff1d(np.arange(self.fine.n_vertices), self.correspondence)

    def spec(self, item: str | None = None, group: str = "", k: int | None = None) -> RunSpec:
        """The run of strategy `item`, its features `k` columns wide (what its transfer gave; default the request's)."""
        model = self.model or ModelConfig(mlp=MLPConfig(first_omega_0=SUPERRES_FIRST_OMEGA_0))
        features = FeatureSpec(self.laplacian if self.laplacian in LAPLACIANS else "combinatorial", k or self.k)
        return RunSpec("superres", self.domain, self.signal, features, model, self.train,
                       {"strategy": item, "group": group, "fine_nodes": self.fine.n_vertices})

    def inputs(self) -> RunInputs:
        extra = {"fine_vertices": self.fine.vertices, "fine_faces": self.fine.faces}
        if self.correspondence is not None:
            extra["correspondence"] = self.correspondence
        return RunInputs(self.coarse, np.asarray(self.coarse_target), extra)

    def scores(self, coarse_prediction, shared_prediction, fine_prediction) -> dict:
        scores = {**evaluate(self.coarse_target, shared_prediction), "r2_fit": r2(self.coarse_target, coarse_prediction)}
        fine_only = self.fine_only
        if self.fine_truth is not None and len(fine_only):
            scores["r2_fine_only"] = r2(self.fine_truth[fine_only], fine_prediction[fine_only])
        return scores


def _classical_outcomes(request: SuperResolutionRequest) -> list[StrategyOutcome]:
    """Training-free interpolation of the coarse values on the fine mesh (interpolation.SUPERRES_CLASSICAL;
    sparse solves, seconds), scored like the strategies: what a network must beat."""
    try:
        observations = coarse_observations(request.coarse, request.fine, request.coarse_target, request.correspondence)
        rows = classical_rows(request.fine, observations, SUPERRES_CLASSICAL)
    except Exception as exc:  # the strategies still run; the table says why the rows are missing
        return [StrategyOutcome("classical", status="failed", error=error_message(exc), classical=True)]
    outcomes = []
    for name, (fine_prediction, seconds) in rows.items():
        shared = values_at_coarse_nodes(request.coarse, request.fine, fine_prediction, request.correspondence)
        outcomes.append(StrategyOutcome(
            name, status="done", coarse_prediction=shared, fine_prediction=fine_prediction, shared_prediction=shared,
            scores=request.scores(shared, shared, fine_prediction), seconds=seconds, classical=True,
            notes=("Classical interpolation of the coarse values on the fine graph (no training).",)))
    return outcomes


def _stacked_outcome(request: SuperResolutionRequest, ctx: JobContext, start: float, span: float) -> dict:
    """The changes of STACKED's StrategyOutcome: the coarse values as observations on the fine mesh, completed by
    the interpolation's `ginr_stacked` (networks correcting the classical interpolants, early stopping within the
    strategy's time budget, which they share)."""
    observations = coarse_observations(request.coarse, request.fine, request.coarse_target, request.correspondence)
    settings = InterpolationSettings(k=request.k, steps=request.train.steps or InterpolationSettings.steps,
                                     seed=request.train.seed, time_budget_s=request.train.time_budget_s)
    problem = InterpolationProblem(request.fine, observations, settings)
    fine_prediction, note = stacked_interpolate(problem, ctx.training_callback(STACKED, start, span), ctx.cancel_event)
    if problem.stop_reason == "cancelled":
        return dict(status="cancelled", notes=(note,))
    shared = values_at_coarse_nodes(request.coarse, request.fine, fine_prediction, request.correspondence)
    return dict(coarse_prediction=shared, fine_prediction=fine_prediction, shared_prediction=shared,
                scores=request.scores(shared, shared, fine_prediction),
                notes=(f"Classical interpolants of the coarse values on the fine graph, corrected by a network: {note}.",))


def _trained_outcome(request: SuperResolutionRequest, ctx: JobContext, strategy: str, group: str, start: float,
                     span: float, update) -> dict:
    """The changes of a strategy's StrategyOutcome: its features transferred, then one registered run trained on the
    coarse mesh and scored on both."""
    transfer = transfer_features(request.coarse, request.fine, request.k, strategy, request.laplacian,
                                 request.correspondence)
    with RecordedRun(ctx, request.spec(strategy, group, transfer.k), request.inputs()) as run:
        update(run_id=run.id, notes=transfer.notes)
        regressor = GINRRegressor(run.spec.model, run.spec.train)
        regressor.fit(transfer.coarse_features, request.coarse_target, cancel=ctx.cancel_event,
                      callback=ctx.training_callback(strategy, start, span))
        stopped = regressor.stop_reason_ == "cancelled"
        if stopped and not regressor.history_:  # cancelled before training
            run.finish("cancelled")
            return dict(status="cancelled")
        coarse_prediction = regressor.predict(transfer.coarse_features)
        fine_prediction = regressor.predict(transfer.fine_features)
        shared = values_at_coarse_nodes(request.coarse, request.fine, fine_prediction, request.correspondence)
        scores = request.scores(coarse_prediction, shared, fine_prediction)
        status = "cancelled" if stopped else "done"
        run.finish(status, regressor=regressor, predictions=coarse_prediction, metrics=scores, history=regressor.history_)
    return dict(status=status, coarse_prediction=coarse_prediction, fine_prediction=fine_prediction,
                shared_prediction=shared, scores=scores)


def superres_task(request: SuperResolutionRequest, ctx: JobContext) -> list[StrategyOutcome]:
    """Every strategy in turn, each one registered run trained on the coarse mesh (so the dashboard runs what
    `ginr superres` runs); a strategy that fails is reported and the next one runs. The outcomes so far are
    published as they change; after the strategies come the classical rows (`classical=True`), computed first
    (seconds) and shown beside the strategies from the start."""
    group = f"superres-{secrets.token_hex(4)}"
    n = len(request.strategies)
    ctx.publish([StrategyOutcome(s) for s in request.strategies])
    classical = _classical_outcomes(request)

    def strategy(i: int, update) -> dict:
        name = request.strategies[i]
        if name == STACKED:
            return _stacked_outcome(request, ctx, i / n, 1 / n)
        return _trained_outcome(request, ctx, name, group, i / n, 1 / n, update)

    strategies = run_items(ctx, [StrategyOutcome(s) for s in request.strategies], strategy,
                           publish=lambda outcomes: [*outcomes, *classical], message="Transferring the features")
    return [*strategies, *classical]
