"""Video files: duration probing and clip decoding (PyAV), and writing frames as a video.

Two ways to read a clip:
- ``read_clip(path, start, end)``: every frame in [start, end) as float32 (C, T, H, W)
  in 0..255, exactly what pytorchvideo's EncodedVideo (PyAV) returns;
- ``decode_clip(path, start, end, plan)``: the fast path. It seeks to the keyframe before
  the clip, demuxes only up to the clip's end, decodes, and converts (YUV -> RGB, and
  scaling in swscale when the plan asks) only the frames the temporal subsample keeps,
  returning uint8 (C, T, H, W); non-reference frames that are not kept are not even
  decoded (the decoder skips them). Which frames are kept is decided from the packets'
  timestamps before decoding, with pytorchvideo's own rules (same window, same
  UniformTemporalSubsample indices), so the clip has the same frame timestamps.
Both raise VideoReadError (a ValueError) with the path and the reason for files that
cannot be read or have no frames in the window. Every reader takes a path or a binary file
object (an encoded video in memory as ``io.BytesIO``, named by its ``name`` attribute when set).
"""

from __future__ import annotations

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction

from vidzoo.data.decode_plan import DecodePlan, codec_threads, short_side_size, uniform_indices
from vidzoo.data.skipping import skip_modes
from vidzoo.messages import one_line

SEEK_MARGIN_PTS = 1024  # pytorchvideo seeks this many pts before the clip start
REORDER_SLACK = 16  # packets read past the end when a container gives no dts


DEMO_ENCODING = {"crf": "20", "preset": "veryfast"}  # the demo sample's x264 settings (its VERSION pins them)


def write_video(path, frames, fps: int, width: int, height: int, codec: str = "libx264",
                options: dict[str, str] | None = DEMO_ENCODING) -> None:
    """Encode ``frames`` (uint8 RGB arrays of height x width x 3) as a yuv420p video at ``fps``.

    The one video writer of vidzoo (the demo sample, the conformance kit's test videos, fake
    datasets, benchmarks). ``options`` are the encoder's (x264's crf, preset, ...); None or {}:
    the encoder's own defaults.
    """
    import av

    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if options:
            stream.options = dict(options)
        for array in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


class VideoReadError(ValueError):
    """A video file that cannot be read (missing, not a video, corrupt, no frames in the clip)."""


@dataclass(frozen=True)
class VideoInfo:
    duration: float
    fps: float
    width: int
    height: int


def _source(path):
    """What av.open takes: a path as str, or a binary file object as it is."""
    return path if hasattr(path, "read") else str(path)


def _name(path) -> str:
    return str(getattr(path, "name", None) or path) if hasattr(path, "read") else str(path)


def probe(path) -> VideoInfo:
    """Container-level facts about a video, read from its header (no decoding)."""
    import av

    with av.open(_source(path)) as container:
        if not container.streams.video:
            raise ValueError("no video stream")
        stream = container.streams.video[0]
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / 1_000_000
        else:
            raise ValueError("unknown duration")
        fps = float(stream.average_rate or stream.guessed_rate or 0)
        return VideoInfo(duration, fps, stream.codec_context.width, stream.codec_context.height)


def probe_many(paths: list[str], threads: int = 8) -> list[VideoInfo | Exception]:
    """probe() for many files at once (header reads are I/O bound, so threads help)."""

    def safe(path):
        try:
            return probe(path)
        except Exception as exc:  # reported by the caller, with the path
            return exc

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(safe, paths))


def read_clip(path: str, start: float | Fraction, end: float | Fraction, threads: int | None = None):
    """Frames in [start, end) as a float32 tensor (C, T, H, W) in 0..255.

    The same frames and pixel values as pytorchvideo's EncodedVideo (PyAV) ``get_clip``.
    """
    return decode_clip(path, start, end, None, threads=threads).float()


def secs_to_pts(seconds, time_base, start_pts: int) -> int | float:
    """pytorchvideo's secs_to_pts(round_mode="ceil"), so clip windows match exactly."""
    if seconds == math.inf:
        return math.inf
    return math.ceil(seconds / time_base) + start_pts


def _open(path, **options):
    """The opened container (``options``: av.open's, e.g. a live stream's timeout), or VideoReadError."""
    import av

    try:
        container = av.open(_source(path), **options)
    except Exception as exc:
        raise VideoReadError(f"cannot read video {_name(path)}: {one_line(exc)}") from None
    if not container.streams.video:
        container.close()
        raise VideoReadError(f"cannot read video {_name(path)}: it has no video stream")
    return container


def _configure_threads(stream, threads: int) -> None:
    cc = stream.codec_context
    if threads > 1:
        cc.thread_type = "AUTO"  # frame threads: H.264 from most encoders has one slice per frame
        cc.thread_count = threads
    else:
        cc.thread_count = 1


def _window_packets(container, stream, end_pts):
    """Video packets from the seek point until every frame before end_pts is covered."""
    packets, past_end = [], 0
    for packet in container.demux(stream):
        if packet.size == 0:  # end of file
            break
        packets.append(packet)
        if packet.dts is not None:
            if packet.dts >= end_pts:  # dts only grows and dts <= pts: nothing later is in the clip
                break
        elif packet.pts is not None and packet.pts >= end_pts:
            past_end += 1
            if past_end >= REORDER_SLACK:
                break
    return packets


def _decoded_frames(stream, packets, wanted=None):
    """Decoded frames of the packets; with ``wanted`` (pts), the decoder skips what no wanted frame
    needs: non-reference frames that are not wanted, and in H.264 every packet between a wanted
    frame and the next IDR frame that a later wanted frame starts from (vidzoo.data.skipping)."""
    cc = stream.codec_context
    modes = skip_modes(stream, packets, wanted) if wanted is not None else None
    current = "DEFAULT"
    for i, packet in enumerate(packets):
        if modes is not None and modes[i] != current:
            cc.skip_frame = current = modes[i]
        yield from cc.decode(packet)
    if current != "DEFAULT":
        cc.skip_frame = "DEFAULT"
    yield from cc.decode(None)  # drain the frames the decoder still holds (B-frame reordering, threads)


_local = threading.local()


_inherited: list = []


def _forget_reformatters() -> None:
    # A forked child (DataLoader worker) must not use the parent's swscale context: its slice
    # threads did not survive the fork, so using it (or even freeing it) deadlocks. The child
    # keeps it unreferenced-but-alive and makes its own.
    if "reformatter" in _local.__dict__:
        _inherited.append(_local.__dict__.pop("reformatter"))


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_reformatters)


def _reformatter():
    """One swscale context per thread, reused across frames and clips.

    ``frame.to_ndarray(format=...)`` makes a new one for every frame, and setting up a
    swscale context costs ~7x the conversion of a 340x256 frame itself.
    """
    reformatter = getattr(_local, "reformatter", None)
    if reformatter is None:
        from av.video.reformatter import VideoReformatter

        reformatter = _local.reformatter = VideoReformatter()
    return reformatter


def _convert(frame, plan: DecodePlan):
    """One kept frame as an RGB uint8 array (H, W, 3): as pytorchvideo converts it, or scaled by swscale."""
    if plan.short_side and plan.resize == "swscale":
        width, height = short_side_size(frame.width, frame.height, plan.short_side)
        if (width, height) != (frame.width, frame.height):
            return _reformatter().reformat(frame, width=width, height=height, format="rgb24",
                                           interpolation=plan.interpolation).to_ndarray()
    return _reformatter().reformat(frame, format="rgb24").to_ndarray()


def _resize_uint8(clip, short_side: int):
    """(T, H, W, 3) uint8 -> the short side, with torch's bilinear on uint8 (pytorchvideo's filter, rounded)."""
    import torch.nn.functional as F

    height, width = clip.shape[1:3]
    new_w, new_h = short_side_size(width, height, short_side)
    if (new_w, new_h) == (width, height):
        return clip
    x = clip.permute(0, 3, 1, 2)  # (T, 3, H, W) view in channels-last memory: torch's fast uint8 path
    out = F.interpolate(x, size=(new_h, new_w), mode="bilinear", align_corners=False, antialias=False)
    return out.permute(0, 2, 3, 1)


def decode_clip(path, start, end, plan: DecodePlan | None = None, *, threads: int | None = None,
                with_times: bool = False):
    """The clip [start, end) of a video as uint8 (C, T, H, W), decoded with only the work ``plan`` needs.

    With ``plan.num_frames`` it holds the frames pytorchvideo's UniformTemporalSubsample
    would keep from pytorchvideo's clip; with ``plan.short_side`` they are scaled to the size
    ShortSideScale would give them, as ``plan.resize`` says (torch bilinear on uint8, or swscale). ``threads``: decoder threads (default:
    vidzoo.data.decode_plan.codec_threads()). With ``with_times`` returns (clip, seconds of
    each frame).
    """
    import numpy as np
    import torch

    plan = plan or DecodePlan()
    container = _open(path)
    try:
        try:
            arrays, times = _decode(container, start, end, plan, codec_threads(threads))
        except VideoReadError:
            raise
        except Exception as exc:
            raise VideoReadError(f"cannot read video {_name(path)}: {one_line(exc)}") from None
    finally:
        container.close()
    if not arrays:
        raise VideoReadError(f"cannot read video {_name(path)}: no frames between {float(start):.2f}s and {float(end):.2f}s")
    if len({a.shape for a in arrays}) > 1:  # the frame size changed mid-stream: use the first size
        import torch.nn.functional as F

        first = arrays[0].shape[:2]
        arrays = [a if a.shape[:2] == first else F.interpolate(
            torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None].float(), size=first, mode="bilinear",
            align_corners=False)[0].round().clamp(0, 255).byte().permute(1, 2, 0).numpy() for a in arrays]
    clip = torch.from_numpy(np.stack(arrays))  # (T, H, W, C)
    if plan.short_side and plan.resize == "uint8":
        clip = _resize_uint8(clip, plan.short_side)
    clip = clip.permute(3, 0, 1, 2)  # (C, T, H, W), a view
    return (clip, times) if with_times else clip


def _decode(container, start, end, plan: DecodePlan, threads: int):
    stream = container.streams.video[0]
    _configure_threads(stream, threads)
    time_base = stream.time_base
    stream_start = stream.start_time or 0
    start_pts = secs_to_pts(start, time_base, stream_start)
    end_pts = secs_to_pts(end, time_base, stream_start)
    try:
        container.seek(int(max(start_pts - SEEK_MARGIN_PTS, 0)), backward=True, any_frame=False, stream=stream)
    except Exception:  # not seekable: decode from the start (only correctness, not speed, then)
        pass
    packets = _window_packets(container, stream, end_pts)
    window = sorted({p.pts for p in packets if p.pts is not None and start_pts <= p.pts < end_pts})
    if packets and all(p.pts is not None for p in packets):
        if not window:  # no frame starts in [start, end)
            return [], []
        result = _decode_planned(stream, packets, window, start_pts, end_pts, plan)
        if result is not None:
            return _times(result, time_base, stream_start)
        stream.codec_context.skip_frame = "DEFAULT"
        container.seek(int(max(start_pts - SEEK_MARGIN_PTS, 0)), backward=True, any_frame=False, stream=stream)
        packets = _window_packets(container, stream, end_pts)
    return _times(_decode_all(stream, packets, start_pts, end_pts, plan), time_base, stream_start)


def _times(result, time_base, stream_start):
    arrays, pts = result
    return arrays, [float((p - stream_start) * time_base) for p in pts]


def _decode_planned(stream, packets, window, start_pts, end_pts, plan: DecodePlan):
    """Convert only the frames the subsample keeps; None when the decoded frames do not match the packets.

    The choice of frames comes from the packets' timestamps (the window's frame count and
    times), so frames that are not kept need not be output at all: the decoder skips the
    non-reference ones (typically half the B-frames) and nothing is converted but the kept.
    """
    keep = [window[i] for i in uniform_indices(len(window), plan.num_frames)] if plan.num_frames else window
    wanted, converted = set(keep), {}
    in_window = set(window)
    last = keep[-1]
    for frame in _decoded_frames(stream, packets, wanted if plan.num_frames else None):
        pts = frame.pts
        if pts is None or pts < start_pts:
            continue
        if pts >= end_pts or pts not in in_window:  # frame and packet times disagree: use the fallback
            return None
        if pts in wanted and pts not in converted:
            converted[pts] = _convert(frame, plan)
        if pts >= last:  # every kept frame is in; the rest of the window cannot change the choice
            break
    if len(converted) != len(wanted):  # a kept frame failed to decode
        return None
    return [converted[p] for p in keep], keep


def _decode_all(stream, packets, start_pts, end_pts, plan: DecodePlan):
    """Fallback without usable packet times: keep the decoded frames, then choose (pytorchvideo's loop)."""
    frames = {}
    for frame in _decoded_frames(stream, packets):
        if frame.pts is None:
            continue
        if start_pts <= frame.pts < end_pts:
            frames[frame.pts] = frame
        elif frame.pts >= end_pts:
            break
    window = sorted(frames)
    if not window:
        return [], []
    keep = [window[i] for i in uniform_indices(len(window), plan.num_frames)] if plan.num_frames else window
    converted = {p: _convert(frames[p], plan) for p in set(keep)}
    return [converted[p] for p in keep], keep
