import io
import tarfile

import pytest
import trimesh

from ginr_core.data.datasets import BUNNY_MEMBER, stanford_bunny
from ginr_core.errors import GinrError
from ginr_core.geometry.mesh import load_mesh


def test_bunny_download_extracts_and_caches(tmp_path):
    ply = trimesh.creation.icosphere(subdivisions=2).export(file_type="ply")
    archive = tmp_path / "bunny.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo(BUNNY_MEMBER)
        info.size = len(ply)
        tar.addfile(info, io.BytesIO(ply))
    path = stanford_bunny(url=archive.as_uri())
    assert load_mesh(path)[0].n_vertices == 162
    archive.unlink()  # a second call must not download again
    assert stanford_bunny(url=archive.as_uri()) == path


def test_bunny_download_failure_is_explained(tmp_path):
    with pytest.raises(GinrError, match="Could not download"):
        stanford_bunny(url=(tmp_path / "missing.tar.gz").as_uri())
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"not a tarball")
    with pytest.raises(GinrError, match="not the expected archive"):
        stanford_bunny(url=bad.as_uri())
