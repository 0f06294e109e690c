"""VideoDataModule: train/val/test loaders assembled from registry names."""

from __future__ import annotations

import os
from typing import Any

import lightning.pytorch as pl
import torch

from vidzoo.data import resumable
from vidzoo.data.bad_videos import BadVideoPolicy
from vidzoo.data.clips import ClipDataset
from vidzoo.errors import PluginError, VidzooError
from vidzoo.plugins import contracts, get_registry
from vidzoo.data.sampling import ShardSampler


def build_dataset(name: str, options: dict, split: str, transform_name: str, transform_options: dict):
    registry = get_registry()
    transform = registry.get("transform", transform_name).factory(split, **transform_options)
    dataset = registry.get("dataset", name).factory(split, transform, **options)
    classes = getattr(dataset, "classes", None)
    if not classes:
        raise PluginError(contracts.no_classes(name, registry.get("dataset", name).package, split))
    return dataset


WORKER_STARTS = ("spawn", "forkserver", "fork")


class VideoDataModule(pl.LightningDataModule):
    def __init__(
        self,
        dataset: str,
        dataset_options: dict[str, Any] | None = None,
        transform: str | None = None,
        transform_options: dict[str, Any] | None = None,
        batch_size: int = 8,
        num_workers: int | str = "auto",
        max_bad_fraction: float = 0.1,
        worker_start: str = "spawn",
        clips_per_video: int = 1,
    ):
        super().__init__()
        if batch_size <= 0:
            raise VidzooError(f"--data.batch_size must be a positive integer, got {batch_size}")
        if num_workers != "auto" and (not isinstance(num_workers, int) or num_workers < 0):
            raise VidzooError(f"--data.num_workers must be 0 or more, or auto, got {num_workers!r}")
        if worker_start not in WORKER_STARTS:
            raise VidzooError(f"--data.worker_start must be one of {', '.join(WORKER_STARTS)}, not {worker_start!r}")
        if not 0 <= max_bad_fraction <= 1:
            raise VidzooError(f"--data.max_bad_fraction must be between 0 and 1, got {max_bad_fraction}")
        if clips_per_video < 1 or batch_size % clips_per_video:
            raise VidzooError(f"--data.clips_per_video must be 1 or more and divide --data.batch_size "
                              f"(the batch counts clips), got {clips_per_video} for a batch of {batch_size}")
        self.clips_per_video = clips_per_video
        self.max_bad_fraction = max_bad_fraction
        self.dataset_name = dataset
        self.dataset_options = dict(dataset_options or {})
        self.transform_name = transform or get_registry().get("dataset", dataset).spec.transform or dataset
        self.transform_options = dict(transform_options or {})
        self.batch_size = batch_size
        self.num_workers = num_workers  # "auto" until the first loader knows the ranks per machine
        self.worker_start = worker_start
        self.datasets: dict[str, Any] = {}

    def dataset(self, split: str):
        if split not in self.datasets:
            dataset = build_dataset(
                self.dataset_name, self.dataset_options, split, self.transform_name, self.transform_options
            )
            if isinstance(dataset, ClipDataset):  # its bad-video reports and limit (vidzoo.data.bad_videos)
                k = self.clips_per_video if split == "train" else 1
                dataset.configure_loading(BadVideoPolicy(split, self.max_bad_fraction), clips_per_video=k)
            self.datasets[split] = dataset
        return self.datasets[split]

    @property
    def classes(self) -> list[str]:
        train, val = self.dataset("train"), self.dataset("val")
        difference = contracts.classes_difference("train", train.classes, "val", val.classes)
        if difference:
            raise VidzooError(f"train and val splits of {self.dataset_name!r} have different classes {difference}; "
                              f"make both splits list the same class names")
        return list(train.classes)

    def _loader(self, split: str, shuffle: bool):
        # Our own DistributedSampler subclass on every split, so Lightning does not put in its
        # padding one: val/test exact, train exact with equal step counts (vidzoo.data.sampling).
        dataset = self.dataset(split)
        trainer = self.trainer
        if self.num_workers == "auto":  # resolved here, before any loader (streaming or not) reads it
            from vidzoo.data.workers import resolve_num_workers
            from vidzoo.messages import say

            self.num_workers, line = resolve_num_workers("auto", trainer.num_devices if trainer is not None else 1)
            say(line)
        make_loader = getattr(dataset, "dataloader", None)
        if callable(make_loader):  # a streaming dataset that shards itself (e.g. litdata's, vidzoo.data.streaming)
            return make_loader(batch_size=self.batch_size, num_workers=self.num_workers, shuffle=shuffle,
                               multiprocessing_context=self.worker_start if self.num_workers > 0 else None,
                               pin_memory=torch.cuda.is_available(), persistent_workers=self.num_workers > 0)
        world, rank = (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)
        # K clips per video: a batch of batch_size clips is batch_size / K videos (vidzoo.data.multiclip).
        k = getattr(dataset, "clips_per_video", 1)
        videos_per_batch = self.batch_size // k
        seed = int(os.environ.get("PL_GLOBAL_SEED", 0))
        sampler = ShardSampler(dataset, world, rank, shuffle=shuffle, seed=seed,
                               batch_size=videos_per_batch, equal_batches=split == "train")
        if trainer is not None:  # a resumed run's first iterator is made before Lightning sets the epoch
            sampler.set_epoch(trainer.current_epoch)
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
            num_workers=self.num_workers,
            generator=resumable.seed_generator(seed, split),
            # Not fork by default: forking a process that runs other threads (gloo, CUDA, DDP's)
            # copies their locks as they are, and a worker can hang before its first batch (CI's
            # DDP test did once); CPython 3.14 left fork as its default for the same reason.
            multiprocessing_context=self.worker_start if self.num_workers > 0 else None,
            pin_memory=torch.cuda.is_available(),
            persistent_workers=self.num_workers > 0,
            drop_last=False,
        )

    def train_dataloader(self):
        return self._loader("train", shuffle=True)

    def val_dataloader(self):
        return self._loader("val", shuffle=False)

    def test_dataloader(self):
        return self._loader("test", shuffle=False)
