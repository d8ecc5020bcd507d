"""Figures of signals on meshes (Plotly and PyVista), animations, and the rules every figure follows."""
from .. import public_api

PUBLIC_NAMES = {
    "rules": ("DIVERGING_MAPS", "DRAW_AS", "LOG_AXIS", "PLAIN_AXIS", "R2_AXIS", "RANGE_MODES", "SEQUENTIAL_MAPS",
              "UP_AXES", "View", "colour_scale", "log_axis"),
    "figures": ("DisplayMesh", "LINK_CAMERAS_JS", "NOMINAL_WIDTH", "display_mesh", "figure_html", "grid_figure",
                "mesh_figure", "panel_scales", "partition_figure", "point_cloud_figure", "side_by_side_figure",
                "vtk_scene_html"),
    "animation": ("FORMATS", "MAX_EXPORT_FRAMES", "MAX_FPS", "animated_figure", "animation_bytes", "browser_frames",
                  "evenly_spaced"),
}
__all__, __getattr__ = public_api(__name__, PUBLIC_NAMES)
