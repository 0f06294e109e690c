"""Embeddings on the demo sample: `embed` vs `predict` throughput, and linear probe vs kNN vs full fine-tuning.

1. Full fine-tuning: `vidzoo run --dataset kinetics --backbone resnet3d50` on the demo sample (its
   recommended settings; --epochs to shorten): wall time and val top-1.
2. The same checkpoint's `predict` and `embed` on the val videos, same views: clips per CPU-second
   (this process's CPU time, all its threads).
3. `vidzoo embed` of the train and val splits, then the kNN top-1 (k=5, cosine) and a linear probe
   (`--dataset features --backbone linear`, its defaults): time and val top-1.

    python -m benchmarks.embed                  # JSON to benchmarks/results/embed.json
    python -m benchmarks.embed --quick --epochs 3          # the tests' sizes (a shared machine)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from benchmarks import RESULTS, write_results


def _cpu_rate(fn, paths, views) -> tuple[float, int]:
    """(clips per CPU-second, clips) of fn(path, views=...) over paths."""
    start, clips = time.process_time(), 0
    for p in paths:
        clips += fn(p, views=views).views
    return clips / max(time.process_time() - start, 1e-9), clips


TINY = {"transform": {"name": "kinetics", "num_frames": 4, "crop_size": 32, "min_short_side": 36, "max_short_side": 40,
                      "eval_short_side": 36}, "data": {"num_workers": 0}}


def run(out: Path | None = None, epochs: int | None = None, views: str = "5x1", quick: bool = False) -> dict:
    import vidzoo
    from vidzoo.data.demo import write_demo
    from vidzoo.evaluation.embedding import knn_top1
    from vidzoo.evaluation.embedding_folder import Item, embed_to_folder

    work = Path(tempfile.mkdtemp(prefix="vidzoo-embed-bench-"))
    # quick: the test suite's sizes (a smaller sample, 4 frames at 32 px), for a shared machine
    demo = write_demo(work / "demo", **(dict(train_per_class=6, val_per_class=2, width=64, height=48) if quick else {}))
    trainer = {"enable_progress_bar": False, "enable_model_summary": False}
    if epochs:
        trainer["max_epochs"] = epochs
    full = vidzoo.train({"name": "kinetics", "data_path": str(demo)}, "resnet3d50", trainer=trainer,
                        output=str(work / "runs"), **(TINY if quick else {}))
    predictor = vidzoo.load(full.best_checkpoint, device="cpu")
    val = sorted(str(p) for p in (demo / "val").rglob("*.mp4"))
    predict_rate, clips = _cpu_rate(predictor.predict, val, views)
    embed_rate, _ = _cpu_rate(predictor.embed, val, views)
    feats, started = work / "feats", time.perf_counter()
    for split in ("train", "val"):
        items = [Item(str(p), p.parent.name) for p in sorted((demo / split).rglob("*.mp4"))]
        names = sorted({i.label for i in items})
        embed_to_folder(predictor, items, feats / split, views, class_names=names, progress=False)
    embed_seconds = time.perf_counter() - started
    started = time.perf_counter()
    knn = knn_top1(feats / "val", feats / "train")
    knn_seconds = time.perf_counter() - started
    probe = vidzoo.train({"name": "features", "data_path": str(feats)}, "linear",
                         trainer={"enable_progress_bar": False, "enable_model_summary": False},
                         output=str(work / "probe"))
    results = {
        "views": views, "quick": quick, "val_videos": len(val), "clips": clips,
        "predict_clips_per_cpu_s": predict_rate, "embed_clips_per_cpu_s": embed_rate,
        "full_finetune": {"seconds": full.seconds, "epochs": full.epochs + 1,
                          "top1": full.metrics.get("val/top1")},
        "embed_train_val_seconds": embed_seconds,
        "knn": {"seconds": knn_seconds, "top1": knn},
        "linear_probe": {"seconds": probe.seconds, "top1": probe.metrics.get("val/top1"),
                         "best_top1": _best(probe.run_dir)},
        "full_finetune_best_top1": _best(full.run_dir),
    }
    write_results(results, out or RESULTS / "embed.json")
    print(render(results))
    return results


def _best(run_dir) -> float | None:
    from vidzoo.training.run_summary import read_epochs

    tops = [e.get("val/top1") for e in read_epochs(Path(run_dir) / "logs" / "metrics.csv")]
    tops = [t for t in tops if t is not None]
    return max(tops) if tops else None


def render(r: dict) -> str:
    from vidzoo.training.benchmarking import table

    speed = table([["predict", f"{r['predict_clips_per_cpu_s']:.2f}"], ["embed", f"{r['embed_clips_per_cpu_s']:.2f}"]],
                  ["resnet3d50 on the demo's val videos", f"clips per CPU-second ({r['views']} views)"])
    f, k, p = r["full_finetune"], r["knn"], r["linear_probe"]
    runs = table([
        ["full fine-tuning (vidzoo run)", f"{f['seconds']:.1f}", f"{f['top1']:.3f}"],
        ["embed train + val (once)", f"{r['embed_train_val_seconds']:.1f}", "-"],
        ["kNN on the embeddings (k=5)", f"{k['seconds']:.2f}", f"{k['top1']:.3f}"],
        ["linear probe (--dataset features)", f"{p['seconds']:.1f}", f"{p['top1']:.3f}"],
    ], ["on the demo sample", "seconds", "val top-1"])
    return speed + "\n\n" + runs


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.embed", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=None, help="full fine-tuning epochs (default: the demo's)")
    p.add_argument("--views", default="5x1", help="views per video for predict and embed (default 5x1)")
    p.add_argument("--quick", action="store_true", help="the tests' sizes: 24 + 8 videos, 4 frames at 32 px")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    run(args.out, args.epochs, args.views, args.quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
