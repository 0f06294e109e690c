"""Lightning callbacks of a vidzoo run: the pretrained-loading report (given the run directory, not read
from the environment) and the model summary at the start."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import lightning.pytorch as pl
from lightning.pytorch.callbacks import ModelSummary
from lightning.pytorch.utilities.model_summary import get_human_readable_count

from vidzoo.training.run_summary import format_columns

log = logging.getLogger("vidzoo.run")  # the summary goes where the run's other lines go


class PretrainedReport(pl.Callback):
    """Writes the full pretrained-loading report (every key loaded, kept new, missing,
    unexpected) to RUN/pretrained.json when the run starts (rank zero)."""

    def __init__(self, run_dir):
        self.run_dir = Path(run_dir)

    def on_fit_start(self, trainer, pl_module) -> None:
        report = getattr(getattr(pl_module, "model", None), "vidzoo_pretrained", None)
        if report is not None and not report.skipped and trainer.is_global_zero:
            from vidzoo.io import atomic_write_bytes
            from vidzoo.training.checkpoint import run_file_write_error

            path = self.run_dir / "pretrained.json"
            try:
                atomic_write_bytes(path, (json.dumps(report.as_dict(), indent=1) + "\n").encode())
            except OSError as exc:
                raise run_file_write_error(path, exc, self.run_dir) from None


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
