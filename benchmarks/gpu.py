"""GPU row: resnet3d50 (slow_r50) training clips/s on a GPU, and the DataLoader workers that keep it fed.

On a machine with a CUDA GPU, from the repository root (a few minutes):

    python -m benchmarks.gpu                          # -> benchmarks/results/gpu.json
    python -m benchmarks.gpu --render                 # table + gpu.png from that JSON (any machine)

Three parts, one run, the recipe's input (8x3x8x224x224 batches):
1. model: training steps on fixed random batches (copied to the GPU each step, as a loader's
   would be), a plain PyTorch loop against vidzoo's Lightning task (without a progress bar,
   with vidzoo's, with Lightning's), fp32 and bf16-mixed; clips/s over all timed steps,
   synchronized at the first and the last only;
2. data: one DataLoader worker's clips/s on this machine's CPU (`vidzoo bench data`, the
   issue's 340x256 10 s H.264 clips, random short side 256-320 and 224 crop), and so the
   workers the model needs: model clips/s / one worker's clips/s;
3. end to end: `vidzoo run --dataset kinetics --backbone resnet3d50` on those videos with N
   workers; clips/s and the data-wait fraction of its second epoch from its metrics.csv;
4. prepared (issue 10's GPU row): the same run on a `vidzoo prepare` copy of the videos with
   `--data.num_workers auto`; goal: >= 90% of the model's clips/s, under 10% waiting for data.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import RESULTS, write_results
SHAPE = (8, 3, 8, 224, 224)


def _save(results: dict, out: Path) -> None:
    write_results(results, out)  # after every part: a cut-short run keeps what it measured


def model_part(results: dict, out: Path, steps: int, shape: tuple) -> None:
    from vidzoo.training.benchmarking import train_lightning, train_plain

    big = (4 * shape[0], *shape[1:])
    # (arm, function, precision, batch shape, progress bar); `vidzoo run` trains as "lightning+bar"
    arms = [("plain", train_plain, "32-true", shape, False), ("lightning", train_lightning, "32-true", shape, False),
            ("lightning+bar", train_lightning, "32-true", shape, True),
            ("plain", train_plain, "bf16-mixed", shape, False),
            ("lightning+bar", train_lightning, "bf16-mixed", shape, True),
            ("lightning+bar", train_lightning, "bf16-mixed", big, True)]
    for name, fn, precision, shape, bar in arms:
        kwargs = {"progress_bar": bar} if fn is train_lightning else {}
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            rate = fn("resnet3d50", shape, steps, warmup=3, num_classes=400, precision=precision, **kwargs)
        row = {"arm": name, "precision": precision, "batch": list(shape), "clips_per_s": rate.clips_per_s,
               "median_step_clips_per_s": shape[0] / rate.median_step_s}
        results["model"].append(row)
        print(f"  model {name:26s} {precision:10s} batch {shape[0]:2d}: {row['clips_per_s']:7.1f} clips/s "
              f"(mean step {1000 * rate.wall_s / steps:.1f} ms)", flush=True)
        _save(results, out)


def sync_part(results: dict, out: Path, shape: tuple, steps: int = 8) -> None:
    """Where the training loop waits for the GPU: torch's sync debug mode over a short fit of the task
    with the progress bar, warnings counted by the Python line that made them. A site seen about once per
    step is a per-step sync; the Clock's two explicit synchronizes are expected."""
    import warnings
    from collections import Counter

    import torch

    from vidzoo.training.benchmarking import train_lightning

    import traceback

    caught = []

    def record(message, category, filename, lineno, file=None, line=None):
        # The innermost frames outside torch: who asked for the sync.
        frames = [f for f in traceback.extract_stack()[:-1] if "site-packages/torch/" not in f.filename
                  and "/warnings.py" not in f.filename]
        where = " <- ".join(f"{f.filename.split('site-packages/')[-1]}:{f.lineno}" for f in frames[-3:][::-1])
        caught.append((str(message), where))

    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("always")
        warnings.showwarning = record
        torch.cuda.set_sync_debug_mode("warn")
        try:
            train_lightning("resnet3d50", shape, steps, warmup=2, num_classes=400, progress_bar=True)
        finally:
            torch.cuda.set_sync_debug_mode(0)
    sites = Counter(where for message, where in caught if "synchroniz" in message.lower())
    results["syncs"] = {"steps": steps + 2, "sites": sites.most_common(20)}
    print(f"  host syncs over {steps + 2} training steps, by site:", flush=True)
    for site, n in sites.most_common(20):
        print(f"    {n:4d}  {site}", flush=True)
    _save(results, out)


def make_tree(root: Path, copies: int, base: Path | None = None, name: str = "tree") -> Path:
    """The benchmark's 340x256 videos (or those under BASE), hard-linked COPIES times into a 2-class kinetics tree."""
    from benchmarks.make_videos import make

    base = base or make(root / "videos", {"340x256": 6})["340x256"]
    tree = root / name
    sources = sorted((base / "train").rglob("*.mp4"))
    for split, n in (("train", copies), ("val", 1)):
        for k in range(n):
            for src in sources:
                dst = tree / split / src.parent.name / f"{k:03d}-{src.name}"
                dst.parent.mkdir(parents=True, exist_ok=True)
                if not dst.exists():
                    os.link(src, dst)
    return tree


def data_part(results: dict, out: Path, tree: Path) -> None:
    js = out.parent / "gpu-bench-data.json"
    cmd = [sys.executable, "-m", "vidzoo", "bench", "data", "--dataset", "kinetics", "--dataset.data_path",
           str(tree), "--data.batch_size", str(SHAPE[0]), "--clips", "48", "--no-model", "--json", str(js)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    print(proc.stdout[-3000:], proc.stderr[-2000:], flush=True)
    stages = json.loads(js.read_text())["stages"]
    js.unlink()
    results["data"] = {name: {"clips_per_s": r["clips_per_s"], "clips_per_cpu_s": r["clips_per_cpu_s"]}
                       for name, r in stages.items()}
    _save(results, out)


def worker_rate(results: dict) -> float:
    """One worker's clips/s through vidzoo's whole pipeline (the reader and the transform)."""
    stages = results["data"]
    return stages["sample"]["clips_per_cpu_s"]


def e2e_part(results: dict, out: Path, tree: Path, workers: list, precisions: list[str],
             extra: list[str], data: str = "") -> None:
    for precision in precisions:
        for n in workers:
            with tempfile.TemporaryDirectory() as tmp:
                cmd = [sys.executable, "-m", "vidzoo", "run", "--dataset", "kinetics", "--backbone", "resnet3d50",
                       "--dataset.data_path", str(tree), "--data.batch_size", str(SHAPE[0]),
                       "--data.num_workers", str(n), "--trainer.max_epochs", "2", "--trainer.limit_val_batches", "2",
                       "--trainer.num_sanity_val_steps", "0", "--trainer.enable_progress_bar", "false",
                       "--trainer.precision", precision, "--output", tmp, *extra]
                started = time.perf_counter()
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=400)
                wall = time.perf_counter() - started
                if proc.returncode != 0:
                    print(proc.stderr[-3000:], flush=True)
                    results["e2e"].append({"workers": n, "precision": precision, "error": proc.stderr[-500:]})
                    continue
                (metrics,) = Path(tmp).glob("*/logs/metrics.csv")
                with open(metrics, newline="") as f:
                    rows = [r for r in csv.DictReader(f) if r.get("train/clips_per_s")]
                last = rows[-1]
                row = {"workers": n, "precision": precision, "clips_per_s": float(last["train/clips_per_s"]),
                       "data_wait": float(last["train/data_wait"]), "run_wall_s": wall}
                if data:
                    row["data"] = data
            results["e2e"].append(row)
            print(f"  vidzoo run {data}, {n!s:>4} workers, {precision:10s}: {row['clips_per_s']:7.1f} clips/s, "
                  f"{100 * row['data_wait']:.0f}% waiting for data (whole run {wall:.0f} s)", flush=True)
            _save(results, out)


def prepared_part(results: dict, out: Path, work: Path, copies: int, precisions: list[str], extra: list[str]) -> None:
    """`vidzoo prepare` of the 6 videos (default settings), hard-linked like make_tree, then `vidzoo run`
    on it with --data.num_workers auto."""
    from benchmarks.make_videos import make
    from vidzoo.data import prepare, prepare_runner

    source = make(work / "videos", {"340x256": 6})["340x256"]
    plan = prepare.make_plan("kinetics", {"data_path": str(source)}, str(work / "prepared-videos"), ["train"])
    started = time.perf_counter()
    prepare_runner.run(plan, workers=os.cpu_count() or 1, progress=False)
    results["prepare_wall_s"] = time.perf_counter() - started
    tree = make_tree(work, copies, base=work / "prepared-videos", name="prepared-tree")
    e2e_part(results, out, tree, ["auto"], precisions, extra, data="prepared")


def machine() -> dict:
    import torch

    from benchmarks.data import machine as cpu_machine

    return {"gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "cpu": cpu_machine(), "cpus": os.cpu_count(), "torch": torch.__version__,
            "cuda": torch.version.cuda, "date": time.strftime("%Y-%m-%d")}


def render(results: dict, png: Path | None = None) -> str:
    from vidzoo.training.benchmarking import table

    m = results["machine"]
    lines = [f"GPU row: {m['gpu']}, {m['cpus']} CPUs ({m['cpu']}), torch {m['torch']} (CUDA {m['cuda']}), {m['date']}"]
    names = {"plain": "plain PyTorch loop", "lightning": "vidzoo task, no bar",
             "lightning+bar": "vidzoo task + progress bar (`vidzoo run`)",
             "lightning+throttled bar": "vidzoo task + a throttled bar (tried, removed)"}
    rows = [[names.get(r["arm"], r["arm"]), r["precision"], "x".join(map(str, r["batch"])), r["clips_per_s"]]
            for r in results["model"]]
    lines.append("\n1. model alone (fixed batches)\n" +
                 table(rows, ["arm", "precision", "batch", "clips/s"]))
    best = {}
    for r in results["model"]:
        if r["arm"].startswith("lightning+") and r["batch"] == results["model"][0]["batch"]:
            best[r["precision"]] = r["clips_per_s"]
    by = {(r["arm"], r["precision"]): r["clips_per_s"] for r in results["model"] if r["batch"] == results["model"][0]["batch"]}
    for (arm, p), rate in by.items():
        if arm != "plain" and ("plain", p) in by:
            lines.append(f"overhead of {names.get(arm, arm)} vs the plain loop ({p}): {100 * (by[('plain', p)] / rate - 1):+.1f}%")
    if results.get("data"):
        w = worker_rate(results)
        need = {p: math.ceil(v / w) for p, v in best.items()}
        rows = [[name, r["clips_per_s"], r["clips_per_cpu_s"]] for name, r in results["data"].items()]
        lines.append("\n2. one DataLoader worker on this CPU (340x256 10 s H.264 -> 8x224x224)\n" +
                     table(rows, ["stage", "clips/s", "clips/CPU-s"]))
        lines.append("workers needed to keep the model fed at batch 8: " +
                     ", ".join(f"{p} {need[p]} ({best[p]:.0f} / {w:.1f})" for p in best))
    if results.get("e2e"):
        rows = [[r.get("run", ""), r.get("data", "source"), r["workers"], r["precision"], r.get("clips_per_s", "error"),
                 f"{100 * r['data_wait']:.0f}%" if "data_wait" in r else "",
                 f"{r['clips_per_s'] / best[r['precision']]:.2f}" if r.get("clips_per_s") and r["precision"] in best else ""]
                for r in results["e2e"]]
        lines.append("\n3. end to end: `vidzoo run` (kinetics + resnet3d50, batch 8), second epoch\n" +
                     table(rows, ["run", "videos", "workers", "precision", "clips/s", "waiting for data", "of model alone"]))
    if png is not None and results.get("e2e"):
        _plot(results, best, png)
        lines.append(f"\nplot: {png}")
    lines += [f"note: {n}" for n in results.get("notes", [])]
    return "\n".join(lines)


def _plot(results: dict, best: dict, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    colors = {"32-true": "tab:blue", "bf16-mixed": "tab:orange"}
    w = worker_rate(results) if results.get("data") else None
    for p, color in colors.items():
        rows = [r for r in results["e2e"] if r["precision"] == p and "clips_per_s" in r and "data" not in r]
        first = min((r.get("run", 1) for r in rows), default=1)
        pts = sorted((r["workers"], r["clips_per_s"]) for r in rows if r.get("run", 1) == first)
        if pts:
            ax.plot(*zip(*pts), "o-", color=color, label=f"vidzoo run, {p}")
        again = [(r["workers"], r["clips_per_s"]) for r in rows if r.get("run", 1) != first]
        if again:  # repeats on another machine of the same kind
            ax.plot(*zip(*again), "o", mfc="none", color=color, label=f"vidzoo run, {p}, repeat")
        if p in best:
            ax.axhline(best[p], color=color, ls="--", lw=1, label=f"model alone, {p}")
    if w:
        xs = [r["workers"] for r in results["e2e"] if "data" not in r]
        ax.plot([0, max(xs)], [0, w * max(xs)], ":", color="gray", label=f"workers x {w:.1f} clips/s")
    ax.set_xlabel("DataLoader workers")
    ax.set_ylabel("training clips/s")
    ax.set_title(f"resnet3d50 (slow_r50) 8x224x224 on {results['machine']['gpu']}")
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=RESULTS / "gpu.json")
    parser.add_argument("--work", type=Path, default=None, help="folder for the videos (default: a temporary one)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per model arm")
    parser.add_argument("--workers", default="4,8,14", help="DataLoader workers of the end-to-end runs")
    parser.add_argument("--precisions", default="32-true,bf16-mixed")
    parser.add_argument("--copies", type=int, default=50, help="hard-linked copies of the 6 videos in train")
    parser.add_argument("--parts", default="model,syncs,data,e2e,prepared")
    parser.add_argument("--batch-shape", default="x".join(map(str, SHAPE)), help="BxCxTxHxW of the model part")
    parser.add_argument("--run-args", default="", help="extra `vidzoo run` options of the end-to-end runs")
    parser.add_argument("--allow-cpu", action="store_true", help="dry run without a GPU (small shapes advised)")
    parser.add_argument("--render", action="store_true", help="only print the table and write gpu.png from --out")
    args = parser.parse_args(argv)
    if args.render:
        print(render(json.loads(args.out.read_text()), args.out.with_suffix(".png")))
        return 0
    import torch

    if not torch.cuda.is_available() and not args.allow_cpu:
        print("benchmarks.gpu: no CUDA GPU here; run it on a GPU machine", file=sys.stderr)
        return 2
    os.environ.setdefault("VIDZOO_LOAD_PLUGINS", "")
    parts = args.parts.split(",")
    results = {"machine": machine(), "model": [], "data": {}, "e2e": []}
    shape = tuple(int(v) for v in args.batch_shape.split("x"))
    if "model" in parts:
        model_part(results, args.out, args.steps, shape)
    if "syncs" in parts:
        sync_part(results, args.out, shape)
    work = args.work or Path(tempfile.mkdtemp(prefix="vidzoo-gpu-"))
    if "data" in parts or "e2e" in parts:
        tree = make_tree(work, args.copies)
        if "data" in parts:
            data_part(results, args.out, tree)
        if "e2e" in parts:
            e2e_part(results, args.out, tree, [int(v) for v in args.workers.split(",")], args.precisions.split(","),
                     args.run_args.split())
    if "prepared" in parts:
        prepared_part(results, args.out, work, args.copies, args.precisions.split(","), args.run_args.split())
    print(render(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
