"""Built-in dataset: videos prepared as litdata chunks, streamed from a folder or s3:// (vidzoo.data.streaming)."""

from __future__ import annotations

from pathlib import Path

from vidzoo.errors import VidzooError
from vidzoo.plugins.hookspecs import hookimpl
from vidzoo.plugins.specs import DatasetSpec

CLIP_SAMPLERS = ("random", "center")


def litdata_dataset(
    split: str,
    transform=None,
    data_path: str | None = None,
    clip_duration: float = 2.0,
    train_clip_sampler: str = "random",
    eval_clip_sampler: str = "center",
    cache_dir: str | None = None,
    max_cache_size: str | None = None,
    seed: int = 42,
):
    """Videos prepared as litdata chunks (local folder or s3://), streamed: one clip per video per epoch.

    Args:
        split: "train", "val" or "test".
        transform: Callable applied to each sample dict.
        data_path: Folder or s3://bucket/prefix holding <split>/ as `vidzoo prepare --format
            litdata` (vidzoo.data.streaming.prepare_litdata) writes it. S3 credentials and endpoint
            come from the AWS_* environment variables.
        clip_duration: Seconds per clip.
        train_clip_sampler: "random" (one random clip per video per epoch) or "center".
        eval_clip_sampler: "center" (the middle clip of each video) or "random".
        cache_dir: Where litdata caches downloaded chunks (default: litdata's, ~/.lightning/chunks,
            or $LITDATA_CACHE_DIR).
        max_cache_size: Cache budget, e.g. "50GB" (default: litdata's).
        seed: Shuffle seed (the train order changes every epoch).
    """
    if data_path is None:
        raise VidzooError("the litdata dataset needs --dataset.data_path: a folder or s3://bucket/prefix "
                          "written by `vidzoo prepare --format litdata`")
    sampler = train_clip_sampler if split == "train" else eval_clip_sampler
    if sampler not in CLIP_SAMPLERS:
        raise VidzooError(f"litdata clip samplers are {', '.join(CLIP_SAMPLERS)} (one clip per video per epoch), "
                          f"not {sampler!r}")
    if clip_duration <= 0:
        raise VidzooError(f"clip_duration must be positive, got {clip_duration}")
    if "://" not in data_path:
        root = Path(data_path).expanduser()
        if not root.is_dir():
            raise VidzooError(f"litdata data_path {root} is not a folder; pass the folder the chunks were written to")
        data_path = str(root.resolve())
    from vidzoo.data import streaming

    url = streaming.split_url(data_path, split)
    meta = streaming.read_meta(url)
    if meta.get("format") != streaming.FORMAT:
        raise VidzooError(f"{url}/{streaming.META_FILE} is format {meta.get('format')!r}; "
                          f"this vidzoo reads {streaming.FORMAT!r}")
    return streaming.StreamingClips(url, split, meta["classes"], transform, clip_sampler=sampler,
                                    clip_duration=clip_duration, shuffle=split == "train", seed=seed,
                                    cache_dir=cache_dir, max_cache_size=max_cache_size)


@hookimpl
def register_datasets(register):
    register("litdata", litdata_dataset, "Videos prepared as litdata chunks, streamed from a folder or s3://",
             spec=DatasetSpec(transform="kinetics"))
