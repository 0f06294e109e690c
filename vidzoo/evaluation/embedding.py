"""Embeddings: the folder `vidzoo embed` writes, and the kNN top-1 read from two of them.

The features are the classifier's input, caught by vidzoo.models.embedding.FeatureTap (a forward
pre-hook on the head the checkpoint declares); no model is re-implemented.

- :func:`embed_to_folder`: ``embeddings.npy`` (float32, one row per video or window) and
  ``index.csv`` (path, start, end, label), resumable: rows are written in shards, each shard
  whole (``vidzoo.io``'s atomic writer) before the progress file that counts it; a killed run
  goes on after the last counted shard, so no video is embedded or written twice.
- :func:`knn_top1`: the kNN top-1 of one split's embeddings against another's (cosine similarity,
  majority of the k nearest); vidzoo.data.features reads the folder back.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from vidzoo.errors import VidzooError

from vidzoo.data.features import (EMBEDDINGS, FORMAT, INDEX, INDEX_FIELDS, META, PARTS, PROGRESS, labelled,
                                   read_csv)


@dataclass
class Embedding:
    """One video's embeddings: ``features`` (rows, D) float32 numpy, one row per window (one for the
    whole video, views averaged), ``spans`` [(start, end)] seconds, ``views`` per row."""

    path: str
    features: object
    spans: list = field(default_factory=list)
    views: int = 0


def windows(duration: float, window: float | None, stride: float | None) -> list[tuple[float, float]]:
    """[(start, end)]: the whole video, or windows of ``window`` seconds every ``stride`` seconds (the
    last one ends at the video's end; a video shorter than a window is one window)."""
    if window is None:
        return [(0.0, duration)]
    stride = stride or window
    if duration <= window:
        return [(0.0, duration)]
    out, start = [], 0.0
    while start + window <= duration + 1e-6:
        out.append((round(start, 6), round(start + window, 6)))
        start += stride
    if out[-1][1] < duration - 1e-6:  # the tail a stride leaves: one more window ending at the end
        out.append((round(duration - window, 6), round(duration, 6)))
    return out


def check_window(window: float | None, stride: float | None) -> None:
    if window is not None and window <= 0:
        raise VidzooError(f"--window must be positive (seconds), got {window}")
    if stride is not None and (window is None or stride <= 0):
        raise VidzooError("--stride needs --window, and must be positive (seconds)" if window is None
                          else f"--stride must be positive (seconds), got {stride}")


# ---------------------------------------------------------------- the output folder


@dataclass
class Item:
    """One input video: its path and, from a dataset, its class name."""

    path: str
    label: str | None = None


@dataclass
class Summary:
    out: Path
    videos: int
    rows: int
    dim: int
    skipped: list
    seconds: float
    resumed_from: int = 0
    clips: int = 0  # clips through the model (rows x views)


def _json_bytes(obj) -> bytes:
    return (json.dumps(obj, indent=2) + "\n").encode()


def _settings(predictor, items: list[Item], views, window, stride) -> dict:
    digest = hashlib.sha256("\n".join(f"{i.path}\t{i.label or ''}" for i in items).encode()).hexdigest()
    return {"checkpoint": str(predictor.checkpoint), "model": predictor.recipe, "views": f"{views[0]}x{views[1]}",
            "window": window, "stride": stride, "inputs": digest, "videos": len(items)}


def _save_npy(path: Path, array) -> None:
    import numpy as np

    from vidzoo.io import atomic_write_bytes

    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array, dtype=np.float32))
    atomic_write_bytes(path, buffer.getvalue())


def _save_csv(path: Path, rows: list[dict]) -> None:
    from vidzoo.io import atomic_write_bytes

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=INDEX_FIELDS)
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(path, buffer.getvalue().encode())


def embed_to_folder(predictor, items: list[Item], out, views=(5, 1), window: float | None = None,
                    stride: float | None = None, batch_size: int = 16, class_names=None, source: dict | None = None,
                    progress: bool = True, shard_size: int = 16, pretrained: str | None = None) -> Summary:
    """Embed ``items`` into ``out`` (see the module docstring); a folder a killed run left is continued.
    ``pretrained``: the predictor is a published model with these weights (not a checkpoint file)."""
    import time

    import numpy as np
    from tqdm import tqdm

    from vidzoo.io import TMP_SUFFIX, atomic_write_bytes, remove_stale_temporaries

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise VidzooError(f"--out {out} is a file, not a folder; choose another --out")
    settings = _settings(predictor, items, views, window, stride)
    state = {"done": 0, "shards": [], "rows": 0, "clips": 0, "skipped": [], "complete": False}
    if (out / META).is_file():
        meta = json.loads((out / META).read_text())
        if meta.get("settings") != settings:
            raise VidzooError(f"--out {out} holds embeddings of other inputs or settings (its {META}); "
                              f"choose another --out, or delete it to start again")
        if (out / PROGRESS).is_file():
            state = json.loads((out / PROGRESS).read_text())
    elif out.is_dir() and any(not (p.name.startswith(".") and p.name.endswith(TMP_SUFFIX)) for p in out.iterdir()):
        raise VidzooError(f"--out {out} is a folder with other files in it; choose a new or empty folder")
    else:
        from vidzoo.models.hub import file_sha256

        source_ckpt = None if pretrained is not None else Path(predictor.checkpoint).resolve()
        meta = {"format": FORMAT, "settings": settings, "checkpoint": source_ckpt and str(source_ckpt),
                "checkpoint_sha256": file_sha256(source_ckpt) if source_ckpt and source_ckpt.is_file() else None,
                "pretrained": pretrained,
                "model": predictor.recipe, "model_classes": len(predictor.class_names),
                "classifier": list(predictor.classifier),
                "input": {"transform": {"name": predictor.transform_name, **predictor.transform_options},
                          "dataset": {"clip_duration": predictor.clip_duration}},
                "views": settings["views"], "window": window, "stride": stride,
                "class_names": list(class_names) if class_names else None, "source": source or {}}
        atomic_write_bytes(out / META, _json_bytes(meta))
    for folder in (out, out / PARTS):
        remove_stale_temporaries(folder)
    started, resumed_from = time.perf_counter(), state["done"]
    if not state["complete"]:
        if resumed_from:
            from vidzoo.messages import say

            say(f"vidzoo embed: resuming {out}: {resumed_from} of {len(items)} videos already embedded")
        bar = tqdm(total=len(items), initial=resumed_from, desc="embedding", unit="video", file=sys.stderr,
                   disable=not progress, dynamic_ncols=True)
        rows, feats, skipped = [], [], []

        def flush(done: int) -> None:
            name = f"part-{len(state['shards']):05d}"
            if feats:  # the shard, whole, before the progress file that counts it
                _save_npy(out / PARTS / f"{name}.npy", np.concatenate(feats))
                _save_csv(out / PARTS / f"{name}.csv", rows)
                state["shards"].append(name)
            state["rows"] += len(rows)
            state["skipped"].extend(skipped)
            state["done"] = done
            atomic_write_bytes(out / PROGRESS, _json_bytes(state))
            rows.clear(), feats.clear(), skipped.clear()

        for i in range(resumed_from, len(items)):
            item = items[i]
            try:
                emb = predictor.embed(item.path, views=views, window=window, stride=stride, batch_size=batch_size)
            except VidzooError as exc:
                skipped.append({"path": item.path, "error": str(exc)})
                bar.write(f"vidzoo embed: skipped {exc}", file=sys.stderr)
            else:
                feats.append(emb.features)
                state["clips"] += emb.views * len(emb.spans)
                rows.extend({"path": item.path, "start": f"{s:.3f}", "end": f"{e:.3f}", "label": item.label or ""}
                            for s, e in emb.spans)
            bar.update()
            if len(feats) >= shard_size or len(skipped) >= shard_size:
                flush(i + 1)
        flush(len(items))
        bar.close()
        if not state["shards"]:
            raise VidzooError(f"none of the {len(items)} videos could be embedded (first: "
                              f"{state['skipped'][0]['error'] if state['skipped'] else '?'})")
        parts = [np.load(out / PARTS / f"{n}.npy") for n in state["shards"]]
        index = [r for n in state["shards"] for r in read_csv(out / PARTS / f"{n}.csv")]
        _save_npy(out / EMBEDDINGS, np.concatenate(parts))
        _save_csv(out / INDEX, index)
        state["complete"] = True
        atomic_write_bytes(out / PROGRESS, _json_bytes(state))
        shutil.rmtree(out / PARTS, ignore_errors=True)
    dim = int(np.load(out / EMBEDDINGS, mmap_mode="r").shape[1])
    return Summary(out, len(items), state["rows"], dim, state["skipped"], time.perf_counter() - started,
                   resumed_from, state["clips"])


def knn_top1(query, reference, k: int = 5) -> float:
    """Top-1 of each ``query`` row's class voted by its ``k`` nearest ``reference`` rows (cosine
    similarity; ties go to the nearest); both are embedding folders of labelled data."""
    import numpy as np

    xq, yq, names_q = labelled(query)
    xr, yr, names_r = labelled(reference)
    if xq.shape[1] != xr.shape[1]:
        raise VidzooError(f"{query} and {reference} hold embeddings of different sizes ({xq.shape[1]} and "
                          f"{xr.shape[1]}): they come from different models")
    lookup = {c: i for i, c in enumerate(names_r)}
    yq = np.array([lookup.get(names_q[y], -1) for y in yq])

    def unit(x):
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)

    sims = unit(xq) @ unit(xr).T
    k = max(1, min(k, len(xr)))
    nearest = np.argsort(-sims, axis=1)[:, :k]
    hits = 0
    for row, truth in zip(nearest, yq):
        votes = np.zeros(len(names_r))
        for rank, j in enumerate(row):  # a tiny bonus for nearer neighbours breaks ties
            votes[yr[j]] += 1 + 1e-3 * (k - rank)
        hits += int(votes.argmax() == truth)
    return hits / len(yq)
