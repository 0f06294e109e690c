"""TSN and TSM over timm image models (imports torch and timm; only imported from the factories)."""

from __future__ import annotations

import difflib
import functools
import math

import torch
from torch import nn
from torch.nn import functional as F

from vidzoo.errors import VidzooError

CONSENSUS = ("logits", "features")
# The families tsm shifts: timm module -> the residual block classes of its models. In each block
# the first Conv2d of the residual branch gets the shift (not the shortcut's), so the identity
# path keeps every channel of the frame (the paper's residual shift).
SHIFTABLE = {"resnet": ("BasicBlock", "Bottleneck"), "regnet": ("Bottleneck", "PreBottleneck"),
             "convnext": ("ConvNeXtBlock",)}
SHORTCUTS = ("downsample", "shortcut")
FAMILIES = ("timm's ResNet/ResNeXt family (resnet*, resnext*, seresnext*, ecaresnet*, wide_resnet*, ...), "
            "RegNet (regnetx_*, regnety_*, regnetv_*) and ConvNeXt (convnext_*)")


# ---------------------------------------------------------------- model names and input configs


@functools.lru_cache(maxsize=1)
def _names() -> tuple[str, ...]:
    import timm

    return tuple(timm.list_models())


def check_model_name(name: str) -> str:
    """The name if timm has it (``arch`` or ``arch.tag`` with a pretrained tag), else a one-line error."""
    import timm

    if not isinstance(name, str) or not name.strip():
        raise VidzooError("--backbone.model needs a timm model name, e.g. resnet50 (`timm.list_models()` lists them)")
    arch, _, tag = name.partition(".")
    names = _names()
    if arch not in names:
        close = difflib.get_close_matches(arch, names, n=3, cutoff=0.6)
        hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
        raise VidzooError(f"unknown timm model {name!r}; {hint}timm {timm.__version__} has {len(names)} "
                          f"(python -c \"import timm; print(timm.list_models('{arch[:3]}*'))\")")
    if tag:
        tags = [n.partition(".")[2] for n in timm.list_pretrained(f"{arch}.*")]
        if tag not in tags:
            close = difflib.get_close_matches(tag, tags, n=3, cutoff=0.5)
            raise VidzooError(f"timm model {arch!r} has no pretrained tag {tag!r}; it has "
                              f"{', '.join(close or tags[:6]) or 'none'}")
    return name


def pretrained_cfg(name: str):
    """timm's PretrainedCfg of the name (its default tag when none is given), or None."""
    import timm

    return timm.models.get_pretrained_cfg(check_model_name(name))


def input_fields(name: str) -> dict:
    """vidzoo InputConfig fields from timm's data config of the model: crop size, crop_pct, interpolation
    (bilinear for the kernels vidzoo has none of), mean/std."""
    from timm.data import resolve_data_config

    cfg = pretrained_cfg(name)
    data = resolve_data_config({}, pretrained_cfg=cfg.to_dict() if cfg is not None else {})
    interpolation = data.get("interpolation") if data.get("interpolation") in ("bilinear", "bicubic") else "bilinear"
    return {"crop_size": int(data["input_size"][-1]), "crop_pct": float(data["crop_pct"]), "interpolation": interpolation,
            "mean": tuple(float(v) for v in data["mean"]), "std": tuple(float(v) for v in data["std"])}


# ---------------------------------------------------------------- the temporal shift


def temporal_shift(x: torch.Tensor, num_segments: int, shift_div: int = 8) -> torch.Tensor:
    """Shift channels of (N*T, C, H, W) frame features along time (TSM, Lin et al. 2019).

    Channels ``[0, C//shift_div)`` of frame t take frame t+1's values (the last frame gets
    zeros); channels ``[C//shift_div, 2*C//shift_div)`` take frame t-1's (the first frame gets
    zeros); the rest stay. Zero padding and concatenation, no in-place writes, so that autograd,
    TorchScript tracing and ONNX export see plain ops.
    """
    nt, c, h, w = x.shape
    fold = c // shift_div
    x = x.reshape(nt // num_segments, num_segments, c, h, w)
    from_next = F.pad(x[:, 1:, :fold], (0, 0, 0, 0, 0, 0, 0, 1))
    from_previous = F.pad(x[:, :-1, fold:2 * fold], (0, 0, 0, 0, 0, 0, 1, 0))
    return torch.cat((from_next, from_previous, x[:, :, 2 * fold:]), dim=2).reshape(nt, c, h, w)


class TemporalShiftConv2d(nn.Conv2d):
    """A Conv2d whose input is temporally shifted first; same parameters and state-dict keys as
    the Conv2d it replaces, so timm's ImageNet weights load into a TSM model unchanged."""

    def __init__(self, conv: nn.Conv2d, num_segments: int, shift_div: int):
        super().__init__(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                         padding=conv.padding, dilation=conv.dilation, groups=conv.groups,
                         bias=conv.bias is not None, padding_mode=conv.padding_mode,
                         device=conv.weight.device, dtype=conv.weight.dtype)
        self.load_state_dict(conv.state_dict())
        self.num_segments = num_segments
        self.shift_div = shift_div

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(temporal_shift(x, self.num_segments, self.shift_div), self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, temporal shift: {self.num_segments} segments, 1/{self.shift_div} each way"


def _family(model: nn.Module) -> str | None:
    module = type(model).__module__.rsplit(".", 1)[-1]
    return module if module in SHIFTABLE else None


def add_temporal_shift(model: nn.Module, name: str, num_segments: int, shift_div: int) -> list[str]:
    """Put the shift into every residual block of a timm model of a supported family; the shifted convs' names."""
    family = _family(model)
    if family is None:
        raise VidzooError(f"tsm cannot shift timm model {name!r} ({type(model).__name__}): it supports {FAMILIES}; "
                          f"--backbone tsn takes any timm model")
    if shift_div < 2:
        raise VidzooError(f"--backbone.shift_div must be at least 2 (two shifted groups of C // shift_div channels), "
                          f"got {shift_div}")
    shifted = []
    for block_name, block in list(model.named_modules()):
        if type(block).__name__ not in SHIFTABLE[family] or type(block).__module__ != type(model).__module__:
            continue
        conv_name = next((n for n, m in block.named_modules()
                          if type(m) is nn.Conv2d and not n.startswith(SHORTCUTS)), None)
        if conv_name is None:
            raise VidzooError(f"tsm cannot shift timm model {name!r}: block {block_name} has no plain Conv2d on its "
                              f"residual branch; it supports {FAMILIES}")
        parent_name, _, attr = conv_name.rpartition(".")
        parent = block.get_submodule(parent_name) if parent_name else block
        setattr(parent, attr, TemporalShiftConv2d(getattr(parent, attr), num_segments, shift_div))
        shifted.append(f"{block_name}.{conv_name}")
    if not shifted:
        raise VidzooError(f"tsm found no residual blocks to shift in timm model {name!r}; it supports {FAMILIES}")
    return shifted


# ---------------------------------------------------------------- the video model


class TimmVideoModel(nn.Module):
    """(B, C, T, H, W) clips -> the timm model on every frame -> average over T -> (B, num_classes).

    ``consensus="logits"`` averages the frames' logits; ``"features"`` averages the frames'
    feature maps (timm's ``forward_features``) and runs the head (pool, norm, dropout,
    classifier) once per clip, as MMAction2's TSN head averages before its dropout and fc.
    ``num_segments`` is enforced when the model shifts (``tsm``); ``tsn`` takes any T.
    """

    def __init__(self, model: nn.Module, consensus: str, num_segments: int, shifted: list[str] | None = None):
        super().__init__()
        self.model = model
        self.consensus = consensus
        self.num_segments = num_segments
        self.shifted = list(shifted or [])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        if self.shifted and t != self.num_segments:
            raise VidzooError(f"tsm was built for clips of {self.num_segments} frames (--backbone.num_segments) and "
                              f"got {t}; set --transform.num_frames {self.num_segments} or --backbone.num_segments {t}")
        frames = x.transpose(1, 2).reshape(b * t, c, h, w)
        if self.consensus == "features":
            features = self.model.forward_features(frames)
            return self.model.forward_head(features.reshape(b, t, *features.shape[1:]).mean(1))
        return self.model(frames).reshape(b, t, -1).mean(1)


def build(kind: str, name: str, num_classes: int, num_segments: int, consensus: str, dropout: float,
          shift_div: int = 8) -> TimmVideoModel:
    import timm

    if num_classes < 1:
        raise VidzooError(f"{kind}: num_classes must be at least 1, got {num_classes}")
    if num_segments < 1:
        raise VidzooError(f"--backbone.num_segments must be at least 1, got {num_segments}")
    if consensus not in CONSENSUS:
        raise VidzooError(f"--backbone.consensus must be {' or '.join(CONSENSUS)}, got {consensus!r}")
    check_model_name(name)
    if kind == "tsm" and not timm.models.is_model_in_modules(name.partition(".")[0], list(SHIFTABLE)):
        raise VidzooError(f"tsm cannot shift timm model {name!r}: it supports {FAMILIES}; --backbone tsn takes any "
                          f"timm model")
    try:
        model = timm.create_model(name, pretrained=False, num_classes=num_classes, drop_rate=dropout)
    except TypeError as exc:  # a model family that takes no drop_rate
        raise VidzooError(f"timm cannot build {name!r} with drop_rate: {' '.join(str(exc).split())}; "
                          f"set --backbone.dropout 0") from None
    shifted = add_temporal_shift(model, name, num_segments, shift_div) if kind == "tsm" else []
    return TimmVideoModel(model, consensus, num_segments, shifted)
