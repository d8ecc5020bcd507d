"""The "process" backend: jobs run in worker processes of this machine, their state and registry calls relayed to
this process, a cancel reaching the worker, and jobs beyond GINR_WORKERS waiting in the pool's queue."""

import os
import time

import pytest

from ginr_core.errors import GinrError
from ginr_core.geometry.domains import make_domain
from ginr_core.geometry.features import FeatureSpec
from ginr_core.learning.training import TrainConfig
from ginr_core.runs.actions import launch, submit
from ginr_core.runs.backend_config import BackendConfig
from ginr_core.runs.processes import ProcessJob, shutdown_pool
from ginr_core.runs.registry import Registry
from ginr_core.runs.fitting import RunRequest
from ginr_core.runs.spec import RunInputs, RunSpec, Source

PROCESS = BackendConfig("process")


@pytest.fixture(scope="module", autouse=True)
def one_worker():
    """One worker process for the whole module (started once: a spawned worker imports torch, seconds)."""
    before = os.environ.get("GINR_WORKERS")
    os.environ["GINR_WORKERS"] = "1"
    shutdown_pool()
    yield
    shutdown_pool()
    if before is None:
        os.environ.pop("GINR_WORKERS")
    else:
        os.environ["GINR_WORKERS"] = before


def where(spec, ctx):
    """The worker's process id and niceness."""
    return os.getpid(), os.nice(0)


def until_cancelled(seconds, ctx):
    """Work until cancelled (or `seconds` pass), reporting progress."""
    start = time.monotonic()
    while not ctx.cancelled() and time.monotonic() - start < seconds:
        ctx.report((time.monotonic() - start) / seconds, "waiting")
        time.sleep(0.05)
    ctx.stopped_early = ctx.cancelled()
    return "finished"


def fails(spec, ctx):
    raise GinrError("the task failed on purpose")


def test_a_run_trains_in_a_worker_and_lands_in_this_registry():
    pid, niceness = submit(where, None, None, backend=PROCESS).join(timeout=120).result
    assert pid != os.getpid() and niceness >= os.nice(0) + 10
    mesh = make_domain("icosphere")
    spec = RunSpec("fit", Source("builtin", "icosphere"), Source("analytic", "height"),
                   FeatureSpec("spherical_harmonics", 9), train=TrainConfig(time_budget_s=20.0, steps=30))
    registry = Registry()
    job = launch(RunRequest.from_spec(spec, RunInputs(mesh, mesh.vertices[:, 2])), registry, backend=PROCESS)
    assert isinstance(job, ProcessJob)
    state = job.join(timeout=120)
    assert state.status == "done", state.error
    assert state.history and state.history[-1]["step"] > 0  # streamed back while it trained
    run = registry.get(state.run_id)
    assert run.status == "done" and "r2" in run.metrics
    assert registry.load_history(state.run_id)  # the curves, saved through the relay
    assert registry.load_predictions(state.run_id).shape[0] == mesh.n_vertices


def test_cancel_reaches_the_worker_and_a_failure_reports_its_error():
    job = submit(until_cancelled, 60.0, None, backend=PROCESS)
    deadline = time.monotonic() + 60
    while job.state.progress is None and time.monotonic() < deadline:
        time.sleep(0.05)
    job.cancel()
    assert job.join(timeout=30).status == "cancelled" and job.state.result == "finished"
    failed = submit(fails, None, None, backend=PROCESS).join(timeout=60)
    assert failed.status == "failed" and "on purpose" in failed.error


def test_jobs_beyond_the_workers_queue_and_say_how_many_are_ahead():
    """One worker: one job runs, the other two wait, each knowing how many are ahead of it. Jobs submitted at the
    same moment are queued in the order their threads reach the pool, which need not be the order of the calls."""
    jobs = [submit(until_cancelled, 60.0, None, backend=PROCESS) for _ in range(3)]
    deadline = time.monotonic() + 60

    def queued() -> list:
        return sorted((job for job in jobs if job.jobs_ahead() is not None), key=lambda job: job.jobs_ahead())

    while (sum(job.state.status == "running" for job in jobs) < 1 or len(queued()) < 2) and time.monotonic() < deadline:
        time.sleep(0.05)
    (first,) = [job for job in jobs if job.state.status == "running"]
    second, third = queued()
    assert first.jobs_ahead() is None and [second.jobs_ahead(), third.jobs_ahead()] == [0, 1]
    assert second.state.status == third.state.status == "pending"
    third.cancel()  # still queued: it never starts
    assert third.join(timeout=30).status == "cancelled" and third.state.result is None
    first.cancel()
    while second.state.status != "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert second.jobs_ahead() is None
    second.cancel()
    assert [job.join(timeout=30).status for job in jobs] == ["cancelled"] * 3


def test_the_command_line_trains_in_a_worker(capsys):
    from ginr_core.cli import main
    from ginr_core.runs.backends import configured_backend, use_backend

    before = configured_backend()
    try:
        assert main(["train", "--domain", "icosphere", "--signal", "sines", "--k", "9", "--steps", "5",
                     "--backend", "process"]) == 0
    finally:
        use_backend(before)
    assert "done after 5 steps" in capsys.readouterr().out
    (run,) = Registry().list_runs()
    assert run.status == "done"


def test_each_task_runs_where_it_can():
    """Fit-new and extend read recorded runs (checkpoints, inputs), which a worker cannot reach: on the process (or
    Ray) backend they still run in this process; a sweep drives Ray itself, so it runs on the Ray of its request
    whatever the backend; training tasks go to the workers."""
    from types import SimpleNamespace

    from ginr_core.runs.backends import make_job
    from ginr_core.runs.fitting import fit_task
    from ginr_core.runs.jobs import Job
    from ginr_core.runs.ray_backend import RayJob
    from ginr_core.tasks.collections import fit_new_task
    from ginr_core.tasks.crop import extend_task
    from ginr_core.tasks.sweep import sweep_task

    process = BackendConfig("process")
    for task in (fit_new_task, extend_task):
        assert type(make_job(task, None, backend=process)) is Job
    sweep = make_job(sweep_task, SimpleNamespace(backend=BackendConfig("ray", "10.0.0.5:6379")), backend=process)
    assert isinstance(sweep, RayJob) and sweep.backend.address == "10.0.0.5:6379"
    assert isinstance(make_job(fit_task, None, backend=process), ProcessJob)
