"""A third-party plugin as a user would write one: no torch import at module level."""

import vidzoo


def tiny3d(num_classes: int, width: int = 16):
    """A tiny 3D CNN for tests: two conv blocks, global pool, linear.

    Args:
        num_classes: Number of output classes.
        width: Channels of the first conv block.
    """
    from torch import nn

    return nn.Sequential(
        nn.Conv3d(3, width, kernel_size=3, padding=1), nn.BatchNorm3d(width), nn.ReLU(),
        nn.MaxPool3d((1, 2, 2)),
        nn.Conv3d(width, 2 * width, kernel_size=3, padding=1), nn.BatchNorm3d(2 * width), nn.ReLU(),
        nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(2 * width, num_classes),
    )


def class_folders(split: str, transform=None, root: str = "", clip_duration: float = 2.0):
    """Videos in ROOT/<split>/<class>/*.mp4, one random clip per video (uniform for eval).

    Args:
        split: train, val or test.
        transform: Applied to each sample.
        root: Folder holding the split folders.
        clip_duration: Seconds per clip.
    """
    from pathlib import Path

    from vidzoo.plugins import ClipDataset

    folder = Path(root) / split
    classes = sorted(d.name for d in folder.iterdir() if d.is_dir())
    videos = [(str(f), i) for i, c in enumerate(classes) for f in sorted((folder / c).glob("*.mp4"))]
    return ClipDataset(videos, classes, "random" if split == "train" else "uniform", clip_duration, transform)


@vidzoo.hookimpl
def register_backbones(register):
    register("tiny3d", tiny3d, spec=vidzoo.ModelSpec(figures={"params_m": 0.02}))


@vidzoo.hookimpl
def register_datasets(register):
    register("class-folders", class_folders, "Class-folder videos (test plugin)",
             spec=vidzoo.DatasetSpec(transform="kinetics"))
