"""Config resolution: the backbone's input metadata feeds the transform, below explicit settings."""

from __future__ import annotations

import pytest

import vidzoo
from vidzoo import plugins
from vidzoo.training import config


class _Backbones:
    @vidzoo.hookimpl
    def register_backbones(self, register):
        register("meta-net", lambda num_classes: None, "test", frames=16, crop_size=112,
                 mean=(0.43, 0.4, 0.37), std=(0.22, 0.21, 0.21), params_m=1.0)


@pytest.fixture
def meta_net(monkeypatch):
    monkeypatch.setenv("VIDZOO_LOAD_PLUGINS", "")
    plugins.register(_Backbones(), "meta-net")
    yield
    plugins.unregister("meta-net")


def _transform(argv):
    _, cfg = config.resolve(argv)
    return cfg.transform.as_dict()


def test_backbone_metadata_sets_frames_crop_mean_std(meta_net, demo_dir):
    t = _transform(["--dataset", "kinetics", "--backbone", "meta-net", "--dataset.data_path", str(demo_dir)])
    assert t["name"] == "kinetics"  # still the dataset's preset
    assert (t["num_frames"], t["crop_size"]) == (16, 112)
    assert tuple(t["mean"]) == (0.43, 0.4, 0.37) and tuple(t["std"]) == (0.22, 0.21, 0.21)


def test_flags_config_and_dataset_recommendations_beat_backbone_metadata(meta_net, demo_dir, tmp_path):
    t = _transform(["--dataset", "kinetics", "--backbone", "meta-net", "--dataset.data_path", str(demo_dir),
                    "--transform.num_frames", "4"])
    assert (t["num_frames"], t["crop_size"]) == (4, 112)
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("transform: {crop_size: 64}\n")
    t = _transform(["--config", str(cfg_file), "--dataset", "kinetics", "--backbone", "meta-net",
                    "--dataset.data_path", str(demo_dir)])
    assert (t["num_frames"], t["crop_size"]) == (16, 64)
    t = _transform(["--dataset", "kinetics", "--backbone", "meta-net"])  # demo sample: its small crop
    assert t["crop_size"] == 96 and t["num_frames"] == 16


def test_builtin_backbone_metadata_matches_the_kinetics_defaults(demo_dir):
    t = _transform(["--dataset", "kinetics", "--backbone", "resnet3d50", "--dataset.data_path", str(demo_dir)])
    assert (t["num_frames"], t["crop_size"], tuple(t["mean"])) == (8, 224, (0.45, 0.45, 0.45))
