"""The three plugin packages in plugins/, as installed (CI: `pip install ./plugins/*`), used from the real CLI:
`vidzoo list` / `vidzoo plugins` show them, and a short `vidzoo run` trains with each of their datasets and with a
backbone of each backbone package, on real video files the test writes in each dataset's official layout."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

import pytest

from conftest import TINY, run_cli

PACKAGES = {"vidzoo-torchvision": "vidzoo_torchvision", "vidzoo-pytorchvideo-hub": "vidzoo_pytorchvideo_hub",
            "vidzoo-datasets": "vidzoo_datasets"}
ROOT = Path(__file__).resolve().parents[1]

missing = [dist for dist, module in PACKAGES.items() if importlib.util.find_spec(module) is None]
if missing:
    pytest.fail(f"plugin packages not installed: {missing}; run `pip install -e {' '.join('./plugins/' + m for m in missing)}`"
                f" (CI installs them with .ci/run)", pytrace=False)

ENV = {"VIDZOO_DISABLE_PLUGINS": "", "VIDZOO_LOAD_PLUGINS": ",".join(PACKAGES)}


def tiny(**overrides) -> list[str]:
    """conftest.TINY with some options replaced."""
    flags = dict(zip(TINY[::2], TINY[1::2]))
    flags.update({f"--{k.replace('__', '.')}": str(v) for k, v in overrides.items()})
    return [x for pair in flags.items() for x in pair]


def run(tmp_path: Path, *args: str) -> Path:
    result = run_cli("run", *args, "--output", str(tmp_path / "runs"), env=ENV)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "finished 1 epochs" in result.stdout + result.stderr
    ckpts = list((tmp_path / "runs").glob("*/checkpoints/last.ckpt"))
    assert len(ckpts) == 1
    return ckpts[0].parents[1]


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    from vidzoo_datasets import fake

    root = tmp_path_factory.mktemp("official-trees")
    return {"ucf101": fake.write_ucf101(root / "ucf"), "hmdb51": fake.write_hmdb51(root / "hmdb"),
            "ssv2": fake.write_ssv2(root / "ssv2"), "csv": fake.write_video_csv(root / "own")}


def test_list_and_plugins_show_every_package_and_registration():
    listed = run_cli("list", "--json", env=ENV)
    assert listed.returncode == 0, listed.stderr
    by_package: dict[str, set] = {}
    for r in json.loads(listed.stdout):
        by_package.setdefault(r["package"], set()).add((r["kind"], r["name"]))
    assert {("backbone", n) for n in ("r3d_18", "mc3_18", "r2plus1d_18", "s3d", "mvit_v1_b", "mvit_v2_s",
                                      "swin3d_t", "swin3d_s", "swin3d_b")} <= by_package["vidzoo-torchvision"]
    assert {("backbone", n) for n in ("x3d_xs", "x3d_s", "x3d_m", "x3d_l", "slowfast_r50", "slowfast_r101",
                                      "c2d_r50", "i3d_r50", "csn_r101", "r2plus1d_r50", "mvit_base_16x4",
                                      "efficient_x3d_xs", "efficient_x3d_s")} <= by_package["vidzoo-pytorchvideo-hub"]
    assert ("transform", "slowfast") in by_package["vidzoo-pytorchvideo-hub"]
    assert {("dataset", "ucf101"), ("dataset", "hmdb51"), ("dataset", "ssv2"), ("dataset", "video-csv"),
            ("transform", "ssv2")} <= by_package["vidzoo-datasets"]
    # `vidzoo list --json` drops nothing: the 400 categories travel with torchvision's backbones.
    r3d = next(r for r in json.loads(listed.stdout) if r["name"] == "r3d_18")
    spec = r3d["spec"]
    default = spec["weights"][spec["default_weights"] or next(iter(spec["weights"]))]  # as ModelSpec.default
    assert len(spec["categories"]) == 400 and default["url"].endswith(".pth")

    table = run_cli("list", "x3d*", "--kind", "backbone", env=ENV).stdout
    assert "x3d_xs" in table and "0.91 GFLOPs" in table and "K400 top-1 69.12" in table and "r3d_18" not in table

    plugins = json.loads(run_cli("plugins", "--json", env=ENV).stdout)
    info = {p["package"]: p for p in plugins}
    for dist, module in PACKAGES.items():
        ep = info[dist]["entry_points"][0]
        assert (ep["name"], ep["module"], ep["status"], ep["error"]) == (module, module, "loaded", None)
        assert info[dist]["version"] == "0.1.0" and ep["registered"]


def test_run_ucf101_with_torchvision_r3d_18(tmp_path, trees):
    run_dir = run(tmp_path, "--dataset", "ucf101", "--dataset.data_path", str(trees["ucf101"]),
                  "--dataset.fold", "2", "--backbone", "r3d_18", "--transform", "tv_r3d", *tiny())
    config = (run_dir / "config.yaml").read_text()
    assert "r3d_18" in config and "fold: 2" in config


def test_run_hmdb51_with_x3d_xs_from_a_pretrained_zoo_file(tmp_path, trees):
    import torch

    from vidzoo.plugins import get_registry

    torch.manual_seed(0)
    source = get_registry().get("backbone", "x3d_xs").factory(num_classes=400)
    weights = tmp_path / "X3D_XS.pyth"
    torch.save({"model_state": source.state_dict()}, weights)
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    result_dir = run(tmp_path, "--dataset", "hmdb51", "--dataset.data_path", str(trees["hmdb51"]),
                     "--backbone", "x3d_xs", "--backbone.pretrained", str(weights), "--backbone.sha256", digest,
                     "--transform", "x3d_xs", *tiny())
    assert (result_dir / "checkpoints" / "best.ckpt").is_file()


def test_run_ssv2_with_its_no_flip_preset_and_efficient_x3d(tmp_path, trees):
    # No --transform: the dataset's metadata picks its `ssv2` preset.
    run_dir = run(tmp_path, "--dataset", "ssv2", "--dataset.data_path", str(trees["ssv2"]),
                  "--backbone", "efficient_x3d_xs", *tiny())
    config = (run_dir / "config.yaml").read_text()
    assert "name: ssv2" in config and "flip_prob: 0.0" in config


def test_run_own_csv_data_with_two_pathway_slowfast(tmp_path, trees):
    # SlowFast's [slow, fast] list goes through the generic task unchanged.
    run(tmp_path, "--dataset", "video-csv", "--dataset.train_csv", str(trees["csv"]["train"]),
        "--dataset.val_csv", str(trees["csv"]["val"]), "--backbone", "slowfast_r50", "--transform", "slowfast",
        *tiny(transform__num_frames=8))


def test_slowfast_with_a_one_pathway_transform_says_which_preset_matches(tmp_path, demo_dir):
    result = run_cli("run", "--dataset", "kinetics", "--dataset.data_path", str(demo_dir), "--backbone",
                     "slowfast_r50", *tiny(transform__num_frames=8), "--output", str(tmp_path / "runs"), env=ENV)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "its matching transform preset is 'slowfast': --transform slowfast" in result.stderr
