"""Write the benchmark videos: 10 s H.264 (libx264, B-frames, yuv420p) at Kinetics-like sizes.

Content: a smooth textured background that pans (so motion vectors and residuals are
real) with moving shapes, 30 fps. Layout: ROOT/<size>/{train,val}/<class>/<n>.mp4 (val is
the same files as train), which pytorchvideo's Kinetics and vidzoo's kinetics both read.

    python -m benchmarks.make_videos            # into $VIDZOO_CACHE/bench-videos-v1
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

SIZES = {"340x256": 6, "1280x720": 2, "176x144": 6}  # videos per size
VERSION = 1


def default_root() -> Path:
    from vidzoo.io import cache_root

    return cache_root() / f"bench-videos-v{VERSION}"


def _frames(width: int, height: int, seconds: float, fps: int, seed: int):
    import numpy as np

    rng = np.random.default_rng(seed)
    n = int(round(seconds * fps))
    pan = 3  # px per frame
    tw, th = width + pan * n + 8, height + 8
    small = rng.integers(0, 256, size=(th // 8 + 2, tw // 8 + 2, 3)).astype(np.float32)
    # bilinear-ish upsampling of coarse noise: a smooth, natural-looking texture
    big = np.kron(small, np.ones((8, 8, 1), np.float32))[:th, :tw]
    big = (big + np.roll(big, 4, 0) + np.roll(big, 4, 1) + np.roll(big, (4, 4), (0, 1))) / 4
    big += rng.normal(0, 6, size=big.shape[:2])[..., None]  # fine grain
    texture = np.clip(big, 0, 255).astype(np.uint8)
    yy, xx = np.mgrid[0:height, 0:width]
    shapes = [(rng.uniform(0, width), rng.uniform(0, height), rng.uniform(-4, 4), rng.uniform(-3, 3),
               rng.uniform(0.05, 0.15) * height, rng.integers(0, 256, 3).astype(np.uint8)) for _ in range(3)]
    for i in range(n):
        frame = texture[4:4 + height, i * pan:i * pan + width].copy()
        for x, y, vx, vy, r, color in shapes:
            cx, cy = (x + vx * i) % width, (y + vy * i) % height
            frame[(xx - cx) ** 2 + (yy - cy) ** 2 <= r * r] = color
        yield frame


def write(path: Path, width: int, height: int, seconds: float = 10.0, fps: int = 30, seed: int = 0) -> None:
    from vidzoo.data.video import write_video

    tmp = path.with_suffix(".tmp.mp4")
    # x264 defaults otherwise: B-frames, keyint 250
    write_video(tmp, _frames(width, height, seconds, fps, seed), fps, width, height, options={"crf": "23", "preset": "fast"})
    os.replace(tmp, path)


def make(root: Path | None = None, sizes: dict | None = None, seconds: float = 10.0) -> dict[str, Path]:
    """Write (once) and return {size: dataset root} for each size."""
    root = Path(root or default_root())
    out = {}
    for size, count in (sizes or SIZES).items():
        width, height = (int(v) for v in size.split("x"))
        base = root / size
        for i in range(count):
            path = base / "train" / f"class{i % 2}" / f"{i:03d}.mp4"
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                print(f"writing {path}", flush=True)
                write(path, width, height, seconds, seed=i)
        val = base / "val"
        if not val.exists():
            val.symlink_to("train")
        out[size] = base
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=None, help="output folder (default: the vidzoo cache)")
    args = parser.parse_args(argv)
    for size, path in make(args.root).items():
        print(f"{size}: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
