"""The folder `vidzoo embed` writes: ``embeddings.npy`` (float32, one row per video or window) and
``index.csv`` (path, start, end, label), in input order, with ``meta.json`` and ``progress.json``.

Resumable by any number of processes: each writes its rows in shards under ``parts/``, named by
attempt and process and carrying the input indexes they hold, each file whole (``vidzoo.io``'s
atomic writer) before the record that makes the shard count; a run goes on with the videos no
counted shard holds, so none is embedded or written twice; the first process assembles the folder.
"""

from __future__ import annotations

import csv
import io
import hashlib
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from vidzoo.errors import VidzooError

from vidzoo.data.features import EMBEDDINGS, FORMAT, INDEX, INDEX_FIELDS, META, PARTS, PROGRESS, read_csv
from vidzoo.evaluation.embedding import Embedding, decoded_windows, embed_windows
from vidzoo.evaluation.views import VideoItems


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


class ShardWriter:
    """The shards one process writes into ``parts/``: NAME.npy and NAME.csv, then NAME.json (the input
    indexes it holds, rows per video, skipped videos and their reasons), which makes it count: each
    file whole (vidzoo.io's atomic writer), so a killed run loses at most the shard being filled, and
    names carry the attempt and the rank, so that no two processes or runs write the same file."""

    def __init__(self, out: Path, items: list[Item], prefix: str, size: int, echo=None, on_flush=None):
        self.out, self.items, self.prefix, self.size = Path(out), items, prefix, size
        self.echo = echo or (lambda line: print(line, file=sys.stderr, flush=True))
        self.on_flush, self.written = on_flush, 0
        self._clear()

    def _clear(self) -> None:
        self.indexes, self.embedded, self.feats, self.rows, self.skipped, self.clips = [], [], [], [], [], 0

    def add(self, index: int, embedding: Embedding | None = None, error: str = "") -> None:
        item = self.items[index]
        self.indexes.append(index)
        if embedding is None:
            self.skipped.append({"index": index, "path": item.path, "error": error})
            self.echo(f"vidzoo embed: skipped {error}")
        else:
            self.feats.append(embedding.features)
            self.embedded.append([index, len(embedding.spans)])
            self.clips += embedding.views * len(embedding.spans)
            self.rows.extend({"path": item.path, "start": f"{s:.3f}", "end": f"{e:.3f}", "label": item.label or ""}
                             for s, e in embedding.spans)
        if len(self.indexes) >= self.size:
            self.flush()

    def flush(self) -> None:
        import numpy as np

        from vidzoo.io import atomic_write_bytes

        if not self.indexes:
            return
        name = f"{self.prefix}-{self.written:05d}"
        if self.feats:
            _save_npy(self.out / PARTS / f"{name}.npy", np.concatenate(self.feats))
            _save_csv(self.out / PARTS / f"{name}.csv", self.rows)
        record = {"indexes": self.indexes, "embedded": self.embedded, "skipped": self.skipped, "clips": self.clips}
        atomic_write_bytes(self.out / PARTS / f"{name}.json", _json_bytes(record))  # last: the shard counts
        self.written += 1
        if self.on_flush is not None:
            self.on_flush(name, record)
        self._clear()

    close = flush


def finished_shards(out: Path) -> dict[str, dict]:
    """{shard name: its record} of the shards in ``out/parts`` whose record was written (whole ones)."""
    folder = Path(out) / PARTS
    return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("part-*.json"))} if folder.is_dir() else {}


def _next_attempt(out: Path) -> int:
    """1 + the highest attempt number in ``parts/``: every process of a run finds the same one (none
    writes a shard before all have looked: Lightning's predict loop starts once all have joined)."""
    import re

    folder = Path(out) / PARTS
    found = [int(m.group(1)) for p in (folder.iterdir() if folder.is_dir() else ())
             if (m := re.match(r"part-(\d+)-", p.name))]
    return max(found, default=0) + 1


def _progress(shards: dict, complete: bool = False) -> dict:
    records = list(shards.values())
    return {"done": sum(len(r["indexes"]) for r in records), "shards": list(shards),
            "rows": sum(n for r in records for _, n in r["embedded"]), "clips": sum(r["clips"] for r in records),
            "skipped": sorted((s for r in records for s in r["skipped"]), key=lambda s: s["index"]),
            "complete": complete}


def _assemble(out: Path, items: list[Item]) -> dict:
    """embeddings.npy and index.csv from every finished shard, in input order; the progress, complete."""
    import numpy as np

    from vidzoo.io import atomic_write_bytes

    shards = finished_shards(out)
    state = _progress(shards, complete=True)
    if state["rows"] == 0:
        raise VidzooError(f"none of the {len(items)} videos could be embedded (first: "
                          f"{state['skipped'][0]['error'] if state['skipped'] else '?'})")
    by_index = {}
    for name, record in shards.items():
        if not record["embedded"]:
            continue
        feats, rows, at = np.load(out / PARTS / f"{name}.npy"), read_csv(out / PARTS / f"{name}.csv"), 0
        for index, count in record["embedded"]:
            by_index[index] = (feats[at:at + count], rows[at:at + count])
            at += count
    order = sorted(by_index)
    _save_npy(out / EMBEDDINGS, np.concatenate([by_index[i][0] for i in order]))
    _save_csv(out / INDEX, [row for i in order for row in by_index[i][1]])
    for s in state["skipped"]:
        s.pop("index", None)
    atomic_write_bytes(out / PROGRESS, _json_bytes(state))
    shutil.rmtree(out / PARTS, ignore_errors=True)
    return state


def _open_folder(out: Path, settings: dict, meta_fields: dict, first: bool) -> dict | None:
    """Check ``out`` for this run (the first process writes meta.json into a new folder); its progress
    (None for a folder not started)."""
    from vidzoo.io import TMP_SUFFIX, atomic_write_bytes, remove_stale_temporaries

    if out.exists() and not out.is_dir():
        raise VidzooError(f"--out {out} is a file, not a folder; choose another --out")
    if (out / META).is_file():
        meta = json.loads((out / META).read_text())
        if meta.get("settings") != settings:
            raise VidzooError(f"--out {out} holds embeddings of other inputs or settings (its {META}); "
                              f"choose another --out, or delete it to start again")
    elif not first:  # a launcher started every process at once: the first one makes the folder
        return None
    elif out.is_dir() and any(not (p.name.startswith(".") and p.name.endswith(TMP_SUFFIX)) for p in out.iterdir()):
        raise VidzooError(f"--out {out} is a folder with other files in it; choose a new or empty folder")
    else:
        atomic_write_bytes(out / META, _json_bytes({**meta_fields, "settings": settings}))
    if first:
        for folder in (out, out / PARTS):
            remove_stale_temporaries(folder)
    return json.loads((out / PROGRESS).read_text()) if (out / PROGRESS).is_file() else None


def _meta_fields(predictor, settings, window, stride, class_names, source, pretrained) -> dict:
    from vidzoo.models.hub import file_sha256

    source_ckpt = None if pretrained is not None else Path(predictor.checkpoint).resolve()
    return {"format": FORMAT, "checkpoint": source_ckpt and str(source_ckpt),
            "checkpoint_sha256": file_sha256(source_ckpt) if source_ckpt and source_ckpt.is_file() else None,
            "pretrained": pretrained,
            "model": predictor.recipe, "model_classes": len(predictor.class_names),
            "classifier": list(predictor.classifier),
            "input": {"transform": {"name": predictor.transform_name, **predictor.transform_options},
                      "dataset": {"clip_duration": predictor.clip_duration}},
            "views": settings["views"], "window": window, "stride": stride,
            "class_names": list(class_names) if class_names else None, "source": source or {}}


def _embed_decoded(predictor, batch_size: int | None, item: dict, device) -> dict:
    """The predict step on one VideoItems item, on ``device``: ShardWriter.add's arguments."""
    if item["error"]:
        return {"index": item["index"], "embedding": None, "error": item["error"]}
    return {"index": item["index"], "embedding": embed_windows(predictor, item["path"], item["value"], batch_size,
                                                               device), "error": ""}


def _embed_here(predictor, items, pending: list[int], out: Path, writer: ShardWriter, shards: dict, options: dict,
                progress: bool) -> None:
    """One process, one video after another (Predictor.embed), with a progress bar and the progress
    file rewritten after each shard."""
    from tqdm import tqdm

    from vidzoo.io import atomic_write_bytes

    bar = tqdm(total=len(items), initial=len(items) - len(pending), desc="embedding", unit="video", file=sys.stderr,
               disable=not progress, dynamic_ncols=True)

    def counted(name, record):
        shards[name] = record
        atomic_write_bytes(out / PROGRESS, _json_bytes(_progress(shards)))

    writer.echo, writer.on_flush = (lambda line: bar.write(line, file=sys.stderr)), counted
    for i in pending:
        try:
            writer.add(i, predictor.embed(items[i].path, **options))
        except VidzooError as exc:
            writer.add(i, error=str(exc))
        bar.update()
    writer.close()
    bar.close()


def embed_to_folder(predictor, items: list[Item], out, views=(5, 1), window: float | None = None,
                    stride: float | None = None, batch_size: int | None = None, class_names=None, source: dict | None = None,
                    progress: bool = True, shard_size: int = 16, pretrained: str | None = None,
                    loop=None) -> Summary | None:
    """Embed ``items`` into ``out`` (see the module docstring); a folder a killed run left is continued,
    by any number of processes. ``pretrained``: the predictor is a published model with these weights
    (not a checkpoint file). ``loop``: several devices, a vidzoo.training.predicting.PredictLoop
    (Lightning's predict loop, DDP; its processes run this function each); None: this process, one
    video after another. Returns the Summary in the first process, None in the others."""
    import functools
    import time

    import numpy as np

    from vidzoo.messages import is_rank_zero, say

    out, first = Path(out), is_rank_zero()
    settings = _settings(predictor, items, views, window, stride)
    meta_fields = _meta_fields(predictor, settings, window, stride, class_names, source, pretrained) if first else {}
    state = _open_folder(out, settings, meta_fields, first)
    started = time.perf_counter()
    resumed_from = 0
    if not (state and state["complete"]):
        shards = finished_shards(out)
        done = {i for r in shards.values() for i in r["indexes"]}
        pending = [i for i in range(len(items)) if i not in done]
        resumed_from = len(done)
        if resumed_from and first:
            say(f"vidzoo embed: resuming {out}: {resumed_from} of {len(items)} videos already embedded")
        prefix = f"part-{_next_attempt(out):03d}"
        if pending and loop is None:
            _embed_here(predictor, items, pending, out, ShardWriter(out, items, f"{prefix}-r0", shard_size), shards,
                        dict(views=views, window=window, stride=stride, batch_size=batch_size), progress)
        elif pending:
            read = functools.partial(decoded_windows, predictor.view_maker(views), window, stride)
            dataset = VideoItems([item.path for item in items], read, pending)
            rank = loop.run(predictor.model, dataset, functools.partial(_embed_decoded, predictor, batch_size),
                            lambda rank: ShardWriter(out, items, f"{prefix}-r{rank}", shard_size))
            if rank != 0:
                return None
        elif not first:
            return None
        state = _assemble(out, items)
    elif not first:
        return None
    else:
        resumed_from = state["done"]
    dim = int(np.load(out / EMBEDDINGS, mmap_mode="r").shape[1])
    return Summary(out, len(items), state["rows"], dim, state["skipped"], time.perf_counter() - started,
                   resumed_from, state["clips"])
