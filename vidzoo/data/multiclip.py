"""Several training clips from one opened and decoded span (``--data.clips_per_video K``).

MAE-ST's repeated sampling (4 clips per video in pre-training, 2 in fine-tuning) amortises
opening a video, seeking and decoding over K clips. Here a span of the video is chosen at
random, K windows of one clip's duration at random places inside it (the same window when
the video is no longer than a clip), and the video is opened, sought and demuxed once; the
decoder outputs the union of the frames the K windows keep (each chosen as pytorchvideo's
UniformTemporalSubsample chooses them), and each kept frame is converted (and scaled) once.
The K clips then get their own crops and flips from the transform.
"""

from __future__ import annotations

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
                 threads: int | None = None) -> list:
    """The clips of ``windows`` as uint8 (C, T, H, W) tensors, each what ``decode_clip`` gives it, decoded once."""
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
    if result is None:  # timestamps the shared pass cannot use: one ordinary decode per window
        return [_video.decode_clip(path, s, e, plan, threads=threads) for s, e in windows]
    frames, keeps = result
    order = sorted(frames)
    if len({frames[p].shape for p in order}) > 1:  # the size changed mid-stream: the ordinary path handles it
        return [_video.decode_clip(path, s, e, plan, threads=threads) for s, e in windows]
    stack = torch.from_numpy(np.stack([frames[p] for p in order]))  # (N, H, W, C), each kept frame once
    if plan.short_side and plan.resize == "uint8":
        stack = _video._resize_uint8(stack, plan.short_side)
    position = {p: i for i, p in enumerate(order)}
    return [stack[[position[p] for p in keep]].permute(3, 0, 1, 2) for keep in keeps]


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
    keeps = []
    for start_pts, end_pts in bounds:
        window = [p for p in all_pts if start_pts <= p < end_pts]
        if not window:
            raise ValueError(f"no frames between {float(windows[len(keeps)][0]):.2f}s and {float(windows[len(keeps)][1]):.2f}s")
        keeps.append([window[i] for i in uniform_indices(len(window), plan.num_frames)] if plan.num_frames
                     else window)
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
    return frames, keeps


def collate_clips(batch: list):
    """default_collate over the clips of the batch's items (an item of K clips gives K rows)."""
    from torch.utils.data import default_collate

    return default_collate([s for item in batch for s in (item if isinstance(item, list) else [item])])
