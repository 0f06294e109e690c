"""Decoder benchmark: torchcodec (CPU) against vidzoo's PyAV reader on the same clips.

Each clip: open the file, seek, decode the 8 frames pytorchvideo's UniformTemporalSubsample
keeps from a random 2 s window, as uint8 RGB at the video's size (the reader's work before
the transform), one thread, as a DataLoader worker per core runs. torchcodec is asked for
exactly the frames (timestamps) the PyAV reader returned, so both do the same job; the
largest pixel difference between them is recorded. Clips per CPU-second, side by side in
one process, rounds alternating. (torchcodec's CUDA decoder is for a GPU session: it must
run in the main process, not in DataLoader workers, torchcodec #566/#592.)

    python -m benchmarks.decoders                             # videos from benchmarks.make_videos (made once)
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

from benchmarks import RESULTS, write_results


def _windows(paths, n, seed=0):
    from vidzoo.data.video import probe

    rng = random.Random(seed)
    durations = {p: probe(p).duration for p in paths}
    out = []
    for i in range(n):
        p = paths[i % len(paths)]
        s = rng.uniform(0, max(0.0, durations[p] - 2.0))
        out.append((p, s, s + 2.0))
    return out


def pyav_clip(path, start, end):
    from vidzoo.data.decode_plan import DecodePlan
    from vidzoo.data.video import decode_clip

    return decode_clip(path, start, end, DecodePlan(num_frames=8), threads=1, with_times=True)


def torchcodec_clip(path, times, seek_mode="approximate"):
    from torchcodec.decoders import VideoDecoder

    decoder = VideoDecoder(str(path), num_ffmpeg_threads=1, seek_mode=seek_mode, dimension_order="NCHW")
    # a millisecond into each frame (a 30 fps frame lasts 33 ms): float seconds must not land on the previous one
    return decoder.get_frames_played_at(seconds=[t + 1e-3 for t in times]).data  # (T, C, H, W) uint8


def measure(paths, clips: int, rounds: int = 2) -> dict:
    import torch

    from vidzoo.training.benchmarking import cpu_seconds, single_core

    single_core()
    windows = _windows([str(p) for p in paths], clips)
    times = {w: pyav_clip(*w)[1] for w in windows}
    diff = 0
    for w in windows[:3]:
        a = pyav_clip(*w)[0].permute(1, 0, 2, 3).int()
        b = torchcodec_clip(w[0], times[w]).int()
        diff = max(diff, int((a - b).abs().max()) if a.shape == b.shape else 255)
    results = {"pyav": [], "torchcodec": [], "torchcodec_exact": []}
    runs = {"pyav": lambda w: pyav_clip(*w), "torchcodec": lambda w: torchcodec_clip(w[0], times[w]),
            "torchcodec_exact": lambda w: torchcodec_clip(w[0], times[w], "exact")}
    for r in range(rounds):
        order = list(runs) if r % 2 == 0 else list(reversed(runs))
        for name in order:
            cpu, wall = cpu_seconds(), time.perf_counter()
            for w in windows:
                runs[name](w)
            results[name].append({"cpu_s": cpu_seconds() - cpu, "wall_s": time.perf_counter() - wall})
    torch.set_num_threads(1)
    out = {}
    for name, rs in results.items():
        cpu = sum(r["cpu_s"] for r in rs)
        out[name] = {"clips": clips * rounds, "cpu_s": cpu, "clips_per_cpu_s": clips * rounds / cpu}
    out["max_pixel_diff"] = diff
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=None,
                        help="benchmarks.make_videos root (default: its videos in the vidzoo cache, made once)")
    parser.add_argument("--sizes", default="340x256,1280x720")
    parser.add_argument("--clips", type=int, default=12)
    parser.add_argument("--out", type=Path, default=RESULTS / "decoders.json")
    args = parser.parse_args(argv)
    if args.root is None:
        from benchmarks import make_videos

        make_videos.make()
        args.root = make_videos.default_root()
    import torchcodec

    results = {"torchcodec": torchcodec.__version__, "sizes": {}}
    print(f"{'size':<10} {'decoder':<18} {'clips/CPU-s':>12}")
    for size in args.sizes.split(","):
        paths = sorted((args.root / size / "train").rglob("*.mp4"))
        r = results["sizes"][size] = measure(paths, args.clips)
        for name in ("pyav", "torchcodec", "torchcodec_exact"):
            print(f"{size:<10} {name:<18} {r[name]['clips_per_cpu_s']:>12.2f}")
        print(f"{size:<10} max pixel difference torchcodec vs pyav: {r['max_pixel_diff']}")
    write_results(results, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
