"""Neural fields and their training: model configs, the one trainer, metrics and the device to train on; MeshFeat,
an encoding by feature tables on one mesh's levels, with its own small loop (meshfeat.py says why)."""
from .. import public_api

PUBLIC_NAMES = {
    "model_config": ("ACTIVATIONS", "CodesConfig", "EncoderConfig", "MLPConfig", "ModelConfig", "PartitionConfig"),
    "fields": ("build_model", "config_parameters", "equal_size_configs", "make_field", "parameter_count"),
    "collection_models": ("CodeFitConfig", "DEFAULT_MODULATION", "DEFAULT_RANDOM_FEATURES", "MODULATIONS",
                          "RANDOM_FEATURES_PER_NODE"),
    "training": ("GINRRegressor", "TrainConfig"),
    "metrics": ("ERROR_KINDS", "best_r2", "error_map", "evaluate", "first_channel", "per_channel", "r2_text", "winner"),
    "device": ("describe_device", "pick_device"),
    "meshfeat": ("MeshFeatConfig", "MeshFeatField", "MeshFeatRegressor"),
    "recipes": ("DEFAULT_FIT", "FIT_RECIPES", "PAPER_FIT", "PREVIOUS_FIT", "FitRecipe", "GRAY_SCOTT_FAMILY", "SUPERRES_K", "SWEEP_GRID", "XYZ_FIT_FIRST_OMEGA_0", "XYZ_INTERPOLATION_FIRST_OMEGA_0",
                "comma_list", "default_of", "list_text"),
}
__all__, __getattr__ = public_api(__name__, PUBLIC_NAMES)
