"""Where runs live: one folder per run under runs_dir(), indexed in a small SQLite database.

runs_dir()/index.sqlite         id, created, status, description, config, final metrics, owner pid
runs_dir()/<id>/config.json     the run spec (runs.spec.RunSpec) and the description
runs_dir()/<id>/inputs.npz      the arrays it was trained on (runs.spec.RunInputs)
runs_dir()/<id>/history.json    progress rows (step, loss, r2, lr, ...)
runs_dir()/<id>/predictions.npy final full-domain prediction (original units)
runs_dir()/<id>/metrics.json    final metrics (ginr_core.learning.metrics.evaluate)
runs_dir()/<id>/model.pt, model.json   checkpoint (GINRRegressor.save)

Every file is written to a temporary name and moved into place with os.replace, and a run is marked
"done" only after all its files are in place: a crash can leave a run "running" but never a half-written
checkpoint marked done. A run still "running" whose owning process is gone is marked "interrupted"
when a registry is opened. Run ids are generated (time + random), never built from user text.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import secrets
import socket
import sqlite3
import threading
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import GinrError
from ..storage.files import atomic_write
from ..storage.paths import runs_dir

if TYPE_CHECKING:
    from ..learning.training import GINRRegressor
    from .spec import RunInputs, RunSpec

STATUSES = ("running", "done", "failed", "cancelled", "interrupted")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    status TEXT NOT NULL,
    description TEXT NOT NULL,
    config TEXT NOT NULL,
    metrics TEXT,
    error TEXT,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL
)
"""


def _json_bytes(obj: Any) -> bytes:
    """Strict JSON (other tools and browsers reject Infinity / NaN): non-finite numbers, such as the infinite
    PSNR of an exact fit, are stored as null."""
    return json.dumps(_finite(json.loads(json.dumps(obj, default=_jsonable))), indent=2, allow_nan=False).encode()


def _finite(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {key: _finite(value) for key, value in obj.items()}
    if isinstance(obj, list):
        return [_finite(value) for value in obj]
    return obj


def _jsonable(obj: Any) -> Any:
    if is_dataclass(obj):
        return asdict(obj)
    if isinstance(obj, np.generic | np.ndarray):
        return obj.tolist()
    raise TypeError(f"Cannot store {type(obj).__name__} as JSON.")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if os.name == "nt":  # os.kill(pid, 0) would send CTRL_C_EVENT on Windows
        import ctypes

        handle = ctypes.windll.kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        code = ctypes.c_ulong()
        ctypes.windll.kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        ctypes.windll.kernel32.CloseHandle(handle)
        return code.value == 259  # STILL_ACTIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


@dataclass(frozen=True)
class RunInfo:
    id: str
    created: str
    updated: str
    status: str
    description: dict
    config: dict
    metrics: dict | None
    error: str | None
    path: Path

    @property
    def spec(self) -> RunSpec:
        """The run spec it was launched from (GinrError for runs recorded before specs existed)."""
        from .spec import RunSpec

        return RunSpec.from_dict(self.config)


class Registry:
    """The run index. Safe to share between threads (one lock, one short connection per call)."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else runs_dir()
        self.root.mkdir(parents=True, exist_ok=True)
        self.db_path = self.root / "index.sqlite"
        self._lock = threading.RLock()
        self._host = socket.gethostname()
        with self._connect() as db:
            db.execute(_SCHEMA)
        self.mark_interrupted()

    def _connect(self) -> _Closing:
        db = sqlite3.connect(self.db_path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        return _Closing(db)

    def _execute(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        with self._lock, self._connect() as db:
            return db.execute(sql, params).fetchall()

    def mark_interrupted(self) -> list[str]:
        """Mark "running" runs of dead processes on this host as "interrupted"; return their ids."""
        rows = self._execute("SELECT id, host, pid FROM runs WHERE status = 'running'")
        dead = [row["id"] for row in rows if row["host"] == self._host and not _pid_alive(row["pid"])]
        for run_id in dead:
            self._execute("UPDATE runs SET status = 'interrupted', updated = ? WHERE id = ? AND status = 'running'", (_now(), run_id))
        return dead

    # -- writing -------------------------------------------------------------------------------------
    def create_run(self, spec: RunSpec, inputs: RunInputs | None = None) -> str:
        """Create a run folder and index row with status "running" from its spec (and arrays); return the new id."""
        description = spec.description()
        run_id = f"{dt.datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(4)}"
        path = self.root / run_id
        path.mkdir()
        config = spec.to_dict()
        atomic_write(path / "config.json", _json_bytes({"id": run_id, "description": description, **config}))
        if inputs is not None:
            atomic_write(path / "inputs.npz", lambda f: np.savez(f, **inputs.arrays()))
        now = _now()
        self._execute(
            "INSERT INTO runs (id, created, updated, status, description, config, host, pid) VALUES (?, ?, ?, 'running', ?, ?, ?, ?)",
            (run_id, now, now, _json_bytes(description).decode(), _json_bytes(config).decode(), self._host, os.getpid()),
        )
        return run_id

    def save_history(self, run_id: str, history: list[dict]) -> None:
        atomic_write(self.run_dir(run_id) / "history.json", _json_bytes(history))

    def finish(
        self,
        run_id: str,
        status: str,
        *,
        regressor: GINRRegressor | None = None,
        predictions: np.ndarray | None = None,
        metrics: dict | None = None,
        history: list[dict] | None = None,
        error: str | None = None,
    ) -> None:
        """Write the run's files, then (last) its final status."""
        if status not in STATUSES:
            raise GinrError(f"Unknown run status {status!r}.")
        path = self.run_dir(run_id)
        if history is not None:
            self.save_history(run_id, history)
        if predictions is not None:
            atomic_write(path / "predictions.npy", lambda f: np.save(f, np.asarray(predictions)))
        if metrics is not None:
            atomic_write(path / "metrics.json", _json_bytes(metrics))
        if regressor is not None:
            regressor.save(path)
        self._execute(
            "UPDATE runs SET status = ?, updated = ?, metrics = ?, error = ? WHERE id = ?",
            (status, _now(), None if metrics is None else _json_bytes(metrics).decode(), error, run_id),
        )

    def load_inputs(self, run_id: str) -> RunInputs:
        """The arrays a run was trained on (its mesh, target and task arrays)."""
        from .spec import RunInputs

        path = self.run_dir(run_id) / "inputs.npz"
        if not path.exists():
            raise GinrError(f"Run {run_id} has no saved inputs.")
        with np.load(path, allow_pickle=False) as data:
            return RunInputs.from_arrays({key: data[key] for key in data.files}, name=self.get(run_id).description.get("domain", ""))

    def delete(self, run_id: str) -> None:
        path = self.run_dir(run_id)
        self._execute("DELETE FROM runs WHERE id = ?", (run_id,))
        for child in path.iterdir():
            child.unlink()
        path.rmdir()

    # -- reading -------------------------------------------------------------------------------------
    def run_dir(self, run_id: str) -> Path:
        """The folder of an existing run (ids are looked up, never used as paths unchecked)."""
        if not self._execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)):
            raise GinrError(f"No run with id {run_id!r}.")
        return self.root / run_id

    def resolve(self, text: str) -> str:
        """The id of the one run `text` names, as git takes a commit: the id itself, or a start of it or of one of
        its dash-separated parts (an id is DATE-TIME-HASH: "164349" names the run made at 16:43:49 that day) that
        no other run shares. Unknown or ambiguous: a GinrError saying which."""
        text = text.strip()
        if text and self._execute("SELECT 1 FROM runs WHERE id = ?", (text,)):
            return text
        ids = [row[0] for row in self._execute("SELECT id FROM runs ORDER BY created DESC, id DESC")] if text else []
        matches = [run_id for run_id in ids if run_id.startswith(text) or any(p.startswith(text) for p in run_id.split("-"))]
        if not matches:
            raise GinrError(f"No run with id {text!r} (nor one starting so); `ginr runs` lists them.")
        if len(matches) > 1:
            shown = ", ".join(matches[:5]) + (f" and {len(matches) - 5} more" if len(matches) > 5 else "")
            raise GinrError(f"{text!r} names {len(matches)} runs ({shown}): give more of the id.")
        return matches[0]

    def get(self, run_id: str) -> RunInfo:
        rows = self._execute("SELECT * FROM runs WHERE id = ?", (run_id,))
        if not rows:
            raise GinrError(f"No run with id {run_id!r}.")
        return self._info(rows[0])

    def list_runs(self, status: str | None = None, limit: int | None = None) -> list[RunInfo]:
        """Newest first."""
        sql, params = "SELECT * FROM runs", ()
        if status is not None:
            sql, params = sql + " WHERE status = ?", (status,)
        sql += " ORDER BY created DESC, id DESC"
        if limit is not None:
            sql, params = sql + " LIMIT ?", (*params, int(limit))
        return [self._info(row) for row in self._execute(sql, params)]

    def load_history(self, run_id: str) -> list[dict]:
        path = self.run_dir(run_id) / "history.json"
        return json.loads(path.read_text()) if path.exists() else []

    def load_predictions(self, run_id: str) -> np.ndarray:
        path = self.run_dir(run_id) / "predictions.npy"
        if not path.exists():
            raise GinrError(f"Run {run_id} has no saved predictions (status {self.get(run_id).status}).")
        return np.load(path, allow_pickle=False)

    def load_regressor(self, run_id: str, device: str = "cpu") -> GINRRegressor:
        from ..learning.training import GINRRegressor  # training imports this module

        return GINRRegressor.load(self.run_dir(run_id), device=device)

    def _info(self, row: sqlite3.Row) -> RunInfo:
        return RunInfo(
            id=row["id"],
            created=row["created"],
            updated=row["updated"],
            status=row["status"],
            description=json.loads(row["description"]),
            config=json.loads(row["config"]),
            metrics=None if row["metrics"] is None else json.loads(row["metrics"]),
            error=row["error"],
            path=self.root / row["id"],
        )


class _Closing:
    """sqlite3's own context manager commits but does not close; this one closes."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        return self.db

    def __exit__(self, *exc) -> None:
        self.db.close()
