"""Signals on a domain: the Gray-Scott texture, analytic signals, files, gridded climate data, collections."""
from .. import public_api

PUBLIC_NAMES = {
    "signals": ("ANALYTIC_SIGNALS", "GrayScottParams", "PAPER_GRAY_SCOTT", "analytic_signal", "gray_scott",
                "gray_scott_texture", "load_vertex_signal", "vertex_property_signal"),
    "gridded": ("GridVariable", "LatLonGrid", "open_grid"),
    "datasets": ("stanford_bunny",),
    "collections": ("Collection", "choose_held_out", "collection_from_files", "collection_from_npz",
                    "default_held_out", "gray_scott_collection", "gray_scott_grid", "grid_collection", "max_held_out"),
}
__all__, __getattr__ = public_api(__name__, PUBLIC_NAMES)
