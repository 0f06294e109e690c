"""Lightning callbacks of a vidzoo run that need its run directory (given, not read from the environment)."""

from __future__ import annotations

import json
from pathlib import Path

import lightning.pytorch as pl


class PretrainedReport(pl.Callback):
    """Writes the full pretrained-loading report (every key loaded, kept new, missing,
    unexpected) to RUN/pretrained.json when the run starts (rank zero). ``report``: the model
    layer's (``Built.report``); by default the task's ``pretrained_report``."""

    def __init__(self, run_dir, report=None):
        self.run_dir = Path(run_dir)
        self.report = report

    def on_fit_start(self, trainer, pl_module) -> None:
        report = self.report if self.report is not None else getattr(pl_module, "pretrained_report", None)
        if report is not None and trainer.is_global_zero:
            from vidzoo.io import atomic_write_bytes
            from vidzoo.training.checkpoint import run_file_write_error

            path = self.run_dir / "pretrained.json"
            try:
                atomic_write_bytes(path, (json.dumps(report.as_dict(), indent=1) + "\n").encode())
            except OSError as exc:
                raise run_file_write_error(path, exc, self.run_dir) from None
