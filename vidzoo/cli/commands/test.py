"""vidzoo test: multi-view evaluation of a checkpoint, as the zoo tables are measured."""

from __future__ import annotations

import argparse

from vidzoo.cli.commands import ArgumentParser
import json
import os
import sys
from pathlib import Path

from vidzoo.errors import VidzooError

DESCRIPTION = """Evaluate a checkpoint the way pytorchvideo's and SlowFast's Kinetics tables are measured:
T uniformly spaced clips x S spatial crops per video (10x3 by default), softmax scores averaged
per video. Reports video-level top-1, top-5, mean per-class accuracy and the per-class table,
and writes metrics.json, per_class.csv, predictions.csv and confusion.png into the run
directory (RUN/test-<split>-<views>/). The checkpoint carries the model, its transforms, the
dataset and the class names: only the data location may be changed."""

EPILOG = """examples:
  vidzoo test --checkpoint runs/RUN/checkpoints/best.ckpt                  # 10x3 on the run's val split
  vidzoo test --checkpoint runs/RUN/checkpoints/best.ckpt --views 1x1      # fast single-view check
  vidzoo test --checkpoint best.ckpt --dataset.data_path /data/k400 --json k400-val.json
"""


def parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="vidzoo test", description=DESCRIPTION, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, metavar="CKPT", help="a run's checkpoint (or its run directory)")
    p.add_argument("--dataset.data_path", dest="data_path", metavar="DIR",
                   help="test data in the run's dataset format (default: the data the run used)")
    p.add_argument("--split", default="val", help="split to evaluate (default: val)")
    p.add_argument("--views", default="10x3", metavar="TxS",
                   help="clips x spatial crops per video (default 10x3; 1x1 = centre crop of the centre clip)")
    p.add_argument("--json", metavar="FILE", help="also write the metrics as JSON to FILE ('-': stdout)")
    p.add_argument("--output", metavar="DIR", help="where to write the report files (default: RUN/test-<split>-<views>)")
    p.add_argument("--batch-size", type=int, default=32, help="views per forward pass (default 32)")
    p.add_argument("--num-workers", type=int, default=None,
                   help="decoding worker processes (default: the run's --data.num_workers)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ... (default auto)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def report_dir(checkpoint: str, split: str, views: tuple[int, int]) -> Path:
    ckpt = Path(checkpoint)
    run = ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent
    return run / f"test-{split}-{views[0]}x{views[1]}"


class _Videos:
    """Map-style dataset of whole videos -> their T x S views (errors returned, not raised)."""

    def __init__(self, paths, make_views):
        self.paths = list(paths)
        self.make_views = make_views

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        from vidzoo.evaluation.inference import read_error

        try:
            return {"index": i, "views": self.make_views(self.paths[i]), "error": ""}
        except Exception as exc:
            return {"index": i, "views": None, "error": read_error(self.paths[i], exc)}


def _identity(item):
    return item


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    from vidzoo.evaluation.inference import view_options

    views = view_options(args.views, args.batch_size)
    if args.num_workers is not None and args.num_workers < 0:
        raise VidzooError(f"--num-workers must be 0 or more, got {args.num_workers}")
    if args.json and args.json != "-" and Path(args.json).is_dir():
        raise VidzooError(f"--json {args.json} is a folder; give a file name")
    if args.data_path and not Path(args.data_path).expanduser().exists():
        raise VidzooError(f"--dataset.data_path {args.data_path} does not exist")
    return run_test(args, views)


def _device(name: str) -> str | None:
    return None if name == "auto" else name


def run_test(args, views) -> int:
    import torch

    from vidzoo.data.datamodule import build_dataset
    from vidzoo.evaluation.inference import Predictor

    predictor = Predictor.from_checkpoint(args.checkpoint, device=_device(args.device))
    config = predictor.config
    dataset_cfg = dict(config.get("dataset") or {})
    if not dataset_cfg.get("name"):
        raise VidzooError("the checkpoint's config names no dataset; cannot find its test data")
    options = {k: v for k, v in dataset_cfg.items() if k != "name"}
    if args.data_path:
        options["data_path"] = args.data_path
    dataset = build_dataset(dataset_cfg["name"], options, args.split, predictor.transform_name,
                            predictor.transform_options)
    videos = getattr(dataset, "videos", None)
    if not videos:
        raise VidzooError(f"dataset {dataset_cfg['name']!r} does not list its videos (a `videos` attribute of "
                          f"(path, label) pairs, as vidzoo.data.clips.ClipDataset has); vidzoo test needs it")
    names = list(dataset.classes)
    lookup = {c: i for i, c in enumerate(predictor.class_names)}
    unknown = [c for c in names if c not in lookup]
    if unknown:
        raise VidzooError(f"the {args.split} data has {len(unknown)} classes the checkpoint does not know "
                          f"(e.g. {', '.join(map(repr, unknown[:3]))}); the model knows {len(lookup)} classes")
    paths = [p for p, _ in videos]
    labels = [lookup[names[label]] for _, label in videos]
    out_dir = Path(args.output) if args.output else report_dir(predictor.checkpoint, args.split, views)
    if out_dir.exists() and not out_dir.is_dir():
        raise VidzooError(f"--output {out_dir} is a file, not a folder")

    workers = args.num_workers
    if workers is None:
        workers = int((config.get("data") or {}).get("num_workers", 2))
    loader = torch.utils.data.DataLoader(_Videos(paths, predictor.view_maker(views)), batch_size=None,
                                         shuffle=False, num_workers=workers, collate_fn=_identity)
    where = options.get("data_path") or "the built-in demo sample"
    print(f"testing {Path(predictor.checkpoint).name} on {len(paths)} videos of {dataset_cfg['name']} "
          f"{args.split} ({where}), {views[0]}x{views[1]} views, on {predictor.device}", file=sys.stderr)
    from tqdm import tqdm

    num_classes = len(predictor.class_names)
    probs = torch.zeros(len(paths), num_classes)
    ok = torch.zeros(len(paths), dtype=torch.bool)
    errors: dict[int, str] = {}
    bar = tqdm(total=len(paths), desc="testing", unit="video", file=sys.stderr, disable=args.no_progress,
               dynamic_ncols=True)
    for item in loader:
        i = item["index"]
        if item["views"] is None:
            errors[i] = item["error"]
            bar.write(f"vidzoo test: skipped {item['error']}", file=sys.stderr)
        else:
            probs[i] = predictor.scores(item["views"], args.batch_size).mean(0)
            ok[i] = True
        bar.update()
    bar.close()
    if not ok.any():
        raise VidzooError(f"none of the {len(paths)} videos could be read (first: {errors.get(0, '?')})")
    result = metrics(probs[ok], torch.tensor(labels)[ok], predictor.class_names)
    result.update(
        checkpoint=predictor.checkpoint, backbone=predictor.task.hparams.backbone, dataset=dataset_cfg["name"],
        data_path=options.get("data_path"), split=args.split, views=f"{views[0]}x{views[1]}",
        videos=len(paths), tested=int(ok.sum()),
        skipped=[{"path": paths[i], "error": e} for i, e in sorted(errors.items())],
    )
    write_reports(out_dir, result, probs, ok, paths, labels, predictor.class_names)
    text = format_report(result, out_dir)
    if args.json == "-":
        print(text, file=sys.stderr)
        print(json.dumps(result, indent=2))
    else:
        print(text)
        if args.json:
            _write_json(Path(args.json), result)
    return 0


def metrics(probs, labels, class_names) -> dict:
    """Video-level top-1, top-5, mean per-class accuracy, the per-class table and the confusion matrix."""
    import torch

    k = min(5, len(class_names))
    top = torch.topk(probs, k, dim=1).indices
    hit1 = top[:, 0] == labels
    hit5 = (top == labels[:, None]).any(1)
    per_class, confusion = [], torch.zeros(len(class_names), len(class_names), dtype=torch.long)
    for t, p in zip(labels.tolist(), top[:, 0].tolist()):
        confusion[t, p] += 1
    for c, name in enumerate(class_names):
        mask = labels == c
        n = int(mask.sum())
        per_class.append({"class": name, "videos": n,
                          "top1": float(hit1[mask].float().mean()) if n else None,
                          "top5": float(hit5[mask].float().mean()) if n else None})
    present = [row["top1"] for row in per_class if row["videos"]]
    return {
        "top1": float(hit1.float().mean()),
        "top5": float(hit5.float().mean()),
        "top5_k": k,
        "mean_class_accuracy": sum(present) / len(present),
        "per_class": per_class,
        "class_names": list(class_names),
        "confusion": confusion.tolist(),  # rows: true class, columns: predicted (class_names order)
    }


def format_report(result: dict, out_dir: Path) -> str:
    lines = [
        f"{result['backbone']} on {result['dataset']} {result['split']}: {result['tested']} videos, "
        f"{result['views']} views" + (f" ({len(result['skipped'])} unreadable, skipped)" if result["skipped"] else ""),
        f"top-1 {100 * result['top1']:.2f}%   top-{result['top5_k']} {100 * result['top5']:.2f}%   "
        f"mean per-class {100 * result['mean_class_accuracy']:.2f}%",
        "",
    ]
    rows = [r for r in result["per_class"] if r["videos"]]
    width = max([len("class")] + [len(r["class"]) for r in rows])
    shown = rows
    note = ""
    if len(rows) > 50:  # a long table goes to per_class.csv; show the extremes
        ranked = sorted(rows, key=lambda r: (r["top1"], r["class"]))
        shown = ranked[:10] + ranked[-10:]
        note = f"(the 10 worst and 10 best of {len(rows)} classes; all in per_class.csv)"
    lines.append(f"{'class':<{width}}  videos   top-1   top-{result['top5_k']}")
    for r in shown:
        lines.append(f"{r['class']:<{width}}  {r['videos']:>6}  {100 * r['top1']:5.1f}%  {100 * r['top5']:5.1f}%")
    if note:
        lines.append(note)
    lines += ["", f"report: {out_dir}/ (metrics.json, per_class.csv, predictions.csv, confusion.png)"]
    return "\n".join(lines)


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def write_reports(out_dir: Path, result, probs, ok, paths, labels, class_names) -> None:
    import csv

    import torch

    out_dir.mkdir(parents=True, exist_ok=True)
    _write_json(out_dir / "metrics.json", result)
    with open(out_dir / "per_class.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["class", "videos", "top1", "top5"])
        for r in result["per_class"]:
            w.writerow([r["class"], r["videos"], "" if r["top1"] is None else f"{r['top1']:.4f}",
                        "" if r["top5"] is None else f"{r['top5']:.4f}"])
    k = min(5, len(class_names))
    with open(out_dir / "predictions.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "correct"] + [x for i in range(1, k + 1) for x in (f"top{i}", f"p{i}")])
        for i, path in enumerate(paths):
            if not ok[i]:
                w.writerow([path, class_names[labels[i]], "unreadable"])
                continue
            values, idx = torch.topk(probs[i], k)
            top = [x for v, j in zip(values.tolist(), idx.tolist()) for x in (class_names[j], f"{v:.4f}")]
            w.writerow([path, class_names[labels[i]], int(idx[0]) == labels[i]] + top)
    confusion_png(out_dir / "confusion.png", result["confusion"], class_names,
                  f"{result['backbone']} {result['dataset']} {result['split']} {result['views']}: "
                  f"top-1 {100 * result['top1']:.1f}%")


def confusion_png(path: Path, confusion, class_names, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    m = np.asarray(confusion, dtype=float)
    n = len(class_names)
    rows = m.sum(1, keepdims=True)
    frac = np.divide(m, rows, out=np.zeros_like(m), where=rows > 0)
    size = min(40, max(5, 0.35 * n + 3))
    fig, ax = plt.subplots(figsize=(size, size * 0.9), dpi=100)
    im = ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of the true class")
    if n <= 60:
        ax.set_xticks(range(n), class_names, rotation=90, fontsize=8 if n > 20 else 10)
        ax.set_yticks(range(n), class_names, fontsize=8 if n > 20 else 10)
    if n <= 20:
        for t in range(n):
            for p in range(n):
                if m[t, p]:
                    ax.text(p, t, int(m[t, p]), ha="center", va="center",
                            color="white" if frac[t, p] > 0.5 else "black", fontsize=9)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)
