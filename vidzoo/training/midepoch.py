"""Mid-epoch checkpoints: ``--checkpoint.every_n_steps N`` and ``--checkpoint.every_n_minutes M``.

They are Lightning ModelCheckpoints (written through vidzoo's AtomicCheckpointIO, so atomically)
named ``checkpoints/step-<global step>.ckpt``; the newest ``--checkpoint.keep`` stay. The
epoch-end ``last.ckpt`` and ``best.ckpt`` are unchanged. ``--resume`` takes the newest
checkpoint of the run (``newest_checkpoint``), with the training loader's position inside it
(vidzoo.resumable), so it continues at the next batch.
"""

from __future__ import annotations

import re
from pathlib import Path

from vidzoo.errors import VidzooError

STEP_PREFIX = "step-"
_STEP_NAME = re.compile(rf"^{STEP_PREFIX}(\d+)\.ckpt$")


def checkpoint_options(every_n_steps: int = 0, every_n_minutes: float = 0.0, keep: int = 2) -> dict:
    """Checkpoints inside an epoch (last.ckpt and best.ckpt are written at every epoch end anyway).

    Args:
        every_n_steps: Also write checkpoints/step-<step>.ckpt every N training steps (0: never).
        every_n_minutes: Also write one when M minutes have passed since the last (0: never).
        keep: How many of the newest step-*.ckpt to keep.
    """
    return dict(locals())


def check(options: dict) -> None:
    if options["every_n_steps"] < 0:
        raise VidzooError(f"--checkpoint.every_n_steps must be 0 (never) or more, got {options['every_n_steps']}")
    if options["every_n_minutes"] < 0:
        raise VidzooError(f"--checkpoint.every_n_minutes must be 0 (never) or more, got {options['every_n_minutes']}")
    if options["keep"] < 1:
        raise VidzooError(f"--checkpoint.keep must be 1 or more, got {options['keep']}")


def callback(dirpath: Path, every_n_steps: int = 0, every_n_minutes: float = 0.0, keep: int = 2):
    """The ModelCheckpoint writing step-*.ckpt, or None when neither trigger is set."""
    if not every_n_steps and not every_n_minutes:
        return None
    from datetime import timedelta

    from lightning.pytorch.callbacks import ModelCheckpoint

    cb = ModelCheckpoint(dirpath=dirpath, filename=STEP_PREFIX + "{step:08d}", auto_insert_metric_name=False,
                         monitor="step", mode="max", save_top_k=keep, every_n_train_steps=every_n_steps or None,
                         enable_version_counter=False)
    if every_n_minutes:
        # ModelCheckpoint takes one trigger in its constructor; its on_train_batch_end checks both
        # (and broadcasts rank 0's clock decision, so DDP ranks agree).
        cb._train_time_interval = timedelta(minutes=every_n_minutes)
    return cb


def step_checkpoints(folder: Path) -> list[Path]:
    """step-*.ckpt in a checkpoints folder, oldest step first."""
    found = [(int(m[1]), p) for p in folder.glob(f"{STEP_PREFIX}*.ckpt") if (m := _STEP_NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def newest_checkpoint(folder: Path) -> Path | None:
    """The checkpoint a resume continues from: the latest written of last.ckpt and step-*.ckpt."""
    candidates = [p for p in [folder / "last.ckpt", *step_checkpoints(folder)] if p.is_file()]
    if not candidates:
        return None
    # By training step, not file time (copies change that); at equal steps last.ckpt, written after validation.
    return max(candidates, key=lambda p: (_global_step(p), p.name == "last.ckpt"))


def _global_step(path: Path) -> int:
    from vidzoo.io import safe_load

    try:
        return int(safe_load(path, mmap=True).get("global_step", -1))
    except (VidzooError, AttributeError):
        return -1  # unreadable: the others win; --resume reports it if it is the only one
