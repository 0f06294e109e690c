"""Windows of a video or a live stream from one decoding pass (``stream_windows``), for timelines.

The source is demuxed and decoded once, front to back, whatever the windows' overlap. With a
transform that has a decode plan (the built-in ``kinetics``, the zoo presets), a frame is converted
to RGB and scaled to the transform's short side only when it is the frame nearest one of the times
the transform's temporal subsample keeps in an open window (pytorchvideo's UniformTemporalSubsample
on the window's frames, counted on the stream's frame grid as ``decode_clip`` counts them, so the
pixels are ``decode_clip``'s); only those small frames are held, until their windows are complete.
Other transforms get every frame of the window at full size. Either way what is held is bounded by
one window, never the video. Any URL FFmpeg opens (rtsp://, http:// MPEG-TS, udp://) or a capture
device is read as a live stream: no duration, windows until it ends or ``stop`` is set.
"""

from __future__ import annotations

import heapq
import math
import threading
from dataclasses import dataclass

LIVE_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://", "srt://", "rtp://")
DEFAULT_FPS = 30.0  # a stream that states no frame rate


def is_live(source: str) -> bool:
    """A URL or a capture device is read as a stream (no duration, no seeking)."""
    s = str(source)
    return s.lower().startswith(LIVE_SCHEMES) or s.startswith("/dev/")


@dataclass
class _Window:
    index: int
    start: float
    end: float
    slots: list  # frame arrays (planned: one per kept time; else every frame)
    missing: int = 0


def _open_source(source, live: bool):
    from vidzoo.data.video import _open

    if not live:
        return _open(source)
    # A stalled stream ends after 10 s instead of hanging. RTSP over UDP or TCP: FFmpeg asks for UDP
    # and moves to TCP when the server refuses it or no UDP packet arrives (NAT, firewalls), so
    # UDP-only servers and TCP-only cameras both play (TCP alone was refused by the former).
    options = {"rtsp_transport": "udp+tcp"} if str(source).startswith("rtsp") else {}
    if str(source).startswith("/dev/video"):  # a V4L2 capture device: FFmpeg does not guess its format
        return _open(str(source), format="v4l2", timeout=(30.0, 10.0))
    return _open(str(source), options=options, timeout=(30.0, 10.0))


def stream_windows(source, transform, window: float, stride: float, *, live: bool | None = None,
                   stop: threading.Event | None = None, threads: int | None = None, on_time=None):
    """Yield (start, end, transformed clip) of each window of ``source`` in order, from one decoding pass.

    ``transform`` is an evaluation transform on sample dicts (``decode_plan()`` used when it has
    one); ``stop`` (set from another thread) ends the stream early; ``on_time(seconds)`` is called
    with the stream time of each decoded frame (for latency).
    """
    from vidzoo.data import video as _video
    from vidzoo.data.decode_plan import codec_threads, uniform_indices

    live = is_live(source) if live is None else live
    container = _open_source(source, live)
    try:
        stream = container.streams.video[0]
        _video._configure_threads(stream, codec_threads(threads))
        fps = float(stream.average_rate or stream.guessed_rate or 0) or DEFAULT_FPS
        dt = 1.0 / fps
        duration = None
        if not live:
            if stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                duration = container.duration / 1_000_000
        plan_fn = getattr(transform, "decode_plan", None)
        plan = plan_fn() if plan_fn is not None else None
        if duration is not None and duration < window:  # a short file: one window of all of it
            window = max(duration, dt)
        starts = _starts(window, stride, duration, dt)
        open_windows: dict[int, _Window] = {}
        targets: list = []  # heap of (time, window index, slot) still to be filled
        next_start = next(starts, None)
        count = 0
        prev = None  # (time, frame, converted or None)
        origin = None

        def convert(entry):
            if entry[2] is None:
                entry[2] = _frame_array(entry[1], plan)
            return entry[2]

        def open_until(t):
            nonlocal next_start, count
            while next_start is not None and next_start <= t + 1e-9:
                w = _Window(count, next_start, next_start + window, [])
                if plan is not None and plan.num_frames:
                    # the frames of [start, end) on the stream's frame grid, as decode_clip counts them
                    first = math.ceil(next_start * fps - 1e-6)
                    n = max(1, math.ceil((next_start + window) * fps - 1e-6) - first)
                    times = [(first + i) * dt for i in uniform_indices(n, plan.num_frames)]
                    w.slots = [None] * len(times)
                    w.missing = len(times)
                    for slot, tau in enumerate(times):
                        heapq.heappush(targets, (tau, count, slot))
                open_windows[count] = w
                count += 1
                next_start = next(starts, None)

        def complete():
            done = sorted(i for i, w in open_windows.items() if plan is not None and plan.num_frames and w.missing == 0)
            for i in done:
                yield open_windows.pop(i)

        for frame in _frames(container, stream, stop, live):
            if frame.pts is None:
                continue
            t_abs = float(frame.pts * stream.time_base)
            if origin is None:
                origin = t_abs if live or stream.start_time is None else float(stream.start_time * stream.time_base)
            t = t_abs - origin
            if prev is not None and t <= prev[0]:  # out-of-order or repeated timestamp: skip
                continue
            if on_time is not None:
                on_time(t)
            entry = [t, frame, None]
            open_until(t)
            if plan is not None and plan.num_frames:
                while targets and targets[0][0] <= t + 1e-9:
                    tau, i, slot = heapq.heappop(targets)
                    chosen = prev if prev is not None and (tau - prev[0]) <= (t - tau) else entry
                    w = open_windows.get(i)
                    if w is not None:
                        w.slots[slot] = convert(chosen)
                        w.missing -= 1
                for w in complete():
                    yield w.start, w.end, _transformed(transform, w, plan)
            else:
                finished = []
                for w in open_windows.values():
                    if t >= w.end - 1e-9:
                        finished.append(w)
                    else:
                        w.slots.append(convert(entry))
                for w in finished:
                    del open_windows[w.index]
                    if w.slots:
                        yield w.start, w.end, _transformed(transform, w, plan)
            prev = [entry[0], None, entry[2]] if entry[2] is not None else entry
        # End of the stream: a file's windows are completed with its last frames; a live stream's
        # unfinished windows are dropped (they would hold less than a window of it).
        if prev is not None and not live:
            for i in sorted(open_windows):
                w = open_windows[i]
                if plan is not None and plan.num_frames:
                    if w.missing == len(w.slots) and prev[0] < w.start - 1e-9:
                        continue
                    last = None
                    for slot, value in enumerate(w.slots):
                        if value is None:
                            w.slots[slot] = last if last is not None else convert(prev)
                        last = w.slots[slot]
                    yield w.start, min(w.end, prev[0] + dt), _transformed(transform, w, plan)
                elif w.slots:
                    yield w.start, min(w.end, prev[0] + dt), _transformed(transform, w, plan)
    finally:
        container.close()


def _starts(window: float, stride: float, duration: float | None, dt: float):
    """Window starts: every stride; for a file with a duration, the last one aligned to its end."""
    k = 0
    if duration is None:
        while True:
            yield k * stride
            k += 1
    last = None
    while k * stride + window <= duration + dt / 2:
        last = k * stride
        yield last
        k += 1
    if last is None or last + window < duration - dt / 2:
        yield max(0.0, duration - window)


def _frames(container, stream, stop, live: bool):
    """Decoded frames until the end (or ``stop``). A live stream that breaks off after its first frame
    (a network stream without a length ends with an I/O error) has simply ended."""
    started = False
    packets = container.demux(stream)
    while not (stop is not None and stop.is_set()):
        try:
            packet = next(packets)
            frames = packet.decode()
        except StopIteration:
            return
        except Exception:
            if live and started:
                return
            raise
        started = started or bool(frames)
        yield from frames


def _frame_array(frame, plan):
    """A frame as uint8 RGB (H, W, 3): with a plan, at the transform's short side (as decode_clip scales it)."""
    import torch

    from vidzoo.data import video as _video
    from vidzoo.data.decode_plan import DecodePlan

    array = _video._convert(frame, plan or DecodePlan())
    if plan is not None and plan.short_side and plan.resize == "uint8":
        return _video._resize_uint8(torch.from_numpy(array)[None], plan.short_side)[0]
    return torch.from_numpy(array)


def _transformed(transform, w: _Window, plan):
    import torch

    clip = torch.stack(list(w.slots)).permute(3, 0, 1, 2)  # (C, T, H, W)
    sample = {"video": clip, "label": 0, "video_index": 0, "video_name": "", "clip_start": w.start}
    if plan is not None:
        sample["decode_plan"] = plan
    else:
        sample["video"] = clip.float()
    return transform(sample)["video"]
