"""Prepared data and several clips per decode: clips per CPU-second of one worker, side by side.

Rows, on the benchmark videos (benchmarks.make_videos: 10 s, 30 fps, x264 defaults: B-frames,
a keyframe every 250 frames), each a whole train sample as `vidzoo run` makes it (vidzoo's
`kinetics` dataset + `kinetics` transform: 8 frames, random short side 256-320, 224 crop,
flip, normalise), one torch thread and one decoder thread (one worker per core):
- source:       today's reader on the videos as they are (340x256 and 1280x720);
- prepared kN:  the same videos after `vidzoo prepare` (short side 256) with a keyframe every
                N frames (the default and two others), with the disk each takes;
- K=1, 2, 4:    --data.clips_per_video on the default prepared copy (clips counted, not videos).
Goals (issue 10): prepared >= 3x source on 340x256, >= 8x on 1280x720; K=4 >= 2x K=1.
All rows run in one process, in alternating order over rounds; the CPU is shared with other
jobs, so compare CPU-time rates (and ratios), not wall-clock ones.

    python -m benchmarks.prepare                  # videos: benchmarks.make_videos (made once)
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from benchmarks import RESULTS, write_results

KEYINTS = (8, 16, 32)
CLIPS = {"340x256": 16, "1280x720": 8}
GOALS = {"340x256": 3.0, "1280x720": 8.0}


def _dataset(root: Path, k: int = 1):
    from vidzoo.data.bad_videos import BadVideoPolicy
    from vidzoo.default_plugins.kinetics import kinetics
    from vidzoo.default_plugins.kinetics_transforms import kinetics_transform

    ds = kinetics("train", kinetics_transform("train"), data_path=str(root))
    ds.configure_loading(BadVideoPolicy("train"), clips_per_video=k)
    return ds


def prepared_copy(src: Path, out: Path, keyint: int) -> dict:
    """`vidzoo prepare` (library call) of the train split; returns its disk and CPU cost."""
    from vidzoo.data import prepare, prepare_runner
    from vidzoo.training.benchmarking import cpu_seconds

    plan = prepare.make_plan("kinetics", {"data_path": str(src)}, str(out), ["train"], keyint=keyint)
    cpu = cpu_seconds()
    wall = time.perf_counter()
    report = prepare_runner.run(plan, workers=1, progress=False)
    return {"bytes": report["splits"]["train"]["bytes"], "prepare_cpu_s": cpu_seconds() - cpu,
            "prepare_wall_s": time.perf_counter() - wall, "encoded": report["encoded"]}


def psnr_db(src: Path, out: Path, videos: int = 2, frames: int = 90) -> float | None:
    """Mean PSNR of the prepared copy against its source (RGB, first ``frames`` frames of the first
    ``videos`` videos); None when prepare scaled the frames (then pixels are not comparable)."""
    import math

    import av
    import numpy as np

    def decoded(path):
        with av.open(str(path)) as container:
            out = []
            for frame in container.decode(video=0):
                out.append(frame.to_ndarray(format="rgb24").astype(np.float64))
                if len(out) == frames:
                    break
        return np.stack(out)

    values = []
    for path in sorted((src / "train").rglob("*.mp4"))[:videos]:
        a, b = decoded(path), decoded(out / path.relative_to(src))
        if a.shape != b.shape:
            return None
        values.append(10 * math.log10(255 ** 2 / ((a - b) ** 2).mean()))
    return sum(values) / len(values)


def _rate(ds, items: int, seed: int) -> tuple[int, float]:
    import random

    import torch

    from vidzoo.training.benchmarking import cpu_seconds

    torch.manual_seed(seed)
    random.seed(seed)
    order = torch.randperm(len(ds)).tolist()
    idx = [order[i % len(order)] for i in range(items + 1)]
    ds[idx[0]]  # warm-up (headers, swscale contexts)
    cpu, clips = cpu_seconds(), 0
    for i in idx[1:]:
        out = ds[i]
        clips += len(out) if isinstance(out, list) else 1
    return clips, cpu_seconds() - cpu


def folder_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in (root / "train").rglob("*.mp4"))


def run(root: Path, work: Path, sizes: list[str], rounds: int, scale: float) -> dict:
    from vidzoo.training.benchmarking import single_core

    single_core()
    rows = {}
    for size in sizes:
        src = root / size
        clips = max(2, int(CLIPS[size] * scale))
        rows[(size, "source")] = {"root": src, "k": 1, "items": clips, "bytes": folder_bytes(src)}
        for keyint in KEYINTS:
            out = work / f"{size}-k{keyint}"
            info = prepared_copy(src, out, keyint)
            info["psnr_db"] = psnr_db(src, out)
            rows[(size, f"prepared k{keyint}")] = {"root": out, "k": 1, "items": clips, **info}
        from vidzoo.data.prepare import DEFAULT_KEYINT

        default = rows[(size, f"prepared k{DEFAULT_KEYINT}")]
        for k in (2, 4):
            rows[(size, f"prepared k{DEFAULT_KEYINT}, K={k}")] = {**default, "k": k, "items": max(1, clips // k)}
    measured = {key: {"clips": 0, "cpu_s": 0.0} for key in rows}
    datasets = {key: _dataset(r["root"], r["k"]) for key, r in rows.items()}
    for r in range(rounds):
        keys = list(rows) if r % 2 == 0 else list(reversed(rows))
        for key in keys:
            n, cpu = _rate(datasets[key], rows[key]["items"], seed=r)
            measured[key]["clips"] += n
            measured[key]["cpu_s"] += cpu
            print(f"  {key[0]} {key[1]}: {n / cpu:.2f} clips/CPU-s", flush=True)
    results = {"rows": [], "goals": {}}
    for (size, name), row in rows.items():
        m = measured[(size, name)]
        results["rows"].append({"size": size, "name": name, "clips_per_video": row["k"], "clips": m["clips"],
                                "cpu_s": m["cpu_s"], "clips_per_cpu_s": m["clips"] / m["cpu_s"],
                                "bytes": row["bytes"], **{k: row[k] for k in ("prepare_cpu_s", "encoded", "psnr_db") if k in row}})
    by = {(r["size"], r["name"]): r["clips_per_cpu_s"] for r in results["rows"]}
    from vidzoo.data.prepare import DEFAULT_KEYINT

    for size in sizes:
        base = by[(size, "source")]
        prep = by[(size, f"prepared k{DEFAULT_KEYINT}")]
        k4 = by[(size, f"prepared k{DEFAULT_KEYINT}, K=4")]
        results["goals"][size] = {"prepared_over_source": prep / base, "goal": GOALS[size],
                                  "met": prep / base >= GOALS[size], "k4_over_k1": k4 / prep,
                                  "k4_met": k4 / prep >= 2.0}
    results["default_keyint"] = DEFAULT_KEYINT
    return results


def table(results: dict) -> str:
    lines = ["| size | data | clips/CPU-s | x source | disk (MB) | PSNR vs source (dB) |", "|---|---|---:|---:|---:|---:|"]
    base = {r["size"]: r["clips_per_cpu_s"] for r in results["rows"] if r["name"] == "source"}
    for r in results["rows"]:
        lines.append(f"| {r['size']} | {r['name']} | {r['clips_per_cpu_s']:.2f} | "
                     f"{r['clips_per_cpu_s'] / base[r['size']]:.1f}x | {r['bytes'] / 1e6:.2f} | "
                     f"{'-' if r.get('psnr_db') is None else format(r['psnr_db'], '.1f')} |")
    for size, g in results["goals"].items():
        lines.append(f"\n{size}: prepared/source {g['prepared_over_source']:.1f}x (goal {g['goal']:.0f}x, "
                     f"{'met' if g['met'] else 'MISSED'}); K=4/K=1 {g['k4_over_k1']:.2f}x (goal 2x, "
                     f"{'met' if g['k4_met'] else 'MISSED'})")
    return "\n".join(lines)


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = list(results["goals"])
    fig, axes = plt.subplots(1, len(sizes), figsize=(6 * len(sizes), 4.2), squeeze=False)
    for ax, size in zip(axes[0], sizes):
        rows = [r for r in results["rows"] if r["size"] == size]
        names = [r["name"].replace("prepared ", "prep ") for r in rows]
        values = [r["clips_per_cpu_s"] for r in rows]
        colors = ["#888888" if r["name"] == "source" else "#3b7dd8" if r["clips_per_video"] == 1 else "#e08a2c"
                  for r in rows]
        bars = ax.bar(range(len(rows)), values, color=colors)
        for bar, r in zip(bars, rows):
            ax.annotate(f"{r['clips_per_cpu_s']:.1f}\n{r['bytes'] / 1e6:.1f} MB", (bar.get_x() + bar.get_width() / 2,
                        bar.get_height()), ha="center", va="bottom", fontsize=7)
        ax.set_xticks(range(len(rows)), names, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel("train clips per CPU-second (one worker)")
        ax.set_title(f"{size}, 10 s, GOP 250 source -> prepared (256 short side)", fontsize=9)
        ax.set_ylim(0, max(values) * 1.25)
    fig.suptitle("8x224x224 train clips per CPU-second: source, vidzoo prepare (keyint), clips_per_video K",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=None,
                        help="benchmarks.make_videos root (default: its videos in the vidzoo cache, made once)")
    parser.add_argument("--work", type=Path, default=None, help="folder for the prepared copies (default ROOT/prepared)")
    parser.add_argument("--sizes", default="340x256,1280x720")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--scale", type=float, default=1.0, help="scale the clip counts (0.25: a quick check)")
    parser.add_argument("--out", type=Path, default=RESULTS / "prepare.json")
    args = parser.parse_args(argv)
    if args.root is None:
        from benchmarks import make_videos

        make_videos.make()
        args.root = make_videos.default_root()
    results = run(args.root, args.work or args.root / "prepared", args.sizes.split(","), args.rounds, args.scale)
    print(table(results))
    write_results(results, args.out)
    plot(results, args.out.with_suffix(".png"))
    print(f"wrote {args.out} and {args.out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
