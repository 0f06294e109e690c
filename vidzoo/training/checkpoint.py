"""Checkpoints that survive kills and never run code, and resuming a run from them.

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
import random
from pathlib import Path

from vidzoo.errors import VidzooError
from vidzoo.io import TEST_PAUSE_ENV, TMP_SUFFIX, atomic_write_bytes, safe_load  # noqa: F401  (used here)


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files a killed write left behind; returns them."""
    folder = Path(folder)
    stale = sorted(folder.glob(f".*{TMP_SUFFIX}")) if folder.is_dir() else []
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


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


def _checkpoint_io_class():
    from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

    class AtomicCheckpointIO(TorchCheckpointIO):
        """TorchCheckpointIO with atomic, fsynced writes and weights_only loads."""

        def save_checkpoint(self, checkpoint, path, storage_options=None):
            import torch

            if storage_options is not None:
                raise TypeError("AtomicCheckpointIO takes no storage_options")
            buffer = io.BytesIO()
            torch.save(checkpoint, buffer)
            try:
                atomic_write_bytes(path, buffer.getvalue(), _test_pause=True)
            except OSError as exc:
                raise checkpoint_write_error(path, exc, len(buffer.getvalue())) from None

        def load_checkpoint(self, path, map_location=None, weights_only=None):
            # Always weights_only, whatever Lightning asks for: a checkpoint never runs code.
            return safe_load(path, map_location=map_location if map_location is not None else "cpu")

    return AtomicCheckpointIO


def _resume_state_class():
    from lightning.pytorch.callbacks import Callback

    class ResumeState(Callback):
        """Saves and restores the RNG states, so a resumed run continues its random streams."""

        def state_dict(self):
            import numpy as np
            import torch

            state = {"torch": torch.get_rng_state(), "python": _plain(random.getstate())}
            np_state = np.random.get_state()
            state["numpy"] = [np_state[0], torch.from_numpy(np_state[1].astype("int64")), *map(_plain, np_state[2:])]
            if torch.cuda.is_available() and torch.cuda.is_initialized():
                state["cuda"] = torch.cuda.get_rng_state_all()
            return state

        def load_state_dict(self, state):
            import numpy as np
            import torch

            if not state:
                return
            torch.set_rng_state(state["torch"])
            random.setstate(_tuples(state["python"]))
            name, keys, *rest = state["numpy"]
            np.random.set_state((name, keys.numpy().astype("uint32"), *rest))
            if "cuda" in state and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(state["cuda"])

    return ResumeState


def _plain(x):
    return list(map(_plain, x)) if isinstance(x, (tuple, list)) else x


def _tuples(x):
    return tuple(map(_tuples, x)) if isinstance(x, list) else x


def _csv_logger_class():
    from lightning.pytorch.loggers import CSVLogger
    from lightning.pytorch.loggers.csv_logs import ExperimentWriter
    from lightning.fabric.loggers.logger import rank_zero_experiment

    class AppendingWriter(ExperimentWriter):
        def __init__(self, log_dir: str) -> None:
            super().__init__(log_dir)
            self._failed = False
            if os.path.isfile(self.metrics_file_path):  # continue its columns
                with open(self.metrics_file_path, newline="") as f:
                    self.metrics_keys = next(csv.reader(f), [])

        def save(self) -> None:
            # Lightning appends rows in place: a full disk would leave a cut row. Cut back to the rows
            # that were whole, then stop the run with one line.
            if self._failed or not self.metrics:
                return
            path, keys = self.metrics_file_path, list(self.metrics_keys)
            size = os.path.getsize(path) if os.path.isfile(path) else None
            try:
                super().save()
            except OSError as exc:
                self._failed = True  # Lightning's finalize("failed") saves again: nothing more is written
                self.metrics, self.metrics_keys = [], keys
                try:
                    if size is None:
                        os.unlink(path)
                    else:
                        os.truncate(path, size)
                except OSError:
                    pass
                raise run_file_write_error(path, exc, Path(self.log_dir).parent) from None

        def log_hparams(self, params) -> None:
            from lightning.pytorch.core.saving import save_hparams_to_yaml

            # Written whole or not at all (Lightning writes hparams.yaml in place).
            self.hparams.update(params)
            final = Path(self.log_dir) / self.NAME_HPARAMS_FILE
            tmp = final.with_name(f".{final.name}.{os.getpid()}{TMP_SUFFIX}")
            try:
                save_hparams_to_yaml(tmp, self.hparams)
                os.replace(tmp, final)
            except OSError as exc:
                tmp.unlink(missing_ok=True)
                raise run_file_write_error(final, exc, Path(self.log_dir).parent) from None

        def _check_log_dir_exists(self) -> None:  # never delete an earlier metrics.csv
            pass

        def _rewrite_with_new_header(self, fieldnames: list[str]) -> None:
            with open(self.metrics_file_path, newline="") as f:
                rows = list(csv.DictReader(f))
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=fieldnames)
            writer.writeheader()
            writer.writerows(rows)
            atomic_write_bytes(self.metrics_file_path, buffer.getvalue().encode())

    class ResumableCSVLogger(CSVLogger):
        """CSVLogger that appends to an existing metrics.csv and writes every row at once
        (flush_logs_every_n_steps=1), so a killed run loses no logged row."""

        def __init__(self, *args, **kwargs):
            kwargs.setdefault("flush_logs_every_n_steps", 1)
            super().__init__(*args, **kwargs)

        @property
        @rank_zero_experiment
        def experiment(self):
            if self._experiment is None:
                self._fs.makedirs(self.root_dir, exist_ok=True)
                self._experiment = AppendingWriter(log_dir=self.log_dir)
            return self._experiment

    return ResumableCSVLogger


def __getattr__(name: str):
    # Lightning is imported only when these are used, so `vidzoo --help` stays instant.
    makers = {"AtomicCheckpointIO": _checkpoint_io_class, "ResumeState": _resume_state_class,
              "ResumableCSVLogger": _csv_logger_class}
    if name in makers:
        cls = makers[name]()
        globals()[name] = cls
        return cls
    raise AttributeError(name)


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
