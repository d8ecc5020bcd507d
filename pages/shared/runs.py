"""The run registry and the server's live jobs, as the pages see them.

A live job is kept only while it works: once finished it is dropped from the server's memory and its results
are read back from the registry, like every other run's.
"""

from __future__ import annotations

import streamlit as st

from ginr_core.geometry.features import XYZ, FeatureSpec
from ginr_core.learning.models import ModelConfig
from ginr_core.learning.training import TrainConfig
from ginr_core.runs.actions import launch
from ginr_core.runs.jobs import Job, JobState
from ginr_core.runs.registry import Registry
from ginr_core.runs.spec import RunInputs, RunRequest, RunSpec
from pages.shared.workspace import Workspace


@st.cache_resource
def registry() -> Registry:
    """The run registry (opening it marks runs left 'running' by a dead server as interrupted)."""
    return Registry()


@st.cache_resource
def _live_jobs() -> dict[str, Job]:
    return {}


def live_jobs() -> dict[str, Job]:
    """Training jobs of this server process by run id, still working (they outlive page reruns and browser
    sessions); finished ones are dropped here."""
    jobs = _live_jobs()
    for run_id, job in list(jobs.items()):
        if job.done:
            jobs.pop(run_id, None)
    return jobs


def workspace_features(ws: Workspace, input_kind: str, k: int) -> FeatureSpec:
    """What a run on the workspace reads: its embedding's kind (a Laplacian or the exact spherical harmonics;
    combinatorial when none was computed) with k columns, or xyz."""
    if input_kind == XYZ:
        return FeatureSpec(XYZ)
    return FeatureSpec("combinatorial" if ws.embedding is None else ws.embedding.laplacian, int(k))


def launch_request(request: RunRequest) -> str:
    """Start a registered training run in the background; return its id."""
    job = launch(request, registry())
    run_id = job.wait_for_run()
    _live_jobs()[run_id] = job
    return run_id


def launch_training(ws: Workspace, model_config: ModelConfig, train_config: TrainConfig, features: FeatureSpec,
                    holdout: float = 0.0) -> str:
    """Train on the workspace's signal (holding out a fraction of the nodes when `holdout` > 0); return the run id."""
    ws_signal = ws.require_signal()
    options = {"fraction": holdout, "seed": train_config.seed} if holdout else {}
    spec = RunSpec("heldout" if holdout else "fit", ws.domain_source, ws.signal_source, features, model_config,
                   train_config, options)
    return launch_request(RunRequest(spec, RunInputs(ws.mesh, ws_signal)))


class FollowedJob:
    """A job a page follows in its session: state, done and cancel as the job's, but the job itself is let go
    once it has finished (its final state, with its result and run ids, is all that is kept)."""

    def __init__(self, job: Job):
        self._job: Job | None = job
        self._final: JobState | None = None

    @property
    def state(self) -> JobState:
        if self._job is not None and self._job.done:
            self._final, self._job = self._job.state, None
        return self._final if self._job is None else self._job.state

    @property
    def done(self) -> bool:
        return self.state.done

    def cancel(self) -> None:
        if self._job is not None:
            self._job.cancel()

    def join(self, timeout: float | None = None) -> JobState:
        if self._job is not None:
            self._job.join(timeout)
        return self.state
