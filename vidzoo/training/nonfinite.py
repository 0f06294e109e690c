"""Numerical faults: a non-finite training loss, and checkpoints that would hold NaN weights.

- Each training step checks its loss before the backward pass (one scalar read; under DDP a
  MIN all-reduce of it, so every rank decides the same). A NaN or infinite loss stops the run
  with one line naming the epoch, the step and the last good checkpoint, before the optimizer
  touches the weights. With ``--trainer.skip_nonfinite N`` up to N such steps (counted per
  process run) are skipped instead (no backward, no optimizer step: the training step returns
  None, Lightning's way of skipping a step), each reported in one line, and the total in the
  summary; the (N+1)-th stops the run.
- No checkpoint with non-finite weights is written (``FiniteWeights``): best.ckpt, last.ckpt and
  the mid-epoch ones keep the last finite weights, and the run stops with one line.
"""

from __future__ import annotations

from pathlib import Path

import torch
from lightning.pytorch.callbacks import Callback

from vidzoo.errors import VidzooError


class NonFiniteError(VidzooError):
    """A non-finite loss or weights: the run stops (exit 2, one line)."""


def _last_good(run_dir) -> str:
    """What is kept, for the trainer's run directory (its default_root_dir)."""
    from vidzoo.training.midepoch import newest_checkpoint

    newest = newest_checkpoint(Path(run_dir) / "checkpoints") if run_dir else None
    if newest is None:
        return "no checkpoint was written yet"
    return f"the last good checkpoint is {newest} (`vidzoo run --resume {newest}` continues from it)"


def loss_is_finite(task, loss: torch.Tensor) -> bool:
    """True: train on. False: skip this step (within --trainer.skip_nonfinite). Raises past it."""
    finite = torch.isfinite(loss.detach()).all().to(torch.int32)
    trainer = task.trainer
    if trainer.world_size > 1:
        torch.distributed.all_reduce(finite, op=torch.distributed.ReduceOp.MIN)
    if bool(finite.item()):
        return True
    limit = int(((task.hparams.config or {}).get("trainer") or {}).get("skip_nonfinite") or 0)
    skipped = getattr(task, "nonfinite_skipped", 0)
    where = f"epoch {trainer.current_epoch}, step {trainer.global_step}"
    if skipped < limit:
        task.nonfinite_skipped = skipped + 1
        if trainer.is_global_zero:
            from vidzoo.messages import warn

            warn(f"vidzoo: warning: non-finite training loss at {where}: step skipped "
                 f"({skipped + 1} of --trainer.skip_nonfinite {limit})")
        return False
    past = f" (after skipping {skipped}, the --trainer.skip_nonfinite limit)" if limit else ""
    raise NonFiniteError(
        f"the training loss is not finite ({float(loss.detach().float().cpu()):g}) at {where}{past}; the weights "
        f"were not updated with it; {_last_good(trainer.default_root_dir)}; lower --optimizer.lr, check the data, or pass "
        f"--trainer.skip_nonfinite N to skip up to N such steps")


class FiniteWeights(Callback):
    """Refuses to write a checkpoint whose weights are not all finite."""

    def on_save_checkpoint(self, trainer, pl_module, checkpoint) -> None:
        for name, value in checkpoint.get("state_dict", {}).items():
            if isinstance(value, torch.Tensor) and value.is_floating_point() and not torch.isfinite(value).all():
                raise NonFiniteError(
                    f"the weights became non-finite ({name}) at epoch {trainer.current_epoch}, step "
                    f"{trainer.global_step}; no checkpoint was written with them; "
                    f"{_last_good(getattr(trainer, 'default_root_dir', None))}; lower --optimizer.lr or check the data")
