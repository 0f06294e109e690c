"""Train benchmark: clips/s of vidzoo's Lightning task vs a plain PyTorch loop, same model and batches.

The Lightning arm is the task `vidzoo run` trains (per-step loss logging, top-1/top-5
metrics, LR scheduler, CSV logger every 10 steps); the plain arm is forward, loss,
backward, optimizer and scheduler steps over the same batches (fixed tensors, so data
loading is not measured). Arms alternate over rounds; the best of each is compared, by the
median step time (steps start to start, so the loop's own work between steps counts; the
median drops steps where other jobs preempted this one) and by CPU time.
Model options measured too: channels_last_3d, and torch.compile with --compile (slow to
compile on a small CPU). On CPU, inputs are small (default 4x3x8x64x64) so a step is short
and the framework's per-step cost is as visible as it gets.

    python -m benchmarks.train                       # JSON to benchmarks/results/train.json
    python -m benchmarks.train --compile --steps 6
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from benchmarks import RESULTS, write_results


def run(backbone="resnet3d50", batch_shape=(4, 3, 8, 64, 64), steps=8, rounds=2, compile_=False, out=None,
        threads: int | None = 1) -> dict:
    import torch

    if threads and not torch.cuda.is_available():
        torch.set_num_threads(threads)  # one thread: steadier on a shared machine; the per-step overhead is the same

    from benchmarks.data import machine
    from vidzoo.training.benchmarking import train_lightning, train_plain

    device = "cuda" if torch.cuda.is_available() else "cpu"
    arms = [("plain", train_plain, {}), ("lightning", train_lightning, {}),
            ("lightning+channels_last_3d", train_lightning, {"channels_last_3d": True})]
    if compile_:
        arms.append(("lightning+compile", train_lightning, {"compile": True}))
    results = {"machine": machine(), "device": device, "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
               "backbone": backbone, "batch_shape": list(batch_shape), "steps": steps, "rounds": rounds,
               "started": time.strftime("%Y-%m-%d %H:%M:%S"), "runs": []}
    for r in range(rounds):
        for name, fn, perf in (arms if r % 2 == 0 else arms[::-1]):
            if name.endswith("compile") and r > 0:
                continue  # compiling once is measurement enough (and minutes on a small CPU)
            warmup = 3 if perf.get("compile") else 2
            rate = fn(backbone, batch_shape, steps, warmup=warmup, perf=perf)
            results["runs"].append({"arm": name, "round": r, **rate.as_dict(),
                                    "median_step_clips_per_s": batch_shape[0] / rate.median_step_s})
            print(f"  round {r} {name:28s} {batch_shape[0] / rate.median_step_s:7.2f} clips/s  "
                  f"(median step {rate.median_step_s * 1000:.0f} ms, mean {rate.wall_s / steps * 1000:.0f} ms)",
                  flush=True)
    best, best_cpu = {}, {}
    for run_ in results["runs"]:  # wall clock: the median step, which preemption by other jobs disturbs least
        best[run_["arm"]] = max(best.get(run_["arm"], 0), run_["median_step_clips_per_s"])
        best_cpu[run_["arm"]] = max(best_cpu.get(run_["arm"], 0), run_["clips_per_cpu_s"])
    results["summary"] = [{"arm": a, "clips_per_s": v, "vs_plain": v / best["plain"],
                           "clips_per_cpu_s": best_cpu[a], "cpu_vs_plain": best_cpu[a] / best_cpu["plain"]}
                          for a, v in best.items()]
    results["lightning_overhead"] = best["plain"] / best["lightning"] - 1
    results["lightning_overhead_cpu"] = best_cpu["plain"] / best_cpu["lightning"] - 1
    out = write_results(results, out or RESULTS / "train.json")
    print(render(results))
    print(f"\nwrote {out}")
    return results


def render(results: dict) -> str:
    from vidzoo.training.benchmarking import table

    rows = [[s["arm"], s["clips_per_s"], f"{s['vs_plain']:.3f}", s["clips_per_cpu_s"], f"{s['cpu_vs_plain']:.3f}"]
            for s in results["summary"]]
    shape = "x".join(str(v) for v in results["batch_shape"])
    return (f"train step, {results['backbone']} on {results['device']} ({results['torch_threads']} threads), "
            f"batch {shape}, {results['steps']} timed steps, best of {results['rounds']}; {results['machine']}\n"
            + table(rows, ["arm", "clips/s (median step)", "vs plain", "clips/CPU-s", "CPU vs plain"])
            + f"\nLightning overhead vs plain loop: {100 * results['lightning_overhead']:+.1f}% wall clock, "
            f"{100 * results['lightning_overhead_cpu']:+.1f}% CPU time")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", default="resnet3d50")
    parser.add_argument("--batch-shape", default="4x3x8x64x64", help="BxCxTxHxW")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--compile", action="store_true", help="also measure torch.compile (minutes on CPU)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads on CPU (default 1; 0: torch's default)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    import os

    os.environ.setdefault("VIDZOO_LOAD_PLUGINS", "")
    shape = tuple(int(v) for v in args.batch_shape.split("x"))
    run(args.backbone, shape, args.steps, args.rounds, args.compile, args.out, args.threads or None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
