"""Cost of a mid-epoch checkpoint: seconds per checkpoint of resnet3d50 (Kinetics-400 head, Adam
state) written the way `vidzoo run` writes them (AtomicCheckpointIO: serialise, temporary file,
fsync, rename), and the size of the training loader's state inside it.

The loader state is measured on a real `vidzoo run` checkpoint when one is given (--ckpt,
e.g. a step-*.ckpt of a run with 2 workers); it holds, per rank, the sampler position and each
worker's Python/NumPy/torch random states.

    python -m benchmarks.checkpoint                       # JSON to benchmarks/results/checkpoint.json
    python -m benchmarks.checkpoint --ckpt runs/RUN/checkpoints/step-00000008.ckpt
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks import RESULTS, write_results


def run(repeats: int = 3, ckpt: str | None = None, out: Path | None = None) -> dict:
    import torch

    from benchmarks.data import machine
    from vidzoo.data.resumable import state_size
    from vidzoo.plugins import get_registry
    from vidzoo.io import safe_load
    from vidzoo.training.checkpoint_io import AtomicCheckpointIO

    torch.manual_seed(0)
    model = get_registry().get("backbone", "resnet3d50").factory(num_classes=400)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.randn(1, 3, 8, 64, 64)).sum().backward()  # one step: Adam holds exp_avg and exp_avg_sq
    optimizer.step()
    checkpoint = {"epoch": 0, "global_step": 1, "state_dict": model.state_dict(),
                  "optimizer_states": [optimizer.state_dict()]}
    params = sum(p.numel() for p in model.parameters())
    io = AtomicCheckpointIO()
    times = []
    with tempfile.TemporaryDirectory(dir=".") as folder:  # the disk runs are written to, not a tmpfs
        path = Path(folder) / "step-00000001.ckpt"
        for _ in range(repeats):
            start = time.perf_counter()
            io.save_checkpoint(checkpoint, path)
            times.append(time.perf_counter() - start)
        size = path.stat().st_size
    results = {"machine": machine(), "backbone": "resnet3d50", "parameters": params,
               "checkpoint_mb": size / 2**20, "seconds_per_checkpoint": statistics.median(times),
               "seconds_all": times}
    if ckpt:
        loaded = safe_load(ckpt)
        states = loaded.get("vidzoo_loader_states") or []
        results.update(loader_state_bytes=state_size(loaded), loader_state_ranks=len(states),
                       loader_state_source=str(ckpt))
    print(f"resnet3d50 ({params / 1e6:.2f} M parameters, Adam): checkpoint {size / 2**20:.0f} MB, "
          f"{statistics.median(times):.2f} s per checkpoint (median of {repeats}; serialise + write + fsync + rename)")
    if ckpt:
        print(f"loader state ({results['loader_state_ranks']} rank(s)): {results['loader_state_bytes'] / 1024:.1f} KiB")
    write_results(results, out or RESULTS / "checkpoint.json")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ckpt", help="a vidzoo run checkpoint whose loader state to measure")
    args = parser.parse_args()
    run(args.repeats, args.ckpt)


if __name__ == "__main__":
    main()
