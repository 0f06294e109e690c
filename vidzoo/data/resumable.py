"""Exact mid-epoch resume: the training loader's position and random state travel in checkpoints.

The training DataLoader is torchdata's ``StatefulDataLoader``; Lightning's fit loop saves its
``state_dict()`` in every checkpoint (``loops.fit_loop.state_dict.combined_loader``) and loads it
back before the first batch on resume. That state holds, per rank:

- how many batches this rank's ``ShardSampler`` has handed out this epoch (the sampler's order
  depends only on seed, epoch and rank, so the position is enough to replay the rest);
- the workers' base seed and which worker served the last batch (the round-robin continues);
- each worker's dataset state as of the last batch the main process consumed (prefetched
  batches do not count). ``RNGState`` makes that state the worker's Python, NumPy and torch
  random states: the clip sampler (pytorchvideo's RandomClipSampler uses ``random``) and the
  transforms (torch) continue their streams exactly where the checkpoint left them.

Lightning's checkpoint is written by rank 0 alone, so ``LoaderStates`` (a callback,
vidzoo.training.data_callbacks) gathers every rank's loader state into it and gives each rank its own back on resume. A checkpoint written
at the end of an epoch carries no loader position: the next epoch starts fresh, as it would have.
Loaders draw their worker seeds from their own generator (``--seed``), never from the global
torch RNG, so creating a loader on resume does not shift the model's random stream.
"""

from __future__ import annotations

import random

import torch

STATE_KEY = "vidzoo_loader_states"  # checkpoint key: one training-loader state per rank


class RNGState(torch.utils.data.Dataset):
    """A dataset whose ``state_dict`` is the random state of the process that reads it.

    In a DataLoader worker that is the worker's own Python, NumPy and torch generators, which
    the clip sampler and the transforms draw from. Everything else is the wrapped dataset's.
    """

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i):
        return self.dataset[i]

    def __getattr__(self, name):  # classes, videos, split, ... of the wrapped dataset
        if name == "dataset":
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def state_dict(self) -> dict:
        import numpy as np

        name, keys, pos, has_gauss, gauss = np.random.get_state()
        return {"python": random.getstate(), "numpy": (name, keys.tolist(), pos, has_gauss, gauss),
                "torch": torch.get_rng_state()}

    def load_state_dict(self, state: dict) -> None:
        import numpy as np

        if not state:
            return
        random.setstate(_tuples(state["python"]))
        name, keys, pos, has_gauss, gauss = state["numpy"]
        np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
        torch.set_rng_state(state["torch"])


def _tuples(x):
    return tuple(map(_tuples, x)) if isinstance(x, (list, tuple)) else x


def loader_class(stateful: bool):
    if stateful:
        from torchdata.stateful_dataloader import StatefulDataLoader

        return StatefulDataLoader
    return torch.utils.data.DataLoader


def seed_generator(seed: int, split: str) -> torch.Generator:
    """The generator a loader draws its worker base seeds from: fixed by --seed and the split."""
    return torch.Generator().manual_seed(seed * 1000 + {"train": 1, "val": 2, "test": 3}.get(split, 4))


def state_size(checkpoint: dict) -> int:
    """Bytes of the loader states a checkpoint holds (torch.save of them alone)."""
    import io

    buffer = io.BytesIO()
    torch.save(checkpoint.get(STATE_KEY), buffer)
    return len(buffer.getvalue())
