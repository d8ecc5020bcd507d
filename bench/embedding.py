"""Benchmark: our Laplacian eigensolver against scipy's `eigsh(L, k, which="SM")`, side by side.

    python bench/embedding.py            # bunny, k=100, then k=64 on the bunny subdivided twice
    python bench/embedding.py --quick    # a small generated sphere, for a smoke run in seconds

Both solvers get the same combinatorial Laplacian in the same process, one after the other, so the
ratio holds even on a busy machine. The large case runs in a child process so its peak resident memory
(scipy's and CHOLMOD's C allocations included, which tracemalloc cannot see) is read from the kernel.
The embedding cache is never involved. The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from scipy.sparse.linalg import eigsh

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ginr_core.geometry.laplacian import mesh_laplacian  # noqa: E402
from ginr_core.geometry.mesh import Mesh, load_mesh, subdivide  # noqa: E402
from ginr_core.geometry.spectral import eigenpairs  # noqa: E402

BUNNY = REPO.parent / "shared" / "data" / "bunny.ply"


def max_residual(L, values: np.ndarray, vectors: np.ndarray) -> float:
    """Largest ||L u - lambda u|| over the eigenpairs, each u scaled to unit norm."""
    norms = np.linalg.norm(vectors, axis=0)
    return float((np.linalg.norm(L @ vectors - vectors * values, axis=0) / norms).max())


def test_meshes(quick: bool) -> tuple[Mesh, Mesh, int, int]:
    """(mesh, large mesh, k, large k) for the chosen mode."""
    if quick:
        import trimesh

        small, large = (trimesh.creation.icosphere(subdivisions=s) for s in (4, 5))
        return Mesh(small.vertices, small.faces, "icosphere 4"), Mesh(large.vertices, large.faces, "icosphere 5"), 16, 16
    if not BUNNY.is_file():
        sys.exit(f"The bunny mesh is missing: expected it at {BUNNY}. Run with --quick for a smoke test without it.")
    bunny, _ = load_mesh(BUNNY)
    return bunny, subdivide(bunny, 2), 100, 64


def timed(function, *args):
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


def large_case(quick: bool) -> None:
    """Child process: solve the large case and print its figures as JSON."""
    _, mesh, _, k = test_meshes(quick)
    L, _ = mesh_laplacian(mesh, "combinatorial")
    (values, vectors), seconds = timed(eigenpairs, L, k)
    print(json.dumps({"n": L.shape[0], "k": k, "seconds": seconds, "residual": max_residual(L, values, vectors)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small generated meshes: a smoke run in seconds")
    parser.add_argument("--large-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    # The bunny subdivided twice has 556,051 nodes (subdivide checks its estimate, 34,834 x 4^2 = 557,344), over
    # a server's default GINR_MAX_NODES: this benchmark needs them. The child process inherits the limit.
    os.environ["GINR_MAX_NODES"] = str(max(600_000, int(os.environ.get("GINR_MAX_NODES", 0))))
    if args.large_child:
        large_case(args.quick)
        return

    mesh, large_mesh, k, large_k = test_meshes(args.quick)
    L, _ = mesh_laplacian(mesh, "combinatorial")
    n = L.shape[0]
    print(f"{mesh.name}: {n:,} vertices, combinatorial Laplacian, k={k}")

    (ref_values, ref_vectors), reference_s = timed(lambda: eigsh(L, k=k, which="SM"))
    order = np.argsort(ref_values)
    ref_values, ref_vectors = ref_values[order], ref_vectors[:, order]
    reference_residual = max_residual(L, ref_values, ref_vectors)
    print(f"  reference eigsh(L, k={k}, which='SM'): {reference_s:8.2f} s   max residual {reference_residual:.1e}")

    (values, vectors), ours_s = timed(eigenpairs, L, k)
    residual = max_residual(L, values, vectors)
    print(f"  ginr_core.geometry.spectral.eigenpairs:        {ours_s:8.2f} s   max residual {residual:.1e}")
    print(f"  speedup {reference_s / ours_s:.1f}x; largest eigenvalue difference {np.abs(values - ref_values).max():.1e}")

    print(f"{large_mesh.name}: k={large_k} in a child process ...", flush=True)
    child = subprocess.run(
        [sys.executable, __file__, "--large-child"] + (["--quick"] if args.quick else []),
        capture_output=True,
        text=True,
    )
    if child.returncode != 0:
        sys.exit(f"The large case failed:\n{child.stderr}")
    large = json.loads(child.stdout.strip().splitlines()[-1])
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024 / 1e9  # Linux: kilobytes
    print(
        f"  {large['n']:,} vertices: {large['seconds']:.2f} s, max residual {large['residual']:.1e}, "
        f"peak memory {peak_gb:.2f} GB (whole process: mesh loading and subdivision included)"
    )

    print(
        json.dumps(
            {
                "n_nodes": n,
                "k": k,
                "reference_s": round(reference_s, 3),
                "ours_s": round(ours_s, 3),
                "speedup": round(reference_s / ours_s, 2),
                "max_residual": residual,
                "large_n": large["n"],
                "large_k": large["k"],
                "large_s": round(large["seconds"], 3),
                "large_peak_gb": round(peak_gb, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
