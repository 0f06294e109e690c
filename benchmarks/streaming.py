"""Streaming benchmark: what reading litdata chunks (local folder, S3) costs against reading the files.

On the same videos and the same train transform (kinetics, 8x224x224), in one process with
num_workers 0 (one core), one epoch each, rounds alternating the order:
(a) files:      the `kinetics` dataset on the class folders;
(b) litdata:    the `litdata` dataset on chunks in a local folder;
(c) s3 cold:    the `litdata` dataset on s3:// (a moto server over TLS on 127.0.0.1, tests/s3kit.py),
                empty chunk cache: every chunk is downloaded;
(d) s3 warm:    the same, second epoch (chunks cached on local disk).
Reports clips per CPU-second of this process (the server runs in another), clips/s wall,
and the disk and time that preparing took.

    python -m benchmarks.streaming                      # the demo sample; JSON to benchmarks/results/streaming.json
    python -m benchmarks.streaming --videos DIR --rounds 1
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import RESULTS, write_results

HERE = Path(__file__).resolve().parent
BATCH = 8


def _epoch(loader) -> tuple[int, float, float]:
    cpu, wall, clips = time.process_time(), time.perf_counter(), 0
    for batch in loader:
        clips += len(batch["label"])
    return clips, time.process_time() - cpu, time.perf_counter() - wall


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.streaming", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", help="dataset root (class folders); default: a fresh demo sample")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", default=str(RESULTS / "streaming.json"))
    args = parser.parse_args(argv)
    os.environ.setdefault("VIDZOO_LOAD_PLUGINS", "")
    import torch

    torch.set_num_threads(1)
    sys.path.insert(0, str(HERE.parent / "tests"))
    from s3kit import S3Server

    from vidzoo.data.datamodule import build_dataset
    from vidzoo.data.streaming import prepare_folder

    work = Path(tempfile.mkdtemp(prefix="vidzoo-bench-streaming-"))
    try:
        if args.videos:
            root = Path(args.videos)
        else:
            from vidzoo.data.demo import write_demo

            root = write_demo(work / "demo")
        server = S3Server(work / "s3")
        os.environ.update(server.env)
        server.client().create_bucket(Bucket="bench")
        started = time.perf_counter()
        local = prepare_folder(str(root), str(work / "litdata"), splits=["train"])["train"]
        local_s = time.perf_counter() - started
        started = time.perf_counter()
        prepare_folder(str(root), "s3://bench/litdata", splits=["train"])
        s3_s = time.perf_counter() - started
        source_bytes = sum(p.stat().st_size for p in (root / "train").rglob("*") if p.is_file())
        transform = {}  # the kinetics transform's defaults: 8x224x224

        def loader(kind: str, cache: Path | None = None):
            if kind == "files":
                ds = build_dataset("kinetics", {"data_path": str(root)}, "train", "kinetics", transform)
                return torch.utils.data.DataLoader(ds, batch_size=BATCH, shuffle=True)
            path = str(work / "litdata") if kind == "litdata" else "s3://bench/litdata"
            ds = build_dataset("litdata", {"data_path": path, "cache_dir": str(cache or work / "cache")}, "train",
                               "kinetics", transform)
            return ds.dataloader(batch_size=BATCH, num_workers=0, shuffle=True)

        rows: dict[str, list] = {"files": [], "litdata": [], "s3 cold": [], "s3 warm": []}
        for r in range(args.rounds):
            order = ["files", "litdata", "s3"] if r % 2 == 0 else ["s3", "litdata", "files"]
            for kind in order:
                if kind != "s3":
                    rows[kind].append(_epoch(loader(kind)))
                    continue
                cache = work / f"cache-s3-{r}"
                s3_loader = loader("s3", cache)
                rows["s3 cold"].append(_epoch(s3_loader))
                rows["s3 warm"].append(_epoch(s3_loader))
        server.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    results = {"videos": local["videos"], "batch": BATCH, "clip": "8x224x224 train (kinetics transform)",
               "source_bytes": source_bytes, "chunk_bytes": local["bytes"],
               "prepare_seconds": {"local": round(local_s, 1), "s3": round(s3_s, 1)}, "pipelines": {}}
    print(f"{local['videos']} train videos: source {source_bytes / 1e6:.2f} MB, chunks {local['bytes'] / 1e6:.2f} MB; "
          f"prepare {local_s:.1f} s to a folder, {s3_s:.1f} s to s3")
    print(f"{'pipeline':10} {'clips/CPU-s':>12} {'clips/s wall':>13} {'vs files (CPU)':>15}")
    base = None
    for kind, runs in rows.items():
        clips = sum(c for c, _, _ in runs)
        cpu = sum(t for _, t, _ in runs)
        wall = sum(w for _, _, w in runs)
        per_cpu, per_wall = clips / cpu, clips / wall
        base = base or per_cpu
        results["pipelines"][kind] = {"clips": clips, "cpu_s": round(cpu, 2), "wall_s": round(wall, 2),
                                      "clips_per_cpu_s": round(per_cpu, 2), "clips_per_s": round(per_wall, 2),
                                      "vs_files": round(per_cpu / base, 3)}
        print(f"{kind:10} {per_cpu:12.2f} {per_wall:13.2f} {per_cpu / base:15.2f}")
    print(f"wrote {write_results(results, Path(args.out))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
