"""Run all three benchmarks: `python -m benchmarks` (from the repository root).

Writes benchmarks/results/{data,train,memory}.{json,png} and benchmarks/results/summary.md
(the tables docs/performance.md shows). --quick runs smaller versions (about a third).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from benchmarks import data, memory, train

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller runs (noisier figures)")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile in the train benchmark")
    parser.add_argument("--only", nargs="*", choices=["data", "train", "memory"], default=None)
    args = parser.parse_args(argv)
    os.environ.setdefault("VIDZOO_LOAD_PLUGINS", "")
    only = set(args.only or ["data", "train", "memory"])
    started = time.time()
    parts = []
    if "data" in only:
        print("== data ==", flush=True)
        r = data.run(rounds=1 if args.quick else 2, clips_scale=0.4 if args.quick else 1.0)
        data.plot(r, RESULTS / "data.png")
        parts.append(data.render(r))
    if "train" in only:
        print("== train ==", flush=True)
        r = train.run(steps=3 if args.quick else 8, rounds=1 if args.quick else 2, compile_=args.compile)
        parts.append(train.render(r))
    if "memory" in only:
        print("== memory ==", flush=True)
        r = memory.run(clips=300 if args.quick else 1000)
        parts.append(memory.render(r))
    summary = "\n\n".join(parts)
    (RESULTS / "summary.md").write_text(summary + "\n")
    print(f"\n{summary}\n\nall benchmarks: {time.time() - started:.0f} s; tables in {RESULTS / 'summary.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
