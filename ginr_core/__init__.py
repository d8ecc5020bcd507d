"""GINR Studio's library. Each subpackage declares its public names in its `__init__` and loads them on first
use, so that importing one module (or `ginr_core` itself) does not import torch, Ray or every sibling module."""
from importlib import import_module
from typing import Callable


def public_api(package: str, names_by_module: dict[str, tuple[str, ...]]) -> tuple[list[str], Callable[[str], object]]:
    """`__all__` and a module `__getattr__` (PEP 562) re-exporting `names_by_module` from `package` lazily.

    A name two modules declare, or one that is also a module's name (`tasks.crop.crop`), is imported from its
    module only: the package cannot say which one is meant."""
    owners: dict[str, list[str]] = {}
    for module, names in names_by_module.items():
        for name in names:
            owners.setdefault(name, []).append(module)
    home = {name: modules[0] for name, modules in owners.items() if len(modules) == 1 and name not in names_by_module}

    def __getattr__(name: str) -> object:
        if name not in home:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(import_module(f"{package}.{home[name]}"), name)

    return sorted(home), __getattr__
