"""The callbacks of vidzoo's data path: ``LoaderStates`` (every rank's training-loader position in the
checkpoint, vidzoo.data.resumable) and ``BadVideoMonitor`` (bad videos reported once, counted, limited,
vidzoo.data.bad_videos). Their modules in vidzoo.data stay Lightning-free: DataLoader workers import them.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from lightning.fabric.utilities.data import _set_sampler_epoch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_warn

from vidzoo.data.bad_videos import DEFAULT_MAX_BAD_FRACTION, BadDataError, max_fraction_error, read_log
from vidzoo.data.resumable import STATE_KEY
from vidzoo.messages import warn


class LoaderStates(Callback):
    """Every rank's training-loader state into the checkpoint; each rank's own back on resume."""

    def on_save_checkpoint(self, trainer, pl_module, checkpoint) -> None:
        fit = checkpoint.get("loops", {}).get("fit_loop", {}).get("state_dict", {})
        states = fit.get("combined_loader")
        if states is None:
            return
        if _epoch_done(trainer):
            # All of this epoch's batches are done: the next epoch starts from its beginning.
            states = [{} for _ in states]
            fit["combined_loader"] = states
        if trainer.world_size > 1:
            gathered = [None] * trainer.world_size
            torch.distributed.all_gather_object(gathered, states)
            checkpoint[STATE_KEY] = gathered
        else:
            checkpoint[STATE_KEY] = [states]

    def on_load_checkpoint(self, trainer, pl_module, checkpoint) -> None:
        gathered = checkpoint.get(STATE_KEY)
        fit = checkpoint.get("loops", {}).get("fit_loop", {}).get("state_dict", {})
        if not gathered or "combined_loader" not in fit:
            return
        rank = trainer.global_rank
        if len(gathered) != trainer.world_size:
            rank_zero_warn(f"the checkpoint holds the data position of {len(gathered)} processes, this run has "
                           f"{trainer.world_size}: the interrupted epoch starts again from its beginning")
            fit["combined_loader"] = [{} for _ in fit["combined_loader"]]
            return
        fit["combined_loader"] = gathered[rank]

    def on_train_start(self, trainer, pl_module) -> None:
        # Lightning loads the loader states when it first builds the training loader, if it is
        # restarting by then. vidzoo's configure_optimizers asks for trainer.estimated_stepping_batches,
        # which builds the loader before the loops' state is restored, so Lightning's own load never
        # runs: load it here, before the first batch, and start the iterator again from that state.
        loop = trainer.fit_loop
        states = loop._combined_loader_states_to_load
        if not loop.restarting or not any(states) or loop._combined_loader is None:
            return
        for loader in loop._combined_loader.flattened:
            _set_sampler_epoch(loader, loop.epoch_progress.current.processed)
        loop._load_combined_loader_states()
        iter(loop._data_fetcher)


def _epoch_done(trainer) -> bool:
    loop = trainer.fit_loop.epoch_loop
    return loop.batch_progress.current.ready >= trainer.num_training_batches


class BadVideoMonitor(Callback):
    """Main-process side: prints each bad video once, counts them per epoch, applies the limit."""

    def __init__(self, log_path: str | os.PathLike, max_bad_fraction: float = DEFAULT_MAX_BAD_FRACTION):
        super().__init__()
        self.log_path = Path(log_path)
        self.max_bad_fraction = max_bad_fraction
        self.offset = 0
        self.bad: dict[str, dict[str, str]] = {}
        self.totals: dict[str, int] = {}
        self.at_last_summary = 0

    def count(self) -> int:
        return sum(len(v) for v in self.bad.values())

    def poll(self, trainer=None) -> None:
        entries, self.offset = read_log(self.log_path, self.offset)
        for e in entries:
            split, path = e.get("split", "?"), e["path"]
            self.totals[split] = int(e.get("total", 0)) or self.totals.get(split, 0)
            seen = self.bad.setdefault(split, {})
            if path in seen:
                continue
            seen[path] = e.get("reason", "")
            if trainer is None or trainer.is_global_zero:
                warn(f"vidzoo: warning: bad video replaced by another clip ({split}): {path}: {seen[path]}")

    def too_many(self) -> BadDataError | None:
        for split, bad in self.bad.items():
            total = self.totals.get(split, 0)
            if total and len(bad) > self.max_bad_fraction * total:
                return max_fraction_error(split, bad, total, self.max_bad_fraction)
        return None

    def _check(self, trainer) -> None:
        self.poll(trainer)
        error = self.too_many()
        # Every rank takes the same decision at the same point, so none waits for the others.
        if trainer.strategy.reduce_boolean_decision(error is not None, all=False):
            raise error or BadDataError(
                f"too many unreadable videos (found on another process; see {self.log_path}); "
                f"fix or remove them or raise --data.max_bad_fraction"
            )

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._check(trainer)

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self.poll(trainer)  # no collective here: ranks may have different numbers of val batches

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        self._check(trainer)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.poll(trainer)
        total = self.count()
        if total and trainer.is_global_zero:
            per_split = ", ".join(f"{s} {len(b)} of {self.totals.get(s, '?')}" for s, b in self.bad.items())
            warn(f"epoch {trainer.current_epoch}: {total} bad videos so far ({per_split}; "
                 f"{total - self.at_last_summary} new), each replaced by another clip; "
                 f"list: {self.log_path}")
        self.at_last_summary = total

    def summary(self) -> str:
        self.poll()
        if not self.count():
            return ""
        per_split = ", ".join(f"{s} {len(b)} of {self.totals.get(s, '?')}" for s, b in self.bad.items())
        return f"bad videos (replaced by other clips): {self.count()} ({per_split}); list: {self.log_path}"
