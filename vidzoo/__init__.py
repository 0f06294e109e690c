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
"""

from vidzoo import compat as _compat
from vidzoo.plugins.hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = [
    "hookimpl", "get_registry", "__version__",
    "list_models", "list_datasets", "list_transforms",
    "get_model_spec", "get_dataset_spec", "get_transform_spec",
    "create_model", "resolve_input_config", "create_transform", "create_dataset",
    "train", "evaluate", "export", "load",
    "ModelSpec", "InputConfig", "Weights", "DatasetSpec", "TransformSpec",
    *("load_pretrained", "LoadReport", "load_state_dict_into",
      "extract_state_dict", "download_weights", "resolve_weights",
      "safe_load", "say", "kinetics_transform", "preset", "ClipDataset", "ClampedAvgPool3d"),
]

_compat.install()

_SPECS = ("ModelSpec", "InputConfig", "Weights", "DatasetSpec", "TransformSpec")

# The building blocks plugin packages use (docs/plugins.md), public here so that a plugin never
# imports vidzoo's internal modules: name -> (module, attribute), imported on first use.
_PLUGIN_API = {
    # pretrained weights (vidzoo.models.state_dict, vidzoo.models.hub; docs/pretrained.md)
    "load_pretrained": ("vidzoo.models.state_dict", "load_pretrained"),
    "LoadReport": ("vidzoo.models.state_dict", "LoadReport"),
    "load_state_dict_into": ("vidzoo.models.state_dict", "load_state_dict_into"),
    "extract_state_dict": ("vidzoo.models.state_dict", "extract_state_dict"),
    "download_weights": ("vidzoo.models.hub", "download"),
    "resolve_weights": ("vidzoo.models.hub", "resolve_source"),
    "safe_load": ("vidzoo.io", "safe_load"),
    "say": ("vidzoo.messages", "say"),
    # transforms, datasets, layers
    "kinetics_transform": ("vidzoo.default_plugins.kinetics_transforms", "kinetics_transform"),
    "preset": ("vidzoo.data.presets", "preset"),
    "ClipDataset": ("vidzoo.data.clips", "ClipDataset"),
    "ClampedAvgPool3d": ("vidzoo.models.layers", "ClampedAvgPool3d"),
}


def __getattr__(name):
    if name in _SPECS:  # plain dataclasses; imported on first use
        from vidzoo.plugins import specs

        return getattr(specs, name)
    if name in _PLUGIN_API:
        import importlib

        module, attribute = _PLUGIN_API[name]
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module 'vidzoo' has no attribute {name!r}")


def get_registry():
    """The registry of all installed plugins (see vidzoo.plugins)."""
    from vidzoo.plugins import get_registry as _get

    return _get()


def list_models(pattern="*", pretrained: bool = False) -> list[str]:
    """Backbone names matching shell-style pattern(s), case-insensitive, as `vidzoo list` matches
    (``list_models("x3d*")``); ``pretrained=True`` keeps those with published weights."""
    from vidzoo import api

    return api.list_names("backbone", pattern, pretrained)


def list_datasets(pattern="*") -> list[str]:
    """Dataset names matching shell-style pattern(s), case-insensitive."""
    from vidzoo import api

    return api.list_names("dataset", pattern)


def list_transforms(pattern="*") -> list[str]:
    """Transform names matching shell-style pattern(s), case-insensitive."""
    from vidzoo import api

    return api.list_names("transform", pattern)


def get_model_spec(name: str):
    """The backbone's ModelSpec: input config, transform preset, weights (URLs, hashes, variants),
    categories and published figures."""
    from vidzoo import api

    return api.get_spec("backbone", name)


def get_dataset_spec(name: str):
    """The dataset's DatasetSpec: its transform preset and recommended run settings."""
    from vidzoo import api

    return api.get_spec("dataset", name)


def get_transform_spec(name: str):
    """The transform's TransformSpec."""
    from vidzoo import api

    return api.get_spec("transform", name)


def create_model(name: str, num_classes: int | None = None, pretrained: str | None = None,
                 checkpoint_path: str | None = None, **options):
    """A backbone ``nn.Module`` by registry name (like timm.create_model).

    Args:
        name: A backbone name (`vidzoo list --kind backbone`).
        num_classes: Size of the classifier head (the factory's default when None).
        pretrained: ``"default"``, a weights variant name, a file, an http(s) or file:// URL, or
            what the backbone's plugin takes (a Hub id), as ``--backbone.pretrained``; with another
            num_classes the head is new. ``sha256=`` checks the file.
        checkpoint_path: A state dict or vidzoo checkpoint to load exactly (every tensor must
            fit); a vidzoo checkpoint also gives num_classes when it is None.
        **options: The backbone's other options (``--backbone.<opt>``).
    """
    from vidzoo.models.builder import create_model as _create

    return _create(name, num_classes, pretrained, checkpoint_path, **options)


def resolve_input_config(model_name: str, **options) -> dict:
    """The input a backbone's weights expect, as transform options: num_frames, crop_size,
    mean, std (and short_side, pathways, the resize short sides where known). ``create_transform``
    takes it as is and ignores keys its transform has no option for, as `vidzoo run` does.
    ``options`` are backbone options the input depends on (``tsm``'s ``model="convnext_atto"``)."""
    from vidzoo import api

    return api.resolve_input_config(model_name, **options)


def create_transform(name: str, split: str = "val", **options):
    """A transform by registry name for ``split`` ("train" is random, others deterministic)."""
    from vidzoo import api

    return api.create_transform(name, split, **options)


def create_dataset(name: str, split: str = "train", transform=None, **options):
    """A dataset by registry name. ``transform``: a callable, a transform name, or None for the
    dataset's own preset; ``options`` are the dataset's (``--dataset.<opt>``)."""
    from vidzoo import api

    return api.create_dataset(name, split, transform, **options)


def train(dataset, backbone, transform=None, **sections):
    """Train and validate, the same run `vidzoo run` makes; returns a TrainResult (run_dir,
    best_checkpoint, last_checkpoint, metrics).

    ``dataset``, ``backbone`` and ``transform`` are a registry name or a dict with ``name`` and
    options; ``backbone`` may also be your own ``torch.nn.Module`` (already sized for the
    dataset's classes). ``sections`` are the other config sections as dicts: ``data``,
    ``trainer``, ``optimizer``, ``finetune``, ``perf``, and ``seed`` / ``output`` values, the keys
    `vidzoo run --print-config` shows.
    """
    from vidzoo import api

    return api.train(dataset, backbone, transform, **sections)


def evaluate(checkpoint, views="10x3", split: str = "val", model=None, **options):
    """Multi-view evaluation of a checkpoint, what `vidzoo test` reports, as data.

    Returns an EvaluationResult: ``top1``, ``top5``, ``mean_class_accuracy``, ``per_class``
    (rows of class, videos, top1, top5), ``confusion`` (rows: true class, columns: predicted,
    in ``class_names`` order); ``write_reports(dir)`` writes the CSVs, JSON and PNG.
    ``views`` is "TxS" (clips x crops); ``options``: ``batch_size``, ``num_workers``,
    ``device``, ``progress`` and dataset options such as ``data_path`` (the run's by default).
    ``model``: the checkpoint's module, for a class that cannot be imported here.
    """
    from vidzoo.evaluation.evaluate import evaluate as _evaluate

    return _evaluate(checkpoint, views, split, model=model, **options)


def export(checkpoint, format: str, path, model=None, **options):
    """Export a checkpoint to ``format`` "torchscript" or "onnx" at ``path`` (metadata in
    ``path.json``), checked against the checkpoint first; ``options``: ``opset``,
    ``tolerance``, ``sample`` (a video for the check); ``model``: the checkpoint's module, for a
    class that cannot be imported here. Returns an ExportResult."""
    from vidzoo.evaluation.export import export as _export

    return _export(checkpoint, format, path, model=model, **options)


def load(checkpoint, device: str | None = None, model=None):
    """A trained checkpoint ready for inference: ``vidzoo.load(CKPT).predict("video.mp4").top``.

    Returns a vidzoo.evaluation.inference.Predictor (model, eval transform and class names rebuilt from
    the checkpoint alone, without Lightning); see docs/predict.md. ``model``: the checkpoint's module
    (``vidzoo.load(ckpt, model=TinyNet(4))``), for a class that cannot be imported here.
    """
    from vidzoo.evaluation.inference import load as _load

    return _load(checkpoint, device=device, model=model)
