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
    """factory(*args, **options), an unknown option being a one-line error listing the known ones."""
    params = inspect.signature(factory).parameters
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    unknown = sorted(set(options) - set(params)) if not takes_any else []
    if unknown:
        known = [p for p in params if p not in ("split", "transform", "num_classes")]
        raise VidzooError(f"{kind} {name!r} has no option(s) {', '.join(unknown)}; its options: "
                          f"{', '.join(known) or 'none'}")
    return factory(*args, **options)


def create_model(name: str, num_classes: int | None = None, pretrained: str | None = None, **options):
    reg = _registry().get("backbone", name)
    if pretrained is not None:
        options["pretrained"] = pretrained
    if num_classes is not None:
        options["num_classes"] = num_classes
    return _call("backbone", name, reg.factory, **options)


def resolve_input_config(model_name: str, **options) -> dict[str, Any]:
    spec = _registry().get("backbone", model_name).spec
    given = spec.input_config(options) if options and spec.input_config is not None else spec.input
    config = given.transform_options()
    if given.short_side is not None:
        config["short_side"] = given.short_side
    if given.pathways is not None:
        config["pathways"] = given.pathways
    return config


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


def train(dataset, backbone, transform=None, **sections):
    """One training run, as `vidzoo run` makes it: the same run config (built from these sections, not
    from a command line), the same checks, the same runner. ``backbone``: a registered name, a section
    dict, your own ``torch.nn.Module``, or ``{"class_path": ..., "init_args": {...}}``."""
    from vidzoo.training.run_config import from_sections
    from vidzoo.training.runner import fit

    if not isinstance(backbone, (str, dict)):
        import torch

        if not isinstance(backbone, torch.nn.Module):
            raise VidzooError(f"backbone must be a registered name, a dict with 'name', or a torch.nn.Module, "
                              f"got {type(backbone).__name__}")
    return fit(from_sections(dataset, backbone, transform, **sections))
