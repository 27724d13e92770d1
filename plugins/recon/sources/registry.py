"""The registry of source types: ``type:`` in a spec -> the pydantic model that implements it.

Each module of ``recon.sources`` decorates its model with ``@register``; ``source_models`` imports
every module of the package once, so a new type is one new file and nothing else.
"""

from __future__ import annotations

import importlib
import pkgutil
import typing
from typing import TypeVar

from recon.sources.base import SourceConfig

Model = TypeVar("Model", bound=type[SourceConfig])

_MODELS: dict[str, type[SourceConfig]] = {}
_INFRASTRUCTURE = {"base", "registry", "mapping", "http"}  # helpers, not source types


def register(model: Model) -> Model:
    """Class decorator: make ``model`` a source type, named by its ``type`` literal."""
    annotation = model.model_fields["type"].annotation
    (type_name,) = typing.get_args(annotation)
    if type_name in _MODELS and _MODELS[type_name] is not model:
        raise ValueError(f"source type {type_name!r} is registered twice")
    _MODELS[type_name] = model
    return model


def source_models() -> dict[str, type[SourceConfig]]:
    """Every registered source type, after importing each module of ``recon.sources``."""
    import recon.sources as package

    for module in pkgutil.iter_modules(package.__path__):
        if module.name not in _INFRASTRUCTURE and not module.name.startswith("_"):
            importlib.import_module(f"{package.__name__}.{module.name}")
    return dict(sorted(_MODELS.items()))
