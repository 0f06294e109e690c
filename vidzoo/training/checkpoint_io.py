"""The Lightning side of vidzoo's checkpoints and logs (vidzoo.training.checkpoint holds the rest,
Lightning-free for the CLI): ``AtomicCheckpointIO``, ``ResumeState``, ``ResumableCSVLogger``.
What each does and why: vidzoo/training/checkpoint.py's docstring.
"""

from __future__ import annotations

import csv
import io
import os
import random
from pathlib import Path

import numpy as np
import torch
from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.core.saving import save_hparams_to_yaml
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter

from vidzoo.io import TMP_SUFFIX, atomic_write_bytes, safe_load
from vidzoo.training.checkpoint import checkpoint_write_error, run_file_write_error


class AtomicCheckpointIO(TorchCheckpointIO):
    """TorchCheckpointIO with atomic, fsynced writes and weights_only loads."""

    def save_checkpoint(self, checkpoint, path, storage_options=None):
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


class ResumeState(Callback):
    """Saves and restores the RNG states, so a resumed run continues its random streams."""

    # Runs started before this class left its factory function saved the state under the nested name.
    _legacy_state_key = "_resume_state_class.<locals>.ResumeState"

    def state_dict(self):
        state = {"torch": torch.get_rng_state(), "python": _plain(random.getstate())}
        np_state = np.random.get_state()
        state["numpy"] = [np_state[0], torch.from_numpy(np_state[1].astype("int64")), *map(_plain, np_state[2:])]
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state):
        if not state:
            return
        torch.set_rng_state(state["torch"])
        random.setstate(_tuples(state["python"]))
        name, keys, *rest = state["numpy"]
        np.random.set_state((name, keys.numpy().astype("uint32"), *rest))
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])


def _plain(x):
    return list(map(_plain, x)) if isinstance(x, (tuple, list)) else x


def _tuples(x):
    return tuple(map(_tuples, x)) if isinstance(x, list) else x


class AppendingWriter(ExperimentWriter):
    """ExperimentWriter that continues an existing metrics.csv and writes it whole or cuts back."""

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
