"""Lightning callbacks of a vidzoo run: the pretrained-loading report (given the run directory, not read
from the environment), the model summary at the start, and the step clock of `vidzoo bench train`."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import ModelSummary
from lightning.pytorch.utilities.model_summary import get_human_readable_count

from vidzoo.training.run_summary import format_columns

log = logging.getLogger("vidzoo.run")  # the summary goes where the run's other lines go


class PretrainedReport(pl.Callback):
    """Writes the full pretrained-loading report (every key loaded, kept new, missing,
    unexpected) to RUN/pretrained.json when the run starts (rank zero). ``report``: the model
    layer's (``Built.report``), None when no weights were loaded."""

    def __init__(self, run_dir, report=None):
        self.run_dir = Path(run_dir)
        self.report = report

    def on_fit_start(self, trainer, pl_module) -> None:
        report = self.report
        if report is not None and trainer.is_global_zero:
            from vidzoo.io import atomic_write_bytes
            from vidzoo.training.checkpoint import run_file_write_error

            path = self.run_dir / "pretrained.json"
            try:
                atomic_write_bytes(path, (json.dumps(report.as_dict(), indent=1) + "\n").encode())
            except OSError as exc:
                raise run_file_write_error(path, exc, self.run_dir) from None


class StepClock(pl.Callback):
    """Wall and CPU time of training steps ``warmup`` .. ``total - 1`` (`vidzoo bench train`), and when
    each of them started. On a GPU it synchronizes only where the timing starts and ends, as the plain
    loop does: a sync per step would stop the CPU queueing the next step and cost the GPU its overlap."""

    def __init__(self, warmup: int, total: int, cpu_seconds):
        self.warmup, self.total, self.cpu_seconds = warmup, total, cpu_seconds
        self.starts: list[float] = []
        self.start = self.cpu = self.end = self.cpu_end = 0.0

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        if batch_idx == self.warmup:
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            self.start, self.cpu = time.perf_counter(), self.cpu_seconds()
        if batch_idx >= self.warmup:
            self.starts.append(time.perf_counter())

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if batch_idx == self.total - 1 and torch.cuda.is_available():
            torch.cuda.synchronize()
        self.end, self.cpu_end = time.perf_counter(), self.cpu_seconds()


class ModelSummaryWithoutFlops(ModelSummary):
    """Lightning's ModelSummary without the FLOPs column and total.

    Lightning counts FLOPs only when the module has an ``example_input_array``, which a
    backbone of any input layout cannot offer, so its column would read 0. The backbone's
    reference GFLOPs are in its registration (``vidzoo list``).
    """

    def summarize(self, summary_data, total_parameters, trainable_parameters, model_size,
                  total_training_modes, total_flops=0, **kwargs):
        columns = [(h, list(v)) for h, v in summary_data if h != "FLOPs"]
        lines = format_columns(columns)
        lines.append("-" * len(lines[0]))
        lines += [
            f"{get_human_readable_count(trainable_parameters):<10} trainable params",
            f"{get_human_readable_count(total_parameters - trainable_parameters):<10} non-trainable params",
            f"{get_human_readable_count(total_parameters):<10} total params",
            f"{model_size:<10.1f} total estimated model params size (MB)",
        ]
        log.info("\n" + "\n".join(lines))
