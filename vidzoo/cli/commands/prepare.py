"""vidzoo prepare: re-encode a dataset once into a copy that trains fast (vidzoo.data.prepare)."""

from __future__ import annotations

import json

from vidzoo.errors import VidzooError
from vidzoo.messages import say

DESCRIPTION = """Turn a dataset (any dataset plugin built on vidzoo's ClipDataset; every split) into a
training-ready copy: H.264 at a short side of --short-side (never upscaled), a keyframe every
--keyint frames, no audio, in the same folders with the same names and annotation files, so
`--dataset.data_path OUTPUT` reads it with the same dataset plugin and classes. Each split
gets a manifest (OUTPUT/vidzoo-manifest.<split>.json: duration, fps, frames, size, source
hash) that the dataset reads instead of opening every video at start-up. Runs one video per
core; killed and run again, it finishes what is left; unreadable videos are listed with the
reason (as `vidzoo check-data` gives it) and skipped. docs/data.md says when it pays."""

EPILOG = """examples:
  vidzoo prepare --dataset kinetics --dataset.data_path /data/k400 --output /data/k400-256
  vidzoo run --dataset kinetics --dataset.data_path /data/k400-256 --backbone resnet3d50
  vidzoo prepare --dataset kinetics --dataset.data_path /data/k400 --output /data/k400-256 --dry-run
  vidzoo prepare --dataset kinetics --dataset.data_path /data/k400 --format litdata --output s3://bucket/k400
"""


def build_parser(names: dict[str, str]):
    from vidzoo.data import prepare as _prepare
    from vidzoo.cli.config import dataset_parser

    parser = dataset_parser(names, "vidzoo prepare", DESCRIPTION, EPILOG)
    parser.add_argument("--output", type=str, required=True,
                        help="folder for the prepared copy (--format litdata: a folder or an s3:// URL)")
    parser.add_argument("--splits", type=str, default=None,
                        help="comma-separated splits (default: every split the dataset has of train, val, test)")
    parser.add_argument("--short-side", type=int, default=_prepare.DEFAULT_SHORT_SIDE,
                        help="short side of the prepared frames in pixels; smaller videos keep their size")
    parser.add_argument("--keyint", type=int, default=_prepare.DEFAULT_KEYINT,
                        help="frames between keyframes: smaller seeks faster and takes more disk (docs/data.md)")
    parser.add_argument("--crf", type=int, default=_prepare.DEFAULT_CRF, help="x264 quality (lower: better, larger)")
    parser.add_argument("--preset", type=str, default=_prepare.DEFAULT_PRESET, help="x264 speed preset")
    parser.add_argument("--workers", type=str, default="auto",
                        help="videos encoded at once: auto (the cores this process may use) or a number")
    parser.add_argument("--format", type=str, default="files", choices=["files", "litdata"],
                        help="files: a folder of mp4 files (one machine, shared filesystems); "
                             "litdata: litdata chunks for streaming (many machines, object storage)")
    parser.add_argument("--overwrite", action="store_true",
                        help="--format litdata: replace splits already written at --output")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and the disk it will take; write nothing")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str]) -> int:
    from vidzoo.data import prepare as _prepare
    from vidzoo.cli.config import parse_dataset_argv

    if argv in (["-h"], ["--help"]):
        build_parser({}).print_help()
        return 0
    cfg, dataset, options = parse_dataset_argv(
        argv, "prepare", build_parser, "vidzoo prepare --dataset kinetics --dataset.data_path DIR --output DIR-prepared")
    splits = [s.strip() for s in cfg.splits.split(",") if s.strip()] if cfg.splits else None
    workers, workers_line = _workers(cfg.workers)
    settings = dict(short_side=cfg.short_side, keyint=cfg.keyint, crf=cfg.crf, preset=cfg.preset)
    if cfg.format == "litdata":
        return _litdata(dataset, options, cfg, splits, workers, settings)
    if "://" in cfg.output:
        raise VidzooError(f"--output {cfg.output} is a URL; --format files writes a local folder "
                          f"(use --format litdata for object storage)")
    plan = _prepare.make_plan(dataset, options, cfg.output, splits, **settings)
    if cfg.dry_run:
        from vidzoo.data.prepare_runner import dry_run

        report = dry_run(plan)
        if cfg.json:
            print(json.dumps(report, indent=2))
        else:
            _print_dry_run(plan, report)
        return 0
    if not cfg.json:
        say(_prepare.describe(plan))
        if workers_line:
            say(workers_line)
    from vidzoo.data.prepare_runner import run

    report = run(plan, workers, progress=not cfg.no_progress)
    if cfg.json:
        print(json.dumps(report, indent=2))
    else:
        _print(report)
    return 0


def _workers(value: str) -> tuple[int, str | None]:
    from vidzoo.data.workers import resolve_num_workers

    if value != "auto" and not value.isdigit():
        raise VidzooError(f"--workers expects auto or a number, got {value!r}")
    workers, line = resolve_num_workers("auto" if value == "auto" else int(value))
    return workers, line and line.replace("--data.num_workers auto", "--workers auto").replace(" per rank", "")


def _print_dry_run(plan, report: dict) -> None:
    from vidzoo.data.prepare import describe

    print(describe(plan))
    for split, s in report["splits"].items():
        done = f", {s['done']} already prepared" if s["done"] else ""
        print(f"  {split}: {s['videos']} videos{done}, {len(s['unreadable'])} unreadable; "
              f"source {_human(s['source_bytes'])} -> about {_human(s['estimated_bytes'])} to write")
        for u in s["unreadable"]:
            print(f"    unreadable (will be skipped): {u['path']}: {u['reason']}")
    if plan.extra_files:
        print(f"  copied as they are: {len(plan.extra_files)} other files ({', '.join(plan.extra_files[:3])}"
              f"{', ...' if len(plan.extra_files) > 3 else ''})")
    print(f"  disk: about {_human(report['estimated_bytes'])} to write, {_human(report['free_bytes'])} free")
    print("dry run: nothing written")


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


def _print(report: dict) -> None:
    print(f"prepared {report['encoded']} videos ({report['already_done']} were already done) into {report['output']}")
    for split, s in report["splits"].items():
        print(f"  {split}: {s['prepared']} of {s['videos']} videos, {s['bytes'] / 1e6:.1f} MB; "
              f"manifest vidzoo-manifest.{split}.json")
        for bad in s["skipped"]:
            print(f"  skipped (unreadable): {bad['path']}: {bad['reason']}")
    print(f"train on it: --dataset.data_path {report['output']}")


def _litdata(dataset: str, options: dict, cfg, splits, workers: int, settings: dict) -> int:
    import functools

    from vidzoo.data import prepare as _prepare

    try:
        from vidzoo.data.streaming import prepare_litdata, split_url
    except ImportError as exc:  # litdata (or its s3 client) is not installed
        raise VidzooError(f"--format litdata needs litdata ({' '.join(str(exc).split())}); "
                          f"install it with `pip install 'vidzoo[streaming]'`") from None
    if cfg.dry_run:
        raise VidzooError("--dry-run is for --format files; --format litdata has no dry run")
    datasets, classes = _prepare.load_splits(dataset, options, splits)
    encode = functools.partial(_prepare.encode_video, **settings)
    report = {}
    for split, ds in datasets.items():
        report[split] = prepare_litdata(list(ds.videos), classes[split], cfg.output, split=split,
                                        num_workers=workers, encode=encode, overwrite=cfg.overwrite)
    if cfg.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        for split, r in report.items():
            print(f"{split}: {r['videos']} videos, {r['bytes'] / 1e6:.1f} MB, {len(r['skipped'])} skipped "
                  f"-> {split_url(cfg.output, split)}")
        print(f"train on it: --dataset litdata --dataset.data_path {cfg.output}")
    return 0
