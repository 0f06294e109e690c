"""The generic task and data module: optimizers and schedules, known epoch length, class checks."""

from __future__ import annotations

import math
import shutil

import pytest
import torch

from vidzoo.data.datamodule import DataOptions, build_dataset
from vidzoo.training import optim
from vidzoo.training.datamodule import VideoDataModule
from vidzoo.training.run_config import default_transform
from vidzoo.errors import PluginError, VidzooError


def _lrs(options, total=100, per_epoch=10.0):
    params = [torch.nn.Parameter(torch.zeros(1))]
    out = optim.build(params, options, total, per_epoch)
    opt, sched = out["optimizer"], out["lr_scheduler"]["scheduler"]
    lrs = []
    for _ in range(total):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return opt, lrs


def test_default_optimizer_is_the_seeds_adam():
    opt = optim.build([torch.nn.Parameter(torch.zeros(1))], {}, 10, 1.0)
    assert isinstance(opt, torch.optim.Adam) and opt.param_groups[0]["lr"] == 1e-3


def test_sgd_with_cosine_and_warmup():
    opt, lrs = _lrs({"name": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4, "scheduler": "cosine",
                     "warmup_epochs": 2, "min_lr": 0.001})
    assert isinstance(opt, torch.optim.SGD) and opt.param_groups[0]["momentum"] == 0.9
    assert opt.param_groups[0]["weight_decay"] == 1e-4
    assert lrs[0] == pytest.approx(0.1 / 20)  # warm-up over 2 epochs of 10 steps
    assert lrs[19] == pytest.approx(0.1)  # peak at the end of warm-up
    assert all(a >= b for a, b in zip(lrs[20:], lrs[21:]))  # then only down
    assert lrs[-1] == pytest.approx(0.001 + (0.1 - 0.001) * 0.5 * (1 + math.cos(math.pi * 79 / 80)))


def test_loaders_have_a_known_length(demo_dir):
    small = {"num_frames": 4, "crop_size": 32, "min_short_side": 36, "max_short_side": 40, "eval_short_side": 36}
    assert default_transform("kinetics") == "kinetics"  # the dataset's preset
    dm = VideoDataModule(lambda split: build_dataset("kinetics", {"data_path": str(demo_dir)}, split, "kinetics", small),
                         DataOptions(batch_size=5, num_workers=0))
    assert len(dm.train_dataloader()) == math.ceil(24 / 5)
    assert len(dm.val_dataloader()) == math.ceil(8 / 5)
    batch = next(iter(dm.train_dataloader()))
    assert batch["video"].shape == (5, 3, 4, 32, 32) and batch["label"].shape == (5,)


def test_train_and_val_with_different_classes_is_a_clear_error(demo_dir, tmp_path):
    shutil.copytree(demo_dir, tmp_path / "d")
    shutil.rmtree(tmp_path / "d" / "val" / "shrink")
    dm = VideoDataModule(lambda split: build_dataset("kinetics", {"data_path": str(tmp_path / "d")}, split,
                                                     "kinetics", {}),
                         DataOptions(batch_size=2, num_workers=0), name="kinetics")
    with pytest.raises(VidzooError, match="different classes.*only in train: \\['shrink'\\]"):
        dm.classes


def test_task_checks_the_backbone_contract_on_the_first_batch():
    import vidzoo
    from vidzoo import plugins
    from vidzoo.models.builder import build_model
    from vidzoo.training.task import VideoClassificationTask

    class BadBackbones:
        @vidzoo.hookimpl
        def register_backbones(self, register):
            register("wrong-shape", lambda num_classes: torch.nn.Flatten())

    plugins.register(BadBackbones(), "bad-backbones")
    try:
        built = build_model("wrong-shape", 3)
        task = VideoClassificationTask(built.model, ["a", "b", "c"], built.recipe, built.classifier)
        batch = {"video": torch.zeros(2, 3, 2, 4, 4), "label": torch.tensor([0, 1])}
        with pytest.raises(PluginError, match="wrong-shape.*backbone contract.*shape \\(2, 96\\), expected \\(2, 3\\)"):
            task._step(batch, "val")
    finally:
        plugins.unregister("bad-backbones")
