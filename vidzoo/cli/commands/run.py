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
--help to see the options of those plugins. --resume [RUN_DIR | CKPT] continues a killed
or finished run (the latest under --output when no path is given) from its last checkpoint,
with its config.yaml; flags given with it override that config."""

EPILOG = """examples:
  vidzoo run --dataset kinetics --backbone resnet3d50
  vidzoo run --dataset kinetics --backbone resnet3d50 --dataset.data_path /data/k400 \\
      --trainer.accelerator gpu --trainer.devices 8 --trainer.strategy ddp --trainer.precision 16-mixed
  vidzoo run --dataset kinetics --backbone resnet3d50 --print-config > run.yaml
  vidzoo run --config run.yaml --trainer.max_epochs 2
  vidzoo run --resume                                   # the latest run under ./runs, from last.ckpt
  vidzoo run --resume runs/20260101-120000-kinetics-resnet3d50 --trainer.max_epochs 20
"""

RUN_DIR_ENV = "VIDZOO_RUN_DIR"  # shared with the processes Lightning's DDP launcher starts


def make_run_dir(output: str, dataset: str, backbone: str) -> Path:
    if RUN_DIR_ENV in os.environ:
        return Path(os.environ[RUN_DIR_ENV])
    out = Path(output)  # main() has checked it with check_output()
    job = _launcher_job_id()
    if job is not None:  # torchrun / srun started every rank: all must pick the same folder, without talking
        return out / f"{job}-{dataset}-{backbone}"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = out / f"{stamp}-{dataset}-{backbone}"
    n = 1
    while run_dir.exists():
        n += 1
        run_dir = out / f"{stamp}-{dataset}-{backbone}-{n}"
    return run_dir


def _launcher_job_id() -> str | None:
    """A name all ranks of a torchrun or SLURM launch share (None for one process or Lightning's own launcher)."""
    if int(os.environ.get("WORLD_SIZE", os.environ.get("SLURM_NTASKS", "1")) or 1) <= 1:
        return None
    if "SLURM_JOB_ID" in os.environ and "SLURM_PROCID" in os.environ:
        return f"slurm-{os.environ['SLURM_JOB_ID']}.{os.environ.get('SLURM_STEP_ID', '0')}"
    run_id = os.environ.get("TORCHELASTIC_RUN_ID", "none")
    if run_id != "none":
        return f"torchrun-{run_id}"
    raise VidzooError(f"this is one of several processes started by a launcher, and they need one run directory: "
                      f"set {RUN_DIR_ENV}=RUN_DIR for all of them (or torchrun --rdzv-id ID)")


def check_output(output: str) -> None:
    out = Path(output)
    if out.exists() and not out.is_dir():
        raise VidzooError(f"--output {out} is a file, not a folder; choose another --output")
    parent = next((p for p in [out, *out.parents] if p.exists()), Path("."))
    if not os.access(parent, os.W_OK):
        raise VidzooError(f"--output {out} is not writable; choose another --output")


def build(cfg):
    """(datamodule, task) for a resolved config; validates data and model before anything is written."""
    from vidzoo.data.datamodule import VideoDataModule
    from vidzoo.training.task import VideoClassificationTask

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
    from vidzoo.training import config as config_mod

    print_config = "--print-config" in argv
    argv = [a for a in argv if a != "--print-config"]
    argv, resume_ckpt = _resume(argv)
    parser, cfg = config_mod.resolve(argv, DESCRIPTION, EPILOG)
    if print_config:
        print(parser.dump(cfg, skip_unset=False), end="")
        return 0
    from vidzoo.training import optim

    optim.check(cfg.optimizer.as_dict())
    check_output(cfg.output)
    return train(cfg, resume_ckpt)


def _resume(argv: list[str]) -> tuple[list[str], Path | None]:
    """Handle ``--resume [RUN_DIR | CKPT]``: the run's config.yaml goes first (flags still override)."""
    from vidzoo.training import checkpoint as ckpt_mod

    rest, resume = [], None
    i = 0
    while i < len(argv):
        key, eq, value = argv[i].partition("=")
        if key == "--resume":
            if not eq and i + 1 < len(argv) and not argv[i + 1].startswith("--"):
                value = argv[i + 1]
                i += 1
            resume = value
        else:
            rest.append(argv[i])
        i += 1
    if resume is None:
        return argv, None
    output = next((rest[j + 1] for j, a in enumerate(rest[:-1]) if a == "--output"), None)
    output = output or next((a.split("=", 1)[1] for a in rest if a.startswith("--output=")), "runs")
    shared = os.environ.get(RUN_DIR_ENV)  # a DDP child process: the parent already chose the run
    if shared and not Path(resume).is_file():
        resume = shared
    run_dir, ckpt = ckpt_mod.find_resume(resume, output)
    ckpt_mod.checkpoint_epoch(ckpt)  # refuses an unsafe or damaged file before anything else
    os.environ[RUN_DIR_ENV] = str(run_dir)
    return ["--config", str(run_dir / "config.yaml"), *rest], (ckpt or run_dir / "checkpoints" / "last.ckpt")


def make_trainer(cfg, run_dir: Path):
    """The Trainer, with vidzoo's checkpointing, resume state, bad-video monitor and logger.

    Nothing is written here: invalid trainer options fail before the run directory exists.
    """
    import lightning.pytorch as pl
    from lightning.fabric.utilities.exceptions import MisconfigurationException
    from lightning.pytorch.callbacks import ModelCheckpoint

    from vidzoo.data import bad_videos
    from vidzoo.training.checkpoint import AtomicCheckpointIO, ResumableCSVLogger, ResumeState
    from vidzoo.training.throughput import Throughput

    checkpoint = ModelCheckpoint(dirpath=run_dir / "checkpoints", filename="best", monitor="val/top1", mode="max")
    # last.ckpt after every epoch. Not save_last=True: since Lightning 2.6 that writes last.ckpt only
    # in epochs that also wrote a top-k checkpoint, so a killed run would resume from an old epoch.
    last = ModelCheckpoint(dirpath=run_dir / "checkpoints", filename="last", monitor=None, save_top_k=1,
                           every_n_epochs=1, enable_version_counter=False)
    monitor = bad_videos.BadVideoMonitor(run_dir / bad_videos.LOG_NAME, cfg.data.max_bad_fraction)
    throughput = Throughput()
    trainer_args = cfg.trainer.as_dict()
    callbacks = [checkpoint, last, ResumeState(), monitor, throughput]
    try:
        trainer = pl.Trainer(**trainer_args, default_root_dir=str(run_dir),
                             callbacks=callbacks, plugins=[AtomicCheckpointIO()],
                             logger=ResumableCSVLogger(str(run_dir), name="", version="logs"))
    except (MisconfigurationException, ValueError, TypeError) as exc:
        from vidzoo.training.config import one_line

        raise VidzooError(f"invalid --trainer options: {one_line(exc)}") from None
    return trainer, checkpoint, monitor, throughput


def train(cfg, resume_ckpt: Path | None = None) -> int:
    import lightning.pytorch as pl

    from vidzoo.data import bad_videos
    from vidzoo.training.checkpoint import atomic_write_bytes, prepare_resume

    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    from contextlib import nullcontext

    from vidzoo.models.weights import skip_pretrained

    # Resuming: the checkpoint's weights replace the pretrained ones, whose source may be gone.
    with skip_pretrained() if resume_ckpt is not None and resume_ckpt.is_file() else nullcontext():
        datamodule, task = build(cfg)
    run_dir = make_run_dir(cfg.output, cfg.dataset.name, cfg.backbone.name)
    trainer, checkpoint, monitor, throughput = make_trainer(cfg, run_dir)
    os.environ[RUN_DIR_ENV] = str(run_dir)
    os.environ[bad_videos.LOG_ENV] = str(run_dir / bad_videos.LOG_NAME)  # DataLoader workers and DDP ranks report here
    run_dir.mkdir(parents=True, exist_ok=True)
    resuming = resume_ckpt is not None
    if resuming and not resume_ckpt.is_file():
        resume_ckpt = None  # killed before its first checkpoint: start again in the same run directory
    if trainer.global_rank == 0:
        if resuming:
            # Drop what the checkpoint does not hold: stale temporaries, log rows of later epochs.
            epoch = prepare_resume(run_dir, resume_ckpt)
            where = f"{resume_ckpt} (after epoch {epoch})" if resume_ckpt else "the start (no checkpoint yet)"
            print(f"resuming {run_dir} from {where}", file=sys.stderr, flush=True)
        atomic_write_bytes(run_dir / "config.yaml", _dump(cfg).encode())
    trainer.fit(task, datamodule=datamodule, ckpt_path=str(resume_ckpt) if resume_ckpt else None)
    if trainer.global_rank == 0:
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
        summary = ", ".join(f"{k} {metrics[k]:.4f}" for k in ("val/top1", "val/top5", "val/loss") if k in metrics)
        print(f"\nfinished {trainer.current_epoch} epochs: {summary}")
        for line in (throughput.summary(), monitor.summary()):
            if line:
                print(line)
        print(f"best checkpoint: {checkpoint.best_model_path or '(none)'}")
        print(f"run directory: {run_dir}")
    return 0


def _dump(cfg) -> str:
    import yaml

    return yaml.safe_dump(cfg.as_dict(), sort_keys=False)
