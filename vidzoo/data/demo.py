"""The built-in demo sample: a tiny Kinetics-format dataset of real H.264 mp4 files.

Four classes, each with its own motion (a square moving up or down, growing or shrinking)
and its own colour family (red, green, blue, yellow, jittered per video), on a dark
textured background with a random position. Two strong cues, so that a 3D ResNet-50
trained from scratch learns them within the demo's few CPU minutes: the demo shows the
pipeline learning, not a benchmark. None of the classes is changed into another by a
horizontal flip, the recipe's train augmentation. Deterministic from a seed; written once
into a cache folder.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from vidzoo.io import cache_root

CLASSES = ("grow", "move_down", "move_up", "shrink")
# The class's colour (RGB); each video jitters it by up to COLOUR_JITTER per channel.
COLOURS = {"grow": (230, 50, 40), "move_down": (40, 210, 60), "move_up": (50, 100, 245), "shrink": (235, 215, 40)}
COLOUR_JITTER = 25
TRAIN_PER_CLASS, VAL_PER_CLASS = 24, 8
VERSION = 2  # bump when the content changes, so old caches are not reused


def _frames(cls: str, rng, width: int, height: int, num_frames: int):
    import numpy as np

    yy, xx = np.mgrid[0:height, 0:width]
    background = rng.integers(20, 60, size=3)
    texture = rng.integers(-10, 10, size=(height, width, 1))
    base = np.clip(background[None, None, :] + texture, 0, 255).astype(np.uint8)
    jitter = rng.integers(-COLOUR_JITTER, COLOUR_JITTER + 1, size=3)
    color = np.clip(np.array(COLOURS[cls]) + jitter, 0, 255).astype(np.uint8)
    cx = rng.uniform(0.3, 0.7) * width
    cy = rng.uniform(0.4, 0.6) * height
    travel = rng.uniform(0.4, 0.55) * height
    for i in range(num_frames):
        t = i / max(num_frames - 1, 1)
        x, y, r = cx, cy, 0.16 * height
        if cls == "move_up":
            y = cy + travel * (0.5 - t)
        elif cls == "move_down":
            y = cy - travel * (0.5 - t)
        elif cls == "grow":
            r = height * (0.06 + 0.24 * t)
        elif cls == "shrink":
            r = height * (0.30 - 0.24 * t)
        frame = base.copy()
        frame[(np.abs(xx - x) <= r) & (np.abs(yy - y) <= r)] = color
        yield frame


def write_demo(
    root: str | os.PathLike,
    seed: int = 0,
    train_per_class: int = TRAIN_PER_CLASS,
    val_per_class: int = VAL_PER_CLASS,
    width: int = 96,
    height: int = 72,
    fps: int = 15,
    seconds: float = 3.0,
    progress: bool = False,
) -> Path:
    """Write ``root/{train,val}/<class>/<class>_NNN.mp4``; returns ``root``."""
    import numpy as np

    from vidzoo.data.video import write_video

    root = Path(root)
    jobs = [(split, cls, i) for split, n in (("train", train_per_class), ("val", val_per_class))
            for cls in CLASSES for i in range(n)]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(jobs), desc="writing demo videos", unit="video")
    for split, cls, i in jobs:
        folder = root / split / cls
        folder.mkdir(parents=True, exist_ok=True)
        # One generator per video, so each file is reproducible on its own.
        rng = np.random.default_rng([seed, CLASSES.index(cls), i, split == "val"])
        frames = _frames(cls, rng, width, height, int(round(fps * seconds)))
        write_video(folder / f"{cls}_{i:03d}.mp4", frames, fps, width, height)
        if bar:
            bar.update()
    if bar:
        bar.close()
    return root


def demo_root(progress: bool = True) -> Path:
    """The cached demo sample, written on first use (atomically, so a kill leaves no half sample)."""
    final = cache_root() / f"demo-v{VERSION}"
    if (final / "val").is_dir():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".demo-", dir=final.parent))
    try:
        write_demo(tmp, progress=progress)
        try:
            os.rename(tmp, final)
        except OSError:  # another process won the race: use theirs
            if not (final / "val").is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final
