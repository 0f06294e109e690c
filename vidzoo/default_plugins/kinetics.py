"""Built-in dataset: Kinetics (and the demo sample in Kinetics format).

Accepted layouts for ``data_path`` (per split, ``val`` also matches ``validate``):
- ``DIR/<split>/<class>/<video>.mp4``: class folders, as pytorchvideo's Kinetics reads;
- ``DIR/<split>.csv`` Kinetics annotation file (``label,youtube_id,time_start,time_end,split``),
  videos named ``<youtube_id>_<start:06d>_<end:06d>.mp4`` anywhere under ``DIR/<split>/``
  (as the common downloaders save them); annotated videos that are missing are reported;
- ``DIR/<split>.csv`` or ``.txt`` labelled-paths file (``<path> <int label>`` per line,
  pytorchvideo's format), paths relative to DIR.
Without ``data_path``, the built-in demo sample is used.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from vidzoo.messages import say
from vidzoo.errors import VidzooError
from vidzoo.plugins.hookspecs import hookimpl
from vidzoo.plugins.specs import DatasetSpec

from vidzoo.data import VIDEO_EXTENSIONS  # one list for every reader
_SPLIT_ALIASES = {"val": ("val", "validate", "validation"), "train": ("train",), "test": ("test",)}


def _say_once(message: str) -> None:
    say(message, once=True)  # one line per process, and only from the first DDP rank


def _split_source(root: Path, split: str) -> Path:
    for name in _SPLIT_ALIASES.get(split, (split,)):
        for candidate in (root / f"{name}.csv", root / f"{name}.txt"):
            if candidate.is_file():
                return candidate
        if (root / name).is_dir():
            return root / name
    raise VidzooError(
        f"no {split} split under {root}: expected a folder {root / split}/<class>/<video>.mp4 "
        f"or an annotation file {root / split}.csv"
    )


def _is_annotation_csv(path: Path) -> bool:
    with open(path, newline="") as f:
        header = f.readline().lower()
    return path.suffix == ".csv" and "youtube_id" in header and "label" in header


def _from_folders(folder: Path) -> tuple[list[tuple[str, str]], list[str]]:
    classes = sorted(d.name for d in folder.iterdir() if d.is_dir())
    items = []
    for cls in classes:
        for f in sorted((folder / cls).iterdir()):
            if f.suffix.lower() in VIDEO_EXTENSIONS:
                items.append((str(f), cls))
    return items, classes


def _from_annotations(csv_path: Path, split: str) -> tuple[list[tuple[str, str]], list[str]]:
    root = csv_path.parent
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    # Index the downloaded files once: downloaders use flat or per-class folders.
    files = {}
    search = [root / n for n in _SPLIT_ALIASES.get(split, (split,)) if (root / n).is_dir()] or [root]
    for folder in search:
        for dirpath, _, names in os.walk(folder):
            for n in names:
                if n.lower().endswith(VIDEO_EXTENSIONS):
                    files.setdefault(os.path.splitext(n)[0], os.path.join(dirpath, n))
    items, missing = [], []
    for row in rows:
        stem = f"{row['youtube_id']}_{int(float(row['time_start'])):06d}_{int(float(row['time_end'])):06d}"
        path = files.get(stem)
        if path is None:
            missing.append(stem)
        else:
            items.append((path, row["label"]))
    if missing:
        _say_once(
            f"kinetics: {len(missing)} of {len(rows)} videos annotated in {csv_path} are missing "
            f"(first: {missing[0]}.mp4); training on the {len(items)} found"
        )
    return items, sorted({row["label"] for row in rows})


def _from_labelled_paths(path: Path) -> tuple[list[tuple[str, int]], None]:
    items = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.rsplit(None, 1)
        if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
            raise VidzooError(f"{path}:{n}: expected '<video path> <integer label>', got {line!r}")
        video = parts[0] if os.path.isabs(parts[0]) else str(path.parent / parts[0])
        items.append((video, int(parts[1])))
    return items, None


def read_split(root: Path, split: str) -> tuple[list[tuple[str, object]], list[str] | None]:
    source = _split_source(root, split)
    if source.is_dir():
        return _from_folders(source)
    if _is_annotation_csv(source):
        return _from_annotations(source, split)
    return _from_labelled_paths(source)


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
        _say_once(
            f"kinetics: no --dataset.data_path given, so using the built-in demo sample "
            f"({len(CLASSES)} classes) at {root}; pass --dataset.data_path DIR for real Kinetics"
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
