"""Files for other tools and for later: exports, the reference implementation's datasets, saved workspaces."""
from .. import public_api

PUBLIC_NAMES = {
    "export": ("ply_bytes",),
    "reference_dataset": ("ReferenceDataset", "ReferenceSample", "read_reference_dataset", "read_reference_sample",
                          "sample_mesh", "write_reference_dataset"),
    "workspaces": ("SavedWorkspace", "expire_workspaces", "load_workspace", "new_workspace_id", "save_workspace"),
}
__all__, __getattr__ = public_api(__name__, PUBLIC_NAMES)
