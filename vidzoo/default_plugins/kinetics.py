"""Built-in dataset: Kinetics (and the demo sample in Kinetics format).

``data_path`` is a root in one of the Kinetics layouts (vidzoo/data/kinetics_layout.py). Without ``data_path``, the built-in demo sample is used.
"""

from __future__ import annotations

from pathlib import Path

from vidzoo.data import VIDEO_EXTENSIONS  # one list for every reader
from vidzoo.data.kinetics_layout import read_split
from vidzoo.errors import VidzooError
from vidzoo.messages import say
from vidzoo.plugins.hookspecs import hookimpl
from vidzoo.plugins.specs import DatasetSpec


def kinetics(
    split: str,
    transform=None,
    data_path: str | None = None,
    clip_duration: float = 2.0,
    train_clip_sampler: str = "random",
    eval_clip_sampler: str = "uniform",
):
    """Kinetics-400/600/700 (or the built-in demo sample when no data_path is given).

    Args:
        split: "train", "val" or "test".
        transform: Callable applied to each sample dict.
        data_path: Kinetics root: DIR/{train,val}/<class>/*.mp4, or DIR/{train,validate}.csv
            annotation files with the downloaded videos, or labelled-paths files.
        clip_duration: Seconds per clip.
        train_clip_sampler: "random" (one random clip per video per epoch) or "uniform".
        eval_clip_sampler: "uniform" (every consecutive clip) or "random".
    """
    from vidzoo.data.clips import ClipDataset

    if data_path is None:
        from vidzoo.data.demo import CLASSES, demo_root

        root = demo_root()
        say(
            f"kinetics: no --dataset.data_path given, so using the built-in demo sample "
            f"({len(CLASSES)} classes) at {root}; pass --dataset.data_path DIR for real Kinetics",
            once=True,  # one line per process, and only from the first DDP rank
        )
    else:
        root = Path(data_path).expanduser()
        if not root.exists():
            raise VidzooError(f"kinetics data_path {root} does not exist; pass --dataset.data_path DIR")
        if not root.is_dir():
            raise VidzooError(f"kinetics data_path {root} is not a folder; pass the Kinetics root folder")
    items, classes = read_split(root, split)
    if classes is None:  # labelled paths: integer labels; name them by the train split's range
        train_items, _ = read_split(root, "train") if split != "train" else (items, None)
        classes = [str(i) for i in range(max(label for _, label in train_items + items) + 1)]
        videos = items
    else:
        lookup = {c: i for i, c in enumerate(classes)}
        videos = [(p, lookup[c]) for p, c in items]
    if not videos:
        raise VidzooError(f"no videos found for the {split} split under {root} (looked for {', '.join(VIDEO_EXTENSIONS)})")
    sampler = train_clip_sampler if split == "train" else eval_clip_sampler
    return ClipDataset(videos, classes, clip_sampler=sampler, clip_duration=clip_duration, transform=transform)


def demo_run_defaults(options: dict) -> dict:
    """Settings sized for the demo sample (96x72 px videos, 96 train clips): a 64 px crop of
    8 frames, 6 epochs of 12 batches, AdamW with a one-epoch warm-up and a cosine decay, so
    that a 3D ResNet-50 from scratch learns it in a few CPU minutes (README: what it means)."""
    if options.get("data_path") is not None:
        return {}
    return {
        "transform": {"num_frames": 8, "crop_size": 64, "min_short_side": 68, "max_short_side": 80,
                      "eval_short_side": 72},
        "trainer": {"max_epochs": 6},
        "data": {"batch_size": 8},
        "optimizer": {"name": "adamw", "lr": 1e-3, "weight_decay": 0.05, "scheduler": "cosine",
                      "warmup_epochs": 1.0},
    }


@hookimpl
def register_datasets(register):
    register("kinetics", kinetics, "Kinetics (folders, annotation CSV or labelled paths); demo sample by default",
             spec=DatasetSpec(transform="kinetics", run_defaults=demo_run_defaults))
