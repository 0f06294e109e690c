"""Streaming video datasets on litdata, for training on many machines or from object storage.

One module (over 350 lines) on purpose: the writer and the reader share one item layout and
format, and it is the only module that imports litdata (an optional dependency).

``prepare_litdata`` writes one split of a dataset as litdata chunks (``litdata.optimize``):
each item holds the encoded video bytes, the label and the facts a reader needs without
probing (duration, fps, frames, width, height, the source's sha256). ``StreamingClips``
reads them with ``litdata.StreamingDataset`` (local folder or ``s3://``), decodes one clip
per video from the bytes in memory with vidzoo's reader, and applies the transform; the
``litdata`` dataset plugin returns it. litdata splits the chunks between DDP ranks and
DataLoader workers, and its ``StreamingDataLoader`` keeps the position in the epoch in its
``state_dict`` (Lightning stores it in checkpoints), so a resumed epoch serves the rest.

Layout: ``OUTPUT/<split>/{index.json, chunk-*.bin, vidzoo.json}``; ``vidzoo.json`` (the
class list, written last) marks a split as complete. Credentials and endpoints come from the
environment as boto3 reads them (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_ENDPOINT_URL``, ``AWS_CA_BUNDLE`` ...) or from ``storage_options`` (boto3 client
arguments), never from vidzoo's code. docs/streaming.md has the details and trade-offs.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Sequence

from litdata import StreamingDataLoader, StreamingDataset
from litdata.streaming.fs_provider import get_bucket_and_path
from litdata.utilities.env import _DistributedEnv

from vidzoo.errors import VidzooError
from vidzoo.messages import warn

META_FILE = "vidzoo.json"
FORMAT = "vidzoo-litdata-1"
EVAL_CLIP_SAMPLERS = ("center", "random")


def split_url(output: str, split: str) -> str:
    return f"{output.rstrip('/')}/{split}" if _is_remote(output) else str(Path(output).expanduser() / split)


def _is_remote(url: str) -> bool:
    return "://" in str(url)


def _facts(data: bytes) -> dict:
    """Manifest facts of an encoded video held in memory (header only, plus the frame count)."""
    import av

    from vidzoo.data.video import probe

    info = probe(io.BytesIO(data))
    with av.open(io.BytesIO(data)) as container:
        frames = int(container.streams.video[0].frames or 0)
    if not frames:  # containers that do not store it
        frames = int(round(info.duration * info.fps))
    return {"duration": float(info.duration), "fps": float(info.fps), "frames": frames,
            "width": int(info.width), "height": int(info.height)}


class _Item:
    """litdata.optimize's function: one (index, path, label) -> a chunk item, or None when unreadable.

    Runs in litdata's worker processes; the reason for a skipped video goes to a file in
    ``skip_dir`` (workers cannot return it), which prepare_litdata reports.
    """

    def __init__(self, encode: Callable[[str], bytes] | None, skip_dir: str):
        self.encode = encode
        self.skip_dir = skip_dir

    def __call__(self, job):
        from vidzoo.data.bad_videos import check_video, reason_of

        index, path, label = job
        checked = check_video(path)  # the same reasons `vidzoo check-data` gives
        reason = None if checked["ok"] else checked["reason"]
        if reason is None:
            try:
                with open(path, "rb") as f:
                    source = f.read()
                data = source if self.encode is None else self.encode(path)
                if not isinstance(data, (bytes, bytearray)) or not data:
                    raise ValueError(f"the encoder returned {type(data).__name__}, not video bytes")
                facts = _facts(bytes(data))
            except Exception as exc:  # reported with the path, the video is skipped
                reason = reason_of(exc, path)
        if reason is not None:
            Path(self.skip_dir, f"{index}.json").write_text(json.dumps({"path": path, "reason": reason}))
            return None
        # The name as bytes: litdata stores a str that names a media file as that file's contents.
        return {"video": bytes(data), "label": int(label), "index": int(index), "name": str(path).encode(),
                "sha256": hashlib.sha256(source).hexdigest(), **facts}


def _raise_write_failure(url: str, split: str, exc: BaseException | None) -> None:
    """A one-line VidzooError when litdata's writing failed for lack of space (or another OSError).

    litdata meets a full disk in several places: in a worker (re-raised as RuntimeError text), in
    the main process while merging the index, or by writing a cut index; and sometimes a worker's
    failure is lost and fewer items are written. The errno in the error's text says why; without
    one, a local output whose file system has under 1 MiB left is taken as full. Returns (and
    the caller re-raises) when neither tells.
    """
    import re

    from vidzoo.io import write_error_fix, write_error_reason

    found = re.search(r"OSError: \[Errno (\d+)\] ([^\n]+)", str(exc)) if exc is not None else None
    if isinstance(exc, OSError) and exc.errno is not None:
        error = exc
    elif found is not None:
        error = OSError(int(found.group(1)), found.group(2).strip())
    elif not _is_remote(url) and _free_bytes(url) < 1 << 20:
        error = OSError(errno.ENOSPC, "No space left on device")
    else:
        return
    if not _is_remote(url):  # chunks without vidzoo's meta file are never read, only in the way
        shutil.rmtree(url, ignore_errors=True)
    raise VidzooError(f"could not write the {split} split to {url}: {write_error_reason(error)}; none of it was "
                      f"kept; {write_error_fix(error)} and run the same command again with --overwrite (or choose another "
                      f"--output)") from None


def _free_bytes(path: str) -> int:
    folder = Path(path)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return shutil.disk_usage(folder).free


def _write_meta(url: str, meta: dict, storage_options: dict | None) -> None:
    body = json.dumps(meta, indent=1).encode()
    if not _is_remote(url):
        from vidzoo.io import atomic_write_bytes

        atomic_write_bytes(Path(url) / META_FILE, body)
        return
    bucket, key = get_bucket_and_path(f"{url}/{META_FILE}")
    _s3(storage_options).put_object(Bucket=bucket, Key=key, Body=body)


def _s3(storage_options: dict | None):
    """A boto3 S3 client: credentials, endpoint and CA bundle from the AWS_* environment unless given."""
    import boto3

    return boto3.client("s3", **(storage_options or {}))


def _s3_get(url: str, storage_options: dict | None) -> bytes:
    bucket, key = get_bucket_and_path(url)
    return _s3(storage_options).get_object(Bucket=bucket, Key=key)["Body"].read()


def read_meta(url: str, storage_options: dict | None = None) -> dict:
    """The split's vidzoo.json (class list and counts); a one-line error when it is not a prepared split."""
    how = "write it with vidzoo.data.streaming.prepare_litdata (`vidzoo prepare --format litdata`)"
    if not _is_remote(url):
        path = Path(url) / META_FILE
        if not path.is_file():
            raise VidzooError(f"{url} is not a prepared litdata split (no {META_FILE}); {how}")
        return json.loads(path.read_text())
    if not url.startswith("s3://"):
        raise VidzooError(f"litdata data_path must be a local folder or an s3:// URL, not {url}")
    import botocore.exceptions

    try:
        body = _s3_get(f"{url}/{META_FILE}", storage_options)
    except botocore.exceptions.ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchKey", "404", "NoSuchBucket"):
            raise VidzooError(f"{url} is not a prepared litdata split (no {META_FILE}: {code}); {how}") from None
        raise VidzooError(f"cannot read {url}/{META_FILE}: {code or exc}; check the AWS_* variables") from None
    except botocore.exceptions.BotoCoreError as exc:
        raise VidzooError(f"cannot reach {url}: {exc}; check AWS_ENDPOINT_URL and the credentials") from None
    return json.loads(body)


def prepare_litdata(videos: Sequence[tuple[str, int]], classes: list[str], output: str, *, split: str,
                    num_workers: int, encode: Callable[[str], bytes] | None = None,
                    storage_options: dict | None = None, chunk_bytes: str = "64MB",
                    overwrite: bool = False) -> dict:
    """Write one split as litdata chunks under ``output/<split>/`` (a local folder or ``s3://bucket/prefix``).

    Args:
        videos: (source path, integer label) pairs.
        classes: Class names, indexed by label.
        output: Local folder or ``s3://bucket/prefix``.
        split: Split name ("train", "val", ...).
        num_workers: Processes litdata.optimize runs (each reads, encodes and writes).
        encode: ``encode(path) -> bytes`` of the video to store (a picklable, top-level
            function: it runs in worker processes); None stores the source file's bytes.
        storage_options: boto3 client arguments for s3 (default: the AWS_* environment).
        chunk_bytes: Target chunk size.
        overwrite: Replace a split already written there.

    Returns:
        {"videos": items written, "bytes": video bytes stored, "skipped": [(path, reason), ...]}.
        Unreadable sources are skipped, each reported on one line.
    """
    import litdata

    classes = list(classes)
    jobs = [(i, str(path), int(label)) for i, (path, label) in enumerate(videos)]
    if not classes:
        raise VidzooError("prepare_litdata needs the class names (classes is empty)")
    bad = [(p, label) for _, p, label in jobs if not 0 <= label < len(classes)]
    if bad:
        raise VidzooError(f"label {bad[0][1]} of {bad[0][0]} is outside the {len(classes)} classes")
    if not jobs:
        raise VidzooError(f"no videos to prepare for the {split} split")
    if num_workers < 1:
        raise VidzooError(f"num_workers must be 1 or more, got {num_workers}")
    if _is_remote(output) and not str(output).startswith("s3://"):
        raise VidzooError(f"output must be a local folder or an s3:// URL, not {output}")
    url = split_url(output, split)
    with tempfile.TemporaryDirectory(prefix="vidzoo-prepare-") as work, _private_staging(work):
        skip_dir = os.path.join(work, "skipped")
        os.mkdir(skip_dir)
        try:
            litdata.optimize(_Item(encode, skip_dir), jobs, url, num_workers=min(num_workers, len(jobs)),
                             chunk_bytes=chunk_bytes, reorder_files=False, storage_options=storage_options or {},
                             mode="overwrite" if overwrite else None, verbose=False)
        except RuntimeError as exc:
            if "already contains" in str(exc):
                raise VidzooError(f"{url} already holds a prepared split; pass overwrite=True (--overwrite) "
                                  f"or choose another output") from None
            _raise_write_failure(url, split, exc)
            raise
        except (OSError, ValueError) as exc:
            _raise_write_failure(url, split, exc)
            raise
        skipped = []
        for f in sorted(Path(skip_dir).glob("*.json"), key=lambda p: int(p.stem)):
            entry = json.loads(f.read_text())
            skipped.append((entry["path"], entry["reason"]))
    for path, reason in skipped:
        warn(f"vidzoo: skipped {path}: {reason}")
    try:
        index = _read_index(url, storage_options)
    except ValueError as exc:  # an index cut short (a full disk)
        _raise_write_failure(url, split, exc)
        raise
    written = int(sum(chunk.get("chunk_size", 0) for chunk in index.get("chunks", [])))
    if written + len(skipped) != len(jobs):
        _raise_write_failure(url, split, None)
        raise VidzooError(f"litdata wrote {written} of the {len(jobs) - len(skipped)} readable {split} videos to "
                          f"{url}; run again with overwrite=True")
    if written == 0:
        raise VidzooError(f"none of the {len(jobs)} {split} videos could be read (first: {skipped[0][0]}: "
                          f"{skipped[0][1]}); check them with `vidzoo check-data`")
    total = int(sum(chunk.get("chunk_bytes", 0) for chunk in index.get("chunks", [])))
    _write_meta(url, {"format": FORMAT, "split": split, "classes": classes, "videos": written,
                      "bytes": total, "skipped": len(skipped)}, storage_options)
    return {"videos": written, "bytes": total, "skipped": skipped}


def _read_index(url: str, storage_options: dict | None) -> dict:
    """litdata's index.json of a written split (its chunks, with their item counts and sizes)."""
    if _is_remote(url):
        return json.loads(_s3_get(f"{url}/index.json", storage_options))
    return json.loads((Path(url) / "index.json").read_text())


@contextlib.contextmanager
def _private_staging(folder: str):
    """litdata.optimize stages chunks bound for s3 in one fixed folder (/tmp/chunks) unless told otherwise
    by these variables (it has no argument for it), so two prepares on one machine would overwrite
    each other's chunks. Give this one its own; its worker processes inherit the variables."""
    names = {"DATA_OPTIMIZER_CACHE_FOLDER": "chunks", "DATA_OPTIMIZER_DATA_CACHE_FOLDER": "data"}
    old = {name: os.environ.get(name) for name in names}
    os.environ.update({name: os.path.join(folder, sub) for name, sub in names.items()})
    try:
        yield
    finally:
        for name, value in old.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _index_wait(step, attempts: int = 120):
    """``step()``, again while it fails for want of the cached index.json.

    litdata waits 1 s for another process of the node that is fetching index.json into the
    shared cache, then goes on without it and fails; DDP ranks starting together on a busy
    machine hit that. Wait for the other process instead.
    """
    for attempt in range(attempts):
        try:
            return step()
        except ValueError as exc:
            if "index.json" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.5)


class StreamingClips(StreamingDataset):
    """One clip per video per epoch from a prepared litdata split, decoded from the bytes in memory.

    Clip timing: ``random`` (pytorchvideo's RandomClipSampler, from the stored duration) or
    ``center`` (the middle ``clip_duration`` seconds). The transform is vidzoo's: with a
    ``decode_plan()`` the reader decodes only the frames it keeps, as ClipDataset does.
    """

    def __init__(self, url: str, split: str, classes: list[str], transform=None, *, clip_sampler: str,
                 clip_duration: float, shuffle: bool, seed: int = 42, cache_dir: str | None = None,
                 storage_options: dict | None = None, max_cache_size: str | None = None):
        _index_wait(lambda: super(StreamingClips, self).__init__(
            url, cache_dir=cache_dir, shuffle=shuffle, seed=seed, storage_options=storage_options,
            max_cache_size=max_cache_size))
        self.url = url
        self.split = split
        self.classes = list(classes)
        self.video_transform = transform  # not `transform`: litdata applies an attribute of that name itself
        self.clip_sampler = clip_sampler
        self.clip_duration = clip_duration

    def _create_cache(self, worker_env):
        return _index_wait(lambda: super(StreamingClips, self)._create_cache(worker_env))

    def clip_times(self, duration: float):
        if self.clip_sampler == "random":
            from pytorchvideo.data.clip_sampling import RandomClipSampler

            info = RandomClipSampler(self.clip_duration)(0.0, duration, {})
            return info.clip_start_sec, info.clip_end_sec
        start = max(duration - self.clip_duration, 0.0) / 2
        return start, start + self.clip_duration

    def __getitem__(self, index):
        from vidzoo.data import video as _video

        item = super().__getitem__(index)
        start, end = self.clip_times(float(item["duration"]))
        source = io.BytesIO(item["video"])
        name = bytes(item["name"]).decode()
        source.name = f"{self.url}#{int(item['index'])} ({name})"
        plan_fn = getattr(self.video_transform, "decode_plan", None)
        plan = plan_fn() if plan_fn is not None else None
        if plan is None:
            sample = {"video": _video.read_clip(source, start, end)}
        else:
            sample = {"video": _video.decode_clip(source, start, end, plan), "decode_plan": plan}
        sample.update(label=int(item["label"]), video_index=int(item["index"]), video_name=name,
                      clip_start=float(start))
        return self.video_transform(sample) if self.video_transform is not None else sample

    def dataloader(self, *, batch_size: int, num_workers: int, shuffle: bool, **loader_options):
        """A StreamingDataLoader over this dataset (vidzoo's data module calls it once DDP has started).

        The ranks are detected here, not at construction: the dataset is built before DDP
        starts (the run reads the class list first). Train drops the last partial
        batches across ranks (litdata's DDP rule: equal step counts; fewer than
        world_size x batch_size videos of an epoch left out), evaluation keeps every video.
        """
        self.distributed_env = _DistributedEnv.detect()
        self.set_drop_last(shuffle and self.distributed_env.world_size > 1)
        self.set_shuffle(shuffle)
        return StreamingDataLoader(self, batch_size=batch_size, num_workers=num_workers, **loader_options)


def prepare_folder(source: str, output: str, *, num_workers: int = 1, splits: Sequence[str] = ("train", "val"),
                   overwrite: bool = False) -> dict:
    """prepare_litdata for every split of a folder in the kinetics layouts (e.g. `vidzoo demo-data DIR`)."""
    from vidzoo.data.kinetics_layout import read_split

    root = Path(source).expanduser()
    if not root.is_dir():
        raise VidzooError(f"{root} is not a folder; pass a dataset root such as `vidzoo demo-data` writes")
    train_items, classes = read_split(root, "train")
    if classes is None:
        raise VidzooError(f"{root}: labelled-paths files carry no class names; use class folders or annotation CSVs")
    lookup = {c: i for i, c in enumerate(classes)}
    results = {}
    for split in splits:
        items, _ = (train_items, classes) if split == "train" else read_split(root, split)
        results[split] = prepare_litdata([(p, lookup[c]) for p, c in items], classes, output, split=split,
                                         num_workers=num_workers, overwrite=overwrite)
    return results


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m vidzoo.data.streaming",
        description="Write a dataset folder (class folders or Kinetics CSVs, train and val) as litdata chunks.",
        epilog="example:\n  vidzoo demo-data demo && python -m vidzoo.data.streaming demo s3://bucket/demo-litdata",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", help="dataset root (DIR/{train,val}/<class>/*.mp4 or DIR/{train,val}.csv)")
    parser.add_argument("output", help="local folder or s3://bucket/prefix (credentials: the AWS_* variables)")
    parser.add_argument("--workers", type=int, default=1, help="litdata.optimize worker processes (default 1)")
    parser.add_argument("--splits", default="train,val", help="comma-separated splits (default train,val)")
    parser.add_argument("--overwrite", action="store_true", help="replace splits already written there")
    args = parser.parse_args(argv)
    try:
        results = prepare_folder(args.source, args.output, num_workers=args.workers,
                                 splits=[s for s in args.splits.split(",") if s], overwrite=args.overwrite)
    except VidzooError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for split, r in results.items():
        print(f"{split}: {r['videos']} videos, {r['bytes'] / 1e6:.1f} MB, {len(r['skipped'])} skipped "
              f"-> {split_url(args.output, split)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
