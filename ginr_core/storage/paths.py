"""Where GINR Studio keeps files: an embedding cache and a runs directory.

Both default to the user's per-platform directories and can be moved with the environment variables
GINR_CACHE_DIR and GINR_RUNS_DIR (tests point them at temporary folders).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "ginr-studio"


def cache_dir() -> Path:
    path = Path(os.environ.get("GINR_CACHE_DIR") or platformdirs.user_cache_dir(APP_NAME))
    path.mkdir(parents=True, exist_ok=True)
    return path


def runs_dir() -> Path:
    path = Path(os.environ.get("GINR_RUNS_DIR") or Path(platformdirs.user_data_dir(APP_NAME)) / "runs")
    path.mkdir(parents=True, exist_ok=True)
    return path
