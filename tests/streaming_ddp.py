"""One DDP rank of the streaming tests (started by torch.distributed.run, gloo on CPU).

Usage: streaming_ddp.py DATA_URL CACHE_DIR OUT_DIR. Builds the litdata dataset through vidzoo's
data module exactly as `vidzoo run` does (the datasets first, for the class list, then the
process group), then records what every DataLoader worker served, as JSON in OUT_DIR/rank<R>.json:
- "epochs": two full train epochs and one val epoch;
- "resume": a third train epoch stopped after STOP batches, its loader state saved, and the
  rest served by a new loader (new dataset, new workers) that loaded that state.
"""

from __future__ import annotations

import json
import os
import sys

STOP = 2
TRANSFORM = {"num_frames": 4, "crop_size": 32, "min_short_side": 36, "max_short_side": 40, "eval_short_side": 36}


class Recorded:
    """The transform, plus which DataLoader worker made the sample (it runs inside the worker)."""

    def __init__(self, inner):
        self.inner = inner

    def decode_plan(self):
        return self.inner.decode_plan()

    def __call__(self, sample):
        import torch

        info = torch.utils.data.get_worker_info()
        name = sample["video_name"]
        out = self.inner(sample)
        return {"video": out["video"], "name": name, "worker": info.id if info else -1}


def datamodule(url: str, cache: str):
    from vidzoo.data.datamodule import DataOptions, build_dataset
    from vidzoo.training.datamodule import VideoDataModule

    options = {"data_path": url, "cache_dir": cache}
    dm = VideoDataModule(lambda split: build_dataset("litdata", options, split, "kinetics", TRANSFORM),
                         DataOptions(batch_size=2, num_workers=2), name="litdata")
    dm.classes  # builds both splits before the process group exists, as `vidzoo run` does
    for split in ("train", "val"):
        dm.datasets[split].video_transform = Recorded(dm.datasets[split].video_transform)
    return dm


def served(batches) -> list[dict]:
    return [{"name": n, "worker": int(w)} for b in batches for n, w in zip(b["name"], b["worker"])]


def main() -> None:
    import torch.distributed as dist

    url, cache, out = sys.argv[1:4]
    dm = datamodule(url, cache)
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    train = dm.train_dataloader()
    record = {"epochs": [served(train) for _ in range(2)], "val": served(dm.val_dataloader()),
              "train_len": len(train)}

    first, it = [], iter(train)
    for _ in range(STOP):
        first.append(next(it))
    state = train.state_dict()
    del it
    resumed = datamodule(url, cache).train_dataloader()
    resumed.load_state_dict(json.loads(json.dumps(state)))  # as stored in a checkpoint
    record["resume"] = {"before": served(first), "after": served(resumed), "epoch": state["current_epoch"]}
    with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
        json.dump(record, f)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
