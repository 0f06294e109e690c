"""The Python API: what ``vidzoo.*`` re-exports (lazily, from vidzoo/__init__.py), defined once here.

Lookups (list_*, get_*_spec) never import torch; builders import it when called.
"""

from __future__ import annotations

import fnmatch
import inspect
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
    from vidzoo.plugins.registry import call_factory

    return call_factory(kind, name, factory, *args, **options)


def create_model(name: str, num_classes: int | None = None, pretrained: str | None = None,
                 checkpoint_path: str | None = None, **options) -> torch.nn.Module:
    """A backbone ``nn.Module`` by registry name (like timm.create_model).

    Args:
        name: A backbone name (`vidzoo list --kind backbone`).
        num_classes: Size of the classifier head (the factory's default when None).
        pretrained: ``"default"``, a weights variant name, a file, an http(s) or file:// URL, or
            what the backbone's plugin takes (a Hub id), as ``--backbone.pretrained``; with another
            num_classes the head (the spec's ``classifier``) is new. ``sha256=`` checks the file.
        checkpoint_path: A state dict or vidzoo checkpoint to load exactly (every tensor must
            fit); a vidzoo checkpoint also gives num_classes when it is None.
        **options: The backbone's other options (``--backbone.<opt>``).
    """
    from vidzoo.models.builder import create_model as _create

    return _create(name, num_classes, pretrained, checkpoint_path, **options)


def resolve_input_config(model_name: str, **options) -> dict[str, Any]:
    """The input a backbone's weights expect, as transform options: num_frames, crop_size,
    mean, std (and pathways, the eval and train short sides where known: InputConfig.transform_options). ``create_transform``
    takes it as is and ignores keys its transform has no option for, as `vidzoo run` does.
    ``options`` are backbone options the input depends on (``tsm``'s ``model="convnext_atto"``)."""
    spec = get_registry().get("backbone", model_name).spec
    given = spec.input_config(options) if options and spec.input_config is not None else spec.input
    return given.transform_options()


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


def train(dataset, backbone, transform=None, verbose: bool = False, **sections) -> TrainResult:
    """Train and validate, the same run `vidzoo run` makes; returns a TrainResult (run_dir,
    best_checkpoint, last_checkpoint, metrics).

    ``dataset``, ``backbone`` and ``transform`` are a registry name or a dict with ``name`` and
    options; ``backbone`` may also be your own ``torch.nn.Module`` (already sized for the
    dataset's classes) or ``{"class_path": ..., "init_args": {...}}``. ``sections`` are the other
    config sections as dicts: ``data``, ``trainer``, ``optimizer``, ``checkpoint``, ``perf``, and
    ``seed`` / ``output`` values, the keys `vidzoo run --print-config` shows. The run config is built
    from them directly (vidzoo.training.run_config.from_sections) and gets `vidzoo run`'s checks.
    Third-party tips and internal warnings are hidden as `vidzoo run` hides them (vidzoo.noise);
    ``verbose=True`` shows them, as ``-v`` does.
    """
    from vidzoo import noise
    from vidzoo.training.run_config import from_sections
    from vidzoo.training.runner import fit

    if not isinstance(backbone, (str, dict)):
        import torch

        if not isinstance(backbone, torch.nn.Module):
            raise VidzooError(f"backbone must be a registered name, a dict with 'name', or a torch.nn.Module, "
                              f"got {type(backbone).__name__}")
    with noise.hidden(verbose, lightning=True):
        return fit(from_sections(dataset, backbone, transform, **sections))


def evaluate(checkpoint, views="10x3", split: str = "val", model=None, verbose: bool = False,
             **options) -> EvaluationResult:
    """Multi-view evaluation of a checkpoint, what `vidzoo test` reports, as data.

    Returns an EvaluationResult: ``top1``, ``top5``, ``mean_class_accuracy``, ``per_class``
    (rows of class, videos, top1, top5), ``confusion`` (rows: true class, columns: predicted,
    in ``class_names`` order); ``write_reports(dir)`` writes the CSVs, JSON and PNG.
    ``views`` is "TxS" (clips x crops); ``options``: ``batch_size``, ``num_workers``,
    ``device``, ``progress`` and dataset options such as ``data_path`` (the run's by default).
    ``model``: the checkpoint's module, for a class that cannot be imported here. ``checkpoint`` may be a
    registered model's name (its published weights; ``pretrained``, ``backbone_options`` and
    ``dataset``, the dataset to test on, go in ``options``). ``verbose=True`` shows the third-party
    lines it hides, as for train.
    """
    from vidzoo import noise
    from vidzoo.evaluation.evaluate import evaluate as _evaluate

    with noise.hidden(verbose):
        return _evaluate(checkpoint, views, split, model=model, **options)


def export(checkpoint, format: str, path, model=None, verbose: bool = False, **options) -> ExportResult:
    """Export a checkpoint to ``format`` "torchscript" or "onnx" at ``path`` (metadata in
    ``path.json``), checked against the checkpoint first; ``options``: ``opset``,
    ``tolerance``, ``sample`` (a video for the check), and for a registered model's name given as
    ``checkpoint`` (its published weights) ``pretrained`` and ``backbone_options``; ``model``: the
    checkpoint's module, for a class that cannot be imported here. Returns an ExportResult. ``verbose=True`` shows the
    third-party lines it hides, as for train."""
    from vidzoo import noise
    from vidzoo.evaluation.export import export as _export

    with noise.hidden(verbose):
        return _export(checkpoint, format, path, model=model, **options)


def load(checkpoint, device: str | None = None, model=None, verbose: bool = False, pretrained: str | None = None,
         options: dict | None = None) -> Predictor:
    """A trained checkpoint, or a published model, ready for inference:
    ``vidzoo.load(CKPT).predict("video.mp4").top``, ``vidzoo.load("x3d_m").predict("video.mp4").top``.

    Returns a vidzoo.evaluation.inference.Predictor (model, eval transform and class names rebuilt from
    the checkpoint alone, without Lightning); see docs/predict.md. ``model``: the checkpoint's module
    (``vidzoo.load(ckpt, model=TinyNet(4))``), for a class that cannot be imported here.
    ``checkpoint`` may be a registered model's name (``NAME[:VARIANT]``, `vidzoo list --pretrained`):
    its published weights (``pretrained``: a file, URL or Hub id instead), class names and evaluation
    recipe (docs/models.md); ``options``: its backbone options. ``verbose=True`` shows the third-party
    lines it hides, as for train.
    """
    from vidzoo import noise
    from vidzoo.evaluation.inference import load as _load

    with noise.hidden(verbose):
        return _load(checkpoint, device=device, model=model, pretrained=pretrained, options=options)
