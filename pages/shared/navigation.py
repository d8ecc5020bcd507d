"""The dashboard's frame around every page: page config, navigation, the session's workspace and the sidebar."""

from pathlib import Path

import streamlit as st

from ginr_core.learning.device import describe_device
from pages.shared.backend import backend_sidebar
from pages.shared.widgets import VIEWERS, return_to_page, view_settings
from pages.shared.workspace import workspace

FAVICON = Path(__file__).parents[2] / "assets" / "favicon.png"


@st.cache_resource
def device_description() -> str:
    return describe_device()


def run_app() -> None:
    """One script run of app.py: the frame, then the page the URL names."""
    # A local icon: a ":material/...:" page icon makes every browser fetch the favicon from fonts.gstatic.com.
    st.set_page_config(page_title="GINR Studio", page_icon=str(FAVICON), layout="wide")
    navigation = st.navigation(
        [
            st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
            st.Page("pages/data.py", title="Data", icon=":material/deployed_code:"),
            st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
            st.Page("pages/results.py", title="Results", icon=":material/insights:"),
            st.Page("pages/super_resolution.py", title="Super-resolution", icon=":material/zoom_in:"),
            st.Page("pages/compare.py", title="INR vs GINR", icon=":material/compare:"),
            st.Page("pages/interpolation.py", title="Interpolation", icon=":material/scatter_plot:"),
            st.Page("pages/timeseries.py", title="Time series", icon=":material/animation:"),
            st.Page("pages/crop.py", title="Crop", icon=":material/content_cut:"),
            st.Page("pages/collections.py", title="Collections", icon=":material/stacks:"),
            st.Page("pages/sweeps.py", title="Sweeps", icon=":material/tune:"),
        ]
    )
    st.session_state.entered_via_app = True
    workspace()  # restored from the URL's workspace id (?ws=...) whichever page the session opens
    return_to_page()  # a page opened without this entry point comes back (pages.shared.widgets.enter_via_app)
    st.sidebar.caption(f"Training device: **{device_description()}**")
    st.sidebar.radio("3D viewer", VIEWERS, key="viewer", horizontal=True,
                     help="Plotly renders in your browser; PyVista builds a VTK scene on the server (about 0.05 s and 1.4 MB per panel for 10,000 vertices, 0.2 s and 2.6 MB for the bunny), drawn with vtk.js. Both follow the View settings.")
    view_settings()
    backend_sidebar()
    navigation.run()
