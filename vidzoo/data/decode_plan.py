"""Decode plans: what a transform needs from the decoder, so the reader does only that work.

A transform that exposes ``decode_plan()`` (the built-in ``kinetics`` preset does) lets a
dataset ask the reader for just the frames the temporal subsample keeps, already scaled
to the short side the transform would resize to, as uint8. The transform then skips the
steps the reader did (see ``DecodePlan``). Any dataset plugin gets this by using
``vidzoo.data.clips.ClipDataset`` or by calling ``vidzoo.data.video.decode_clip(path, start, end, plan)``.

Random train scales: the transform draws the random short side when it makes the plan
(``decode_plan()`` is called once per sample, in the worker, with the worker's torch RNG),
so the decoder scales each clip to that drawn size and the transform's crop and flip then
work on frames that already have it. The distribution of sizes is the same as
RandomShortSideScale's (uniform integers in [min, max]).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

RESIZERS = ("uint8", "swscale")


@dataclass(frozen=True)
class DecodePlan:
    """What to decode for one clip.

    num_frames: keep this many frames, chosen as pytorchvideo's UniformTemporalSubsample
        chooses them from all frames in [start, end); None keeps every frame.
    short_side: scale frames so that their short side is this, with the long side as
        pytorchvideo's ShortSideScale computes it; None keeps the size.
    resize: how to scale. "uint8": convert the kept frames to RGB (as pytorchvideo does),
        then torch's bilinear resize on the uint8 clip (SIMD), which is pytorchvideo's
        filter: within 1/255 of its float resize. "swscale": YUV -> RGB and scaling in one
        swscale pass (about half the cost per frame), but its filter interpolates chroma
        and antialiases when shrinking, so colour edges and fine detail differ from
        pytorchvideo's (docs/performance.md).
    interpolation: swscale filter for resize="swscale" (PyAV Interpolation name).
    """

    num_frames: int | None = None
    short_side: int | None = None
    resize: str = "uint8"
    interpolation: str = "BILINEAR"

    def __post_init__(self):
        if self.resize not in RESIZERS:
            raise ValueError(f"resize must be one of {', '.join(RESIZERS)}, not {self.resize!r}")


def uniform_indices(total: int, num_samples: int) -> list[int]:
    """The frame indices pytorchvideo's uniform_temporal_subsample keeps (same float maths)."""
    import torch

    if total <= 0 or num_samples <= 0:
        raise ValueError(f"cannot subsample {num_samples} of {total} frames")
    indices = torch.linspace(0, total - 1, num_samples)
    return torch.clamp(indices, 0, total - 1).long().tolist()


def short_side_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """(width, height) after pytorchvideo's short_side_scale to ``short_side``."""
    if width < height:
        return short_side, int(math.floor((float(height) / width) * short_side))
    return int(math.floor((float(width) / height) * short_side)), short_side


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def codec_threads(requested: int | None = None) -> int:
    """Decoder threads for this process.

    ``requested`` wins when given (>= 1). Otherwise: inside a DataLoader worker, the CPUs
    divided among the workers (so N workers x threads never oversubscribe the machine;
    with as many workers as cores that is 1, the most efficient per core); in the main
    process (num_workers=0), all CPUs. The environment variable VIDZOO_DECODE_THREADS
    overrides the automatic choice.
    """
    if requested:
        return max(1, int(requested))
    env = os.environ.get("VIDZOO_DECODE_THREADS")
    if env:
        return max(1, int(env))
    cpus = available_cpus()
    try:
        import torch.utils.data

        info = torch.utils.data.get_worker_info()
    except Exception:  # torch missing or not in a worker
        info = None
    if info is not None:
        return max(1, cpus // max(1, info.num_workers))
    return max(1, cpus)
