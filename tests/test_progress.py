"""vidzoo's progress bar: every batch counted, the logged metrics read at most once per interval.

Reading them after each batch is a host-device sync per step on a GPU (docs/performance.md).
"""

from __future__ import annotations

import lightning.pytorch as pl
import pytest
from lightning.pytorch.callbacks import TQDMProgressBar
from lightning.pytorch.demos.boring_classes import BoringModel

from vidzoo.progress import ProgressBar


class Logging(BoringModel):
    def training_step(self, batch, batch_idx):
        out = super().training_step(batch, batch_idx)
        self.log("loss_step", out["loss"], prog_bar=True)
        return out


def _fit(bar, tmp_path, monkeypatch, batches=12):
    reads = []
    original = TQDMProgressBar.get_metrics

    def counting(self, trainer, module):  # a spy on Lightning's read, which vidzoo's bar calls
        reads.append(trainer.state.stage)
        return original(self, trainer, module)

    monkeypatch.setattr(TQDMProgressBar, "get_metrics", counting)
    trainer = pl.Trainer(max_epochs=1, limit_train_batches=batches, limit_val_batches=2, callbacks=[bar],
                         logger=False, enable_checkpointing=False, enable_model_summary=False,
                         default_root_dir=tmp_path, accelerator="cpu")
    trainer.fit(Logging())
    return reads, trainer


@pytest.mark.parametrize("interval, most", [(3600.0, 4), (0.0, 12)])
def test_metrics_are_read_at_most_once_per_interval_in_training(interval, most, tmp_path, monkeypatch):
    bar = ProgressBar(interval=interval)
    reads, trainer = _fit(bar, tmp_path, monkeypatch)
    train_reads = [s for s in reads if s == "train"]
    if interval:  # the first batch, then epoch and validation ends only
        assert len(train_reads) <= most, reads
    else:  # no throttle: every batch, as Lightning's own bar
        assert len(train_reads) >= most, reads
    assert bar.train_progress_bar.n == 12  # every batch counted either way
    assert "loss_step" in bar.get_metrics(trainer, trainer.lightning_module)


def test_lightnings_own_bar_reads_every_batch(tmp_path, monkeypatch):
    reads, _ = _fit(TQDMProgressBar(), tmp_path, monkeypatch)
    assert len([s for s in reads if s == "train"]) >= 12  # what vidzoo's bar avoids
