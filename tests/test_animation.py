import io

import numpy as np
import pytest

from ginr_core.errors import GinrError
from ginr_core.geometry.domains import make_domain
from ginr_core.viz.animation import animation_bytes, render_frames


@pytest.fixture(scope="module")
def wave():
    mesh = make_domain("icosphere", level=3)
    x = mesh.vertices[:, 0]
    truth = np.stack([np.sin(3 * x + 0.8 * t) for t in range(4)])
    return mesh, truth, [f"t = {t}" for t in range(4)]


def test_frames_show_the_signal_changing(wave):
    mesh, truth, labels = wave
    frames = list(render_frames(mesh, {"truth": truth, "prediction": -truth}, labels, panel_size=(200, 160)))
    assert len(frames) == 4 and frames[0].shape == (160, 400, 3)
    coloured = (frames[0].max(axis=2) - frames[0].min(axis=2)) > 40  # viridis pixels, not white or grey
    assert coloured[:, :200].mean() > 0.1 and coloured[:, 200:].mean() > 0.1  # both panels drawn
    assert np.abs(frames[0].astype(int) - frames[2].astype(int)).mean() > 1  # the animation moves


def test_gif_and_mp4_decode(wave):
    import av
    from PIL import Image

    mesh, truth, labels = wave
    gif = animation_bytes(mesh, {"truth": truth}, labels, "gif", fps=5, panel_size=(160, 120))
    assert Image.open(io.BytesIO(gif)).n_frames == 4
    mp4 = animation_bytes(mesh, {"truth": truth}, labels, "mp4", fps=5, panel_size=(161, 121))  # odd sizes are cropped
    with av.open(io.BytesIO(mp4)) as video:
        frames = list(video.decode(video=0))
    assert len(frames) == 4 and (frames[0].width, frames[0].height) == (160, 120)


def test_bad_animations_are_explained(wave):
    mesh, truth, labels = wave
    with pytest.raises(GinrError, match="shape"):
        list(render_frames(mesh, {"truth": truth[:, :10]}, labels))
    with pytest.raises(GinrError, match="format"):
        animation_bytes(mesh, {"truth": truth}, labels, "avi")


def test_exported_frames_keep_every_panel_inside_its_margins():
    """The names, the time label, the colour bars (with their clipping note) and the mesh stay inside each panel:
    the export used to cut the bar titles, the time label and the right-hand mesh. A long shape, a clipped scale
    and long labels, at the export's default panel size."""
    from ginr_core.viz.animation import PANEL_MARGIN_PX

    mesh = make_domain("icosphere", level=3)
    mesh = type(mesh)(mesh.vertices * np.array([1.0, 1.0, 2.5]), mesh.faces)  # tall: longest along the up axis
    x = mesh.vertices[:, 0]
    truth = np.stack([np.sin(3 * x + t) + (x > 0.98) * 40.0 for t in range(2)])  # outliers: a clipped scale
    labels = ["t = 0.000 days since 1979-01-01", "t = 1.000 days since 1979-01-01"]
    (frame, _) = render_frames(mesh, {"ground truth": truth, "prediction (spectral GINR)": truth * 0.9}, labels)
    width = frame.shape[1] // 2
    for panel in (frame[:, :width], frame[:, width:]):
        drawn = (panel < 235).any(axis=2)  # anything but the white background
        border = PANEL_MARGIN_PX - 3
        assert drawn.mean() > 0.05  # the panel shows something
        assert not drawn[:border].any() and not drawn[-border:].any(), "cut at the top or bottom"
        assert not drawn[:, :border].any() and not drawn[:, -border:].any(), "cut at the left or right"
