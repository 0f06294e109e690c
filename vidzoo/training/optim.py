"""Optimizer options (the `optimizer` section of a run) and what they build."""

from __future__ import annotations

import math
from typing import Literal


def optimizer_options(
    name: Literal["adam", "adamw", "sgd"] = "adam",
    lr: float = 1e-3,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    nesterov: bool = False,
    scheduler: Literal["none", "cosine"] = "none",
    warmup_epochs: float = 0.0,
    min_lr: float = 0.0,
    backbone_lr_mult: float = 1.0,
    freeze_backbone: bool = False,
    unfreeze_after_epochs: int | None = None,
) -> dict:
    """Optimizer settings: Adam(lr=1e-3) by default, as the tutorial recipe; SGD + cosine for the SlowFast recipe.

    Args:
        name: adam, adamw or sgd.
        lr: Learning rate (peak rate when a schedule is used).
        momentum: SGD momentum.
        weight_decay: Weight decay (L2 for adam/sgd, decoupled for adamw).
        nesterov: SGD with Nesterov momentum.
        scheduler: none, or cosine decay to min_lr over the run (per step).
        warmup_epochs: Linear warm-up length in epochs (fractions allowed), before the cosine.
        min_lr: Final learning rate of the cosine schedule.
        backbone_lr_mult: Fine-tuning: the backbone's learning rate is lr times this (the head's is lr).
            The head is the model's last Linear layer plus any tensors the pretrained weights replaced.
        freeze_backbone: Fine-tuning: train the head only (linear probe); the backbone's weights and
            BatchNorm statistics stay as loaded.
        unfreeze_after_epochs: Fine-tuning: keep the backbone frozen for this many epochs, then train it
            too (at lr times backbone_lr_mult). Implies a frozen start.
    """
    return dict(locals())


def check(options: dict) -> None:
    from vidzoo.errors import VidzooError

    if options.get("lr", 1) <= 0:
        raise VidzooError(f"--optimizer.lr must be positive, got {options['lr']}")
    if options.get("warmup_epochs", 0) < 0:
        raise VidzooError(f"--optimizer.warmup_epochs must be 0 or more, got {options['warmup_epochs']}")
    if options.get("backbone_lr_mult", 1.0) < 0:
        raise VidzooError(f"--optimizer.backbone_lr_mult must be 0 or more, got {options['backbone_lr_mult']}")
    after = options.get("unfreeze_after_epochs")
    if after is not None and after < 0:
        raise VidzooError(f"--optimizer.unfreeze_after_epochs must be 0 or more, got {after}")
    if options.get("freeze_backbone") and after is not None:
        raise VidzooError("--optimizer.freeze_backbone keeps the backbone frozen for the whole run; "
                          "use --optimizer.unfreeze_after_epochs N alone to unfreeze it after N epochs")


def param_groups(head: list, backbone: list, options: dict) -> list[dict]:
    """Optimizer parameter groups: the head at lr, the backbone at lr * backbone_lr_mult."""
    o = {**optimizer_options(), **options}
    groups = [{"params": head, "lr": o["lr"], "name": "head"}]
    if backbone:
        groups.append({"params": backbone, "lr": o["lr"] * o["backbone_lr_mult"], "name": "backbone"})
    return [g for g in groups if g["params"]]


def build(parameters, options: dict, total_steps: int, steps_per_epoch: float):
    """Return Lightning's configure_optimizers() value for these options.

    ``parameters``: an iterable of tensors, or of parameter groups (dicts, see param_groups).
    """
    import torch

    o = {**optimizer_options(), **options}
    if o["name"] == "sgd":
        opt = torch.optim.SGD(parameters, lr=o["lr"], momentum=o["momentum"], weight_decay=o["weight_decay"],
                              nesterov=o["nesterov"])
    elif o["name"] == "adamw":
        opt = torch.optim.AdamW(parameters, lr=o["lr"], weight_decay=o["weight_decay"])
    else:
        opt = torch.optim.Adam(parameters, lr=o["lr"], weight_decay=o["weight_decay"])
    if o["scheduler"] == "none":
        return opt
    warmup = int(round(o["warmup_epochs"] * steps_per_epoch))
    floor = o["min_lr"] / o["lr"]

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
