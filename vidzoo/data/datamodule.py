"""The data side of a run without Lightning: datasets from names, the data options, and the loaders.

The Lightning data module (vidzoo/training/datamodule.py) holds datasets and a :class:`DataOptions`
and asks this module for each split's loader.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from vidzoo.errors import PluginError, VidzooError
from vidzoo.plugins import contracts, get_registry

WORKER_STARTS = ("spawn", "forkserver", "fork")


def build_dataset(name: str, options: dict, split: str, transform_name: str, transform_options: dict):
    registry = get_registry()
    transform = registry.get("transform", transform_name).factory(split, **transform_options)
    dataset = registry.get("dataset", name).factory(split, transform, **options)
    classes = getattr(dataset, "classes", None)
    if not classes:
        raise PluginError(contracts.no_classes(name, registry.get("dataset", name).package, split))
    return dataset


@dataclass
class DataOptions:
    """Data loading.

    Args:
        batch_size: Clips per batch (per process).
        num_workers: DataLoader worker processes per process (rank), or auto: the cores this
            process may use (CPU affinity and cgroup quota) divided among the ranks on this
            machine, reported at start (vidzoo.data.workers).
        max_bad_fraction: Unreadable videos are reported and replaced by other clips; stop
            when more than this fraction of a split is unreadable.
        worker_start: How workers start: forkserver (forks of a fresh single-threaded server
            that imported torch and the dataset's modules once; not on Windows), spawn (a fresh
            interpreter each, which imports them again: about 2 CPU-s per worker, split and rank),
            or fork (of the training process itself: instant, but it copies the locks of the
            process's other threads (DDP, gloo, CUDA) and can leave a worker hung).
        clips_per_video: Training clips read from each video per visit (one decode); the batch
            counts clips, so it must divide batch_size.
    """

    batch_size: int = 8
    num_workers: int | Literal["auto"] = "auto"
    max_bad_fraction: float = 0.1
    worker_start: str = "forkserver"
    clips_per_video: int = 1

    def check(self) -> None:
        """One-line errors for values no loader can use (before anything is built or written)."""
        if not isinstance(self.batch_size, int) or self.batch_size <= 0:
            raise VidzooError(f"--data.batch_size must be a positive integer, got {self.batch_size!r}")
        if self.num_workers != "auto" and (not isinstance(self.num_workers, int) or self.num_workers < 0):
            raise VidzooError(f"--data.num_workers must be 0 or more, or auto, got {self.num_workers!r}")
        if self.worker_start not in WORKER_STARTS:
            raise VidzooError(f"--data.worker_start must be one of {', '.join(WORKER_STARTS)}, "
                              f"not {self.worker_start!r}")
        if not 0 <= self.max_bad_fraction <= 1:
            raise VidzooError(f"--data.max_bad_fraction must be between 0 and 1, got {self.max_bad_fraction}")
        k = self.clips_per_video
        if not isinstance(k, int) or k < 1 or self.batch_size % k:
            raise VidzooError(f"--data.clips_per_video must be 1 or more and divide --data.batch_size "
                              f"(the batch counts clips), got {k} for a batch of {self.batch_size}")

    def clips(self, split: str) -> int:
        """Clips read per video in ``split``: K for training, one for evaluation."""
        return self.clips_per_video if split == "train" else 1


def configure(dataset, split: str, options: DataOptions, name: str, bad_video_log: str | None = None):
    """Give ``dataset`` the run's per-split loading settings, or say in one line it cannot take them.

    A ClipDataset takes the bad-video policy and K clips per video; any other dataset (litdata's
    StreamingClips, a third party's) reads one sample per item, so K > 1 is an error, not ignored.
    ``bad_video_log``: the run's bad-video log (vidzoo.data.bad_videos), None for a dataset on its own.
    """
    from vidzoo.data.bad_videos import BadVideoPolicy
    from vidzoo.data.clips import ClipDataset

    k = options.clips(split)
    if isinstance(dataset, ClipDataset):
        policy = BadVideoPolicy(split, options.max_bad_fraction, log=bad_video_log)
        dataset.configure_loading(policy, clips_per_video=k)
    elif k > 1:
        raise VidzooError(f"--data.clips_per_video {k}: dataset {name!r} ({type(dataset).__name__}) reads one clip "
                          f"per item, not a vidzoo ClipDataset; drop --data.clips_per_video")
    return dataset


def loader(dataset, split: str, options: DataOptions, num_workers: int, seed: int, world: int = 1, rank: int = 0,
           epoch: int = 0):
    """The DataLoader of one split; ``num_workers`` resolved (not "auto"), ``seed`` the run's --seed."""
    import torch

    from vidzoo.data import resumable
    from vidzoo.data.sampling import ShardSampler

    shuffle = split == "train"
    from vidzoo.data.workers import worker_context

    start = worker_context(options.worker_start if num_workers > 0 else None, dataset,
                           getattr(dataset, "transform", None))
    pin = torch.cuda.is_available()
    make_loader = getattr(dataset, "dataloader", None)
    if callable(make_loader):  # a streaming dataset that shards itself (e.g. litdata's, vidzoo.data.streaming)
        return make_loader(batch_size=options.batch_size, num_workers=num_workers, shuffle=shuffle,
                           multiprocessing_context=start, pin_memory=pin, persistent_workers=num_workers > 0)
    # Our own DistributedSampler subclass on every split, so Lightning does not put in its
    # padding one: val/test exact, train exact with equal step counts (vidzoo.data.sampling).
    # K clips per video: a batch of batch_size clips is batch_size / K videos (vidzoo.data.multiclip).
    k = options.clips(split)
    videos_per_batch = options.batch_size // k
    sampler = ShardSampler(dataset, world, rank, shuffle=shuffle, seed=seed,
                           batch_size=videos_per_batch, equal_batches=split == "train")
    sampler.set_epoch(epoch)  # a resumed run's first iterator is made before Lightning sets the epoch
    extra = {}
    if k > 1:
        from vidzoo.data.multiclip import collate_clips

        extra["collate_fn"] = collate_clips
    # The training loader is stateful (its position and workers' random states go into every
    # checkpoint, vidzoo.data.resumable); no loader draws from the global torch RNG.
    stateful = split == "train"
    return resumable.loader_class(stateful)(
        resumable.RNGState(dataset) if stateful else dataset,
        batch_size=videos_per_batch,
        sampler=sampler,
        **extra,
        num_workers=num_workers,
        generator=resumable.seed_generator(seed, split),
        # Not fork by default: forking a process that runs other threads (gloo, CUDA, DDP's)
        # copies their locks as they are, and a worker can hang before its first batch (CI's
        # DDP test did once); CPython 3.14 left fork as its default for the same reason.
        multiprocessing_context=start,
        pin_memory=pin,
        persistent_workers=num_workers > 0,
        drop_last=False,
    )
