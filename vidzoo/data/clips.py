"""ClipDataset: the map-style clip dataset behind the built-in datasets.

Any dataset plugin can use it: give it (path, label) pairs and class names.
It is map-style, not iterable (unlike pytorchvideo's LabeledVideoDataset), so that
the epoch length is known (progress bars show n/N) and DataLoader workers and DDP
ranks split the videos exactly, through the ordinary samplers.
Clip timing uses pytorchvideo's own clip samplers:
- ``random``: one random clip per video per epoch (pytorchvideo's RandomClipSampler);
- ``uniform``: every consecutive clip of the video (UniformClipSampler), so a video
  contributes several items; their count comes from the videos' headers.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

from vidzoo.data import bad_videos as _bad_videos
from vidzoo.data import manifest as _manifest
from vidzoo.data import video as _video
from vidzoo.errors import VidzooError

CLIP_SAMPLERS = ("random", "uniform")


def uniform_clip_times(duration: float, clip_duration: float) -> list[tuple]:
    """(start, end) of each clip pytorchvideo's UniformClipSampler yields for a video."""
    from pytorchvideo.data.clip_sampling import UniformClipSampler

    sampler = UniformClipSampler(clip_duration)
    times, last_end = [], 0.0
    while True:
        info = sampler(last_end, duration, {})
        times.append((info.clip_start_sec, info.clip_end_sec))
        last_end = info.clip_end_sec
        if info.is_last_clip:
            return times


class ClipDataset(torch.utils.data.Dataset):
    """(path, label) videos and class names as a map-style dataset of clips.

    ``bad_videos`` (a BadVideoPolicy: split name, limit, the bad videos met) and
    ``clips_per_video`` (K > 1, random clips only: an item is a list of K transformed samples
    from one decoded span, vidzoo.data.multiclip) are how the data module loads it; it sets them
    with ``configure_loading`` from --data.max_bad_fraction and --data.clips_per_video.
    """

    def __init__(
        self,
        videos: Sequence[tuple[str, int]],
        classes: Sequence[str],
        clip_sampler: str = "random",
        clip_duration: float = 2.0,
        transform: Callable | None = None,
        bad_videos: _bad_videos.BadVideoPolicy | None = None,
        clips_per_video: int = 1,
    ):
        if clip_sampler not in CLIP_SAMPLERS:
            raise VidzooError(f"clip_sampler must be one of {', '.join(CLIP_SAMPLERS)}, not {clip_sampler!r}")
        if clip_duration <= 0:
            raise VidzooError(f"clip_duration must be positive, got {clip_duration}")
        self.videos = [(str(p), int(label)) for p, label in videos]
        self.classes = list(classes)
        self.clip_sampler = clip_sampler
        self.clip_duration = clip_duration
        self.transform = transform
        self._index: list[tuple[int, object, object]] | None = None  # (video, start, end)
        self._durations: dict[int, float] = {}
        self.bad_videos = bad_videos or _bad_videos.BadVideoPolicy()
        self.clips_per_video = clips_per_video

    def configure_loading(self, bad_videos: _bad_videos.BadVideoPolicy, clips_per_video: int = 1) -> None:
        """The data module's settings for this split (the factory that made the dataset knows neither)."""
        if clips_per_video > 1 and self.clip_sampler != "random":
            raise VidzooError(f"--data.clips_per_video {clips_per_video} takes random train clips; "
                              f"the {bad_videos.split} split's clip sampler is {self.clip_sampler!r}")
        self.bad_videos, self.clips_per_video = bad_videos, clips_per_video

    def _build_index(self) -> list[tuple[int, object, object]]:
        if self.clip_sampler == "random":
            return [(i, None, None) for i in range(len(self.videos))]
        index = []
        infos = _manifest.probe_many([p for p, _ in self.videos])  # a prepared dataset's manifest, else headers
        for i, info in enumerate(infos):
            # A video whose header cannot be read still gets one item; reading it reports the error.
            duration = info.duration if isinstance(info, _video.VideoInfo) else self.clip_duration
            index.extend((i, s, e) for s, e in uniform_clip_times(duration, self.clip_duration))
        return index

    @property
    def index(self):
        if self._index is None:
            self._index = self._build_index()
        return self._index

    def __len__(self) -> int:
        return len(self.index)

    def clip_times(self, i: int):
        video_index, start, end = self.index[i]
        if start is None:  # random: a fresh clip each time, like RandomClipSampler
            from pytorchvideo.data.clip_sampling import RandomClipSampler

            duration = self._durations.get(video_index)
            if duration is None:  # read once per video and process (header only), not every epoch
                duration = self._durations[video_index] = _manifest.probe(self.videos[video_index][0]).duration
            info = RandomClipSampler(self.clip_duration)(0.0, duration, {})
            start, end = info.clip_start_sec, info.clip_end_sec
        return video_index, start, end

    def read_video(self, path: str, start, end) -> dict:
        """{"video": clip} for the sample; the fast path when the transform has a decode plan.

        A transform with ``decode_plan()`` (vidzoo.data.decode_plan) gets only the frames it keeps,
        scaled in the decoder, as uint8, plus the plan under "decode_plan" (the transform
        removes it). Other transforms get every frame as float, as pytorchvideo gives them.
        Unreadable files raise vidzoo.data.video.VideoReadError.
        """
        plan_fn = getattr(self.transform, "decode_plan", None)
        plan = plan_fn() if plan_fn is not None else None
        if plan is None:  # no plan (a wrapper may have none to pass on): every frame, float
            return {"video": _video.read_clip(path, start, end)}
        return {"video": _video.decode_clip(path, start, end, plan), "decode_plan": plan}

    def __getitem__(self, i: int) -> dict:
        # A video that cannot be read is reported once (path, reason) and replaced by a clip of
        # another video, so the batch stays full; too many bad videos stop the run (vidzoo.data.bad_videos).
        sample = _bad_videos.read_or_replace(self, i, self.bad_videos)
        if "clips" in sample:  # clips_per_video > 1: one sample per clip, each with its own crop and flip
            clips, starts, plan = sample.pop("clips"), sample.pop("clip_starts"), sample.pop("decode_plan", None)
            samples = [{**sample, "video": c, "clip_start": s, **({"decode_plan": plan} if plan else {})}
                       for c, s in zip(clips, starts)]
            return [self.transform(s) for s in samples] if self.transform is not None else samples
        return self.transform(sample) if self.transform is not None else sample

    def read_sample(self, i: int) -> dict:
        """Item i before the transform; raises when its video cannot be read."""
        video_index, start, end = self.clip_times(i)
        path, label = self.videos[video_index]
        if self.clips_per_video > 1 and self.clip_sampler == "random":
            return {**self._read_span(path, video_index), "label": label, "video_index": video_index,
                    "video_name": path}
        return {
            **self.read_video(path, start, end),
            "label": label,
            "video_index": video_index,
            "video_name": path,
            "clip_start": float(start),
        }

    def _read_span(self, path: str, video_index: int) -> dict:
        """K clips of one decoded span (vidzoo.data.multiclip): {"clips", "clip_starts", "decode_plan"}."""
        from vidzoo.data import multiclip

        windows = multiclip.span_windows(self._durations[video_index], self.clip_duration, self.clips_per_video)
        plan_fn = getattr(self.transform, "decode_plan", None)
        plan = plan_fn() if plan_fn is not None else None
        if plan is None:  # every frame, float, as read_video gives them
            return {"clips": [_video.read_clip(path, s, e) for s, e in windows],
                    "clip_starts": [float(s) for s, _ in windows]}
        return {"clips": multiclip.decode_clips(path, windows, plan), "decode_plan": plan,
                "clip_starts": [float(s) for s, _ in windows]}
