"""vidzoo-timm: registrations, conformance, the temporal shift, timm's input configs and weights, errors."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import vidzoo

from vidzoo.errors import VidzooError
from vidzoo.models.builder import build_model
from vidzoo.plugins import get_registry
from vidzoo.testing import check_backbone

import vidzoo_timm as plugin

# A cache of this test module for weights and demo data, never the user's (autouse; no
# conftest.py here: CI runs these tests in one pytest session with vidzoo's own tests/).
from vidzoo.testing import private_cache  # noqa: E402,F401

TINY = dict(num_segments=4)  # the conformance kit's clips have 4 frames


def factory(name):
    return get_registry().get("backbone", name).factory


def cli(*args, env=None, timeout=600):
    return subprocess.run([sys.executable, "-m", "vidzoo", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout)


# ---------------------------------------------------------------- registration and conformance


def test_registered_by_this_package_with_figures_matching_timm():
    for name in ("tsn", "tsm"):
        reg = get_registry().get("backbone", name)
        assert reg.package == "vidzoo-timm"
        # The static input is what input_config says for the default options (resnet50, 8 segments).
        assert reg.spec.input == plugin.input_config({"model": plugin.DEFAULT_MODEL, "num_segments": 8})
        assert reg.spec.input.transform_options()["eval_short_side"] == 235  # 224 / 0.95
        assert set(reg.spec.figures) == {"params_m", "gflops", "kinetics400_top1"}
        assert reg.spec.extra["kinetics400_views"]


def test_params_and_gflops_figures_are_the_built_default_model():
    from torch.utils.flop_counter import FlopCounterMode

    model = factory("tsm")(num_classes=400).eval()
    assert sum(p.numel() for p in model.parameters()) / 1e6 == pytest.approx(plugin.MODELS["tsm"].figures["params_m"],
                                                                            abs=0.01)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 3, 8, 224, 224))
    assert counter.get_total_flops() / 2e9 == pytest.approx(plugin.MODELS["tsm"].figures["gflops"], abs=0.05)  # MACs


@pytest.mark.parametrize("name, options", [
    ("tsn", dict(model="resnet10t")),
    ("tsn", dict(model="convnext_atto", consensus="features")),
    ("tsm", dict(model="resnet10t")),
    ("tsm", dict(model="test_resnet", consensus="features")),
    ("tsm", dict(model="convnext_atto")),
    ("tsm", dict(model="regnetx_002")),
])
def test_backbone_conformance_with_tiny_timm_models(name, options):
    check_backbone(name, options={**TINY, **options}, num_classes=(3,) if "convnext" in options["model"] else (3, 7))


def test_list_shows_the_figures():
    out = cli("list", "tsm*", env={"VIDZOO_LOAD_PLUGINS": "vidzoo-timm"})
    assert out.returncode == 0, out.stderr
    line = next(l for l in out.stdout.splitlines() if l.split()[1:2] == ["tsm"])
    assert "vidzoo-timm 0.1.0" in line and "24.33M params" in line and "8x224^2" in line and "74.1" in line
    (entry,) = json.loads(cli("list", "tsm", "--json").stdout)
    assert entry["spec"]["extra"]["timm_model"] == "resnet50"
    assert entry["spec"]["input_config"] == "vidzoo_timm.input_config"  # a callable, shown by its name


def test_plugin_module_does_not_import_torch_or_timm():
    code = "import sys, vidzoo_timm; print('torch' in sys.modules, 'timm' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


# ---------------------------------------------------------------- the temporal shift


def test_temporal_shift_moves_one_eighth_of_the_channels_each_way_and_keeps_the_rest():
    from vidzoo_timm.models import temporal_shift

    n, t, c = 2, 4, 16
    # value = 1000 * clip + 100 * (frame + 1) + channel: every element says where it came from.
    x = (1000 * torch.arange(n).view(n, 1, 1) + 100 * (torch.arange(t).view(1, t, 1) + 1)
         + torch.arange(c).view(1, 1, c)).float().view(n, t, c, 1, 1).expand(n, t, c, 3, 3)
    out = temporal_shift(x.reshape(n * t, c, 3, 3), num_segments=t, shift_div=8).view(n, t, c, 3, 3)
    fold = c // 8  # 2 channels each way, the paper's shift_div 8
    for clip in range(n):
        for frame in range(t):
            for ch in range(c):
                got = out[clip, frame, ch]
                if ch < fold:  # from the next frame (moved one step back in time); zeros at the last frame
                    want = x[clip, frame + 1, ch] if frame + 1 < t else torch.zeros(3, 3)
                elif ch < 2 * fold:  # from the previous frame (one step forward); zeros at the first frame
                    want = x[clip, frame - 1, ch] if frame > 0 else torch.zeros(3, 3)
                else:  # untouched
                    want = x[clip, frame, ch]
                assert torch.equal(got, want), (clip, frame, ch, got[0, 0], want[0, 0])
    # Nothing moves across clips of the batch: clip 1's first frame has no clip-0 values in it.
    assert out[1].min() == 0 or out[1][out[1] > 0].min() >= 1000


def test_tsm_shifts_the_residual_branch_only_and_keeps_timms_keys():
    import timm

    from vidzoo_timm.models import TemporalShiftConv2d

    net = factory("tsm")(num_classes=3, model="resnet10t", num_segments=4)
    blocks = [m for m in net.model.modules() if type(m).__name__ == "BasicBlock"]
    assert blocks and all(isinstance(b.conv1, TemporalShiftConv2d) for b in blocks)
    assert not any(isinstance(m, TemporalShiftConv2d) for b in blocks if b.downsample is not None
                   for m in b.downsample.modules())
    assert all(name.endswith(".conv1") for name in net.shifted)  # the stem and shortcuts are not shifted
    assert len(net.shifted) == len(blocks)
    plain = timm.create_model("resnet10t", num_classes=3)
    assert [f"model.{k}" for k in plain.state_dict()] == list(net.state_dict())


def test_shifted_conv_sees_neighbouring_frames():
    # A 1x1 identity conv turned into a shifted conv outputs exactly its shifted input.
    from vidzoo_timm.models import TemporalShiftConv2d

    conv = torch.nn.Conv2d(8, 8, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.eye(8).view(8, 8, 1, 1))
    shifted = TemporalShiftConv2d(conv, num_segments=3, shift_div=8)  # 1 channel each way
    frames = torch.arange(3, dtype=torch.float32).add(1).view(3, 1, 1, 1).expand(3, 8, 2, 2)  # frame f holds f+1
    out = shifted(frames)[:, :, 0, 0]
    assert out[:, 0].tolist() == [2.0, 3.0, 0.0]  # channel 0: the next frame's
    assert out[:, 1].tolist() == [0.0, 1.0, 2.0]  # channel 1: the previous frame's
    assert out[:, 2:].eq(frames[:, 2:, 0, 0]).all()  # the other 6 stay


def test_tsm_and_tsn_differ_only_by_the_shift():
    # Same weights. tsn scores frames independently: reordering the frames keeps its output;
    # tsm's blocks see their neighbours' channels, so the order matters.
    torch.manual_seed(0)
    tsn = factory("tsn")(num_classes=3, model="resnet10t", num_segments=4, dropout=0.0).eval()
    tsm = factory("tsm")(num_classes=3, model="resnet10t", num_segments=4, dropout=0.0).eval()
    with torch.no_grad():  # timm zero-initialises each block's last norm: residual branches would add nothing
        for m in tsn.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
    tsm.load_state_dict(tsn.state_dict())
    x = torch.randn(1, 3, 4, 32, 32)
    swapped = x[:, :, [1, 0, 2, 3]]
    with torch.no_grad():
        assert torch.allclose(tsn(x), tsn(swapped), atol=1e-5)
        assert not torch.allclose(tsm(x), tsm(swapped), atol=1e-4)  # order matters once frames are shifted


def test_features_consensus_averages_feature_maps_before_one_head():
    # ConvNeXt's head normalises after pooling, so averaging feature maps and averaging logits
    # are different models (for ResNet, whose head is pool and Linear, they agree in eval mode).
    torch.manual_seed(0)
    net = factory("tsn")(num_classes=3, model="convnext_atto", consensus="features", dropout=0.0).eval()
    x = torch.randn(2, 3, 4, 32, 32)
    frames = x.transpose(1, 2).reshape(8, 3, 32, 32)
    with torch.no_grad():
        maps = net.model.forward_features(frames)
        assert torch.allclose(net(x), net.model.forward_head(maps.view(2, 4, *maps.shape[1:]).mean(1)), atol=1e-5)
        assert not torch.allclose(net(x), net.model(frames).view(2, 4, -1).mean(1), atol=1e-4)
    net.train()
    head_calls = []
    net.model.head.fc.register_forward_hook(lambda m, i, o: head_calls.append(i[0].shape[0]))
    net(x)
    assert head_calls == [2]  # the classifier (and the dropout before it) runs once per clip, not per frame


# ---------------------------------------------------------------- names and errors


def test_a_typo_in_the_model_name_is_one_line_with_close_matches():
    out = cli("run", "--dataset", "kinetics", "--backbone", "tsm", "--backbone.model", "resnet5o")
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0, out.stderr
    assert "unknown timm model 'resnet5o'; did you mean 'resnet50'" in out.stderr


def test_tsm_names_the_families_it_can_shift():
    with pytest.raises(VidzooError, match=r"tsm cannot shift timm model 'vit_tiny_patch16_224'.*ResNet/ResNeXt.*"
                                          r"RegNet.*ConvNeXt.*tsn takes any timm model") as info:
        factory("tsm")(num_classes=3, model="vit_tiny_patch16_224")
    assert "\n" not in str(info.value)
    net = factory("tsn")(num_classes=3, model="vit_tiny_patch16_224", num_segments=2)  # tsn takes it
    assert net(torch.randn(1, 3, 2, 224, 224)).shape == (1, 3)


def test_clear_errors_for_bad_options():
    with pytest.raises(VidzooError, match="no pretrained tag 'nope'"):
        factory("tsn")(num_classes=3, model="resnet10t.nope")
    with pytest.raises(VidzooError, match="consensus must be logits or features"):
        factory("tsn")(num_classes=3, model="resnet10t", consensus="max")
    net = factory("tsm")(num_classes=3, model="resnet10t", num_segments=4)
    with pytest.raises(VidzooError, match="built for clips of 4 frames.*--transform.num_frames 4"):
        net(torch.randn(1, 3, 2, 32, 32))


# ---------------------------------------------------------------- timm's input config feeds the transform


def print_config(*options, tmp_path):
    (tmp_path / "train").mkdir(exist_ok=True)  # a data_path switches the demo's own sizes off
    out = cli("run", "--dataset", "kinetics", "--dataset.data_path", str(tmp_path), *options, "--print-config")
    assert out.returncode == 0, out.stderr
    import yaml

    return yaml.safe_load(out.stdout)["transform"]


def test_the_chosen_timm_models_config_sets_the_transform_defaults(tmp_path):
    t = print_config("--backbone", "tsm", "--backbone.model", "test_resnet", "--backbone.num_segments", "6",
                     tmp_path=tmp_path)
    # test_resnet.r160_in1k: 160 px, crop_pct 0.95, mean/std 0.5
    assert (t["num_frames"], t["crop_size"], t["eval_short_side"], t["min_short_side"], t["max_short_side"]) == \
        (6, 160, 168, 168, 210)
    assert list(t["mean"]) == [0.5, 0.5, 0.5] and list(t["std"]) == [0.5, 0.5, 0.5]
    t = print_config("--backbone", "tsn", "--backbone.model", "convnext_atto", tmp_path=tmp_path)
    assert (t["num_frames"], t["crop_size"], t["eval_short_side"]) == (8, 224, 256)
    assert list(t["mean"]) == [0.485, 0.456, 0.406]
    t = print_config("--backbone", "tsn", "--backbone.model", "convnext_atto", "--transform.crop_size", "64",
                     tmp_path=tmp_path)
    assert t["crop_size"] == 64 and t["eval_short_side"] == 256  # flags win over the model's config


def test_resolve_input_config_from_python_takes_the_model_option():
    import vidzoo

    config = vidzoo.resolve_input_config("tsm", model="convnext_atto")  # as the README says
    assert (config["crop_size"], config["eval_short_side"], config["num_frames"]) == (224, 256, 8)
    assert vidzoo.resolve_input_config("tsm")["eval_short_side"] == 235  # the default resnet50


# ---------------------------------------------------------------- pretrained weights


def write_hf_cache(root: Path, repo: str, state: dict) -> Path:
    """huggingface_hub's cache layout, as timm's weights land in it: models--timm--NAME/{refs/main, snapshots/REV/}."""
    from safetensors.torch import save_file

    revision = hashlib.sha1(repo.encode()).hexdigest()
    folder = root / "hub" / ("models--" + repo.replace("/", "--"))
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text(revision)
    (folder / "snapshots" / revision).mkdir(parents=True)
    path = folder / "snapshots" / revision / "model.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    return path


@pytest.fixture(scope="module")
def hf_home(tmp_path_factory):
    """A Hugging Face cache holding 'timm/resnet10t.c3_in1k' (resnet10t's default tag): a random model's weights."""
    import timm

    torch.manual_seed(7)
    state = timm.create_model("resnet10t", num_classes=1000).state_dict()
    with torch.no_grad():  # not a fresh model's values, but of the same scale (so logits stay in a sane range)
        state = {k: (v + 0.01 * torch.randn_like(v) if v.is_floating_point() else v) for k, v in state.items()}
    root = tmp_path_factory.mktemp("hf")
    write_hf_cache(root, "timm/resnet10t.c3_in1k", state)
    path = root / "state.pt"
    torch.save(state, path)
    return root, path


def test_timm_weights_arrive_from_the_hf_cache_offline(hf_home):
    root, state_file = hf_home
    code = textwrap.dedent(f"""
        import torch, vidzoo
        from vidzoo.models.builder import build_model
        state = torch.load({str(state_file)!r})
        same = build_model({{"name": "tsm", "options": {{"model": "resnet10t", "num_segments": 4, "pretrained": "true"}}}},
                           1000)
        assert all(torch.equal(same.model.state_dict()["model." + k], v) for k, v in state.items())
        assert same.report.loaded and not same.report.head
        new = build_model({{"name": "tsn", "options": {{"model": "resnet10t", "pretrained": "default"}}}}, 5)
        own = new.model.state_dict()
        assert torch.equal(own["model.layer4.0.conv2.weight"], state["layer4.0.conv2.weight"])
        assert own["model.fc.weight"].shape == (5, 512) and new.classifier == ["model.fc.weight", "model.fc.bias"]
        # logits equal to timm's own model read from the same cache (timm.create_model(pretrained=True))
        import timm
        theirs = timm.create_model("resnet10t", pretrained=True).eval()
        ours = build_model({{"name": "tsn", "options": {{"model": "resnet10t", "pretrained": "default"}}}}, 1000).model
        x = torch.randn(2, 3, 1, 64, 64)
        with torch.no_grad():
            assert torch.allclose(ours.eval()(x), theirs(x[:, :, 0]), atol=1e-5)
        print(sorted(new.report.head))
    """)
    env = {**os.environ, "HF_HOME": str(root), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "['model.fc.bias', 'model.fc.weight']"
    # The one-line report for the new head: what was loaded and what was kept new.
    assert "pretrained weights from " in out.stderr and "models--timm--resnet10t.c3_in1k" in out.stderr
    assert "new head kept for 2 (model.fc.weight 1000x512->5x512, model.fc.bias 1000->5)" in out.stderr

    missing = subprocess.run([sys.executable, "-c", "import vidzoo; vidzoo.create_model('tsn', 3, model='resnet18', "
                              "pretrained='true')"], capture_output=True, text=True, env=env, timeout=600)
    assert "timm's weights timm/resnet18.a1_in1k are not in the Hugging Face cache" in missing.stderr
    assert "with HF_HUB_OFFLINE set" in missing.stderr


def test_weights_from_a_local_file_with_checksum(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(3)
    source = factory("tsn")(num_classes=1000, model="test_resnet").model.state_dict()
    for path in (tmp_path / "w.safetensors", tmp_path / "w.pth"):
        save_file(source, str(path)) if path.suffix == ".safetensors" else torch.save(source, path)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        built = build_model({"name": "tsm", "options": dict(model="test_resnet", num_segments=4, pretrained=str(path),
                                                            sha256=digest)}, 4)
        first = next(iter(source))
        assert torch.equal(built.model.state_dict()["model." + first], source[first])
        assert built.report.head == built.classifier == ["model.fc.weight", "model.fc.bias"]
    with pytest.raises(VidzooError, match="sha256"):
        vidzoo.create_model("tsm", 4, model="test_resnet", num_segments=4, pretrained=str(path), sha256="0" * 64)


def test_the_declared_classifier_follows_the_timm_model():
    assert build_model({"name": "tsn", "options": {"model": "test_convnext"}}, 3).classifier == [
        "model.head.fc.weight", "model.head.fc.bias"]  # timm's pretrained_cfg["classifier"] of the chosen model
    assert build_model({"name": "tsm", "options": {"model": "test_resnet", "num_segments": 4}}, 3).classifier == [
        "model.fc.weight", "model.fc.bias"]


# ---------------------------------------------------------------- the README, end to end


def readme_block(title: str) -> str:
    import re

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = text.split(f"## {title}", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```bash\n(.*?)```", section, re.S).group(1)


def test_readme_quick_start_trains_tests_and_exports_tsm(hf_home, tmp_path):
    """The README's block as written: list, fine-tune tsm from timm's weights (the Hub cache, offline) on the
    demo sample through `vidzoo run`, `vidzoo test` the checkpoint, export it to ONNX and TorchScript."""
    from vidzoo.data.demo import VERSION, write_demo
    from vidzoo.io import cache_root

    root, _ = hf_home
    # The demo sample the block trains on, smaller than the real one (8 train, 4 val videos) to spare the CPU.
    write_demo(cache_root() / f"demo-v{VERSION}", train_per_class=2, val_per_class=1, width=80, height=60,
               seconds=1.0)
    block = readme_block("Quick start")
    assert "vidzoo run" in block and "vidzoo test" in block and "vidzoo export" in block
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "HF_HOME": str(root),
           "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(["bash", "-e", "-c", block], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=900)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    assert "24.33M params" in out.stdout  # vidzoo list 'tsm*'
    assert "models--timm--resnet10t.c3_in1k" in out.stderr  # the README's report line, as it says
    assert ("loaded 84/86 tensors; new head kept for 2 (model.fc.weight 1000x512->4x512, model.fc.bias 1000->4); "
            "0 missing; 0 unexpected") in out.stderr
    assert "videos, 1x1 views" in out.stdout and "mean per-class" in out.stdout
    assert "exported tsm (4 classes) to tsm.onnx (onnx" in out.stdout
    assert "exported tsm (4 classes) to tsm.pt (torchscript" in out.stdout
    (run_dir,) = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    config = (run_dir / "config.yaml").read_text()
    assert "model: resnet10t" in config and "num_frames: 4" in config
