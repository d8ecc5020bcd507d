"""The sidebar's compute backend: where this server's jobs run (this process, or Ray here or on a cluster), and what
it sees. The backend is the server's, shared by every session (see ginr_core.runs.backends)."""

from __future__ import annotations

import streamlit as st

from ginr_core.runs.backends import (
    BACKENDS,
    BackendConfig,
    configured_backend,
    resources,
    use_backend,
)
from pages.shared.widgets import show_error

BACKEND_LABELS = {"local": "This process", "process": "Worker processes", "ray": "Ray"}
DASHBOARD_BACKEND = "process"  # training leaves the server's process (and its interpreter lock) to the pages


@st.cache_resource
def dashboard_backend() -> BackendConfig:
    """Once per server: the backend from GINR_BACKEND / GINR_RAY_ADDRESS, else worker processes."""
    return use_backend(BackendConfig.from_env(default=DASHBOARD_BACKEND))


def backend_sidebar() -> None:
    """The backend in use with its CPUs / GPUs, and a form to change it (a failed change keeps the old one)."""
    dashboard_backend()
    current = configured_backend()
    try:
        seen = resources(current)
        st.sidebar.caption(f"Jobs run on: **{current.label}** · {seen['CPU']:g} CPUs, {seen['GPU']:g} GPUs")
    except Exception as exc:  # a cluster that went away: say so, and let the user switch
        st.sidebar.caption(f"Jobs run on: **{current.label}**")
        with st.sidebar:
            show_error(exc)
    with st.sidebar.expander("Compute backend"), st.form("backend"):
        name = st.radio("Run jobs on", BACKENDS, index=BACKENDS.index(current.name), format_func=BACKEND_LABELS.get,
                        horizontal=True, help="Worker processes of this server (GINR_WORKERS at once, the "
                        "rest queue); Ray runs each job in a Ray worker: on this machine, or on a cluster "
                        "(e.g. a GPU machine started with `ray start --head`).")
        address = st.text_input("Ray address", current.address or "", placeholder="empty: a Ray on this machine",
                                help="HOST:PORT printed by `ray start --head` (or set GINR_RAY_ADDRESS).")
        gpu = st.checkbox("One GPU per job", current.gpu, help="Ray schedules each job on a GPU of the cluster.")
        if st.form_submit_button("Use this backend"):
            try:
                with st.spinner("Connecting to Ray..." if name == "ray" else "Switching..."):
                    use_backend(BackendConfig(name, address, gpu))
            except Exception as exc:
                show_error(exc)
            else:
                st.rerun()
