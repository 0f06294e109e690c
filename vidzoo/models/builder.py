"""The model layer: build a backbone from a registry name, a recipe or a user's module, load its
weights centrally, and name its classifier; no Lightning (like timm's create_model and
build_model_with_cfg).

- :func:`build_model` ``(ref, num_classes, pretrained)`` -> :class:`Built`: the module, the recipe a
  checkpoint stores to rebuild it (``{"name", "options"}`` or ``{"class_path", "init_args"}``), the
  parameter names of its classifier (from the spec's declared ``classifier``), the spec, and the
  pretrained-loading report.
- :func:`create_model` ``(name, num_classes, pretrained, checkpoint_path, **options)``: the module alone
  (``vidzoo.create_model``).
- :func:`load_weights`: what ``pretrained`` means, in one place: ``"default"`` or a variant name of the
  spec's ``weights`` (their sha256 checked), a file, an ``http(s)://`` / ``file://`` URL, or what the
  spec's own ``load_weights`` hook takes (a Hub id); a sha256 the user gives is checked and wins.
  Plugin factories only build.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass, field
from typing import Any

from vidzoo.errors import PluginError, VidzooError

OFF = ("", "none", "false", "null")  # pretrained values that mean "no weights"


@dataclass
class Built:
    """A built backbone: the module, how to rebuild it, which parameters are its classifier, its spec,
    and the report of the pretrained weights loaded into it (None without)."""

    model: Any
    recipe: dict
    classifier: list[str] = field(default_factory=list)
    spec: Any = None
    report: Any = None


class ModelNotImportable(VidzooError):
    """A checkpoint's user module whose class cannot be imported or rebuilt here."""

    def __init__(self, class_path: str, why: str = "imported"):
        module, _, name = class_path.rpartition(".")
        self.class_path, self.module, self.name = class_path, module, name
        super().__init__(f"{name} (module {module}) cannot be {why} here")


def build_model(ref, num_classes: int, pretrained: str | None = None) -> Built:
    """``ref``: a registry name, ``{"name": ..., "options": {...}}``, ``{"class_path": ..., "init_args": ...}``
    or an ``nn.Module`` (used as it is). ``pretrained`` (or the options' ``pretrained``, with their
    ``sha256``) loads weights into a registry backbone; the recipe never holds them (a checkpoint
    carries its own weights)."""
    import torch

    if isinstance(ref, str):
        ref = {"name": ref, "options": {}}
    if isinstance(ref, torch.nn.Module):
        return Built(ref, module_recipe(ref), declared_classifier(ref))
    if isinstance(ref, dict) and isinstance(ref.get("class_path"), str):
        model = instantiate(ref["class_path"], ref.get("init_args"))
        return Built(model, {"class_path": ref["class_path"], "init_args": ref.get("init_args")},
                     declared_classifier(model))
    if not (isinstance(ref, dict) and isinstance(ref.get("name"), str)):
        raise VidzooError(f"a model is a registered name, {{'name': ..., 'options': {{...}}}}, "
                          f"{{'class_path': ..., 'init_args': {{...}}}} or a torch.nn.Module, got {type(ref).__name__}")
    options = dict(ref.get("options") or {})
    given = options.pop("pretrained", None)
    sha256 = options.pop("sha256", None)
    return _build_registered(ref["name"], options, num_classes, given if pretrained is None else pretrained, sha256)


def create_model(name: str, num_classes: int | None = None, pretrained: str | None = None,
                 checkpoint_path: str | None = None, **options):
    """A backbone ``nn.Module`` by registry name (``vidzoo.create_model``); ``pretrained`` as
    :func:`load_weights` takes it (``sha256=`` checks the file); ``checkpoint_path``: a state dict
    or vidzoo checkpoint loaded exactly (every tensor must fit; a vidzoo checkpoint also gives
    num_classes when it is None)."""
    sha256 = options.pop("sha256", None)
    ckpt = None
    if checkpoint_path is not None:
        from vidzoo.io import safe_load

        ckpt = safe_load(checkpoint_path, what="checkpoint")
        hp = ckpt.get("hyper_parameters") if isinstance(ckpt, dict) else None
        if num_classes is None and isinstance(hp, dict) and hp.get("class_names"):
            num_classes = len(hp["class_names"])
    model = _build_registered(name, options, num_classes, pretrained, sha256).model
    if ckpt is not None:
        load_exactly(model, model_state(ckpt), str(checkpoint_path))
    return model


def _build_registered(name: str, options: dict, num_classes: int | None, pretrained, sha256) -> Built:
    import torch

    from vidzoo.plugins import contracts, get_registry
    from vidzoo.plugins.registry import call_factory

    reg = get_registry().get("backbone", name)
    args = {} if num_classes is None else {"num_classes": num_classes}
    model = call_factory("backbone", name, reg.factory, **args, **options)
    who = f"backbone {name!r} ({reg.package} {reg.version})"
    if not isinstance(model, torch.nn.Module):
        raise PluginError(contracts.breach("backbone", who, f"its factory returned {type(model).__name__}, "
                                                            f"not a torch.nn.Module"))
    spec = reg.spec
    modules = spec.classifier_for(options) if spec is not None else ()
    names = dict(model.named_modules())
    absent = [m for m in modules if m not in names]
    if absent:
        raise PluginError(f"{who}: its spec declares the classifier {', '.join(absent)}, which the model it "
                          f"built has no module of")
    report = None
    if pretrained is True or (pretrained not in (None, False) and str(pretrained).lower() not in OFF):
        report = load_weights(model, spec, "default" if pretrained is True else str(pretrained), sha256, options)
    elif sha256:
        raise VidzooError("--backbone.sha256 checks the pretrained weights; give --backbone.pretrained too")
    return Built(model, {"name": name, "options": options}, classifier_parameters(model, modules), spec, report)


def load_weights(model, spec, pretrained: str, sha256: str | None = None, options: dict | None = None,
                 quiet: bool = False):
    """Load ``pretrained`` into ``model`` and print the report's one line; returns the LoadReport.

    The spec's ``load_weights`` hook goes first (it returns None for a source it does not handle);
    then ``"default"`` / a variant name of ``spec.weights`` (the sha256 the spec records is checked
    unless the user gives one); anything else is a file or URL."""
    from vidzoo.messages import say
    from vidzoo.models.state_dict import in_modules, load_pretrained

    options = dict(options or {})
    modules = spec.classifier_for(options) if spec is not None else ()
    report = None
    if spec is not None and spec.load_weights is not None:
        report = spec.load_weights(model, pretrained, sha256, options)
    if report is None:
        source, expected = pretrained, sha256
        weights = dict(spec.weights) if spec is not None else {}
        if pretrained == "default" and spec is not None and spec.default is not None:
            chosen = spec.default
        else:
            chosen = weights.get(pretrained)
        if chosen is not None:
            source, expected = chosen.url, sha256 or chosen.sha256
        elif pretrained == "default":
            raise VidzooError("this backbone has no default pretrained weights; pass a path or URL to pretrained")
        report = load_pretrained(model, source, sha256=expected, classifier=modules)
        if source != pretrained:
            report.source = f"{pretrained} ({source})" if pretrained != "default" else source
    # the head is what the spec declares, whoever loaded the tensors
    report.head = [k for k, _, _ in report.skipped_shape if in_modules(k, modules)]
    if not quiet:
        say(report.summary())
    return report


def classifier_parameters(model, modules) -> list[str]:
    """Names of the model's parameters inside the classifier's module paths, in model order."""
    from vidzoo.models.state_dict import in_modules

    return [n for n, _ in model.named_parameters() if in_modules(n, modules)]


def declared_classifier(model) -> list[str]:
    """A user's module's classifier when it declares one as timm models do
    (``pretrained_cfg["classifier"]``); else none."""
    cfg = getattr(model, "pretrained_cfg", None) or getattr(model, "default_cfg", None)
    modules = cfg.get("classifier") if isinstance(cfg, dict) else None
    if isinstance(modules, str):
        modules = (modules,)
    return classifier_parameters(model, tuple(modules or ()))


# ------------------------------------------------------------------ recipes (what a checkpoint stores)


def module_recipe(model) -> dict:
    """``{"class_path", "init_args"}`` of a user's module: its importable class path, and its
    constructor arguments read from same-named attributes (None unless every required one is found)."""
    cls = type(model)
    return {"class_path": f"{cls.__module__}.{cls.__qualname__}", "init_args": init_args_of(model)}


def init_args_of(model) -> dict | None:
    try:
        params = list(inspect.signature(type(model).__init__).parameters.values())[1:]
    except (TypeError, ValueError):
        return None
    args = {}
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        value = getattr(model, p.name, inspect.Parameter.empty)
        if value is inspect.Parameter.empty or not _plain(value):
            if p.default is inspect.Parameter.empty:
                return None
            continue
        args[p.name] = list(value) if isinstance(value, tuple) else value
    return args


def _plain(value) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False


def instantiate(class_path: str, init_args: dict | None):
    """The user's module rebuilt from its class path and constructor arguments."""
    module, _, name = class_path.rpartition(".")
    try:
        obj = importlib.import_module(module)
        for part in name.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        raise ModelNotImportable(class_path) from None
    if "<locals>" in class_path or not callable(obj):
        raise ModelNotImportable(class_path)
    try:
        return obj(**(init_args or {}))
    except TypeError:
        raise ModelNotImportable(class_path, "rebuilt (its constructor arguments were not recorded)") from None


def recipe_of(hparams: dict) -> dict:
    """The model recipe of a checkpoint's hyper-parameters: ``model`` (this format), or today's
    ``backbone`` / ``backbone_options``; ``pretrained`` / ``sha256`` dropped (the checkpoint has weights)."""
    recipe = hparams.get("model")
    if not isinstance(recipe, dict):
        recipe = {"name": hparams.get("backbone"), "options": hparams.get("backbone_options")}
    if "class_path" in recipe:
        return {"class_path": recipe["class_path"], "init_args": recipe.get("init_args")}
    options = {k: v for k, v in (recipe.get("options") or {}).items() if k not in ("pretrained", "sha256")}
    return {"name": recipe["name"], "options": options}


def recipe_classifier(recipe: dict, model) -> list[str]:
    """The classifier's module paths for a model built from ``recipe``: its registry spec's, else what
    the module itself declares (timm's ``pretrained_cfg``)."""
    if recipe.get("name"):
        from vidzoo.plugins import get_registry

        try:
            spec = get_registry().get("backbone", recipe["name"]).spec
        except VidzooError:
            spec = None
        if spec is not None and spec.classifier_for(recipe.get("options")):
            return list(spec.classifier_for(recipe.get("options")))
    return declared_classifier(model)


def recipe_label(recipe: dict) -> str:
    """What a recipe builds, in a word: the registry name or the class name."""
    return recipe.get("name") or recipe.get("class_path", "?").rpartition(".")[2]


def model_state(ckpt) -> dict:
    """The model's tensors of a vidzoo checkpoint (its ``model.`` keys, unprefixed) or any state dict."""
    from vidzoo.models.state_dict import extract_state_dict

    if isinstance(ckpt, dict) and isinstance(ckpt.get("hyper_parameters"), dict) and isinstance(
            ckpt.get("state_dict"), dict):
        return {k[len("model."):]: v for k, v in ckpt["state_dict"].items() if k.startswith("model.")}
    return extract_state_dict(ckpt)


def load_exactly(model, state: dict, where: str) -> None:
    """Every tensor of the model from ``state`` (names and shapes must match), or one line saying what differs."""
    import torch

    from vidzoo.models.state_dict import _align_prefix

    own = model.state_dict()
    state = _align_prefix(state, set(own))
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        first = (missing + unexpected + shapes)[0]
        raise VidzooError(f"{where} does not fit this model ({len(missing)} missing, {len(unexpected)} unexpected, "
                          f"{len(shapes)} of another shape, e.g. {first}); was it trained with other options or "
                          f"another version of the plugin?")
    with torch.no_grad():
        model.load_state_dict(state, strict=True)
