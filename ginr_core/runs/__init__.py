"""Runs: the run spec, jobs and where they run (a thread, worker processes, Ray), the registry, and what the
dashboard and the CLI do with a run."""
from .. import public_api

PUBLIC_NAMES = {
    "spec": ("RunInputs", "RunSpec", "Source"),
    "signal_sources": ("analytic_source", "gray_scott_source", "property_source", "sh_field_source"),
    "task": ("ItemOutcome", "RecordedRun", "ResultOutcome", "TaskRequest", "run_items"),
    "kinds": ("TASK_KINDS", "TaskKind", "listed_kind", "register_kind", "task_kind"),
    "jobs": ("FINISHED", "Call", "Job", "JobState", "ProgressRecord", "call_task"),
    "backend_config": ("BACKENDS", "BackendConfig", "DASHBOARD_BACKEND", "default_backend", "enabled_backends",
                       "operator_backend"),
    "backends": ("configured_backend", "make_job", "resources", "use_backend"),
    "processes": ("ProcessJob",),
    "ray_backend": ("RayJob", "stop_drivers"),
    "registry": ("Registry",),
    "fitting": ("RunRequest",),
    "actions": ("EXPORT_FORMATS", "export_run", "launch", "predict_run", "rerun_request", "result_panels",
                "run_features", "submit"),
}
__all__, __getattr__ = public_api(__name__, PUBLIC_NAMES)
