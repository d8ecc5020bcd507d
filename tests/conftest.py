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
    monkeypatch.setenv("GINR_BACKEND", "local")  # the dashboard's worker processes are tested in test_process_backend


APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture
def app():
    """The dashboard under AppTest, with fresh Streamlit caches and no training job left running."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    st.cache_resource.clear()  # the registry and job store follow this test's GINR_RUNS_DIR
    st.cache_data.clear()
    at = AppTest.from_file(APP, default_timeout=120)
    yield at
    from pages.shared.runs import _live_jobs

    for job in list(_live_jobs()):
        job.cancel()
        job.join(timeout=30)
    st.cache_resource.clear()


def button(at, label):
    """The AppTest button with this label (fails listing the labels there are)."""
    matches = [b for b in at.button if b.label == label]
    assert matches, f"no button {label!r} among {[b.label for b in at.button]}"
    return matches[0]
