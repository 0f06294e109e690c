"""A published torchvision model used as published: `vidzoo predict --model r3d_18 --pretrained FILE`
against torchvision's own r3d_18 loaded from FILE and fed by its weights' own transforms()."""

import torch

from vidzoo.testing import private_cache  # noqa: F401  (autouse: a cache of this module's, never the user's)
from vidzoo.testing.published import assert_same_top5, predict_cli, top5, write_clip
from vidzoo.testing.recipes import centre_window


def test_predict_model_r3d_18_equals_torchvision_with_its_transforms(tmp_path):
    import torchvision.transforms.functional as F
    from torchvision.models.video import R3D_18_Weights, r3d_18

    weights = R3D_18_Weights.KINETICS400_V1
    torch.manual_seed(0)
    model = r3d_18(num_classes=400).eval()
    with torch.no_grad():
        model.fc.weight.mul_(10)  # a confident head: a preprocessing difference moves its probabilities
    path = tmp_path / "r3d_18-b3b3357e.pth"
    torch.save(model.state_dict(), path)  # torchvision's layout: the plain state dict

    # 16 frames at 15 fps: one clip window (16 x 2 / 30 s), every frame kept by torchvision's resampling
    clip = write_clip(tmp_path / "clip.mp4", frames=16, width=160, height=120, fps=15)
    frames, _, _ = centre_window("r3d_18", clip)
    assert len(frames) == 16
    transform = weights.transforms()
    with torch.no_grad():
        expected = top5(torch.softmax(model(transform(frames.permute(0, 3, 1, 2))[None]), -1), weights.meta["categories"])
        # what vidzoo fed r3d_18 before issue 17 (short side 128, not the fixed 128x171): measurably other
        other = F.normalize(F.center_crop(F.resize(frames.permute(0, 3, 1, 2).float() / 255, 128, antialias=False),
                                          112), transform.mean, transform.std).permute(1, 0, 2, 3)
        before = torch.softmax(model(other[None]), -1)[0]
    names = list(weights.meta["categories"])
    assert max(abs(float(before[names.index(n)]) - p) for n, p in expected.items()) > 3e-4

    assert_same_top5(predict_cli(clip, "r3d_18", path), expected, 1e-4)
