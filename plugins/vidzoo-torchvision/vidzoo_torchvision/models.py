"""Model construction (imports torch; only imported from inside the factories)."""

from __future__ import annotations

import torch
from torch import nn

from vidzoo.plugins import ClampedAvgPool3d  # noqa: F401  (one copy, with the ONNX-safe kernel)


def build(name: str, num_classes: int, **kwargs) -> nn.Module:
    from torchvision.models import video

    if num_classes < 1:
        from vidzoo.errors import VidzooError

        raise VidzooError(f"{name}: num_classes must be at least 1, got {num_classes}")
    model = getattr(video, name)(weights=None, num_classes=num_classes, **kwargs)
    if name == "s3d":
        model.avgpool = ClampedAvgPool3d(model.avgpool.kernel_size, stride=1)
    return model
