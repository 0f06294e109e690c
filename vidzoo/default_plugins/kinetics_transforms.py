"""Built-in transform preset: the PyTorchVideo Kinetics recipe's transforms."""

from __future__ import annotations

from vidzoo.hookspecs import hookimpl


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
):
    """Kinetics recipe: subsample, /255, normalise, random short-side scale, crop, flip.

    Train: UniformTemporalSubsample, /255, Normalize, RandomShortSideScale, RandomCrop,
    RandomHorizontalFlip. Eval: the same subsample and normalisation, ShortSideScale,
    CenterCrop. (The seed text's RandomCrop(244) is a typo for pytorchvideo's 224.)

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
    return ApplyTransformToKey(key="video", transform=Compose(head + tail))


def _scale_to_unit(x):  # a named function, not a lambda, so workers can pickle it
    return x / 255.0


@hookimpl
def register_transforms(register):
    register("kinetics", kinetics_transform, "PyTorchVideo Kinetics recipe (8 frames, 224 crop, flip)")
