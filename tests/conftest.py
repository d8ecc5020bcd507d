import dataclasses
import io
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_file(name: str) -> Path:
    """Path of a file in ../shared/data, or skip the test when it is not there."""
    path = SHARED_DATA / name
    if not path.is_file():
        pytest.skip(f"{path} not available")
    return path


def pytest_collection_modifyitems(items):
    """The suite runs on two workers (pyproject's addopts, pytest-xdist); tests that must not overlap share a group,
    which one worker runs in turn: the browser tests (each file's server and chromium, and their waits, one at a
    time) and the Ray tests (one local Ray at a time, the Sweeps page's included)."""
    for item in items:
        name = item.path.name
        group = "ray" if "ray" in name else "browser" if name.startswith("test_browser") else None
        if group:
            item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path, monkeypatch):
    """Never touch the real cache or runs directories from a test."""
    monkeypatch.setenv("GINR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("GINR_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("GINR_BACKEND", "local")  # the dashboard's worker processes are tested in test_process_backend


REPO = Path(__file__).resolve().parents[1]
APP = str(REPO / "app.py")


@pytest.fixture
def app():
    """The dashboard under AppTest, with fresh Streamlit caches and no background job left running: neither the
    server's training jobs nor any job the test's pages keep in its session."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    st.cache_resource.clear()  # the registry and job store follow this test's GINR_RUNS_DIR
    st.cache_data.clear()
    at = AppTest.from_file(APP, default_timeout=120)
    yield at
    from pages.shared.runs import _live_jobs

    for job in [*_live_jobs(), *session_jobs(at)]:
        job.cancel()
        job.join(timeout=30)
    st.cache_resource.clear()


@pytest.fixture
def page(app, request):
    """The dashboard opened on the page its test module names (`PAGE`)."""
    return app.switch_page(request.module.PAGE).run()


def session_jobs(at) -> list:
    """The background jobs the pages keep in the session: as they are, in a tuple (a preparation, an export) or in a
    field of a page's record of its launch (a dataclass: a comparison, a crop session)."""
    from ginr_core.runs.jobs import Job
    from pages.shared.runs import FollowedJob

    jobs = []
    for key in at.session_state:
        value = at.session_state[key]
        held = vars(value).values() if dataclasses.is_dataclass(value) else value if isinstance(value, tuple) else [value]
        jobs += [item for item in held if isinstance(item, (Job, FollowedJob))]
    return jobs


def labelled(widgets, label):
    """The AppTest widget with this label among `widgets` (fails listing the labels there are)."""
    matches = [w for w in widgets if w.label == label]
    assert matches, f"no widget {label!r} among {[w.label for w in widgets]}"
    return matches[0]


def button(at, label):
    return labelled(at.button, label)


def number(at, label):
    return labelled(at.number_input, label)


def radio(at, label):
    return labelled(at.radio, label)


def as_written(markdown: str) -> str:
    """What a reader sees of markdown that shows names as written (`pages.shared.widgets.plain`): no escapes, no
    word joiners."""
    return re.sub(r"\\(.)", r"\1", markdown.replace("\u2060", ""))


def run_job(at, label: str, job, timeout: float = 60):
    """Click the button `label`, wait for the background job it starts (`job(at.session_state)`) to end done, and
    run the page again to show its results: AppTest draws a page once, it does not keep the panel refreshing."""
    button(at, label).click().run()
    assert not at.exception and not at.error
    state = job(at.session_state).join(timeout=timeout)
    assert state.status == "done", state.error
    return at.run()


def npy_bytes(values) -> bytes:
    """`values` as the bytes of an uploaded .npy file."""
    buffer = io.BytesIO()
    np.save(buffer, values)
    return buffer.getvalue()


def _views(at, charts: bool) -> list:
    import json

    return [view for view in at.get("component_instance")
            if (json.loads(view.proto.json_args).get("bar") is False) == charts]


def scene_views(at) -> list:
    """The page's linked scene views (AppTest component instances; their json_args hold the figures)."""
    return _views(at, charts=False)


def charts(at) -> list[dict]:
    """The Plotly figures the page draws as charts (pages.shared.scene_view.chart), as JSON dicts."""
    import json

    return [json.loads(json.loads(view.proto.json_args)["figures"][0]) for view in _views(at, charts=True)]


def prepared(at, timeout: float = 120):
    """Run the page again once the data it prepares off its script thread (pages.shared.job_panel.prepare) is ready:
    AppTest draws a page once, it does not keep the panel's fragment refreshing."""
    for key in [key for key in at.session_state if key.startswith("preparing-")]:
        if isinstance(at.session_state[key], tuple):  # (job, text, context); not its Cancel button's state
            at.session_state[key][0].join(timeout=timeout)
    return at.run()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SERVER_LOG = "server.log"


@contextmanager
def streamlit_server(folder: Path):
    """`streamlit run app.py` on a free loopback port, with its cache and runs folders under `folder` and its log
    (its worker processes' too) in folder/SERVER_LOG; yields its URL. Its jobs run on the dashboard's default
    backend (worker processes)."""
    port = _free_port()
    env = {**os.environ, "GINR_CACHE_DIR": str(folder / "cache"), "GINR_RUNS_DIR": str(folder / "runs"),
           "RAY_gcs_rpc_server_reconnect_timeout_s": "3"}  # a Ray driver that lost its GCS ends in 3 s, not 60
    env.pop("GINR_BACKEND", None)
    with open(folder / SERVER_LOG, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(REPO / "app.py"), "--server.headless", "true",
             "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false"],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("the Streamlit server did not start")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:  # a job still training in a worker holds the exit: its workers follow the server
            proc.kill()
            proc.wait(timeout=30)


@pytest.fixture(scope="session")
def served(tmp_path_factory):
    """The app served (`streamlit_server`), shared by the browser tests (a server start costs seconds): (its URL, its
    runs folder); its log is the runs folder's sibling SERVER_LOG."""
    folder = tmp_path_factory.mktemp("server")
    with streamlit_server(folder) as url:
        yield url, folder / "runs"


@pytest.fixture(scope="session")
def server(served):
    """The shared server's URL."""
    return served[0]
