"""Parameters and multiply-adds of the full-size models, against the table in MODELS.

    python -m vidzoo_transformers.figures [NAME ...]

Builds each model on torch's meta device (no memory, no weights), counts its parameters with
400 classes and its multiply-adds on one view (frames x crop^2) with FlopCounterMode.
"""

from __future__ import annotations

import sys


def measure(name: str) -> tuple[float, float]:
    """(parameters in millions, GFLOPs as multiply-adds of one view) of the model `name` builds."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from vidzoo_transformers import FACTORIES, MODELS

    meta = MODELS[name]
    with torch.device("meta"):
        model = FACTORIES[name](num_classes=400).eval()
        params = sum(p.numel() for p in model.parameters()) / 1e6
        clip = torch.empty(1, 3, meta["num_frames"], meta["crop_size"], meta["crop_size"])
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            model(clip)
    return params, counter.get_total_flops() / 2e9


def main(argv: list[str]) -> int:
    from vidzoo_transformers import MODELS

    print(f"{'backbone':<18} {'params_m':>9} {'table':>9} {'GFLOPs':>8} {'table':>8}")
    for name in argv or list(MODELS):
        params, gflops = measure(name)
        print(f"{name:<18} {params:>9.2f} {MODELS[name]['params_m']:>9.2f} {gflops:>8.1f} "
              f"{MODELS[name]['gflops']:>8.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
