"""vidzoo: a plugin-style model zoo for video classification.

Importing vidzoo is cheap (no torch): the heavy parts load when used. The Python workflow
(docs/api.md)::

    vidzoo.list_models("x3d*")                       # names, like timm.list_models
    vidzoo.get_model_spec("r3d_18")                  # ModelSpec: input, weights, figures
    model = vidzoo.create_model("r3d_18", num_classes=10, pretrained="default")
    transform = vidzoo.create_transform("kinetics", "val", **vidzoo.resolve_input_config("r3d_18"))
    dataset = vidzoo.create_dataset("kinetics", "train", transform)
    result = vidzoo.train(dataset="kinetics", backbone="resnet3d50", trainer={"max_epochs": 1})
    vidzoo.load(result.best_checkpoint).predict("video.mp4").top

The functions are defined in vidzoo.api; the building blocks for plugin authors are in
vidzoo.plugins (docs/plugins.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vidzoo import compat as _compat
from vidzoo._version import __version__
from vidzoo.plugins.hookspecs import hookimpl

if TYPE_CHECKING:  # what type checkers see; at run time each name is imported on first use
    from vidzoo.api import (create_dataset, create_model, create_transform, evaluate, export, get_dataset_spec,
                            get_model_spec, get_registry, get_transform_spec, list_datasets, list_models,
                            list_transforms, load, resolve_input_config, train)
    from vidzoo.plugins.specs import DatasetSpec, InputConfig, ModelSpec, TransformSpec, Weights

_API = ("get_registry", "list_models", "list_datasets", "list_transforms", "get_model_spec", "get_dataset_spec",
        "get_transform_spec", "create_model", "resolve_input_config", "create_transform", "create_dataset",
        "train", "evaluate", "export", "load")
_SPECS = ("ModelSpec", "InputConfig", "Weights", "DatasetSpec", "TransformSpec")
__all__ = ["__version__", "hookimpl", *_API, *_SPECS]

_compat.install()


def __getattr__(name: str):
    if name in _API:
        from vidzoo import api

        return getattr(api, name)
    if name in _SPECS:  # plain dataclasses
        from vidzoo.plugins import specs

        return getattr(specs, name)
    raise AttributeError(f"module 'vidzoo' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
