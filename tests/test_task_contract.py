"""The task contract (runs.task) and the capability table (runs.kinds): a task is a request, a task function and
a registered kind, nothing else. A toy task added here as a plugin runs through `submit`, lands in the registry
with its label and shows in `ginr runs`."""

import json
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from ginr_core.errors import GinrError
from ginr_core.geometry.domains import make_domain
from ginr_core.geometry.features import FeatureSpec
from ginr_core.geometry.mesh import Mesh
from ginr_core.runs.actions import export_run, predict_run, rerun_request, submit
from ginr_core.runs.jobs import Job, JobContext
from ginr_core.runs.kinds import TASK_KINDS, TaskKind, listed_kind, register_kind, task_kind
from ginr_core.runs.registry import Registry
from ginr_core.runs.spec import RunInputs, RunSpec, Source
from ginr_core.runs.task import ItemOutcome, RecordedRun, TaskRequest, run_items

# --- the plugin: one request, one task function, one registered kind (what a task's folder holds) -------------
TOY = register_kind(TaskKind("toy-smoothing", "toy smoothing", "ginr toy", "pages/toy.py", exports=("checkpoint",)))


@dataclass(frozen=True, eq=False)
class SmoothingRequest(TaskRequest):
    """Average each node's value with its neighbours' `rounds` times, for each round count in `rounds`."""

    mesh: Mesh
    values: np.ndarray
    rounds: tuple[int, ...] = (1, 3)

    def spec(self, item: str | None = None, group: str = "") -> RunSpec:
        return RunSpec(TOY.name, self.domain, self.signal, FeatureSpec("combinatorial", 4), options={"rounds": list(self.rounds)})


def smoothing_task(request: SmoothingRequest, ctx) -> list[ItemOutcome]:
    edges = request.mesh.edges()

    def smooth(i: int, update) -> dict:
        if request.rounds[i] < 0:
            raise GinrError("A negative number of rounds.")
        values = np.asarray(request.values, dtype=float)
        for _ in range(request.rounds[i]):
            total, count = values.copy(), np.ones(len(values))
            np.add.at(total, edges[:, 0], values[edges[:, 1]])
            np.add.at(total, edges[:, 1], values[edges[:, 0]])
            np.add.at(count, edges.ravel(), 1)
            values = total / count
        return {}

    with RecordedRun(ctx, request.spec(), RunInputs(request.mesh, request.values)) as run:
        outcomes = run_items(ctx, [ItemOutcome(f"{r} rounds") for r in request.rounds], smooth)
        run.finish("done" if all(o.status == "done" for o in outcomes) else "failed",
                   metrics={"r2": 1.0, "items": {o.name: o.status for o in outcomes}})
    return outcomes


# --- the plugin, end to end --------------------------------------------------------------------------------------


def test_a_plugin_task_runs_through_submit_lands_in_the_registry_and_shows_its_label(capsys):
    from ginr_core.cli import main

    mesh = make_domain("icosphere", level=1)
    registry = Registry()
    request = SmoothingRequest(mesh, mesh.vertices[:, 2], (1, -1, 2), domain=Source("builtin", "icosphere"),
                               signal=Source("generated", "height", label="height"))
    state = submit(smoothing_task, request, registry, label="toy").join(timeout=60)
    assert state.status == "done", state.error
    assert [(o.name, o.status) for o in state.result] == [("1 rounds", "done"), ("-1 rounds", "failed"), ("2 rounds", "done")]
    assert "negative" in state.result[1].error

    (run,) = registry.list_runs()
    assert run.id == state.run_id and run.status == "failed" and run.description["task"] == "toy-smoothing"
    assert run.spec.label.endswith("· toy smoothing") and run.metrics["items"]["2 rounds"] == "done"
    assert main(["runs"]) == 0
    listed = next(line for line in capsys.readouterr().out.splitlines() if run.id in line)
    assert listed.endswith("/ toy smoothing")

    # the run layer asks the kind what the run can do: no re-run or prediction, only its declared export
    with pytest.raises(GinrError, match="'toy smoothing' is re-run from its own page or with `ginr toy`"):
        rerun_request(registry, run.id)
    with pytest.raises(GinrError, match="ginr toy"):
        predict_run(registry, run.id)
    with pytest.raises(GinrError, match="ginr toy"):
        export_run(registry, run.id, "ply")


def test_kinds_refuse_unknown_names_and_a_second_kind_under_a_taken_name():
    assert register_kind(TOY) is TOY  # registering the same kind again changes nothing
    with pytest.raises(GinrError, match="already registered"):
        register_kind(TaskKind("toy-smoothing", "another label", "ginr toy", "pages/toy.py"))
    with pytest.raises(GinrError, match="Unknown task 'no-such-task'"):
        task_kind("no-such-task")
    with pytest.raises(GinrError, match="Unknown task 'no-such-task'"):
        RunSpec("no-such-task")
    unknown = listed_kind("no-such-task")  # a plugin's run where its module is not imported: listed, nothing more
    assert unknown.label == "no-such-task" and not (unknown.rerun or unknown.predict or unknown.results or unknown.exports)
    assert listed_kind("heldout") is TASK_KINDS["heldout"]
    with pytest.raises(GinrError, match="Unknown export format"):
        TaskKind("bad", "bad", "ginr bad", "pages/bad.py", exports=("gif",))


def test_the_table_says_what_each_built_in_run_can_do():
    assert {name for name, kind in TASK_KINDS.items() if kind.rerun} == {"fit", "heldout"}
    assert {name for name, kind in TASK_KINDS.items() if kind.results} >= {"fit", "heldout", "superres", "crop", "extend"}
    assert not TASK_KINDS["interpolation"].exports and TASK_KINDS["collection"].exports == ("checkpoint",)
    assert TASK_KINDS["heldout"].where_scored({"n_scored": 1234}) == "the 1,234 held-out nodes (never trained on)"


# --- the contract's parts ------------------------------------------------------------------------------------------


def test_every_request_is_a_frozen_task_request_naming_its_parts_alike():
    import dataclasses
    import importlib

    import ginr_core.runs
    import ginr_core.tasks

    requests = [getattr(importlib.import_module(f"{package.__name__}.{module}"), name)
                for package in (ginr_core.runs, ginr_core.tasks) for module, names in package.PUBLIC_NAMES.items()
                for name in names if name.endswith("Request")]
    assert len(requests) >= 12
    contract = {"Source": {"domain", "signal"}, "FeatureSpec": {"features"}, "ModelConfig": {"model"},
                "TrainConfig": {"train"}}
    for request in requests:
        assert issubclass(request, TaskRequest) and request.__dataclass_params__.frozen, request.__name__
        for f in dataclasses.fields(request):  # annotations are strings: "ModelConfig | None", say
            kind = str(f.type).split(" |")[0]
            assert f.name in contract.get(kind, {f.name}), f"{request.__name__}.{f.name}: {f.type}"



class FakeContext:
    """What run_items uses of a JobContext: cancel checks, publish, report."""

    def __init__(self):
        self.cancel_event, self.stopped_early, self.published = threading.Event(), False, []

    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def publish(self, result) -> None:
        self.published.append(result)

    def report(self, *args, **values) -> None:
        pass


def test_run_items_marks_the_items_a_cancel_skips_and_publishes_every_change():
    ctx = FakeContext()

    def work(i: int, update) -> dict:
        update(run_id=f"run-{i}")
        ctx.cancel_event.set()  # a cancel arriving while the first item works
        return {}

    outcomes = run_items(ctx, [ItemOutcome("a"), ItemOutcome("b")], work)
    assert [(o.status, o.run_id) for o in outcomes] == [("done", "run-0"), ("cancelled", None)] and ctx.stopped_early
    assert [o.status for o in ctx.published[0]] == ["pending", "pending"]
    assert [(o.status, o.run_id) for o in ctx.published[2]] == [("running", "run-0"), ("pending", None)]
    assert [o.status for o in ctx.published[-1]] == ["done", "cancelled"]
    with pytest.raises(GinrError, match="Unknown status"):
        ItemOutcome("c", status="finished")


def test_a_recorded_run_whose_work_raises_is_finished_failed():
    registry = Registry()
    mesh = make_domain("icosphere", level=1)

    def task(request, ctx):
        with RecordedRun(ctx, RunSpec("fit"), RunInputs(mesh, mesh.vertices[:, 0])):
            raise RuntimeError("the work broke")

    state = Job(task, None, registry=registry).run()
    run = registry.get(state.run_id)
    assert state.status == "failed" and run.status == "failed" and "the work broke" in run.error


# --- saved runs still load --------------------------------------------------------------------------------------

SAVED = json.loads((Path(__file__).parent / "saved_specs.json").read_text())  # written by the code before the contract


@pytest.mark.parametrize("task", sorted(SAVED))
def test_specs_saved_before_the_task_contract_still_load(task):
    spec = RunSpec.from_dict(SAVED[task])
    assert spec.task == task and spec.label.endswith(TASK_KINDS[task].label) and spec.features.k == 16
    written = spec.to_dict()
    # read and written back unchanged, but for what later versions changed: a saved train config without the readout
    # solve (issue 22) reads as the recipe it was trained with, which had none; the flat model config is written as
    # its parts (issue 21), every field as saved
    assert written["train"].pop("solve_readout") is False
    model, saved = written.pop("model"), SAVED[task]
    assert model["codes"] is None and model["partition"] is None and saved["model"]["kind"] == "mlp"
    assert {**model["encoder"], **model["mlp"]}.items() <= saved["model"].items()
    assert written == {key: value for key, value in saved.items() if key != "model"}


def test_a_recorded_run_stopped_from_outside_is_left_to_whoever_stopped_it():
    """Ray Tune ends a trial ASHA stops with a BaseException: the sweep, not the trial, records it "cancelled"."""

    class Stopped(BaseException):
        pass

    registry = Registry()
    ctx = JobContext(Job(lambda request, ctx: None, None, registry=registry))
    with pytest.raises(Stopped):
        with RecordedRun(ctx, RunSpec("fit"), None) as run:
            raise Stopped()
    assert registry.get(run.id).status == "running"


def test_architecture_md_shows_the_task_table_as_it_is():
    rows = {}
    for line in (Path(__file__).parents[1] / "ARCHITECTURE.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 8 and cells[0] in TASK_KINDS:
            rows[cells[0]] = cells
    assert set(rows) == set(TASK_KINDS) - {TOY.name}  # every built-in kind
    for name, (_, label, rerun, predict, exports, results, command, _) in rows.items():
        kind = TASK_KINDS[name]
        assert (label, rerun, predict, results, command) == (
            kind.label, "yes" if kind.rerun else "no", "yes" if kind.predict else "no", "yes" if kind.results else "no",
            f"`{kind.command}`"), name
        assert exports == (", ".join(kind.exports) or "—"), name
