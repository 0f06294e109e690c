"""A small real mp4 for a plugin's tests, and the video writer it uses (vidzoo.data.video.write_video)."""

from __future__ import annotations

from pathlib import Path

from vidzoo.data.video import write_video


def _moving_square(base, n: int):
    """n frames of ``base`` with a white square moving left to right across the middle."""
    height, width = base.shape[:2]
    side = max(2, min(width, height) // 4)
    for i in range(n):
        frame = base.copy()
        x = int((width - side) * i / max(n - 1, 1))
        frame[height // 2 - side // 2: height // 2 + side // 2, x:x + side] = 255
        yield frame


def write_test_video(path, seconds: float = 1.0, fps: int = 8, width: int = 64, height: int = 48,
                     seed: int = 0) -> Path:
    """Write a small real H.264 mp4 (moving square on noise) for a plugin's tests; returns the path."""
    import numpy as np


    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n = max(1, int(round(seconds * fps)))
    base = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    write_video(path, _moving_square(base, n), fps, width, height)
    return path
