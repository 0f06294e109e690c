"""Model construction and the SlowFast pathway packer (imports torch; loaded from inside the factories)."""

from __future__ import annotations

import torch
from torch import nn

from vidzoo.plugins import ClampedAvgPool3d  # noqa: F401  (one copy, with the ONNX-safe kernel)
from vidzoo.plugins import pack_pathways  # noqa: F401  (one copy: the core's published recipe packs too)


def shrinkable_pools(model: nn.Module) -> nn.Module:
    """Replace every AvgPool3d (the heads' fixed pools) by a ClampedAvgPool3d."""
    for parent in list(model.modules()):
        for child_name, child in list(parent.named_children()):
            if isinstance(child, nn.AvgPool3d) and not any(child.padding if isinstance(child.padding, tuple)
                                                           else [child.padding]):
                setattr(parent, child_name, ClampedAvgPool3d(child.kernel_size, child.stride))
    # PoolConcatPathway (SlowFast) keeps its pools in a ModuleList: named_children covers it.
    return model


def exportable_swish(model: nn.Module) -> nn.Module:
    """Replace pytorchvideo's Swish (a Python autograd Function, which TorchScript cannot save) by
    torch's SiLU: the same x * sigmoid(x), without parameters, so state dicts are unchanged."""
    from pytorchvideo.layers.swish import Swish

    for parent in list(model.modules()):
        for child_name, child in list(parent.named_children()):
            if isinstance(child, Swish):
                setattr(parent, child_name, nn.SiLU())
    return model


def build(name: str, num_classes: int, **kwargs) -> nn.Module:
    from pytorchvideo.models import hub

    from vidzoo.errors import VidzooError

    if num_classes < 1:
        raise VidzooError(f"{name}: num_classes must be at least 1, got {num_classes}")
    builder = getattr(hub, name)
    if name.startswith("efficient_x3d"):
        model = builder(pretrained=False, num_classes=num_classes, **kwargs)
    elif name.startswith("mvit"):
        model = builder(pretrained=False, head_num_classes=num_classes, **kwargs)
    else:
        # Logits, not probabilities: the zoo's X3D and R(2+1)D heads end in a softmax by default.
        model = builder(pretrained=False, model_num_class=num_classes, head_activation=None, **kwargs)
    return exportable_swish(shrinkable_pools(model))


class PackPathways:
    """Wraps a sample transform: after it, the sample's ``video`` becomes ``[slow, fast]``."""

    def __init__(self, inner, alpha: int):
        self.inner = inner
        self.alpha = int(alpha)

    def decode_plan(self):
        plan = getattr(self.inner, "decode_plan", None)
        return plan() if plan is not None else None

    def __call__(self, sample: dict) -> dict:
        sample = self.inner(sample)
        sample["video"] = pack_pathways(sample["video"], self.alpha)
        return sample

    def __repr__(self):
        return f"PackPathways(alpha={self.alpha}, {self.inner!r})"
