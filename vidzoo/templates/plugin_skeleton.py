"""The files `vidzoo new-plugin` writes; placeholders: {dist}, {module}, {reg}, {kind}, {vidzoo_version}."""

PYPROJECT = '''[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
version = "0.1.0"
description = "A vidzoo {kind} plugin: {reg}"
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["vidzoo>={vidzoo_version}"]

[project.optional-dependencies]
test = ["pytest>=8"]

# This is what makes vidzoo find the plugin: the `vidzoo` entry-point group.
[project.entry-points.vidzoo]
{module} = "{module}"

[tool.setuptools]
packages = ["{module}"]
'''

README = '''# {dist}

A [vidzoo](https://github.com/vidzoo/vidzoo) plugin that registers the {kind} `{reg}`.

```bash
pip install .                 # or: pip install -e .
vidzoo plugins                # shows {dist} and what it registered
vidzoo list --kind {kind}     # shows {reg}
{run_example}
pytest tests                  # the vidzoo conformance suite for {reg}
```

Edit `{module}/__init__.py`: the factory's typed keyword arguments and their docstring become
`vidzoo run` flags (`--{kind}.<option>`) with help text. Keep torch imports inside the factory so
that `vidzoo list` stays instant. The contracts and the spec fields: vidzoo's docs/plugins.md.
'''

RUN_EXAMPLES = {
    "backbone": "vidzoo run --dataset kinetics --backbone {reg} --trainer.max_epochs 1",
    "transform": "vidzoo run --dataset kinetics --backbone resnet3d50 --transform {reg}",
    "dataset": "vidzoo run --dataset {reg} --dataset.data_path DIR --backbone resnet3d50",
}

BACKBONE = '''"""vidzoo plugin: the `{reg}` backbone."""

from __future__ import annotations

from vidzoo import InputConfig, ModelSpec, hookimpl

__version__ = "0.1.0"

# What comes with the backbone (docs/plugins.md, "Specs"): the input its weights expect (it sets the
# transform's defaults), the matching transform preset, and its weights once you publish some:
# weights={{"default": Weights("https://.../{reg}.pth", sha256="...")}} (`from vidzoo import Weights`).
SPEC = ModelSpec(
    input=InputConfig(frames=8, sampling_rate=8, crop_size=112, mean=(0.45, 0.45, 0.45),
                      std=(0.225, 0.225, 0.225), min_input=(1, 1, 1)),
    transform="kinetics",
)


def {reg}(num_classes: int = 400, width: int = 16, dropout: float = 0.0):
    """A small 3D CNN; replace it with your model. Any input size works.

    Args:
        num_classes: Number of output classes.
        width: Channels of the convolution.
        dropout: Dropout rate before the classifier.
    """
    import torch.nn as nn  # inside the factory: `vidzoo list` must not import torch

    return nn.Sequential(
        nn.Conv3d(3, width, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm3d(width),
        nn.ReLU(inplace=True),
        nn.AdaptiveAvgPool3d(1),  # adaptive: any T x H x W
        nn.Flatten(),
        nn.Dropout(dropout),
        nn.Linear(width, num_classes),
    )


@hookimpl
def register_backbones(register):
    register("{reg}", {reg}, spec=SPEC)
'''

BACKBONE_TEST = '''from vidzoo.testing import check_backbone


def test_{reg}_conforms():
    check_backbone("{reg}")
'''

TRANSFORM = '''"""vidzoo plugin: the `{reg}` transform preset."""

from __future__ import annotations

from vidzoo import hookimpl

__version__ = "0.1.0"


class Preset:
    """Subsample frames, resize to crop_size x crop_size, scale to 0..1, normalise; train also flips.

    A plain class (not a lambda or closure) so that DataLoader workers can pickle it.
    """

    def __init__(self, train: bool, num_frames: int, crop_size: int, mean, std, flip_prob: float):
        self.train, self.num_frames, self.crop_size = train, num_frames, crop_size
        self.mean, self.std, self.flip_prob = tuple(mean), tuple(std), flip_prob

    def __call__(self, sample: dict) -> dict:
        import torch
        import torch.nn.functional as F

        video = sample["video"]  # float (C, T, H, W) in 0..255
        index = torch.linspace(0, video.shape[1] - 1, self.num_frames).round().long()
        video = video.index_select(1, index) / 255.0
        frames = F.interpolate(video.permute(1, 0, 2, 3), size=(self.crop_size, self.crop_size),
                               mode="bilinear", align_corners=False)
        video = frames.permute(1, 0, 2, 3)
        if self.train and torch.rand(()) < self.flip_prob:
            video = video.flip(-1)
        mean = torch.tensor(self.mean).view(-1, 1, 1, 1)
        std = torch.tensor(self.std).view(-1, 1, 1, 1)
        return {{**sample, "video": ((video - mean) / std).contiguous()}}


def {reg}(split: str, num_frames: int = 8, crop_size: int = 112,
          mean: tuple[float, float, float] = (0.45, 0.45, 0.45),
          std: tuple[float, float, float] = (0.225, 0.225, 0.225), flip_prob: float = 0.5):
    """Resize-and-normalise preset; replace it with your recipe.

    Args:
        split: "train" for the random variant, anything else for the deterministic one.
        num_frames: Frames kept per clip.
        crop_size: Output height and width.
        mean: Per-channel mean, on the 0..1 scale.
        std: Per-channel std, on the 0..1 scale.
        flip_prob: Train: probability of a horizontal flip.
    """
    return Preset(split == "train", num_frames, crop_size, mean, std, flip_prob)


@hookimpl
def register_transforms(register):
    register("{reg}", {reg})
'''

TRANSFORM_TEST = '''from vidzoo.testing import check_transform


def test_{reg}_conforms():
    check_transform("{reg}", options={{"num_frames": 4, "crop_size": 32}})
'''

DATASET = '''"""vidzoo plugin: the `{reg}` dataset."""

from __future__ import annotations

from pathlib import Path

from vidzoo import DatasetSpec, hookimpl

__version__ = "0.1.0"

EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov")


def {reg}(split: str, transform=None, data_path: str = "", clip_duration: float = 1.0,
          train_clip_sampler: str = "random", eval_clip_sampler: str = "uniform"):
    """Videos in DATA/<split>/<class>/*.mp4; replace the reading with your format.

    Args:
        split: "train", "val" or "test".
        transform: Callable applied to each sample dict.
        data_path: Root folder with one folder per split.
        clip_duration: Seconds per clip.
        train_clip_sampler: "random" (one random clip per video per epoch) or "uniform".
        eval_clip_sampler: "uniform" (every consecutive clip) or "random".
    """
    from vidzoo.errors import VidzooError
    from vidzoo.plugins import ClipDataset  # map-style: known length, exact sharding over workers

    folder = Path(data_path).expanduser() / split
    if not data_path or not folder.is_dir():
        raise VidzooError(f"{reg}: no folder {{folder}}; pass --dataset.data_path DIR with DIR/{{split}}/<class>/")
    # Classes from the train split, so that every split numbers them the same way.
    classes = sorted(d.name for d in (Path(data_path).expanduser() / "train").iterdir() if d.is_dir())
    videos = [(str(f), classes.index(d.name)) for d in sorted(folder.iterdir()) if d.name in classes
              for f in sorted(d.iterdir()) if f.suffix.lower() in EXTENSIONS]
    if not videos:
        raise VidzooError(f"{reg}: no videos under {{folder}}")
    sampler = train_clip_sampler if split == "train" else eval_clip_sampler
    return ClipDataset(videos, classes, clip_sampler=sampler, clip_duration=clip_duration, transform=transform)


@hookimpl
def register_datasets(register):
    register("{reg}", {reg}, spec=DatasetSpec(transform="kinetics"))  # its transform when none is given
'''

DATASET_TEST = '''from vidzoo.testing import TINY_TRANSFORM, check_dataset, write_test_video


def test_{reg}_conforms(tmp_path):
    for split, count in (("train", 2), ("val", 1)):
        for label in ("a", "b"):
            for i in range(count):
                write_test_video(tmp_path / split / label / f"{{label}}{{i}}.mp4", seed=i)
    check_dataset("{reg}", options={{"data_path": str(tmp_path)}}, transform_options=TINY_TRANSFORM)
'''

CODE = {"backbone": (BACKBONE, BACKBONE_TEST), "transform": (TRANSFORM, TRANSFORM_TEST),
        "dataset": (DATASET, DATASET_TEST)}
