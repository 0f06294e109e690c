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
) -> dict:
    """Optimizer settings: the seed's Adam(lr=1e-3) by default; SGD + cosine for the SlowFast recipe.

    Args:
        name: adam, adamw or sgd.
        lr: Learning rate (peak rate when a schedule is used).
        momentum: SGD momentum.
        weight_decay: Weight decay (L2 for adam/sgd, decoupled for adamw).
        nesterov: SGD with Nesterov momentum.
        scheduler: none, or cosine decay to min_lr over the run (per step).
        warmup_epochs: Linear warm-up length in epochs (fractions allowed), before the cosine.
        min_lr: Final learning rate of the cosine schedule.
    """
    return dict(locals())


def check(options: dict) -> None:
    from vidzoo.errors import VidzooError

    if options.get("lr", 1) <= 0:
        raise VidzooError(f"--optimizer.lr must be positive, got {options['lr']}")
    if options.get("warmup_epochs", 0) < 0:
        raise VidzooError(f"--optimizer.warmup_epochs must be 0 or more, got {options['warmup_epochs']}")


def build(parameters, options: dict, total_steps: int, steps_per_epoch: float):
    """Return Lightning's configure_optimizers() value for these options."""
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
