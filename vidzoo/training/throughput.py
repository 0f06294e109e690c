"""Training throughput, and whether the data or the model sets it.

A 3D CNN on a GPU is usually limited by the CPU workers that decode video, and the usual
symptom (a slow run) does not say which side is slow. Like MMAction2's ``data_time``, the
``Throughput`` callback of ``vidzoo run`` times, per training epoch:

- ``train/clips_per_s``: clips trained per second, all ranks together (each rank's clips
  over the time from its first batch's start to its last batch's end; validation excluded);
- ``train/data_wait``: the fraction of that time the training loop spent waiting for the
  next batch (between one step's end and the next step's start, where Lightning fetches).

Both go to ``logs/metrics.csv``; the run's summary line states them, and when the wait
is over a fifth of the time it says to add DataLoader workers (`vidzoo bench data` measures how
many). On a GPU a step's kernels run asynchronously, so the wait is the host's: when the
loader is slower than the GPU, it shows as wait all the same.

Only this module's import pulls in Lightning; `vidzoo run` imports it when building the Trainer.
"""

from __future__ import annotations

import time

from lightning.pytorch.callbacks import Callback

DATA_BOUND = 0.2  # wait fraction above which the summary advises more workers (the GPU idles that long)


def batch_size(batch) -> int:
    """Clips in a batch: the length of its labels (a dict batch, the dataset contract)."""
    label = batch.get("label") if isinstance(batch, dict) else None
    return int(label.shape[0]) if hasattr(label, "shape") and len(label.shape) else 0


class Throughput(Callback):
    """Logs train/clips_per_s and train/data_wait per epoch (see the module's docstring)."""

    def __init__(self):
        super().__init__()
        self.last: dict[str, float] = {}

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.first_start = self.last_end = None
        self.wait = 0.0
        self.clips = 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        now = time.perf_counter()
        if self.first_start is None:
            self.first_start = now  # the first batch's own fetch (worker start-up) is not counted
        elif self.last_end is not None:
            self.wait += now - self.last_end

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.last_end = time.perf_counter()
        self.clips += batch_size(batch)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if self.first_start is None or self.last_end is None or self.last_end <= self.first_start:
            return
        elapsed = self.last_end - self.first_start
        # Ranks train side by side, each on its own share: the run's rate is world_size times one rank's.
        rate = self.clips * trainer.world_size / elapsed
        self.last = {"train/clips_per_s": rate, "train/data_wait": self.wait / elapsed}
        for name, value in self.last.items():
            pl_module.log(name, value, on_step=False, on_epoch=True, rank_zero_only=True)

    def summary(self) -> str:
        """One line for the end of the run: the last epoch's figures and what they mean."""
        if not self.last:
            return ""
        rate, wait = self.last["train/clips_per_s"], self.last["train/data_wait"]
        line = f"training throughput (last epoch): {rate:.1f} clips/s, {100 * wait:.0f}% of it waiting for data"
        if wait > DATA_BOUND:
            line += " (data-bound: add --data.num_workers; `vidzoo bench data` says how many)"
        return line
