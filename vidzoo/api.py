"""The Python API: what ``vidzoo.*`` re-exports (lazily, from vidzoo/__init__.py), defined once here.

Lookups (list_*, get_*_spec) never import torch; builders import it when called.
"""

from __future__ import annotations

import fnmatch
import inspect
import os
from typing import TYPE_CHECKING, Any, Callable

from vidzoo.errors import VidzooError

if TYPE_CHECKING:
    import torch

    from vidzoo.evaluation.evaluate import EvaluationResult
    from vidzoo.evaluation.export import ExportResult
    from vidzoo.evaluation.inference import Predictor
    from vidzoo.plugins.registry import Registry
    from vidzoo.plugins.specs import DatasetSpec, ModelSpec, TransformSpec
    from vidzoo.training.runner import TrainResult

# resolve_input_config's keys; create_transform drops those its transform has no option for.
INPUT_CONFIG_KEYS = ("num_frames", "crop_size", "short_side", "mean", "std", "pathways", "eval_short_side",
                     "min_short_side", "max_short_side")


def matches(name: str, patterns) -> bool:
    """Shell-style wildcards, case-insensitive; any pattern may match (like timm.list_models)."""
    if isinstance(patterns, str):
        patterns = [patterns]
    return not patterns or any(fnmatch.fnmatchcase(name.lower(), p.lower()) for p in patterns)


def get_registry() -> Registry:
    """The registry of all installed plugins (see vidzoo.plugins)."""
    from vidzoo.plugins import get_registry as _get

    return _get()


def list_names(kind: str, pattern="*", pretrained: bool = False) -> list[str]:
    regs = get_registry().list(kind)
    if pretrained:
        regs = [r for r in regs if r.spec is not None and r.spec.weights]
    return [r.name for r in regs if matches(r.name, pattern)]


def list_models(pattern="*", pretrained: bool = False) -> list[str]:
    """Backbone names matching shell-style pattern(s), case-insensitive, as `vidzoo list` matches
    (``list_models("x3d*")``); ``pretrained=True`` keeps those with published weights."""
    return list_names("backbone", pattern, pretrained)


def list_datasets(pattern="*") -> list[str]:
    """Dataset names matching shell-style pattern(s), case-insensitive."""
    return list_names("dataset", pattern)


def list_transforms(pattern="*") -> list[str]:
    """Transform names matching shell-style pattern(s), case-insensitive."""
    return list_names("transform", pattern)


def get_spec(kind: str, name: str):
    return get_registry().get(kind, name).spec


def get_model_spec(name: str) -> ModelSpec:
    """The backbone's ModelSpec: input config, transform preset, weights (URLs, hashes, variants),
    categories and published figures."""
    return get_spec("backbone", name)


def get_dataset_spec(name: str) -> DatasetSpec:
    """The dataset's DatasetSpec: its transform preset and recommended run settings."""
    return get_spec("dataset", name)


def get_transform_spec(name: str) -> TransformSpec:
    """The transform's TransformSpec."""
    return get_spec("transform", name)


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


def create_model(name: str, num_classes: int | None = None, pretrained: str | None = None,
                 **options) -> torch.nn.Module:
    """A backbone ``nn.Module`` by registry name (like timm.create_model).

    Args:
        name: A backbone name (`vidzoo list --kind backbone`).
        num_classes: Size of the classifier head (the factory's default when None).
        pretrained: ``"default"``, a weights variant name, a file or an http(s) URL, as
            ``--backbone.pretrained``; with another num_classes the head is new.
        **options: The backbone's other options (``--backbone.<opt>``).
    """
    reg = get_registry().get("backbone", name)
    if pretrained is not None:
        options["pretrained"] = pretrained
    if num_classes is not None:
        options["num_classes"] = num_classes
    return _call("backbone", name, reg.factory, **options)


def resolve_input_config(model_name: str, **options) -> dict[str, Any]:
    """The input a backbone's weights expect, as transform options: num_frames, crop_size,
    mean, std (and short_side, pathways, the resize short sides where known). ``create_transform``
    takes it as is and ignores keys its transform has no option for, as `vidzoo run` does.
    ``options`` are backbone options the input depends on (``tsm``'s ``model="convnext_atto"``)."""
    spec = get_registry().get("backbone", model_name).spec
    given = spec.input_config(options) if options and spec.input_config is not None else spec.input
    config = given.transform_options()
    if given.short_side is not None:
        config["short_side"] = given.short_side
    if given.pathways is not None:
        config["pathways"] = given.pathways
    return config


def create_transform(name: str, split: str = "val", **options) -> Callable[[dict], dict]:
    """A transform by registry name for ``split`` ("train" is random, others deterministic)."""
    reg = get_registry().get("transform", name)
    params = inspect.signature(reg.factory).parameters
    options = {k: v for k, v in options.items() if k in params or k not in INPUT_CONFIG_KEYS}
    return _call("transform", name, reg.factory, split, **options)


def create_dataset(name: str, split: str = "train", transform=None, **options) -> torch.utils.data.Dataset:
    """A dataset by registry name. ``transform``: a callable, a transform name, or None for the
    dataset's own preset; ``options`` are the dataset's (``--dataset.<opt>``)."""
    registry = get_registry()
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


def train(dataset, backbone, transform=None, verbose: bool = False, **sections) -> TrainResult:
    """Train and validate, the same run `vidzoo run` makes; returns a TrainResult (run_dir,
    best_checkpoint, last_checkpoint, metrics).

    ``dataset``, ``backbone`` and ``transform`` are a registry name or a dict with ``name`` and
    options; ``backbone`` may also be your own ``torch.nn.Module`` (already sized for the
    dataset's classes). ``sections`` are the other config sections as dicts: ``data``,
    ``trainer``, ``optimizer``, ``finetune``, ``perf``, and ``seed`` / ``output`` values, the keys
    `vidzoo run --print-config` shows. Third-party tips and internal warnings are hidden as `vidzoo run`
    hides them (vidzoo.noise); ``verbose=True`` shows them, as ``-v`` does.
    """
    import contextlib
    import tempfile
    from pathlib import Path

    import yaml

    from vidzoo import noise, plugins
    from vidzoo.training import config as config_mod
    from vidzoo.training import optim
    from vidzoo.data import bad_videos
    from vidzoo.training.runner import RUN_DIR_ENV, check_output, fit

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
        stack.enter_context(noise.hidden(verbose))
        # fit() puts the run directory and its bad-video log into os.environ for its DataLoader workers
        # and DDP ranks; a second train() in this program, or a process it starts, must not inherit them.
        stack.callback(_restore_environ, {k: os.environ.get(k) for k in (RUN_DIR_ENV, bad_videos.LOG_ENV)})
        if user_module is not None:
            stack.enter_context(plugins.registered(_ModulePlugin(backbone, user_module), backbone))
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="vidzoo-train-")))
        path = folder / "config.yaml"
        path.write_text(yaml.safe_dump(_plain(config), sort_keys=False))
        _, cfg = config_mod.resolve(["--config", str(path)])
        optim.check(cfg.optimizer.as_dict())
        check_output(cfg.output)
        return fit(cfg)


def _restore_environ(saved: dict) -> None:
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _plain(value):
    """Tuples to lists (YAML-safe), recursively."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def evaluate(checkpoint, views="10x3", split: str = "val", verbose: bool = False, **options) -> EvaluationResult:
    """Multi-view evaluation of a checkpoint, what `vidzoo test` reports, as data.

    Returns an EvaluationResult: ``top1``, ``top5``, ``mean_class_accuracy``, ``per_class``
    (rows of class, videos, top1, top5), ``confusion`` (rows: true class, columns: predicted,
    in ``class_names`` order); ``write_reports(dir)`` writes the CSVs, JSON and PNG.
    ``views`` is "TxS" (clips x crops); ``options``: ``batch_size``, ``num_workers``,
    ``device``, ``progress`` and dataset options such as ``data_path`` (the run's by default).
    ``verbose=True`` shows the third-party lines it hides, as for train.
    """
    from vidzoo import noise
    from vidzoo.evaluation.evaluate import evaluate as _evaluate

    with noise.hidden(verbose):
        return _evaluate(checkpoint, views, split, **options)


def export(checkpoint, format: str, path, verbose: bool = False, **options) -> ExportResult:
    """Export a checkpoint to ``format`` "torchscript" or "onnx" at ``path`` (metadata in
    ``path.json``), checked against the checkpoint first; ``options``: ``opset``,
    ``tolerance``, ``sample`` (a video for the check). Returns an ExportResult. ``verbose=True``
    shows the third-party lines it hides, as for train."""
    from vidzoo import noise
    from vidzoo.evaluation.export import export as _export

    with noise.hidden(verbose):
        return _export(checkpoint, format, path, **options)


def load(checkpoint, device: str | None = None, verbose: bool = False) -> Predictor:
    """A trained checkpoint ready for inference: ``vidzoo.load(CKPT).predict("video.mp4").top``.

    Returns a vidzoo.evaluation.inference.Predictor (model, eval transform and class names rebuilt from
    the checkpoint alone); see docs/predict.md. ``verbose=True`` shows the third-party lines it
    hides, as for train.
    """
    from vidzoo import noise
    from vidzoo.evaluation.inference import load as _load

    with noise.hidden(verbose):
        return _load(checkpoint, device=device)
