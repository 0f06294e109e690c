"""The main command on the demo sample, once per seed: wall time and final val top-1 (README's figures).

Each seed runs `vidzoo run --dataset kinetics --backbone resnet3d50 --seed N` unchanged, in a
fresh cache the first time (so the first seed's time includes writing the sample, as a
newcomer's first run does), and reads the results table it prints. The machine's load
average is recorded before and after: the times mean something only on an otherwise idle machine.

    python -m benchmarks.demo                   # seeds 0 1 2; JSON to benchmarks/results/demo.json
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import RESULTS, write_results


def run(seeds=(0, 1, 2), out: Path | None = None) -> dict:
    rows = []
    with tempfile.TemporaryDirectory(prefix="vidzoo-demo-bench-") as tmp:
        env = {**os.environ, "VIDZOO_CACHE": str(Path(tmp) / "cache")}
        for seed in seeds:
            load = os.getloadavg()[0]
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "vidzoo", "run", "--dataset", "kinetics", "--backbone",
                                   "resnet3d50", "--seed", str(seed), "--output", str(Path(tmp) / "runs"),
                                   "--trainer.enable_progress_bar", "false"],
                                  capture_output=True, text=True, env=env)
            wall = time.perf_counter() - started
            if done.returncode != 0:
                raise SystemExit(f"seed {seed} failed:\n{done.stderr[-3000:]}")
            m = re.search(r"^  val top-1\s+best ([\d.]+) \(epoch (\d+)\), final ([\d.]+)$", done.stdout, re.M)
            rows.append({"seed": seed, "wall_s": round(wall, 1), "final_top1": float(m.group(3)),
                         "best_top1": float(m.group(1)), "best_epoch": int(m.group(2)),
                         "load_before": round(load, 2), "load_after": round(os.getloadavg()[0], 2),
                         "wrote_sample": seed == seeds[0]})
            print(f"seed {seed}: final val top-1 {rows[-1]['final_top1']:.4f}, best {rows[-1]['best_top1']:.4f}, "
                  f"{wall:.0f} s (load {load:.1f} -> {rows[-1]['load_after']:.1f})", flush=True)
    results = {"command": "vidzoo run --dataset kinetics --backbone resnet3d50 --seed N", "cpus": os.cpu_count(),
               "rows": rows}
    write_results(results, out or RESULTS / "demo.json")
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    run(tuple(args.seeds), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
