"""The server as shipped: its Streamlit configuration, and nothing reaching the internet unless asked."""

import re
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from ginr_core.settings import LOAD_STRETCH, UPLOAD_MB, busy_seconds

REPO = Path(__file__).resolve().parents[1]


def test_config_is_safe_for_a_shared_server():
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    server, client = config["server"], config["client"]
    assert server["address"] == "127.0.0.1"  # serving to a network is an explicit --server.address
    assert server["maxUploadSize"] == UPLOAD_MB  # the app's own limit
    assert server["enableXsrfProtection"] is True and server["runOnSave"] is False
    assert config["browser"]["gatherUsageStats"] is False
    assert client["toolbarMode"] == "viewer" and client["showErrorDetails"] in ("type", "none")


def test_time_estimates_stretch_with_the_servers_load(monkeypatch):
    """An idle-machine estimate of 2 s took 9.4 s on a loaded 2-core server: estimates follow the load per core."""
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    monkeypatch.setattr("os.getloadavg", lambda: (8.0, 8.0, 8.0))
    assert busy_seconds(2.0) == 2.0 * LOAD_STRETCH * 4
    monkeypatch.setattr("os.getloadavg", lambda: (0.3, 0.3, 0.3))
    assert busy_seconds(2.0) == 2.0  # an idle server: the idle figure, never less


def test_streamlit_reads_the_config_from_the_readme_command_folder():
    code = ("from streamlit import config; config.get_config_options(force_reparse=True); "
            "print(config.get_option('server.maxUploadSize'), config.get_option('server.address'), "
            "config.get_option('browser.gatherUsageStats'), config.get_option('client.toolbarMode'))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120).stdout.split()
    assert out == [str(UPLOAD_MB), "127.0.0.1", "False", "viewer"]


@pytest.fixture
def offline(monkeypatch):
    """Any attempt to resolve a host name or open a connection fails the test."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args[:2])
        raise OSError("this test is offline")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", lambda self, address: refuse(address))
    return attempts


def test_pyvista_scenes_are_built_offline(offline):
    from ginr_core.geometry.domains import make_domain
    from ginr_core.viz.figures import vtk_scene_html

    mesh = make_domain("icosphere", level=2)
    html = vtk_scene_html(mesh, mesh.vertices[:, 2], "height")
    assert "OfflineLocalView.load" in html
    assert not re.search(r"""(src|href)\s*=\s*["'`]?https?://""", html)  # the page loads nothing from the internet
    assert "kitware.github.io/vtk-js/icon" not in html
    assert not offline


def test_pyvista_colour_bars_show_tiny_and_huge_values_in_a_power_of_ten():
    """vtk.js prints a bar's labels in full decimals, so values far from 1 are shown scaled, the title naming the power."""
    from ginr_core.viz.figures import label_power

    assert label_power(0.0, 3.2e-8) == -8 and label_power(-2.5e6, 1.0) == 6
    assert label_power(-1.5, 2.0) == label_power(0.0, 0.0) == label_power(0.001, 0.004) == 0


def test_dashboard_pyvista_viewer_works_offline(app, offline):
    at = app.switch_page("pages/data.py").run()
    at.sidebar.radio[0].set_value("PyVista").run()
    assert not at.exception and not at.error
    assert len(at.get("iframe")) >= 1
    assert not offline


def test_only_the_bunny_download_uses_the_network():
    network = re.compile(r"urllib\.request|urlopen|\brequests\b|httpx|aiohttp|http\.client|socket\.(socket|create_connection)")
    users = sorted(str(p.relative_to(REPO)) for p in [*REPO.glob("ginr_core/**/*.py"), *REPO.glob("pages/**/*.py"), REPO / "app.py"]
                   if network.search(p.read_text()))
    assert users == ["ginr_core/data/datasets.py",  # the bunny download
                     "ginr_core/runs/ray_backend.py"]  # the operator's Ray cluster (probed before Ray's long retries)
