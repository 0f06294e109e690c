"""check_transform: a transform registration against the transform contract."""

from __future__ import annotations

import inspect
from typing import Any, Sequence

from vidzoo.testing._subject import Subject, resolve, videos


def _fake_sample(shape, seed: int) -> dict:
    import torch

    g = torch.Generator().manual_seed(seed)
    video = torch.randint(0, 256, tuple(shape), generator=g).float()
    return {"video": video, "label": 1, "video_index": 0, "video_name": "fake.mp4", "clip_start": 0.0}


def _shapes(value) -> list[tuple]:
    return [tuple(v.shape) for v in videos(value)]


def _build_variants(subject: Subject, options: dict) -> dict:
    variants = {}
    for split in ("train", "val"):
        try:
            variants[split] = subject.factory(split, **options)
        except Exception as exc:
            subject.fail(f"factory({split!r}, **{options}) raised {type(exc).__name__}: {exc}")
        if not callable(variants[split]):
            subject.fail(f"factory({split!r}) returned {type(variants[split]).__name__}, which is not callable")
    return variants


def _check_video(subject: Subject, split: str, v, channels: int):
    import torch

    if not isinstance(v, torch.Tensor) or v.dim() != 4:
        subject.fail(f"the {split} variant's 'video' is {type(v).__name__} "
                     f"{tuple(getattr(v, 'shape', ()))}, expected a 4-D (C, T, H, W) tensor")
    if not v.is_floating_point():
        subject.fail(f"the {split} variant's 'video' has dtype {v.dtype}, expected a floating dtype")
    if v.shape[0] != channels:
        subject.fail(f"the {split} variant's 'video' has {v.shape[0]} channels in dim 0, expected "
                     f"{channels}: the layout must stay (C, T, H, W)")
    if not torch.isfinite(v).all():
        subject.fail(f"the {split} variant's 'video' contains NaN or inf")


def _apply(subject: Subject, variants: dict, split: str, sample: dict, channels: int) -> dict:
    try:
        out = variants[split](sample)
    except Exception as exc:
        subject.fail(f"the {split} variant raised {type(exc).__name__} on a video of shape "
                     f"{tuple(sample['video'].shape)}: {exc}")
    if not isinstance(out, dict):
        subject.fail(f"the {split} variant returned {type(out).__name__}, not the sample dict")
    if "video" not in out:
        subject.fail(f"the {split} variant's output has no 'video' key (keys: {sorted(out)})")
    for key in ("label", "video_index", "video_name"):
        if out.get(key) != sample[key]:
            subject.fail(f"the {split} variant changed or dropped {key!r} ({sample[key]!r} -> {out.get(key)!r})")
    for v in videos(out["video"]):
        _check_video(subject, split, v, channels)
    return out


def _expected_shape(factory, options: dict, input_shape, eval_shapes):
    """(C, num_frames, crop, crop) when the factory takes those options and gives one pathway, else None."""
    params = inspect.signature(factory).parameters
    if "num_frames" in params and "crop_size" in params and len(eval_shapes) == 1:
        frames = options.get("num_frames", params["num_frames"].default)
        crop = options.get("crop_size", params["crop_size"].default)
        return (input_shape[0], frames, crop, crop)
    return None


def check_transform(
    target,
    options: dict[str, Any] | None = None,
    input_shape: Sequence[int] = (3, 16, 48, 64),
    expected_shape: Sequence[int] | None = None,
    seed: int = 0,
) -> None:
    """Check a transform registration (name) or factory against the transform contract.

    Checks: ``factory("train", **options)`` and ``factory("val", **options)`` return callables;
    on a sample dict with a float ``video`` of ``input_shape`` (C, T, H, W) in 0..255 both
    return a dict whose ``video`` is a float tensor (C, T, H, W) (or a list of them, one per
    pathway) with the same shapes for train and eval; ``label`` and the other keys pass
    unchanged; eval is deterministic; the input tensor is not modified in place. The output
    shape must equal ``expected_shape`` when given, else ``num_frames`` x ``crop_size``^2
    when the factory takes those options.
    """
    import torch

    subject = resolve("transform", target)
    options = dict(options or {})
    variants = _build_variants(subject, options)
    channels = input_shape[0]

    sample = _fake_sample(input_shape, seed)
    original = sample["video"].clone()
    evals = [_apply(subject, variants, "val", dict(sample), channels) for _ in range(2)]
    if not torch.equal(sample["video"], original):
        subject.fail("the eval variant modified the input video tensor in place (the next epoch would see other data)")
    for a, b in zip(videos(evals[0]["video"]), videos(evals[1]["video"])):
        if not torch.equal(a, b):
            subject.fail("the eval variant gave two different outputs for the same sample; eval must be deterministic")
    trains = [_apply(subject, variants, "train", _fake_sample(input_shape, seed + i), channels) for i in range(3)]
    eval_shapes = _shapes(evals[0]["video"])
    for out in trains:
        if _shapes(out["video"]) != eval_shapes:
            subject.fail(f"train output shapes {_shapes(out['video'])} differ from eval output shapes {eval_shapes}; "
                         f"train and eval batches must fit the same model")
    if expected_shape is None:
        expected_shape = _expected_shape(subject.factory, options, input_shape, eval_shapes)
    if expected_shape is not None and len(eval_shapes) == 1 and eval_shapes[0] != tuple(expected_shape):
        subject.fail(f"output video shape {eval_shapes[0]}, expected {tuple(expected_shape)} "
                     f"(C, num_frames, crop, crop)")
