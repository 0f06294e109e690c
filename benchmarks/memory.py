"""Memory benchmark: RSS of one DataLoader worker over 1,000 clips of vidzoo's pipeline stays flat.

vidzoo's `kinetics` train dataset on the 340x256 benchmark videos, one worker, batches of 8,
1,000 random clips (sampling with replacement); the worker's RSS is sampled every batch.
Goal: no growth beyond 10%: the median RSS over the last 100 clips against the median over
clips 100-200 (after the decoder and allocator warm up); the peak is reported too.

    python -m benchmarks.memory                 # JSON + PNG to benchmarks/results/memory.*
    python -m benchmarks.memory --clips 300
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from benchmarks import RESULTS, write_results


def run(clips: int = 1000, size: str = "340x256", warm: int = 100, out: Path | None = None) -> dict:
    import psutil
    import torch

    from benchmarks.data import machine
    from benchmarks.make_videos import SIZES, make
    from vidzoo.data.datamodule import build_dataset

    root = make(sizes={size: SIZES[size]})[size]
    os.environ["VIDZOO_DECODE_THREADS"] = "1"
    dataset = build_dataset("kinetics", {"data_path": str(root)}, "train", "kinetics", {})
    sampler = torch.utils.data.RandomSampler(dataset, replacement=True, num_samples=clips,
                                             generator=torch.Generator().manual_seed(0))
    loader = torch.utils.data.DataLoader(dataset, batch_size=8, sampler=sampler, num_workers=1)
    samples, worker, seen = [], None, 0
    start = time.perf_counter()
    for batch in loader:
        seen += batch["video"].shape[0]
        if worker is None:
            worker = psutil.Process().children()[0]
        samples.append((seen, worker.memory_info().rss / 2**20))
    wall = time.perf_counter() - start
    # RSS swings by a batch or two in flight (each 8x3x8x224x224 float batch is 38 MB of shared
    # memory), so compare medians: clips warm..warm+100 against the last 100 clips.
    import statistics

    base = statistics.median(rss for n, rss in samples if warm <= n < warm + 100)
    final = statistics.median(rss for n, rss in samples if n > seen - 100)
    peak = max(rss for n, rss in samples if n >= warm)
    results = {"machine": machine(), "size": size, "clips": seen, "clips_per_s": seen / wall,
               "rss_after_warmup_mb": base, "rss_final_mb": final, "rss_peak_mb": peak,
               "growth_final": final / base - 1, "growth_peak": peak / base - 1, "samples": samples,
               "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    out = write_results(results, out or RESULTS / "memory.json")
    print(render(results))
    plot(results, out.with_suffix(".png"))
    print(f"\nwrote {out}")
    return results


def render(r: dict) -> str:
    from vidzoo.training.benchmarking import table

    verdict = "flat (goal met)" if r["growth_final"] <= 0.10 else "GROWS (goal missed)"
    return (f"worker RSS over {r['clips']} clips ({r['size']}, 1 worker, {r['clips_per_s']:.1f} clips/s); "
            f"{r['machine']}\n" + table(
                [[f"{r['rss_after_warmup_mb']:.0f}", f"{r['rss_peak_mb']:.0f}", f"{r['rss_final_mb']:.0f}",
                  f"{100 * r['growth_peak']:+.1f}%", f"{100 * r['growth_final']:+.1f}%", verdict]],
                ["RSS clips 100-200 MB (median)", "peak after MB", "last 100 clips MB (median)", "peak vs median",
                 "growth", "verdict"]))


def plot(r: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 2.8))
    ax.plot([n for n, _ in r["samples"]], [m for _, m in r["samples"]])
    ax.axhline(r["rss_after_warmup_mb"] * 1.1, ls="--", color="grey", label="+10% of the median at clips 100-200")
    ax.set_xlabel("clips")
    ax.set_ylabel("worker RSS (MB)")
    ax.set_ylim(0, max(m for _, m in r["samples"]) * 1.25)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=1000)
    parser.add_argument("--size", default="340x256")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    os.environ.setdefault("VIDZOO_LOAD_PLUGINS", "")
    run(args.clips, args.size, out=args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
