"""A published PyTorchVideo hub model used as published: `vidzoo predict --model x3d_m --pretrained
FILE` (a zoo .pyth, `{"model_state": ...}`) against PyTorchVideo's own x3d_m loaded from FILE and fed
by its Torch Hub tutorial's preprocessing.

x3d_m: its published crop (224) is its training crop, so its head pools one position; at x3d_xs's
and x3d_s's 182 crop PyTorchVideo's model averages softmax over 2x2 positions where vidzoo's
logits average before the softmax (the same top classes, probabilities apart by up to ~1e-3)."""

import torch

from vidzoo.testing import private_cache  # noqa: F401  (autouse: a cache of this module's, never the user's)
from vidzoo.testing.published import assert_same_top5, predict_cli, top5, write_clip
from vidzoo.testing.recipes import centre_window, hub_tutorial_transform


def test_predict_model_x3d_m_equals_pytorchvideo_with_its_hub_recipe(tmp_path):
    from pytorchvideo.models.hub import x3d_m

    from vidzoo.plugins import label_set

    torch.manual_seed(0)
    model = x3d_m(pretrained=False).eval()  # its head ends in a softmax: probabilities out
    with torch.no_grad():
        model.blocks[5].proj.weight.mul_(100)  # a confident head (random X3D features are small): a preprocessing difference shows
    path = tmp_path / "X3D_M.pyth"
    torch.save({"model_state": model.state_dict()}, path)

    clip = write_clip(tmp_path / "clip.mp4", frames=80, width=320, height=240, fps=30)  # 16 x 5 frames: one window
    frames, _, _ = centre_window("x3d_m", clip)
    video = frames.permute(3, 0, 1, 2).float()
    mean, std = (0.45,) * 3, (0.225,) * 3
    with torch.no_grad():  # the hub tutorial's x3d_m: 16 frames, short side 256, centre crop 256
        probs = model(hub_tutorial_transform(256, 256, 16, mean, std)(video)[None])
        before = model(hub_tutorial_transform(256, 224, 16, mean, std)(video)[None])  # a 224 crop, as before
    expected = top5(probs, label_set("kinetics400"))
    assert float((probs - before).abs().max()) > 3e-4
    assert_same_top5(predict_cli(clip, "x3d_m", path), expected, 1e-4)
