"""Timelines: a model's top-k over time for long videos and live streams, merged into segments.

``Predictor.timeline(path)`` and ``vidzoo predict VIDEO --timeline`` are built on this module.

- **Windows.** Clips of ``window`` seconds every ``stride`` seconds from the first frame. A file
  shorter than one window is one window of the whole file, and a file's last window is aligned to
  its end, so every second is covered; a live stream's windows go on until it ends or is stopped.
- **One decoding pass, flat memory** (``stream_windows``). The source is demuxed and decoded once,
  front to back, whatever the windows' overlap. With a transform that has a decode plan (the built-in
  ``kinetics``), a frame is converted to RGB and scaled to the transform's short side only when it
  is the frame nearest one of the times the transform's temporal subsample keeps in an open window
  (pytorchvideo's UniformTemporalSubsample on the window's frames at the stream's frame rate); only
  those small frames are held, until their windows are complete. Other transforms get every frame
  of the window at full size. Either way what is held is bounded by one window, never the video.
- **Scores.** Complete windows are transformed (the Predictor's evaluation transform, as
  ``predict`` uses it: one full-frame view) and scored in batches while the next ones decode (a
  decoding thread: PyAV releases the GIL).
- **Segments** (``Segmenter``). Window probabilities are averaged over ``smooth`` windows
  (centred), each window's label is its smoothed top class, and each window stands for the
  ``stride`` seconds from its start (the last one to its end). Runs of one label make segments; a
  run shorter than ``min_segment`` seconds joins the segment before it. A segment closes when the
  next run has lasted ``min_segment``, so on a live stream it is reported that long, plus the
  smoothing's look-ahead, after its end.
"""

from __future__ import annotations

import csv
import heapq
import io
import math
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from vidzoo.errors import VidzooError

LIVE_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://", "srt://", "rtp://")
DEFAULT_FPS = 30.0  # a stream that states no frame rate
QUEUE_WINDOWS = 64  # transformed windows waiting for the model at most (memory bound)


def is_live(source: str) -> bool:
    """A URL or a capture device is read as a stream (no duration, no seeking)."""
    s = str(source)
    return s.lower().startswith(LIVE_SCHEMES) or s.startswith("/dev/")


def check_options(window: float | None, stride: float | None, smooth: int, min_segment: float, top_k: int) -> None:
    if window is not None and not window > 0:
        raise VidzooError(f"--window must be more than 0 seconds, got {window}")
    if stride is not None and not stride > 0:
        raise VidzooError(f"--stride must be more than 0 seconds, got {stride}")
    if smooth < 1:
        raise VidzooError(f"--smooth must be 1 or more windows, got {smooth}")
    if min_segment < 0:
        raise VidzooError(f"--min-segment must be 0 or more seconds, got {min_segment}")
    if top_k < 1:
        raise VidzooError(f"--top-k must be 1 or more, got {top_k}")


# ---------------------------------------------------------------- decoding: windows from one pass


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
    # A stalled stream ends after 10 s instead of hanging; RTSP over TCP passes NAT and firewalls.
    options = {"rtsp_transport": "tcp"} if str(source).startswith("rtsp") else {}
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


# ---------------------------------------------------------------- segments


@dataclass
class Segment:
    start: float
    end: float
    label: str
    score: float  # mean smoothed probability of the label over the segment's windows

    def as_dict(self) -> dict:
        return {"start": round(self.start, 3), "end": round(self.end, 3), "class": self.label,
                "probability": round(self.score, 6)}


class Segmenter:
    """Streaming smoothing and merging: ``add(start, end, probs)`` returns the segments that closed,
    ``finish()`` the rest. Holds only the windows the centred average still needs."""

    def __init__(self, class_names, stride: float, smooth: int = 1, min_segment: float = 0.0):
        self.class_names = list(class_names)
        self.stride = stride
        self.half = max(1, int(smooth)) // 2
        self.min_segment = float(min_segment)
        self._recent: deque = deque()  # (index, start, end, probs) of the windows around the next to label
        self._count = 0  # windows added
        self._next = 0  # the next window to label
        self._current = None  # the open segment: [start, end, class index, [scores]]
        self._candidate = None  # a run of another label, not yet min_segment long
        self._last_end = 0.0

    def add(self, start: float, end: float, probs) -> list[Segment]:
        self._recent.append((self._count, start, end, probs))
        self._count += 1
        closed = []
        while self._count - self._next > self.half:
            closed += self._label(last=False)
        return closed

    def finish(self, end: float | None = None) -> list[Segment]:
        """The segments still open; the last one reaches ``end`` (the last window's end) when given."""
        closed = []
        while self._next < self._count:
            closed += self._label(last=self._next == self._count - 1)
        if self._candidate is not None:
            if self._current is not None and self._candidate[1] - self._candidate[0] < self.min_segment:
                self._current[1] = self._candidate[1]
            else:
                closed += self._close()
                self._current = self._candidate
            self._candidate = None
        if self._current is not None and end is not None:
            self._current[1] = max(self._current[1], end)
        return closed + self._close()

    def _label(self, last: bool) -> list[Segment]:
        i = self._next
        self._next += 1
        near = [w for w in self._recent if abs(w[0] - i) <= self.half]
        probs = sum(w[3] for w in near) / len(near)
        _, start, end, _ = next(w for w in self._recent if w[0] == i)
        while self._recent and self._recent[0][0] < i - self.half + 1:  # no later window needs it
            self._recent.popleft()
        best = int(probs.argmax())
        start = max(start, self._last_end)  # a file's last window, aligned to its end, overlaps the one before
        self._last_end = end if last else min(end, start + self.stride)
        return self._extend([start, end if last else min(end, start + self.stride), best, [float(probs[best])]])

    def _extend(self, run) -> list[Segment]:
        cur, cand = self._current, self._candidate
        if cur is None:
            self._current = run
        elif cand is None and run[2] == cur[2]:
            cur[1] = run[1]
            cur[3] += run[3]
        elif cand is not None and run[2] == cand[2]:
            cand[1] = run[1]
            cand[3] += run[3]
        else:
            if cand is not None:  # a run shorter than min_segment joins the segment before it
                cur[1] = cand[1]
                self._candidate = None
            if run[2] == cur[2]:
                cur[1] = run[1]
                cur[3] += run[3]
            else:
                self._candidate = run
        cand = self._candidate
        if cand is not None and cand[1] - cand[0] >= self.min_segment:
            closed = self._close()
            self._current, self._candidate = cand, None
            return closed
        return []

    def _close(self) -> list[Segment]:
        cur, self._current = self._current, None
        if cur is None:
            return []
        return [Segment(cur[0], cur[1], self.class_names[cur[2]], sum(cur[3]) / len(cur[3]))]


# ---------------------------------------------------------------- the timeline of one source


@dataclass
class Timeline:
    """The result of ``Predictor.timeline``: ``windows`` [(start, end, top)], ``segments`` [Segment]."""

    path: str
    window: float
    stride: float
    smooth: int
    min_segment: float
    windows: list = field(default_factory=list)  # (start, end, [(class, probability)])
    segments: list = field(default_factory=list)
    duration: float = 0.0  # seconds of the source that were read
    interrupted: bool = False

    def as_dict(self) -> dict:
        return {"path": self.path, "window": self.window, "stride": self.stride, "smooth": self.smooth,
                "min_segment": self.min_segment, "duration": round(self.duration, 3),
                "interrupted": self.interrupted,
                "windows": [{"start": round(s, 3), "end": round(e, 3),
                             "top": [{"class": c, "probability": round(p, 6)} for c, p in top]}
                            for s, e, top in self.windows],
                "segments": [seg.as_dict() for seg in self.segments]}

    def to_csv(self) -> str:
        """One row per window and rank: path,start,end,rank,class,probability."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["path", "start", "end", "rank", "class", "probability"])
        for s, e, top in self.windows:
            for rank, (c, p) in enumerate(top, 1):
                writer.writerow([self.path, f"{s:.3f}", f"{e:.3f}", rank, c, f"{p:.6f}"])
        return out.getvalue()

    def plot(self, path, class_names=None, width: int = 1200) -> None:
        """A PNG strip: the segments' labels over time (top), each window's top class (bottom), a time axis."""
        plot_timeline(self, path, class_names, width)


def format_segment(seg: Segment, latency: float | None = None) -> str:
    line = f"  {_clock(seg.start)} - {_clock(seg.end)}  {seg.label}  {100 * seg.score:5.1f}%"
    if latency is not None:
        line += f"  (closed {latency:.1f} s behind the stream)"
    return line


def _clock(seconds: float) -> str:
    m, s = divmod(max(0.0, seconds), 60)
    h, m = divmod(int(m), 60)
    return f"{h}:{m:02d}:{s:06.3f}" if h else f"{m:02d}:{s:06.3f}"


def run_timeline(predictor, source, window: float | None = None, stride: float | None = None, smooth: int = 1,
                 min_segment: float = 0.0, top_k: int = 5, batch_size: int = 16, on_segment=None,
                 live: bool | None = None, stop: threading.Event | None = None) -> Timeline:
    """The timeline of ``source`` (a file or a live URL) with ``predictor``'s model and transform.

    ``on_segment(segment, latency)`` is called as each segment closes (latency: seconds between the
    stream reaching the segment's end and its report, or None for a file). KeyboardInterrupt (Ctrl-C)
    ends the stream: what was seen is returned, with ``interrupted`` set.
    """
    window = float(window or predictor.clip_duration)
    stride = float(stride or window / 2)
    check_options(window, stride, smooth, min_segment, top_k)
    live = is_live(source) if live is None else live
    stop = stop or threading.Event()
    result = Timeline(str(source), window, stride, int(smooth), float(min_segment))
    segmenter = Segmenter(predictor.class_names, stride, smooth, min_segment)
    seen = {"t": 0.0}
    arrivals: list = []  # (stream time, wall time) of recent frames, for latencies

    def on_time(t):
        seen["t"] = t
        if live:
            arrivals.append((t, time.monotonic()))
            if len(arrivals) > 4096:
                del arrivals[:2048]

    def report(segments):
        for seg in segments:
            result.segments.append(seg)
            if on_segment is not None:
                on_segment(seg, _latency(arrivals, seg.end) if live else None)

    items: queue.Queue = queue.Queue(maxsize=QUEUE_WINDOWS)
    failure = []

    def produce():
        try:
            for item in stream_windows(source, predictor.transform, window, stride, live=live, stop=stop,
                                       on_time=on_time):
                while not stop.is_set():
                    try:
                        items.put(item, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    break
        except BaseException as exc:  # reported by the consumer, in the caller's thread
            failure.append(exc)
        finally:
            items.put(None)

    producer = threading.Thread(target=produce, name="vidzoo-timeline-decode", daemon=True)
    producer.start()
    batch: list = []
    last_end = 0.0

    def flush():
        nonlocal last_end
        if not batch:
            return
        from vidzoo.evaluation.views import stack_views

        probs = predictor.scores(stack_views([clip for _, _, clip in batch]), batch_size)
        for (s, e, _), p in zip(batch, probs):
            result.windows.append((s, e, predictor.top(p, top_k)))
            report(segmenter.add(s, e, p))
            last_end = max(last_end, e)
        batch.clear()

    try:
        while True:
            item = items.get()
            if item is None:
                break
            batch.append(item)
            # a live stream is scored as soon as a window is complete: batches would add latency
            if len(batch) >= (1 if live else batch_size):
                flush()
        flush()
    except KeyboardInterrupt:
        result.interrupted = True
        stop.set()
    finally:
        stop.set()
        producer.join(timeout=15)
    if failure and not isinstance(failure[0], KeyboardInterrupt):
        exc = failure[0]
        if not result.windows:
            raise exc
        result.interrupted = True  # the stream broke off: keep what was seen
    # The last window's segment reaches that window's end.
    report(segmenter.finish(last_end))
    result.duration = max(seen["t"], last_end)
    return result


def _latency(arrivals, t: float) -> float | None:
    for stream_time, wall in arrivals:
        if stream_time >= t - 1e-6:
            return max(0.0, time.monotonic() - wall)
    return 0.0 if arrivals else None


# ---------------------------------------------------------------- a timeline in two steps (the server's)


def window_clips(path, transform, clip_duration: float, window: float | None = None, stride: float | None = None,
                 max_windows: int = 64):
    """The timeline windows of a file, transformed and stacked, for a model elsewhere (``vidzoo serve``
    decodes in its API server and scores in its inference workers): ((start, end) list, views, stride).
    A long file gets a wider stride, so that it has at most ``max_windows`` windows (memory)."""
    from vidzoo.data.video import probe
    from vidzoo.evaluation.views import stack_views

    window = float(window or clip_duration)
    stride = float(stride or window / 2)
    duration = probe(path).duration
    if duration > window and max_windows > 1:
        stride = max(stride, (duration - window) / (max_windows - 1))
    times, clips = [], []
    for start, end, clip in stream_windows(path, transform, window, stride, live=False):
        times.append((start, end))
        clips.append(clip)
    if not clips:
        raise ValueError("no frames")
    return times, stack_views(clips), stride


def timeline_of_scores(class_names, times, probs, window: float, stride: float, smooth: int = 1,
                       min_segment: float = 0.0, top_k: int = 5, path: str = "") -> Timeline:
    """The Timeline of windows scored elsewhere: ``probs`` (N, num_classes) numpy, one row per (start, end)."""
    import numpy as np

    result = Timeline(path, window, stride, int(smooth), float(min_segment))
    segmenter = Segmenter(class_names, stride, smooth, min_segment)
    k = min(top_k, len(class_names))
    for (start, end), p in zip(times, probs):
        best = np.argsort(-p, kind="stable")[:k]
        result.windows.append((start, end, [(class_names[i], float(p[i])) for i in best]))
        result.segments += segmenter.add(start, end, p)
    result.segments += segmenter.finish(times[-1][1] if times else None)
    result.duration = times[-1][1] if times else 0.0
    return result


# ---------------------------------------------------------------- the PNG strip


def _colour(i: int) -> tuple[int, int, int]:
    import colorsys

    r, g, b = colorsys.hsv_to_rgb((i * 0.618033988749895) % 1.0, 0.55, 0.92)
    return int(r * 255), int(g * 255), int(b * 255)


def plot_timeline(tl: Timeline, path, class_names=None, width: int = 1200) -> None:
    from PIL import Image, ImageDraw, ImageFont

    names = list(class_names or sorted({s.label for s in tl.segments} | {w[2][0][0] for w in tl.windows}))
    colour = {n: _colour(i) for i, n in enumerate(names)}
    total = max(tl.duration, max((w[1] for w in tl.windows), default=0.0), 1e-6)
    margin, row, legend_h = 10, 36, 22
    height = margin + row + 6 + row // 2 + 24 + legend_h * math.ceil(len(names) / 4) + margin
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    span = width - 2 * margin

    def x(t):
        return margin + span * min(max(t, 0.0), total) / total

    y0 = margin
    for seg in tl.segments:  # the segments, labelled where they are wide enough
        draw.rectangle([x(seg.start), y0, max(x(seg.end) - 1, x(seg.start)), y0 + row], fill=colour[seg.label])
        text = seg.label
        if draw.textlength(text, font=font) < x(seg.end) - x(seg.start) - 4:
            draw.text((x(seg.start) + 3, y0 + row / 2 - 5), text, fill="black", font=font)
    y1 = y0 + row + 6
    for i, (s, e, top) in enumerate(tl.windows):  # each window's top class, its opacity the probability
        c = colour[top[0][0]]
        p = top[0][1]
        faded = tuple(int(255 - (255 - v) * (0.35 + 0.65 * p)) for v in c)
        stop = e if i == len(tl.windows) - 1 else min(e, s + tl.stride)
        draw.rectangle([x(s), y1, max(x(stop) - 1, x(s)), y1 + row // 2], fill=faded)
    y2 = y1 + row // 2 + 4
    draw.line([margin, y2, width - margin, y2], fill="black")
    step = _tick(total)
    t = 0.0
    while t <= total + 1e-9:
        draw.line([x(t), y2, x(t), y2 + 4], fill="black")
        label = f"{t:g}s" if total < 120 else _clock(t).rsplit(".", 1)[0]
        tx = min(x(t) + 2, width - margin - draw.textlength(label, font=font))
        draw.text((tx, y2 + 5), label, fill="black", font=font)
        t += step
    y3 = y2 + 24
    for i, n in enumerate(names):
        lx, ly = margin + (i % 4) * (span // 4), y3 + (i // 4) * legend_h
        draw.rectangle([lx, ly + 2, lx + 14, ly + 14], fill=colour[n])
        draw.text((lx + 20, ly + 3), n, fill="black", font=font)
    image.save(str(path), format="PNG")


def _tick(total: float) -> float:
    for step in (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600):
        if total / step <= 12:
            return float(step)
    return 7200.0
