"""Checkpoints that survive kills and never run code, and resuming a run from them.

The classes that subclass Lightning's live in vidzoo.training.checkpoint_io; this module stays
Lightning-free (`vidzoo run --resume` reads it before any training starts).

- ``AtomicCheckpointIO``: Lightning's TorchCheckpointIO writes through an fsspec
  "transaction": a temporary file made by ``tempfile.mkstemp()`` in the system temp
  folder, then ``shutil.move`` onto the checkpoint. When /tmp is another file system
  that move is a copy into the checkpoint file itself, and nothing is fsynced: a kill
  or power loss during it leaves a half-written ``last.ckpt``. This plugin writes a
  temporary file next to the checkpoint, fsyncs it, renames it over the old one
  (``os.replace``, atomic on POSIX) and fsyncs the folder. A kill at any moment leaves
  either the previous checkpoint or the new one, whole; a stale ``.*.tmp`` is removed on
  resume. It also loads every checkpoint with ``torch.load(weights_only=True)``.
  The atomic write and the weights-only load are ``vidzoo.io``'s (one copy for every file).
- ``ResumeState``: a callback that saves the Python, NumPy and torch (CPU, CUDA) RNG
  states in the checkpoint and restores them on resume.
- ``ResumableCSVLogger``: Lightning's CSVLogger deletes ``metrics.csv`` when its folder
  is not empty; this one appends to it (``prepare_resume`` first drops the rows of
  epochs the checkpoint does not hold, so no step is logged twice).
- ``find_resume``: what ``vidzoo run --resume [RUN_DIR | CKPT]`` continues.

Test-only hook: ``VIDZOO_TEST_CHECKPOINT_WRITE_PAUSE=SECONDS`` makes ``AtomicCheckpointIO``
write half of the temporary file, pause, then finish, so that a test can kill the process
in the middle of a checkpoint write. Never set it outside tests.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from vidzoo.errors import VidzooError
from vidzoo.io import atomic_write_bytes, remove_stale_temporaries, safe_load  # noqa: F401 (re-exported)




class CheckpointWriteError(VidzooError):
    """A checkpoint could not be written (a full disk, a quota, a read-only folder); nothing was replaced."""


def checkpoint_write_error(path, exc: OSError, size: int) -> CheckpointWriteError:
    from vidzoo.io import write_error_reason
    from vidzoo.training.midepoch import newest_checkpoint

    path = Path(path)
    newest = newest_checkpoint(path.parent)
    kept = (f"the previous checkpoints are untouched and load (newest: {newest})" if newest
            else "no earlier checkpoint exists")
    run_dir = path.parent.parent if path.parent.name == "checkpoints" else path.parent
    return CheckpointWriteError(
        f"could not write checkpoint {path} ({size // 1024} KiB): {write_error_reason(exc)}; nothing half-written "
        f"was left; {kept}; free space (or choose another --output) and continue with `vidzoo run --resume {run_dir}`")


class RunFileWriteError(VidzooError):
    """A file of the run directory (config.yaml, logs/, curves.png...) could not be written; the old one is kept."""


def run_file_write_error(path, exc: OSError, run_dir, resumable: bool = True) -> RunFileWriteError:
    """The one line for a failed write of a run-directory file; ``resumable``: the run has a config to resume."""
    from vidzoo.io import write_error_fix, write_error_reason
    from vidzoo.training.midepoch import newest_checkpoint

    run_dir = Path(run_dir)
    newest = newest_checkpoint(run_dir / "checkpoints")
    kept = (f"the checkpoints are untouched and load (newest: {newest})" if newest
            else "no checkpoint was written yet")
    fix = write_error_fix(exc)
    then = (f"continue with `vidzoo run --resume {run_dir}`" if resumable
            else "run the same command again")
    return RunFileWriteError(
        f"could not write {path}: {write_error_reason(exc)}; nothing half-written was left (an earlier version "
        f"stays as it was); {kept}; {fix} (or choose another --output) and {then}")










def find_resume(resume: str, output: str) -> tuple[Path, Path | None]:
    """(run directory, checkpoint or None) for ``--resume`` (empty: the latest run under ``output``)."""
    if not resume:
        out = Path(output)
        runs = [p.parent for p in out.glob("*/config.yaml")] if out.is_dir() else []
        if not runs:
            raise VidzooError(f"--resume: no run to resume under {out}/ (no RUN_DIR/config.yaml there); "
                              f"pass --resume RUN_DIR or the --output of the run")

        def last_activity(run: Path) -> float:
            files = [run / "config.yaml", run / "checkpoints" / "last.ckpt", run / "logs" / "metrics.csv"]
            return max(f.stat().st_mtime for f in files if f.exists())

        run_dir = max(runs, key=last_activity)
    else:
        path = Path(resume)
        if not path.exists():
            raise VidzooError(f"--resume {resume}: no such run directory or checkpoint")
        if path.is_file():
            run_dir = path.parent.parent if path.parent.name == "checkpoints" else path.parent
            if not (run_dir / "config.yaml").is_file():
                raise VidzooError(f"--resume {resume}: cannot find its run (expected RUN_DIR/checkpoints/"
                                  f"{path.name} with RUN_DIR/config.yaml)")
            return run_dir, path
        run_dir = path
        if not (run_dir / "config.yaml").is_file():
            raise VidzooError(f"--resume {resume}: not a vidzoo run directory (it has no config.yaml)")
    from vidzoo.training.midepoch import newest_checkpoint  # last.ckpt or a newer mid-epoch step-*.ckpt

    return run_dir, newest_checkpoint(run_dir / "checkpoints")


def checkpoint_epoch(path: Path | None) -> int:
    """The last epoch a checkpoint holds (-1 without one); refuses unsafe or damaged files."""
    if path is None:
        return -1
    ckpt = safe_load(path, mmap=True)  # only the header fields are needed: no full read
    if not isinstance(ckpt, dict) or "epoch" not in ckpt or "state_dict" not in ckpt:
        raise VidzooError(f"--resume: {path} is not a vidzoo/Lightning training checkpoint")
    return int(ckpt["epoch"])


def prepare_resume(run_dir: Path, ckpt: Path | None) -> int:
    """Before resuming: drop stale temporaries and the log rows the checkpoint does not hold.

    Returns the last epoch the checkpoint holds (-1 when the run had none yet).
    """
    epoch = checkpoint_epoch(ckpt)
    # A mid-epoch checkpoint holds its epoch only up to its step: later rows of that epoch go too.
    steps = int(safe_load(ckpt, mmap=True).get("global_step", -1)) if ckpt is not None else -1
    for folder in (run_dir / "checkpoints", run_dir / "logs", run_dir):
        remove_stale_temporaries(folder)
    metrics = run_dir / "logs" / "metrics.csv"
    if metrics.is_file():
        with open(metrics, newline="") as f:
            reader = csv.DictReader(f)
            fields, rows = reader.fieldnames or [], list(reader)
        keep = [r for r in rows if _epoch_of(r) <= epoch and (steps < 0 or _step_of(r) < steps)]
        if epoch < 0 or not keep:
            metrics.unlink()
        elif len(keep) != len(rows):
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=fields)
            writer.writeheader()
            writer.writerows(keep)
            atomic_write_bytes(metrics, buffer.getvalue().encode())
    return epoch


def _step_of(row: dict) -> float:
    try:
        return float(row.get("step") or 0)
    except ValueError:
        return 0


def _epoch_of(row: dict) -> float:
    try:
        return float(row.get("epoch") or 0)
    except ValueError:
        return 0
