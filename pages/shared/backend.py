"""The sidebar's compute backend: where this session's jobs run, chosen among the backends the operator enabled
(GINR_BACKENDS; the default from GINR_BACKEND, a cluster from GINR_RAY_ADDRESS: see ginr_core.runs.backend_config).
A visitor's choice holds for their own session only, and no visitor can name a cluster address."""

from __future__ import annotations

import streamlit as st

from ginr_core.runs.backend_config import (
    DASHBOARD_BACKEND,
    BackendConfig,
    default_backend,
    enabled_backends,
    operator_backend,
)
from ginr_core.runs.backends import resources
from pages.shared.widgets import show_error

BACKEND_LABELS = {"local": "This process", "process": "Worker processes", "ray": "Ray"}


@st.cache_resource
def dashboard_backends() -> tuple[BackendConfig, tuple[str, ...]]:
    """Once per server: the operator's default backend (worker processes unless GINR_BACKEND says otherwise) and
    the names a visitor may choose among."""
    default = default_backend(DASHBOARD_BACKEND)
    return default, enabled_backends(default)


def session_backend() -> BackendConfig:
    """Where this session's jobs run: its choice in the sidebar, else the operator's default."""
    default, choices = dashboard_backends()
    name = st.session_state.get("backend_choice", default.name)
    return default if name == default.name or name not in choices else operator_backend(name)


def ray_backend() -> BackendConfig:
    """The Ray this session's Ray work (sweeps) runs on: the operator's."""
    backend = session_backend()
    return backend if backend.name == "ray" else operator_backend("ray")


def backend_sidebar() -> None:
    """The session's backend with what it sees, and a choice among the enabled ones when there are several."""
    default, choices = dashboard_backends()
    current = session_backend()
    if len(choices) > 1:  # the choice is kept apart from the widget, whose state a page switch may drop
        st.sidebar.radio("Run my jobs on", choices, index=choices.index(current.name), format_func=BACKEND_LABELS.get,
                         horizontal=True, key="backend_radio",
                         on_change=lambda: st.session_state.update(backend_choice=st.session_state.backend_radio),
                         help="Worker processes of this server (GINR_WORKERS at once, the rest queue), or Ray workers "
                         "(on this machine, or the cluster the operator set). Your choice holds for your session only.")
        current = session_backend()
    try:
        seen = resources(current, start=False)
    except Exception as exc:  # a cluster that went away: say so, and let the user switch
        st.sidebar.caption(f"Jobs run on: **{current.label}**")
        with st.sidebar:
            show_error(exc)
        return
    where = "Ray starts with the first job" if seen is None else f"{seen['CPU']:g} CPUs, {seen['GPU']:g} GPUs"
    st.sidebar.caption(f"Jobs run on: **{current.label}** · {where}")
