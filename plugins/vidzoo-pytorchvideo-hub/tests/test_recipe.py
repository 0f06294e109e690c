"""Issue 17: vidzoo's evaluation input of a PyTorchVideo zoo model equals the PyTorchVideo Torch Hub
tutorial's transform (UniformTemporalSubsample, /255, Normalize, ShortSideScale, CenterCrop; SlowFast's
PackPathway) of the same decoded window, on videos of three shapes at 25 and 30 fps."""

import pytest

from vidzoo.testing.recipes import check_against_the_hub_tutorial, recipe_videos


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    return recipe_videos(tmp_path_factory.mktemp("recipe"), seconds=3)


# the tutorial's model_transform_params (x3d) and its slowfast settings: side_size = crop_size
@pytest.mark.parametrize("name,side", [("x3d_xs", 182), ("x3d_m", 256), ("slowfast_r50", 256)])
def test_eval_input_is_the_hub_tutorials_transform(name, side, videos):
    check_against_the_hub_tutorial(name, videos, side, side)
