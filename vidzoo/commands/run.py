"""vidzoo run: train and validate a model assembled from registry names."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from vidzoo.errors import VidzooError

DESCRIPTION = """Train and validate: dataset, transform and backbone by registry name, their options
as --dataset.<opt>, --transform.<opt>, --backbone.<opt>; Lightning Trainer options as
--trainer.<arg>. Config files (--config) take the same keys; --print-config prints the
resolved config, which --config accepts back. Add --dataset NAME --backbone NAME before
--help to see the options of those plugins."""

EPILOG = """examples:
  vidzoo run --dataset kinetics --backbone resnet3d50
  vidzoo run --dataset kinetics --backbone resnet3d50 --dataset.data_path /data/k400 \\
      --trainer.accelerator gpu --trainer.devices 8 --trainer.strategy ddp --trainer.precision 16-mixed
  vidzoo run --dataset kinetics --backbone resnet3d50 --print-config > run.yaml
  vidzoo run --config run.yaml --trainer.max_epochs 2
"""

RUN_DIR_ENV = "VIDZOO_RUN_DIR"  # shared with the processes Lightning's DDP launcher starts


def make_run_dir(output: str, dataset: str, backbone: str) -> Path:
    if RUN_DIR_ENV in os.environ:
        return Path(os.environ[RUN_DIR_ENV])
    out = Path(output)
    if out.exists() and not out.is_dir():
        raise VidzooError(f"--output {out} is a file, not a folder; choose another --output")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = out / f"{stamp}-{dataset}-{backbone}"
    n = 1
    while run_dir.exists():
        n += 1
        run_dir = out / f"{stamp}-{dataset}-{backbone}-{n}"
    return run_dir


def check_output(output: str) -> None:
    out = Path(output)
    if out.exists() and not out.is_dir():
        raise VidzooError(f"--output {out} is a file, not a folder; choose another --output")
    parent = next((p for p in [out, *out.parents] if p.exists()), Path("."))
    if not os.access(parent, os.W_OK):
        raise VidzooError(f"--output {out} is not writable; choose another --output")


def build(cfg):
    """(datamodule, task) for a resolved config; validates data and model before anything is written."""
    from vidzoo.datamodule import VideoDataModule
    from vidzoo.task import VideoClassificationTask

    d = cfg.as_dict()
    datamodule = VideoDataModule(
        d["dataset"]["name"], _options(d["dataset"]), d["transform"]["name"], _options(d["transform"]),
        **d["data"],
    )
    classes = datamodule.classes
    task = VideoClassificationTask(
        d["backbone"]["name"], classes, backbone_options=_options(d["backbone"]), optimizer=d["optimizer"], config=d,
    )
    return datamodule, task


def _options(section: dict) -> dict:
    return {k: v for k, v in section.items() if k != "name"}


def main(argv: list[str]) -> int:
    from vidzoo import config as config_mod

    print_config = "--print-config" in argv
    argv = [a for a in argv if a != "--print-config"]
    parser, cfg = config_mod.resolve(argv, DESCRIPTION, EPILOG)
    if print_config:
        print(parser.dump(cfg, skip_none=False), end="")
        return 0
    from vidzoo import optim

    optim.check(cfg.optimizer.as_dict())
    check_output(cfg.output)
    return train(cfg)


def train(cfg) -> int:
    import lightning.pytorch as pl
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger

    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule, task = build(cfg)
    run_dir = make_run_dir(cfg.output, cfg.dataset.name, cfg.backbone.name)
    os.environ[RUN_DIR_ENV] = str(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(_dump(cfg))
    checkpoint = ModelCheckpoint(dirpath=run_dir / "checkpoints", filename="best", monitor="val/top1", mode="max",
                                 save_last=True)
    trainer_args = cfg.trainer.as_dict()
    trainer = pl.Trainer(**trainer_args, default_root_dir=str(run_dir), callbacks=[checkpoint],
                         logger=CSVLogger(str(run_dir), name="", version="logs"))
    trainer.fit(task, datamodule=datamodule)
    if trainer.global_rank == 0:
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
        summary = ", ".join(f"{k} {metrics[k]:.4f}" for k in ("val/top1", "val/top5", "val/loss") if k in metrics)
        print(f"\nfinished {trainer.current_epoch} epochs: {summary}")
        print(f"best checkpoint: {checkpoint.best_model_path or '(none)'}")
        print(f"run directory: {run_dir}")
    return 0


def _dump(cfg) -> str:
    import yaml

    return yaml.safe_dump(cfg.as_dict(), sort_keys=False)
