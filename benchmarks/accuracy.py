"""Pixel differences between vidzoo's eval clips and the seed's, per resize mode, on the benchmark videos.

For each video size, the eval transform (short side 256, center crop 224) on the same
clip windows: the seed (all frames as float, pytorchvideo's transforms) against vidzoo's
reader with resize="uint8" (default), "swscale" and "float". Differences in 0..255 levels.

    python -m benchmarks.accuracy               # JSON to benchmarks/results/accuracy.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks import RESULTS, write_results


def run(out: Path | None = None, windows=((0.0, 2.0), (3.3, 5.3), (7.9, 9.9))) -> dict:
    import torch

    import vidzoo  # noqa: F401
    from benchmarks.make_videos import make
    from vidzoo.default_plugins.kinetics_transforms import kinetics_transform
    from vidzoo.data.video import decode_clip, read_clip

    rows = []
    for size, root in make().items():
        path = sorted((root / "train").rglob("*.mp4"))[0]
        for resize in ("uint8", "swscale", "float"):
            transform = kinetics_transform("val", resize=resize)
            diffs = []
            for start, end in windows:
                seed = transform.recipe({"video": read_clip(path, start, end)})["video"]
                plan = transform.decode_plan()
                fast = transform({"video": decode_clip(path, start, end, plan), "decode_plan": plan})["video"]
                diffs.append(((fast - seed) * 0.225 * 255).abs().flatten())
            d = torch.cat(diffs)
            rows.append({"size": size, "resize": resize, "mean": d.mean().item(),
                         "p99": d.kthvalue(max(1, int(0.99 * d.numel()))).values.item(), "max": d.max().item()})
    results = {"rows": rows}
    write_results(results, out or RESULTS / "accuracy.json")
    print(render(results))
    return results


def render(results: dict) -> str:
    from vidzoo.training.benchmarking import table

    return ("eval clips vs the seed's (short side 256, crop 224), |difference| in 0..255 levels\n"
            + table([[r["size"], r["resize"], f"{r['mean']:.3f}", f"{r['p99']:.2f}", f"{r['max']:.2f}"]
                     for r in results["rows"]], ["video", "resize", "mean", "p99", "max"]))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=None)
    run(parser.parse_args(argv).out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
