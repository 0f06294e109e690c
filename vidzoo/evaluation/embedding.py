"""Embeddings: one video's features, and the kNN top-1 read from two embedding folders.

The features are the classifier's input, caught by vidzoo.models.embedding.FeatureTap (a forward
pre-hook on the head the checkpoint declares); no model is re-implemented.

- :func:`video_windows` and :func:`embed_windows`: a video's windows decoded, and their rows (the
  one per-video path of Predictor.embed and of several devices' dataset items);
- :func:`knn_top1`: the kNN top-1 of one split's embeddings against another's (cosine similarity,
  majority of the k nearest); vidzoo.evaluation.embedding_folder writes the folders,
  vidzoo.data.features reads them back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vidzoo.errors import VidzooError

from vidzoo.data.features import labelled


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


def video_windows(maker, path: str, window: float | None, stride: float | None):
    """One video's windows, decoded one at a time: yields (start, end, views) (views: maker.span's
    tensor); VidzooError with a one-line reason when the video cannot be read. The one decoding path
    of Predictor.embed and of the per-video dataset several devices read."""
    from vidzoo.data import video as _video
    from vidzoo.evaluation.views import read_error

    def read(make, *args):
        try:
            return make(*args)
        except VidzooError:
            raise
        except Exception as exc:
            raise VidzooError(read_error(path, exc)) from None

    info = read(_video.probe, path)
    for start, end in windows(info.duration, window, stride):
        yield start, end, read(maker.span, path, start, end, info)


def embed_windows(predictor, path: str, decoded, batch_size: int | None, device=None) -> Embedding:
    """The classifier's input (FeatureTap) for each decoded window (``video_windows``), its views run
    ``batch_size`` at a time on ``device`` (default the predictor's) and averaged: one row per window."""
    import numpy as np
    import torch

    from vidzoo.evaluation.views import num_views, select_views
    from vidzoo.models.embedding import FeatureTap

    device = device or predictor.device
    batch_size = batch_size or predictor.clips_per_forward(device=device)  # a rank's own device
    tap = FeatureTap(predictor.model, predictor.classifier)
    rows, spans, count = [], [], 0
    for start, end, views in decoded:
        count, outs = num_views(views), []
        with tap, torch.inference_mode():
            for i in range(0, count, batch_size):
                predictor.forward(select_views(views, i, i + batch_size, device))
                outs.append(tap.features.cpu())
        rows.append(torch.cat(outs).mean(0))
        spans.append((start, end))
    return Embedding(path, torch.stack(rows).numpy().astype(np.float32), spans, views=count)


def decoded_windows(maker, window: float | None, stride: float | None, path: str) -> list:
    """All of one video's decoded windows (``video_windows``), for a dataset item
    (vidzoo.evaluation.views.VideoItems, several devices: Lightning's predict loop)."""
    return list(video_windows(maker, path, window, stride))


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
