"""vidzoo check-data: find the unreadable videos of a dataset before training on it."""

from __future__ import annotations

import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from vidzoo.data.bad_videos import check_video
from vidzoo.errors import VidzooError
from vidzoo.messages import say

DESCRIPTION = """Scan a dataset's videos (any dataset plugin built on vidzoo's ClipDataset): list those
that cannot be read, with the reason, those shorter than one clip, and the class balance
per split; optionally write clean file lists of the readable videos. Each video's header
is read and its first frame decoded (--decode all: every frame, slower, also catches
damage in the middle of a file). Exit code 0 when every video is readable, 1 when some
are not, 2 for a usage mistake. (MMAction2 ships the same as tools/analysis_tools/check_videos.py.)"""

EPILOG = """examples:
  vidzoo check-data --dataset kinetics --dataset.data_path /data/k400
  vidzoo check-data --dataset kinetics --dataset.data_path /data/k400 --json > report.json
  vidzoo check-data --dataset kinetics --dataset.data_path /data/k400 --write-clean /data/k400-clean
      # then: vidzoo run --dataset kinetics --dataset.data_path /data/k400-clean --backbone resnet3d50
"""


def build_parser(names: dict[str, str]):
    from vidzoo.cli.config import dataset_parser

    parser = dataset_parser(names, "vidzoo check-data", DESCRIPTION, EPILOG)
    parser.add_argument("--splits", type=str, default="train,val", help="comma-separated splits to scan")
    parser.add_argument("--decode", type=str, default="first", choices=["first", "all"],
                        help="decode the first frame of each video, or every frame")
    parser.add_argument("--threads", type=int, default=8, help="videos checked at once")
    parser.add_argument("--json", action="store_true", help="print a JSON report instead of text")
    parser.add_argument("--write-clean", type=str, default=None,
                        help="folder for clean labelled-paths lists DIR/<split>.txt ('<path> <label>' per readable "
                             "video) and DIR/classes.txt; use DIR as --dataset.data_path")
    return parser


def main(argv: list[str]) -> int:
    from vidzoo.cli.config import parse_dataset_argv

    if argv in (["-h"], ["--help"]):
        build_parser({}).print_help()
        return 0
    cfg, dataset, options = parse_dataset_argv(argv, "check-data", build_parser,
                                               "vidzoo check-data --dataset kinetics --dataset.data_path DIR")
    splits = [s.strip() for s in cfg.splits.split(",") if s.strip()]
    if cfg.threads <= 0:
        raise VidzooError(f"--threads must be positive, got {cfg.threads}")
    clean = Path(cfg.write_clean) if cfg.write_clean else None
    if clean is not None and clean.exists() and not clean.is_dir():
        raise VidzooError(f"--write-clean {clean} is a file, not a folder; choose another folder")

    from vidzoo.plugins import get_registry

    factory = get_registry().get("dataset", dataset).factory
    datasets = {split: factory(split, None, **options) for split in splits}
    for split, ds in datasets.items():
        if not hasattr(ds, "videos") or not hasattr(ds, "classes"):
            raise VidzooError(f"dataset {dataset!r} does not list its videos (no `videos` attribute of "
                              f"(path, label) pairs); check-data needs a dataset built on vidzoo.data.clips.ClipDataset")
    report = {"dataset": dataset, "options": options, "splits": {}}
    for split, ds in datasets.items():
        report["splits"][split] = _check_split(ds, cfg.decode == "all", cfg.threads, split, quiet=cfg.json)
    if clean is not None:
        report["clean"] = _write_clean(clean, datasets, report)
    for s in report["splits"].values():
        s.pop("_readable")
        s.pop("_classes")
    if cfg.json:
        print(json.dumps(report, indent=2))
    else:
        _print_text(report)
    return 1 if any(s["unreadable"] for s in report["splits"].values()) else 0


def _check_split(ds, decode_all: bool, threads: int, split: str, quiet: bool) -> dict:
    paths = [p for p, _ in ds.videos]
    clip = getattr(ds, "clip_duration", None)
    if not quiet and sys.stderr.isatty():
        say(f"checking {len(paths)} {split} videos...")
    with ThreadPoolExecutor(max_workers=threads) as pool:
        results = list(pool.map(lambda p: check_video(p, decode_all), paths))
    classes = list(ds.classes)
    counts = {c: 0 for c in classes}
    unreadable, short, readable = [], [], []
    for (path, label), r in zip(ds.videos, results):
        if not r["ok"]:
            unreadable.append({"path": path, "reason": r["reason"]})
            continue
        readable.append((path, label))
        name = classes[label] if 0 <= label < len(classes) else str(label)
        counts[name] = counts.get(name, 0) + 1
        if clip and r["duration"] is not None and r["duration"] < clip:
            short.append({"path": path, "duration": round(r["duration"], 3)})
    return {
        "videos": len(paths), "readable": len(readable), "unreadable": unreadable,
        "shorter_than_clip": short, "clip_duration": clip, "classes": counts,
        "empty_classes": [c for c, n in counts.items() if n == 0],
        "_readable": readable, "_classes": classes,
    }


def _write_clean(folder: Path, datasets: dict, report: dict) -> dict:
    from vidzoo.io import atomic_write_bytes

    written = {}
    for split in datasets:
        info = report["splits"][split]
        text = "".join(f"{os.path.abspath(p)} {label}\n" for p, label in info["_readable"])
        atomic_write_bytes(folder / f"{split}.txt", text.encode())
        written[split] = {"path": str(folder / f"{split}.txt"), "videos": len(info["_readable"])}
    first = next(iter(datasets))
    atomic_write_bytes(folder / "classes.txt", "".join(f"{c}\n" for c in report["splits"][first]["_classes"]).encode())
    return written


def _print_text(report: dict) -> None:
    print(f"check-data: dataset {report['dataset']}")
    for split, s in report["splits"].items():
        extra = f", {len(s['shorter_than_clip'])} shorter than one {s['clip_duration']} s clip" if s["clip_duration"] else ""
        print(f"\n{split}: {s['videos']} videos, {len(s['classes'])} classes; "
              f"{len(s['unreadable'])} unreadable{extra}")
        for u in s["unreadable"]:
            print(f"  unreadable: {u['path']}: {u['reason']}")
        for v in s["shorter_than_clip"]:
            print(f"  short (readable; the clip repeats frames): {v['path']}: {v['duration']} s")
        width = max((len(c) for c in s["classes"]), default=0)
        print("  class balance (readable videos):")
        for c, n in s["classes"].items():
            print(f"    {c:<{width}}  {n}")
        if s["empty_classes"]:
            print(f"  warning: classes with no readable video: {', '.join(s['empty_classes'])}")
    for split, w in report.get("clean", {}).items():
        print(f"clean list: {w['path']} ({w['videos']} videos)")
