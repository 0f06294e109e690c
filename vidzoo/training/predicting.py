"""Lightning's predict loop on several devices (DDP), for per-item work a layer above defines
(`vidzoo embed --devices N`): a LightningModule whose predict_step calls that work, and a
BasePredictionWriter (Lightning's way to keep predictions under DDP) that hands each result to the
rank's own writer. Lightning gives each rank its share of the items through its unrepeated
distributed sampler (rank r: items r, r + N, ...): every item once, none padded or repeated.
"""

from __future__ import annotations

from dataclasses import dataclass

import lightning.pytorch as pl
from lightning.pytorch.callbacks import BasePredictionWriter


class _Step(pl.LightningModule):
    """``model`` (moved to the rank's device by Lightning) and ``step(item, device)``, its predict_step."""

    def __init__(self, model, step):
        super().__init__()
        self.model, self.step = model, step

    def predict_step(self, item, batch_idx=0):
        return self.step(item, self.device)


class _Writer(BasePredictionWriter):
    """Each prediction to ``open_writer(global rank)``'s ``add(**prediction)``; ``close()`` at the end."""

    def __init__(self, open_writer):
        super().__init__(write_interval="batch")
        self.open_writer, self.writer = open_writer, None

    def setup(self, trainer, pl_module, stage):
        self.writer = self.open_writer(trainer.global_rank)

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, batch_idx, dataloader_idx):
        self.writer.add(**prediction)

    def on_predict_end(self, trainer, pl_module):
        self.writer.close()


def _only(batch: list):
    return batch[0]


@dataclass
class PredictLoop:
    """Where the items run: ``devices`` processes of ``accelerator`` (auto, cpu, gpu, ...) with
    ``strategy`` (default ddp for several devices), as ``vidzoo run``'s --trainer.* options;
    ``num_workers`` DataLoader workers per process decode the items."""

    devices: int = 2
    accelerator: str = "auto"
    strategy: str | None = None
    num_workers: int = 0
    progress: bool = True

    def run(self, model, dataset, step, open_writer) -> int:
        """``step(dataset[i], device)`` for every item, its result to the rank's writer; returns this
        process's global rank once every process has written all its results (a barrier)."""
        import torch

        from vidzoo.data.workers import worker_context

        trainer = pl.Trainer(accelerator=self.accelerator, devices=self.devices,
                             strategy=self.strategy or ("ddp" if self.devices > 1 else "auto"), logger=False,
                             enable_checkpointing=False, enable_model_summary=False,
                             enable_progress_bar=self.progress, callbacks=[_Writer(open_writer)])
        workers = {"num_workers": self.num_workers}
        if self.num_workers:  # fresh workers, not forks of a rank (docs/distributed.md says why)
            workers["multiprocessing_context"] = worker_context("forkserver", dataset)
        # batches of one item (one video): Lightning's sampler then tracks the indexes it hands each rank
        loader = torch.utils.data.DataLoader(dataset, batch_size=1, shuffle=False, collate_fn=_only, **workers)
        trainer.predict(_Step(model, step), dataloaders=loader, return_predictions=False)
        trainer.strategy.barrier("vidzoo-predict-written")
        return trainer.global_rank
