"""VideoDataModule: Lightning's view of a run's datasets (built by the caller) and data options."""

from __future__ import annotations

from typing import Any, Callable, Mapping

import lightning.pytorch as pl

from vidzoo.data import datamodule as data
from vidzoo.data.datamodule import DataOptions
from vidzoo.errors import VidzooError
from vidzoo.plugins import contracts


class VideoDataModule(pl.LightningDataModule):
    """``datasets``: the datasets by split, or a function ``split -> dataset`` (built on first use, so
    a run that never tests builds no test split). ``seed``: the run's --seed (loader order and worker
    seeds). ``name``: what one-line errors call the dataset. ``bad_video_log``: the run's bad-video log
    (RUN_DIR/bad_videos.jsonl, read by BadVideoMonitor)."""

    def __init__(self, datasets: Mapping[str, Any] | Callable[[str], Any], options: DataOptions | None = None,
                 seed: int = 0, name: str = "dataset", bad_video_log: str | None = None):
        super().__init__()
        self.options = options or DataOptions()
        self.options.check()
        self.make = datasets if callable(datasets) else datasets.__getitem__
        self.seed, self.name, self.bad_video_log = seed, name, bad_video_log
        self.num_workers: int | None = None  # resolved once, by the first loader (it knows the ranks per machine)
        self.datasets: dict[str, Any] = {}

    def dataset(self, split: str):
        if split not in self.datasets:
            self.datasets[split] = data.configure(self.make(split), split, self.options, self.name,
                                                  self.bad_video_log)
        return self.datasets[split]

    @property
    def classes(self) -> list[str]:
        train, val = self.dataset("train"), self.dataset("val")
        difference = contracts.classes_difference("train", train.classes, "val", val.classes)
        if difference:
            raise VidzooError(f"train and val splits of {self.name!r} have different classes {difference}; "
                              f"make both splits list the same class names")
        return list(train.classes)

    def _workers(self) -> int:
        """--data.num_workers, "auto" resolved once, before any loader (map-style or streaming) uses it."""
        if self.num_workers is None:
            value = self.options.num_workers
            if value == "auto":
                from vidzoo.data.workers import resolve_num_workers
                from vidzoo.messages import say

                value, line = resolve_num_workers("auto", self.trainer.num_devices if self.trainer is not None else 1)
                say(line)
            self.num_workers = value
        return self.num_workers

    def _loader(self, split: str):
        dataset = self.dataset(split)
        trainer = self.trainer
        world, rank, epoch = (trainer.world_size, trainer.global_rank, trainer.current_epoch) if trainer else (1, 0, 0)
        return data.loader(dataset, split, self.options, self._workers(), self.seed, world, rank, epoch)

    def train_dataloader(self):
        return self._loader("train")

    def val_dataloader(self):
        return self._loader("val")

    def test_dataloader(self):
        return self._loader("test")
