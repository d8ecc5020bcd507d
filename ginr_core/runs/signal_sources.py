"""The run spec's record of a generated signal, one builder per kind, so that the command line and the pages
record the same signal the same way (its kind, name, the parameters that rebuild it and its label)."""

from __future__ import annotations

from ..data.signals import GrayScottParams
from .spec import Source


def gray_scott_source(params: GrayScottParams) -> Source:
    """v after `params.steps` updates: `gray_scott(mesh, **source.params)` rebuilds it."""
    return Source("gray-scott", "v", params.as_dict(), label=f"Gray-Scott v after {params.steps:,} steps")


def sh_field_source(max_degree: int, seed: int) -> Source:
    """A random spherical-harmonic field: `random_sh_field(mesh, **source.params)` rebuilds it."""
    return Source("sh-field", "random", dict(max_degree=int(max_degree), seed=int(seed)),
                  label=f"SH field (degree {max_degree}, seed {seed})")


def analytic_source(kind: str) -> Source:
    return Source("analytic", kind, label=f"analytic: {kind}")


def property_source(name: str) -> Source:
    return Source("property", name, label=f"vertex property: {name}")


__all__ = ["analytic_source", "gray_scott_source", "property_source", "sh_field_source"]
