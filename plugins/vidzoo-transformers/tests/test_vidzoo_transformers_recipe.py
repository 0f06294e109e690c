"""Issue 17: vidzoo's evaluation input of a transformers model equals transformers' own image
processor, built from a preprocessor_config.json written as the Hub model has it (no network), on
the frames the recipe keeps, for videos of three shapes at 25 and 30 fps."""

from fractions import Fraction

import pytest
import torch

from vidzoo.plugins import get_registry
from vidzoo.testing.recipes import assert_within, centre_window, published_input, recipe_videos
from vidzoo_transformers.testing import PREPROCESSOR_CONFIGS, hub_image_processor


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    return recipe_videos(tmp_path_factory.mktemp("recipe"), seconds=9)  # TimeSformer's 8x32 window is 8.5 s


def kept_frames(spec, total: int, video_fps: float) -> list[int]:
    """The frames of the window the source's test loader keeps: VideoMAE every sampling_rate-th frame
    (of 30 fps video; by time at other rates), TimeSformer (SlowFast's decoder) linspace over it."""
    if spec.temporal == "stride":
        step = Fraction(video_fps).limit_denominator(1001) * spec.sampling_rate / Fraction(spec.fps)
        return [int(i * step) for i in range(spec.num_frames)]
    return torch.linspace(0, total - 1, spec.num_frames).long().tolist()


@pytest.mark.parametrize("name", list(PREPROCESSOR_CONFIGS))
def test_eval_input_is_the_hub_image_processors(name, videos, tmp_path):
    processor = hub_image_processor(name, tmp_path)
    spec = get_registry().get("backbone", name).spec.input
    for path in videos:
        ours = published_input(name, path)
        frames, _, fps = centre_window(name, path)
        picked = frames[kept_frames(spec, len(frames), fps)]
        theirs = processor(list(picked.numpy()), return_tensors="pt")["pixel_values"][0].permute(1, 0, 2, 3)
        assert_within(ours, theirs, processor.image_std, 1, f"{name} on {path.name}")
