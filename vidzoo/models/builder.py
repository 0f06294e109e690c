"""Build a backbone from a name, a recipe or a user's module, without Lightning (the model layer).

Contract (the coordinator's brief; H-models owns the implementation): ``build_model(ref, num_classes,
pretrained)`` returns a :class:`Built` with the module, the recipe a checkpoint stores to rebuild it,
and the parameter names of its classifier.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Built:
    """A built backbone: the module, how to rebuild it, and which parameters are its classifier."""

    model: Any
    recipe: dict
    classifier: list[str] = field(default_factory=list)
    spec: Any = None


def build_model(ref, num_classes: int, pretrained: str | None = None) -> Built:
    """``ref``: a registry name, ``{"name": ..., "options": {...}}``, ``{"class_path": ..., "init_args": ...}``
    or an ``nn.Module``. Temporary body over the registry's factory (no vidzoo.api: that would close an
    import cycle through the runner); H-models replaces it."""
    from vidzoo.plugins import get_registry

    if isinstance(ref, str):
        ref = {"name": ref, "options": {}}
    if isinstance(ref, dict) and "name" in ref:
        options = dict(ref.get("options") or {})
        options.pop("pretrained", None)
        reg = get_registry().get("backbone", ref["name"])
        extra = {"pretrained": pretrained} if pretrained is not None else {}
        model = reg.factory(num_classes=num_classes, **options, **extra)
        spec = reg.spec
        from vidzoo.models.state_dict import head_parameter_names

        import torch  # not a module: the task says which contract the factory broke

        head = head_parameter_names(model) if isinstance(model, torch.nn.Module) else []
        return Built(model, {"name": ref["name"], "options": options}, head, spec)
    cls = type(ref)
    return Built(ref, {"class_path": f"{cls.__module__}.{cls.__qualname__}", "init_args": None}, [], None)


def recipe_of(hparams) -> dict:
    """The model recipe of a checkpoint's hyper_parameters (``model``); checkpoints of vidzoo before the
    recipe hold ``backbone``/``backbone_options`` instead."""
    recipe = hparams.get("model")
    if isinstance(recipe, dict):
        return dict(recipe)
    return {"name": hparams["backbone"], "options": dict(hparams.get("backbone_options") or {})}


def recipe_label(recipe: dict) -> str:
    """A recipe in one word, for messages and reports: the registry name, or the class path."""
    return str(recipe.get("name") or recipe.get("class_path", "?"))
