"""The folder `vidzoo embed` writes, read back: ``embeddings.npy`` (float32, one row per video or
window), ``index.csv`` (path, start, end, label) and ``meta.json`` (the model that computed them);
and the ``features`` dataset's samples (vidzoo/default_plugins/features.py).

A sample is ``{"video": (D, 1, 1, 1) float tensor, "label": class index, ...}``: one embedding in
the shape of a pooled clip, so that it batches and passes the dataset contract as clips do.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from vidzoo.errors import VidzooError

FORMAT = "vidzoo-embeddings/1"
META, PROGRESS, PARTS = "meta.json", "progress.json", "parts"
EMBEDDINGS, INDEX = "embeddings.npy", "index.csv"
INDEX_FIELDS = ("path", "start", "end", "label")


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def read_embeddings(folder):
    """(embeddings (N, D) float32, index rows [dict], meta dict) of a finished `vidzoo embed` folder."""
    import numpy as np

    folder = Path(folder)
    if not (folder / EMBEDDINGS).is_file() or not (folder / INDEX).is_file():
        hint = (" (its run did not finish: run the same `vidzoo embed` command again to complete it)"
                if (folder / META).is_file() else "")
        raise VidzooError(f"{folder} holds no {EMBEDDINGS} and {INDEX}{hint}; write it with `vidzoo embed ... --out {folder}`")
    meta = json.loads((folder / META).read_text()) if (folder / META).is_file() else {}
    return np.load(folder / EMBEDDINGS), read_csv(folder / INDEX), meta


def labelled(folder) -> tuple:
    """(embeddings, labels as class indices, class names) of the rows of a folder that have a label."""
    import numpy as np

    x, rows, meta = read_embeddings(folder)
    names = meta.get("class_names") or sorted({r["label"] for r in rows if r["label"]})
    lookup = {c: i for i, c in enumerate(names)}
    keep = [i for i, r in enumerate(rows) if r["label"] in lookup]
    if not keep:
        raise VidzooError(f"{folder} has no labelled rows (embed a dataset split: `vidzoo embed --dataset NAME "
                          f"--split train ...`)")
    return x[keep], np.array([lookup[rows[i]["label"]] for i in keep]), list(names)


class FeatureDataset:
    """The labelled rows of one split's embedding folder as samples (the ``features`` dataset).

    ``backbone_options``: what a head trained on them needs to know (vidzoo.training.runner gives them
    to a backbone factory that takes them, unless the user set them): the feature size, and the model
    that computed the features (its recipe and checkpoint), so that the trained head labels videos.
    """

    def __init__(self, folder, split: str, transform=None):
        import torch

        self.folder, self.split, self.transform = Path(folder), split, transform
        x, labels, self.classes = labelled(self.folder)
        self.features = torch.from_numpy(x.astype("float32"))
        self.labels = labels.tolist()
        meta = json.loads((self.folder / META).read_text()) if (self.folder / META).is_file() else {}
        self.backbone_options = {"in_features": int(self.features.shape[1])}
        if meta.get("model") and (meta.get("checkpoint") or meta.get("pretrained")):
            self.backbone_options["embedder"] = {
                "model": meta["model"], "num_classes": meta["model_classes"], "classifier": meta["classifier"],
                "input": meta["input"], "checkpoint": meta["checkpoint"], "sha256": meta.get("checkpoint_sha256"),
                "pretrained": meta.get("pretrained")}

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict:
        sample = {"video": self.features[i].view(-1, 1, 1, 1), "label": self.labels[i], "video_index": i,
                  "video_name": str(i), "clip_start": 0.0}
        return self.transform(sample) if self.transform is not None else sample
