"""The published-recipe interface (issue 17): InputConfig's recipe fields, eval_transform() and
clip_duration(), and the core `published` transform on sample dicts, through ViewMaker and a clip
dataset (with and without the decode plan)."""

from __future__ import annotations

import pytest
import torch

import vidzoo
from vidzoo.errors import VidzooError
from vidzoo.plugins.specs import InputConfig


def _clip(frames=10, height=48, width=64):
    return torch.arange(3 * frames * height * width, dtype=torch.float32).reshape(3, frames, height, width) % 251


def test_recipe_fields_give_the_transform_and_the_clip_window():
    cfg = InputConfig(num_frames=16, sampling_rate=2, fps=30, crop_size=112, resize_size=(128, 171),
                      temporal="stride", mean=(0.5,) * 3, std=(0.25,) * 3, views="10x1", source="torchvision")
    cfg.validate()
    name, options = cfg.eval_transform()
    assert name == "published"
    assert options == {"num_frames": 16, "crop_size": 112, "resize_size": (128, 171), "interpolation": "bilinear",
                       "temporal": "stride", "mean": (0.5,) * 3, "std": (0.25,) * 3, "sampling_rate": 2, "fps": 30}
    assert cfg.clip_duration() == pytest.approx(16 * 2 / 30)
    assert InputConfig(num_frames=8, sampling_rate=8).clip_duration() is None  # no fps: no temporal recipe
    # the eval crop wins in the recipe, the training crop stays the run's
    tested = InputConfig(num_frames=8, crop_size=224, eval_crop_size=256, short_side=256)
    assert tested.eval_transform()[1]["crop_size"] == 256 and tested.transform_options()["crop_size"] == 224
    for bad, match in ((dict(fps=0), "fps must be a positive"), (dict(interpolation="nearest"), "interpolation"),
                       (dict(views="ten"), "views must look like 10x3"), (dict(temporal="random"), "temporal"),
                       (dict(source="a\nb"), "one line")):
        with pytest.raises(ValueError, match=match):
            InputConfig(**bad).validate()


def test_published_eval_picks_resizes_crops_and_normalises_as_its_options_say():
    clip = _clip(frames=10)
    uniform = vidzoo.create_transform("published", "val", num_frames=4, crop_size=32, short_side=36,
                                      mean=(0.0,) * 3, std=(1.0,) * 3)
    stride = vidzoo.create_transform("published", "val", num_frames=4, crop_size=32, short_side=36,
                                     temporal="stride", mean=(0.0,) * 3, std=(1.0,) * 3)
    # uniform: linspace(0, 9, 4) -> 0, 3, 6, 9; stride: i * 10 // 4 -> 0, 2, 5, 7
    from vidzoo.default_plugins.published import EvalSteps

    assert uniform.steps.frame_indices(10) == [0, 3, 6, 9] and stride.steps.frame_indices(10) == [0, 2, 5, 7]
    assert isinstance(uniform.steps, EvalSteps)
    # stride with the video's frame rate: every sampling_rate / fps seconds, as torchvision resamples
    timed = vidzoo.create_transform("published", "val", num_frames=4, crop_size=32, temporal="stride",
                                    sampling_rate=2, fps=30)
    assert timed.steps.frame_indices(10, video_fps=25) == [0, 1, 3, 5]  # floor(i * 25 * 2 / 30)
    assert timed.steps.frame_indices(10, video_fps=30) == [0, 2, 4, 6]
    out = uniform({"video": clip.clone()})["video"]
    assert out.shape == (3, 4, 32, 32)
    # the short side 48 -> 36 (64 -> 48), centre crop 32 at (2, 8): compare with torch's own resize
    want = torch.nn.functional.interpolate(clip[:, [0, 3, 6, 9]].permute(1, 0, 2, 3), size=(36, 48), mode="bilinear",
                                           align_corners=False).permute(1, 0, 2, 3)[..., 2:34, 8:40] / 255
    torch.testing.assert_close(out, want)
    fixed = vidzoo.create_transform("published", "val", num_frames=4, crop_size=16, resize_size=(20, 30))
    assert fixed({"video": clip.clone()})["video"].shape == (3, 4, 16, 16)
    timm_like = vidzoo.create_transform("published", "val", num_frames=2, crop_size=38, crop_pct=0.95,
                                        interpolation="bicubic", antialias=True)
    assert timm_like.steps.size(48, 64) == (40, 53)  # floor(38 / 0.95) = 40 on the short side
    packed = vidzoo.create_transform("published", "val", num_frames=8, crop_size=32, pathways=(4, 1))
    slow, fast = packed({"video": _clip(frames=16)})["video"]
    assert slow.shape == (3, 2, 32, 32) and fast.shape == (3, 8, 32, 32)
    with pytest.raises(VidzooError, match="larger than the resized frame"):
        vidzoo.create_transform("published", "val", num_frames=2, crop_size=64, short_side=36)({"video": clip})


def test_published_train_is_the_random_kinetics_recipe_with_the_same_crop():
    train = vidzoo.create_transform("published", "train", num_frames=4, crop_size=32, short_side=36)
    assert train.inner.short_sides == (36, 45)  # the eval short side to 1.25x, as the Kinetics recipe
    assert train({"video": _clip(frames=10)})["video"].shape == (3, 4, 32, 32)


def test_published_runs_the_same_through_view_maker_and_a_clip_dataset(tmp_path):
    from vidzoo.data.clips import ClipDataset
    from vidzoo.evaluation.views import ViewMaker
    from vidzoo.testing.video import write_test_video

    path = str(write_test_video(tmp_path / "a.mp4", seconds=2.0, fps=25, width=64, height=36))
    transform = vidzoo.create_transform("published", "val", num_frames=4, crop_size=32, short_side=32)
    views = ViewMaker(transform, clip_duration=1.0, views=(1, 3))(path)
    assert views.shape == (3, 3, 4, 32, 32)
    # the 1x1 view is the clip dataset's centre clip, with the decode plan (kept frames) or without it
    one = ViewMaker(transform, clip_duration=2.0, views=(1, 1))(path)[0]
    planned = ClipDataset([(path, 0)], ["a"], clip_sampler="uniform", clip_duration=2.0, transform=transform)[0]
    transform.decode_plan = lambda: None  # a transform without a plan gets every frame, as float
    unplanned = ClipDataset([(path, 0)], ["a"], clip_sampler="uniform", clip_duration=2.0, transform=transform)[0]
    torch.testing.assert_close(planned["video"], one)
    torch.testing.assert_close(unplanned["video"], one)


def test_resnet3d50_eval_input_is_pytorchvideos_hub_recipe_for_slow_r50(tmp_path):
    from vidzoo.testing.recipes import check_against_the_hub_tutorial, recipe_videos

    # the tutorial's slow_r50: 8 frames x sampling rate 8 at 30 fps (a 64-frame window), side 256, crop 256
    assert vidzoo.get_model_spec("resnet3d50").input.clip_duration() == pytest.approx(64 / 30)
    videos = recipe_videos(tmp_path, seconds=2.5)
    assert check_against_the_hub_tutorial("resnet3d50", videos, 256, 256)
