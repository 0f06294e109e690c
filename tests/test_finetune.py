"""Fine-tuning from pytorchvideo-format weights: new head, linear probe, timed unfreeze, backbone lr."""

from __future__ import annotations

import hashlib

import pytest
import torch

from conftest import TINY, run_cli

HEAD = ["blocks.5.proj.weight", "blocks.5.proj.bias"]


def _backbone_equal(model_state: dict, state: dict, prefix: str = "") -> list[str]:
    """Backbone keys whose values differ from the pytorchvideo file's."""
    return [k for k, v in state.items() if k not in HEAD and not k.endswith("num_batches_tracked")
            and not torch.equal(model_state[prefix + k], v)]


def test_timed_unfreeze_and_backbone_lr_in_real_training(slow_r50_zoo, demo_dir, capfd):
    import lightning.pytorch as pl

    from vidzoo.cli import config as config_mod
    from vidzoo.training.run_config import OWN_TRAINER_OPTIONS
    from vidzoo.training.runner import build

    path, state = slow_r50_zoo
    argv = ["--dataset", "kinetics", "--backbone", "resnet3d50", "--dataset.data_path", str(demo_dir),
            "--backbone.pretrained", str(path), "--optimizer.unfreeze_after_epochs", "1",
            "--optimizer.backbone_lr_mult", "0.1", *TINY, "--trainer.max_epochs", "2",
            "--trainer.limit_train_batches", "1", "--trainer.limit_val_batches", "1"]
    cfg = config_mod.resolve(argv)
    datamodule, task = build(cfg)
    err = capfd.readouterr().err
    assert "loaded 318/320 tensors; new head kept for 2 (blocks.5.proj.weight 400x2048->4x2048" in err
    assert task.head_and_backbone()[0] == HEAD
    assert not _backbone_equal(task.model.state_dict(), state)
    head0 = task.model.blocks[5].proj.weight.detach().clone()

    snaps = []

    class Snap(pl.Callback):
        def on_train_epoch_end(self, trainer, module):
            groups = {g["name"]: g["lr"] for g in trainer.optimizers[0].param_groups}
            snaps.append(({k: v.detach().clone() for k, v in module.model.state_dict().items()}, groups))

    lightning_args = {k: v for k, v in cfg.trainer.items() if k not in OWN_TRAINER_OPTIONS}
    trainer = pl.Trainer(**lightning_args, callbacks=[Snap()], logger=False, enable_checkpointing=False)
    trainer.fit(task, datamodule=datamodule)
    assert len(snaps) == 2
    after0, lrs = snaps[0]
    assert lrs == {"head": pytest.approx(1e-3), "backbone": pytest.approx(1e-4)}
    assert not _backbone_equal(after0, state)  # epoch 0: weights and BatchNorm statistics as loaded
    assert not torch.equal(after0["blocks.5.proj.weight"], head0)  # the head trained
    after1, _ = snaps[1]
    changed = _backbone_equal(after1, state)
    assert "blocks.0.conv.weight" in changed and "blocks.1.res_blocks.0.branch2.norm_a.running_mean" in changed
    assert "unfreezing the backbone (lr x 0.1)" in capfd.readouterr().err


def test_linear_probe_from_local_http_server_then_predict_without_it(slow_r50_zoo, zoo_server, demo_dir, tmp_path):
    path, state = slow_r50_zoo
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    base, _, _ = zoo_server
    url = f"{base}/{path.name}"
    result = run_cli("run", "--dataset", "kinetics", "--backbone", "resnet3d50", "--dataset.data_path",
                     str(demo_dir), "--output", str(tmp_path / "runs"), "--backbone.pretrained", url,
                     "--backbone.sha256", sha, "--optimizer.freeze_backbone", "true", *TINY,
                     env={"VIDZOO_LOAD_PLUGINS": "", "VIDZOO_CACHE": str(tmp_path / "cache")})
    assert result.returncode == 0, result.stderr[-3000:]
    summary = [line for line in result.stderr.splitlines() if line.startswith("pretrained weights from")]
    assert summary == [f"pretrained weights from {url}: loaded 318/320 tensors; new head kept for 2 "
                       f"(blocks.5.proj.weight 400x2048->4x2048, blocks.5.proj.bias 400->4); 0 missing; 0 unexpected"]
    assert len(list((tmp_path / "cache" / "weights").glob("*SLOW_8x8_R50.pyth"))) == 1
    (run_dir,) = (tmp_path / "runs").iterdir()
    import json

    full = json.loads((run_dir / "pretrained.json").read_text())  # the whole report beside the run
    assert full["head"] == HEAD and len(full["loaded"]) == 318 and full["sha256"] == sha and full["source"] == url
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert not _backbone_equal(ckpt["state_dict"], state, prefix="model.")  # frozen, BatchNorm too
    # Only the head was in the optimizer and got updates (Adam state for exactly two tensors).
    assert len(ckpt["optimizer_states"][0]["state"]) == 2
    hp = ckpt["hyper_parameters"]
    assert hp["config"]["backbone"]["pretrained"] == url  # the run's option, in its config
    assert hp["model"]["name"] == "resnet3d50" and "pretrained" not in hp["model"]["options"]  # rebuilt without
    assert hp["classifier"] == HEAD

    # The checkpoint has its own weights: predicting needs neither the server nor the cached file.
    path.rename(path.with_suffix(".moved"))
    for f in (tmp_path / "cache" / "weights").iterdir():
        f.unlink()
    try:
        pred = run_cli("predict", str(demo_dir / "val" / "grow" / "grow_000.mp4"), "--checkpoint",
                       str(run_dir / "checkpoints" / "last.ckpt"), "--json",
                       env={"VIDZOO_LOAD_PLUGINS": "", "VIDZOO_CACHE": str(tmp_path / "cache")})
        from vidzoo.training.task import VideoClassificationTask  # Lightning's loader too

        task = VideoClassificationTask.load_from_checkpoint(run_dir / "checkpoints" / "last.ckpt", map_location="cpu")
        assert torch.equal(task.model.state_dict()["blocks.5.proj.weight"], ckpt["state_dict"]["model.blocks.5.proj.weight"])
        # Resuming the run needs neither: the checkpoint's weights replace the pretrained ones.
        resumed = run_cli("run", "--resume", str(run_dir), "--trainer.max_epochs", "2",
                          env={"VIDZOO_LOAD_PLUGINS": "", "VIDZOO_CACHE": str(tmp_path / "cache")})
    finally:
        path.with_suffix(".moved").rename(path)
    assert pred.returncode == 0, pred.stderr[-3000:]
    assert "pretrained weights" not in pred.stderr
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "finished 2 epochs" in resumed.stdout and "pretrained weights" not in resumed.stderr


def test_option_checks():
    from vidzoo.training import optim
    from vidzoo.errors import VidzooError

    optim.check({"freeze_backbone": True})
    for bad, message in (({"freeze_backbone": True, "unfreeze_after_epochs": 2}, "use --optimizer.unfreeze_after_epochs"),
                         ({"backbone_lr_mult": -1}, "backbone_lr_mult"), ({"unfreeze_after_epochs": -1}, "0 or more")):
        with pytest.raises(VidzooError, match=message):
            optim.check(bad)
