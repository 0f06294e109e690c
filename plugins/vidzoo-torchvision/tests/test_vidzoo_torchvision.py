"""vidzoo-torchvision: registrations, metadata, conformance, pretrained loading."""

import hashlib

import pytest
import torch

from vidzoo.errors import VidzooError
from vidzoo.plugins import get_registry
from vidzoo.testing import TINY_TRANSFORM, check_backbone, check_transform

import vidzoo_torchvision as plugin


# A cache of this test module for weights and demo data, never the user's (autouse; no
# conftest.py here: CI runs these tests in one pytest session with vidzoo's own tests/).
from vidzoo.testing import private_cache  # noqa: E402,F401

SMALL = ["r3d_18", "mc3_18", "r2plus1d_18", "s3d", "swin3d_t", "swin3d_s", "swin3d_b"]
FIXED = ["mvit_v1_b", "mvit_v2_s"]  # positional embeddings fix the input to 16x224x224


def test_every_torchvision_video_model_is_registered_by_this_package():
    registry = get_registry()
    for name in SMALL + FIXED:
        reg = registry.get("backbone", name)
        assert reg.package == "vidzoo-torchvision", (name, reg.package)
    for name in ("tv_r3d", "tv_s3d", "tv_mvit", "tv_swin3d"):
        assert registry.get("transform", name).package == "vidzoo-torchvision"


@pytest.mark.parametrize("name", SMALL + FIXED)
def test_metadata_matches_torchvision_weights_enum(name):
    from torchvision.models import get_model_weights

    weights = get_model_weights(name).DEFAULT
    spec = get_registry().get("backbone", name).spec
    preset = weights.transforms()
    assert spec.default.url == weights.url
    assert list(spec.categories) == list(weights.meta["categories"])
    assert spec.figures["params_m"] == pytest.approx(weights.meta["num_params"] / 1e6, abs=0.01)
    assert spec.figures["gflops"] == weights.meta["_ops"]
    assert spec.figures["kinetics400_top1"] == weights.meta["_metrics"]["Kinetics-400"]["acc@1"]
    assert spec.input.crop_size == preset.crop_size[0]
    assert tuple(spec.input.mean) == tuple(preset.mean) and tuple(spec.input.std) == tuple(preset.std)
    assert f"clip_len={spec.input.frames}" in weights.meta["_docs"]
    assert get_registry().get("transform", spec.transform)  # the matching preset exists
    # The preset's defaults are the weights' preprocessing.
    import inspect

    params = inspect.signature(get_registry().get("transform", spec.transform).factory).parameters
    assert params["crop_size"].default == spec.input.crop_size
    assert params["num_frames"].default == spec.input.frames
    assert tuple(params["mean"].default) == tuple(spec.input.mean)


@pytest.mark.parametrize("name", SMALL)
def test_backbone_conformance_at_tiny_inputs(name):
    # swin3d_b takes seconds to initialise: one num_classes is enough for it.
    check_backbone(name, num_classes=(3,) if name == "swin3d_b" else (3, 7))


def test_mvit_conformance_at_its_fixed_size():
    # The one test at a real size: MViT cannot run below 16x224x224.
    check_backbone("mvit_v2_s", num_classes=(3,), batch_size=1)


def test_mvit_v1_builds_with_any_num_classes_and_refuses_other_sizes_clearly():
    model = get_registry().get("backbone", "mvit_v1_b").factory(num_classes=3)
    assert model.head[-1].out_features == 3
    with pytest.raises(Exception):
        model(torch.zeros(1, 3, 4, 32, 32))


@pytest.mark.parametrize("name", ["tv_r3d", "tv_s3d", "tv_mvit", "tv_swin3d"])
def test_transform_conformance(name):
    check_transform(name, options=TINY_TRANSFORM)


def test_pretrained_weights_load_from_a_local_file_with_checksum(tmp_path):
    factory = get_registry().get("backbone", "r3d_18").factory
    torch.manual_seed(1)
    source = factory(num_classes=400)
    path = tmp_path / "r3d_18-kinetics.pth"
    torch.save(source.state_dict(), path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()

    model = factory(num_classes=5, pretrained=str(path), sha256=digest)
    state, loaded = source.state_dict(), model.state_dict()
    assert torch.equal(loaded["stem.0.weight"], state["stem.0.weight"])
    assert torch.equal(loaded["layer4.1.conv2.0.weight"], state["layer4.1.conv2.0.weight"])
    assert loaded["fc.weight"].shape == (5, 512)  # a new head for 5 classes
    report = model.vidzoo_pretrained
    assert "fc.weight" in report.not_loaded and "stem.0.weight" in report.loaded

    with pytest.raises(VidzooError, match="sha256"):
        factory(num_classes=5, pretrained=str(path), sha256="0" * 64)


def test_weights_variant_names_resolve_to_torchvision_urls():
    spec = get_registry().get("backbone", "swin3d_b").spec
    assert spec.weights["KINETICS400_IMAGENET22K_V1"].url.endswith("swin3d_b_22k-7c6ae6fa.pth")
    assert plugin.MODELS["swin3d_b"].weights["KINETICS400_V1"].url == spec.default.url


def test_plugin_module_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, vidzoo_torchvision; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
