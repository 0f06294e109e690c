"""Built-in transform presets: the PyTorchVideo Kinetics recipe's transforms, and ``published``, a
published model's own eval preprocessing (its steps: vidzoo/default_plugins/published.py)."""

from __future__ import annotations

import math

from vidzoo.errors import VidzooError
from vidzoo.plugins.hookspecs import hookimpl


def kinetics_transform(
    split: str,
    num_frames: int = 8,
    crop_size: int = 224,
    min_short_side: int = 256,
    max_short_side: int = 320,
    eval_short_side: int = 256,
    mean: tuple[float, float, float] = (0.45, 0.45, 0.45),
    std: tuple[float, float, float] = (0.225, 0.225, 0.225),
    flip_prob: float = 0.5,
    resize: str = "uint8",
):
    """Kinetics recipe: subsample, /255, normalise, random short-side scale, crop, flip.

    Train: UniformTemporalSubsample, /255, Normalize, RandomShortSideScale, RandomCrop,
    RandomHorizontalFlip. Eval: the same subsample and normalisation, ShortSideScale,
    CenterCrop.

    Args:
        split: "train" for the random variant, anything else for the deterministic one.
        num_frames: Frames kept per clip (uniform temporal subsample).
        crop_size: Side of the square crop.
        min_short_side: Train: smallest random short side before cropping.
        max_short_side: Train: largest random short side before cropping.
        eval_short_side: Eval: short side before the center crop.
        mean: Per-channel mean, on the 0..1 scale.
        std: Per-channel std, on the 0..1 scale.
        flip_prob: Train: probability of a horizontal flip.
        resize: Where the short-side scale happens when the dataset decodes with this
            transform's plan. "uint8": in the reader, on the kept uint8 frames, with the
            recipe's bilinear filter (pixels within 1/255 of the recipe's). "swscale": in
            the decoder's YUV -> RGB pass (cheapest; its filter interpolates chroma and
            antialiases when shrinking, so pixels differ, see docs/performance.md).
            "float": after normalising, exactly as the recipe (pixels identical; slowest).

    The returned transform also exposes ``decode_plan()`` (see vidzoo.data.decode_plan): a
    dataset that asks for it gets the kept frames from the decoder, already scaled to the
    short side (eval: ``eval_short_side``; train: a size drawn uniformly in
    [min_short_side, max_short_side], as RandomShortSideScale draws it), and passes the
    plan back in the sample's ``decode_plan`` key; the transform then only crops, flips and
    normalises. Without that key it runs the full recipe above on a float clip.
    """
    from torchvision.transforms import CenterCrop, Compose, Lambda, RandomCrop, RandomHorizontalFlip

    from pytorchvideo.transforms import (
        ApplyTransformToKey,
        Normalize,
        RandomShortSideScale,
        ShortSideScale,
        UniformTemporalSubsample,
    )

    for name, value in (("num_frames", num_frames), ("crop_size", crop_size), ("min_short_side", min_short_side),
                        ("max_short_side", max_short_side), ("eval_short_side", eval_short_side)):
        if value <= 0:
            from vidzoo.errors import VidzooError

            raise VidzooError(f"transform option {name} must be positive, got {value}")
    head = [UniformTemporalSubsample(num_frames), Lambda(_scale_to_unit), Normalize(mean, std)]
    if split == "train":
        tail = [RandomShortSideScale(min_size=min_short_side, max_size=max_short_side),
                RandomCrop(crop_size), RandomHorizontalFlip(p=flip_prob)]
    else:
        tail = [ShortSideScale(eval_short_side), CenterCrop(crop_size)]
    recipe = ApplyTransformToKey(key="video", transform=Compose(head + tail))
    if split == "train":
        crop, sizes = Compose([RandomCrop(crop_size), RandomHorizontalFlip(p=flip_prob)]), (min_short_side, max_short_side)
    else:
        crop, sizes = CenterCrop(crop_size), (eval_short_side, eval_short_side)
    if resize not in ("uint8", "swscale", "float"):
        from vidzoo.errors import VidzooError

        raise VidzooError(f"transform option resize must be uint8, swscale or float, not {resize!r}")
    return KineticsTransform(recipe, num_frames, sizes if resize != "float" else None, crop, Normalize(mean, std),
                             resize="swscale" if resize == "swscale" else "uint8")


class KineticsTransform:
    """The recipe as a sample-dict callable, plus the decode plan that lets the reader do part of it.

    ``recipe`` is the recipe on a float (C, T, H, W) clip of all frames. A sample that carries
    ``decode_plan`` (the plan from ``decode_plan()``) holds a uint8 clip of exactly the
    frames UniformTemporalSubsample keeps, already at the planned short side, so the
    subsample and the scale are done: only the crop (and flip) runs, on uint8, then /255
    and Normalize, the same float operations as the recipe's.
    """

    def __init__(self, recipe, num_frames: int, short_sides: tuple[int, int] | None, crop, normalize,
                 resize: str = "uint8"):
        self.recipe = recipe
        self.num_frames = num_frames
        self.short_sides = short_sides
        self.crop = crop
        self.normalize = normalize
        self.resize = resize

    def decode_plan(self):
        import torch

        from vidzoo.data.decode_plan import DecodePlan

        if self.short_sides is None:  # resize="float": the recipe scales in torch
            return DecodePlan(num_frames=self.num_frames)
        low, high = self.short_sides
        short = low if low == high else int(torch.randint(low, high + 1, (1,)).item())
        return DecodePlan(num_frames=self.num_frames, short_side=short, resize=self.resize)

    def __call__(self, sample: dict) -> dict:
        plan = sample.pop("decode_plan", None)
        if plan is None:
            return self.recipe(sample)
        import torch

        if plan.short_side is None:  # only the subsample was done (the recipe's is then the identity)
            sample["video"] = sample["video"].float()
            return self.recipe(sample)
        video = self.crop(sample["video"])
        # copy_ into a channels-first float tensor: the same values as .to(float32, contiguous) in
        # 0.6x its time on a channels-last uint8 crop (the copy's loop order suits the transposition)
        video = torch.empty(video.shape, dtype=torch.float32).copy_(video)
        # In place, the same float operations as /255 then Normalize ((x - mean) / std), so the
        # result is bit-identical to the recipe's, without its copies.
        mean = torch.as_tensor(self.normalize.mean, dtype=torch.float32).view(-1, 1, 1, 1)
        std = torch.as_tensor(self.normalize.std, dtype=torch.float32).view(-1, 1, 1, 1)
        sample["video"] = video.div_(255.0).sub_(mean).div_(std)
        return sample

    def __repr__(self) -> str:
        return f"KineticsTransform({self.recipe!r})"


def published_transform(
    split: str,
    num_frames: int = 8,
    crop_size: int = 224,
    eval_short_side: int | None = None,
    resize_size: tuple[int, ...] | None = None,
    crop_pct: float | None = None,
    interpolation: str = "bilinear",
    antialias: bool | None = None,
    uint8_resize: bool = False,
    temporal: str = "uniform",
    mean: tuple[float, float, float] = (0.45, 0.45, 0.45),
    std: tuple[float, float, float] = (0.225, 0.225, 0.225),
    pathways: tuple[int, ...] | None = None,
    sampling_rate: int | None = None,
    fps: float | None = None,
    min_short_side: int | None = None,
    max_short_side: int | None = None,
    flip_prob: float = 0.5,
):
    """A published model's evaluation preprocessing (its spec's ``InputConfig.eval_transform()``).

    Args:
        split: "train" for the Kinetics-style random recipe, anything else for the source's eval.
        num_frames: Frames kept per clip.
        crop_size: Side of the square centre crop.
        eval_short_side: Short side of the eval resize (the ``kinetics`` transform's name).
        resize_size: A fixed resize instead (it wins): (H, W), or (S,) for a short side S (torchvision's).
        crop_pct: Without eval_short_side or resize_size, the short side is floor(crop_size / crop_pct) (timm).
        interpolation: "bilinear" or "bicubic", the source's resize kernel.
        antialias: Antialias the resize when shrinking (torchvision v2's and PIL's); None is False.
        uint8_resize: Resize uint8 frames with torchvision's uint8 kernels, as a source that does
            (transformers' image processors); whole levels out.
        temporal: "uniform" (PyTorchVideo's linspace) or "stride" (torchvision's resampled frames).
        mean: Per-channel mean, on the 0..1 scale.
        std: Per-channel std, on the 0..1 scale.
        pathways: Frame-rate divisors of a multi-pathway model ((4, 1): [slow, fast]); None for one.
        sampling_rate: With fps, "stride" keeps a frame every sampling_rate / fps seconds of a video
            whose frame rate the sample gives (its ``video_fps``).
        fps: The frame rate the recipe's sampling_rate counts frames of.
        min_short_side: Train: smallest random short side before cropping (default: the eval one).
        max_short_side: Train: largest random short side (default: 1.25 times the smallest).
        flip_prob: Train: probability of a horizontal flip.
    """
    from vidzoo.default_plugins.published import INTERPOLATIONS, TEMPORAL, EvalSteps, PublishedTransform

    for name, value in (("num_frames", num_frames), ("crop_size", crop_size), ("eval_short_side", eval_short_side),
                        ("min_short_side", min_short_side), ("max_short_side", max_short_side)):
        if value is not None and value <= 0:
            raise VidzooError(f"transform option {name} must be positive, got {value}")
    if temporal not in TEMPORAL:
        raise VidzooError(f"transform option temporal must be {' or '.join(TEMPORAL)}, not {temporal!r}")
    if interpolation not in INTERPOLATIONS:
        raise VidzooError(f"transform option interpolation must be {' or '.join(INTERPOLATIONS)}, "
                          f"not {interpolation!r}")
    if resize_size is not None:
        resize_size = tuple(int(v) for v in resize_size)
        if len(resize_size) not in (1, 2) or min(resize_size) <= 0:
            raise VidzooError(f"transform option resize_size must be (H, W) or (S,), got {list(resize_size)}")
    short_side = eval_short_side
    if short_side is None and resize_size is None:
        short_side = math.floor(crop_size / crop_pct) if crop_pct else crop_size
    if pathways is not None and (len(pathways) != 2 or pathways[1] < 1 or pathways[0] % pathways[1]):
        raise VidzooError(f"transform option pathways must be [slow, fast] divisors, e.g. [4, 1], got {pathways}")
    alpha = pathways[0] // pathways[1] if pathways else None
    if split == "train":
        low = min_short_side or short_side or min(resize_size)
        inner = kinetics_transform("train", num_frames=num_frames, crop_size=crop_size, min_short_side=low,
                                   max_short_side=max_short_side or max(low, math.floor(low * 1.25)),
                                   eval_short_side=low, mean=mean, std=std, flip_prob=flip_prob)
        return PublishedTransform(None, alpha, inner=inner)
    from fractions import Fraction

    step = Fraction(sampling_rate) / Fraction(fps).limit_denominator(1001) if sampling_rate and fps else None
    steps = EvalSteps(num_frames, temporal, short_side, resize_size, crop_size, interpolation, bool(antialias),
                      tuple(mean), tuple(std), step, uint8_resize=bool(uint8_resize))
    return PublishedTransform(steps, alpha)


def _scale_to_unit(x):  # a named function, not a lambda, so workers can pickle it
    return x / 255.0


@hookimpl
def register_transforms(register):
    register("kinetics", kinetics_transform, "PyTorchVideo Kinetics recipe (8 frames, 224 crop, flip)")
    # here, not in an entry point of its own: the two built-in recipes load together
    register("published", published_transform, "A published model's own eval preprocessing (its spec's recipe)")
