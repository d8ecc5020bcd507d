"""Public data downloaded on demand (machines with internet) into the cache directory."""

from __future__ import annotations

import io
import os
import tarfile
import urllib.request
from pathlib import Path

from ..errors import GinrError
from ..storage.paths import cache_dir

BUNNY_URL = "https://graphics.stanford.edu/pub/3Dscanrep/bunny.tar.gz"
BUNNY_MEMBER = "bunny/reconstruction/bun_zipper.ply"


def stanford_bunny(url: str = BUNNY_URL, timeout: float = 30.0) -> Path:
    """Path of the Stanford bunny (bun_zipper.ply, the paper's mesh), downloaded once from Stanford."""
    target = cache_dir() / "data" / "bun_zipper.ply"
    if target.is_file():
        return target
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            archive = response.read()
    except OSError as exc:
        raise GinrError(
            f"Could not download the Stanford bunny from {url} ({exc}). Without internet, upload the mesh "
            "file or give its local path instead."
        ) from exc
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            data = tar.extractfile(BUNNY_MEMBER).read()
    except (tarfile.TarError, KeyError, AttributeError) as exc:
        raise GinrError(f"The download from {url} is not the expected archive ({exc}).") from exc
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".part")
    tmp.write_bytes(data)
    os.replace(tmp, target)
    return target
