"""The Python API behind ``vidzoo.*`` (re-exported lazily by vidzoo/__init__.py).

Lookups (list_*, get_*_spec) never import torch; builders import it when called.
"""

from __future__ import annotations

import fnmatch
import inspect
from typing import Any, Callable

from vidzoo.errors import VidzooError

# resolve_input_config's keys; create_transform drops those its transform has no option for.
INPUT_CONFIG_KEYS = ("num_frames", "crop_size", "short_side", "mean", "std", "pathways", "eval_short_side",
                     "min_short_side", "max_short_side")


def matches(name: str, patterns) -> bool:
    """Shell-style wildcards, case-insensitive; any pattern may match (like timm.list_models)."""
    if isinstance(patterns, str):
        patterns = [patterns]
    return not patterns or any(fnmatch.fnmatchcase(name.lower(), p.lower()) for p in patterns)


def _registry():
    from vidzoo.plugins import get_registry

    return get_registry()


def list_names(kind: str, pattern="*", pretrained: bool = False) -> list[str]:
    regs = _registry().list(kind)
    if pretrained:
        regs = [r for r in regs if r.spec is not None and r.spec.weights]
    return [r.name for r in regs if matches(r.name, pattern)]


def get_spec(kind: str, name: str):
    return _registry().get(kind, name).spec


def _call(kind: str, name: str, factory: Callable, *args, **options):
    from vidzoo.plugins.registry import call_factory

    return call_factory(kind, name, factory, *args, **options)


def create_model(name: str, num_classes: int | None = None, pretrained: str | None = None, **options):
    from vidzoo.models.builder import create_model as _create

    return _create(name, num_classes, pretrained, **options)


def resolve_input_config(model_name: str, **options) -> dict[str, Any]:
    spec = _registry().get("backbone", model_name).spec
    given = spec.input_config(options) if options and spec.input_config is not None else spec.input
    return given.transform_options()


def create_transform(name: str, split: str = "val", **options):
    reg = _registry().get("transform", name)
    params = inspect.signature(reg.factory).parameters
    options = {k: v for k, v in options.items() if k in params or k not in INPUT_CONFIG_KEYS}
    return _call("transform", name, reg.factory, split, **options)


def create_dataset(name: str, split: str = "train", transform=None, **options):
    registry = _registry()
    reg = registry.get("dataset", name)
    if transform is None:
        transform = reg.spec.transform or name
    if isinstance(transform, str):
        transform = create_transform(transform, split)
    dataset = _call("dataset", name, reg.factory, split, transform, **options)
    if not getattr(dataset, "classes", None):
        from vidzoo.errors import PluginError
        from vidzoo.plugins.contracts import no_classes

        raise PluginError(no_classes(name, reg.package, split))
    return dataset


def _section(value, kind: str) -> dict:
    if isinstance(value, str):
        return {"name": value}
    if isinstance(value, dict) and isinstance(value.get("name"), str):
        return dict(value)
    raise VidzooError(f"{kind} must be a registered name or a dict with a 'name' key and its options, "
                      f"got {type(value).__name__}")


class _ModulePlugin:
    """A user's nn.Module as a one-off backbone plugin (registered for the run only)."""

    def __init__(self, name: str, module):
        self.name, self.module = name, module

    def __call__(self, num_classes: int):
        return self.module

    from vidzoo.plugins.hookspecs import hookimpl as _hookimpl

    @_hookimpl
    def register_backbones(self, register):
        register(self.name, self, f"{type(self.module).__name__} given to vidzoo.train")


def train(dataset, backbone, transform=None, **sections):
    import contextlib
    import tempfile
    from pathlib import Path

    import yaml

    from vidzoo import plugins
    from vidzoo.training import config as config_mod
    from vidzoo.training import optim
    from vidzoo.training.runner import check_output, fit

    user_module = None
    if not isinstance(backbone, (str, dict)):
        import torch

        if not isinstance(backbone, torch.nn.Module):
            raise VidzooError(f"backbone must be a registered name, a dict with 'name', or a torch.nn.Module, "
                              f"got {type(backbone).__name__}")
        user_module, backbone = backbone, f"module-{type(backbone).__name__}"
    config = {"dataset": _section(dataset, "dataset"), "backbone": _section(backbone, "backbone")}
    if transform is not None:
        config["transform"] = _section(transform, "transform")
    config.update(sections)
    with contextlib.ExitStack() as stack:
        if user_module is not None:
            stack.enter_context(plugins.registered(_ModulePlugin(backbone, user_module), backbone))
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="vidzoo-train-")))
        path = folder / "config.yaml"
        path.write_text(yaml.safe_dump(_plain(config), sort_keys=False))
        _, cfg = config_mod.resolve(["--config", str(path)])
        optim.check(cfg.optimizer.as_dict())
        check_output(cfg.output)
        return fit(cfg)


def _plain(value):
    """Tuples to lists (YAML-safe), recursively."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
