import io
import zipfile

import numpy as np
import pytest

from ginr_core.errors import GinrError
from ginr_core.geometry.domains import icosphere
from ginr_core.geometry.mesh import read_mesh
from ginr_core.io.export import checkpoint_zip_bytes, ply_bytes, reference_npz_bytes


def test_ply_with_scalars_round_trips_through_our_reader():
    mesh = icosphere(2)
    pred = mesh.vertices[:, 0] * 2
    data = ply_bytes(mesh, {"prediction": pred, "error": pred**2})
    back = read_mesh(data, filename="out.ply")
    np.testing.assert_allclose(back.vertices, mesh.vertices, atol=1e-6)
    np.testing.assert_array_equal(back.faces, mesh.faces)
    np.testing.assert_allclose(back.vertex_data["prediction"], pred, rtol=1e-6)
    np.testing.assert_allclose(back.vertex_data["error"], pred**2, rtol=1e-6)


def test_ply_rejects_bad_scalars():
    mesh = icosphere(1)
    with pytest.raises(GinrError, match="one value per vertex"):
        ply_bytes(mesh, {"p": np.zeros(3)})
    with pytest.raises(GinrError, match="not a valid PLY property"):
        ply_bytes(mesh, {"bad name": np.zeros(mesh.n_vertices)})


def test_reference_npz_layout():
    mesh = icosphere(1)
    data = reference_npz_bytes(mesh.vertices, np.ones((42, 5)), np.arange(42.0), faces=mesh.faces, time=0.5)
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        assert z["target"].shape == (42, 1) and z["fourier"].shape == (42, 5)
        assert float(z["time"]) == 0.5 and z["faces"].shape == (80, 3)


def test_checkpoint_zip(tmp_path):
    with pytest.raises(GinrError, match="no checkpoint"):
        checkpoint_zip_bytes(tmp_path)
    (tmp_path / "model.pt").write_bytes(b"weights")
    (tmp_path / "model.json").write_text("{}")
    names = zipfile.ZipFile(io.BytesIO(checkpoint_zip_bytes(tmp_path))).namelist()
    assert sorted(names) == sorted([f"{tmp_path.name}/model.pt", f"{tmp_path.name}/model.json"])
