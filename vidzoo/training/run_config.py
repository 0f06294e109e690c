"""The run config: what one training run is, as typed sections (no Lightning import here).

`vidzoo run` builds it from the command line (vidzoo/cli/config.py: jsonargparse, config files,
flags); ``vidzoo.train(...)`` builds it from keyword sections with :func:`from_sections`. Both hand
it to :func:`vidzoo.training.runner.fit`. Defaults, lowest first: the factories' own, the
backbone's input config (frames, crop size, mean, std, for the transform options of those names),
the dataset's ``run_defaults``, then the caller's values (config files and flags on the CLI).
:meth:`RunConfig.to_dict` is what ``config.yaml`` and ``--print-config`` hold, and what
``--config`` and ``--resume`` read back.
"""

from __future__ import annotations

import copy
import inspect
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from vidzoo.data.datamodule import DataOptions
from vidzoo.errors import VidzooError

PLUGIN_SECTIONS = ("dataset", "transform", "backbone")
# Arguments the runner passes itself; not user options.
FACTORY_SKIP = {"dataset": {"split", "transform"}, "transform": {"split"}, "backbone": {"num_classes"}}
# Trainer arguments vidzoo sets itself (run directory, logger, callbacks) or that take objects.
TRAINER_SKIP = {"callbacks", "logger", "plugins", "default_root_dir", "enable_checkpointing", "profiler"}
TRAINER_DEFAULTS = {"max_epochs": 10, "log_every_n_steps": 10}
# Backbone options the model layer reads (vidzoo.models.build_model loads the weights), whether or not
# the factory takes them.
WEIGHT_OPTIONS = {"pretrained": None, "sha256": None}
# --trainer options that are vidzoo's own (the runner takes them out), not Lightning Trainer arguments.
OWN_TRAINER_OPTIONS = ("logger", "skip_nonfinite", "peer_timeout_s")
OWN_TRAINER_DEFAULTS = {"logger": "csv", "skip_nonfinite": 0, "peer_timeout_s": None}


@dataclass
class Ref:
    """A registered plugin by name, with its factory's options."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"name": self.name, **self.options}

    @classmethod
    def of(cls, value, kind: str) -> "Ref":
        """A name, ``{"name": ..., **options}`` (a config section) or a Ref."""
        if isinstance(value, Ref):
            return Ref(value.name, dict(value.options))
        if isinstance(value, str):
            return cls(value)
        if isinstance(value, dict) and isinstance(value.get("name"), str):
            return cls(value["name"], {k: v for k, v in value.items() if k != "name"})
        raise VidzooError(f"{kind} must be a registered name or a dict with a 'name' key and its options, "
                          f"got {type(value).__name__}")


@dataclass
class PerfOptions:
    """Model speed options (measured in docs/performance.md; fp32 stays the default precision,
    since bf16 on CPUs without AVX-512 BF16 is ~20x slower).

    Args:
        channels_last_3d: Keep the model's weights and the clips in channels_last_3d memory
            format (NDHWC); usually faster convolutions on GPUs with cuDNN, not on CPU.
        compile: torch.compile the backbone when training starts (the first steps are slow
            while it compiles; checkpoints are unchanged).
    """

    channels_last_3d: bool = False
    compile: bool = False


@dataclass
class RunConfig:
    """One training run. ``backbone``: a registry :class:`Ref`, or a user's model (an ``nn.Module``, or
    ``{"class_path": ..., "init_args": {...}}``); ``optimizer``, ``checkpoint`` and ``trainer`` hold every
    option of vidzoo.training.optim.optimizer_options, vidzoo.training.midepoch.checkpoint_options and
    Lightning's Trainer (plus vidzoo's own, OWN_TRAINER_OPTIONS)."""

    dataset: Ref
    transform: Ref
    backbone: Any
    data: DataOptions = field(default_factory=DataOptions)
    perf: PerfOptions = field(default_factory=PerfOptions)
    optimizer: dict[str, Any] = field(default_factory=dict)
    checkpoint: dict[str, Any] = field(default_factory=dict)
    trainer: dict[str, Any] = field(default_factory=dict)
    output: str = "runs"
    seed: int = 0

    @property
    def backbone_label(self) -> str:
        """The backbone in run directory names and titles: its registry name or its class name."""
        if isinstance(self.backbone, Ref):
            return self.backbone.name
        if isinstance(self.backbone, dict):
            return str(self.backbone.get("class_path", "model")).rsplit(".", 1)[-1]
        return type(self.backbone).__name__

    def to_dict(self, model_recipe: dict | None = None) -> dict:
        """Plain data (config.yaml). A user's model is written as its recipe (``model_recipe``, from
        vidzoo.models.build_model), since a module object is no config."""
        if isinstance(self.backbone, Ref):
            backbone = self.backbone.to_dict()
        else:
            backbone = model_recipe or (self.backbone if isinstance(self.backbone, dict) else {})
        return plain({
            "dataset": self.dataset.to_dict(), "transform": self.transform.to_dict(), "backbone": backbone,
            "data": asdict(self.data), "perf": asdict(self.perf), "optimizer": dict(self.optimizer),
            "checkpoint": dict(self.checkpoint), "trainer": dict(self.trainer), "output": self.output,
            "seed": self.seed,
        })

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        """From complete sections (what the CLI parser gives, or a config.yaml)."""
        backbone = d["backbone"]
        return cls(
            dataset=Ref.of(d["dataset"], "dataset"), transform=Ref.of(d["transform"], "transform"),
            backbone=Ref.of(backbone, "backbone") if isinstance(backbone, (str, Ref)) or "name" in backbone
            else dict(backbone),
            data=_typed(DataOptions, d.get("data") or {}, "data"), perf=_typed(PerfOptions, d.get("perf") or {}, "perf"),
            optimizer=dict(d.get("optimizer") or {}), checkpoint=dict(d.get("checkpoint") or {}),
            trainer=dict(d.get("trainer") or {}), output=str(d.get("output", "runs")), seed=int(d.get("seed", 0)),
        )


def _typed(cls, values: dict, section: str):
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise VidzooError(f"unknown option {section}.{unknown[0]}; the {section} options: {', '.join(sorted(known))}")
    return cls(**values)


def plain(value):
    """Tuples to lists (YAML-safe), recursively."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def deep_merge(base: dict, update: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def default_transform(dataset: str, backbone: str | None = None, pretrained=None) -> str:
    """The transform a run uses unless told otherwise: with published weights (``pretrained``
    given, other than a vidzoo ``.ckpt``) of a backbone whose spec has a recipe, that recipe (``InputConfig.eval_transform()``:
    the source's eval preprocessing, and the Kinetics random recipe with its crop for training);
    else the dataset spec's preset, else the dataset's own name."""
    from vidzoo.plugins import get_registry

    registry = get_registry()
    # published weights: not none, and not a vidzoo checkpoint (your own run's, with its own transform)
    published = pretrained not in (None, "", "none", "null", False) and not str(pretrained).endswith(".ckpt")
    if backbone is not None and published:
        recipe = _recipe(registry.get("backbone", backbone).spec.input)
        if recipe is not None:
            return recipe[0]
    return registry.get("dataset", dataset).spec.transform or dataset


def _recipe(given) -> tuple[str, dict] | None:
    """An InputConfig's (transform, options) when it states a published recipe (its clip window)."""
    return given.eval_transform() if given.clip_duration() is not None else None


def recipe_clip_duration(backbone: str, transform: str, dataset: str) -> dict:
    """The dataset defaults of a run whose transform is the backbone's recipe: the recipe's clip
    seconds (``clip_duration``, where the dataset has that option), so that the frames are spaced
    as the source spaced them."""
    from vidzoo.plugins import get_registry

    registry = get_registry()
    given = registry.get("backbone", backbone).spec.input
    recipe = _recipe(given)
    if recipe is None or recipe[0] != transform:
        return {}
    if "clip_duration" not in inspect.signature(registry.get("dataset", dataset).factory).parameters:
        return {}
    return {"clip_duration": given.clip_duration()}


def for_transform(recommended: dict, transform: str) -> dict:
    """A dataset's run_defaults without the transform options ``transform`` has no option for (the
    demo's short sides are the Kinetics preset's; a recipe transform takes its own)."""
    from vidzoo.plugins import get_registry

    if not isinstance(recommended.get("transform"), dict):
        return recommended
    params = inspect.signature(get_registry().get("transform", transform).factory).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return recommended
    return {**recommended, "transform": {k: v for k, v in recommended["transform"].items() if k in params}}


def input_defaults(backbone: str, transform: str, options: dict | None = None) -> dict:
    """Transform defaults from the backbone's spec: its frames, crop size, mean and std.

    So `--backbone r3d_18` feeds 16x112x112 clips normalised as torchvision's weights expect,
    with the dataset's own transform preset. With ``options`` (the chosen backbone options): the
    defaults from the spec's ``input_config(options) -> InputConfig`` for those options (a timm
    model's size and mean/std), or nothing when the spec has none. Only the options the transform
    factory takes.
    """
    from vidzoo.plugins import get_registry

    registry = get_registry()
    spec = registry.get("backbone", backbone).spec
    if options is None:
        config = spec.input
    elif spec.input_config is None:
        return {}
    else:
        config = spec.input_config(dict(options))
    recipe = _recipe(config)
    # the recipe's own options when the run's transform is the recipe (`published`), else the preset's
    given = recipe[1] if recipe is not None and recipe[0] == transform else config.transform_options()
    params = inspect.signature(registry.get("transform", transform).factory).parameters
    return {opt: value for opt, value in given.items() if opt in params}


def factory_defaults(kind: str, name: str) -> dict:
    """The options of a registered factory with their defaults (the CLI's flags, with theirs)."""
    from vidzoo.plugins import get_registry

    params = inspect.signature(get_registry().get(kind, name).factory).parameters
    out = {n: p.default for n, p in params.items() if n not in FACTORY_SKIP[kind]
           and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.default is not p.empty}
    if kind == "backbone":
        out.update({k: v for k, v in WEIGHT_OPTIONS.items() if k not in params})
    return out


def function_defaults(fn) -> dict:
    return {n: p.default for n, p in inspect.signature(fn).parameters.items() if p.default is not p.empty}


def trainer_defaults() -> dict:
    """Every Lightning Trainer argument a run config holds, with vidzoo's defaults (as `--print-config`)."""
    from lightning.pytorch import Trainer

    out = {n: p.default for n, p in inspect.signature(Trainer.__init__).parameters.items()
           if n != "self" and n not in TRAINER_SKIP and p.default is not p.empty}
    return {**out, **TRAINER_DEFAULTS, **OWN_TRAINER_DEFAULTS}


def from_sections(dataset, backbone, transform=None, **sections) -> RunConfig:
    """The run config of ``vidzoo.train(dataset, backbone, transform, data=..., trainer=..., ...)``.

    The same defaults as `vidzoo run`: factory defaults, the backbone's input config, the dataset's
    run_defaults, then the caller's sections. ``backbone``: a name, a section dict, or a user's model
    (an nn.Module or a ``{"class_path", "init_args"}`` dict).
    """
    from vidzoo.training import midepoch, optim

    known = {"data", "perf", "optimizer", "checkpoint", "trainer", "output", "seed"}
    unknown = sorted(set(sections) - known)
    if unknown:
        raise VidzooError(f"vidzoo.train has no section {unknown[0]!r}; its sections: dataset, backbone, transform, "
                          f"{', '.join(sorted(known))}")
    for name, value in sections.items():
        kind = {"output": str, "seed": int}.get(name, dict)
        if not isinstance(value, kind):
            raise VidzooError(f"vidzoo.train's {name} must be a {kind.__name__}, got {type(value).__name__}")
    dataset = Ref.of(dataset, "dataset")
    model = backbone if _is_model(backbone) else Ref.of(backbone, "backbone")
    if transform is not None:
        transform = Ref.of(transform, "transform")
    elif isinstance(model, Ref):
        transform = Ref(default_transform(dataset.name, model.name, model.options.get("pretrained")))
    else:
        transform = Ref(default_transform(dataset.name))
    given = {"dataset": dataset.options, "transform": transform.options, **sections}
    layers = [{"dataset": factory_defaults("dataset", dataset.name),
               "transform": factory_defaults("transform", transform.name)}]
    if isinstance(model, Ref):
        given["backbone"] = model.options
        layers.append({"backbone": factory_defaults("backbone", model.name),
                       "transform": input_defaults(model.name, transform.name)})
        chosen = {**layers[-1]["backbone"], **model.options}
        layers.append({"transform": input_defaults(model.name, transform.name, chosen),
                       "dataset": recipe_clip_duration(model.name, transform.name, dataset.name)})
    from vidzoo.plugins import get_registry

    run_defaults = get_registry().get("dataset", dataset.name).spec.run_defaults
    if callable(run_defaults):
        layers.append(for_transform(run_defaults({**layers[0]["dataset"], **dataset.options}) or {}, transform.name))
    defaults = {"optimizer": function_defaults(optim.optimizer_options),
                "checkpoint": function_defaults(midepoch.checkpoint_options), "trainer": trainer_defaults()}
    merged: dict = {"data": {}, "perf": {}, **defaults}
    for layer in [*layers, given]:
        merged = deep_merge(merged, layer)
    for section, allowed in defaults.items():  # data and perf: their dataclasses refuse unknown options
        extra = sorted(set(merged[section]) - set(allowed))
        if extra:
            raise VidzooError(f"unknown option {section}.{extra[0]}; `vidzoo run --dataset D --backbone B --help` "
                              f"lists the {section} options")
    dataset.options, transform.options = merged.pop("dataset"), merged.pop("transform")
    if isinstance(model, Ref):
        model.options = merged.pop("backbone")
    config = RunConfig.from_dict({"dataset": dataset.to_dict(), "transform": transform.to_dict(), "backbone": {},
                                  **{k: v for k, v in merged.items() if k != "backbone"}})
    config.backbone = model
    return config


def _is_model(value) -> bool:
    if isinstance(value, dict):
        return "class_path" in value
    return not isinstance(value, (str, Ref, dict))
