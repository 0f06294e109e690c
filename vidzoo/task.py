"""VideoClassificationTask: the one LightningModule, assembled from registry names."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from vidzoo import optim
from vidzoo.errors import PluginError
from vidzoo.plugins import get_registry


class VideoClassificationTask(pl.LightningModule):
    """Cross-entropy classification of clips; logs loss, top-1 and top-5 per epoch.

    Everything needed to rebuild it (backbone name and options, class names, and the
    whole run config) is saved in its checkpoints.
    """

    def __init__(
        self,
        backbone: str,
        class_names: list[str],
        backbone_options: dict[str, Any] | None = None,
        optimizer: dict[str, Any] | None = None,
        config: dict[str, Any] | None = None,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.class_names = list(class_names)
        num_classes = len(self.class_names)
        self.backbone_registration = get_registry().get("backbone", backbone)
        self.model = self.backbone_registration.factory(num_classes=num_classes, **(backbone_options or {}))
        if not isinstance(self.model, nn.Module):
            raise PluginError(self._contract(f"its factory returned {type(self.model).__name__}, not a torch.nn.Module"))
        self.optimizer_options = dict(optimizer or {})
        self.loss_fn = nn.CrossEntropyLoss()
        top5 = min(5, num_classes)
        self.metrics = nn.ModuleDict({
            f"{stage}_{name}": MulticlassAccuracy(num_classes, top_k=k, average="micro")
            for stage in ("train", "val", "test") for name, k in (("top1", 1), ("top5", top5))
        })
        self._checked = False

    def _contract(self, problem: str) -> str:
        r = self.backbone_registration
        return (f"backbone {r.name!r} ({r.package} {r.version}) broke the backbone contract "
                f"(input (B, C, T, H, W) -> logits (B, num_classes)): {problem}")

    def forward(self, video):
        return self.model(video)

    def _check_batch(self, batch, logits) -> None:
        batch_size = batch["label"].shape[0]
        expected = (batch_size, len(self.class_names))
        if not isinstance(logits, torch.Tensor):
            raise PluginError(self._contract(f"its output is {type(logits).__name__}, not a tensor"))
        if tuple(logits.shape) != expected:
            raise PluginError(self._contract(f"its output has shape {tuple(logits.shape)}, expected {expected}"))
        self._checked = True

    def _step(self, batch, stage: str):
        if not isinstance(batch, dict) or "video" not in batch or "label" not in batch:
            keys = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
            dataset = (self.hparams.config or {}).get("dataset", {}).get("name", "?")
            raise PluginError(f"dataset {dataset!r} broke the dataset contract: samples need 'video' and 'label', got {keys}")
        logits = self(batch["video"])
        if not self._checked:
            self._check_batch(batch, logits)
        labels = batch["label"]
        loss = self.loss_fn(logits, labels)
        size = labels.shape[0]
        self.log(f"{stage}/loss", loss, on_step=stage == "train", on_epoch=True, prog_bar=True,
                 sync_dist=stage != "train", batch_size=size)
        for name in ("top1", "top5"):
            metric = self.metrics[f"{stage}_{name}"]
            metric(logits.detach(), labels)
            self.log(f"{stage}/{name}", metric, on_step=False, on_epoch=True, prog_bar=name == "top1",
                     batch_size=size)
        return loss

    def training_step(self, batch, batch_idx):
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx):
        return self._step(batch, "val")

    def test_step(self, batch, batch_idx):
        return self._step(batch, "test")

    def configure_optimizers(self):
        total = max(1, int(self.trainer.estimated_stepping_batches))
        per_epoch = total / max(1, self.trainer.max_epochs or 1)
        return optim.build(self.parameters(), self.optimizer_options, total, per_epoch)
