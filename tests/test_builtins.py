"""The built-in plugins: resnet3d50 equals pytorchvideo's slow_r50, the Kinetics transforms, the tutorial recipe's imports."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from vidzoo.plugins import get_registry


def test_resnet3d50_has_the_zoo_parameter_count():
    model = get_registry().get("backbone", "resnet3d50").factory(num_classes=400)
    params = sum(p.numel() for p in model.parameters())
    assert round(params / 1e6, 2) == 32.45


def test_resnet3d50_state_dict_equals_pytorchvideo_slow_r50():
    from pytorchvideo.models.hub import slow_r50

    ours = get_registry().get("backbone", "resnet3d50").factory(num_classes=400).state_dict()
    theirs = slow_r50(pretrained=False).state_dict()
    assert list(ours) == list(theirs)
    assert {k: tuple(v.shape) for k, v in ours.items()} == {k: tuple(v.shape) for k, v in theirs.items()}
    # So a SLOW_8x8_R50 checkpoint loads strictly.
    model = get_registry().get("backbone", "resnet3d50").factory(num_classes=400)
    model.load_state_dict(theirs, strict=True)


@pytest.mark.parametrize("shape", [(2, 3, 4, 32, 32), (1, 3, 8, 112, 112), (1, 3, 5, 48, 64)])
def test_resnet3d50_works_below_8x224x224(shape):
    # The stock create_resnet head pools with a fixed (4,7,7) kernel and crashes here.
    model = get_registry().get("backbone", "resnet3d50").factory(num_classes=7).eval()
    with torch.no_grad():
        assert model(torch.randn(*shape)).shape == (shape[0], 7)


def test_resnet3d50_matches_slow_r50_outputs_at_full_size():
    from pytorchvideo.models.hub import slow_r50

    theirs = slow_r50(pretrained=False).eval()
    ours = get_registry().get("backbone", "resnet3d50").factory(num_classes=400).eval()
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(1, 3, 8, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=1e-4, atol=1e-5)


def _clip(t=16, h=120, w=160):
    return {"video": torch.randint(0, 256, (3, t, h, w)).float(), "label": 3}


def test_kinetics_transform_train_and_eval_shapes():
    factory = get_registry().get("transform", "kinetics").factory
    train = factory("train")(_clip())
    evals = factory("val")(_clip())
    assert train["video"].shape == (3, 8, 224, 224) and evals["video"].shape == (3, 8, 224, 224)
    assert train["label"] == 3 and train["video"].dtype == torch.float32
    small = factory("train", num_frames=4, crop_size=32, min_short_side=36, max_short_side=40)(_clip())
    assert small["video"].shape == (3, 4, 32, 32)


def test_kinetics_transform_normalises_with_the_recipe_mean_and_std():
    factory = get_registry().get("transform", "kinetics").factory
    grey = {"video": torch.full((3, 8, 256, 256), 0.45 * 255), "label": 0}
    out = factory("val")(grey)["video"]
    assert out.abs().max() < 1e-4  # (0.45 - 0.45) / 0.225
    white = {"video": torch.full((3, 8, 256, 256), 255.0), "label": 0}
    assert torch.allclose(factory("val")(white)["video"], torch.tensor((1 - 0.45) / 0.225), atol=1e-4)


def test_kinetics_eval_transform_is_deterministic_and_train_is_not():
    factory = get_registry().get("transform", "kinetics").factory
    clip = _clip(h=300, w=400)
    a, b = factory("val")(dict(clip))["video"], factory("val")(dict(clip))["video"]
    assert torch.equal(a, b)
    torch.manual_seed(0)
    outs = [factory("train")(dict(clip))["video"] for _ in range(4)]
    assert any(not torch.equal(outs[0], o) for o in outs[1:])


SEED_IMPORTS = """
import vidzoo  # installs the torchvision compatibility alias
from pytorchvideo.transforms import (
    ApplyTransformToKey, Normalize, RandomShortSideScale, RemoveKey, ShortSideScale, UniformTemporalSubsample,
)
from torchvision.transforms import Compose, Lambda, RandomCrop, RandomHorizontalFlip
import torch
t = ApplyTransformToKey(key="video", transform=Compose([
    UniformTemporalSubsample(8), Lambda(lambda x: x / 255.0), Normalize((0.45, 0.45, 0.45), (0.225, 0.225, 0.225)),
    RandomShortSideScale(min_size=256, max_size=320), RandomCrop(224), RandomHorizontalFlip(p=0.5),
]))
out = t({"video": torch.rand(3, 30, 240, 320) * 255})
assert out["video"].shape == (3, 8, 224, 224), out["video"].shape
import pytorchvideo.transforms.augmentations  # the module that imports functional_tensor
print("ok")
"""


def test_the_seeds_transform_imports_work_on_current_torchvision():
    done = subprocess.run([sys.executable, "-c", SEED_IMPORTS], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"


def test_without_vidzoo_pytorchvideo_transforms_fail_on_this_torchvision():
    # Guards the premise of the compatibility alias: if torchvision brings the module
    # back, the alias should go.
    code = "import pytorchvideo.transforms"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode != 0 and "functional_tensor" in done.stderr
