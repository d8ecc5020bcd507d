"""A crash loses nothing: `kill -9` of a training process, then the registry, the embedding cache and the
dashboard are checked as a restarted server finds them."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ginr_core.cli import main
from ginr_core.geometry import spectral
from ginr_core.geometry.domains import make_domain
from ginr_core.runs.actions import predict_run
from ginr_core.runs.registry import Registry

REPO = Path(__file__).resolve().parents[1]


def _wait(condition, timeout: float, what: str):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_sigkill_during_training_loses_nothing(tmp_path, app, capsys, monkeypatch):
    assert main(["train", "--domain", "icosphere", "--signal", "sines", "--k", "16", "--steps", "30", "--budget", "60"]) == 0
    (finished,) = Registry().list_runs()
    assert finished.status == "done"

    env = {**os.environ, "PYTHONPATH": str(REPO)}  # GINR_RUNS_DIR / GINR_CACHE_DIR: this test's folders
    proc = subprocess.Popen([sys.executable, "-m", "ginr_core.cli", "train", "--domain", "torus", "--signal", "sines",
                             "--k", "16", "--budget", "600"], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        running = _wait(lambda: Registry().list_runs(status="running"), 120, "the second run to start")
        victim = running[0].id
        history = Registry().root / victim / "history.json"
        _wait(lambda: history.exists() and json.loads(history.read_text()), 120, "the learning curves to be saved")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)  # reaped, as a restarted server would find it: gone

    registry = Registry()  # opening it is what a restarted server does
    runs = {r.id: r for r in registry.list_runs()}
    assert set(runs) == {finished.id, victim}
    assert runs[victim].status == "interrupted"
    assert len(registry.load_history(victim)) >= 1  # its curves so far
    done = runs[finished.id]
    assert done.status == "done" and done.metrics["r2"] > 0
    _, prediction = predict_run(registry, finished.id)  # the checkpoint loads and predicts on rebuilt features
    np.testing.assert_allclose(prediction, registry.load_predictions(finished.id), rtol=1e-4, atol=1e-4)

    # The embedding cache: both domains' embeddings are there and pass their checksums (no solver runs).
    with monkeypatch.context() as patch:
        patch.setattr(spectral, "eigenpairs", lambda *a, **k: pytest.fail("a cached embedding was recomputed"))
        for name in ("icosphere", "torus"):
            assert spectral.spectral_embedding(make_domain(name), k=16).features.shape[1] == 16

    capsys.readouterr()
    assert main(["runs"]) == 0
    listing = capsys.readouterr().out
    assert finished.id in listing and victim in listing and "interrupted" in listing

    at = app.run()  # the dashboard starts normally on these folders and lists both runs
    assert not at.exception
    at.switch_page("pages/results.py").run()
    assert not at.exception and not at.error
    options = " | ".join(at.selectbox[0].options)
    assert finished.id in options and victim in options


def test_a_cache_file_killed_mid_write_is_never_half_there(tmp_path):
    """atomic_write under SIGKILL: the file is the old one or the new one, never a torn one."""
    target = tmp_path / "embedding.npz"
    script = (
        "import numpy as np, sys\n"
        "from ginr_core.geometry.spectral import Embedding, save_cached_embedding\n"
        "from pathlib import Path\n"
        "path = Path(sys.argv[1])\n"
        "for i in range(10**6):\n"
        "    f = np.full((200_000, 8), float(i))\n"
        "    save_cached_embedding(path, Embedding(np.arange(8.0), f, 'combinatorial', 8))\n"
        "    print(i, flush=True)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, str(target)], cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                            stdout=subprocess.PIPE, text=True)
    proc.stdout.readline()  # one file written; the next ones are being written when the kill comes
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    loaded = spectral.load_cached_embedding(target, 200_000, "combinatorial", 8)
    assert loaded is not None and np.ptp(loaded.features) == 0  # complete and self-consistent

    damaged = bytearray(target.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF  # a flipped bit on disk: the checksum refuses the file
    target.write_bytes(bytes(damaged))
    assert spectral.load_cached_embedding(target, 200_000, "combinatorial", 8) is None
