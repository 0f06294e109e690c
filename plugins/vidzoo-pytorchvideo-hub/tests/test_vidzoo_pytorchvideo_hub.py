"""vidzoo-pytorchvideo-hub: registrations, zoo metadata, conformance, SlowFast packing, pretrained loading."""

import hashlib

import pytest
import torch

from vidzoo.errors import VidzooError
from vidzoo.plugins import get_registry
from vidzoo.testing import TINY_TRANSFORM, check_backbone, check_transform

import vidzoo_pytorchvideo_hub as plugin


# A cache of this test module for weights and demo data, never the user's (autouse; no
# conftest.py here: CI runs these tests in one pytest session with vidzoo's own tests/).
from vidzoo.testing import private_cache  # noqa: E402,F401

BACKBONES = ["x3d_xs", "x3d_s", "x3d_m", "x3d_l", "slowfast_r50", "slowfast_r101", "c2d_r50", "i3d_r50",
             "csn_r101", "r2plus1d_r50", "mvit_base_16x4", "efficient_x3d_xs", "efficient_x3d_s"]
HEAVY = {"csn_r101", "r2plus1d_r50", "slowfast_r50", "slowfast_r101"}  # seconds per pass on a CPU


def test_registered_by_this_package_with_its_zoo_spec():
    registry = get_registry()
    for name in BACKBONES:
        reg = registry.get("backbone", name)
        assert reg.package == "vidzoo-pytorchvideo-hub"
        spec = reg.spec
        for key in ("frames", "sampling_rate", "crop_size", "mean", "std"):
            assert getattr(spec.input, key) is not None, (name, key)
        assert "params_m" in spec.figures, name
        assert spec.default.url.startswith("https://dl.fbaipublicfiles.com/pytorchvideo/model_zoo/")
        registry.get("transform", spec.transform)  # its preset exists


@pytest.mark.parametrize("name", BACKBONES)
def test_params_metadata_is_the_built_models(name):
    # The zoo's parameter counts, checked against the model this plugin builds (400 classes).
    model = get_registry().get("backbone", name).factory(num_classes=400)
    count = sum(p.numel() for p in model.parameters()) / 1e6
    assert count == pytest.approx(plugin.MODELS[name].figures["params_m"], abs=0.01), count


def test_weights_urls_are_pytorchvideos_own():
    from pytorchvideo.models.hub import efficient_x3d_mobile_cpu, csn, r2plus1d, resnet, slowfast, x3d
    from pytorchvideo.models.hub.vision_transformers import checkpoint_paths as mvit_paths

    known = {**x3d.checkpoint_paths, **slowfast.checkpoint_paths, **resnet.checkpoint_paths, **csn.checkpoint_paths,
             **r2plus1d.checkpoint_paths, **mvit_paths, **efficient_x3d_mobile_cpu._checkpoint_paths}
    for name in BACKBONES:
        assert plugin.MODELS[name].default.url == known[name], name


@pytest.mark.parametrize("name", BACKBONES)
def test_backbone_conformance_at_tiny_inputs(name):
    if name == "mvit_base_16x4":
        check_backbone(name, options={"spatial_size": 32, "temporal_size": 4}, input_size=(4, 32, 32))
    else:
        check_backbone(name, num_classes=(3,) if name in HEAVY else (3, 7))


@pytest.mark.parametrize("name", sorted([*plugin._PRESETS, "slowfast"]))
def test_transform_conformance(name):
    options = dict(TINY_TRANSFORM, num_frames=8) if name == "slowfast" else TINY_TRANSFORM
    check_transform(name, options=options)


def test_slowfast_transform_packs_slow_and_fast_pathways():
    transform = get_registry().get("transform", "slowfast").factory("val", **dict(TINY_TRANSFORM, num_frames=8))
    video = torch.arange(16, dtype=torch.float32).view(1, 16, 1, 1).expand(3, 16, 48, 64).clone()
    out = transform({"video": video, "label": 0, "video_index": 0, "video_name": "a.mp4", "clip_start": 0.0})
    slow, fast = out["video"]
    assert fast.shape == (3, 8, 32, 32) and slow.shape == (3, 2, 32, 32)
    assert torch.equal(slow, fast[:, [0, 7]])  # linspace(0, T-1, T // alpha)
    model = get_registry().get("backbone", "slowfast_r50").factory(num_classes=4).eval()
    with torch.no_grad():
        assert model([slow[None], fast[None]]).shape == (1, 4)


def test_slowfast_transform_rejects_alpha_above_frames():
    with pytest.raises(VidzooError, match="alpha"):
        get_registry().get("transform", "slowfast").factory("train", num_frames=2, alpha=4)


def test_pretrained_zoo_checkpoint_loads_from_a_local_file(tmp_path):
    factory = get_registry().get("backbone", "x3d_xs").factory
    torch.manual_seed(3)
    source = factory(num_classes=400)
    path = tmp_path / "X3D_XS.pyth"
    torch.save({"model_state": source.state_dict()}, path)  # the zoo's checkpoint layout
    digest = hashlib.sha256(path.read_bytes()).hexdigest()

    same = factory(num_classes=400, pretrained=str(path), sha256=digest)
    for key, value in source.state_dict().items():
        assert torch.equal(same.state_dict()[key], value), key
    finetune = factory(num_classes=7, pretrained=str(path))
    assert finetune.blocks[-1].proj.out_features == 7
    assert torch.equal(finetune.state_dict()["blocks.0.conv.conv_t.weight"],
                       source.state_dict()["blocks.0.conv.conv_t.weight"])
    with pytest.raises(VidzooError):
        factory(num_classes=400, pretrained=str(tmp_path / "missing.pyth"))


def test_zoo_sized_head_pool_is_the_zoo_pool():
    # At the zoo's clip size the shrinkable pool is the zoo's fixed kernel: same output as pytorchvideo's model.
    from pytorchvideo.models.hub import x3d

    torch.manual_seed(0)
    ours = get_registry().get("backbone", "x3d_xs").factory(num_classes=400).eval()
    theirs = x3d.x3d_xs(pretrained=False, head_activation=None).eval()
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(1, 3, 4, 160, 160)
    with torch.no_grad():
        assert torch.allclose(ours(x), theirs(x), atol=1e-5)


def test_plugin_module_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, vidzoo_pytorchvideo_hub; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_presets_are_the_kinetics_recipe_with_the_zoo_defaults():
    import inspect

    registry = get_registry()
    base = inspect.signature(registry.get("transform", "kinetics").factory).parameters
    x3d = inspect.signature(registry.get("transform", "x3d_xs").factory).parameters
    assert list(x3d) == list(base)  # every option of the recipe, e.g. resize, stays available
    assert (x3d["num_frames"].default, x3d["crop_size"].default, x3d["eval_short_side"].default) == (4, 182, 182)
    out = registry.get("transform", "x3d_xs").factory("val")({"video": torch.rand(3, 12, 200, 260) * 255, "label": 1})
    assert out["video"].shape == (3, 4, 182, 182)
