"""Model construction (imports torch; only imported from inside the factories)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class ClampedAvgPool3d(nn.Module):
    """AvgPool3d whose kernel shrinks to the input where the input is smaller.

    At the sizes the weights were trained for it is exactly the original pool
    (same kernel, stride 1); it has no parameters, so state dicts are unchanged.
    """

    def __init__(self, kernel_size, stride=1):
        super().__init__()
        self.kernel_size = tuple(kernel_size)
        self.stride = stride

    def forward(self, x):
        kernel = tuple(min(k, s) for k, s in zip(self.kernel_size, x.shape[-3:]))
        return F.avg_pool3d(x, kernel, stride=self.stride)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, clamped to the input"


def build(name: str, num_classes: int, **kwargs) -> nn.Module:
    from torchvision.models import video

    if num_classes < 1:
        from vidzoo.errors import VidzooError

        raise VidzooError(f"{name}: num_classes must be at least 1, got {num_classes}")
    model = getattr(video, name)(weights=None, num_classes=num_classes, **kwargs)
    if name == "s3d":
        model.avgpool = ClampedAvgPool3d(model.avgpool.kernel_size, stride=1)
    return model


def load(model: nn.Module, pretrained: str | None, sha256: str | None, default_url: str,
         variants: dict[str, str] | None = None) -> nn.Module:
    if not pretrained:
        return model
    from vidzoo.models.weights import load_pretrained, say

    source = (variants or {}).get(pretrained, pretrained)  # a weights enum name picks its URL
    report = load_pretrained(model, source, sha256=sha256, default_url=default_url)
    say(report.summary())
    return model
