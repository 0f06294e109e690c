"""Built-in transform ``published``: a published model's own evaluation preprocessing.

A spec's InputConfig names the recipe (``InputConfig.eval_transform()`` gives this transform's
options); the steps are those of the sources' code, so that vidzoo's evaluation input equals
theirs on the same frames (the plugins' tests check it against each library):

- temporal: ``uniform`` keeps num_frames of the clip window's frames as PyTorchVideo's
  UniformTemporalSubsample (linspace); ``stride`` keeps the frames torchvision's VideoClips keeps
  when it resamples the video to fps / sampling_rate: ``floor(i * video_fps * sampling_rate / fps)``
  when the sample says its ``video_fps`` (ViewMaker's do), else ``floor(i * T / num_frames)``;
- spatial: a resize to a fixed (H, W) (torchvision's 128x171), or of the short side (to
  ``short_side``, else ``floor(crop_size / crop_pct)`` as timm's eval), with the source's
  interpolation and antialiasing, on float frames clamped to 0..255 (antialiased bicubic: PIL's
  two passes, the width first, rounded between them); then the centre crop with
  torchvision's offsets, /255 and the normalisation;
- multi-pathway models (``pathways``, SlowFast's (4, 1)) get ``[slow, fast]``.

Split "train" is the Kinetics-style random recipe (vidzoo's ``kinetics`` transform: random
short side from the eval one to 1.25x, random crop, flip) with the same crop and mean/std, for
fine-tuning from the published weights. The factory, ``published_transform``, is registered
with the ``kinetics`` one (kinetics_transforms.py), whose train recipe it uses.
"""

from __future__ import annotations

from vidzoo.errors import VidzooError
from vidzoo.plugins.specs import INTERPOLATIONS, TEMPORAL  # noqa: F401  (the factory checks its options by them)


class EvalSteps:
    """The eval recipe on one (C, T, H, W) clip (float 0..255 or uint8) -> normalised float clip."""

    def __init__(self, num_frames, temporal, short_side, resize_size, crop_size, interpolation, antialias, mean, std,
                 step=None, uint8_resize=False):
        self.uint8_resize = uint8_resize
        self.num_frames, self.temporal, self.step = num_frames, temporal, step  # step: seconds between kept frames
        self.short_side, self.resize_size, self.crop_size = short_side, resize_size, crop_size
        self.interpolation, self.antialias, self.mean, self.std = interpolation, antialias, mean, std

    def frame_indices(self, total: int, video_fps: float | None = None) -> list[int]:
        """The kept frames of a window of ``total`` frames (of a ``video_fps`` video, where known)."""
        if self.temporal == "stride":
            if video_fps and self.step:
                # torchvision's resampling: frame floor(i * video_fps / (fps / sampling_rate)) of the clip
                from fractions import Fraction

                step = Fraction(video_fps).limit_denominator(1001) * self.step
                return [min(int(i * step), total - 1) for i in range(self.num_frames)]
            return [i * total // self.num_frames for i in range(self.num_frames)]
        from vidzoo.data.decode_plan import uniform_indices

        return uniform_indices(total, self.num_frames)

    def size(self, height: int, width: int) -> tuple[int, int]:
        """(H, W) after the resize: fixed, or the short side scaled with the long side floored."""
        if self.resize_size is not None and len(self.resize_size) == 2:
            return self.resize_size
        side = self.resize_size[0] if self.resize_size is not None else self.short_side
        from vidzoo.data.decode_plan import short_side_size

        w, h = short_side_size(width, height, side)
        return h, w

    def __call__(self, video, video_fps: float | None = None, num_crops: int = 1) -> list:
        """The normalised (C, T, crop, crop) clips of ``num_crops`` crops of the resized frames: the
        centre crop (torchvision's offsets) for one; else SlowFast's test crops (uniform_crop)
        spread along the long side: first, last, and between them at ceil of the even spacing."""
        import math

        import torch

        frames = self.resized(video, video_fps)
        height, width = frames.shape[-2:]
        size = self.crop_size
        if size > height or size > width:
            raise VidzooError(f"the published recipe's crop {size} is larger than the resized frame {height}x{width}")
        if num_crops == 1:
            offsets = [(int(round((height - size) / 2.0)), int(round((width - size) / 2.0)))]
        else:
            along = [math.ceil((max(height, width) - size) * i / (num_crops - 1)) for i in range(num_crops)]
            across = math.ceil((min(height, width) - size) / 2)
            offsets = [(a, across) if height > width else (across, a) for a in along]
        mean = torch.as_tensor(self.mean, dtype=torch.float32).view(1, -1, 1, 1)
        std = torch.as_tensor(self.std, dtype=torch.float32).view(1, -1, 1, 1)
        return [((frames[..., top:top + size, left:left + size] / 255.0 - mean) / std).permute(1, 0, 2, 3).contiguous()
                for top, left in offsets]

    def resized(self, video, video_fps: float | None = None):
        """The kept frames as float (T, C, H, W) in 0..255, resized by the recipe."""
        import torch
        from torch.nn import functional as F

        if video.shape[1] != self.num_frames:
            video = video[:, self.frame_indices(video.shape[1], video_fps)]
        frames = video.permute(1, 0, 2, 3).to(torch.float32)  # (T, C, H, W)
        size = self.size(frames.shape[-2], frames.shape[-1])
        if tuple(frames.shape[-2:]) != tuple(size):
            if self.uint8_resize:
                # the source's own resize: torchvision's uint8 kernels (fixed-point; a float resize
                # differs by up to a level, enough to move probabilities by 1e-4)
                from torchvision.transforms.v2 import functional as tvF

                mode = tvF.InterpolationMode(self.interpolation)
                small = frames.round().clamp_(0, 255).to(torch.uint8)
                return tvF.resize(small, list(size), interpolation=mode, antialias=bool(self.antialias)).float()
            if self.interpolation == "bicubic" and self.antialias:
                # PIL's resize (timm's eval runs on PIL images): the width pass, rounded to uint8, then
                # the height pass; one float pass differs by up to ~14 levels on noisy pixels
                frames = F.interpolate(frames, size=(frames.shape[-2], size[1]), mode="bicubic", align_corners=False,
                                       antialias=True).round_().clamp_(0, 255)
            frames = F.interpolate(frames, size=size, mode=self.interpolation, align_corners=False,
                                   antialias=self.antialias).clamp_(0, 255)
        return frames


class PublishedTransform:
    """The sample-dict transform: ``steps`` on sample["video"] (eval) or the ``inner`` Kinetics
    transform (train), then [slow, fast] when ``alpha`` is set.

    Eval with the uniform temporal recipe has a decode plan: the reader decodes only the kept
    frames, at full size (the resize stays here, with the source's kernel).
    """

    def __init__(self, steps: EvalSteps | None, alpha: int | None, inner=None):
        self.steps, self.alpha, self.inner = steps, alpha, inner

    def decode_plan(self):
        if self.inner is not None:
            return self.inner.decode_plan()
        if self.steps.temporal != "uniform":
            return None  # the reader gives every frame of the window
        from vidzoo.data.decode_plan import DecodePlan

        return DecodePlan(num_frames=self.steps.num_frames)

    def __call__(self, sample: dict) -> dict:
        if self.inner is not None:
            sample = self.inner(sample)
        else:
            sample.pop("decode_plan", None)  # the kept frames, full size: the subsample is then the identity
            sample["video"] = self.steps(sample["video"], sample.get("video_fps"))[0]
        if self.alpha:
            sample["video"] = pack_pathways(sample["video"], self.alpha)
        return sample

    def spatial_views(self, sample: dict, num_crops: int) -> list:
        """The ``num_crops`` views of one clip as the source's test makes them (ViewMaker calls it):
        the whole frame resized, then SlowFast's crops along its long side; train: None (no views)."""
        if self.inner is not None:
            return None
        sample.pop("decode_plan", None)
        views = self.steps(sample["video"], sample.get("video_fps"), num_crops)
        return [pack_pathways(v, self.alpha) if self.alpha else v for v in views]

    def __repr__(self) -> str:
        s = self.steps
        what = (f"{s.num_frames} frames ({s.temporal}), resize {s.resize_size or s.short_side} {s.interpolation}"
                f"{' antialias' if s.antialias else ''}, crop {s.crop_size}" if s else f"train: {self.inner!r}")
        return f"PublishedTransform({what}{f', [slow, fast] alpha {self.alpha}' if self.alpha else ''})"


def pack_pathways(video, alpha: int) -> list:
    """[slow, fast]: fast is the clip (C, T, H, W); slow keeps T // alpha frames spread uniformly.

    The same indices as pytorchvideo's SlowFast tutorial PackPathway: linspace(0, T - 1, T // alpha).
    """
    import torch

    frames = video.shape[1]
    slow = torch.index_select(video, 1, torch.linspace(0, frames - 1, max(1, frames // alpha)).long())
    return [slow, video]
