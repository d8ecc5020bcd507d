"""The run registry and the server's live jobs, as the pages see them.

A live job is kept only while it works: once finished it is dropped from the server's memory and its results
are read back from the registry, like every other run's. The live jobs are the server's (the run list shows
them to everyone), each with the workspace it was launched from; the job a session follows is its own, in its
session state (`FollowedJob`), and a new session on the same workspace (a reload) finds it again (`workspace_job`).
"""

from __future__ import annotations

import streamlit as st

from ginr_core.geometry.features import XYZ, FeatureSpec
from ginr_core.learning.model_config import ModelConfig
from ginr_core.learning.training import TrainConfig
from ginr_core.runs.actions import launch
from ginr_core.runs.jobs import Job, JobState
from ginr_core.runs.registry import Registry
from ginr_core.runs.fitting import RunRequest
from ginr_core.runs.spec import RunInputs
from pages.shared.backend import session_backend
from pages.shared.workspace import Workspace


@st.cache_resource
def registry() -> Registry:
    """The run registry (opening it marks runs left 'running' by a dead server as interrupted)."""
    return Registry()


@st.cache_resource
def _live_jobs() -> dict[Job, str | None]:
    """The server's training jobs, each with the id of the workspace it was launched from (oldest first)."""
    return {}


def live_jobs() -> dict[str, Job]:
    """Training jobs of this server launched from its pages, still working (they outlive page reruns and browser
    sessions), by run id once they have one (a queued job has none yet); finished ones are dropped here."""
    jobs = _live_jobs()
    for job in [job for job in list(jobs) if job.done]:
        jobs.pop(job, None)
    return {job.state.run_id: job for job in list(jobs) if job.state.run_id is not None}


def workspace_job(ws: Workspace) -> FollowedJob | None:
    """The newest training job launched from this workspace that still works or waits, for a session to follow
    (a reloaded page is a new session: the workspace id in its URL leads it back to its run)."""
    live_jobs()
    launched = [job for job, workspace_id in list(_live_jobs().items()) if workspace_id == ws.store_id]
    return FollowedJob(launched[-1]) if launched else None


def workspace_features(ws: Workspace, input_kind: str, k: int) -> FeatureSpec:
    """What a run on the workspace reads: its embedding's kind (a Laplacian or the exact spherical harmonics;
    combinatorial when none was computed) with k columns, or xyz."""
    if input_kind == XYZ:
        return FeatureSpec(XYZ)
    return FeatureSpec("combinatorial" if ws.embedding is None else ws.embedding.laplacian, int(k))


def launch_request(request: RunRequest, ws: Workspace) -> FollowedJob:
    """Start a registered training run in the background (it may wait in the backend's queue) from the session's
    workspace, which keeps its spec; return the job for the session to follow."""
    job = launch(request, registry(), backend=session_backend())
    live_jobs()  # finished jobs leave the store at each launch too, even if no page lists the runs
    _live_jobs()[job] = ws.store_id
    ws.remember_launch(request.spec())
    return FollowedJob(job)


def launch_training(ws: Workspace, model_config: ModelConfig, train_config: TrainConfig, features: FeatureSpec,
                    holdout: float = 0.0) -> FollowedJob:
    """Train on the workspace's signal (holding out a fraction of the nodes when `holdout` > 0); return the job."""
    ws_signal = ws.require_signal()
    options = {"fraction": holdout, "seed": train_config.seed} if holdout else {}
    request = RunRequest(RunInputs(ws.mesh, ws_signal), "heldout" if holdout else "fit", features, model_config,
                         train_config, options, domain=ws.domain_source, signal=ws.signal_source)
    return launch_request(request, ws)


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

    @property
    def job(self) -> Job | None:
        """The job while it works (None once finished)."""
        self.state  # let go of a finished job
        return self._job

    def queued_text(self) -> str | None:
        """"Queued: N ahead" while the job waits for a worker, else None."""
        ahead = None if self._job is None else self._job.jobs_ahead()
        return None if ahead is None else f"Queued: {ahead} ahead"

    def cancel(self) -> None:
        if self._job is not None:
            self._job.cancel()

    def join(self, timeout: float | None = None) -> JobState:
        if self._job is not None:
            self._job.join(timeout)
        return self.state
