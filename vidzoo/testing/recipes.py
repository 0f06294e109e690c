"""Checking a published model's recipe against its source library (issue 17), for plugins' tests.

vidzoo's side is what `vidzoo test` feeds the model: the spec's ``InputConfig.eval_transform()``
built through the registry, on the centre clip of ``clip_duration()`` seconds cut by ViewMaker
(1 clip x 1 crop: the source's single view). The source's side is the test's own call of the
source library's preprocessing on :func:`centre_window`'s decoded frames. :func:`levels` gives
the difference in 0..255 levels.

    videos = recipe_videos(tmp_path, seconds=3)           # 4:3 at 30 fps, 16:9 at 25, portrait at 30
    ours = published_input("r3d_18", videos[0])            # (C, T, H, W), normalised
    frames, first, fps = centre_window("r3d_18", videos[0])  # uint8 (T, H, W, C) of the window
    theirs = weights.transforms()(frames[source_indices].permute(0, 3, 1, 2))
    assert levels(ours, theirs, std)[1] <= 1
"""

from __future__ import annotations

import warnings
from pathlib import Path

# (width, height, fps): 4:3, 16:9 and portrait, at the two common frame rates.
SHAPES = ((64, 48, 30), (64, 36, 25), (36, 64, 30))


def write_indexed_video(path, seconds: float, fps: int, width: int, height: int, seed: int = 0) -> Path:
    """A real H.264 mp4 whose every frame differs: noise rolled one pixel a frame, a corner block
    whose grey level counts the frames, so the frames a recipe keeps show in its pixels."""
    import numpy as np

    from vidzoo.data.video import write_video

    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    n = max(1, int(round(seconds * fps)))

    def frames():
        for i in range(n):
            frame = np.roll(base, i, axis=1).copy()
            frame[:8, :8] = (i * 37) % 256
            yield frame

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_video(path, frames(), fps, width, height)
    return path


def recipe_videos(folder, seconds: float, shapes=SHAPES) -> list[Path]:
    """One indexed video per (width, height, fps) of ``shapes`` under ``folder``."""
    return [write_indexed_video(Path(folder) / f"{w}x{h}_{fps}fps.mp4", seconds, fps, w, h)
            for w, h, fps in shapes]


def eval_transform(backbone: str, **overrides):
    """The spec's published recipe as a transform, through the registry (``overrides``: options a
    tiny test video needs, such as a smaller crop)."""
    from vidzoo.plugins import get_registry

    registry = get_registry()
    name, options = registry.get("backbone", backbone).spec.input.eval_transform()
    return registry.get("transform", name).factory("val", **{**options, **overrides})


def published_input(backbone: str, path, **overrides):
    """vidzoo's evaluation input of the video's centre clip, as `vidzoo test --views 1x1` makes it:
    (C, T, H, W), or [slow, fast] for two pathways."""
    from vidzoo.evaluation.views import ViewMaker
    from vidzoo.plugins import get_registry

    duration = get_registry().get("backbone", backbone).spec.input.clip_duration()
    views = ViewMaker(eval_transform(backbone, **overrides), clip_duration=duration, views=(1, 1))(str(path))
    return [v[0] for v in views] if isinstance(views, list) else views[0]


def centre_window(backbone: str, path):
    """(uint8 frames (T, H, W, C) of the centre clip's window, its first frame's index in the
    video, the video's fps): the decoded frames the source's preprocessing is given."""
    import torch

    from vidzoo.data import video as _video
    from vidzoo.evaluation.views import clip_windows
    from vidzoo.plugins import get_registry

    info = _video.probe(str(path))
    (start, end), = clip_windows(info.duration, get_registry().get("backbone", backbone).spec.input.clip_duration(), 1)
    window = _video.decode_clip(str(path), start, end).permute(1, 2, 3, 0)
    every = _video.decode_clip(str(path), 0, info.duration + 1).permute(1, 2, 3, 0)
    first = next(i for i in range(len(every)) if torch.equal(every[i], window[0]))
    assert torch.equal(every[first:first + len(window)], window), "the window is not consecutive frames"
    return window.contiguous(), first, info.fps


def levels(ours, theirs, std) -> tuple[float, float]:
    """(mean, max) |ours - theirs| of two normalised clips (C, T, H, W), in 0..255 levels."""
    import torch

    if tuple(ours.shape) != tuple(theirs.shape):
        raise AssertionError(f"shapes differ: {tuple(ours.shape)} vs {tuple(theirs.shape)}")
    scale = torch.as_tensor(std, dtype=torch.float32).view(-1, *([1] * (ours.dim() - 1))) * 255
    diff = (ours.float() - theirs.float()).abs() * scale
    return float(diff.mean()), float(diff.max())


def hub_tutorial_transform(side_size, crop_size, num_frames, mean, std, alpha=None):
    """PyTorchVideo's Torch Hub tutorial transform (torchhub_inference_tutorial: UniformTemporalSubsample,
    /255, NormalizeVideo, ShortSideScale, CenterCropVideo), with its PackPathway for SlowFast."""
    import torch
    from pytorchvideo.transforms import ShortSideScale, UniformTemporalSubsample
    from torchvision.transforms import Compose, Lambda

    with warnings.catch_warnings():  # the tutorial's modules, deprecated by torchvision (they still run)
        warnings.simplefilter("ignore", UserWarning)
        from torchvision.transforms._transforms_video import CenterCropVideo, NormalizeVideo

    def pack_pathway(frames):  # the tutorial's PackPathway
        slow = torch.index_select(frames, 1, torch.linspace(0, frames.shape[1] - 1, frames.shape[1] // alpha).long())
        return [slow, frames]

    steps = [UniformTemporalSubsample(num_frames), Lambda(lambda x: x / 255.0), NormalizeVideo(mean, std),
             ShortSideScale(size=side_size), CenterCropVideo(crop_size=(crop_size, crop_size))]
    return Compose(steps + ([Lambda(pack_pathway)] if alpha else []))


def check_against_the_hub_tutorial(name: str, videos, side_size: int, crop_size: int) -> list[tuple[float, float]]:
    """Assert the recipe of backbone ``name`` equals the hub tutorial's transform (1 level) on each
    video's centre window, as EncodedVideo.get_clip gives it (float, every frame); the (mean, max)s."""
    from vidzoo.plugins import get_registry

    spec = get_registry().get("backbone", name).spec.input
    alpha = spec.pathways[0] // spec.pathways[1] if spec.pathways else None
    source = hub_tutorial_transform(side_size, crop_size, spec.num_frames, spec.mean, spec.std, alpha)
    found = []
    for path in videos:
        ours = published_input(name, path)
        frames, _, _ = centre_window(name, path)
        theirs = source(frames.permute(3, 0, 1, 2).float())
        for a, b in zip(ours, theirs) if alpha else [(ours, theirs)]:
            mean, worst = levels(a, b, spec.std)
            assert worst <= 1, f"{name} on {Path(path).name}: max {worst:.2f} levels (mean {mean:.3f}) from the hub's"
            found.append((mean, worst))
    return found
