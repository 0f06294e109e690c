"""Several training clips from one opened and decoded span (``--data.clips_per_video K``).

MAE-ST's repeated sampling (4 clips per video in pre-training, 2 in fine-tuning) amortises
opening a video, seeking and decoding over K clips. Here a span of the video is chosen at
random, K windows of one clip's duration at random places inside it (the same window when
the video is no longer than a clip), and the video is opened, sought and demuxed once.

The earliest window keeps the frames pytorchvideo's UniformTemporalSubsample keeps, exactly as
``decode_clip`` gives them. The others are snapped to its frame grid: each
keeps as many frames at the same spacing, starting a whole number of grid steps later (the
nearest to its random start), so that the K clips share most of their frames: the decoder
outputs about num_frames + 2 frames instead of up to K x num_frames, which the reader would
otherwise decode (and scale) one by one, each from its keyframe (benchmarks/prepare.py). Each
kept frame is converted (and scaled) once; the K clips then get their own crops and flips.
"""

from __future__ import annotations

import math
import random

from vidzoo.data import video as _video
from vidzoo.data.decode_plan import DecodePlan, codec_threads, uniform_indices

SPAN_FACTOR = 1.25  # the span is this many clip durations (or the whole video when shorter)


def span_windows(duration: float, clip_duration: float, k: int, rng=random) -> list[tuple[float, float]]:
    """K (start, end) windows of ``clip_duration`` inside one random span of the video."""
    span = min(duration, clip_duration * SPAN_FACTOR)
    if span <= clip_duration:  # a video no longer than a clip: pytorchvideo's clip from 0
        return [(0.0, clip_duration)] * k
    span_start = rng.uniform(0.0, max(0.0, duration - span))
    return [(s, s + clip_duration) for s in (span_start + rng.uniform(0.0, span - clip_duration) for _ in range(k))]


def decode_clips(path, windows: list[tuple[float, float]], plan: DecodePlan | None = None, *,
                 threads: int | None = None, with_times: bool = False) -> list:
    """The clips of ``windows`` as uint8 (C, T, H, W) tensors, decoded once: the earliest as ``decode_clip``
    gives it, the others on its frame grid (module docstring). With ``with_times``: (clips, the
    seconds of each clip's frames)."""
    import numpy as np
    import torch

    plan = plan or DecodePlan()
    container = _video._open(path)
    try:
        try:
            result = _decode_union(container, windows, plan, codec_threads(threads))
        except _video.VideoReadError:
            raise
        except Exception as exc:
            from vidzoo.messages import one_line

            raise _video.VideoReadError(f"cannot read video {path}: {one_line(exc)}") from None
    finally:
        container.close()
    if result is not None and len({a.shape for a in result[0].values()}) > 1:
        result = None  # the size changed mid-stream: the ordinary path handles it
    if result is None:  # timestamps the shared pass cannot use: one ordinary decode per window
        clips = [_video.decode_clip(path, s, e, plan, threads=threads, with_times=True) for s, e in windows]
        return ([c for c, _ in clips], [t for _, t in clips]) if with_times else [c for c, _ in clips]
    frames, keeps, seconds = result
    order = sorted(frames)
    stack = torch.from_numpy(np.stack([frames[p] for p in order]))  # (N, H, W, C), each kept frame once
    if plan.short_side and plan.resize == "uint8":
        stack = _video._resize_uint8(stack, plan.short_side)
    position = {p: i for i, p in enumerate(order)}
    clips = [stack[[position[p] for p in keep]].permute(3, 0, 1, 2) for keep in keeps]
    return (clips, [[seconds(p) for p in keep] for keep in keeps]) if with_times else clips


def grid_keeps(all_pts: list, windows: list[list], num_frames: int) -> list[list]:
    """The kept pts of each window: the earliest window's by UniformTemporalSubsample, the others on its grid.

    ``all_pts``: every frame's pts in the decoded range, sorted; ``windows``: each window's pts.
    A window starts at the grid step nearest its own start, or the one before when the nearest
    would run past the decoded frames; one that fits neither keeps its own uniform subsample.
    """
    base = min(windows, key=lambda w: w[0])
    base_keep = [base[i] for i in uniform_indices(len(base), num_frames)]
    first = all_pts.index(base[0])
    step = (len(base) - 1) / (num_frames - 1) if num_frames > 1 else 0.0
    keeps = []
    for window in windows:
        shift = (all_pts.index(window[0]) - first) / step if step else 0.0
        for steps in dict.fromkeys((round(shift), math.floor(shift))):  # nearest step, else the one that fits
            grid = [first + math.floor((steps + i) * step + 1e-9) for i in range(num_frames)]
            if steps == 0:
                keeps.append(base_keep)
                break
            if grid[-1] < len(all_pts):
                keeps.append([all_pts[j] for j in grid])
                break
        else:
            keeps.append([window[i] for i in uniform_indices(len(window), num_frames)])
    return keeps


def _decode_union(container, windows, plan: DecodePlan, threads: int):
    stream = container.streams.video[0]
    _video._configure_threads(stream, threads)
    time_base, stream_start = stream.time_base, stream.start_time or 0
    bounds = [(_video.secs_to_pts(s, time_base, stream_start), _video.secs_to_pts(e, time_base, stream_start))
              for s, e in windows]
    first, last_end = min(b[0] for b in bounds), max(b[1] for b in bounds)
    try:
        container.seek(int(max(first - _video.SEEK_MARGIN_PTS, 0)), backward=True, any_frame=False, stream=stream)
    except Exception:
        pass
    packets = _video._window_packets(container, stream, last_end)
    if not packets or any(p.pts is None for p in packets):
        return None
    all_pts = sorted({p.pts for p in packets})
    spans = []
    for start_pts, end_pts in bounds:
        spans.append([p for p in all_pts if start_pts <= p < end_pts])
        if not spans[-1]:
            raise ValueError(f"no frames between {float(windows[len(spans) - 1][0]):.2f}s and "
                             f"{float(windows[len(spans) - 1][1]):.2f}s")
    keeps = grid_keeps(all_pts, spans, plan.num_frames) if plan.num_frames else spans
    wanted = set().union(*keeps)
    last, frames = max(wanted), {}
    for frame in _video._decoded_frames(stream, packets, wanted):
        if frame.pts is None:
            return None
        if frame.pts in wanted and frame.pts not in frames:
            frames[frame.pts] = _video._convert(frame, plan)
        if frame.pts >= last:
            break
    if len(frames) != len(wanted):
        return None
    return frames, keeps, lambda p: float((p - stream_start) * time_base)


def collate_clips(batch: list):
    """default_collate over the clips of the batch's items (an item of K clips gives K rows)."""
    from torch.utils.data import default_collate

    return default_collate([s for item in batch for s in (item if isinstance(item, list) else [item])])
