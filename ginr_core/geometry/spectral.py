"""Laplacian eigenpairs and the spectral embedding of a mesh (the input features of a GINR).

`eigenpairs` finds the k smallest eigenpairs of a sparse symmetric positive semi-definite L, optionally
of the generalised problem L u = lambda M u with a lumped (diagonal) mass matrix M. `spectral_embedding`
turns them into per-vertex features and keeps them in an on-disk cache.

Method: shift-invert block Lanczos with thick (Krylov-Schur) restarts, chosen by measurement (bunny,
k=100: about 15x faster than `eigsh(L, k, which="SM")` and 3x faster than `eigsh(L, k, sigma=...)`).
- L + s I (s a tiny positive shift) is factorised once, with CHOLMOD's Cholesky when cholespy is
  installed (else SuperLU); the Krylov space of its inverse converges to the wanted end of the spectrum
  in about 3 k solves, the fewest of the methods we measured.
- Blocks of a few vectors let one factorisation serve several right-hand sides per sweep and turn the
  orthogonalisation into matrix-matrix products; larger blocks converge in more solves, so the block is
  kept small. A block Krylov space holds at most `block` copies of a repeated eigenvalue (symmetric
  meshes have them), so a result showing that many is recomputed with a larger block.
- Each new block is orthogonalised against the last two blocks (the three-term recurrence), then measured
  against the whole basis and cleaned only along the few vectors where rounding left more than noise:
  one pass over the basis instead of the two of Gram-Schmidt done twice. This pass, not the solves, is
  the largest cost on meshes, so the basis is stored as rows (contiguous memory).
- Convergence is judged on the true residual ||L u - lambda u|| of each Ritz pair, computed cheaply
  from the block Lanczos relation, and the result is polished by a final Rayleigh-Ritz step on L itself
  so eigenvalues, vectors and clusters of (nearly) equal eigenvalues come out consistent.
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from typing import Callable

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp
import scipy.sparse.linalg as sla

from ..errors import GinrError
from ..storage.files import atomic_write
from ..storage.paths import cache_dir
from .laplacian import LAPLACIANS, mesh_laplacian
from .mesh import Mesh

try:  # optional: a faster sparse Cholesky (see _factorize)
    import cholespy
except ImportError:
    cholespy = None
try:  # optional: BLAS thread control (see eigenpairs)
    from threadpoolctl import threadpool_limits
except ImportError:
    threadpool_limits = None

SOLVER_VERSION = "block-lanczos-1"
Progress = Callable[[float, str], None]

DENSE_LIMIT = 1500  # below this many rows a dense eigh is faster and exact
DENSE_MAX = 20000  # above this many rows a dense eigh takes too much memory (3.2 GB) and time
BLOCK_SIZE = 4  # measured on meshes: fewest seconds for k = 64..100 (larger blocks need more solves)
DEFAULT_TOL = 1e-11  # relative residual ||L u - lambda M u|| / ||L||, M-unit u
BASIS_BYTES = 3 * 2**30  # most memory the Krylov basis may take before restarts shrink it
SUPERLU_ORDERING = "COLAMD"  # MMD_AT_PLUS_A fills less on small meshes but stalls on large ones
REORTHOGONALIZATION_FLOOR = 1e-14  # components below this (relative) are left as rounding noise


@dataclass(frozen=True, eq=False)
class Embedding:
    """Spectral features of a mesh: the first k Laplacian eigenvectors, scaled to be O(1) per vertex.

    `features[:, j]` is eigenvector j times sqrt(n) for graph Laplacians (unit-norm vectors then have
    mean square 1, as in the paper) and times sqrt(total area) for the cotangent Laplacian, whose
    eigenvectors are M-orthonormal: the area-weighted mean square is then 1 whatever the resolution, so
    the same surface meshed finer gives features of the same size.
    """

    eigenvalues: np.ndarray
    features: np.ndarray
    laplacian: str
    k: int

    @property
    def n_vertices(self) -> int:
        return self.features.shape[0]


def spectral_embedding(
    mesh: Mesh,
    k: int = 100,
    laplacian: str = "combinatorial",
    cache: bool = True,
    progress: Progress | None = None,
) -> Embedding:
    """The k-eigenvector spectral embedding of `mesh` for a Laplacian kind in LAPLACIANS.

    With `cache`, results are kept under cache_dir()/embeddings, keyed by the mesh geometry, the
    Laplacian, k and the solver version; a damaged cache file is ignored and rewritten.
    `progress(fraction, message)` is called as the computation advances (for a UI progress bar).
    """
    if laplacian not in LAPLACIANS:
        raise GinrError(f"Unknown Laplacian '{laplacian}'; choose one of {', '.join(LAPLACIANS)}.")
    _check_k(k, mesh.n_vertices)
    report = progress or (lambda fraction, message: None)
    path = _cache_path(mesh, laplacian, k) if cache else None
    if path is not None:
        cached = load_cached_embedding(path, mesh.n_vertices, laplacian, k)
        if cached is not None:
            report(1.0, "Loaded the spectral embedding from the cache.")
            return cached

    report(0.0, f"Building the {laplacian} Laplacian.")
    L, M = mesh_laplacian(mesh, laplacian)
    eigenvalues, vectors = eigenpairs(L, k, M, progress=lambda f, msg: report(0.02 + 0.96 * f, msg))
    scale = np.sqrt(mesh.n_vertices if M is None else M.diagonal().sum())
    embedding = Embedding(eigenvalues=eigenvalues, features=vectors * scale, laplacian=laplacian, k=k)
    if path is not None:
        save_cached_embedding(path, embedding)
    report(1.0, "Spectral embedding ready.")
    return embedding


def eigenpairs(
    L: sp.spmatrix | np.ndarray,
    k: int,
    M: sp.spmatrix | np.ndarray | None = None,
    *,
    tol: float = DEFAULT_TOL,
    progress: Progress | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The k smallest eigenvalues (ascending) and eigenvectors (n, k) of L u = lambda M u.

    L must be symmetric positive semi-definite; M, if given, a diagonal (lumped) positive mass matrix,
    as a sparse/dense matrix or the vector of its diagonal. Eigenvectors are orthonormal (M-orthonormal
    with M), and each is signed so its inner product with a fixed pseudo-random vector is positive: a
    rule with no ties even on symmetric meshes, so the same matrix always gives the same vectors.
    `tol` bounds the residual ||L u - lambda u|| relative to ||L|| (a row-sum bound), for the
    symmetric form M^-1/2 L M^-1/2 when M is given.

    BLAS runs single-threaded meanwhile: the solver makes thousands of small or memory-bound BLAS calls
    that extra threads barely speed up, and when the cores are busy (a model training beside it) the
    waiting threads made it 5 times slower in our measurements.
    """
    if threadpool_limits is None:
        return _eigenpairs(L, k, M, tol, progress)
    with threadpool_limits(limits=1, user_api="blas"):
        return _eigenpairs(L, k, M, tol, progress)


def _eigenpairs(L, k: int, M, tol: float, progress: Progress | None) -> tuple[np.ndarray, np.ndarray]:
    L = _as_symmetric_csr(L)
    n = L.shape[0]
    _check_k(k, n)
    report = _monotone(progress)
    inv_sqrt_mass = None if M is None else 1.0 / np.sqrt(_mass_diagonal(M, n))
    # With diagonal M, L u = lambda M u is the standard problem for M^-1/2 L M^-1/2 in u' = M^1/2 u.
    Lt = L if inv_sqrt_mass is None else (sp.diags(inv_sqrt_mass) @ L @ sp.diags(inv_sqrt_mass)).tocsr()
    norm = float(abs(Lt).sum(axis=1).max())
    if norm == 0.0:
        raise GinrError("The Laplacian is zero: the mesh has no edges.")

    if n <= DENSE_LIMIT or not _basis_fits(n, k, BLOCK_SIZE):
        eigenvalues, vectors = _dense_eigenpairs(Lt, k, report)
    else:
        eigenvalues, vectors = _shift_invert_lanczos(Lt, k, tol * norm, 1e-8 * norm, report)
    if eigenvalues[0] < -1e-8 * norm:
        raise GinrError("The Laplacian is not positive semi-definite (it has a negative eigenvalue).")
    if inv_sqrt_mass is not None:
        vectors = vectors * inv_sqrt_mass[:, None]
    report(1.0, f"Found {k} eigenpairs.")
    return eigenvalues, fix_signs(vectors)


def _shift_invert_lanczos(Lt: sp.csr_matrix, k: int, tol: float, cluster_tol: float, report: Progress):
    """Smallest k eigenpairs of the PSD matrix Lt by block Lanczos on (Lt + s I)^-1 (see module doc).

    A block Krylov space holds at most `block` copies of a repeated eigenvalue (symmetric meshes have
    them), so when `block` or more equal eigenvalues are found before the last one, further copies may
    be missing: the solve is then repeated with a larger block (same factorisation).
    """
    shift = 1e-6 * float(Lt.diagonal().mean())  # keeps Lt + s I definite; too small to slow convergence
    A = (Lt + shift * sp.eye(Lt.shape[0], format="csr")).tocsr()
    report(0.0, "Factorising the Laplacian.")
    solve = _factorize(A)
    block = BLOCK_SIZE
    while _basis_fits(A.shape[0], k, block):
        eigenvalues, vectors = _block_lanczos(A, solve, Lt, k, tol, block, report)
        cluster = _largest_inner_cluster(eigenvalues, cluster_tol)
        if cluster < block:
            return eigenvalues, vectors
        block = 2 * cluster
    return _dense_eigenpairs(Lt, k, report)


def _dense_eigenpairs(Lt: sp.csr_matrix, k: int, report: Progress) -> tuple[np.ndarray, np.ndarray]:
    n = Lt.shape[0]
    if n > DENSE_MAX:
        raise GinrError(f"k = {k} is too large a share of the {n:,} vertices to solve; ask for fewer eigenvectors.")
    report(0.1, "Solving the eigenproblem (dense).")
    return la.eigh(Lt.toarray(), subset_by_index=(0, k - 1))


def _basis_layout(n: int, k: int, b: int) -> tuple[int, int]:
    """(Ritz vectors kept across a restart, basis capacity): both whole blocks, so restarts align."""
    keep = b * -(-(k + max(2 * b, k // 4)) // b)  # the wanted vectors and a guard
    affordable = min(4 * k + 8 * b, BASIS_BYTES // (8 * n))
    return keep, keep + b * max(4, (affordable - keep) // b)


def _basis_fits(n: int, k: int, b: int) -> bool:
    """Whether the Krylov basis stays a small part of the space (else the dense solver is the tool)."""
    return _basis_layout(n, k, b)[1] + b <= n // 2


def _largest_inner_cluster(eigenvalues: np.ndarray, tol: float) -> int:
    """Size of the largest run of eigenvalues within `tol` of each other that ends before the last one."""
    largest, size = 0, 1
    for i in range(1, len(eigenvalues)):
        if eigenvalues[i] - eigenvalues[i - 1] <= tol:
            size += 1
        else:
            largest, size = max(largest, size), 1
    return largest


def _block_lanczos(A, solve, Lt, k: int, tol: float, b: int, report: Progress):
    """Smallest k eigenpairs of Lt = A - s I from block Lanczos on A^-1 with block size b.

    `solve` applies A^-1 to an (n, b) block. The basis is thick-restarted (Krylov-Schur) when it
    reaches its memory budget.
    """
    n = A.shape[0]
    keep, capacity = _basis_layout(n, k, b)
    V = np.empty((capacity + b, n))  # orthonormal basis, one vector per row
    H = np.zeros((capacity + b, capacity + b))  # V A^-1 V^T, filled as the basis grows
    rng = np.random.default_rng(0)
    V[:b] = la.qr(rng.standard_normal((n, b)), mode="economic")[0].T
    m, coupled_from, next_check = 0, 0, 2 * k
    report(0.1, "Computing eigenvectors.")
    while True:
        W = solve(V[m : m + b].T).T.copy()  # (b, n): A^-1 applied to the newest block
        scale = np.linalg.norm(W, axis=1).max()
        _orthogonalize(W, V, H, coupled_from, m + b, m)
        Q, R = la.qr(W.T, mode="economic")
        lost = np.abs(np.diag(R)) <= 1e-12 * scale
        if lost.any():  # the Krylov space is (nearly) invariant: go on in fresh random directions
            Q = _fresh_directions(Q, lost, V[: m + b], rng)
            R = Q.T @ W.T
        V[m + b : m + 2 * b] = Q.T
        H[m + b : m + 2 * b, m : m + b] = R
        m += b
        coupled_from = max(0, m - b)
        if m < next_check and m < capacity:
            continue
        next_check = m + max(b, k // 10)
        theta, Y = la.eigh(_symmetric(H[:m, :m]), subset_by_index=(m - min(keep, m), m - 1))
        theta, Y = theta[::-1], Y[:, ::-1]  # largest theta = smallest eigenvalue of Lt
        # Lanczos relation: A^-1 u - theta u = V_next^T R y_last, so Lt u - lambda u = -A (that) / theta
        coupling = R @ Y[m - b : m]
        A_next = A @ V[m : m + b].T
        gram = A_next.T @ A_next
        residuals = np.sqrt(np.maximum(np.einsum("ij,ij->j", coupling, gram @ coupling), 0.0)) / theta
        converged = int(np.argmin(np.append(residuals[:k] <= tol, False)))
        report(0.1 + 0.85 * converged / k, f"Computing eigenvectors: {converged} of {k} converged.")
        if converged == k:
            return _rayleigh_ritz(Lt, Y[:, :k].T @ V[:m])
        if m >= capacity:  # thick restart: keep the best Ritz vectors and the pending block
            V[:keep] = Y.T @ V[:m]
            V[keep : keep + b] = V[m : m + b]
            H[:] = 0.0
            H[np.arange(keep), np.arange(keep)] = theta
            H[keep : keep + b, :keep] = coupling
            m, coupled_from = keep, 0


def _orthogonalize(W: np.ndarray, V: np.ndarray, H: np.ndarray, local_from: int, end: int, column: int):
    """Make the rows of W orthogonal to V[:end], adding the coefficients to H's block column `column`.

    In exact arithmetic only V[local_from:end] couples to W (the block-tridiagonal Lanczos structure).
    Rounding leaves tiny components along older vectors that the shift-invert operator would amplify
    step after step, so they are measured against the whole basis (one pass over it) and removed, but
    only along the few vectors where they are not already at rounding level: this halves the memory
    traffic of a second full Gram-Schmidt pass, the dominant cost on meshes.
    """
    b = W.shape[0]
    local = V[local_from:end]
    C = local @ W.T
    W -= C.T @ local
    H[local_from:end, column : column + b] += C
    C = V[:end] @ W.T
    rows = np.flatnonzero(np.abs(C).max(axis=1) > REORTHOGONALIZATION_FLOOR * np.linalg.norm(W, axis=1).max())
    if rows.size:
        W -= C[rows].T @ V[rows]
        H[rows, column : column + b] += C[rows]


def _fresh_directions(Q: np.ndarray, lost: np.ndarray, V: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Q (n, b) with its `lost` columns replaced by random ones, orthonormalised against the rows of V."""
    Q = Q.copy()
    Q[:, lost] = rng.standard_normal((Q.shape[0], int(lost.sum())))
    for _ in range(2):
        Q -= V.T @ (V @ Q)
    return la.qr(Q, mode="economic")[0]


def _rayleigh_ritz(Lt: sp.csr_matrix, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenpairs of Lt restricted to the span of `rows` (orthonormal), as (values, vectors (n, k))."""
    vectors = rows.T
    eigenvalues, Z = la.eigh(_symmetric(vectors.T @ (Lt @ vectors)))
    return eigenvalues, vectors @ Z


def _factorize(A: sp.csr_matrix) -> Callable[[np.ndarray], np.ndarray]:
    """A solver X = solve(B), B of shape (n, r), for the sparse symmetric positive definite A.

    CHOLMOD's supernodal Cholesky (through cholespy) is preferred: on meshes its factor has about half
    the entries of SuperLU's LU and its block solves are 2-3 times faster. SuperLU is the fallback.
    """
    if cholespy is None:
        lu = sla.splu(A.tocsc(), permc_spec=SUPERLU_ORDERING, options={"SymmetricMode": True})
        return lu.solve
    try:
        factor = cholespy.CholeskySolverD(
            A.shape[0], A.indptr.astype(np.int32), A.indices.astype(np.int32), A.data, cholespy.MatrixType.CSR
        )
    except ValueError as exc:  # CHOLMOD: "Matrix is not positive definite!"
        raise GinrError("The Laplacian is not positive semi-definite.") from exc

    def solve(B: np.ndarray) -> np.ndarray:
        B = np.ascontiguousarray(B)
        X = np.empty_like(B)
        factor.solve(B, X)
        return X

    return solve


def _monotone(progress: Progress | None) -> Progress:
    """`progress` made never to go backwards (a rerun or a restart would otherwise move the bar back)."""
    highest = 0.0

    def report(fraction: float, message: str) -> None:
        nonlocal highest
        highest = max(highest, fraction)
        if progress is not None:
            progress(highest, message)

    return report


def _symmetric(T: np.ndarray) -> np.ndarray:
    return 0.5 * (T + T.T)


def fix_signs(vectors: np.ndarray) -> np.ndarray:
    """Each eigenvector with the sign that makes it agree with one fixed random vector: solvers return either
    sign, and a saved model must read the same features when they are recomputed."""
    reference = np.random.default_rng(12345).standard_normal(vectors.shape[0])
    signs = np.where(reference @ vectors < 0, -1.0, 1.0)
    return vectors * signs


def _as_symmetric_csr(L) -> sp.csr_matrix:
    L = sp.csr_matrix(L, dtype=np.float64)
    if L.shape[0] != L.shape[1]:
        raise GinrError(f"The Laplacian must be a square matrix, got shape {L.shape}.")
    if not np.isfinite(L.data).all():
        raise GinrError("The Laplacian has NaN or infinite entries.")
    asymmetry = abs(L - L.T).max() if L.nnz else 0.0
    if asymmetry > 1e-10 * max(abs(L).max(), 1e-300):
        raise GinrError("The Laplacian is not symmetric.")
    return L


def _mass_diagonal(M, n: int) -> np.ndarray:
    if sp.issparse(M) or (isinstance(M, np.ndarray) and M.ndim == 2):
        M = sp.csr_matrix(M)
        if M.shape != (n, n):
            raise GinrError(f"The mass matrix has shape {M.shape}, the Laplacian ({n}, {n}).")
        diagonal = M.diagonal()
        if abs(M - sp.diags(diagonal)).max() > 0:
            raise GinrError("The mass matrix must be diagonal (lumped).")
    else:
        diagonal = np.asarray(M, dtype=np.float64).ravel()
        if diagonal.shape != (n,):
            raise GinrError(f"The mass diagonal has {diagonal.size} entries, the Laplacian {n} rows.")
    if not (np.isfinite(diagonal).all() and (diagonal > 0).all()):
        raise GinrError("The mass matrix must have positive, finite diagonal entries.")
    return diagonal.astype(np.float64)


def _check_k(k: int, n: int) -> None:
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise GinrError(f"The number of eigenvectors k must be a positive integer, got {k!r}.")
    if k >= n:
        raise GinrError(f"k = {k} eigenvectors were asked for, but the mesh has {n:,} vertices: k must be below {n:,}.")


# --- cache --------------------------------------------------------------------------------------------


def _cache_path(mesh: Mesh, laplacian: str, k: int):
    key = hashlib.sha256(f"{mesh.content_hash()}|{laplacian}|{k}|{SOLVER_VERSION}".encode()).hexdigest()
    return cache_dir() / "embeddings" / f"{key[:40]}.npz"


def _checksum(eigenvalues: np.ndarray, features: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(eigenvalues).tobytes() + np.ascontiguousarray(features).tobytes()).hexdigest()


def load_cached_embedding(path, n: int, laplacian: str, k: int) -> Embedding | None:
    """The cached embedding at `path`, or None when it is missing, unreadable, does not fit or fails its
    checksum (a damaged disk or a file written by something else is recomputed, never used)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            eigenvalues, features = data["eigenvalues"], data["features"]
            fits = str(data["laplacian"]) == laplacian and int(data["k"]) == k
            intact = str(data["checksum"]) == _checksum(eigenvalues, features)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    if not (fits and intact) or eigenvalues.shape != (k,) or features.shape != (n, k) or not np.isfinite(features).all():
        return None
    return Embedding(eigenvalues=eigenvalues, features=features, laplacian=laplacian, k=k)


def save_cached_embedding(path, embedding: Embedding) -> None:
    """Written atomically (a crash leaves the old file or none, never half a file), with a checksum."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = dict(eigenvalues=embedding.eigenvalues, features=embedding.features,
                  laplacian=np.array(embedding.laplacian), k=np.array(embedding.k),
                  checksum=np.array(_checksum(embedding.eigenvalues, embedding.features)))
    atomic_write(path, lambda f: np.savez(f, **arrays))
