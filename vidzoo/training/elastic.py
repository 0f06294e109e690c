"""The process group of a torchrun worker that the elastic agent may have restarted.

torchrun's c10d rendezvous shares one TCPStore (the agent's, at MASTER_ADDR:MASTER_PORT) with every
round of workers, and torch's env:// init reads it without a per-attempt prefix. A restarted
worker then finds the addresses of the killed attempt's gloo pairs in it, fails with "Connection
refused" and the restart is lost. Each worker here joins the store under a prefix of its round.
"""

from __future__ import annotations

import os


def init_restartable_process_group(strategy) -> int:
    """Initialise torch.distributed for STRATEGY (Lightning DDP) under a per-round store prefix.

    Returns the round (1 for the first start, 2 after a restart...), or 0 outside a torchrun agent
    store (nothing done: Lightning initialises it as usual).
    """
    import torch.distributed as dist

    if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True" or dist.is_initialized():
        return 0
    if not hasattr(strategy, "_get_process_group_backend") or int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 0
    from datetime import timedelta

    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    timeout = getattr(strategy, "_timeout", None) or timedelta(minutes=30)
    store = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), world, is_master=False,
                          timeout=timeout)
    # Every round of a fixed-size job starts each rank once, so the count of starts of this rank is
    # the round number on every rank, whichever node holds it and whatever each agent's restart count.
    round_ = store.add(f"vidzoo/starts/rank_{rank}", 1)
    dist.init_process_group(strategy._get_process_group_backend(), rank=rank, world_size=world, timeout=timeout,
                            store=dist.PrefixStore(f"vidzoo/round_{round_}", store))
    return round_
