"""ShardSampler: each clip seen exactly once per epoch across DDP ranks (and DataLoader workers).

torch's DistributedSampler (which Lightning puts in automatically) pads every rank to the
same length by repeating clips, or with ``drop_last`` drops up to world_size - 1 of them:
duplicated evaluation data is the most common DDP bug reported against pytorchvideo
(issues #186, #101). vidzoo's data module uses this sampler on every split instead, so
Lightning leaves it alone (it is a DistributedSampler subclass, whatever
``--trainer.use_distributed_sampler`` says):

- evaluation (val, test): exact. Rank r takes clips r, r+W, r+2W, ... of the split, in
  order; nothing is repeated or dropped. Ranks may get one clip more than others, so
  they may run one batch more: safe, because validation does no per-step collective
  (metrics are reduced once, at the epoch end).
- train: the epoch's permutation (seed + epoch, identical on every rank) is split the
  same way, so it is exact as long as every rank gets the same number of batches.
  Training steps are collectives (gradient all-reduce): a rank with one batch more
  would wait forever. When the split would give ranks different batch counts (only when
  the shortest shard is a whole number of batches and a longer one is not), the short
  ranks take one extra clip from the start of the permutation: at most world_size - 1
  clips are seen twice in such an epoch, none is ever skipped.

DataLoader workers of a map-style dataset split the indices a sampler yields among
themselves (each batch goes to one worker), so ranks x workers see each clip once.
The order depends only on (seed, epoch, rank), so a resumed run repeats an epoch exactly.
"""

from __future__ import annotations

import math

import torch
from torch.utils.data.distributed import DistributedSampler


def shard_indices(n: int, world: int, rank: int, *, shuffle: bool, seed: int, epoch: int,
                  batch_size: int, equal_batches: bool) -> list[int]:
    """Indices of rank ``rank`` (see the module docstring)."""
    if not 0 <= rank < world:
        raise ValueError(f"rank {rank} outside world size {world}")
    if shuffle:
        g = torch.Generator()
        g.manual_seed(seed + epoch)
        order = torch.randperm(n, generator=g).tolist()
    else:
        order = list(range(n))
    mine = order[rank::world]
    if n and not mine:  # fewer clips than ranks: every rank needs at least one batch
        mine = [order[rank % n]]
    if equal_batches and world > 1 and n:
        longest = math.ceil(n / world)
        if math.ceil(len(mine) / batch_size) < math.ceil(longest / batch_size):
            mine.append(order[rank % n])  # one extra clip evens the step counts
    return mine


class ShardSampler(DistributedSampler):
    def __init__(self, dataset, num_replicas: int = 1, rank: int = 0, shuffle: bool = False, seed: int = 0,
                 batch_size: int = 1, equal_batches: bool = False):
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed, drop_last=False)
        self.batch_size = batch_size
        self.equal_batches = equal_batches

    def indices(self) -> list[int]:
        key = (len(self.dataset), self.epoch)
        if getattr(self, "_cache", (None, None))[0] != key:
            self._cache = (key, self._indices())
        return self._cache[1]

    def _indices(self) -> list[int]:
        return shard_indices(len(self.dataset), self.num_replicas, self.rank, shuffle=self.shuffle, seed=self.seed,
                             epoch=self.epoch, batch_size=self.batch_size, equal_batches=self.equal_batches)

    def __iter__(self):
        return iter(self.indices())

    def __len__(self) -> int:
        return len(self.indices())
