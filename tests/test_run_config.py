"""One run config for `vidzoo run` and vidzoo.train: the same checks, options that reach what uses them."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from conftest import TINY, run_cli
from vidzoo.errors import VidzooError

SMALL = dict(
    transform={"name": "kinetics", "num_frames": 4, "crop_size": 32, "min_short_side": 36, "max_short_side": 40,
               "eval_short_side": 36},
    data={"batch_size": 4, "num_workers": 0},
    trainer={"max_epochs": 1, "limit_train_batches": 2, "limit_val_batches": 2, "enable_progress_bar": False,
             "enable_model_summary": False},
)


class TinyNet(torch.nn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.num_classes = num_classes
        self.conv = torch.nn.Conv3d(3, 8, 3, padding=1)
        self.head = torch.nn.Linear(8, num_classes)

    def forward(self, video):
        return self.head(self.conv(video).mean((2, 3, 4)))


@pytest.mark.parametrize("flags, sections", [
    ([], {}),
    (["--dataset.data_path", "DEMO", "--transform.crop_size", "48", "--data.batch_size", "2",
      "--optimizer.name", "sgd", "--trainer.max_epochs", "3", "--seed", "7"],
     {"dataset": {"name": "kinetics", "data_path": "DEMO"}, "transform": {"name": "kinetics", "crop_size": 48},
      "data": {"batch_size": 2}, "optimizer": {"name": "sgd"}, "trainer": {"max_epochs": 3}, "seed": 7}),
])
def test_run_and_train_build_the_same_run_config(flags, sections, demo_dir, monkeypatch):
    """Every default layer (factory, backbone input, dataset run_defaults) and the caller's values, alike."""
    from vidzoo.cli.config import resolve
    from vidzoo.training.run_config import from_sections

    monkeypatch.setenv("VIDZOO_LOAD_PLUGINS", "")
    flags = [f.replace("DEMO", str(demo_dir)) for f in flags]
    sections = {k: ({**v, "data_path": str(demo_dir)} if k == "dataset" else v) for k, v in sections.items()}
    cli = resolve(["--dataset", "kinetics", "--backbone", "resnet3d50", *flags]).to_dict()
    api = from_sections(sections.pop("dataset", "kinetics"), "resnet3d50", sections.pop("transform", None),
                        **sections).to_dict()
    assert api == cli
    assert (cli["transform"]["crop_size"], cli["seed"]) == ((48, 7) if flags else (64, 0))  # flags, demo defaults


def test_a_mid_epoch_checkpoint_mistake_is_the_same_line_from_run_and_train(demo_dir, tmp_path, monkeypatch):
    import vidzoo

    expected = "--checkpoint.every_n_steps must be 0 (never) or more, got -3"
    cli = run_cli("run", "--dataset", "kinetics", "--backbone", "resnet3d50", "--dataset.data_path", str(demo_dir),
                  "--checkpoint.every_n_steps", "-3", "--output", str(tmp_path / "cli"), *TINY,
                  env={"VIDZOO_LOAD_PLUGINS": ""})
    assert cli.returncode == 2 and cli.stderr.strip().splitlines() == [f"vidzoo run: error: {expected}"]
    monkeypatch.setenv("VIDZOO_LOAD_PLUGINS", "")
    with pytest.raises(VidzooError) as info:
        vidzoo.train(dataset={"name": "kinetics", "data_path": str(demo_dir)}, backbone="resnet3d50",
                     checkpoint={"every_n_steps": -3}, output=str(tmp_path / "api"), **SMALL)
    assert str(info.value) == expected
    assert not (tmp_path / "cli").exists() and not (tmp_path / "api").exists()  # both before anything is written


def test_train_refuses_an_option_no_factory_or_section_takes(demo_dir, tmp_path):
    import vidzoo

    with pytest.raises(VidzooError, match="dataset 'kinetics' has no option\\(s\\) data_pth; its options: "):
        vidzoo.train(dataset={"name": "kinetics", "data_pth": str(demo_dir)}, backbone="resnet3d50",
                     output=str(tmp_path), **SMALL)
    with pytest.raises(VidzooError, match="unknown option data.batchsize; the data options: "):
        vidzoo.train(dataset="kinetics", backbone="resnet3d50", output=str(tmp_path),
                     **{**SMALL, "data": {"batchsize": 4}})
    assert not tmp_path.joinpath("runs").exists() and not any(tmp_path.iterdir())


@pytest.fixture(scope="module")
def litdata_demo(demo_dir, tmp_path_factory) -> Path:
    """The demo sample as a local litdata dataset."""
    from vidzoo.data.streaming import prepare_litdata
    from vidzoo.default_plugins.kinetics import read_split

    out = tmp_path_factory.mktemp("litdata") / "demo"
    for split in ("train", "val"):
        items, classes = read_split(demo_dir, split)
        lookup = {c: i for i, c in enumerate(sorted(classes))}
        prepare_litdata([(p, lookup[c]) for p, c in items], sorted(classes), str(out), split=split, num_workers=1)
    return out


def test_clips_per_video_on_a_dataset_that_is_not_a_clip_dataset_is_one_line(litdata_demo, tmp_path):
    result = run_cli("run", "--dataset", "litdata", "--backbone", "resnet3d50", "--dataset.data_path",
                     str(litdata_demo), "--dataset.cache_dir", str(tmp_path / "cache"), *TINY,
                     "--data.clips_per_video", "2", "--output", str(tmp_path / "runs"), env={"VIDZOO_LOAD_PLUGINS": ""})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert "--data.clips_per_video 2" in lines[0] and "'litdata'" in lines[0] and "StreamingClips" in lines[0]
    assert not (tmp_path / "runs").exists()


def test_own_module_trains_without_a_plugin_and_its_checkpoint_says_how_to_rebuild_it(demo_dir, tmp_path,
                                                                                      monkeypatch):
    import vidzoo

    monkeypatch.setenv("VIDZOO_LOAD_PLUGINS", "")
    before = vidzoo.list_models()
    dataset = vidzoo.create_dataset("kinetics", "train", data_path=str(demo_dir))
    result = vidzoo.train(dataset={"name": "kinetics", "data_path": str(demo_dir)},
                          backbone=TinyNet(len(dataset.classes)), output=str(tmp_path), **SMALL)
    assert vidzoo.list_models() == before  # no temporary registration
    assert result.run_dir.name.endswith("-kinetics-TinyNet")
    hp = torch.load(result.last_checkpoint, weights_only=True)["hyper_parameters"]
    assert hp["model"]["class_path"] == f"{TinyNet.__module__}.TinyNet" and "init_args" in hp["model"]
    assert hp["class_names"] == list(dataset.classes) and "classifier" in hp
    assert hp["config"]["backbone"] == hp["model"]  # config.yaml names the same recipe
    import yaml

    assert yaml.safe_load((result.run_dir / "config.yaml").read_text())["backbone"] == hp["model"]
