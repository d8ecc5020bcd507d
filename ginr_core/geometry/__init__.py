"""Geometry: meshes, built-in domains, Laplacians, spectral and spherical-harmonic embeddings, partitions,
multiresolution hierarchies."""
from .. import public_api

PUBLIC_NAMES = {
    "mesh": ("MESH_EXTENSIONS", "Mesh", "load_mesh", "face_areas"),
    "domains": ("BUILTIN_DOMAINS", "make_domain"),
    "laplacian": ("LAPLACIANS", "mesh_laplacian"),
    "spectral": ("Embedding", "spectral_embedding"),
    "sphere": ("SPHERE_EMBEDDING", "is_sphere", "random_sh_field", "sphere_harmonic_embedding"),
    "features": ("DEFAULT_K", "FeatureSpec", "MAX_UI_K", "XYZ", "max_k", "sh_degree"),
    "partition": ("PARTITION_METHODS", "Partition", "partition_mesh"),
    "operators": ("DerivedFields", "gradient_operator", "laplace_beltrami_operator"),
    "hierarchy": ("DEFAULT_REDUCTIONS", "MeshHierarchy", "decimate", "mesh_hierarchy"),
}
__all__, __getattr__ = public_api(__name__, PUBLIC_NAMES)
