"""The Kinetics folder layouts, read into (video path, label) pairs: the built-in `kinetics` dataset
reads them, and so do `vidzoo prepare --litdata` and streaming's prepare_folder.

Accepted layouts for a dataset root (per split, ``val`` also matches ``validate``):
- ``DIR/<split>/<class>/<video>.mp4``: class folders, as pytorchvideo's Kinetics reads;
- ``DIR/<split>.csv`` Kinetics annotation file (``label,youtube_id,time_start,time_end,split``),
  videos named ``<youtube_id>_<start:06d>_<end:06d>.mp4`` anywhere under ``DIR/<split>/``
  (as the common downloaders save them); annotated videos that are missing are reported;
- ``DIR/<split>.csv`` or ``.txt`` labelled-paths file (``<path> <int label>`` per line,
  pytorchvideo's format), paths relative to DIR.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from vidzoo.data import VIDEO_EXTENSIONS
from vidzoo.errors import VidzooError
from vidzoo.messages import say

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
