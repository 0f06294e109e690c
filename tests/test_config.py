"""Config resolution: the backbone's input metadata feeds the transform, below explicit settings."""

from __future__ import annotations

import pytest

import vidzoo
from vidzoo.default_plugins.kinetics import demo_run_defaults
from vidzoo import plugins
from vidzoo.cli import config


class _Backbones:
    @vidzoo.hookimpl
    def register_backbones(self, register):
        register("meta-net", lambda num_classes: None, "test", spec=vidzoo.ModelSpec(
            input=vidzoo.InputConfig(frames=16, crop_size=112, mean=(0.43, 0.4, 0.37), std=(0.22, 0.21, 0.21)),
            figures={"params_m": 1.0}))


@pytest.fixture
def meta_net(monkeypatch):
    monkeypatch.setenv("VIDZOO_LOAD_PLUGINS", "")
    plugins.register(_Backbones(), "meta-net")
    yield
    plugins.unregister("meta-net")


def _transform(argv):
    return config.resolve(argv).transform.to_dict()


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
    t = _transform(["--dataset", "kinetics", "--backbone", "meta-net"])  # demo sample: its small clips
    demo = demo_run_defaults({})["transform"]
    assert (t["crop_size"], t["num_frames"]) == (demo["crop_size"], demo["num_frames"]) != (112, 16)


def test_builtin_backbone_metadata_matches_the_kinetics_defaults(demo_dir):
    t = _transform(["--dataset", "kinetics", "--backbone", "resnet3d50", "--dataset.data_path", str(demo_dir)])
    assert (t["num_frames"], t["crop_size"], tuple(t["mean"])) == (8, 224, (0.45, 0.45, 0.45))


def _sized_net(num_classes: int, size: int = 112, frames: int = 8):
    """A backbone whose input depends on its options.

    Args:
        num_classes: Number of output classes.
        size: Input side.
        frames: Clip length.
    """


class _OptionBackbones:
    @vidzoo.hookimpl
    def register_backbones(self, register):
        def input_config(options):
            return vidzoo.InputConfig(crop_size=options["size"], frames=options["frames"], crop_pct=0.8,
                                      mean=(0.5, 0.5, 0.5))

        register("sized-net", _sized_net, "test", spec=vidzoo.ModelSpec(
            input=vidzoo.InputConfig(frames=8, crop_size=112, crop_pct=0.8, mean=(0.5, 0.5, 0.5)),
            input_config=input_config))


@pytest.fixture
def sized_net(monkeypatch):
    monkeypatch.setenv("VIDZOO_LOAD_PLUGINS", "")
    plugins.register(_OptionBackbones(), "sized-net")
    yield
    plugins._extra.clear()
    plugins.reset()


def test_input_config_sets_the_defaults_for_the_chosen_backbone_options(sized_net, demo_dir, tmp_path):
    base = ["--dataset", "kinetics", "--backbone", "sized-net", "--dataset.data_path", str(demo_dir)]
    t = _transform(base)  # crop_pct 0.8: eval short side crop / 0.8, train from that to 1.25x
    assert (t["crop_size"], t["num_frames"], t["eval_short_side"], t["min_short_side"], t["max_short_side"],
            tuple(t["mean"])) == (112, 8, 140, 140, 175, (0.5,) * 3)
    t = _transform(base + ["--backbone.size", "64", "--backbone.frames", "4"])
    assert (t["crop_size"], t["num_frames"], t["eval_short_side"], tuple(t["mean"])) == (64, 4, 80, (0.5,) * 3)
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("backbone: {size: 48}\ntransform: {num_frames: 2}\n")
    t = _transform(["--config", str(cfg_file)] + base + ["--transform.crop_size", "40"])
    assert (t["crop_size"], t["num_frames"], t["eval_short_side"]) == (40, 2, 60)  # files and flags win
    t = _transform(["--dataset", "kinetics", "--backbone", "sized-net", "--backbone.size", "64"])
    demo = demo_run_defaults({})["transform"]  # the demo sample's run_defaults win too
    assert (t["crop_size"], t["eval_short_side"]) == (demo["crop_size"], demo["eval_short_side"]) != (64, 80)
    assert vidzoo.resolve_input_config("sized-net", size=64, frames=4)["eval_short_side"] == 80
