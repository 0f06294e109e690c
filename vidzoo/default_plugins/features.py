"""Built-ins for training on cached features (`vidzoo embed`'s folders): the ``features`` dataset, its
``features`` transform (none: the samples are ready) and the small heads ``linear`` and ``mlp``.

A head holds the model that computed its features (``embedder``, frozen), so that the checkpoint of a
run on features is one ``vidzoo predict`` uses on videos: fed features ((B, D, 1, 1, 1), as the
dataset gives them) the head alone runs; fed clips, the embedder runs and its classifier's input
goes to the head. The embedder's weights are not copied into every checkpoint (a 3D ResNet-50 is
126 MB, written twice per epoch of a run whose head is a few KB): the recipe names the checkpoint
they come from with its sha256, and building the head loads them from it (a moved or changed file
is a one-line error).
"""

from __future__ import annotations

import functools
from pathlib import Path

from vidzoo.errors import VidzooError
from vidzoo.plugins.hookspecs import hookimpl
from vidzoo.plugins.specs import DatasetSpec, ModelSpec


def features(split: str, transform=None, data_path: str | None = None):
    """Embeddings written by `vidzoo embed` (one folder per split: DATA_PATH/<split>/), with labels.

    Args:
        split: "train", "val" or "test" ("test" reads val/ when there is no test/).
        transform: Callable applied to each sample dict (the ``features`` transform: none).
        data_path: Folder holding train/ and val/, each the --out of `vidzoo embed --dataset NAME
            --split SPLIT`.
    """
    from vidzoo.data.features import FeatureDataset

    if data_path is None:
        raise VidzooError("the features dataset needs --dataset.data_path: a folder with train/ and val/ written by "
                          "`vidzoo embed --dataset NAME --split SPLIT --out DIR/SPLIT`")
    root = Path(data_path).expanduser()
    folder = root / split
    if split == "test" and not folder.is_dir():
        folder = root / "val"
    if not folder.is_dir():
        raise VidzooError(f"features data_path {root} has no {split}/ folder; write it with `vidzoo embed --dataset "
                          f"NAME --split {split} --checkpoint CKPT --out {folder}`")
    return FeatureDataset(folder, split, transform)


def no_transform(split: str):
    """Cached features need no transform: samples pass through as they are."""
    return _identity


def _identity(sample):
    return sample


@functools.lru_cache(maxsize=None)
def _head_class():  # made on first use: importing the plugin does not import torch
    import torch
    from torch import nn

    from vidzoo.models.embedding import FeatureTap

    class Head(nn.Module):
        """``head`` on features; with an ``embedder`` (frozen, eval mode) also on clips."""

        def __init__(self, head: nn.Module, in_features: int, embedder: dict | None):
            super().__init__()
            self.head, self.in_features = head, in_features
            self.embedder, self.video_input, self._classifier = None, None, None
            if embedder:
                self.embedder = _load_embedder(embedder)
                self._classifier = list(embedder["classifier"])
                self.video_input = embedder.get("input")  # vidzoo.evaluation.inference.Predictor reads it
                # its weights stay out of this model's state dict (they come from embedder["checkpoint"])
                self._register_state_dict_hook(_drop_embedder)
                self.register_load_state_dict_post_hook(_embedder_not_missing)

        def train(self, mode: bool = True):
            super().train(mode)
            if self.embedder is not None:  # frozen: BatchNorm statistics and dropout as trained
                self.embedder.eval()
            return self

        def _is_features(self, x) -> bool:
            return isinstance(x, torch.Tensor) and x.dim() in (2, 5) and x.shape[1] == self.in_features and (
                x.dim() == 2 or tuple(x.shape[2:]) == (1, 1, 1))

        def forward(self, x):
            if self._is_features(x):
                return self.head(x.flatten(1))
            if self.embedder is None:
                raise VidzooError(f"this head was trained on features without the model that computed them; it "
                                  f"takes (B, {self.in_features}) features, not clips")
            with FeatureTap(self.embedder, self._classifier) as tap:
                self.embedder(x)
            return self.head(tap.features)

    return Head


def _drop_embedder(module, state, prefix, local_metadata):
    for key in [k for k in state if k.startswith(f"{prefix}embedder.")]:
        del state[key]
    return state


def _embedder_not_missing(module, incompatible):
    incompatible.missing_keys[:] = [k for k in incompatible.missing_keys
                                    if not (k.startswith("embedder.") or ".embedder." in k)]


def _load_embedder(embedder: dict):
    """The model that computed the features, built from its recipe, with its checkpoint's weights (sha256
    checked) or, for a published model, its published weights."""
    from vidzoo.io import safe_load
    from vidzoo.models.builder import build_model, load_exactly, model_state
    from vidzoo.models.hub import file_sha256

    if embedder.get("pretrained"):  # a published model: its weights as the model layer loads them (cached)
        return build_model(embedder["model"], int(embedder["num_classes"]),
                           pretrained=embedder["pretrained"]).model.requires_grad_(False)
    model = build_model(embedder["model"], int(embedder["num_classes"])).model
    source = Path(embedder["checkpoint"])
    if not source.is_file():
        raise VidzooError(f"the features were computed by the model of checkpoint {source}, which is gone; the head "
                          f"needs it (put it back, or embed and train again)")
    if embedder.get("sha256") and file_sha256(source) != embedder["sha256"]:
        raise VidzooError(f"checkpoint {source} changed since the features were computed from it (sha256 differs); "
                          f"embed again with it and train the head again")
    load_exactly(model, model_state(safe_load(source, what="checkpoint")), f"checkpoint {source}")
    return model.requires_grad_(False)  # eval mode comes from the head's train() (Lightning warns of eval modules at start)


def _build(head, in_features, embedder):
    return _head_class()(head, in_features, embedder)


def _need(in_features):
    if not in_features:
        raise VidzooError("a head on features needs --backbone.in_features (the `features` dataset sets it)")


def linear(num_classes: int, in_features: int | None = None, embedder: dict | None = None):
    """A linear classifier on cached features (a linear probe; --dataset features).

    Args:
        num_classes: Number of output classes.
        in_features: Feature size (set by the features dataset).
        embedder: The model that computed the features (set by the features dataset): kept, frozen, so
            that the checkpoint labels videos.
    """
    from torch import nn

    _need(in_features)
    return _build(nn.Linear(in_features, num_classes), in_features, embedder)


def mlp(num_classes: int, in_features: int | None = None, embedder: dict | None = None, hidden: int = 256,
        dropout: float = 0.1):
    """A one-hidden-layer MLP on cached features (--dataset features).

    Args:
        num_classes: Number of output classes.
        in_features: Feature size (set by the features dataset).
        embedder: The model that computed the features (set by the features dataset).
        hidden: Hidden units.
        dropout: Dropout before the output layer.
    """
    from torch import nn

    _need(in_features)
    head = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, num_classes))
    return _build(head, in_features, embedder)


HEAD_SPEC = dict(classifier=("head",), transform="features")


def features_run_defaults(options: dict) -> dict:
    """Settings for a head on cached features: the samples are in memory (no loader workers: starting
    them costs more than reading), big batches, enough epochs for a head to converge (seconds)."""
    return {"data": {"num_workers": 0, "batch_size": 256}, "trainer": {"max_epochs": 30},
            "optimizer": {"name": "adamw", "lr": 1e-2, "weight_decay": 1e-4, "scheduler": "cosine"}}


@hookimpl
def register_datasets(register):
    register("features", features, "Cached embeddings of `vidzoo embed` (train a linear or mlp head on them)",
             spec=DatasetSpec(transform="features", run_defaults=features_run_defaults))


@hookimpl
def register_transforms(register):
    register("features", no_transform, "No transform: cached features are ready (the features dataset)")


@hookimpl
def register_backbones(register):
    register("linear", linear, "Linear probe on cached features (--dataset features)", spec=ModelSpec(**HEAD_SPEC))
    register("mlp", mlp, "One-hidden-layer MLP on cached features (--dataset features)", spec=ModelSpec(**HEAD_SPEC))
