"""Timelines: a model's top-k over time for long videos and live streams, merged into segments.

``Predictor.timeline(path)`` and ``vidzoo predict VIDEO --timeline`` are built on this module.

- **Windows.** ``window`` seconds every ``stride`` seconds from the first frame; a file's last
  window is aligned to its end, and a file shorter than a window is one window of all of it.
- **One decoding pass, flat memory** (vidzoo.data.windows.stream_windows): only the frames the
  transform keeps are converted and held, until their windows are complete.
- **Scores.** Complete windows get the Predictor's evaluation transform (one full-frame view) and
  are scored in batches (``Predictor.clips_per_forward``: 1-2 windows on the CPU) while the next
  ones decode (a decoding thread: PyAV releases the GIL; the model keeps all its torch threads).
- **Segments** (``Segmenter``). Window probabilities are averaged over ``smooth`` windows
  (centred), each window's label is its smoothed top class, and each window stands for the
  ``stride`` seconds from its start (the last one to its end). Runs of one label make segments; a
  run shorter than ``min_segment`` seconds joins the segment before it. A segment closes when the
  next run has lasted ``min_segment``, so on a live stream it is reported that long, plus the
  smoothing's look-ahead, after its end.
"""

from __future__ import annotations

import csv
import io
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from vidzoo.data.windows import is_live, stream_windows
from vidzoo.evaluation.timeline_plot import clock
from vidzoo.errors import VidzooError

QUEUE_BATCHES = 2  # batches of transformed windows waiting for the model at most (memory bound)


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
        from vidzoo.evaluation.timeline_plot import plot_timeline

        plot_timeline(self, path, class_names, width)


def format_segment(seg: Segment, latency: float | None = None) -> str:
    line = f"  {clock(seg.start)} - {clock(seg.end)}  {seg.label}  {100 * seg.score:5.1f}%"
    if latency is not None:
        line += f"  (closed {latency:.1f} s behind the stream)"
    return line


def run_timeline(predictor, source, window: float | None = None, stride: float | None = None, smooth: int = 1,
                 min_segment: float = 0.0, top_k: int = 5, batch_size: int | None = None, on_segment=None,
                 live: bool | None = None, stop: threading.Event | None = None) -> Timeline:
    """The timeline of ``source`` (a file or a live URL) with ``predictor``'s model and transform.

    ``on_segment(segment, latency)`` is called as each segment closes (latency: seconds between the
    stream reaching the segment's end and its report, or None for a file). KeyboardInterrupt (Ctrl-C)
    ends the stream: what was seen is returned, with ``interrupted`` set.
    """
    window = float(window or predictor.clip_duration)
    stride = float(stride or window / 2)
    check_options(window, stride, smooth, min_segment, top_k)
    batch_size = batch_size or predictor.clips_per_forward()
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

    items: queue.Queue = queue.Queue(maxsize=QUEUE_BATCHES * max(1, batch_size))
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
