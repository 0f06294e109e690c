"""The views of a video for evaluation and prediction: T clips x S crops, cut and transformed.

Multi-view ("10x3", as pytorchvideo's and SlowFast's Kinetics tables are measured):

- temporal: T clips of the run's ``clip_duration``, uniformly spaced over the video: clip i
  starts at ``i * (duration - clip_duration) / (T - 1)`` (pytorchvideo's
  ConstantClipsPerVideoSampler), and T = 1 is the centre clip. A video shorter than a clip
  gives one clip of the whole video.
- spatial: S crops along the long side of the frame: S = 3 is left/centre/right (or
  top/centre/bottom for portrait videos), as SlowFast's ``uniform_crop``. Each crop is the
  full-height (full short side) square at that position of the frame scaled to the
  transform's short side (ShortSideScale), cropped by the run's evaluation transform (for
  the built-in ``kinetics`` preset: CenterCrop(crop_size)). With ``crop_size ==
  eval_short_side`` these are exactly SlowFast's three crops; S = 1 uses the whole frame,
  so the 1x1 view is the run's validation view (centre crop) of the centre clip. A transform
  with ``spatial_views(sample, S)`` (the ``published`` recipes) makes the S crops itself from the
  whole clip, as its source's test does (SlowFast's: the frame scaled, then crops along its long side).

The scores of a video are the softmax probabilities averaged over its T x S views.
"""

from __future__ import annotations

import re

from vidzoo.errors import VidzooError


def parse_views(text: str) -> tuple[int, int]:
    """'10x3' -> (10, 3): temporal clips x spatial crops."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX*]\s*(\d+)\s*", str(text))
    if not m or int(m.group(1)) < 1 or int(m.group(2)) < 1:
        raise VidzooError(f"--views must look like 10x3 (clips x crops, each 1 or more), got {text!r}")
    return int(m.group(1)), int(m.group(2))


def view_options(views: str, batch_size: int | None) -> tuple[int, int]:
    """The options `vidzoo predict` and `vidzoo test` share: --views parsed, --batch-size checked
    (None: the predictor's own, Predictor.clips_per_forward)."""
    parsed = parse_views(views)
    if batch_size is not None and batch_size < 1:
        raise VidzooError(f"--batch-size must be 1 or more, got {batch_size}")
    return parsed


def clip_windows(duration: float, clip_duration: float, num_clips: int) -> list[tuple[float, float]]:
    """(start, end) of the T uniformly spaced clips; duplicates removed for short videos."""
    if duration <= 0:
        raise ValueError("the video has no duration")
    length = min(clip_duration, duration)
    delta = max(duration - clip_duration, 0.0)
    if num_clips == 1:
        starts = [delta / 2]
    else:
        starts = [delta * i / (num_clips - 1) for i in range(num_clips)]
    windows = []
    for s in starts:
        w = (s, s + length)
        if w not in windows:
            windows.append(w)
    return windows


def crop_boxes(height: int, width: int, num_crops: int) -> list[tuple[int, int, int, int]]:
    """(y0, y1, x0, x1) of the S spatial crops: full frame for S = 1, else short-side squares
    spread evenly along the long side (S = 3: left/centre/right or top/centre/bottom)."""
    if num_crops == 1:
        return [(0, height, 0, width)]
    short, long_ = min(height, width), max(height, width)
    boxes = []
    for i in range(num_crops):
        offset = int(round((long_ - short) * i / (num_crops - 1)))
        if width >= height:
            boxes.append((0, height, offset, offset + short))
        else:
            boxes.append((offset, offset + short, 0, width))
    return boxes


class ViewMaker:
    """Decodes a video's T clips and makes the T x S transformed views (picklable, for DataLoader workers)."""

    def __init__(self, transform, clip_duration: float, views: tuple[int, int]):
        self.transform = transform
        self.clip_duration = clip_duration
        self.views = views

    def __call__(self, path: str):
        """Tensor (T*S, C, F, H, W) of the views of one video; raises on unreadable files.

        A transform with ``decode_plan()`` (the built-in kinetics preset) gets its clips the way
        the training pipeline's validation gets them: only the kept frames, scaled to the short
        side in the decoder (vidzoo.data.video.decode_clip); the S squares are cut from those scaled
        frames and the transform crops and normalises them. Other transforms get every frame at
        full size; the squares are cut from them and the whole transform runs on each.
        """
        from vidzoo.data import video as _video

        info = _video.probe(path)
        return self.span(path, 0.0, info.duration, info)

    def span(self, path: str, begin: float, stop: float, info=None):
        """The T x S views of the part [begin, stop) of a video (seconds): its T clips uniformly
        spaced within it (`vidzoo embed --window`: one row per window). ``info``: its probe()."""
        from vidzoo.data import video as _video

        info = info if info is not None else _video.probe(path)
        plan_fn = getattr(self.transform, "decode_plan", None)
        out = []
        for start, end in clip_windows(stop - begin, self.clip_duration, self.views[0]):
            start, end = start + begin, end + begin
            plan = plan_fn() if plan_fn is not None else None
            clip = _video.decode_clip(path, start, end, plan) if plan is not None else _video.read_clip(path, start, end)
            if clip is None or clip.shape[1] == 0:
                raise ValueError(f"no frames between {start:.2f}s and {end:.2f}s")
            _, _, h, w = clip.shape
            spatial = getattr(self.transform, "spatial_views", None)
            if spatial is not None and self.views[1] > 1:  # a recipe that makes its source's crops itself
                whole = {"video": clip, "label": 0, "video_index": 0, "video_name": path, "clip_start": float(start),
                         "video_fps": info.fps, **({"decode_plan": plan} if plan is not None else {})}
                made = spatial(whole, self.views[1])
                if made is not None:
                    out.extend(made)
                    continue
            for y0, y1, x0, x1 in crop_boxes(h, w, self.views[1]):
                sample = {"video": clip[:, :, y0:y1, x0:x1], "label": 0, "video_index": 0, "video_name": path,
                          "clip_start": float(start), "video_fps": info.fps}
                if plan is not None:
                    sample["decode_plan"] = plan
                out.append(self.transform(sample)["video"])
        return stack_views(out)


def stack_views(views: list):
    """Stack per-view clips: a tensor (N, C, T, H, W), or for multi-pathway transforms (SlowFast's
    [slow, fast]) a list with one (N, C, T_i, H, W) tensor per pathway."""
    import torch

    if isinstance(views[0], (list, tuple)):
        return [torch.stack([v[i] for v in views]) for i in range(len(views[0]))]
    return torch.stack(views)


def num_views(views) -> int:
    return views[0].shape[0] if isinstance(views, (list, tuple)) else views.shape[0]


def select_views(views, start: int, stop: int, device):
    if isinstance(views, (list, tuple)):
        return [v[start:stop].to(device, non_blocking=True) for v in views]
    return views[start:stop].to(device, non_blocking=True)


def read_error(path: str, exc: Exception) -> str:
    """One line saying why a video could not be used."""
    from vidzoo.messages import one_line

    reason = re.sub(r"\[Errno -?\d+\]\s*", "", one_line(exc))
    if reason.lower().startswith("cannot read") and str(path) in reason:
        return reason
    reason = reason.replace(f": '{path}'", "").replace(f": {path}", "")
    return f"cannot read video {path}: {reason}"


class VideoItems:
    """Map-style dataset of videos for a DataLoader (``vidzoo test``, ``vidzoo embed --devices N``):
    item k is ``{"index", "path", "value", "error"}`` for video ``indexes[k]`` (default: all, in
    order), ``value`` being ``read(path)`` (its decoded views, made in a worker); a video that cannot
    be read gives ``value`` None and a one-line reason instead, so one bad file does not stop a run."""

    def __init__(self, paths, read, indexes=None):
        self.paths, self.read = [str(p) for p in paths], read
        self.indexes = list(range(len(self.paths)) if indexes is None else indexes)

    def __len__(self) -> int:
        return len(self.indexes)

    def __getitem__(self, k: int) -> dict:
        index = self.indexes[k]
        path = self.paths[index]
        try:
            return {"index": index, "path": path, "value": self.read(path), "error": ""}
        except Exception as exc:
            error = str(exc) if isinstance(exc, VidzooError) else read_error(path, exc)
            return {"index": index, "path": path, "value": None, "error": error}
