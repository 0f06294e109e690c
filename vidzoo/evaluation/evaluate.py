"""Multi-view evaluation of a checkpoint, as the zoo tables are measured: T uniformly spaced
clips x S spatial crops per video, softmax averaged per video; video-level top-1, top-5, mean
per-class accuracy, the per-class table and the confusion matrix, and the report files
(metrics.json, per_class.csv, predictions.csv, confusion.png) `vidzoo test` writes.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidzoo.errors import VidzooError


def report_dir(checkpoint: str, split: str, views: tuple[int, int]) -> Path:
    ckpt = Path(checkpoint)
    run = ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent
    return run / f"test-{split}-{views[0]}x{views[1]}"


def _identity(item):
    return item


@dataclass
class Evaluation:
    """A checkpoint and the videos of one split, ready to be scored (see :func:`prepare`)."""

    predictor: Any
    dataset: str
    options: dict
    split: str
    paths: list
    labels: list  # class indices in the checkpoint's class order

    def run(self, views="10x3", batch_size: int | None = None, num_workers: int | None = None,
            progress: bool = True) -> "EvaluationResult":
        """Score every video with T x S views, softmax averaged per video."""
        import torch
        from tqdm import tqdm

        from vidzoo.evaluation.views import VideoItems, view_options

        if isinstance(views, str):
            views = view_options(views, batch_size)
        predictor = self.predictor
        workers = num_workers
        if workers is None:
            from vidzoo.data.workers import resolve_num_workers

            workers = resolve_num_workers((predictor.config.get("data") or {}).get("num_workers", "auto"))[0]
        loader = torch.utils.data.DataLoader(VideoItems(self.paths, predictor.view_maker(views)), batch_size=None,
                                             shuffle=False, num_workers=workers, collate_fn=_identity)
        where = self.options.get("data_path") or "the built-in demo sample"
        from vidzoo.messages import say

        say(f"testing {Path(predictor.checkpoint).name} on {len(self.paths)} videos of {self.dataset} "
            f"{self.split} ({where}), {views[0]}x{views[1]} views, on {predictor.device}")
        num_classes = len(predictor.class_names)
        probs = torch.zeros(len(self.paths), num_classes)
        ok = torch.zeros(len(self.paths), dtype=torch.bool)
        errors: dict[int, str] = {}
        bar = tqdm(total=len(self.paths), desc="testing", unit="video", file=sys.stderr, disable=not progress,
                   dynamic_ncols=True)
        for item in loader:
            i = item["index"]
            if item["value"] is None:
                errors[i] = item["error"]
                bar.write(f"vidzoo test: skipped {item['error']}", file=sys.stderr)
            else:
                probs[i] = predictor.scores(item["value"], batch_size).mean(0)
                ok[i] = True
            bar.update()
        bar.close()
        if not ok.any():
            raise VidzooError(f"none of the {len(self.paths)} videos could be read (first: {errors.get(0, '?')})")
        result = metrics(probs[ok], torch.tensor(self.labels)[ok], predictor.class_names)
        result.update(
            checkpoint=predictor.checkpoint, backbone=predictor.model_name, dataset=self.dataset,
            data_path=self.options.get("data_path"), split=self.split, views=f"{views[0]}x{views[1]}",
            videos=len(self.paths), tested=int(ok.sum()),
            skipped=[{"path": self.paths[i], "error": e} for i, e in sorted(errors.items())],
        )
        return EvaluationResult(result, probs, ok, self.paths, self.labels)


@dataclass
class EvaluationResult:
    """Video-level metrics as data (``top1``, ``top5``, ``mean_class_accuracy``, ``per_class``,
    ``confusion`` rows = true class, columns = predicted, ``class_names``) and the per-video
    scores; ``write_reports(dir)`` writes what `vidzoo test` writes."""

    metrics: dict
    probs: Any  # (videos, classes) mean softmax per video
    ok: Any  # which videos could be read
    paths: list
    labels: list

    def __getattr__(self, name):
        try:
            return self.__dict__["metrics"][name]
        except KeyError:
            raise AttributeError(name) from None

    def write_reports(self, out_dir) -> Path:
        out_dir = Path(out_dir)
        write_reports(out_dir, self.metrics, self.probs, self.ok, self.paths, self.labels, self.metrics["class_names"])
        return out_dir


def prepare(checkpoint, split: str = "val", device: str | None = None, model=None, pretrained: str | None = None,
            backbone_options: dict | None = None, dataset: str | None = None, **dataset_options) -> Evaluation:
    """Load a checkpoint (``model``: its module, for a class that cannot be imported here) or a
    registered model's published weights (``checkpoint`` a model name, ``pretrained`` other weights)
    and list the videos of ``split`` of the dataset it was trained on (``dataset``: another one, the
    only one for a published model); ``dataset_options`` (such as ``data_path``) override the run's."""
    from vidzoo.errors import PluginError
    from vidzoo.evaluation.inference import is_model_name, open_predictor
    from vidzoo.plugins import contracts, get_registry

    if is_model_name(checkpoint) and not dataset:  # before the weights are read
        raise VidzooError(f"name the dataset to test {checkpoint} on, e.g. --dataset kinetics "
                          f"--dataset.data_path K400 (a published model has no run config)")
    predictor = open_predictor(checkpoint, device, model, pretrained, backbone_options)
    config = predictor.config
    dataset_cfg = {"name": dataset} if dataset else dict(config.get("dataset") or {})
    if not dataset_cfg.get("name"):
        raise VidzooError("the checkpoint's config names no dataset; cannot find its test data")
    options = {k: v for k, v in dataset_cfg.items() if k != "name"}
    options.update({k: v for k, v in dataset_options.items() if v is not None})
    reg = get_registry().get("dataset", dataset_cfg["name"])
    dataset = reg.factory(split, predictor.transform, **options)  # only its list of videos is used
    if not getattr(dataset, "classes", None):
        raise PluginError(contracts.no_classes(dataset_cfg["name"], reg.package, split))
    videos = getattr(dataset, "videos", None)
    if not videos:
        raise VidzooError(f"dataset {dataset_cfg['name']!r} does not list its videos (a `videos` attribute of "
                          f"(path, label) pairs, as vidzoo.data.clips.ClipDataset has); vidzoo test needs it")
    names = list(dataset.classes)
    lookup = {c: i for i, c in enumerate(predictor.class_names)}
    unknown = [c for c in names if c not in lookup]
    if unknown:
        raise VidzooError(f"the {split} data has {len(unknown)} classes the model does not know "
                          f"(e.g. {', '.join(map(repr, unknown[:3]))}); the model knows {len(lookup)} classes")
    return Evaluation(predictor, dataset_cfg["name"], options, split, [p for p, _ in videos],
                      [lookup[names[label]] for _, label in videos])


def evaluate(checkpoint, views="10x3", split: str = "val", batch_size: int | None = None, num_workers: int | None = None,
             device: str | None = None, progress: bool = True, model=None, pretrained: str | None = None,
             backbone_options: dict | None = None, dataset: str | None = None,
             **dataset_options) -> EvaluationResult:
    """prepare() then run(): the metrics `vidzoo test` reports, as data."""
    from vidzoo.evaluation.views import view_options

    views = view_options(views, batch_size) if isinstance(views, str) else views
    evaluation = prepare(checkpoint, split, device, model, pretrained, backbone_options, dataset, **dataset_options)
    return evaluation.run(views, batch_size, num_workers, progress)


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


def write_json(path: Path, data: dict) -> None:
    from vidzoo.io import atomic_write_bytes

    atomic_write_bytes(path, (json.dumps(data, indent=2) + "\n").encode())


def write_reports(out_dir: Path, result, probs, ok, paths, labels, class_names) -> None:
    import csv

    import torch

    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "metrics.json", result)
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
    import io

    from vidzoo.io import atomic_write_bytes

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
