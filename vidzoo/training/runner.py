"""One training run from a RunConfig: checks, objects from names, run directory, Trainer, fit, result.

`vidzoo run` (vidzoo/cli/commands/run.py) parses the command line into a RunConfig and calls
:func:`fit`; ``vidzoo.train(...)`` builds the same RunConfig from keyword sections
(vidzoo.training.run_config.from_sections). Names end here: the task and the data module get objects.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from vidzoo.errors import VidzooError
from vidzoo.training.run_config import FACTORY_SKIP, WEIGHT_OPTIONS, Ref, RunConfig


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


def make_run_dir(output: str, dataset: str, backbone: str, run_dir: Path | None = None) -> Path:
    """``run_dir`` when the caller chose it (--resume); the one the first process chose, for the DDP
    ranks Lightning's launcher starts (they run the command again: RUN_DIR_ENV); else a new one."""
    if run_dir is not None:
        return Path(run_dir)
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


def check(config: RunConfig) -> None:
    """Every run's pre-flight checks, `vidzoo run`'s and vidzoo.train's: one-line errors before anything is
    built or written."""
    from vidzoo.training import loggers, midepoch, optim

    for kind in ("dataset", "transform", "backbone"):
        ref = getattr(config, kind)
        if isinstance(ref, Ref):
            check_options(kind, ref.name, ref.options)
    config.data.check()
    optim.check(config.optimizer)
    midepoch.check(config.checkpoint)
    loggers.parse(config.trainer.get("logger"))
    skip_nonfinite = config.trainer.get("skip_nonfinite", 0)
    if not isinstance(skip_nonfinite, int) or skip_nonfinite < 0:
        raise VidzooError(f"--trainer.skip_nonfinite must be 0 or more, got {skip_nonfinite}")
    check_output(config.output)


def check_options(kind: str, name: str, options: dict) -> None:
    """A one-line error for options the registered factory does not take, listing those it does."""
    from vidzoo.plugins import get_registry

    params = inspect.signature(get_registry().get(kind, name).factory).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    unknown = sorted(set(options) - set(params) - (set(WEIGHT_OPTIONS) if kind == "backbone" else set()))
    if unknown:
        known = [p for p in params if p not in FACTORY_SKIP[kind]]
        raise VidzooError(f"{kind} {name!r} has no option(s) {', '.join(unknown)}; its options: "
                          f"{', '.join(known) or 'none'}")


def build(config: RunConfig, pretrained: bool = True, run_dir: Path | None = None):
    """(datamodule, task, pretrained-loading report or None) for a run config: names become objects here; validates data and model before
    anything is written. ``pretrained=False`` (resuming): no pretrained weights, the checkpoint's follow.
    ``run_dir``: the run's, whose bad-video log the datasets write to."""
    from vidzoo.data.bad_videos import LOG_NAME
    from vidzoo.models.builder import build_model
    from vidzoo.training.datamodule import VideoDataModule
    from vidzoo.training.task import VideoClassificationTask

    datasets = functools.partial(_dataset, config.dataset, config.transform)  # picklable (ddp_spawn)
    datamodule = VideoDataModule(datasets, config.data, seed=config.seed, name=config.dataset.name,
                                 bad_video_log=str(run_dir / LOG_NAME) if run_dir is not None else None)
    classes = datamodule.classes
    ref, weights = config.backbone, None
    if isinstance(ref, Ref):
        options = {**ref.options, **suggested_options(datamodule.dataset("train"), ref.name, ref.options)}
        weights = options.pop("pretrained", None)
        if options.get("sha256") is None or not pretrained:  # nothing to check (resuming loads no weights)
            options.pop("sha256", None)
        ref = {"name": ref.name, "options": options}
    built = build_model(ref, len(classes), pretrained=weights if pretrained else None)
    task = VideoClassificationTask(built.model, classes, built.recipe, built.classifier, config.optimizer,
                                   asdict(config.perf), config.to_dict(built.recipe))
    return datamodule, task, built.report


def suggested_options(dataset, backbone: str, given: dict) -> dict:
    """Backbone options a dataset knows better than the user (cached features: their size and the
    model that computed them, vidzoo.data.features): those the backbone's factory takes and the
    user left unset (None)."""
    from vidzoo.plugins import get_registry

    suggested = getattr(dataset, "backbone_options", None)
    if not isinstance(suggested, dict):
        return {}
    params = set(inspect.signature(get_registry().get("backbone", backbone).factory).parameters)
    return {k: v for k, v in suggested.items() if k in params and given.get(k) is None}


def _dataset(dataset: Ref, transform: Ref, split: str):
    from vidzoo.data.datamodule import build_dataset

    return build_dataset(dataset.name, dataset.options, split, transform.name, transform.options)


def make_trainer(config: RunConfig, run_dir: Path, pretrained_report=None):
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
    monitor = BadVideoMonitor(run_dir / bad_videos.LOG_NAME, config.data.max_bad_fraction)
    throughput = Throughput()
    trainer_args = dict(config.trainer)
    trainer_args.pop("skip_nonfinite", 0)  # vidzoo's, read by the task (training.nonfinite); check() checked it
    from vidzoo.training.elastic import strategy_with_timeout

    trainer_args["strategy"] = strategy_with_timeout(trainer_args.get("strategy", "auto"),
                                                     trainer_args.pop("peer_timeout_s", None))
    loggers = vidzoo_loggers.build(trainer_args.pop("logger", "csv"), run_dir)
    callbacks = [FiniteWeights(), checkpoint, last, ResumeState(), LoaderStates(), GracefulStop(run_dir), monitor,
                 throughput, PretrainedReport(run_dir, pretrained_report)]
    steps = midepoch.callback(run_dir / "checkpoints", **config.checkpoint)
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


def fit(config: RunConfig, resume_ckpt: Path | None = None, run_dir: Path | None = None) -> "TrainResult":
    """Run the training a run config describes (what `vidzoo run` and vidzoo.train do), after :func:`check`.

    ``resume_ckpt``/``run_dir``: go on from that checkpoint, in that run directory (--resume)."""
    import lightning.pytorch as pl

    from vidzoo.io import atomic_write_bytes
    from vidzoo.training.checkpoint import prepare_resume

    check(config)
    pl.seed_everything(config.seed, workers=True, verbose=False)
    # Resuming: the checkpoint's weights replace the pretrained ones, whose source may be gone.
    run_dir = make_run_dir(config.output, config.dataset.name, config.backbone_label, run_dir)
    datamodule, task, report = build(config, pretrained=not (resume_ckpt is not None and resume_ckpt.is_file()),
                                     run_dir=run_dir)
    trainer, checkpoint, monitor, throughput = make_trainer(config, run_dir, report)
    from vidzoo.training.elastic import init_restartable_process_group

    # Before the resume decision: the round it returns tells a restarted torchrun worker, whatever
    # its agent's restart count (an agent restarts a healthy worker without counting it).
    rendezvous_round = init_restartable_process_group(trainer.strategy)
    if resume_ckpt is None and (_restarted_job() or rendezvous_round > 1):
        # torchrun --max-restarts or a requeued SLURM job runs the same command again, in the same
        # run directory: it goes on from the newest checkpoint, as --resume would.
        from vidzoo.training.midepoch import newest_checkpoint

        resume_ckpt = newest_checkpoint(run_dir / "checkpoints")
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
            atomic_write_bytes(run_dir / "config.yaml", _dump(task.hparams.config).encode())
        except OSError as exc:
            if not had_config and not any(run_dir.iterdir()):
                run_dir.rmdir()  # a new run that could not start leaves no empty folder behind
            raise run_file_write_error(run_dir / "config.yaml", exc, run_dir, resumable=had_config) from None
    from vidzoo.training.preemption import RunStopped

    started = time.perf_counter()
    try:
        with _shared_run_dir(run_dir):
            trainer.fit(task, datamodule=datamodule, ckpt_path=str(resume_ckpt) if resume_ckpt else None)
    except RunStopped as stop:  # a signal: the checkpoint is written; the caller says where and how to go on
        stop.rank = trainer.global_rank
        raise
    except RuntimeError as exc:  # a collective failed: one line if another process of the job is gone
        from vidzoo.training.preemption import lost_peer_error

        lost = lost_peer_error(exc, run_dir, config.trainer.get("peer_timeout_s"))
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
                                 title=f"{config.dataset.name} / {config.backbone_label}",
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


def _dump(config: dict) -> str:
    import yaml

    return yaml.safe_dump(config, sort_keys=False)


@contextlib.contextmanager
def _shared_run_dir(run_dir: Path):
    """The run directory in RUN_DIR_ENV for the DDP ranks trainer.fit starts through Lightning's launcher
    (they run the command again and join this run), and only while it runs: a second run in this
    process gets its own."""
    before = os.environ.get(RUN_DIR_ENV)
    os.environ[RUN_DIR_ENV] = str(run_dir)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(RUN_DIR_ENV, None)
        else:
            os.environ[RUN_DIR_ENV] = before
