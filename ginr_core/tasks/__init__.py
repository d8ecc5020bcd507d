"""Tasks: the background work a run spec names (comparisons, super-resolution, time series, crop and extend,
interpolation, collections, sweeps)."""
from .. import public_api

PUBLIC_NAMES = {
    "compare": ("ComparisonRequest", "TABLE2", "compare_models", "comparison_task"),
    "superres": ("METHODS", "STACKED", "SUPERRES_FIRST_OMEGA_0", "StrategyOutcome", "SuperResolutionRequest",
                 "coarser_latlon_grid", "finer_latlon_grid", "finer_mesh", "latlon_axes", "strategies_for",
                 "subset_correspondence", "superres_task", "transfer_features"),
    "temporal": ("AnimationRequest", "PREDICTING", "SeriesRequest", "TimeSeries", "animation_task", "fit_time_series",
                 "gray_scott_series", "grid_series", "series_from_files", "series_model_config", "series_task",
                 "series_train_config"),
    "crop": ("CropReport", "CroppableRequest", "ExtendReport", "ExtendRequest", "MODEL_LABELS", "crop", "crop_run",
             "croppable_task", "extend", "extend_task", "with_partition"),
    "interpolation": ("DEFAULT_METHODS", "DERIVED_COLUMNS", "InterpolationRequest", "InterpolationResult",
                      "InterpolationSettings", "METHODS", "MethodOutcome", "Observations", "derived_field_rows",
                      "interpolation_task", "random_nodes", "read_observations_csv", "require_unobserved",
                      "satellite_tracks"),
    "collections": ("CollectionRequest", "FitNewRequest", "collection_task", "collection_train_config", "fit_new_task",
                    "fixed_part_label", "input_model_config", "latent_projection", "load_collection_run",
                    "training_adds_little", "walk"),
    "sweep": ("SCORES", "SEARCHES", "SWEEP_PARAMETERS", "SweepRequest", "SweepResult", "sweep_task",
              "sweep_train_config"),
}
__all__, __getattr__ = public_api(__name__, PUBLIC_NAMES)
