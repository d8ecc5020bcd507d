"""Soak test of the dashboard's memory: 30 short training runs in one session, the resident memory after each.

The dashboard runs in-process under Streamlit's AppTest (the same page scripts a browser session runs, with the
server's caches and live-job store), so the process's resident set size is what a server would hold. Each run
launches on the Train page, trains a few steps in the background, is followed to the end and then viewed on the
Results page (figures built, downloads offered). Goal: the growth from the third run to the last stays under
150 MB (the first runs load libraries and fill caches). The runs train on the dashboard's default backend (worker
processes, GINR_BACKEND to change it); the workers' resident memory is printed beside the server's.

    python bench/soak.py [--runs 30] [--budget 2]

Ends with one JSON line: {"runs": ..., "rss_mb": [...], "rss_growth_mb": last - third, "workers_rss_mb": [...], ...}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def workers_rss_mb() -> float:
    """Resident memory of this process's children in MB (the training worker processes; Linux /proc only)."""
    total = 0.0
    for children in Path("/proc/self/task").glob("*/children"):
        for pid in children.read_text().split():
            total += rss_mb(pid)
    return total


def rss_mb(pid: str = "self") -> float:
    """Resident set size of a process (this one by default) in MB (Linux /proc; psutil elsewhere)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import psutil

    return psutil.Process(None if pid == "self" else int(pid)).memory_info().rss / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--budget", type=float, default=2.0, help="seconds per run (default 2)")
    args = parser.parse_args()

    scratch = tempfile.mkdtemp(prefix="ginr-soak-")
    os.environ["GINR_RUNS_DIR"] = f"{scratch}/runs"
    os.environ["GINR_CACHE_DIR"] = f"{scratch}/cache"
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=180)
    at.run()
    from pages.shared.runs import live_jobs

    at.switch_page("pages/train.py").run()
    inputs = {n.label: n for n in at.number_input}
    inputs["Time budget (s)"].set_value(args.budget)
    inputs["Embedding size (k)"].set_value(32)
    rss, workers, t0 = [], [], time.perf_counter()
    for i in range(args.runs):
        at.switch_page("pages/train.py").run()
        launch = next(b for b in at.button if b.label == "Launch training")
        launch.click().run()
        if at.exception or at.error:
            sys.exit(f"run {i}: {[e.value for e in at.error] or at.exception}")
        at.session_state.following.join(timeout=120)
        at.run()
        at.switch_page("pages/results.py").run()
        rss.append(rss_mb())
        workers.append(workers_rss_mb())
        print(f"run {i + 1:3d}: resident memory {rss[-1]:7.1f} MB (worker processes {workers[-1]:7.1f} MB), "
              f"live jobs {len(live_jobs())}", flush=True)
    growth = rss[-1] - rss[min(2, len(rss) - 1)]
    print(f"\n{args.runs} runs in {time.perf_counter() - t0:.0f} s; resident memory {rss[0]:.0f} -> {rss[-1]:.0f} MB; "
          f"growth after the third run {growth:.1f} MB (goal <= 150)")
    print(json.dumps({"runs": args.runs, "rss_mb": [round(r, 1) for r in rss], "rss_growth_mb": round(growth, 1),
                      "workers_rss_mb": [round(r, 1) for r in workers],
                      "workers_rss_growth_mb": round(workers[-1] - workers[min(2, len(workers) - 1)], 1),
                      "live_jobs_left": len(live_jobs())}))


if __name__ == "__main__":
    main()
