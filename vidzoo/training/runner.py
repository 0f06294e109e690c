"""One training run from a resolved config: run directory, Trainer, fit, result.

`vidzoo run` (vidzoo/cli/commands/run.py) parses the command line into a config and calls
:func:`fit`; ``vidzoo.train(...)`` builds the same config from keyword sections.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from vidzoo.errors import VidzooError


@dataclass
class TrainResult:
    """What a run left: its directory, checkpoints and the final metrics (``val/top1``, ...)."""

    run_dir: Path
    best_checkpoint: Path | None
    last_checkpoint: Path | None
    metrics: dict[str, float]
    epochs: int = 0
    notes: list[str] = field(default_factory=list)  # throughput and bad-video summaries
    rank: int = 0
    seconds: float = 0.0  # wall time of trainer.fit (validation included)
    curves: Path | None = None  # curves.png: loss and top-1 per epoch (rank 0)


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


def build(cfg, load_pretrained: bool = True):
    """(datamodule, task) for a resolved config; validates data and model before anything is written.

    ``load_pretrained=False`` (resuming): the backbone's pretrained option is off, the checkpoint's weights follow."""
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
        load_pretrained=load_pretrained,
    )
    return datamodule, task


def _options(section: dict) -> dict:
    return {k: v for k, v in section.items() if k != "name"}


def make_trainer(cfg, run_dir: Path):
    """The Trainer, with vidzoo's checkpointing, resume state, bad-video monitor and logger.

    Nothing is written here: invalid trainer options fail before the run directory exists.
    """
    import lightning.pytorch as pl
    from lightning.fabric.utilities.exceptions import MisconfigurationException
    from lightning.pytorch.callbacks import ModelCheckpoint

    from vidzoo.data import bad_videos
    from vidzoo.training import loggers as vidzoo_loggers
    from vidzoo.training import midepoch
    from vidzoo.training.callbacks import ModelSummaryWithoutFlops, PretrainedReport
    from vidzoo.training.checkpoint_io import AtomicCheckpointIO, ResumeState
    from vidzoo.training.data_callbacks import BadVideoMonitor, LoaderStates
    from vidzoo.training.graceful_stop import GracefulStop
    from vidzoo.training.nonfinite import FiniteWeights
    from vidzoo.training.throughput import Throughput

    checkpoint = ModelCheckpoint(dirpath=run_dir / "checkpoints", filename="best", monitor="val/top1", mode="max")
    # last.ckpt after every epoch. Not save_last=True: since Lightning 2.6 that writes last.ckpt only
    # in epochs that also wrote a top-k checkpoint, so a killed run would resume from an old epoch.
    last = ModelCheckpoint(dirpath=run_dir / "checkpoints", filename="last", monitor=None, save_top_k=1,
                           every_n_epochs=1, enable_version_counter=False)
    monitor = BadVideoMonitor(run_dir / bad_videos.LOG_NAME, cfg.data.max_bad_fraction)
    throughput = Throughput()
    trainer_args = cfg.trainer.as_dict()
    skip_nonfinite = trainer_args.pop("skip_nonfinite", 0)  # vidzoo's, read by the task (training.nonfinite)
    if skip_nonfinite < 0:
        raise VidzooError(f"--trainer.skip_nonfinite must be 0 or more, got {skip_nonfinite}")
    from vidzoo.training.elastic import strategy_with_timeout

    trainer_args["strategy"] = strategy_with_timeout(trainer_args.get("strategy", "auto"),
                                                     trainer_args.pop("peer_timeout_s", None))
    loggers = vidzoo_loggers.build(trainer_args.pop("logger", "csv"), run_dir)
    callbacks = [FiniteWeights(), checkpoint, last, ResumeState(), LoaderStates(), GracefulStop(run_dir), monitor,
                 throughput, PretrainedReport(run_dir)]
    steps = midepoch.callback(run_dir / "checkpoints", **cfg.checkpoint.as_dict())
    if steps is not None:
        callbacks.append(steps)
    if trainer_args.get("enable_model_summary", True) is not False:
        callbacks.append(ModelSummaryWithoutFlops())
    try:
        trainer = pl.Trainer(**trainer_args, default_root_dir=str(run_dir),
                             callbacks=callbacks, plugins=[AtomicCheckpointIO()], logger=loggers)
    except (MisconfigurationException, ValueError, TypeError) as exc:
        from vidzoo.messages import one_line

        raise VidzooError(f"invalid --trainer options: {one_line(exc)}") from None
    return trainer, checkpoint, monitor, throughput


def fit(cfg, resume_ckpt: Path | None = None) -> "TrainResult":
    """Run the training a resolved config describes (what `vidzoo run` and vidzoo.train do)."""
    import lightning.pytorch as pl

    from vidzoo.data import bad_videos
    from vidzoo.io import atomic_write_bytes
    from vidzoo.training.checkpoint import prepare_resume

    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    # Resuming: the checkpoint's weights replace the pretrained ones, whose source may be gone.
    datamodule, task = build(cfg, load_pretrained=not (resume_ckpt is not None and resume_ckpt.is_file()))
    run_dir = make_run_dir(cfg.output, cfg.dataset.name, cfg.backbone.name)
    trainer, checkpoint, monitor, throughput = make_trainer(cfg, run_dir)
    from vidzoo.training.elastic import init_restartable_process_group

    # Before the resume decision: the round it returns tells a restarted torchrun worker, whatever
    # its agent's restart count (an agent restarts a healthy worker without counting it).
    rendezvous_round = init_restartable_process_group(trainer.strategy)
    if resume_ckpt is None and (_restarted_job() or rendezvous_round > 1):
        # torchrun --max-restarts or a requeued SLURM job runs the same command again, in the same
        # run directory: it goes on from the newest checkpoint, as --resume would.
        from vidzoo.training.midepoch import newest_checkpoint

        resume_ckpt = newest_checkpoint(run_dir / "checkpoints")
    os.environ[RUN_DIR_ENV] = str(run_dir)
    os.environ[bad_videos.LOG_ENV] = str(run_dir / bad_videos.LOG_NAME)  # DataLoader workers and DDP ranks report here
    resuming = resume_ckpt is not None
    from vidzoo.training.checkpoint import run_file_write_error

    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise run_file_write_error(run_dir, exc, run_dir, resumable=False) from None
    if resuming and not resume_ckpt.is_file():
        resume_ckpt = None  # killed before its first checkpoint: start again in the same run directory
    if trainer.global_rank == 0:
        if resuming:
            # Drop what the checkpoint does not hold: stale temporaries, log rows of later epochs.
            epoch = prepare_resume(run_dir, resume_ckpt)
            where = _resume_point(resume_ckpt, epoch) if resume_ckpt else "the start (no checkpoint yet)"
            from vidzoo.messages import say

            say(f"resuming {run_dir} from {where}")
        had_config = (run_dir / "config.yaml").is_file()
        try:
            atomic_write_bytes(run_dir / "config.yaml", _dump(cfg).encode())
        except OSError as exc:
            if not had_config and not any(run_dir.iterdir()):
                run_dir.rmdir()  # a new run that could not start leaves no empty folder behind
            raise run_file_write_error(run_dir / "config.yaml", exc, run_dir, resumable=had_config) from None
    from vidzoo.training.preemption import RunStopped

    started = time.perf_counter()
    try:
        trainer.fit(task, datamodule=datamodule, ckpt_path=str(resume_ckpt) if resume_ckpt else None)
    except RunStopped as stop:  # a signal: the checkpoint is written; the caller says where and how to go on
        stop.rank = trainer.global_rank
        raise
    except RuntimeError as exc:  # a collective failed: one line if another process of the job is gone
        from vidzoo.training.preemption import lost_peer_error

        lost = lost_peer_error(exc, run_dir, cfg.trainer.as_dict().get("peer_timeout_s"))
        if lost is None:
            raise
        raise lost from None
    seconds = time.perf_counter() - started
    skipped = getattr(task, "nonfinite_skipped", 0)
    curves = None
    if trainer.global_rank == 0:  # from metrics.csv: every epoch of the run, also the ones before a resume
        from vidzoo.training.curves import plot_curves
        from vidzoo.training.run_summary import read_epochs

        try:
            curves = plot_curves(read_epochs(run_dir / "logs" / "metrics.csv"), run_dir / "curves.png",
                                 title=f"{cfg.dataset.name} / {cfg.backbone.name}",
                                 chance=1 / max(1, len(task.class_names)))
        except OSError as exc:  # the training is kept; --resume of a finished run draws it again
            raise run_file_write_error(run_dir / "curves.png", exc, run_dir) from None
    last_path = run_dir / "checkpoints" / "last.ckpt"
    return TrainResult(
        run_dir=run_dir,
        best_checkpoint=Path(checkpoint.best_model_path) if checkpoint.best_model_path else None,
        last_checkpoint=last_path if last_path.is_file() else None,
        metrics={k: float(v) for k, v in trainer.callback_metrics.items()},
        epochs=trainer.current_epoch,
        notes=[line for line in (throughput.summary(), monitor.summary(),
                                 f"non-finite training steps skipped: {skipped}" if skipped else "") if line],
        rank=trainer.global_rank,
        seconds=seconds,
        curves=curves,
    )


def _restarted_job() -> bool:
    """A launcher job started again (torchrun's restarts, SLURM's requeue), not its first start."""
    counts = (os.environ.get("TORCHELASTIC_RESTART_COUNT"), os.environ.get("SLURM_RESTART_COUNT"))
    if not any(int(c or 0) > 0 for c in counts):
        return False
    try:
        return _launcher_job_id() is not None
    except VidzooError:  # no shared job id: make_run_dir has said so already, or VIDZOO_RUN_DIR names the run
        return RUN_DIR_ENV in os.environ


def _resume_point(ckpt: Path, epoch: int) -> str:
    from vidzoo.io import safe_load
    from vidzoo.training.midepoch import STEP_PREFIX

    if ckpt.name.startswith(STEP_PREFIX):  # mid-epoch: the loader continues at the next batch
        return f"{ckpt} (epoch {epoch}, step {int(safe_load(ckpt, mmap=True)['global_step'])})"
    return f"{ckpt} (after epoch {epoch})"


def _dump(cfg) -> str:
    import yaml

    return yaml.safe_dump(cfg.as_dict(), sort_keys=False)
