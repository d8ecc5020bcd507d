"""What the dashboard and the CLI do with runs, each in one function: launch, rebuild features, predict, export,
re-run. No page or command assembles these by hand."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..errors import GinrError
from ..geometry.mesh import Mesh
from ..io.export import checkpoint_zip_bytes, ply_bytes, reference_npz_bytes
from ..learning.metrics import error_map, first_channel
from .backends import BackendConfig, make_job
from .fitting import RunRequest, fit_task, run_parts, training_nodes
from .jobs import Job, JobContext
from .registry import Registry
from .kinds import EXPORT_FORMATS, task_kind
from .spec import RunInputs, RunSpec


def submit(task: Callable[[Any, JobContext], Any], request: Any, registry: Registry | None, *, label: str = "",
           start: bool = True, backend: BackendConfig | None = None) -> Job:
    """A job running `task(request, ctx)`, its runs recorded in `registry`; started in the background unless `start`
    is False (then `job.run()` works in the calling thread, following a Ray job when it runs there). `backend`:
    where the work runs (default: the process-wide backend, see runs.backends). Every page and command submits
    through here."""
    job = make_job(task, request, label=label, registry=registry, backend=backend)
    return job.start() if start else job


def launch(request: RunRequest, registry: Registry | None, *, start: bool = True,
           backend: BackendConfig | None = None) -> Job:
    """A job training `request`: one run of task "fit" or "heldout"."""
    spec = request.spec()
    spec.features.check(request.inputs.mesh)
    training_nodes(spec, request.inputs.mesh.n_vertices)  # a held-out fit that would score no node is refused now
    return submit(fit_task, request, registry, label=spec.task, start=start, backend=backend)


def _own_page(spec: RunSpec) -> GinrError:
    kind = task_kind(spec.task)
    kept = ("its metrics, curves and checkpoint are here as for any run" if "checkpoint" in kind.exports else
            "its metrics and predictions (predictions.npy) are in its folder (`ginr runs RUN_ID`)")
    return GinrError(f"A run of task '{kind.label}' is re-run from its own page or with `{kind.command}`; {kept}.")


def rerun_request(registry: Registry, run_id: str) -> RunRequest:
    """The request a run was launched from: the same spec and arrays, ready to launch again."""
    spec = registry.get(run_id).spec
    if not task_kind(spec.task).rerun:
        raise _own_page(spec)
    return RunRequest.from_spec(spec, registry.load_inputs(run_id))


def run_features(registry: Registry, run_id: str, progress=None) -> tuple[RunInputs, np.ndarray]:
    """A run's inputs and its features, rebuilt exactly from its spec (any embedding kind)."""
    spec = registry.get(run_id).spec
    if not task_kind(spec.task).predict:
        raise _own_page(spec)
    inputs = registry.load_inputs(run_id)
    return inputs, spec.features.build(inputs.mesh, progress)


def predict_run(registry: Registry, run_id: str, mesh: Mesh | None = None, progress=None) -> tuple[Mesh, np.ndarray]:
    """A trained run's prediction on its own mesh, or for an xyz INR on another `mesh` (a GINR's spectral input
    is tied to its own mesh: an embedding solved elsewhere is not aligned with it)."""
    spec = registry.get(run_id).spec
    if not task_kind(spec.task).predict:  # one prediction per member / per method, or features of another mesh
        raise _own_page(spec)
    if mesh is not None:
        if spec.features.input_kind != "xyz":
            raise GinrError(
                "This run is a GINR: its input is the spectral embedding of its own mesh. An embedding solved on "
                "another mesh is not aligned with it (eigenvector signs and rotations differ), so predictions "
                "there would be meaningless; only xyz (INR) runs transfer to other meshes."
            )
        if spec.model.partition is not None:
            raise GinrError("A partitioned model's parts are parts of its own mesh: it predicts there only.")
        features, parts = mesh.vertices, None
    else:
        inputs, features = run_features(registry, run_id, progress)
        mesh, parts = inputs.mesh, run_parts(spec, inputs)
        if spec.task == "series":
            return mesh, registry.load_regressor(run_id).predict_series(features, inputs.extra["times"])
    return mesh, registry.load_regressor(run_id).predict(features, parts=parts)


def result_panels(registry: Registry, run_id: str, error_kind: str = "squared") -> tuple[RunInputs, dict[str, np.ndarray]]:
    """A finished run's truth, prediction and error per node (first channel; `error_kind` from ERROR_KINDS, the
    panel named "<kind> error"), as every view shows them."""
    inputs = registry.load_inputs(run_id)
    truth, prediction = first_channel(inputs.target), first_channel(registry.load_predictions(run_id))
    return inputs, {"ground truth": truth, "prediction": prediction,
                    f"{error_kind} error": error_map(truth, prediction, error_kind)}


def export_run(registry: Registry, run_id: str, fmt: str, view=None, error_kind: str = "squared") -> tuple[bytes, str]:
    """A run as a file: ply (mesh with truth / prediction / error), npz (the reference layout), checkpoint
    (zip) or html (a standalone 3D figure of truth, prediction and the `error_kind` error, drawn by `view`, a
    ginr_core.viz.rules.View: colour map, range, up axis, mesh or points). Returns (data, file name)."""
    if fmt not in EXPORT_FORMATS:
        raise GinrError(f"Unknown export format '{fmt}'; choose one of {', '.join(EXPORT_FORMATS)}.")
    name = f"{run_id}.{EXPORT_FORMATS[fmt]}"
    spec = registry.get(run_id).spec
    if fmt not in task_kind(spec.task).exports:
        raise _own_page(spec)
    if fmt == "checkpoint":
        return checkpoint_zip_bytes(registry.run_dir(run_id)), name
    if fmt == "npz":
        inputs, features = run_features(registry, run_id)
        mesh = inputs.mesh
        return reference_npz_bytes(mesh.vertices, features, registry.load_predictions(run_id), faces=mesh.faces), name
    inputs, panels = result_panels(registry, run_id, error_kind)
    if fmt == "ply":
        truth, prediction = panels["ground truth"], panels["prediction"]
        return ply_bytes(inputs.mesh, {"truth": truth, "prediction": prediction, "error": prediction - truth}), name
    from ..viz.figures import figure_html, side_by_side_figure
    from ..viz.rules import DEFAULT_VIEW

    view = view or DEFAULT_VIEW

    fig = side_by_side_figure(inputs.mesh, panels, {f"{error_kind} error": "error"}, ["ground truth", "prediction"], view)
    return figure_html(fig).encode(), name
