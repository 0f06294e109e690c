"""Data benchmark: clips/s per worker (one core) and peak RSS of three pipelines on the same videos.

(a) seed:   the seed's pipeline exactly as it is written: pytorchvideo.data.Kinetics (PyAV),
            make_clip_sampler("random", 2), the seed's transform (UniformTemporalSubsample(8),
            /255, Normalize, RandomShortSideScale(256, 320), RandomCrop(224), flip); eval:
            make_clip_sampler("uniform", 2) and ShortSideScale(256) + CenterCrop(224).
(b) vidzoo: vidzoo's `kinetics` dataset + `kinetics` transform (decode plan, fast reader).
(c) limit:  PyAV decoding the same spans as (b), converting nothing (output: a zero tensor
            of the same shape, so batching costs the same).
All give 8x224x224 normalised float clips, collated into batches of 8. Each pipeline runs
in its own fresh process (for a clean peak RSS) with one torch thread and one decoder
thread, as a DataLoader worker per core would (forked from a parent that imported
everything, like DataLoader workers); rounds alternate the order. Wall-clock
rates are noisy on a shared machine: compare the ratios, and the CPU-time rates.

    python -m benchmarks.data                 # all sizes; JSON to benchmarks/results/data.json
    python -m benchmarks.data --sizes 340x256 --clips 20 --rounds 1
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

PIPELINES = ("seed", "vidzoo", "limit")
CLIPS = {"340x256": 32, "1280x720": 6, "176x144": 48}
MODES = {"340x256": ("train", "eval"), "1280x720": ("train", "eval"), "176x144": ("train",)}
from benchmarks import RESULTS, write_results
BATCH = 8


def seed_dataset(root: Path, mode: str):
    """The seed's Kinetics dataset and transform, as the seed writes them."""
    import vidzoo  # noqa: F401  (only the torchvision alias that lets pytorchvideo.transforms import)
    import pytorchvideo.data
    from pytorchvideo.transforms import (
        ApplyTransformToKey,
        Normalize,
        RandomShortSideScale,
        ShortSideScale,
        UniformTemporalSubsample,
    )
    from torchvision.transforms import CenterCrop, Compose, Lambda, RandomCrop, RandomHorizontalFlip

    if mode == "train":
        transform = Compose([ApplyTransformToKey(key="video", transform=Compose([
            UniformTemporalSubsample(8),
            Lambda(lambda x: x / 255.0),
            Normalize((0.45, 0.45, 0.45), (0.225, 0.225, 0.225)),
            RandomShortSideScale(min_size=256, max_size=320),
            RandomCrop(224),  # the seed writes 244, a typo for 224 (same output shape for all)
            RandomHorizontalFlip(p=0.5),
        ]))])
        return pytorchvideo.data.Kinetics(
            data_path=os.path.join(root, "train"),
            clip_sampler=pytorchvideo.data.make_clip_sampler("random", 2),
            transform=transform,
        )
    transform = Compose([ApplyTransformToKey(key="video", transform=Compose([
        UniformTemporalSubsample(8),
        Lambda(lambda x: x / 255.0),
        Normalize((0.45, 0.45, 0.45), (0.225, 0.225, 0.225)),
        ShortSideScale(256),
        CenterCrop(224),
    ]))])
    return pytorchvideo.data.Kinetics(
        data_path=os.path.join(root, "val"),
        clip_sampler=pytorchvideo.data.make_clip_sampler("uniform", 2),
        decode_audio=False,
        transform=transform,
    )


def _cycle_iterable(dataset):
    while True:
        yield from iter(dataset)


def _vidzoo_dataset(root: Path, mode: str):
    from vidzoo.data.datamodule import build_dataset

    split = "train" if mode == "train" else "val"
    return build_dataset("kinetics", {"data_path": str(root)}, split, "kinetics", {})


def _indices(dataset, mode: str):
    import torch

    generator = torch.Generator().manual_seed(0)
    while True:
        order = torch.randperm(len(dataset), generator=generator).tolist() if mode == "train" else range(len(dataset))
        yield from order


def samples(pipeline: str, root: Path, mode: str):
    """An endless iterator of samples of one pipeline."""
    import torch

    if pipeline == "seed":
        yield from _cycle_iterable(seed_dataset(root, mode))
        return
    dataset = _vidzoo_dataset(root, mode)
    if pipeline == "vidzoo":
        for i in _indices(dataset, mode):
            yield dataset[i]
        return
    from vidzoo.training.benchmarking import decode_only

    for i in _indices(dataset, mode):
        video_index, start, end = dataset.clip_times(i)
        path, label = dataset.videos[video_index]
        decode_only(path, start, end)
        yield {"video": torch.zeros(3, 8, 224, 224), "label": label, "video_index": video_index,
               "video_name": path, "clip_start": float(start)}


def worker(pipeline: str, root: Path, mode: str, clips: int, warmup: int = 2) -> dict:
    """Run in a fresh process: time `clips` samples (after `warmup`), collated in batches of 8."""
    import torch
    from torch.utils.data import default_collate

    from vidzoo.training.benchmarking import cpu_seconds, peak_rss_mb, single_core

    single_core()
    torch.manual_seed(0)
    import random

    random.seed(0)
    from vidzoo.training.benchmarking import rss_mb

    import pytorchvideo.data  # noqa: F401  (all pipelines' imports first, so base is the same for all)
    import torchvision.transforms  # noqa: F401

    import vidzoo.data.datamodule  # noqa: F401
    import vidzoo.default_plugins.kinetics_transforms  # noqa: F401

    base = rss_mb()  # after the imports: torch, Lightning and pytorchvideo are ~900 MB here
    it = samples(pipeline, root, mode)
    for _ in range(warmup):
        next(it)
    wall, cpu = time.perf_counter(), cpu_seconds()
    batch = []
    for _ in range(clips):
        sample = next(it)
        assert tuple(sample["video"].shape) == (3, 8, 224, 224) and sample["video"].dtype == torch.float32
        batch.append(sample)
        if len(batch) == BATCH:
            default_collate(batch)
            batch = []
    if batch:
        default_collate(batch)
    wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    return {"pipeline": pipeline, "mode": mode, "clips": clips, "wall_s": wall, "cpu_s": cpu,
            "clips_per_s": clips / wall, "clips_per_cpu_s": clips / cpu, "peak_rss_mb": peak_rss_mb(),
            "base_rss_mb": base, "peak_above_base_mb": peak_rss_mb() - base}


def _child(conn, pipeline, root, mode, clips):
    try:
        conn.send(worker(pipeline, root, mode, clips))
    except BaseException as exc:  # report, so the parent fails with the reason
        import traceback

        conn.send({"error": f"{pipeline} {mode}: {exc!r}\n{traceback.format_exc()}"})
    finally:
        conn.close()


def run_worker(pipeline: str, root: Path, mode: str, clips: int) -> dict:
    """One measurement in a fresh process forked from this one (imports already done: starts in ms)."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, pipeline, root, mode, clips))
    proc.start()
    child.close()
    result = parent.recv()
    proc.join()
    if "error" in result:
        raise RuntimeError(result["error"])
    return result


def _preload() -> None:
    """Import what every pipeline needs once, before forking the measurements."""
    import torch

    torch.set_num_threads(1)
    import av  # noqa: F401
    import pytorchvideo.data  # noqa: F401
    import torchvision.transforms  # noqa: F401

    import vidzoo.data.datamodule  # noqa: F401
    import vidzoo.default_plugins.kinetics_transforms  # noqa: F401
    from vidzoo.plugins import get_registry

    get_registry()


def machine() -> str:
    import platform

    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from vidzoo.data.decode_plan import available_cpus

    return f"{cpu}, {available_cpus()} cores available, {platform.system()} {platform.release()}"


def run(sizes=None, rounds: int = 2, clips_scale: float = 1.0, out: Path | None = None) -> dict:
    from benchmarks.make_videos import make

    sizes = sizes or list(CLIPS)
    os.environ.setdefault("VIDZOO_LOAD_PLUGINS", "")
    _preload()
    roots = make(sizes={s: n for s, n in __import__("benchmarks.make_videos").make_videos.SIZES.items() if s in sizes})
    import av

    results = {"machine": machine(), "pyav": av.__version__, "ffmpeg": _ffmpeg_version(), "rounds": rounds,
               "started": time.strftime("%Y-%m-%d %H:%M:%S"), "runs": [], "summary": []}
    for size in sizes:
        clips = max(4, int(CLIPS[size] * clips_scale))
        for mode in MODES[size]:
            for r in range(rounds):
                order = PIPELINES if r % 2 == 0 else PIPELINES[::-1]
                for pipeline in order:
                    res = run_worker(pipeline, roots[size], mode, clips)
                    res.update(size=size, round=r)
                    results["runs"].append(res)
                    print(f"  {size} {mode:5s} round {r} {pipeline:6s} {res['clips_per_s']:6.2f} clips/s "
                          f"{res['clips_per_cpu_s']:6.2f} clips/cpu-s  peak RSS {res['peak_rss_mb']:.0f} MB "
                          f"(+{res['peak_above_base_mb']:.0f})", flush=True)
            results["summary"].extend(_summarise(results["runs"], size, mode))
    out = write_results(results, out or RESULTS / "data.json")
    print(render(results))
    print(f"\nwrote {out}")
    return results


def _summarise(runs, size, mode) -> list[dict]:
    best = {}
    for p in PIPELINES:
        rs = [r for r in runs if r["size"] == size and r["mode"] == mode and r["pipeline"] == p]
        best[p] = {"clips_per_s": max(r["clips_per_s"] for r in rs),
                   "clips_per_cpu_s": max(r["clips_per_cpu_s"] for r in rs),
                   "peak_rss_mb": max(r["peak_rss_mb"] for r in rs),
                   "peak_above_base_mb": max(r["peak_above_base_mb"] for r in rs)}
    rows = []
    for p in PIPELINES:
        rows.append({"size": size, "mode": mode, "pipeline": p, **best[p],
                     "vs_seed": best[p]["clips_per_s"] / best["seed"]["clips_per_s"],
                     "vs_limit": best[p]["clips_per_s"] / best["limit"]["clips_per_s"],
                     "cpu_vs_seed": best[p]["clips_per_cpu_s"] / best["seed"]["clips_per_cpu_s"],
                     "cpu_vs_limit": best[p]["clips_per_cpu_s"] / best["limit"]["clips_per_cpu_s"]})
    return rows


def render(results: dict) -> str:
    from vidzoo.training.benchmarking import table

    rows = [[r["size"], r["mode"], {"seed": "(a) seed", "vidzoo": "(b) vidzoo", "limit": "(c) decode only"}[r["pipeline"]],
             r["clips_per_s"], r["clips_per_cpu_s"], f"{r['vs_seed']:.2f}x", f"{100 * r['vs_limit']:.0f}%",
             f"{r['cpu_vs_seed']:.2f}x", f"{100 * r['cpu_vs_limit']:.0f}%", f"{r['peak_rss_mb']:.0f}",
             f"+{r['peak_above_base_mb']:.0f}"]
            for r in results["summary"]]
    header = ["video", "mode", "pipeline", "clips/s", "clips/CPU-s", "vs (a)", "of (c)", "CPU vs (a)", "CPU of (c)",
              "peak RSS MB", "above imports MB"]
    return (f"data pipeline, one worker (1 torch + 1 decoder thread), best of {results['rounds']} round(s); "
            f"{results['machine']}\n" + table(rows, header))


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [(r["size"], r["mode"]) for r in results["summary"] if r["pipeline"] == "seed"]
    fig, ax = plt.subplots(figsize=(8, 3.6))
    width = 0.27
    for k, p in enumerate(PIPELINES):
        vals = [next(r["clips_per_cpu_s"] for r in results["summary"] if (r["size"], r["mode"]) == key and r["pipeline"] == p)
                for key in keys]
        ax.bar([i + (k - 1) * width for i in range(len(keys))], vals, width,
               label={"seed": "(a) seed", "vidzoo": "(b) vidzoo", "limit": "(c) decode only"}[p])
    ax.set_xticks(range(len(keys)), [f"{s}\n{m}" for s, m in keys])
    ax.set_ylabel("clips per CPU-second\n(clips/s per core)")
    ax.set_yscale("log")
    ax.legend(loc="upper center", ncol=3, fontsize=8, bbox_to_anchor=(0.5, -0.22))
    ax.set_title("one worker, 8x224x224 normalised clips from 10 s H.264 videos")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _ffmpeg_version() -> str:
    try:
        import av

        return ".".join(str(v) for v in av.library_versions.get("libavcodec", ())) and \
            f"libavcodec {'.'.join(str(v) for v in av.library_versions['libavcodec'])}"
    except Exception:
        return "unknown"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="*", choices=list(CLIPS), default=None)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--clips-scale", type=float, default=1.0, help="scale the clip counts (e.g. 0.5 for a quick run)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--worker", choices=PIPELINES, help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="train", help=argparse.SUPPRESS)
    parser.add_argument("--clips", type=int, default=20, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.root, args.mode, args.clips)))
        return 0
    results = run(args.sizes, args.rounds, args.clips_scale, args.out)
    plot(results, (args.out or RESULTS / "data.json").with_suffix(".png"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
