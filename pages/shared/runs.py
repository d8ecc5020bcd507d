"""The run registry and the server's live jobs, as the pages see them."""

from __future__ import annotations

import time

import streamlit as st

from ginr_core.errors import GinrError
from ginr_core.learning.models import ModelConfig
from ginr_core.learning.training import GINRRegressor, TrainConfig, TrainingJob
from ginr_core.runs.registry import Registry
from pages.shared.workspace import Workspace, ensure_embedding


@st.cache_resource
def registry() -> Registry:
    """The run registry (opening it marks runs left 'running' by a dead server as interrupted)."""
    return Registry()


@st.cache_resource
def live_jobs() -> dict[str, TrainingJob]:
    """Training jobs of this server process by run id: they outlive page reruns and browser sessions."""
    return {}


def launch_training(ws: Workspace, model_config: ModelConfig, train_config: TrainConfig) -> str:
    """Start a background training run on the workspace's signal; return its run id."""
    if ws.signal is None:
        raise GinrError("Choose a signal on the Data page first.")
    if model_config.input_kind == "spectral":
        features = ensure_embedding(ws, model_config.k or 100).features
        input_label = f"GINR ({ws.embedding.laplacian}, k = {model_config.k})"
    else:
        features, input_label = ws.mesh.vertices, "INR (xyz)"
    description = {"domain": ws.mesh_label, "signal": ws.signal_label, "input": input_label}
    if ws.embedding is not None:
        description.update(laplacian=ws.embedding.laplacian, k=ws.embedding.k)
    job = TrainingJob.on_mesh(GINRRegressor(model_config, train_config), ws.mesh, features, ws.signal,
                              registry=registry(), description=description)
    job.start()
    while job.state.run_id is None and not job.done:  # the run is registered within milliseconds
        time.sleep(0.01)
    if job.state.run_id is None:
        raise GinrError(job.state.error or "The training run could not start.")
    live_jobs()[job.state.run_id] = job
    return job.state.run_id
