"""vidzoo-transformers: registrations and figures, conformance (tiny), the adapter, pretrained loading."""

import json
import os
import subprocess
import sys

import pytest
import torch

import vidzoo
from vidzoo.errors import VidzooError
from vidzoo.models.builder import build_model
from vidzoo.plugins import get_registry
from vidzoo.testing import TINY_TRANSFORM, check_backbone, check_transform

import vidzoo_transformers as plugin
from vidzoo_transformers.testing import save_to_hub_cache, tiny_options

# A cache of this test module for weights and demo data, never the user's (autouse).
from vidzoo.testing import private_cache  # noqa: E402,F401

BACKBONES = list(plugin.MODELS)


def factory(name):
    return get_registry().get("backbone", name).factory


def test_every_family_and_size_is_registered_with_its_figures():
    registry = get_registry()
    assert {m["family"] for m in plugin.MODELS.values()} == {"videomae", "timesformer", "vivit", "vjepa2"}
    for name in BACKBONES:
        reg = registry.get("backbone", name)
        assert reg.package == "vidzoo-transformers"
        spec = reg.spec
        for key in ("num_frames", "crop_size", "mean", "std", "min_input"):
            assert getattr(spec.input, key) is not None, (name, key)
        assert {"params_m", "gflops"} <= set(spec.figures), name
        assert spec.input.pathways is None and spec.default.url == f"https://huggingface.co/{spec.extra['hub_id']}"
        registry.get("transform", spec.transform)
        if "kinetics400_top1" in spec.figures:
            assert spec.extra["kinetics400_views"] and spec.extra["kinetics400_source"], name
    assert registry.get("backbone", "videomae_base").spec.figures["kinetics400_top1"] == 80.9  # its model card
    assert registry.get("backbone", "videomae_base").spec.extra["hub_id"] == "MCG-NJU/videomae-base-finetuned-kinetics"


# The full-size figures of these are checked here (on the meta device, a few seconds each); the
# others (VideoMAE's sinusoid tables take ~20 s to build at full size on 2 cores, ViT-g's FLOP count
# as long) by `python -m vidzoo_transformers.figures`, whose figures the table holds.
FIGURES_CHECKED = ["videomae_small", "timesformer_base", "timesformer_hr", "vivit_base", "vjepa2_large"]


@pytest.mark.parametrize("name", FIGURES_CHECKED)
def test_figures_are_the_built_models(name):
    from vidzoo_transformers.figures import measure

    params, gflops = measure(name)
    assert params == pytest.approx(plugin.MODELS[name]["params_m"], abs=0.01)
    # Published GFLOPs (multiply-adds of one view) within 2% of what this model computes.
    assert gflops == pytest.approx(plugin.MODELS[name]["gflops"], rel=0.02)


@pytest.mark.parametrize("name", BACKBONES)
def test_backbone_conformance_tiny(name):
    check_backbone(name, options=tiny_options(name), input_size=(4, 32, 32), num_classes=(3,))


@pytest.mark.parametrize("name", sorted(plugin._PRESETS))
def test_transform_conformance(name):
    check_transform(name, options=TINY_TRANSFORM)


def test_adapter_feeds_the_transformers_layout():
    model = factory("videomae_base")(num_classes=5, **tiny_options("videomae_base")).eval()
    x = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        ours = model(x)
        theirs = model.model(pixel_values=x.permute(0, 2, 1, 3, 4)).logits
    assert torch.equal(ours, theirs)
    vjepa = factory("vjepa2_large")(num_classes=5, **tiny_options("vjepa2_large")).eval()
    assert vjepa.input_name == "pixel_values_videos" and vjepa.model.vjepa2.predictor is None
    with torch.no_grad():
        assert torch.equal(vjepa(x), vjepa.model(pixel_values_videos=x.transpose(1, 2)).logits)


def test_size_options_reach_the_config():
    model = factory("timesformer_base")(num_classes=3, num_frames=6, image_size=48, hidden_size=24,
                                        num_hidden_layers=1, num_attention_heads=3, intermediate_size=16)
    cfg = model.model.config
    assert (cfg.num_frames, cfg.image_size, cfg.hidden_size, cfg.num_hidden_layers, cfg.num_labels) == (6, 48, 24, 1, 3)
    with pytest.raises(VidzooError, match="multiple of num_attention_heads"):
        factory("vivit_base")(num_classes=3, **dict(tiny_options("vivit_base"), num_attention_heads=5))


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tiny VideoMAE with 6 classes saved with save_pretrained, and its state dict."""
    torch.manual_seed(1)
    model = factory("videomae_base")(num_classes=6, **tiny_options("videomae_base"))
    folder = tmp_path_factory.mktemp("saved") / "videomae-tiny"
    model.model.save_pretrained(folder)
    return folder, model.state_dict()


def test_pretrained_from_a_saved_folder(saved, capsys):
    folder, state = saved
    same = vidzoo.create_model("videomae_base", 6, pretrained=str(folder), **tiny_options("videomae_base"))
    for key, value in state.items():
        assert torch.equal(same.state_dict()[key], value), key
    report = build_model({"name": "videomae_base", "options": {"pretrained": str(folder),
                                                               **tiny_options("videomae_base")}}, 6).report
    assert len(report.loaded) == report.total and not report.missing and not report.unexpected

    built = build_model({"name": "videomae_base", "options": {"pretrained": str(folder),
                                                              **tiny_options("videomae_base")}}, 3)
    new, report = built.model, built.report
    assert report.head == ["model.classifier.weight", "model.classifier.bias"] == built.classifier
    assert len(report.loaded) == report.total - 2
    assert new.model.classifier.out_features == 3
    key = "model.videomae.encoder.layer.0.attention.attention.query.bias"  # saved as q_bias: renamed on load
    assert torch.equal(new.state_dict()[key], state[key])
    assert "new head kept for 2" in capsys.readouterr().err


def test_pretrained_errors_are_one_line(tmp_path):
    def make(**options):
        return vidzoo.create_model("videomae_base", 3, **options, **tiny_options("videomae_base"))

    with pytest.raises(VidzooError, match="neither a save_pretrained folder nor a Hub repository id"):
        make(pretrained=str(tmp_path / "nowhere" / "x" / "y"))
    with pytest.raises(VidzooError, match="holds none of"):
        make(pretrained=str(tmp_path))
    with pytest.raises(VidzooError, match="Hub repositories are checked by their revision"):
        make(pretrained="default", sha256="0" * 64)


HUB_SCRIPT = """
import vidzoo
from vidzoo.errors import VidzooError
from vidzoo_transformers.testing import tiny_options
for source in ("MCG-NJU/videomae-base-finetuned-kinetics", "default", "MCG-NJU/videomae-small-finetuned-kinetics"):
    try:
        model = vidzoo.create_model("videomae_base", 4, pretrained=source, **tiny_options("videomae_base"))
    except VidzooError as exc:
        print("error", exc)
        continue
    print(sum(float(p.double().sum()) for n, p in model.named_parameters() if "classifier" not in n))
"""


def test_pretrained_from_a_repository_id_in_the_offline_hub_cache(saved, tmp_path):
    # A real huggingface_hub lookup (refs/main -> snapshots/REV/) with HF_HUB_OFFLINE=1, in a fresh
    # process since huggingface_hub reads its environment at import.
    folder, state = saved
    model = factory("videomae_base")(num_classes=6, **tiny_options("videomae_base"))
    model.load_state_dict(state)
    save_to_hub_cache(model, tmp_path / "hub", "MCG-NJU/videomae-base-finetuned-kinetics")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hub")}
    out = subprocess.run([sys.executable, "-c", HUB_SCRIPT], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    by_id, by_default, missing = out.stdout.strip().splitlines()[-3:]
    expected = sum(float(v.double().sum()) for k, v in state.items() if "classifier" not in k)
    assert float(by_id) == pytest.approx(expected, rel=1e-9) and float(by_default) == pytest.approx(expected, rel=1e-9)
    assert out.stderr.count("pretrained weights from hf://MCG-NJU/videomae-base-finetuned-kinetics") == 2
    assert out.stderr.count("new head kept for 2") == 2
    assert missing.startswith("error MCG-NJU/videomae-small-finetuned-kinetics is not in the Hub cache")
    assert "HF_HUB_OFFLINE" in missing


def test_rebuilding_from_a_vidzoo_checkpoint_reads_no_weights(tmp_path):
    from vidzoo.models.builder import recipe_of

    # A checkpoint of a run that started from a Hub id: its recipe drops the id, so nothing is fetched.
    hparams = {"backbone": "videomae_base", "backbone_options": {"pretrained": "org/not-there", "revision": None,
                                                                 **tiny_options("videomae_base")}}
    built = build_model(recipe_of(hparams), 3)
    assert built.report is None and built.model.model.config.num_labels == 3
    assert built.classifier == ["model.classifier.weight", "model.classifier.bias"]


def test_plugin_module_does_not_import_torch():
    code = "import sys, vidzoo_transformers; print('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


def test_list_shows_the_figures():
    out = subprocess.run([sys.executable, "-m", "vidzoo", "list", "videomae*", "--json"], capture_output=True,
                         text=True, check=True)
    rows = {r["name"]: r for r in json.loads(out.stdout) if r["kind"] == "backbone"}
    assert set(rows) == {"videomae_small", "videomae_base", "videomae_large", "videomae_huge"}
    assert rows["videomae_base"]["spec"]["extra"]["kinetics400_views"] == "5 clips x 3 crops"


def test_public_api_creates_them_and_resolves_their_input():
    import vidzoo

    model = vidzoo.create_model("videomae_base", num_classes=3, **tiny_options("videomae_base"))
    assert model.model.config.num_labels == 3
    config = vidzoo.resolve_input_config("videomae_base")
    # the short side of the Hub's preprocessor_config.json (shortest_edge 224), issue 17's recipe
    assert (config["num_frames"], config["crop_size"], config["eval_short_side"]) == (16, 224, 224)
    assert tuple(config["mean"]) == plugin.IMAGENET_MEAN and "pathways" not in config
