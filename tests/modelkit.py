"""A user's own nn.Module for the model-layer tests, importable as ``modelkit.TinyNet`` (tests/ is on sys.path)."""

from __future__ import annotations

import torch
from torch import nn


class TinyNet(nn.Module):
    """(B, 3, T, H, W) clips -> logits: one 3D convolution, global pooling, a Linear head."""

    def __init__(self, num_classes: int, width: int = 8):
        super().__init__()
        self.num_classes, self.width = num_classes, width
        self.conv = nn.Conv3d(3, width, 3, padding=1)
        self.head = nn.Linear(width, num_classes)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.conv(video)).mean(dim=(2, 3, 4)))
