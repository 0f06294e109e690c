"""Issue 17: vidzoo's evaluation input of ``tsn`` equals timm's own eval transform of the model
(resolve_data_config + create_transform, on PIL frames) applied to each kept frame, for videos of
three shapes at 25 and 30 fps: within 2 levels, as torch's antialiased bicubic kernel is PIL's in
float arithmetic where PIL rounds its fixed-point weights."""

from fractions import Fraction

import pytest
import torch

from vidzoo.plugins import get_registry
from vidzoo.testing.recipes import assert_within, centre_window, published_input, recipe_videos


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    return recipe_videos(tmp_path_factory.mktemp("recipe"), seconds=3)


def test_tsn_eval_input_is_timms_eval_transform_per_frame(videos):
    from PIL import Image
    from timm.data import create_transform, resolve_data_config
    from timm.models import get_pretrained_cfg

    config = resolve_data_config({}, pretrained_cfg=get_pretrained_cfg("resnet50").to_dict())
    assert (config["interpolation"], config["crop_pct"]) == ("bicubic", 0.95)  # what the recipe says it follows
    source = create_transform(**config)
    spec = get_registry().get("backbone", "tsn").spec.input
    for path in videos:
        ours = published_input("tsn", path)
        frames, _, fps = centre_window("tsn", path)
        # TSM's dense sampling: every sampling_rate-th frame of 30 fps video (by time at other rates)
        step = Fraction(fps).limit_denominator(1001) * spec.sampling_rate / Fraction(spec.fps)
        picked = [frames[int(i * step)] for i in range(spec.num_frames)]
        theirs = torch.stack([source(Image.fromarray(f.numpy())) for f in picked], dim=1)
        assert_within(ours, theirs, config["std"], 2, f"tsn on {path.name}")
