"""GracefulStop: the callback that turns Ctrl-C, SIGTERM and SIGUSR1 into a checkpoint and a clean
exit (what and why: vidzoo.training.preemption, which keeps the Lightning-free parts)."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

import torch
from lightning.pytorch.callbacks import Callback

from vidzoo.training.midepoch import STEP_PREFIX, newest_checkpoint
from vidzoo.training.preemption import SIGNALS, RunStopped, requeue_slurm_job, resume_command


class GracefulStop(Callback):
    """Turns SIGINT/SIGTERM/SIGUSR1 into a checkpoint at the next step end and a clean exit."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.requested: int | None = None
        self._previous: dict[int, object] = {}

    def _handler(self, signum, frame) -> None:
        if self.requested is not None and signum == signal.SIGINT:
            newest = newest_checkpoint(self.run_dir / "checkpoints")
            kept = f"the last checkpoint is kept: {newest}" if newest else "no checkpoint was written yet"
            # print, not logging: a signal handler must not wait on a lock the interrupted code holds
            print(f"vidzoo run: stopped at once (second Ctrl-C); {kept}; continue with: "
                  f"{resume_command(self.run_dir)}", file=sys.stderr, flush=True)
            os._exit(128 + signal.SIGINT)
        if self.requested is None:
            self.requested = signum

    def on_train_start(self, trainer, pl_module) -> None:
        # After Lightning's own signal connector has registered its handlers: ours replace them.
        if not _main_thread():
            return
        for signum in SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handler)

    def teardown(self, trainer, pl_module, stage) -> None:
        for signum, handler in self._previous.items():
            if handler is not None:
                signal.signal(signum, handler)
        self._previous = {}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        local = self.requested is not None
        if trainer.world_size > 1:
            flag = torch.tensor([self.requested or 0], device=trainer.strategy.root_device)
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
            signum = int(flag.item())
        else:
            signum = self.requested or 0
        if not signum and not local:
            return
        self.requested = signum
        path = self.run_dir / "checkpoints" / f"{STEP_PREFIX}{trainer.global_step:08d}.ckpt"
        trainer.save_checkpoint(path)  # every rank: the loader states are gathered into it
        what = SIGNALS.get(signal.Signals(signum), f"signal {signum}")
        extra = ""
        if signum == signal.SIGUSR1 and "SLURM_JOB_ID" in os.environ and trainer.is_global_zero:
            extra = f"; {requeue_slurm_job()}"
        _log_this_step(trainer)
        epoch = trainer.current_epoch
        raise RunStopped(f"vidzoo run: stopped by {what} at epoch {epoch}, step {trainer.global_step}; "
                         f"checkpoint {path}{extra}; continue with: {resume_command(self.run_dir)}",
                         128 + signum)


def _log_this_step(trainer) -> None:
    # Lightning logs a step's metrics just after on_train_batch_end; the stop comes first, and the
    # resumed run does not repeat the step, so its row is written now (each step logged once).
    try:
        trainer._logger_connector.update_train_step_metrics()
        for logger in trainer.loggers:
            logger.save()
    except Exception:  # a missing row is not worth failing the stop over
        pass


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()
