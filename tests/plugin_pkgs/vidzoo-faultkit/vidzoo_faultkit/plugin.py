"""Test plugin for the fault-injection tests (tests/test_ddp.py, test_resume.py, test_contracts.py).

- dataset ``faultkit``: class-folder videos (DIR/<split>/<class>/*.mp4) read by vidzoo's
  ClipDataset (real mp4 decoding), which can record which clip each process loaded, make
  the label readable by the ``oracle`` backbone, or break the dataset contract.
- backbone ``faultkit-tiny``: a tiny 3D CNN; ``mode`` oracle (predicts the class written in
  the clip, never learns), wrong_shape or raises (contract breakers). With the environment
  variable VIDZOO_FAULTKIT_TRACE=FILE every forward appends "train" or "val" to FILE, then
  sleeps VIDZOO_FAULTKIT_SLEEP seconds (so that a test can kill a run mid-step).
"""

from __future__ import annotations

import os
import time

import vidzoo


def _rank() -> str:
    return os.environ.get("LOCAL_RANK", os.environ.get("RANK", "0"))


def faultkit(
    split: str,
    transform=None,
    data_path: str = "",
    clip_duration: float = 2.0,
    limit: int = 0,
    record_dir: str = "",
    oracle: bool = False,
    drop_label: bool = False,
    sleep: float = 0.0,
    stamp: bool = False,
    eval_clip_sampler: str = "random",
):
    """Class-folder videos for fault-injection tests.

    Args:
        split: train, val or test.
        transform: Applied to each sample.
        data_path: Folder holding <split>/<class>/*.mp4.
        clip_duration: Seconds per clip (one random clip per video, every split).
        limit: Use only the first N videos of the split (0: all).
        record_dir: Append "<index> <video_index>" of every loaded clip to
            RECORD_DIR/<split>-r<rank>-p<pid>.txt.
        oracle: Write the class the oracle backbone should predict into the clip: the
            true label for even video indices, a wrong one for odd.
        drop_label: Remove 'label' from samples (breaks the dataset contract).
        sleep: Seconds each sample takes on top of its decoding (a slow data source).
        stamp: Write the item's index into the clip (video[1, 0, 0, 0]), for the backbone's
            VIDZOO_FAULTKIT_SEEN record of what each training step trained on.
        eval_clip_sampler: Clip timing of val and test: random or uniform.
    """
    from pathlib import Path

    folder = Path(data_path) / split
    classes = sorted(d.name for d in folder.iterdir() if d.is_dir())
    videos = [(str(f), i) for i, c in enumerate(classes) for f in sorted((folder / c).glob("*.mp4"))]
    if limit:
        videos = videos[:limit]
    sampler = "random" if split == "train" else eval_clip_sampler
    dataset = _recording_class()(videos, classes, sampler, clip_duration, transform)
    dataset.record_dir, dataset.oracle, dataset.drop_label, dataset.split = record_dir, oracle, drop_label, split
    dataset.sleep, dataset.stamp = sleep, stamp
    return dataset


_Recording = None


def _recording_class():
    global _Recording
    if _Recording is None:
        from vidzoo.plugins import ClipDataset

        class Recording(ClipDataset):
            def __getitem__(self, i):
                time.sleep(getattr(self, "sleep", 0.0))
                sample = super().__getitem__(i)
                if self.record_dir:
                    name = os.path.join(self.record_dir, f"{self.split}-r{_rank()}-p{os.getpid()}.txt")
                    with open(name, "a") as f:
                        f.write(f"{i} {sample['video_index']}\n")
                if self.oracle:  # the true class for even video indices, a wrong one for odd
                    label = sample["label"]
                    code = label if sample["video_index"] % 2 == 0 else (label + 1) % len(self.classes)
                    sample["video"] = sample["video"] * 0
                    sample["video"][0, 0, 0, 0] = float(code)
                if getattr(self, "stamp", False):
                    sample["video"][1, 0, 0, 0] = float(i)
                if self.drop_label:
                    del sample["label"]
                return sample

        Recording.__qualname__ = Recording.__name__ = "Recording"
        globals()["Recording"] = _Recording = Recording
    return _Recording


def __getattr__(name: str):
    # Pickle finds the class as vidzoo_faultkit.plugin.Recording: a spawned DataLoader worker
    # (a fresh interpreter) gets it from here, without torch being imported at plugin load.
    if name == "Recording":
        return _recording_class()
    raise AttributeError(name)


def _steps(spec: str) -> tuple[set[int], int | None]:
    """'3,5' -> ({3, 5}, None); '4-' -> (set(), 4): from step 4 on."""
    steps, start = set(), None
    for part in filter(None, (p.strip() for p in spec.split(","))):
        if part.endswith("-"):
            start = int(part[:-1])
        else:
            steps.add(int(part))
    return steps, start


def faultkit_tiny(num_classes: int, width: int = 4, mode: str = "normal", nan_steps: str = ""):
    """A tiny 3D CNN (conv, batch norm, pool, linear) for tests.

    With VIDZOO_FAULTKIT_SEEN=FILE every training forward appends "r<rank> <index>..." of the
    clips it got (their stamped indices, see the dataset's ``stamp``) to FILE; "{attempt}" in
    FILE becomes torchrun's restart count, "{pid}" the training process's id (one file per process).

    Args:
        num_classes: Number of output classes.
        width: Channels of the conv layer.
        mode: normal; oracle (predicts the class in video[:, 0, 0, 0, 0]); wrong_shape
            (one logit too many); raises (fails in forward); not_a_module (the factory
            returns a dict); no_onnx (eval mode uses an op torch's ONNX exporter lacks).
        nan_steps: Training forwards (counted from 1 in this process) whose logits are NaN:
            "3,5" (those two) or "4-" (the 4th and every later one).
    """
    if mode == "not_a_module":
        return {"weights": []}
    import torch
    from torch import nn

    nan_at, nan_from = _steps(nan_steps)

    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Conv3d(3, width, 3, padding=1), nn.BatchNorm3d(width), nn.ReLU(),
                                          nn.AdaptiveAvgPool3d(1), nn.Flatten())
            self.head = nn.Linear(width, num_classes)
            self.forwards = 0

        def forward(self, x):
            if self.training:
                self.forwards += 1
                seen = os.environ.get("VIDZOO_FAULTKIT_SEEN", "").replace(
                    "{attempt}", os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")).replace("{pid}", str(os.getpid()))
                if seen:
                    with open(seen, "a") as f:
                        f.write(" ".join([f"r{os.environ.get('RANK') or _rank()}", *(str(int(v)) for v in x[:, 1, 0, 0, 0].tolist())]) + "\n")
            trace = os.environ.get("VIDZOO_FAULTKIT_TRACE")
            if trace:
                with open(trace, "a") as f:
                    f.write(("train" if self.training else "val") + "\n")
                time.sleep(float(os.environ.get("VIDZOO_FAULTKIT_SLEEP") or 0))
            logits = self.head(self.features(x))
            if self.training and (self.forwards in nan_at or (nan_from is not None and self.forwards >= nan_from)):
                logits = logits * float("nan")
            if mode == "oracle":
                code = x[:, 0, 0, 0, 0].round().long().clamp(0, num_classes - 1)
                return nn.functional.one_hot(code, num_classes).float() * 5.0 + 0.0 * logits
            if mode == "wrong_shape":
                return torch.cat([logits, logits[:, :1]], dim=1)
            if mode == "raises":
                return logits.view(-1, 7, 3)
            if mode == "no_onnx" and not self.training:
                return logits + 0.0 * torch.linalg.svdvals(logits).sum()
            return logits

    return Tiny()


class RecordServed:
    """A litdata dataset's transform, plus a line "<video_index>" per sample in
    RECORD_DIR/<split>-r<rank>-p<pid>.txt (it runs in the DataLoader worker that serves it)."""

    def __init__(self, inner, record_dir: str, split: str, stamp: bool = False):
        self.inner, self.record_dir, self.split, self.stamp = inner, record_dir, split, stamp

    def decode_plan(self):
        fn = getattr(self.inner, "decode_plan", None)
        return fn() if fn is not None else None

    def __call__(self, sample):
        index = sample["video_index"]
        if self.record_dir:
            name = os.path.join(self.record_dir, f"{self.split}-r{_rank()}-p{os.getpid()}.txt")
            with open(name, "a") as f:
                f.write(f"{index}\n")
        out = self.inner(sample) if self.inner is not None else sample
        if self.stamp:  # for the backbone's VIDZOO_FAULTKIT_SEEN record of what each step trained on
            out["video"][1, 0, 0, 0] = float(index)
        return out


def faultkit_litdata(split: str, transform=None, data_path: str | None = None, cache_dir: str | None = None,
                     record_dir: str = "", stamp: bool = False):
    """vidzoo's ``litdata`` dataset (streamed chunks), recording which video every rank and worker served.

    Args:
        split: train, val or test.
        transform: Applied to each sample.
        data_path: Folder or s3:// URL written by `vidzoo prepare --format litdata`.
        cache_dir: litdata's chunk cache.
        record_dir: Append the video index of every served sample to
            RECORD_DIR/<split>-r<rank>-p<pid>.txt.
        stamp: Write the video index into the clip (video[1, 0, 0, 0]), as ``faultkit`` does.
    """
    from vidzoo.default_plugins.litdata_dataset import litdata_dataset

    dataset = litdata_dataset(split, transform, data_path=data_path, cache_dir=cache_dir)
    if record_dir or stamp:
        dataset.video_transform = RecordServed(dataset.video_transform, record_dir, split, stamp)
    return dataset


@vidzoo.hookimpl
def register_datasets(register):
    register("faultkit", faultkit, "Recording class-folder dataset (fault-injection tests)",
             spec=vidzoo.DatasetSpec(transform="kinetics"))
    register("faultkit-litdata", faultkit_litdata, "litdata streaming dataset that records what it served (tests)",
             spec=vidzoo.DatasetSpec(transform="kinetics"))


@vidzoo.hookimpl
def register_backbones(register):
    register("faultkit-tiny", faultkit_tiny, "Tiny 3D CNN with failure modes (fault-injection tests)")
