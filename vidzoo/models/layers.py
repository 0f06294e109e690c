"""Layers plugin packages share (imports torch)."""

from __future__ import annotations

from torch import nn
from torch.nn import functional as F


class ClampedAvgPool3d(nn.Module):
    """AvgPool3d whose kernel shrinks to the input where the input is smaller.

    At the clip size a model's weights were trained for it is exactly the original head pool
    (same kernel and stride); it has no parameters, so state dicts load unchanged.
    """

    def __init__(self, kernel_size, stride=1):
        super().__init__()
        self.kernel_size = tuple(int(k) for k in kernel_size)
        self.stride = tuple(int(s) for s in stride) if isinstance(stride, (tuple, list)) else int(stride)

    def forward(self, x):
        # int(): under ONNX tracing the clip size is fixed, so the kernel is a constant there.
        kernel = tuple(min(k, int(s)) for k, s in zip(self.kernel_size, x.shape[-3:]))
        return F.avg_pool3d(x, kernel, stride=self.stride)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, clamped to the input"
