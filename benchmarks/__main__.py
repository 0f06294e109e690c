"""Run all the benchmarks: `python -m benchmarks` (from the repository root), about 5 minutes on 2 cores.

Each benchmark runs in its own process (so one's memory does not show up in another's
RSS): data, train, memory, accuracy. Writes benchmarks/results/{data,train,memory,accuracy}.json,
data.png, memory.png and summary.md (the tables docs/performance.md shows).
--quick runs smaller versions (noisier figures).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
ALL = ("data", "train", "memory", "accuracy")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller runs (noisier figures)")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile in the train benchmark")
    parser.add_argument("--only", nargs="*", choices=ALL, default=None)
    args = parser.parse_args(argv)
    env = {**os.environ, "VIDZOO_LOAD_PLUGINS": os.environ.get("VIDZOO_LOAD_PLUGINS", "")}
    commands = {
        "data": ["--rounds", "1", "--clips-scale", "0.4"] if args.quick else [],
        "train": (["--steps", "3", "--rounds", "1"] if args.quick else []) + (["--compile"] if args.compile else []),
        "memory": ["--clips", "300"] if args.quick else [],
        "accuracy": [],
    }
    started = time.time()
    for name in args.only or ALL:
        print(f"== {name} ==", flush=True)
        code = subprocess.call([sys.executable, "-m", f"benchmarks.{name}", *commands[name]], env=env,
                               cwd=HERE.parent)
        if code != 0:
            print(f"benchmark {name} failed (exit {code})", file=sys.stderr)
            return code
    from benchmarks import accuracy, data, memory, train

    parts = []
    for name, module in (("data", data), ("train", train), ("memory", memory), ("accuracy", accuracy)):
        path = RESULTS / f"{name}.json"
        if path.exists():
            parts.append(module.render(json.loads(path.read_text())))
    summary = "\n\n".join(parts)
    (RESULTS / "summary.md").write_text(summary + "\n")
    print(f"\n{summary}\n\nall benchmarks: {time.time() - started:.0f} s; tables in {RESULTS / 'summary.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
