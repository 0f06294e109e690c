"""Issue 17: vidzoo's evaluation input of a torchvision model equals torchvision's own
preprocessing (``Weights.transforms()``) of the frames its video reference picks, on videos of
three shapes at 25 and 30 fps."""

from fractions import Fraction

import pytest
import torch

from vidzoo.plugins import get_registry
from vidzoo.testing.recipes import centre_window, levels, published_input, recipe_videos

# name -> its torchvision weights enum (one per preprocessing: fixed 128x171, fixed 256x256, short side 256
# with 0.45/0.225, short side 256 with ImageNet's mean/std)
WEIGHTS = {"r3d_18": "R3D_18_Weights", "s3d": "S3D_Weights", "mvit_v1_b": "MViT_V1_B_Weights",
           "swin3d_t": "Swin3D_T_Weights"}


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    # 9 s covers s3d's 128 frames of 15 fps video; tiny frames keep it cheap
    return recipe_videos(tmp_path_factory.mktemp("recipe"), seconds=9)


def torchvision_indices(first: int, video_fps: float, spec) -> list[int]:
    """The frames torchvision's VideoClips keeps for a clip starting at frame ``first``: the video
    resampled from its fps to fps / sampling_rate (video_utils' _resample_video_idx: floor(i * step))."""
    step = Fraction(video_fps).limit_denominator(1000) * spec.sampling_rate / Fraction(spec.fps)
    return [first + int(i * step) for i in range(spec.num_frames)]


@pytest.mark.parametrize("name", list(WEIGHTS))
def test_eval_input_is_torchvisions_own_preprocessing(name, videos):
    from torchvision.models import video as tv

    spec = get_registry().get("backbone", name).spec.input
    weights = getattr(tv, WEIGHTS[name]).KINETICS400_V1
    for path in videos if name in ("r3d_18", "mvit_v1_b") else videos[:1]:  # the long clips on one shape
        ours = published_input(name, path)
        frames, first, fps = centre_window(name, path)
        picked = [i - first for i in torchvision_indices(first, fps, spec)]
        theirs = weights.transforms()(frames[picked].permute(0, 3, 1, 2))
        mean, worst = levels(ours, theirs, weights.transforms().std)
        assert worst <= 1, f"{name} on {path.name}: max {worst:.2f} levels (mean {mean:.3f}) from torchvision's"
