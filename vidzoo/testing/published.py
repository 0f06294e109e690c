"""For the tests that check a published model against its source library: a short clip both sides
read the same frames of, and the probabilities `vidzoo predict --json` printed."""

from __future__ import annotations

import json
from pathlib import Path


def write_clip(path, frames: int = 16, width: int = 160, height: int = 120, fps: int = 15, seed: int = 0):
    """Write an mp4 of ``frames`` frames (a moving square on smooth colours) and return its decoded
    frames, uint8 (T, H, W, 3): what a source library's own preprocessing gets. A clip shorter than
    the model's clip window is taken whole, and ``frames`` = the model's num_frames keeps every frame."""
    import av
    import numpy as np

    from vidzoo.data.video import write_video
    from vidzoo.testing.video import _moving_square

    rng = np.random.default_rng(seed)
    # smooth colours (x264 keeps them nearly as they are), with detail for the crop to matter
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([(x * 255 // max(width - 1, 1)), (y * 255 // max(height - 1, 1)),
                     rng.integers(0, 256) + 0 * x], -1).astype(np.uint8)
    path = Path(path)
    write_video(path, _moving_square(base, frames), fps, width, height)
    with av.open(str(path)) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(decoded) == frames, f"{path}: {len(decoded)} frames decoded, {frames} written"
    return np.stack(decoded)


def predicted(stdout: str) -> dict[str, float]:
    """{class name: probability} of the one video of `vidzoo predict ... --json`'s output."""
    (result,) = json.loads(stdout)["results"]
    return {row["class"]: row["probability"] for row in result["top"]}
