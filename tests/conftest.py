from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_file(name: str) -> Path:
    """Path of a file in ../shared/data, or skip the test when it is not there."""
    path = SHARED_DATA / name
    if not path.is_file():
        pytest.skip(f"{path} not available")
    return path


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path, monkeypatch):
    """Never touch the real cache or runs directories from a test."""
    monkeypatch.setenv("GINR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("GINR_RUNS_DIR", str(tmp_path / "runs"))
