"""Files on disk below every other layer: atomic writes, safe names, the data folders, bounded array reads."""
from .. import public_api

PUBLIC_NAMES = {
    "files": ("atomic_write", "display_name", "read_input"),
    "paths": ("APP_NAME", "cache_dir", "runs_dir"),
    "arrays": ("NPY_MAGIC", "ZIP_MAGIC", "read_npy", "read_npz"),
}
__all__, __getattr__ = public_api(__name__, PUBLIC_NAMES)
